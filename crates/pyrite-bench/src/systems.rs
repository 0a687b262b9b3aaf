//! Starting the systems under test: a release `pyrite` and Debian's `prometheus`, each
//! on its own loopback port with its own temporary data directory.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

pub struct System {
    pub name: &'static str,
    pub base: String,
    /// Remote-write URL.
    pub write_url: String,
    /// Where the system keeps its write-ahead log (a cluster: every Raft log under it).
    pub wal_dir: PathBuf,
    /// The processes: one, or every process of a cluster.
    children: Vec<Child>,
}

impl System {
    /// CPU seconds (user + system) the processes have used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let mut total = 0.0;
        for c in &self.children {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", c.id()))?;
            // Fields after the parenthesised command name; utime and stime are 14th and 15th.
            let rest = stat.rsplit_once(')').map(|(_, r)| r).context("stat format")?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            total += (f[11].parse::<f64>()? + f[12].parse::<f64>()?) / 100.0;
        }
        Ok(total)
    }

    /// Resident memory in bytes, over all processes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let mut total = 0;
        for c in &self.children {
            let status = std::fs::read_to_string(format!("/proc/{}/status", c.id()))?;
            let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS")?;
            let kb: u64 = line.split_whitespace().nth(1).context("VmRSS value")?.parse()?;
            total += kb * 1024;
        }
        Ok(total)
    }
}

/// Total size of the files under `dir`.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else { return 0 };
    rd.filter_map(Result::ok)
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

impl Drop for System {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn wait_ready(url: &str, child: &mut Child) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let client = reqwest::blocking::Client::new();
    loop {
        if let Ok(r) = client.get(url).send() {
            if r.status().is_success() {
                return Ok(());
            }
        }
        if let Some(status) = child.try_wait()? {
            bail!("{url}: process exited with {status}");
        }
        if Instant::now() > deadline {
            bail!("{url} not ready after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The `pyrite` binary next to this one (same cargo target directory and profile).
pub fn pyrite_bin() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("PYRITE_BIN") {
        return Ok(p.into());
    }
    let exe = std::env::current_exe()?;
    let bin = exe.parent().context("bench binary has a directory")?.join("pyrite");
    if !bin.exists() {
        bail!(
            "{} not found: build it with `cargo build --release -p pyrite` or set PYRITE_BIN",
            bin.display()
        );
    }
    Ok(bin)
}

pub fn start_pyrite(dir: &Path) -> anyhow::Result<System> {
    start_pyrite_with(dir, &[])
}

/// `--target=all` with extra flags.
pub fn start_pyrite_with(dir: &Path, extra: &[&str]) -> anyhow::Result<System> {
    let port = free_port()?;
    let mut child = Command::new(pyrite_bin()?)
        .arg("--server.http-listen-address=127.0.0.1")
        .arg(format!("--server.http-listen-port={port}"))
        .arg("--server.grpc-listen-address=127.0.0.1")
        .arg(format!("--server.grpc-listen-port={}", free_port()?))
        .arg(format!("--data.dir={}", dir.join("pyrite").display()))
        .arg("--log.level=warn")
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting pyrite")?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/ready"), &mut child)?;
    Ok(System {
        name: "pyrite",
        write_url: format!("{base}/api/v1/push"),
        base,
        wal_dir: dir.join("pyrite/shards"),
        children: vec![child],
    })
}

/// A three-ingester cluster (four shards, three replicas each, fsync on) behind one
/// distributor: the write path a replicated deployment pays for.
pub fn start_pyrite_cluster(dir: &Path) -> anyhow::Result<System> {
    let grpc: Vec<u16> = (0..3).map(|_| free_port()).collect::<anyhow::Result<_>>()?;
    let list: Vec<String> = (0..3).map(|i| format!("{}=127.0.0.1:{}", i + 1, grpc[i])).collect();
    let common = [
        format!("--cluster.ingesters={}", list.join(",")),
        "--cluster.shards=4".to_string(),
        "--cluster.replication-factor=3".to_string(),
        "--server.http-listen-address=127.0.0.1".to_string(),
        "--log.level=warn".to_string(),
        format!("--blocks.dir={}", dir.join("bucket").display()),
    ];
    let spawn = |extra: Vec<String>, data: PathBuf| -> anyhow::Result<(Child, String)> {
        let port = free_port()?;
        let child = Command::new(pyrite_bin()?)
            .args(&common)
            .args(&extra)
            .arg(format!("--server.http-listen-port={port}"))
            .arg(format!("--data.dir={}", data.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting pyrite")?;
        Ok((child, format!("http://127.0.0.1:{port}")))
    };
    let mut children = Vec::new();
    let mut bases = Vec::new();
    for (i, port) in grpc.iter().enumerate() {
        let (c, base) = spawn(
            vec![
                "--target=ingester".into(),
                format!("--cluster.node-id={}", i + 1),
                format!("--server.grpc-listen-port={port}"),
            ],
            dir.join(format!("ingester-{}", i + 1)),
        )?;
        children.push(c);
        bases.push(base);
    }
    for (c, base) in children.iter_mut().zip(&bases) {
        wait_ready(&format!("{base}/ready"), c)?;
    }
    let (mut d, base) = spawn(vec!["--target=distributor".into()], dir.join("distributor"))?;
    wait_ready(&format!("{base}/ready"), &mut d)?;
    children.push(d);
    Ok(System {
        name: "pyrite-rf3",
        write_url: format!("{base}/api/v1/push"),
        base,
        wal_dir: dir.to_path_buf(),
        children,
    })
}

pub fn start_prometheus(dir: &Path) -> anyhow::Result<System> {
    start_prometheus_with(dir, "global: {scrape_interval: 15s}\n")
}

/// Prometheus with `config` as its configuration file.
pub fn start_prometheus_with(dir: &Path, config: &str) -> anyhow::Result<System> {
    let port = free_port()?;
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, config)?;
    let mut child = Command::new("prometheus")
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!("--storage.tsdb.path={}", dir.join("prometheus").display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--web.enable-remote-write-receiver")
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting prometheus (Debian package `prometheus`)")?;
    let base = format!("http://127.0.0.1:{port}");
    wait_ready(&format!("{base}/-/ready"), &mut child)?;
    Ok(System {
        name: "prometheus",
        write_url: format!("{base}/api/v1/write"),
        base,
        wal_dir: dir.join("prometheus/wal"),
        children: vec![child],
    })
}
