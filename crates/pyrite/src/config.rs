//! Configuration: one YAML document, every option of which can also be set by a flag
//! of the same dotted name (`server: {http_listen_port: 9009}` is
//! `--server.http-listen-port=9009`). Flags win over the file; the file wins over the
//! defaults, which live in the `Default` impls and nowhere else.
//!
//! Flags are derived from the configuration's own shape, so a new option gets its flag
//! for free and `--help` always lists every one with its default.

use pyrite_config::Duration;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use serde::{Deserialize, Serialize};
use serde_yaml::{Mapping, Value};

/// The whole configuration of a `pyrite` process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Comma-separated components to run; `all` runs every one in this process.
    pub target: String,
    pub server: ServerConfig,
    pub log: LogConfig,
    pub data: DataConfig,
    pub ingester: pyrite_ingester::IngesterOptions,
    pub distributor: pyrite_distributor::DistributorConfig,
    pub querier: pyrite_querier::QuerierConfig,
    pub query_frontend: pyrite_frontend::FrontendConfig,
    pub cluster: ClusterConfig,
    pub blocks: pyrite_block::BlocksConfig,
    pub store_gateway: pyrite_storegateway::StoreGatewayConfig,
    pub compactor: pyrite_compactor::CompactorConfig,
    pub scrape: pyrite_scrape::ScrapeOptions,
    pub ruler: pyrite_ruler::RulerConfig,
    pub alertmanager: pyrite_alertmanager::AlertmanagerOptions,
}

impl Config {
    /// Each section's own checks, before anything starts.
    pub fn validate(&self) -> Result<(), String> {
        self.querier.validate()?;
        self.query_frontend.validate()?;
        self.store_gateway.validate()?;
        self.blocks.validate()?;
        self.scrape.validate()?;
        self.ruler.validate()?;
        self.compactor.validate(self.blocks.range.0)
    }

    /// Every tenant's limits: the defaults the sections give, and the tenants' overrides,
    /// parsed once as the configuration was read. One value is shared by every component
    /// of the process.
    pub fn limits(&self) -> pyrite_limits::Limits {
        let mut defaults = pyrite_limits::TenantLimits::default();
        self.distributor.tenant_defaults(&mut defaults);
        self.compactor.tenant_defaults(&mut defaults);
        self.query_frontend.tenant_defaults(&mut defaults);
        self.ruler.tenant_defaults(&mut defaults);
        let overrides = pyrite_limits::Overrides::new(defaults);
        let overrides = self.compactor.tenant_overrides(overrides);
        let overrides = self.query_frontend.tenant_overrides(overrides);
        let overrides = self.ruler.tenant_overrides(overrides);
        pyrite_limits::Limits::new(overrides)
    }
}

/// Running as a cluster: which ingesters exist, how series are sharded and replicated,
/// and who this process is. With `ingesters` left empty, every component runs in one
/// process (the embedded default): one shard, a one-replica Raft group on this node, the
/// Raft settings below applying to it (`POST /ring/changes` can add shards later).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClusterConfig {
    /// The ingesters, as `id=host:grpc_port` pairs separated by commas
    /// (`1=ingester-1:9095,2=ingester-2:9095,3=ingester-3:9095`). Every process of a
    /// cluster is given the same list; it decides the ring.
    pub ingesters: String,
    /// This process's ingester id (ingester targets only). An id not in `ingesters`
    /// joins the running cluster those ingesters form, at `advertise_address`.
    pub node_id: u64,
    /// The `host:port` other processes reach this ingester's gRPC at. Defaults to its
    /// entry in `ingesters`, else the gRPC listen address and port.
    pub advertise_address: String,
    /// Shards the series space is split into.
    pub shards: u32,
    /// Replicas per shard (a shard's Raft group size).
    pub replication_factor: usize,
    /// How queriers read shards: `linearizable` (leader with a read index: reads see
    /// every acknowledged write) or `follower` (any replica: faster, may lag).
    pub read_consistency: pyrite_querier::Consistency,
    /// Raft heartbeat interval (also how long one replication call may take) and
    /// election timeout (about how long a shard is without a leader after losing one).
    pub raft_heartbeat: Duration,
    pub raft_election_timeout: Duration,
    /// fsync the Raft log before acknowledging (`true`), or leave it to the OS.
    pub raft_fsync: bool,
    /// Snapshot each shard's head every this many Raft log entries and purge the log
    /// before it; a replica too far behind catches up from the snapshot. 0: never.
    pub raft_snapshot_entries: u64,
    /// How long a scraped write waits at its shard's leader for others to share its Raft
    /// log entry (one replication round and one fsync for them all). Remote writes never
    /// wait. 0s: scraped writes do not wait either.
    pub scrape_batch_wait: Duration,
    /// A file holding the admin token that `POST /ring/changes` requires (as
    /// `Authorization: Bearer <token>`). Empty: the `PYRITE_ADMIN_TOKEN` environment
    /// variable, else no token, and every ring change is refused. The token itself is
    /// never part of the configuration.
    pub admin_token_file: String,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            ingesters: String::new(),
            node_id: 0,
            advertise_address: String::new(),
            shards: 4,
            replication_factor: 3,
            read_consistency: pyrite_querier::Consistency::Linearizable,
            raft_heartbeat: Duration::from_millis(250),
            raft_election_timeout: Duration::from_millis(1500),
            raft_fsync: true,
            raft_snapshot_entries: 10_000,
            scrape_batch_wait: Duration::from_millis(200),
            admin_token_file: String::new(),
        }
    }
}

impl ClusterConfig {
    pub fn enabled(&self) -> bool {
        !self.ingesters.trim().is_empty()
    }

    /// The cluster a single process forms by itself: ingester 1 at `grpc_addr` holding
    /// one shard of one replica. (More shards only add log writes and fsyncs when one
    /// process applies them all: measured in docs/performance.md.)
    pub fn standalone(&self, grpc_addr: &str) -> ClusterConfig {
        ClusterConfig {
            ingesters: format!("1={grpc_addr}"),
            node_id: 1,
            advertise_address: grpc_addr.to_string(),
            shards: 1,
            replication_factor: 1,
            ..self.clone()
        }
    }

    /// The ring every process of the cluster derives from the same settings.
    pub fn ring(&self) -> anyhow::Result<pyrite_ring::Ring> {
        let mut ingesters = Vec::new();
        for part in self.ingesters.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (id, addr) = part
                .split_once('=')
                .ok_or_else(|| anyhow!("--cluster.ingesters: {part:?} is not id=host:port"))?;
            let id: u64 = id
                .trim()
                .parse()
                .with_context(|| format!("--cluster.ingesters: bad id in {part:?}"))?;
            ingesters.push(pyrite_ring::Ingester {
                id,
                addr: addr.trim().to_string(),
            });
        }
        if self.shards == 0 {
            bail!("--cluster.shards must be at least 1");
        }
        let desc = pyrite_ring::RingDesc::even(ingesters, self.shards, self.replication_factor);
        Ok(pyrite_ring::Ring::new(desc)?)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub http_listen_address: String,
    pub http_listen_port: u16,
    pub grpc_listen_address: String,
    pub grpc_listen_port: u16,
    /// How long in-flight requests get to finish after SIGTERM.
    pub graceful_shutdown_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            http_listen_address: "0.0.0.0".into(),
            http_listen_port: 9009,
            grpc_listen_address: "0.0.0.0".into(),
            grpc_listen_port: 9095,
            graceful_shutdown_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `error`, `warn`, `info`, `debug` or `trace` (or a tracing filter directive).
    pub level: String,
    /// `logfmt` (human-readable lines) or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Logfmt,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Root of everything Pyrite keeps on local disk.
    pub dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        Self { dir: "./data".into() }
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    Logfmt,
    Json,
}

/// What the command line asked for.
pub enum Invocation {
    Run(Box<Config>),
    Help(String),
    Version,
    /// `pyrite test rules FILE...`: rule unit-test files to run.
    TestRules(Vec<PathBuf>),
}

/// Parses the command line (without the program name) into a configuration.
pub fn from_args(args: &[String]) -> anyhow::Result<Invocation> {
    if args.first().is_some_and(|a| a == "test") {
        return crate::test_rules::parse(&args[1..]);
    }
    let mut overrides: Vec<(String, String)> = Vec::new();
    let mut config_file: Option<PathBuf> = None;
    let mut expand_env = false;
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            bail!("unexpected argument {arg:?}; options are flags like --server.http-listen-port=9009");
        };
        match flag {
            "h" | "help" => return Ok(Invocation::Help(crate::help::help_text()?)),
            "version" => return Ok(Invocation::Version),
            _ => {}
        }
        let (name, value) = match flag.split_once('=') {
            Some((n, v)) => (n.to_string(), v.to_string()),
            None => {
                let v = args.get(i).ok_or_else(|| anyhow!("flag --{flag} needs a value"))?;
                i += 1;
                (flag.to_string(), v.clone())
            }
        };
        if name == "config.file" {
            config_file = Some(value.into());
        } else if name == "config.expand-env" {
            expand_env = value
                .parse()
                .with_context(|| "--config.expand-env takes true or false")?;
        } else {
            overrides.push((name, value));
        }
    }

    let mut doc = match &config_file {
        Some(path) => {
            let mut text =
                std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
            if expand_env {
                text = crate::expand::expand_env(&text, |v| std::env::var(v).ok())
                    .with_context(|| format!("expanding ${{VAR}} references in {}", path.display()))?;
            }
            let v: Value =
                serde_yaml::from_str(&text).with_context(|| format!("parsing config file {}", path.display()))?;
            if v.is_null() {
                Value::Mapping(Mapping::new())
            } else {
                v
            }
        }
        None => Value::Mapping(Mapping::new()),
    };
    let defaults = serde_yaml::to_value(Config::default())?;
    for (flag, value) in overrides {
        set_flag(&mut doc, &defaults, &flag, &value)?;
    }
    let mut cfg: Config = serde_yaml::from_value(doc).context("invalid configuration")?;
    if cfg.target.is_empty() {
        cfg.target = "all".into();
    }
    let s3 = &mut cfg.blocks.s3;
    s3.secret_access_key
        .load_file(&s3.secret_access_key_file, "blocks.s3.secret-access-key")
        .map_err(anyhow::Error::msg)?;
    cfg.validate().map_err(|e| anyhow!(e))?;
    Ok(Invocation::Run(Box::new(cfg)))
}

/// Sets the option a flag names, typed like its default.
fn set_flag(doc: &mut Value, defaults: &Value, flag: &str, raw: &str) -> anyhow::Result<()> {
    let path: Vec<String> = flag.split('.').map(|s| s.replace('-', "_")).collect();
    let mut default = defaults;
    for key in &path {
        default = default
            .get(key.as_str())
            .ok_or_else(|| anyhow!("unknown flag --{flag} (see --help)"))?;
    }
    let value = match default {
        Value::Bool(_) => Value::Bool(raw.parse().with_context(|| format!("--{flag} takes true or false"))?),
        Value::Number(_) => serde_yaml::from_str::<Value>(raw)
            .ok()
            .filter(Value::is_number)
            .ok_or_else(|| anyhow!("--{flag} takes a number, got {raw:?}"))?,
        Value::Mapping(_) | Value::Sequence(_) => bail!("--{flag} names a section, not an option"),
        _ => Value::String(raw.to_string()),
    };
    let mut node = doc;
    for key in &path[..path.len() - 1] {
        let map = node
            .as_mapping_mut()
            .ok_or_else(|| anyhow!("config section for --{flag} is not a mapping"))?;
        node = map
            .entry(Value::String(key.clone()))
            .or_insert_with(|| Value::Mapping(Mapping::new()));
    }
    let map = node
        .as_mapping_mut()
        .ok_or_else(|| anyhow!("config section for --{flag} is not a mapping"))?;
    map.insert(Value::String(path[path.len() - 1].clone()), value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::help::{flags, FLAG_HELP};

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn run(a: &[&str]) -> anyhow::Result<Config> {
        match from_args(&args(a))? {
            Invocation::Run(c) => Ok(*c),
            _ => bail!("not a run"),
        }
    }

    #[test]
    fn defaults_match_the_contract() {
        let c = run(&[]).unwrap();
        assert_eq!(c.target, "all");
        assert_eq!(c.server.http_listen_port, 9009);
        assert_eq!(c.server.grpc_listen_port, 9095);
        assert_eq!(c.data.dir, PathBuf::from("./data"));
        assert_eq!(c.log.level, "info");
    }

    #[test]
    fn flags_override_file_and_are_typed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(
            &file,
            "server:\n  http_listen_port: 1234\nlog:\n  level: debug\nquerier:\n  timeout: 1m\n",
        )
        .unwrap();
        let c = run(&[
            "--config.file",
            file.to_str().unwrap(),
            "--server.http-listen-port=4321",
            "--data.dir",
            "/tmp/x",
            "--querier.lookback-delta=1m30s",
        ])
        .unwrap();
        assert_eq!(c.server.http_listen_port, 4321);
        assert_eq!(c.log.level, "debug");
        assert_eq!(c.data.dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.querier.timeout, Duration::from_secs(60));
        assert_eq!(c.querier.lookback_delta, Duration::from_secs(90));
    }

    #[test]
    fn the_shipped_example_config_loads() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../../deploy/pyrite.yaml");
        let c = run(&["--config.file", file]).unwrap();
        assert_eq!(c.target, "all");
        assert_eq!(c.server.http_listen_port, 9009);
        assert_eq!(c.querier.default_subquery_step, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_are_reported() {
        assert!(run(&["--no.such-flag=1"]).is_err());
        assert!(run(&["--server.http-listen-port=abc"]).is_err());
        assert!(run(&["--server"]).is_err());
        assert!(run(&["positional"]).is_err());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::fs::write(&file, "server:\n  http_port: 1\n").unwrap();
        assert!(
            run(&["--config.file", file.to_str().unwrap()]).is_err(),
            "unknown YAML keys are refused"
        );
    }

    #[test]
    fn help_lists_every_option() {
        let Invocation::Help(h) = from_args(&args(&["--help"])).unwrap() else {
            panic!()
        };
        assert!(h.contains("--server.http-listen-port"));
        assert!(h.contains("--cluster.raft-fsync"));
        assert!(h.contains("--querier.lookback-delta"));
        assert!(h.contains("--query-frontend.split-interval"));
        assert!(h.contains("--querier.frontend-address"));
    }

    #[test]
    fn help_describes_every_flag_in_one_line() {
        let Invocation::Help(h) = from_args(&args(&["--help"])).unwrap() else {
            panic!()
        };
        let lines: Vec<&str> = h.lines().collect();
        let flags = flags().unwrap();
        let mut undescribed = Vec::new();
        for (name, _) in &flags {
            let at = lines
                .iter()
                .position(|l| l.trim() == format!("--{name}"))
                .unwrap_or_else(|| panic!("--{name} is not in --help"));
            let description = lines.get(at + 1).map_or("", |l| l.trim());
            let text = description
                .rsplit_once("(default:")
                .map_or(description, |(d, _)| d)
                .trim();
            if text.is_empty() {
                undescribed.push(name.as_str());
            }
        }
        assert!(undescribed.is_empty(), "flags without a description: {undescribed:?}");
        // No description is left over from an option that is gone.
        for (name, _) in FLAG_HELP {
            assert!(flags.iter().any(|(n, _)| n == name), "FLAG_HELP names no flag --{name}");
        }
        assert!(h.contains("  --querier.timeout\n      Longest a query may run"), "{h}");
    }

    #[test]
    fn frontend_flags_are_typed_like_their_defaults() {
        let c = run(&[
            "--query-frontend.split-interval=1h",
            "--query-frontend.query-shards=8",
            "--query-frontend.align-queries-with-step=true",
            "--querier.max-concurrent=2",
        ])
        .unwrap();
        assert_eq!(c.query_frontend.split_interval, Duration::from_secs(3600));
        assert_eq!(c.query_frontend.query_shards, 8);
        assert!(c.query_frontend.align_queries_with_step);
        assert_eq!(c.querier.max_concurrent, 2);
        assert!(run(&["--query-frontend.split-interval=soon"]).is_err());
    }

    #[test]
    fn secrets_come_from_the_environment_or_a_file_and_are_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("p.yaml");
        std::env::set_var("PYRITE_TEST_S3_SECRET", "from-env-3c1f");
        std::fs::write(
            &file,
            "blocks:\n  s3:\n    secret_access_key: ${PYRITE_TEST_S3_SECRET}\n",
        )
        .unwrap();
        let path = file.to_str().unwrap();
        let c = run(&["--config.file", path, "--config.expand-env=true"]).unwrap();
        assert_eq!(c.blocks.s3.secret_access_key.expose(), "from-env-3c1f");
        let printed = serde_yaml::to_string(&c).unwrap();
        assert!(!printed.contains("from-env-3c1f"), "{printed}");
        assert!(printed.contains(pyrite_config::MASK));
        assert!(!format!("{c:?}").contains("from-env-3c1f"));
        let c = run(&["--config.file", path]).unwrap();
        assert_eq!(
            c.blocks.s3.secret_access_key.expose(),
            "${PYRITE_TEST_S3_SECRET}",
            "expansion is asked for"
        );

        let key = dir.path().join("key");
        std::fs::write(&key, "from-file-9a2e\n").unwrap();
        let flag = format!("--blocks.s3.secret-access-key-file={}", key.display());
        let c = run(&[&flag]).unwrap();
        assert_eq!(c.blocks.s3.secret_access_key.expose(), "from-file-9a2e");
        assert!(!serde_yaml::to_string(&c).unwrap().contains("from-file-9a2e"));
        let c = run(&["--blocks.s3.secret-access-key=flag-7b"]).unwrap();
        assert!(!serde_yaml::to_string(&c).unwrap().contains("flag-7b"));
        assert!(run(&[&flag, "--blocks.s3.secret-access-key=x"]).is_err());
    }

    #[test]
    fn the_admin_token_file_is_an_option_and_its_contents_are_not() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("admin.token");
        std::fs::write(&file, "s3cr3t-token\n").unwrap();
        let flag = format!("--cluster.admin-token-file={}", file.display());
        let c = run(&[&flag]).unwrap();
        assert_eq!(c.cluster.admin_token_file, file.to_str().unwrap());
        let printed = serde_yaml::to_string(&c).unwrap();
        assert!(printed.contains("admin_token_file"), "{printed}");
        assert!(!printed.contains("s3cr3t"), "the token is never printed: {printed}");
    }

    #[test]
    fn per_tenant_overrides_are_read_once_into_the_limits() {
        let c = run(&[
            "--compactor.retention=7d",
            "--compactor.tenant-retention=team-a=30d",
            "--query-frontend.tenant-max-query-parallelism=team-b=3",
            "--distributor.max-label-names-per-series=10",
            "--ruler.max-rules-per-rule-group=5",
            "--ruler.tenant-max-rule-groups-per-tenant=team-a=3",
        ])
        .unwrap();
        let limits = c.limits();
        assert_eq!(limits.ruler_max_rules_per_rule_group("team-b"), 5);
        assert_eq!(limits.ruler_max_rule_groups_per_tenant("team-a"), 3);
        assert_eq!(limits.ruler_max_rule_groups_per_tenant("team-b"), 70);
        assert_eq!(limits.compactor_retention("team-a"), Duration::from_secs(30 * 86_400));
        assert_eq!(limits.compactor_retention("team-b"), Duration::from_secs(7 * 86_400));
        assert_eq!(limits.max_query_parallelism("team-b"), 3);
        assert_eq!(limits.max_label_names_per_series("team-a"), 10);
        let e = run(&["--compactor.tenant-retention=team-a"]).unwrap_err();
        assert!(format!("{e:#}").contains("\"team-a\" is not tenant=value"), "{e:#}");
        let printed = serde_yaml::to_string(&c).unwrap();
        assert!(printed.contains("tenant_retention: team-a=720h"), "{printed}");
    }

    #[test]
    fn choices_are_checked_as_the_configuration_is_read() {
        let c = run(&[
            "--cluster.read-consistency=follower",
            "--blocks.backend=s3",
            "--log.format=json",
        ])
        .unwrap();
        assert_eq!(c.cluster.read_consistency, pyrite_querier::Consistency::Follower);
        assert_eq!(c.blocks.backend, pyrite_block::BlocksBackend::S3);
        assert_eq!(c.log.format, LogFormat::Json);
        let e = run(&["--cluster.read-consistency=eventual"]).unwrap_err();
        assert!(
            format!("{e:#}").contains("unknown variant `eventual`, expected `linearizable` or `follower`"),
            "{e:#}"
        );
    }

    #[test]
    fn durations_print_back() {
        assert_eq!(Duration::from_millis(5_400_500).to_string(), "1h30m500ms");
        assert_eq!(Duration::ZERO.to_string(), "0s");
    }
}
