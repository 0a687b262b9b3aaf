//! `file_sd_configs`: target groups read from JSON or YAML files, re-read when a file
//! changes (its size, modification time or presence, checked every second) and every
//! `refresh_interval`. File names may hold `*`, `?` and `[…]` patterns in their last
//! component, as Prometheus allows.
//!
//! Sources are `<path>:<index>`; each target gets `__meta_filepath`. A file that cannot
//! be read or parsed keeps its last good groups and is logged, as in Prometheus; a file
//! that disappears retracts its groups.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration as StdDuration, SystemTime};

use async_trait::async_trait;
use pyrite_config::Duration;
use serde::{Deserialize, Serialize};

use crate::{Discoverer, DiscoveryError, Env, SdConfig, StaticConfig, TargetGroup, Updates};

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FileSdConfig {
    pub files: Vec<String>,
    #[serde(default = "default_refresh")]
    pub refresh_interval: Duration,
}

fn default_refresh() -> Duration {
    Duration(StdDuration::from_secs(300))
}

impl FileSdConfig {
    pub fn validate(&self) -> Result<(), String> {
        for f in &self.files {
            let name = Path::new(f).file_name().and_then(|n| n.to_str()).unwrap_or("");
            let ok = [".json", ".yml", ".yaml"].iter().any(|ext| name.ends_with(ext));
            if !ok {
                return Err(format!("path name {f:?} is not valid for file discovery"));
            }
            if let Some(dir) = Path::new(f).parent() {
                if dir.to_str().is_some_and(|d| d.contains(['*', '?', '['])) {
                    return Err(format!("path name {f:?} is not valid for file discovery"));
                }
            }
        }
        Ok(())
    }
}

impl SdConfig for FileSdConfig {
    fn name(&self) -> &'static str {
        "file"
    }
    fn discoverer(&self, env: &Env) -> Result<Box<dyn Discoverer>, DiscoveryError> {
        self.validate().map_err(DiscoveryError::Config)?;
        Ok(Box::new(FileDiscoverer {
            patterns: self.files.iter().map(|f| env.path(f)).collect(),
            refresh: self.refresh_interval.0,
        }))
    }
}

pub struct FileDiscoverer {
    patterns: Vec<PathBuf>,
    refresh: StdDuration,
}

/// What a file looked like when last read.
#[derive(PartialEq, Clone, Copy)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

#[async_trait]
impl Discoverer for FileDiscoverer {
    async fn run(self: Box<Self>, updates: Updates) {
        // Per file: its stamp when read, and how many groups it last sent.
        let mut seen: BTreeMap<PathBuf, (Stamp, usize)> = BTreeMap::new();
        let mut last_full = tokio::time::Instant::now();
        let mut first = true;
        loop {
            let full = first || last_full.elapsed() >= self.refresh;
            if full {
                last_full = tokio::time::Instant::now();
            }
            let files = expand(&self.patterns);
            let mut out = Vec::new();
            // Files gone: retract their groups.
            let gone: Vec<PathBuf> = seen.keys().filter(|p| !files.contains(*p)).cloned().collect();
            for p in gone {
                if let Some((_, n)) = seen.remove(&p) {
                    out.extend((0..n).map(|i| empty(&p, i)));
                }
            }
            for p in &files {
                let Some(stamp) = stamp(p) else { continue };
                let before = seen.get(p).copied();
                if !full && before.is_some_and(|(s, _)| s == stamp) {
                    continue;
                }
                match read_groups(p) {
                    Ok(groups) => {
                        let n = groups.len();
                        out.extend(groups);
                        // Groups the file no longer has.
                        if let Some((_, old)) = before {
                            out.extend((n..old).map(|i| empty(p, i)));
                        }
                        seen.insert(p.clone(), (stamp, n));
                    }
                    Err(e) => {
                        tracing::error!(file = %p.display(), error = %e, "reading file_sd file");
                        // Keep the last good groups; try again when the file changes.
                        let n = before.map_or(0, |(_, n)| n);
                        seen.insert(p.clone(), (stamp, n));
                    }
                }
            }
            if (first || !out.is_empty()) && updates.send(out).await.is_err() {
                return;
            }
            first = false;
            tokio::time::sleep(StdDuration::from_secs(1)).await;
        }
    }
}

fn empty(path: &Path, i: usize) -> TargetGroup {
    TargetGroup {
        source: source(path, i),
        ..TargetGroup::default()
    }
}

fn source(path: &Path, i: usize) -> String {
    format!("{}:{i}", path.display())
}

fn stamp(p: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(p).ok()?;
    Some(Stamp {
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// The groups a file holds, with `__meta_filepath` on each.
pub fn read_groups(path: &Path) -> Result<Vec<TargetGroup>, String> {
    let body = std::fs::read(path).map_err(|e| e.to_string())?;
    let entries: Vec<StaticConfig> = if path.extension().is_some_and(|e| e == "json") {
        serde_json::from_slice(&body).map_err(|e| e.to_string())?
    } else if body.iter().all(u8::is_ascii_whitespace) {
        Vec::new()
    } else {
        serde_yaml::from_slice(&body).map_err(|e| e.to_string())?
    };
    let display = path.display().to_string();
    let mut groups = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        for name in e.labels.keys() {
            if !pyrite_model::is_valid_label_name(name) {
                return Err(format!("\"{name}\" is not a valid label name"));
            }
        }
        let mut g = e.group(source(path, i));
        g.labels.insert("__meta_filepath".into(), display.clone());
        groups.push(g);
    }
    Ok(groups)
}

/// The files the patterns name now, sorted.
fn expand(patterns: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    for p in patterns {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !name.contains(['*', '?', '[']) {
            if p.exists() {
                out.insert(p.clone());
            }
            continue;
        }
        let dir = p.parent().unwrap_or(Path::new("."));
        let Ok(entries) = std::fs::read_dir(dir) else { continue };
        for e in entries.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|f| glob_match(name.as_bytes(), f.as_bytes()))
            {
                out.insert(e.path());
            }
        }
    }
    out
}

/// Shell-style matching of one path component: `*`, `?`, `[abc]`, `[a-z]`, `[^…]`.
fn glob_match(pat: &[u8], name: &[u8]) -> bool {
    match pat.first() {
        None => name.is_empty(),
        Some(b'*') => (0..=name.len()).any(|i| glob_match(&pat[1..], &name[i..])),
        Some(b'?') => !name.is_empty() && glob_match(&pat[1..], &name[1..]),
        Some(b'[') => {
            let Some(end) = pat.iter().skip(1).position(|&c| c == b']').map(|i| i + 1) else {
                return name.first() == Some(&b'[') && glob_match(&pat[1..], &name[1..]);
            };
            let Some(&c) = name.first() else { return false };
            let mut class = &pat[1..end];
            let negate = matches!(class.first(), Some(b'^') | Some(b'!'));
            if negate {
                class = &class[1..];
            }
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == b'-' {
                    hit |= class[i] <= c && c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == c;
                    i += 1;
                }
            }
            hit != negate && glob_match(&pat[end + 1..], &name[1..])
        }
        Some(&p) => name.first() == Some(&p) && glob_match(&pat[1..], &name[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::sync::mpsc;

    #[test]
    fn globs_match_as_the_shell_does() {
        assert!(glob_match(b"*.json", b"a.json"));
        assert!(!glob_match(b"*.json", b"a.yml"));
        assert!(glob_match(b"t?.y[a-z]ml", b"t1.yaml"));
        assert!(!glob_match(b"t[^1].yml", b"t1.yml"));
        assert!(glob_match(b"t[!1].yml", b"t2.yml"));
    }

    #[test]
    fn only_json_and_yaml_files_and_no_patterns_in_directories() {
        let c = |f: &str| FileSdConfig {
            files: vec![f.into()],
            refresh_interval: default_refresh(),
        };
        assert!(c("dir/*.json").validate().is_ok());
        assert!(c("targets.yaml").validate().is_ok());
        assert!(c("targets.txt").validate().is_err());
        assert!(c("d*/t.yml").validate().is_err());
    }

    fn by_source(groups: Vec<TargetGroup>) -> BTreeMap<String, TargetGroup> {
        groups.into_iter().map(|g| (g.source.clone(), g)).collect()
    }

    #[tokio::test]
    async fn files_are_read_and_read_again_when_they_change_or_go() {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("a.json");
        std::fs::write(
            &json,
            r#"[{"targets": ["h1:9100", "h2:9100"], "labels": {"env": "prod"}}, {"targets": ["h3:9100"]}]"#,
        )
        .unwrap();
        let yaml = dir.path().join("b.yml");
        std::fs::write(&yaml, "- targets: ['h4:9100']\n").unwrap();
        let cfg = FileSdConfig {
            files: vec!["*.json".into(), "b.yml".into()],
            refresh_interval: default_refresh(),
        };
        let d = cfg
            .discoverer(&Env {
                base_dir: dir.path().into(),
                ..Env::default()
            })
            .unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let task = tokio::spawn(d.run(tx));

        let first = by_source(rx.recv().await.unwrap());
        assert_eq!(first.len(), 3);
        let g = &first[&format!("{}:0", json.display())];
        assert_eq!(g.targets.len(), 2);
        assert_eq!(g.targets[0]["__address__"], "h1:9100");
        assert_eq!(g.labels["env"], "prod");
        assert_eq!(g.labels["__meta_filepath"], json.display().to_string());
        assert_eq!(
            first[&format!("{}:0", yaml.display())].targets[0]["__address__"],
            "h4:9100"
        );

        // Rewritten with one group fewer: the group is sent again and the other retracted.
        std::fs::write(&json, r#"[{"targets": ["h1:9100"]}]"#).unwrap();
        let next = by_source(rx.recv().await.unwrap());
        assert_eq!(next[&format!("{}:0", json.display())].targets.len(), 1);
        assert!(next[&format!("{}:1", json.display())].targets.is_empty());

        // A broken file keeps what it had: nothing is sent. Removing the file retracts it.
        std::fs::write(&yaml, "- targets: [unclosed\n").unwrap();
        std::fs::remove_file(&json).unwrap();
        let gone = by_source(rx.recv().await.unwrap());
        assert_eq!(gone.len(), 1, "{gone:?}");
        assert!(gone[&format!("{}:0", json.display())].targets.is_empty());
        task.abort();
    }
}
