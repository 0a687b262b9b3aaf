//! Finding an `alertmanagers:` entry's Alertmanagers: its discoverers run, their groups
//! are kept per source, and each target becomes an Alertmanager's URL after the entry's
//! `relabel_configs`, as Prometheus makes it: `__scheme__` and `__alerts_path__` start
//! from the entry's `scheme` and `path_prefix`, and the URL is
//! `{__scheme__}://{__address__}{__alerts_path__}`.

use std::collections::{BTreeMap, BTreeSet};

use pyrite_discovery::{Discoverer, DiscoveryError, Env, TargetGroup};
use pyrite_model::{Label, Labels};
use tokio::sync::mpsc;

use super::config::AlertmanagerConfig;

/// The label holding the path alerts are posted to.
pub const ALERTS_PATH_LABEL: &str = "__alerts_path__";

/// The entry's discoverers, ready to run.
pub fn discoverers(cfg: &AlertmanagerConfig, env: &Env) -> Result<Vec<Box<dyn Discoverer>>, DiscoveryError> {
    cfg.sd_lists().discoverers(env)
}

/// The Alertmanagers' URLs the groups give, deduplicated, in order.
pub fn urls<'a>(cfg: &AlertmanagerConfig, groups: impl IntoIterator<Item = &'a TargetGroup>) -> Vec<String> {
    let path = cfg.alerts_path();
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for g in groups {
        for t in &g.targets {
            let mut set: BTreeMap<&str, &str> = g.labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            set.insert("__scheme__", &cfg.scheme);
            set.insert(ALERTS_PATH_LABEL, &path);
            set.extend(t.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            let labels = Labels::from_sorted_unchecked(set.into_iter().map(|(k, v)| Label::new(k, v)).collect());
            let Some(l) = pyrite_relabel::process(&labels, &cfg.relabel_configs) else {
                continue;
            };
            let addr = l.get("__address__");
            if addr.is_empty() || addr.contains('/') {
                tracing::warn!(address = addr, "skipping an Alertmanager with an invalid address");
                continue;
            }
            let url = format!("{}://{addr}{}", l.get("__scheme__"), l.get(ALERTS_PATH_LABEL));
            if seen.insert(url.clone()) {
                out.push(url);
            }
        }
    }
    out
}

/// Runs the discoverers and calls `found` with the URLs after every change, until the
/// task is aborted (which aborts the discoverers too).
pub async fn run(cfg: AlertmanagerConfig, discoverers: Vec<Box<dyn Discoverer>>, found: impl Fn(Vec<String>)) {
    let mut tasks = tokio::task::JoinSet::new();
    let (tx, mut rx) = mpsc::channel::<(usize, Vec<TargetGroup>)>(16);
    for (i, d) in discoverers.into_iter().enumerate() {
        let (dtx, mut drx) = mpsc::channel(4);
        let tx = tx.clone();
        tasks.spawn(d.run(dtx));
        tasks.spawn(async move {
            while let Some(groups) = drx.recv().await {
                if tx.send((i, groups)).await.is_err() {
                    return;
                }
            }
        });
    }
    drop(tx);
    let mut groups: BTreeMap<(usize, String), TargetGroup> = BTreeMap::new();
    while let Some((i, update)) = rx.recv().await {
        for g in update {
            groups.insert((i, g.source.clone()), g);
        }
        found(urls(&cfg, groups.values()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(targets: &[&str]) -> TargetGroup {
        TargetGroup {
            source: "s".into(),
            targets: targets
                .iter()
                .map(|t| BTreeMap::from([("__address__".to_string(), t.to_string())]))
                .collect(),
            labels: BTreeMap::from([("__meta_x".to_string(), "y".to_string())]),
        }
    }

    #[test]
    fn builds_urls_after_relabeling_as_prometheus() {
        let cfg: AlertmanagerConfig = serde_yaml::from_str(
            r#"
scheme: https
path_prefix: am
relabel_configs:
  - {source_labels: [__address__], regex: "drop:.*", action: drop}
  - {source_labels: [__address__], regex: "plain:.*", target_label: __scheme__, replacement: http}
  - {source_labels: [__meta_x], target_label: __alerts_path__, regex: z, replacement: /other}
"#,
        )
        .unwrap();
        let g = group(&["a:9093", "drop:1", "plain:2", "a:9093"]);
        assert_eq!(
            urls(&cfg, [&g]),
            vec!["https://a:9093/am/api/v2/alerts", "http://plain:2/am/api/v2/alerts"]
        );
    }
}
