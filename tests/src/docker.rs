//! The compose cluster (`docker-compose.yml` at the repository root) as a test peer: its
//! images built from the `pyrite` binary under test (`deploy/build-images.sh`), brought
//! up under a compose project of its own with every host port chosen free, and broken
//! the ways production breaks: `docker kill`, `docker pause`, `docker network
//! disconnect`, restarts.
//!
//! [`Compose`] runs `docker-compose down -v` when dropped, so containers, the network
//! and the volumes go away even when a test fails (and prints the services' logs then).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::process::{free_port, pyrite_bin, wait_until};

/// Why Docker cannot be used here, or `None` when an engine answers and
/// `docker-compose` is installed.
pub fn unavailable() -> Option<String> {
    match Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
    {
        Err(e) => return Some(format!("no docker CLI ({e})")),
        Ok(o) if !o.status.success() => {
            return Some(format!(
                "no Docker engine reachable: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            ))
        }
        Ok(_) => {}
    }
    match Command::new("docker-compose").arg("version").output() {
        Err(e) => Some(format!("no docker-compose ({e})")),
        Ok(o) if !o.status.success() => Some("docker-compose does not run".into()),
        Ok(_) => None,
    }
}

/// The repository root (where `docker-compose.yml` is).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ lives in the repository")
        .to_path_buf()
}

/// Every published HTTP port of docker-compose.yml: (variable, service).
const PORTS: &[(&str, &str)] = &[
    ("PYRITE_S3_PORT", "s3"),
    ("PYRITE_INGESTER_1_PORT", "ingester-1"),
    ("PYRITE_INGESTER_2_PORT", "ingester-2"),
    ("PYRITE_INGESTER_3_PORT", "ingester-3"),
    ("PYRITE_DISTRIBUTOR_1_PORT", "distributor-1"),
    ("PYRITE_DISTRIBUTOR_2_PORT", "distributor-2"),
    ("PYRITE_QUERIER_1_PORT", "querier-1"),
    ("PYRITE_QUERIER_2_PORT", "querier-2"),
    ("PYRITE_FRONTEND_PORT", "query-frontend"),
    ("PYRITE_STORE_GATEWAY_1_PORT", "store-gateway-1"),
    ("PYRITE_STORE_GATEWAY_2_PORT", "store-gateway-2"),
    ("PYRITE_COMPACTOR_PORT", "compactor"),
    ("PYRITE_PROMETHEUS_PORT", "prometheus"),
    ("PYRITE_RULER_PORT", "ruler"),
    ("PYRITE_ALERTMANAGER_1_PORT", "alertmanager-1"),
    ("PYRITE_ALERTMANAGER_2_PORT", "alertmanager-2"),
    ("PYRITE_ALERTMANAGER_3_PORT", "alertmanager-3"),
];

/// Images the tests build and run (never the `local` ones `deploy/up.sh` makes).
pub const IMAGE_TAG: &str = "docker-test";

/// One compose project of the repository's docker-compose.yml.
pub struct Compose {
    pub project: String,
    env: BTreeMap<String, String>,
    ports: BTreeMap<&'static str, u16>,
    up: bool,
}

impl Compose {
    /// Builds the images from the `pyrite` binary under test (tag [`IMAGE_TAG`]).
    pub fn build_images() -> anyhow::Result<()> {
        let out = Command::new(repo_root().join("deploy/build-images.sh"))
            .env("PYRITE_BIN", pyrite_bin())
            .env("PYRITE_IMAGE_TAG", IMAGE_TAG)
            .output()
            .context("running deploy/build-images.sh")?;
        if !out.status.success() {
            bail!("deploy/build-images.sh failed:\n{}", text(&out));
        }
        Ok(())
    }

    /// A project named `project` (unique to the test), every host port free.
    pub fn new(project: &str) -> Compose {
        let mut env = BTreeMap::new();
        let mut ports = BTreeMap::new();
        for (var, service) in PORTS {
            let port = free_port(Ipv4Addr::UNSPECIFIED);
            env.insert(var.to_string(), port.to_string());
            ports.insert(*service, port);
        }
        env.insert("PYRITE_IMAGE_TAG".into(), IMAGE_TAG.into());
        Compose {
            project: project.to_string(),
            env,
            ports,
            up: false,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("docker-compose");
        cmd.current_dir(repo_root()).envs(&self.env).args([
            "--no-ansi",
            "-p",
            &self.project,
            "-f",
            "docker-compose.yml",
        ]);
        cmd.args(args);
        cmd
    }

    /// Takes down the projects named `<prefix><pid>` whose test process is gone: a test
    /// killed outright (its Drop never ran) leaves its containers and volumes behind.
    /// Projects of test processes still running, here or in another checkout, are left.
    pub fn reap_stale(prefix: &str) {
        let Ok(out) = Command::new("docker")
            .args([
                "ps",
                "-a",
                "--filter",
                "label=com.docker.compose.project",
                "--format",
                "{{.Label \"com.docker.compose.project\"}}",
            ])
            .output()
        else {
            return;
        };
        let mut projects: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|p| p.starts_with(prefix))
            .map(String::from)
            .collect();
        projects.sort();
        projects.dedup();
        for p in projects {
            let Ok(pid) = p[prefix.len()..].parse::<u32>() else {
                continue;
            };
            if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                continue;
            }
            eprintln!("taking down {p}, left behind by a test process that is gone");
            let mut stale = Compose::new(&p);
            stale.up = true;
            drop(stale);
        }
    }

    /// Runs `docker-compose <args>` in the project; its output on success.
    pub fn run(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = self
            .command(args)
            .output()
            .with_context(|| format!("docker-compose {args:?}"))?;
        if !out.status.success() {
            bail!("docker-compose {args:?} failed:\n{}", text(&out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `docker-compose up -d`, which returns once every service's dependencies are
    /// healthy; then waits until every service is.
    pub fn up(&mut self) -> anyhow::Result<()> {
        self.up = true;
        self.run(&["up", "-d", "--no-build"])?;
        for s in self.services()? {
            self.wait_healthy(&s, Duration::from_secs(120))?;
        }
        Ok(())
    }

    /// Brings the project up with the README's command, `deploy/up.sh`, as written (its
    /// environment picks the binary under test, the image tag, the project and the
    /// ports); then waits until every service is healthy. The script builds the images.
    pub fn up_script(&mut self) -> anyhow::Result<String> {
        self.up = true;
        let out = Command::new(repo_root().join("deploy/up.sh"))
            .current_dir(repo_root())
            .envs(&self.env)
            .env("PYRITE_BIN", pyrite_bin())
            .env("COMPOSE_PROJECT_NAME", &self.project)
            .output()
            .context("running deploy/up.sh")?;
        if !out.status.success() {
            bail!("deploy/up.sh failed:\n{}", text(&out));
        }
        for s in self.services()? {
            self.wait_healthy(&s, Duration::from_secs(120))?;
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `docker-compose up -d <services>`: those and what they depend on; then waits
    /// until every service running is healthy.
    pub fn up_services(&mut self, services: &[&str]) -> anyhow::Result<()> {
        self.up = true;
        let mut args = vec!["up", "-d", "--no-build"];
        args.extend_from_slice(services);
        self.run(&args)?;
        for s in self.services()? {
            self.wait_healthy(&s, Duration::from_secs(120))?;
        }
        Ok(())
    }

    /// The services running in the project.
    pub fn services(&self) -> anyhow::Result<Vec<String>> {
        let out = self.run(&["ps", "--services", "--filter", "status=running"])?;
        Ok(out
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect())
    }

    /// The container of `service` (one each here).
    pub fn container(&self, service: &str) -> anyhow::Result<String> {
        let id = self.run(&["ps", "-q", service])?.trim().to_string();
        if id.is_empty() {
            bail!("no container for {service}");
        }
        Ok(id)
    }

    /// The project's network, as `docker network` names it.
    pub fn network(&self) -> String {
        format!("{}_default", self.project)
    }

    /// Runs `docker <args>`; its output on success.
    pub fn docker(&self, args: &[&str]) -> anyhow::Result<String> {
        let out = Command::new("docker")
            .args(args)
            .output()
            .with_context(|| format!("docker {args:?}"))?;
        if !out.status.success() {
            bail!("docker {args:?} failed:\n{}", text(&out));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Runs `docker <verb> [flags] <container of service> [after]`.
    pub fn on(&self, verb: &[&str], service: &str) -> anyhow::Result<String> {
        let id = self.container(service)?;
        let mut args = verb.to_vec();
        args.push(&id);
        self.docker(&args)
    }

    /// Waits until Docker reports `service`'s health check passing (or, for a service
    /// without one, that it runs).
    pub fn wait_healthy(&self, service: &str, timeout: Duration) -> anyhow::Result<()> {
        let id = self.container(service)?;
        let fmt = "{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}";
        wait_until(&format!("{service} to be healthy"), timeout, || {
            let out = self.docker(&["inspect", "--format", fmt, &id])?;
            let mut parts = out.split_whitespace();
            let (status, health) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            Ok((status == "running" && (health == "healthy" || health == "none")).then_some(()))
        })
    }

    /// `http://127.0.0.1:<published port of service><path>`.
    pub fn url(&self, service: &str, path: &str) -> String {
        let port = self
            .ports
            .get(service)
            .unwrap_or_else(|| panic!("{service} publishes no port"));
        format!("http://127.0.0.1:{port}{path}")
    }

    /// The last lines every service logged.
    pub fn logs(&self) -> String {
        self.command(&["logs", "--no-color", "--tail=60"])
            .output()
            .map(|o| text(&o))
            .unwrap_or_else(|e| format!("docker-compose logs: {e}"))
    }
}

impl Drop for Compose {
    fn drop(&mut self) {
        if !self.up {
            return;
        }
        if std::thread::panicking() {
            eprintln!("---- logs of compose project {} ----\n{}", self.project, self.logs());
        }
        // Paused containers cannot be stopped; a failed test may have left one.
        if let Ok(ids) = self.run(&["ps", "-q"]) {
            for id in ids.lines().filter(|l| !l.trim().is_empty()) {
                let _ = Command::new("docker").args(["unpause", id.trim()]).output();
            }
        }
        match self.command(&["down", "-v", "--remove-orphans", "-t", "5"]).output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => eprintln!("docker-compose down -v failed for {}:\n{}", self.project, text(&o)),
            Err(e) => eprintln!("docker-compose down -v for {}: {e}", self.project),
        }
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}
