//! Targets from discovered groups, as Prometheus makes them: the group's and the
//! target's labels, the job's defaults (`job`, `__scheme__`, `__metrics_path__`,
//! `__scrape_interval__`, `__scrape_timeout__`, `__param_<name>`) where discovery left
//! them unset, then `relabel_configs`; a target relabeling drops is kept, as
//! "dropped", for the targets API. After relabeling `__meta_*` labels go, `instance`
//! defaults to `__address__`, and the target's labels are those not starting with `__`.
//! Like Prometheus 3, no default port is added to an address.
//!
//! The invariant: a target's [`Target::hash`] depends only on its tenant, job, labels
//! and URL — never on which node computes it — so every node agrees on a target's
//! identity and on the offset within its interval at which it is scraped.

use std::collections::BTreeMap;
use std::time::Duration as StdDuration;

use pyrite_discovery::{LabelSet, TargetGroup};
use pyrite_model::{Labels, LabelsBuilder};

use crate::config::ScrapeConfig;

/// A target to scrape.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    /// Labels before relabeling, as discovery gave them (with the job's defaults).
    pub discovered: Labels,
    /// Every label after relabeling, `__address__`, `__scheme__` and the like included.
    pub all: Labels,
    /// The labels the target's series carry: those not starting with `__`.
    pub labels: Labels,
    pub url: String,
    pub interval: StdDuration,
    pub timeout: StdDuration,
    pub hash: u64,
}

/// A discovered target relabeling dropped, or that could not be made a target.
#[derive(Debug, Clone, PartialEq)]
pub struct Dropped {
    pub discovered: Labels,
    /// Why it is not scraped, when that is an error rather than relabeling.
    pub error: Option<String>,
}

/// The targets of one job from all its groups, deduplicated by hash, and those dropped.
pub fn targets(cfg: &ScrapeConfig, groups: &BTreeMap<String, TargetGroup>) -> (Vec<Target>, Vec<Dropped>) {
    let mut active: BTreeMap<u64, Target> = BTreeMap::new();
    let mut dropped = Vec::new();
    for g in groups.values() {
        for t in &g.targets {
            let discovered = discovered_labels(cfg, t, &g.labels);
            match populate(cfg, &discovered) {
                Ok(Some(target)) => {
                    active.entry(target.hash).or_insert(target);
                }
                Ok(None) => dropped.push(Dropped {
                    discovered,
                    error: None,
                }),
                Err(e) => dropped.push(Dropped {
                    discovered,
                    error: Some(e),
                }),
            }
        }
    }
    (active.into_values().collect(), dropped)
}

/// The target's labels, then the group's where the target has none, then the job's
/// defaults where neither has one.
pub fn discovered_labels(cfg: &ScrapeConfig, target: &LabelSet, group: &LabelSet) -> Labels {
    let mut b = LabelsBuilder::new();
    for (n, v) in group {
        b.set(n, v);
    }
    for (n, v) in target {
        b.set(n, v);
    }
    let interval = cfg.scrape_interval.to_string();
    let timeout = cfg.scrape_timeout.to_string();
    for (n, v) in [
        ("job", cfg.job_name.as_str()),
        ("__scrape_interval__", &interval),
        ("__scrape_timeout__", &timeout),
        ("__metrics_path__", &cfg.metrics_path),
        ("__scheme__", &cfg.scheme),
    ] {
        if b.get(n).is_empty() {
            b.set(n, v);
        }
    }
    for (k, v) in &cfg.params {
        let name = format!("__param_{k}");
        if let Some(first) = v.first() {
            if b.get(&name).is_empty() {
                b.set(&name, first);
            }
        }
    }
    b.build()
}

/// Relabels discovered labels into a target: `Ok(None)` when relabeling drops it.
pub fn populate(cfg: &ScrapeConfig, discovered: &Labels) -> Result<Option<Target>, String> {
    let Some(relabeled) = pyrite_relabel::process(discovered, &cfg.relabel_configs) else {
        return Ok(None);
    };
    let addr = relabeled.get("__address__");
    if addr.is_empty() {
        return Err("no address".into());
    }
    if addr.contains('/') {
        return Err(format!("{addr:?} is not a valid hostname"));
    }
    let duration = |name: &str, what: &str| -> Result<StdDuration, String> {
        let v = relabeled.get(name);
        let d: pyrite_config::Duration = v.parse().map_err(|e| format!("error parsing scrape {what}: {e}"))?;
        if d.is_zero() {
            return Err(format!("scrape {what} cannot be 0"));
        }
        Ok(d.0)
    };
    let interval = duration("__scrape_interval__", "interval")?;
    let timeout = duration("__scrape_timeout__", "timeout")?;
    if timeout > interval {
        return Err(format!(
            "scrape timeout cannot be greater than scrape interval ({:?} > {:?})",
            relabeled.get("__scrape_timeout__"),
            relabeled.get("__scrape_interval__")
        ));
    }
    let mut b = relabeled.to_builder();
    let meta: Vec<String> = relabeled
        .iter()
        .filter(|l| l.name.starts_with("__meta_"))
        .map(|l| l.name.to_string())
        .collect();
    for n in &meta {
        b.del(n);
    }
    if b.get("instance").is_empty() {
        let addr = addr.to_string();
        b.set("instance", &addr);
    }
    let all = b.build();
    let labels = Labels::from_sorted_unchecked(all.iter().filter(|l| !l.name.starts_with("__")).cloned().collect());
    let url = url(cfg, &all);
    let hash = target_hash(&cfg.tenant, &cfg.job_name, &labels, &url);
    Ok(Some(Target {
        discovered: discovered.clone(),
        all,
        labels,
        url,
        interval,
        timeout,
        hash,
    }))
}

/// The identity every node computes alike for a target.
pub fn target_hash(tenant: &str, job: &str, labels: &Labels, url: &str) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for part in [tenant, job] {
        h.update(part.as_bytes());
        h.update(&[0xff]);
    }
    h.update(&labels.stable_hash().to_le_bytes());
    h.update(url.as_bytes());
    h.digest()
}

impl Target {
    /// Where in each interval this target is scraped, from its hash alone: the same on
    /// every node, so a target that moves keeps its rhythm.
    pub fn offset(&self) -> StdDuration {
        let interval = self.interval.as_nanos().max(1) as u64;
        StdDuration::from_nanos(self.hash % interval)
    }
}

/// `scheme://address/path?params`: the job's params, each overridden by its
/// `__param_<name>` label; keys sorted and values escaped as Go's `url.Values` does.
fn url(cfg: &ScrapeConfig, all: &Labels) -> String {
    let mut params: BTreeMap<&str, Vec<&str>> = cfg
        .params
        .iter()
        .map(|(k, v)| (k.as_str(), v.iter().map(String::as_str).collect()))
        .collect();
    for l in all.iter() {
        if let Some(k) = l.name.strip_prefix("__param_") {
            let vs = params.entry(k).or_default();
            match vs.first_mut() {
                Some(first) => *first = &l.value,
                None => vs.push(&l.value),
            }
        }
    }
    let mut u = format!(
        "{}://{}{}",
        all.get("__scheme__"),
        all.get("__address__"),
        all.get("__metrics_path__")
    );
    let mut sep = '?';
    for (k, vs) in &params {
        for v in vs {
            u.push(sep);
            sep = '&';
            query_escape(k, &mut u);
            u.push('=');
            query_escape(v, &mut u);
        }
    }
    u
}

fn query_escape(s: &str, out: &mut String) {
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => out.push(b as char),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::parse;

    fn group(targets: &[&str], labels: &[(&str, &str)]) -> BTreeMap<String, TargetGroup> {
        let g = TargetGroup {
            source: "0".into(),
            targets: targets
                .iter()
                .map(|t| LabelSet::from([("__address__".to_string(), t.to_string())]))
                .collect(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        };
        BTreeMap::from([("0".to_string(), g)])
    }

    #[test]
    fn defaults_relabeling_and_instance_as_prometheus_makes_them() {
        let f = parse(
            r#"
scrape_configs:
  - job_name: node
    scrape_interval: 30s
    params: {module: [http_2xx], "x y": ["a b"]}
    relabel_configs:
      - source_labels: [__meta_dc]
        target_label: dc
      - source_labels: [__address__]
        regex: 'drop-me:.*'
        action: drop
      - source_labels: [__address__]
        target_label: __param_target
"#,
        )
        .unwrap();
        let cfg = &f.scrape_configs[0];
        let (active, dropped) = targets(
            cfg,
            &group(&["a:9100", "drop-me:1"], &[("__meta_dc", "eu"), ("team", "x")]),
        );
        assert_eq!(active.len(), 1);
        assert_eq!(dropped.len(), 1);
        assert_eq!(dropped[0].error, None);
        assert_eq!(dropped[0].discovered.get("__address__"), "drop-me:1");
        let t = &active[0];
        assert_eq!(
            t.labels.to_string(),
            r#"{dc="eu", instance="a:9100", job="node", team="x"}"#
        );
        assert_eq!(t.discovered.get("__scrape_interval__"), "30s");
        assert_eq!(t.discovered.get("__scrape_timeout__"), "10s");
        assert_eq!(t.discovered.get("__param_module"), "http_2xx");
        assert_eq!(t.url, "http://a:9100/metrics?module=http_2xx&target=a%3A9100&x+y=a+b");
        assert_eq!(t.interval, StdDuration::from_secs(30));
        assert!(t.offset() < t.interval);
    }

    #[test]
    fn bad_targets_say_why() {
        let f = parse("scrape_configs:\n  - job_name: j\n    scrape_interval: 10s\n").unwrap();
        let cfg = &f.scrape_configs[0];
        let (a, d) = targets(cfg, &group(&["h/x:1"], &[]));
        assert!(a.is_empty());
        assert_eq!(d[0].error.as_deref(), Some("\"h/x:1\" is not a valid hostname"));
        let (_, d) = targets(cfg, &group(&["h:1"], &[("__scrape_timeout__", "1m")]));
        assert_eq!(
            d[0].error.as_deref(),
            Some("scrape timeout cannot be greater than scrape interval (\"1m\" > \"10s\")")
        );
    }

    #[test]
    fn the_same_target_twice_is_one_and_hashes_are_stable() {
        let f = parse("scrape_configs:\n  - job_name: j\n").unwrap();
        let cfg = &f.scrape_configs[0];
        let (a, _) = targets(cfg, &group(&["h:1", "h:1", "h:2"], &[]));
        assert_eq!(a.len(), 2);
        let (b, _) = targets(cfg, &group(&["h:2", "h:1"], &[]));
        assert_eq!(
            a.iter().map(|t| t.hash).collect::<Vec<_>>(),
            b.iter().map(|t| t.hash).collect::<Vec<_>>()
        );
    }
}
