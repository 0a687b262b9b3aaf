//! `dns_sd_configs`: targets from DNS records, asked for again every `refresh_interval`.
//!
//! Each name is one group, sourced by the name itself. `SRV` records give their target
//! (the trailing dot trimmed) and port as the address; `A` and `AAAA` records give the
//! address with the configured port (IPv6 in brackets); `MX` and `NS` records give the
//! exchange or name server host with the configured port. Targets carry
//! `__meta_dns_name` and, by record type, `__meta_dns_srv_record_target`,
//! `__meta_dns_srv_record_port`, `__meta_dns_mx_record_target` or
//! `__meta_dns_ns_record_target` (those keep the trailing dot). Prometheus sets the ones
//! that do not apply to an empty value, which every later stage reads as absent; Pyrite
//! leaves them out.
//!
//! The resolver is the system's (`/etc/resolv.conf`, read again for every refresh, with
//! its search domains) unless [`Env::dns_resolver`] names one server. Answers are not
//! cached between refreshes.
//!
//! The invariant: a lookup that fails (a timeout, SERVFAIL, REFUSED, no server) keeps
//! the name's last group; only an answer — records, no records, or "no such name" —
//! replaces it.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration as StdDuration;

use async_trait::async_trait;
use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::TokioResolver;
use pyrite_config::Duration;
use serde::{Deserialize, Serialize};

use crate::{Discoverer, DiscoveryError, Env, LabelSet, SdConfig, TargetGroup, Updates};

const NAME_LABEL: &str = "__meta_dns_name";
const SRV_TARGET_LABEL: &str = "__meta_dns_srv_record_target";
const SRV_PORT_LABEL: &str = "__meta_dns_srv_record_port";
const MX_TARGET_LABEL: &str = "__meta_dns_mx_record_target";
const NS_TARGET_LABEL: &str = "__meta_dns_ns_record_target";

/// The longest a whole refresh of one name (all servers, search domains and retries)
/// may take; a refresh never takes longer than the refresh interval either.
const LOOKUP_DEADLINE: StdDuration = StdDuration::from_secs(30);

/// One entry of `dns_sd_configs`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DnsSdConfig {
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default = "default_refresh")]
    pub refresh_interval: Duration,
    /// `SRV`, `A`, `AAAA`, `MX` or `NS`, in any case.
    #[serde(default = "default_type", rename = "type")]
    pub record_type: String,
    /// Required for every type but `SRV`, whose records carry their own port.
    #[serde(default)]
    pub port: u16,
}

fn default_refresh() -> Duration {
    Duration(StdDuration::from_secs(30))
}

fn default_type() -> String {
    "SRV".into()
}

impl Default for DnsSdConfig {
    fn default() -> Self {
        DnsSdConfig {
            names: Vec::new(),
            refresh_interval: default_refresh(),
            record_type: default_type(),
            port: 0,
        }
    }
}

impl DnsSdConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.names.is_empty() {
            return Err("DNS-SD config must contain at least one SRV record name".into());
        }
        let kind = self.kind()?;
        if kind != RecordType::SRV && self.port == 0 {
            return Err("a port is required in DNS-SD configs for all record types except SRV".into());
        }
        Ok(())
    }

    fn kind(&self) -> Result<RecordType, String> {
        match self.record_type.to_ascii_uppercase().as_str() {
            "SRV" => Ok(RecordType::SRV),
            "A" => Ok(RecordType::A),
            "AAAA" => Ok(RecordType::AAAA),
            "MX" => Ok(RecordType::MX),
            "NS" => Ok(RecordType::NS),
            _ => Err(format!("invalid DNS-SD records type {}", self.record_type)),
        }
    }
}

impl SdConfig for DnsSdConfig {
    fn name(&self) -> &'static str {
        "dns"
    }
    fn discoverer(&self, env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        self.validate().map_err(DiscoveryError::Config)?;
        Ok(Box::new(DnsDiscoverer {
            names: self.names.clone(),
            kind: self.kind().map_err(DiscoveryError::Config)?,
            port: self.port,
            refresh: self.refresh_interval.0,
            server: env.dns_resolver,
        }))
    }
}

pub struct DnsDiscoverer {
    names: Vec<String>,
    kind: RecordType,
    port: u16,
    refresh: StdDuration,
    server: Option<SocketAddr>,
}

#[async_trait]
impl Discoverer for DnsDiscoverer {
    async fn run(self: Box<Self>, updates: Updates) {
        let mut last: BTreeMap<String, TargetGroup> = BTreeMap::new();
        let mut first = true;
        let mut ticker = tokio::time::interval(self.refresh);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let out = self.refresh_all(&mut last).await;
            if (first || !out.is_empty()) && updates.send(out).await.is_err() {
                return;
            }
            first = false;
        }
    }
}

impl DnsDiscoverer {
    /// Looks every name up once; returns the groups that changed and records them in
    /// `last`.
    async fn refresh_all(&self, last: &mut BTreeMap<String, TargetGroup>) -> Vec<TargetGroup> {
        let resolver = match resolver(self.server, self.refresh) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "dns_sd: no resolver configuration");
                return Vec::new();
            }
        };
        let deadline = self.refresh.min(LOOKUP_DEADLINE);
        let lookups = self.names.iter().map(|name| {
            let resolver = &resolver;
            async move {
                let answer = tokio::time::timeout(deadline, lookup(resolver, name, self.kind))
                    .await
                    .unwrap_or_else(|_| Err(format!("no answer within {deadline:?}")));
                (name, answer)
            }
        });
        let mut out = Vec::new();
        for (name, answer) in futures::future::join_all(lookups).await {
            match answer {
                Ok(records) => {
                    let group = self.group(name, &records);
                    if last.get(name) != Some(&group) {
                        last.insert(name.clone(), group.clone());
                        out.push(group);
                    }
                }
                Err(e) => {
                    // Keep what the name had: an unanswered question says nothing.
                    tracing::error!(name = %name, error = %e, "dns_sd: refreshing DNS targets");
                }
            }
        }
        out
    }

    fn group(&self, name: &str, records: &[RData]) -> TargetGroup {
        let mut targets: Vec<LabelSet> = records.iter().filter_map(|r| target(name, r, self.port)).collect();
        targets.sort();
        targets.dedup();
        TargetGroup {
            source: name.to_string(),
            targets,
            labels: LabelSet::new(),
        }
    }
}

/// The labels of the target one record describes, or `None` for records of other
/// types (the CNAMEs an `A` question may bring along).
fn target(name: &str, record: &RData, port: u16) -> Option<LabelSet> {
    let mut l = LabelSet::new();
    l.insert(NAME_LABEL.into(), name.to_string());
    let address = match record {
        RData::SRV(srv) => {
            let host = srv.target.to_string();
            l.insert(SRV_TARGET_LABEL.into(), host.clone());
            l.insert(SRV_PORT_LABEL.into(), srv.port.to_string());
            join_host_port(host.trim_end_matches('.'), srv.port)
        }
        RData::MX(mx) => {
            let host = mx.exchange.to_string();
            l.insert(MX_TARGET_LABEL.into(), host.clone());
            join_host_port(host.trim_end_matches('.'), port)
        }
        RData::NS(ns) => {
            let host = ns.0.to_string();
            l.insert(NS_TARGET_LABEL.into(), host.clone());
            join_host_port(host.trim_end_matches('.'), port)
        }
        RData::A(a) => join_host_port(&IpAddr::V4(a.0).to_string(), port),
        RData::AAAA(a) => join_host_port(&IpAddr::V6(a.0).to_string(), port),
        _ => return None,
    };
    l.insert("__address__".into(), address);
    Some(l)
}

/// `host:port`, with the host in brackets when it holds a colon (an IPv6 address).
pub(crate) fn join_host_port(host: &str, port: u16) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// The records of `kind` for `name`. No records and "no such name" are answers (an
/// empty list); anything else is an error.
async fn lookup(resolver: &TokioResolver, name: &str, kind: RecordType) -> Result<Vec<RData>, String> {
    match resolver.lookup(name, kind).await {
        Ok(found) => Ok(found
            .answers()
            .iter()
            .filter(|r| r.record_type() == kind)
            .map(|r| r.data.clone())
            .collect()),
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Ok(Vec::new()),
        Err(e) => Err(e.to_string()),
    }
}

/// A resolver for one refresh: the given server over UDP and TCP, or the system's
/// configuration as it is now. Nothing is cached, so every refresh asks again.
fn resolver(server: Option<SocketAddr>, refresh: StdDuration) -> Result<TokioResolver, String> {
    let mut builder = match server {
        Some(addr) => {
            let mut udp = ConnectionConfig::udp();
            udp.port = addr.port();
            let mut tcp = ConnectionConfig::tcp();
            tcp.port = addr.port();
            let ns = NameServerConfig::new(addr.ip(), true, vec![udp, tcp]);
            let builder = TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            );
            builder.with_options(ResolverOpts::default())
        }
        None => TokioResolver::builder_tokio().map_err(|e| e.to_string())?,
    };
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.timeout = opts.timeout.min(refresh);
    builder.build().map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;
    use std::process::{Child, Command, Stdio};
    use tokio::sync::mpsc;

    #[test]
    fn configs_read_and_refused_as_prometheus_does() {
        let c: DnsSdConfig = serde_yaml::from_str("names: [_x._tcp.example.test]\n").unwrap();
        assert_eq!(c.record_type, "SRV");
        assert_eq!(c.refresh_interval, default_refresh());
        assert!(c.validate().is_ok());

        let c: DnsSdConfig =
            serde_yaml::from_str("names: [h.example.test]\ntype: aaaa\nport: 9100\nrefresh_interval: 5s\n").unwrap();
        assert_eq!(c.kind(), Ok(RecordType::AAAA));
        assert_eq!(c.refresh_interval.0, StdDuration::from_secs(5));
        assert!(c.validate().is_ok());

        let err = |yaml: &str| {
            serde_yaml::from_str::<DnsSdConfig>(yaml)
                .unwrap()
                .validate()
                .unwrap_err()
        };
        assert_eq!(
            err("names: []\n"),
            "DNS-SD config must contain at least one SRV record name"
        );
        for t in ["A", "AAAA", "MX", "NS"] {
            assert_eq!(
                err(&format!("names: [x]\ntype: {t}\n")),
                "a port is required in DNS-SD configs for all record types except SRV"
            );
        }
        assert_eq!(err("names: [x]\ntype: TXT\n"), "invalid DNS-SD records type TXT");
        assert!(serde_yaml::from_str::<DnsSdConfig>("names: [x]\nprot: 1\n").is_err());
    }

    #[test]
    fn addresses_are_joined_as_prometheus_joins_them() {
        assert_eq!(join_host_port("10.0.0.1", 80), "10.0.0.1:80");
        assert_eq!(join_host_port("2001:db8::1", 80), "[2001:db8::1]:80");
        assert_eq!(join_host_port("web.example.test", 443), "web.example.test:443");
    }

    /// A dnsmasq serving the given records on 127.0.0.1, killed when dropped.
    struct Dnsmasq {
        child: Child,
        port: u16,
    }

    impl Dnsmasq {
        /// Starts dnsmasq on `port` (a free one if `None`) and waits until it answers.
        fn start(port: Option<u16>, records: &[String]) -> Dnsmasq {
            let bin = ["/usr/sbin/dnsmasq", "/sbin/dnsmasq", "/usr/bin/dnsmasq"]
                .into_iter()
                .map(std::path::PathBuf::from)
                .chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("dnsmasq")))
                .find(|p| p.is_file())
                .expect(
                    "dnsmasq is not installed: the DNS discovery test needs a real DNS server \
                     (apt-get install dnsmasq-base; scripts/test.sh installs it)",
                );
            for _ in 0..5 {
                let port = port.unwrap_or_else(|| UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port());
                let child = Command::new(&bin)
                    .args([
                        "--no-daemon",
                        "--no-resolv",
                        "--no-hosts",
                        "--conf-file=/dev/null",
                        "--pid-file=",
                        "--listen-address=127.0.0.1",
                        "--bind-interfaces",
                    ])
                    .arg(format!("--port={port}"))
                    .args(records)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .expect("starting dnsmasq");
                let mut d = Dnsmasq { child, port };
                if d.wait_ready() {
                    return d;
                }
            }
            panic!("dnsmasq did not start on 127.0.0.1");
        }

        /// Asks dnsmasq a question until it answers (anything), or it exits, or 10 s pass.
        fn wait_ready(&mut self) -> bool {
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            sock.set_read_timeout(Some(StdDuration::from_millis(100))).unwrap();
            // A query for `example.test. SOA`: header, one question.
            let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
            for part in ["example", "test"] {
                q.push(part.len() as u8);
                q.extend_from_slice(part.as_bytes());
            }
            q.extend_from_slice(&[0, 0, 6, 0, 1]);
            let until = std::time::Instant::now() + StdDuration::from_secs(10);
            let mut buf = [0u8; 512];
            while std::time::Instant::now() < until {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return false;
                }
                let _ = sock.send_to(&q, ("127.0.0.1", self.port));
                if let Ok((n, _)) = sock.recv_from(&mut buf) {
                    if n >= 2 && buf[..2] == [0x12, 0x34] {
                        return true;
                    }
                }
            }
            false
        }
    }

    impl Drop for Dnsmasq {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn start(cfg: DnsSdConfig, server: SocketAddr) -> (mpsc::Receiver<Vec<TargetGroup>>, tokio::task::JoinHandle<()>) {
        let env = Env {
            dns_resolver: Some(server),
            ..Env::default()
        };
        let d = cfg.discoverer(&env).unwrap();
        let (tx, rx) = mpsc::channel(16);
        (rx, tokio::spawn(d.run(tx)))
    }

    async fn next(rx: &mut mpsc::Receiver<Vec<TargetGroup>>) -> Vec<TargetGroup> {
        tokio::time::timeout(StdDuration::from_secs(10), rx.recv())
            .await
            .expect("no update within 10 s")
            .expect("discoverer stopped")
    }

    fn labels(pairs: &[(&str, &str)]) -> LabelSet {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn group(source: &str, targets: Vec<LabelSet>) -> TargetGroup {
        TargetGroup {
            source: source.into(),
            targets,
            labels: LabelSet::new(),
        }
    }

    fn srv(name: &str, host: &str, port: &str) -> LabelSet {
        labels(&[
            ("__address__", &format!("{host}:{port}")),
            (NAME_LABEL, name),
            (SRV_TARGET_LABEL, &format!("{host}.")),
            (SRV_PORT_LABEL, port),
        ])
    }

    fn cfg(names: &[&str], kind: &str, port: u16) -> DnsSdConfig {
        DnsSdConfig {
            names: names.iter().map(|n| n.to_string()).collect(),
            refresh_interval: Duration(StdDuration::from_millis(200)),
            record_type: kind.into(),
            port,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn records_from_a_real_dns_server_become_targets_and_follow_its_changes() {
        let records = |srv2_port: u16, web1_v4: &str| {
            vec![
                "--srv-host=_http._tcp.example.test,web1.example.test,8080,0,10".to_string(),
                format!("--srv-host=_http._tcp.example.test,web2.example.test,{srv2_port},0,10"),
                format!("--host-record=web1.example.test,{web1_v4},2001:db8::1"),
                "--host-record=web2.example.test,10.0.0.2".to_string(),
                "--mx-host=example.test,mail.example.test,10".to_string(),
            ]
        };
        let dns = Dnsmasq::start(None, &records(8081, "10.0.0.1"));
        let server: SocketAddr = ([127, 0, 0, 1], dns.port).into();

        let srv_name = "_http._tcp.example.test";
        let (mut srv_rx, srv_task) = start(cfg(&[srv_name], "SRV", 0), server);
        let (mut a_rx, a_task) = start(cfg(&["web1.example.test", "web2.example.test"], "A", 9100), server);
        let (mut aaaa_rx, aaaa_task) = start(cfg(&["web1.example.test"], "aaaa", 9100), server);
        let (mut mx_rx, mx_task) = start(cfg(&["example.test"], "MX", 25), server);

        assert_eq!(
            next(&mut srv_rx).await,
            vec![group(
                srv_name,
                vec![
                    srv(srv_name, "web1.example.test", "8080"),
                    srv(srv_name, "web2.example.test", "8081"),
                ]
            )]
        );
        let a = |name: &str, addr: &str| labels(&[("__address__", addr), (NAME_LABEL, name)]);
        assert_eq!(
            next(&mut a_rx).await,
            vec![
                group("web1.example.test", vec![a("web1.example.test", "10.0.0.1:9100")]),
                group("web2.example.test", vec![a("web2.example.test", "10.0.0.2:9100")]),
            ]
        );
        assert_eq!(
            next(&mut aaaa_rx).await,
            vec![group(
                "web1.example.test",
                vec![a("web1.example.test", "[2001:db8::1]:9100")]
            )]
        );
        assert_eq!(
            next(&mut mx_rx).await,
            vec![group(
                "example.test",
                vec![labels(&[
                    ("__address__", "mail.example.test:25"),
                    (NAME_LABEL, "example.test"),
                    (MX_TARGET_LABEL, "mail.example.test."),
                ])]
            )]
        );

        // The server goes away: lookups fail, and every name keeps its targets.
        let port = dns.port;
        drop(dns);
        tokio::time::sleep(StdDuration::from_secs(1)).await;
        assert!(srv_rx.try_recv().is_err(), "a failed lookup must not change the group");
        assert!(a_rx.try_recv().is_err(), "a failed lookup must not change the group");

        // It comes back with changed records: the next refresh shows them.
        let _dns = Dnsmasq::start(Some(port), &records(9091, "10.0.0.11"));
        assert_eq!(
            next(&mut srv_rx).await,
            vec![group(
                srv_name,
                vec![
                    srv(srv_name, "web1.example.test", "8080"),
                    srv(srv_name, "web2.example.test", "9091"),
                ]
            )]
        );
        // Only the name whose records changed is sent again.
        assert_eq!(
            next(&mut a_rx).await,
            vec![group(
                "web1.example.test",
                vec![a("web1.example.test", "10.0.0.11:9100")]
            )]
        );
        for t in [srv_task, a_task, aaaa_task, mx_task] {
            t.abort();
        }
    }
}
