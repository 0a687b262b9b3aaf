//! `--help`: every flag the configuration's shape gives, with its default and one line
//! on what it does. The table of descriptions lives here, beside the flags; a test in
//! `config` keeps it and the options in step.

use serde_yaml::Value;

use crate::config::Config;

/// `pyrite test rules --help`.
pub(crate) const TEST_RULES_HELP: &str = "\
Usage: pyrite test rules FILE...

Runs rule unit-test files, in the format of `promtool test rules`, with Pyrite's rule
evaluator: each file's rule_files are loaded (relative to the test file; globs allowed),
its input_series loaded into memory, every rule group evaluated at each
evaluation_interval, and its alert_rule_test and promql_expr_test checked.
Prints `Unit Testing:  FILE` and then `  SUCCESS`, or `  FAILED:` and each failure.
Exits with 0 when every file passed, 1 otherwise.
";

/// One line on what each flag does, for `--help`. The options' shapes come from the
/// configuration structs (which may live in other crates); what they mean to an operator
/// is said here, where the flags are. A test keeps this table and the options in step.
pub(crate) const FLAG_HELP: &[(&str, &str)] = &[
    ("target", "Comma-separated components to run (ingester, distributor, querier, query-frontend, …); all runs every one in this process"),
    ("server.http-listen-address", "Address the HTTP server listens on"),
    ("server.http-listen-port", "Port of the HTTP server (push, Prometheus API, /ready, /metrics)"),
    ("server.grpc-listen-address", "Address the gRPC server listens on"),
    ("server.grpc-listen-port", "Port of the gRPC server (ingesters, store gateways, frontend workers)"),
    ("server.graceful-shutdown-timeout", "How long in-flight requests get to finish after SIGTERM"),
    ("log.level", "Log level: error, warn, info, debug or trace (or a tracing filter directive)"),
    ("log.format", "Log format: logfmt (human-readable lines) or json"),
    ("data.dir", "Root directory of everything kept on local disk"),
    ("ingester.head.out-of-order-window-ms", "How far behind a series' newest sample an older one is still accepted, in milliseconds; 0 refuses out-of-order samples"),
    ("ingester.head.max-series-per-tenant", "Most series one tenant may hold in an ingester's head; 0: no limit"),
    ("distributor.max-request-body-bytes", "Largest compressed remote-write body accepted, in bytes"),
    ("distributor.max-decompressed-body-bytes", "Largest decompressed remote-write request, in bytes (checked before decompressing)"),
    ("distributor.max-series-per-request", "Most series in one remote-write request; 0: no limit"),
    ("distributor.max-samples-per-request", "Most samples in one remote-write request; 0: no limit"),
    ("distributor.max-label-names-per-series", "Most labels, metric name included, on one series; 0: no limit"),
    ("distributor.max-label-name-length", "Longest label name accepted, in bytes; 0: no limit"),
    ("distributor.max-label-value-length", "Longest label value accepted, in bytes; 0: no limit"),
    ("distributor.max-metadata-length", "Longest metric name, help or unit in metric metadata, in bytes; 0: no limit"),
    ("distributor.creation-grace-period-seconds", "How far ahead of this server's clock a sample may be, in seconds; 0 accepts any future timestamp"),
    ("distributor.past-grace-period-seconds", "How far behind this server's clock a sample may be, in seconds; 0 leaves the past to each tenant's appendable window"),
    ("querier.lookback-delta", "How far back an instant selector looks for a series' latest sample"),
    ("querier.timeout", "Longest a query may run (a request's timeout parameter can only shorten it)"),
    ("querier.max-samples", "Most samples one query may hold in memory at once"),
    ("querier.max-points-per-series", "Most steps after the first in a range query (Prometheus's 11,000-point limit)"),
    ("querier.enable-experimental-functions", "Allows experimental PromQL functions (double_exponential_smoothing, limitk, …)"),
    ("querier.default-subquery-step", "Step of subqueries written without one (rate(x[1h:]))"),
    ("querier.frontend-address", "The query frontend's gRPC address (host:port) to pull work from; empty: none, or this process's own frontend"),
    ("querier.max-concurrent", "Frontend requests this querier runs at once"),
    ("scrape.config-file", "A Prometheus configuration file whose scrape_configs this process's distributor scrapes (global and scrape_configs read; reloaded on SIGHUP and POST /-/reload); empty: no scraping"),
    ("scrape.dns-resolver", "The DNS server (host:port) dns_sd_configs ask; empty: the system's resolver"),
    ("scrape.instance-id", "This distributor's name among the distributors sharing scrape targets out; empty: its HTTP address and port (the host's name when it listens on every interface)"),
    ("scrape.heartbeat-period", "In a cluster, how often a scraping distributor tells the metadata group it is alive"),
    ("ruler.rules-dir", "Rule files the ruler evaluates: those at the top are the tenant anonymous's, those in a sub-directory the tenant's it is named after (read at start; reloaded on SIGHUP and POST /-/reload); empty: none"),
    ("ruler.evaluation-interval", "How often a rule group without an interval of its own is evaluated"),
    ("ruler.query-offset", "How far behind its evaluation instant a rule group without a query_offset of its own queries"),
    ("ruler.resend-delay", "How long a firing alert goes before the ruler sends it again"),
    ("ruler.alertmanager-url", "Alertmanagers the ruler sends alerts to, comma-separated base URLs (API v2 under /api/v2); empty: the alertmanager in this process if it runs one (and no alerting file is given), else none"),
    ("ruler.alerting-config-file", "A Prometheus configuration file whose alerting section (alertmanagers with their service discovery, relabel_configs, HTTP client options; alert_relabel_configs) and global.external_labels the ruler's alert sending follows; read again on SIGHUP and POST /-/reload (a broken file keeps the running configuration); empty: none"),
    ("ruler.notification-queue-capacity", "Alerts waiting to be sent to Alertmanagers, at most; the oldest are dropped beyond it"),
    ("ruler.heartbeat-period", "How often a ruler tells the metadata group it is alive (rulers share rule groups out as members of its ruler pool)"),
    ("ruler.heartbeat-timeout", "How long a ruler may go unheard before its rule groups move to the others (it stops evaluating one period sooner by itself); at least three periods"),
    ("ruler.instance-id", "This ruler's name in the ruler pool (it must stay the same across restarts to keep its groups); empty: its HTTP address"),
    ("ruler.external-url", "The URL users reach this Pyrite at: alert templates' $externalURL and alerts' generatorURL; empty: http:// and this process's HTTP address"),
    ("alertmanager.config-file", "An Alertmanager configuration file (alertmanager.yml, unchanged) that every tenant's alertmanager runs (reloaded on SIGHUP and POST /-/reload); empty: every alert grouped by name and sent nowhere"),
    ("alertmanager.external-url", "The URL users reach the alertmanager at, as notifications link to it; empty: http://, this process's HTTP address and /alertmanager"),
    ("alertmanager.heartbeat-period", "How often an alertmanager tells the metadata group it is alive (replicas are members of its alertmanager pool, whose owner of the state notifies)"),
    ("alertmanager.heartbeat-timeout", "How long an alertmanager may go unheard before another replica takes its state over and notifies"),
    ("alertmanager.fail-open-after", "Cut off from the metadata group this long, an alertmanager notifies without committing, every replica on its own (duplicates rather than silence); 0s: never, it stays silent until the group is back"),
    ("alertmanager.instance-id", "This alertmanager's name in the alertmanager pool (keep it across restarts); empty: its HTTP address"),
    ("ruler.poll-interval", "How often the ruler reads the rule store again for groups other processes changed through the rule configuration API (its own changes apply at once)"),
    ("ruler.max-rules-per-rule-group", "Most rules in one group the rule configuration API stores; 0: no limit"),
    ("ruler.tenant-max-rules-per-rule-group", "Per-tenant overrides of max-rules-per-rule-group: tenant=n pairs, comma-separated"),
    ("ruler.max-rule-groups-per-tenant", "Most rule groups a tenant may keep through the rule configuration API; 0: no limit"),
    ("ruler.tenant-max-rule-groups-per-tenant", "Per-tenant overrides of max-rule-groups-per-tenant: tenant=n pairs, comma-separated"),
    ("scrape.heartbeat-timeout", "In a cluster, how long a scraping distributor may go unheard before its targets move to the others (it stops scraping one period sooner by itself); at least three periods"),
    ("query-frontend.split-interval", "Range queries are split into parts of this length, run in parallel and merged; 0s does not split"),
    ("query-frontend.align-queries-with-step", "Moves a range query's start and end down to multiples of its step, so refreshed dashboards reuse cached parts"),
    ("query-frontend.cache-results", "Caches the results of range queries' parts"),
    ("query-frontend.results-cache-backend", "Results cache: inmemory (an LRU in this process) or none"),
    ("query-frontend.results-cache-max-size-bytes", "Byte budget of the in-memory results cache"),
    ("query-frontend.max-cache-freshness", "Steps younger than this are never cached (their data may still arrive)"),
    ("query-frontend.query-shards", "Shards a shardable aggregation is split into; 0 or 1 turns sharding off"),
    ("query-frontend.max-outstanding-requests-per-tenant", "Most requests a tenant may have waiting in the queue; more are refused with 429"),
    ("query-frontend.max-query-parallelism", "Most parts (splits × shards) of one query in flight at once"),
    ("query-frontend.tenant-max-query-parallelism", "Per-tenant overrides of max-query-parallelism: tenant=n pairs, comma-separated"),
    ("query-frontend.max-total-query-length", "Longest range a query may cover (end − start); 0s: unlimited"),
    ("query-frontend.tenant-max-total-query-length", "Per-tenant overrides of max-total-query-length: tenant=duration pairs, comma-separated"),
    ("query-frontend.max-retries", "How often a failed part is retried (on a querier error or a lost querier)"),
    ("query-frontend.queue-timeout", "Longest a request to a querier may take, time in the queue included (then 503)"),
    ("cluster.ingesters", "The cluster's ingesters as id=host:grpc_port pairs, comma-separated; empty: one process is the whole cluster"),
    ("cluster.node-id", "This process's ingester id (ingester targets); an id not in cluster.ingesters joins the running cluster"),
    ("cluster.advertise-address", "host:port other processes reach this ingester's gRPC at; default: its cluster.ingesters entry, else the gRPC listen address"),
    ("cluster.shards", "Shards the series space is split into"),
    ("cluster.replication-factor", "Replicas per shard (the size of a shard's Raft group)"),
    ("cluster.read-consistency", "How queriers read shards: linearizable (see every acknowledged write) or follower (any replica; faster, may lag)"),
    ("cluster.raft-heartbeat", "Raft heartbeat interval, also how long one replication call may take"),
    ("cluster.raft-election-timeout", "Raft election timeout: about how long a shard is without a leader after losing one"),
    ("cluster.raft-fsync", "fsync the Raft log before acknowledging a write (false leaves it to the OS)"),
    ("cluster.scrape-batch-wait", "How long a scraped write waits at its shard's leader for others to share its Raft entry"),
    ("cluster.admin-token-file", "File holding the admin token POST /ring/changes requires as a bearer credential (or PYRITE_ADMIN_TOKEN); none: changes are refused"),
    ("cluster.raft-snapshot-entries", "Snapshot a shard's head and purge its Raft log every this many entries; 0: never"),
    ("blocks.backend", "Where blocks are kept: filesystem, s3, memory (lost on exit) or none (heads keep everything)"),
    ("blocks.dir", "Directory of the filesystem bucket; empty: <data.dir>/blocks"),
    ("blocks.s3.endpoint", "S3 endpoint, http(s)://host:port; empty: AWS's endpoint for the region"),
    ("blocks.s3.bucket", "S3 bucket name (needed with blocks.backend=s3)"),
    ("blocks.s3.region", "S3 region; empty: us-east-1"),
    ("blocks.s3.access-key-id", "S3 access key id; empty: credentials from the environment"),
    ("blocks.s3.secret-access-key", "S3 secret access key, used with blocks.s3.access-key-id (shown masked; better ${VAR} or the -file option)"),
    ("blocks.s3.secret-access-key-file", "File holding the S3 secret access key, instead of blocks.s3.secret-access-key"),
    ("blocks.s3.virtual-hosted-style", "Addresses buckets as bucket.host (AWS) rather than host/bucket"),
    ("blocks.range", "Time range of a block cut from a head"),
    ("blocks.check-interval", "How often a shard's leader looks for a range to cut into a block"),
    ("blocks.flush-delay", "How long cut data stays in the heads after its upload (at least blocks.sync-interval)"),
    ("blocks.sync-interval", "How often readers look for new blocks of a tenant"),
    ("store-gateway.addresses", "Store gateways' gRPC addresses (host:port, comma-separated); empty: queriers read blocks from the bucket themselves"),
    ("store-gateway.replication-factor", "Gateways each block is placed on; a read survives losing all but one"),
    ("compactor.ranges", "Ranges blocks are merged into after the cut range (blocks.range), comma-separated"),
    ("compactor.retention", "Blocks wholly older than this are deleted; 0s keeps everything"),
    ("compactor.tenant-retention", "Per-tenant retention overrides: tenant=duration pairs, comma-separated"),
    ("compactor.deletion-delay", "How long a block marked for deletion stays readable"),
    ("compactor.interval", "How often a compaction pass runs"),
];

/// Every flag of the configuration, by its dotted name, with its default as YAML.
pub(crate) fn flags() -> anyhow::Result<Vec<(String, String)>> {
    fn walk(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
        if let Value::Mapping(m) = v {
            for (k, v) in m {
                let Some(k) = k.as_str() else { continue };
                let name = if prefix.is_empty() {
                    k.replace('_', "-")
                } else {
                    format!("{prefix}.{}", k.replace('_', "-"))
                };
                match v {
                    Value::Mapping(_) => walk(&name, v, out),
                    _ => {
                        let d = serde_yaml::to_string(v).unwrap_or_default();
                        out.push((name, d.trim().to_string()));
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk("", &serde_yaml::to_value(Config::default())?, &mut out);
    Ok(out)
}

pub(crate) fn help_text() -> anyhow::Result<String> {
    let mut out = String::from(
        "Usage: pyrite [flags]\n       pyrite test rules FILE...\n\n\
         Runs Pyrite components (--target=all, the default, runs all in one process).\n\
         `pyrite test rules` runs rule unit-test files instead (see pyrite test rules --help).\n\
         Every option of the YAML file given by --config.file is also a flag; flags win.\n\n  \
         --config.file=PATH\n      YAML configuration file\n  \
         --config.expand-env=BOOL\n      Expands ${VAR} references in the configuration file from the environment (default: false)\n",
    );
    for (name, default) in flags()? {
        let help = FLAG_HELP.iter().find(|(n, _)| *n == name).map_or("", |(_, h)| *h);
        out.push_str(&format!("  --{name}\n      {help} (default: {default})\n"));
    }
    Ok(out)
}
