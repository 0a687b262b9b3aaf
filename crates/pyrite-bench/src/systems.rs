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
    child: Child,
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let port = free_port()?;
    let mut child = Command::new(pyrite_bin()?)
        .arg("--server.http-listen-address=127.0.0.1")
        .arg(format!("--server.http-listen-port={port}"))
        .arg(format!("--server.grpc-listen-port={}", free_port()?))
        .arg(format!("--data.dir={}", dir.join("pyrite").display()))
        .arg("--log.level=warn")
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
        child,
    })
}

pub fn start_prometheus(dir: &Path) -> anyhow::Result<System> {
    let port = free_port()?;
    let cfg = dir.join("prometheus.yml");
    std::fs::write(&cfg, "global: {scrape_interval: 15s}\n")?;
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
        child,
    })
}
