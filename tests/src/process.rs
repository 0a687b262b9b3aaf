//! Starting, waiting on and killing processes.

use std::fs::File;
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// The `pyrite` binary under test: `$PYRITE_BIN`, or the one built next to this test.
pub fn pyrite_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PYRITE_BIN") {
        return p.into();
    }
    // target/<profile>/deps/<test> → target/<profile>/pyrite
    let exe = std::env::current_exe().expect("test executable path");
    exe.parent()
        .and_then(Path::parent)
        .map(|d| d.join("pyrite"))
        .expect("target directory")
}

/// Fails unless `bin` is on `PATH`: the real peers the tests need are installed by the
/// test command (scripts/test.sh), and a missing one is an error, never a skip.
pub fn require(bin: &str) -> anyhow::Result<()> {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {bin}"))
        .stdout(Stdio::null())
        .status()?
        .success();
    anyhow::ensure!(
        ok,
        "{bin} is not installed; the test command installs it (scripts/test.sh)"
    );
    Ok(())
}

/// A port free on `ip` right now, and handed to no other live test process.
///
/// The port is only free until something binds it, and tests run as separate processes
/// at once: two of them could be handed the same port by the kernel between one's probe
/// and its server's bind (a compose project asks Docker for seventeen at a time). So each
/// port handed out is claimed, under a lock every test process shares, by a file named
/// after it that holds the claimant's pid; a claim whose process is gone is taken over.
pub fn free_port(ip: Ipv4Addr) -> u16 {
    let claims = std::env::temp_dir().join("pyrite-test-ports");
    std::fs::create_dir_all(&claims).expect("the port claims directory");
    let lock = File::create(claims.join(".lock")).expect("the port claims lock");
    lock.lock().expect("locking the port claims");
    let me = std::process::id().to_string();
    for _ in 0..1000 {
        let port = TcpListener::bind((ip, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let claim = claims.join(port.to_string());
        let holder = std::fs::read_to_string(&claim).unwrap_or_default();
        let held = !holder.is_empty() && Path::new("/proc").join(holder.trim()).exists();
        if !held {
            std::fs::write(&claim, &me).expect("claiming a port");
            return port;
        }
    }
    panic!("no unclaimed free port after 1000 tries");
}

/// Polls `check` until it returns `Ok(Some(_))` or `timeout` passes; the last error is
/// reported on timeout. This waits on observable state, never on a fixed sleep.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut check: impl FnMut() -> anyhow::Result<Option<T>>,
) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match check() {
            Ok(Some(v)) => return Ok(v),
            Ok(None) => "not yet".to_string(),
            Err(e) => format!("{e:#}"),
        };
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}: {last}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A real Prometheus (Debian's 2.42) on `ip:port`, reading `config` and keeping its TSDB
/// and log under `dir`.
pub fn prometheus(ip: Ipv4Addr, port: u16, config: &Path, dir: &Path) -> anyhow::Result<Peer> {
    Peer::spawn(
        "prometheus",
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("prom").display()))
            .arg(format!("--web.listen-address={ip}:{port}")),
        dir,
    )
}

/// A real Alertmanager (Debian's `prometheus-alertmanager`) on `ip:port`, alone (no
/// cluster), with one receiver that sends nothing, keeping its state and log under
/// `dir`; `web_config` is its `--web.config.file` (basic auth, TLS), if any.
pub fn alertmanager(ip: Ipv4Addr, port: u16, dir: &Path, web_config: Option<&Path>) -> anyhow::Result<Peer> {
    let config = dir.join("alertmanager.yml");
    std::fs::write(&config, "route:\n  receiver: none\nreceivers:\n  - name: none\n")?;
    let mut cmd = Command::new("prometheus-alertmanager");
    cmd.arg(format!("--config.file={}", config.display()));
    if let Some(web) = web_config {
        cmd.arg(format!("--web.config.file={}", web.display()));
    }
    cmd.arg(format!("--storage.path={}", dir.join("am").display()))
        .arg(format!("--web.listen-address={ip}:{port}"))
        .arg("--cluster.listen-address=");
    Peer::spawn("alertmanager", &mut cmd, dir)
}

/// A child process that is killed when dropped; its output goes to a log file that is
/// printed if the test fails while it runs.
pub struct Peer {
    pub name: String,
    child: Option<Child>,
    log: PathBuf,
}

impl Peer {
    pub fn spawn(name: &str, cmd: &mut Command, log_dir: &Path) -> anyhow::Result<Self> {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log)?;
        let err = out.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {name}: {cmd:?}"))?;
        Ok(Self {
            name: name.to_string(),
            child: Some(child),
            log,
        })
    }

    /// Whether the process has ended, and how.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL: no chance to flush or clean up.
    pub fn kill9(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }

    /// SIGSTOP: the process stops answering but keeps its sockets, as a hung or
    /// partitioned node does; [`Peer::resume`] lets it run on.
    pub fn pause(&self) -> anyhow::Result<()> {
        self.signal("-STOP")
    }

    pub fn resume(&self) -> anyhow::Result<()> {
        self.signal("-CONT")
    }

    fn signal(&self, sig: &str) -> anyhow::Result<()> {
        let Some(pid) = self.pid() else {
            bail!("{} is not running", self.name)
        };
        let st = Command::new("kill").args([sig, &pid.to_string()]).status()?;
        if !st.success() {
            bail!("kill {sig} {pid} failed");
        }
        Ok(())
    }

    /// SIGTERM, then wait for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> anyhow::Result<std::process::ExitStatus> {
        let Some(mut c) = self.child.take() else {
            bail!("{} is not running", self.name)
        };
        let pid = c.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status()?;
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(st) = c.try_wait()? {
                return Ok(st);
            }
            if Instant::now() >= deadline {
                let _ = c.kill();
                bail!("{} did not exit within {timeout:?} of SIGTERM", self.name);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- log of {} ----\n{}", self.name, self.log_text());
        }
    }
}

/// One `pyrite` process with its own address and data directory.
pub struct Pyrite {
    pub peer: Peer,
    pub ip: Ipv4Addr,
    pub http_port: u16,
    pub data_dir: PathBuf,
    extra_args: Vec<String>,
}

impl Pyrite {
    /// Starts `pyrite --target=all` on `ip` with data under `data_dir`, and waits until
    /// it is ready.
    ///
    /// Ports are picked free just before the process binds them, so a test running
    /// beside it (a container's published port, another process) can take one in
    /// between; a process that ends before it is ready because a port was taken is
    /// started again on new ports. Any other early end is an error carrying its log.
    pub fn start(ip: Ipv4Addr, data_dir: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut p = Self::spawn_unready(ip, data_dir, extra_args)?;
            let url = p.url("/ready");
            let ready = wait_until(&format!("{url} to answer 200"), Duration::from_secs(60), || {
                if p.peer.exited().is_some() {
                    return Ok(Some(false));
                }
                let r = reqwest::blocking::get(&url);
                Ok(r.ok().filter(|r| r.status().is_success()).map(|_| true))
            });
            let log = p.peer.log_text();
            match ready {
                Ok(true) => return Ok(p),
                Ok(false) if log.contains("in use") && attempt < 3 => continue,
                Ok(false) => bail!("{} ended before it was ready:\n{log}", p.peer.name),
                Err(e) => {
                    return Err(e.context(format!("log of {}:\n{log}", p.peer.name)));
                }
            }
        }
    }

    /// Starts the process without waiting for readiness (peers that need each other
    /// to become ready are started together, then waited on).
    pub fn spawn_unready(ip: Ipv4Addr, data_dir: &Path, extra_args: &[&str]) -> anyhow::Result<Self> {
        let http_port = free_port(ip);
        let mut extra_args: Vec<String> = extra_args.iter().map(|s| s.to_string()).collect();
        let distributor_or_querier = extra_args
            .iter()
            .any(|a| a == "--target=distributor" || a == "--target=querier");
        if !distributor_or_querier && !extra_args.iter().any(|a| a.starts_with("--server.grpc-listen-port")) {
            // Its own shards' gRPC, on a port of its own (kept across restarts).
            extra_args.push(format!("--server.grpc-listen-address={ip}"));
            extra_args.push(format!("--server.grpc-listen-port={}", free_port(ip)));
        }
        let peer = Self::spawn(ip, http_port, data_dir, &extra_args)?;
        Ok(Self {
            peer,
            ip,
            http_port,
            data_dir: data_dir.to_path_buf(),
            extra_args,
        })
    }

    fn spawn(ip: Ipv4Addr, port: u16, data_dir: &Path, extra: &[String]) -> anyhow::Result<Peer> {
        let mut cmd = Command::new(pyrite_bin());
        cmd.arg(format!("--server.http-listen-address={ip}"))
            .arg(format!("--server.http-listen-port={port}"))
            .arg(format!("--data.dir={}", data_dir.display()))
            .arg("--log.level=info")
            .args(extra);
        Peer::spawn(
            &format!("pyrite-{ip}-{port}"),
            &mut cmd,
            data_dir.parent().unwrap_or(data_dir),
        )
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}:{}{}", self.ip, self.http_port, path)
    }

    pub fn wait_ready(&self, timeout: Duration) -> anyhow::Result<()> {
        let url = self.url("/ready");
        wait_until(&format!("{url} to answer 200"), timeout, || {
            let r = reqwest::blocking::get(&url)?;
            Ok(r.status().is_success().then_some(()))
        })
    }

    /// SIGKILL, then start again on the same address and data, and wait for readiness.
    pub fn kill9_and_restart(&mut self) -> anyhow::Result<()> {
        self.kill9_and_respawn()?;
        self.wait_ready(Duration::from_secs(120))
    }

    /// SIGKILL, then start again on the same address and data without waiting (peers
    /// that need each other restart together).
    pub fn kill9_and_respawn(&mut self) -> anyhow::Result<()> {
        self.peer.kill9()?;
        self.peer = Self::spawn(self.ip, self.http_port, &self.data_dir, &self.extra_args)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_handed_out_is_not_handed_out_again_while_its_claimant_lives() {
        let ports: Vec<u16> = (0..200).map(|_| free_port(Ipv4Addr::LOCALHOST)).collect();
        let distinct: std::collections::BTreeSet<_> = ports.iter().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        let claims = std::env::temp_dir().join("pyrite-test-ports");
        for p in ports {
            let holder = std::fs::read_to_string(claims.join(p.to_string())).unwrap();
            assert_eq!(holder, std::process::id().to_string());
        }
    }
}
