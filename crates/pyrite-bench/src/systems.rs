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
    /// Where the system keeps its write-ahead log.
    pub wal_dir: PathBuf,
    child: Child,
}

impl System {
    /// CPU seconds (user + system) the process has used so far.
    pub fn cpu_seconds(&self) -> anyhow::Result<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id()))?;
        // Fields after the parenthesised command name; utime and stime are 14th and 15th.
        let rest = stat.rsplit_once(')').map(|(_, r)| r).context("stat format")?;
        let f: Vec<&str> = rest.split_whitespace().collect();
        let ticks: f64 = f[11].parse::<f64>()? + f[12].parse::<f64>()?;
        Ok(ticks / 100.0)
    }

    /// Resident memory in bytes.
    pub fn rss_bytes(&self) -> anyhow::Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:")).context("VmRSS")?;
        let kb: u64 = line.split_whitespace().nth(1).context("VmRSS value")?.parse()?;
        Ok(kb * 1024)
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
        wal_dir: dir.join("pyrite/ingester/wal"),
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
        wal_dir: dir.join("prometheus/wal"),
        child,
    })
}
