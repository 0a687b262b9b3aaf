//! Compiles the protobuf definitions under `proto/` with the pure-Rust `protox`
//! compiler, so building Pyrite needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Read at run time, not compile time: clones of the repository that share a target
    // directory share this script's binary, and each must compile its own definitions.
    let root = std::path::PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let files = [
        "prometheus/types.proto",
        "prometheus/remote.proto",
        "io/prometheus/write/v2/types.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(files, [&root])?;
    prost_build::Config::new().compile_fds(fds)?;
    // Pyrite's internal services, with tonic clients and servers.
    let internal = [
        "pyrite/ingester/v1/ingester.proto",
        "pyrite/raft/v1/raft.proto",
        "pyrite/frontend/v1/frontend.proto",
    ];
    for f in &internal {
        println!("cargo:rerun-if-changed={}", root.join(f).display());
    }
    let fds = protox::compile(internal, [&root])?;
    tonic_prost_build::configure()
        .bytes(".pyrite.ingester.v1")
        .bytes(".pyrite.raft.v1")
        .bytes(".pyrite.frontend.v1")
        .compile_fds(fds)?;
    Ok(())
}
