//! The rule files `promtool check rules` (Prometheus 2.42, Debian's `prometheus`
//! package) accepts are exactly the ones Pyrite's ruler accepts (the rule format of
//! `pyrite_rules`, its templates checked by the ruler's template engine), and each of
//! promtool's messages is found, word for word, in one of Pyrite's.

use std::path::Path;
use std::process::Command;

use pyrite_ruler::template;
use pyrite_rules::RuleFile;

/// Rule files, each on its own.
const FILES: &[&str] = &[
    "groups:\n - name: a\n   interval: 30s\n   limit: 5\n   rules:\n    - record: job:up:sum\n      expr: sum by (job) (up)\n      labels:\n        team: infra\n    - alert: Down\n      expr: up == 0\n      for: 5m\n      keep_firing_for: 1m\n      labels:\n        severity: page\n      annotations:\n        summary: down\n",
    "groups:\n - name: a\n   limit: -1\n   rules: []\n",
    "groups: []\n",
    "groups:\n - name: a\n   rules:\n    - record: job:up:sum\n      expr: sum by (job) (up)\n      for: 5m\n",
    "groups:\n - name: a\n   rules:\n    - record: 'bad name'\n      expr: up\n",
    "groups:\n - name: a\n   rules:\n    - alert: X\n      record: y\n      expr: up\n",
    "groups:\n - name: a\n   rules:\n    - alert: Y\n      expr: 'sum('\n",
    "groups:\n - name: a\n   rules: []\n - name: a\n   rules: []\n",
    "groups:\n - name: a\n   rules:\n    - record: r\n      expr: up\n      labels:\n        '0bad': x\n",
    "groups:\n - name: a\n   rules:\n    - record: r\n      expr: up\n      labels:\n        __name__: x\n",
    "groups:\n - name: a\n   rules:\n    - record: r\n      expr: up\n      annotations:\n        a: b\n",
    "groups:\n - name: a\n   rules:\n    - alert: x\n      expr: up\n      annotations:\n        a-b: c\n",
    "groups:\n - rules: []\n",
    "groups:\n - name: a\n   rules:\n    - alert: x\n      expr: up\n      for: 15\n",
    "groups:\n - name: a\n   interval: 1.5m\n   rules: []\n",
    "groups:\n - name: a\n   rules:\n    - record: x\n",
    "groups:\n - name: a\n   rules:\n    - expr: up\n",
    "groups:\n - name: a\n   rules:\n    - record: x\n      expr: up\n      bogus: 1\n",
    "groups:\n - name: a\n   rules:\n    - record: x\n      expr: rate(up[5m]) > bool 1 offset 1m\n",
    "groups:\n - name: a\n   rules:\n    - record: x\n      expr: 'up{'\n",
    "groups:\n - name: a\n   rules:\n    - alert: Down\n      expr: up == 0\n      labels:\n        instance: '{{ $labels.instance }}'\n      annotations:\n        summary: '{{ $labels.instance }} down, {{ humanize $value }} ({{ with query \"up\" }}{{ . | first | value }}{{ end }})'\n        ok: '{{ range $i, $e := $externalLabels }}{{ $i }}{{ end }} {{ $externalURL }} {{ humanizeDuration 3.5 }}'\n",
    "groups:\n - name: a\n   rules:\n    - alert: Down\n      expr: up == 0\n      annotations:\n        bad: '{{ nosuch }}'\n",
    "groups:\n - name: a\n   rules:\n    - alert: Down\n      expr: up == 0\n      labels:\n        a: '{{ .x'\n",
    "groups:\n - name: a\n   rules:\n    - alert: Down\n      expr: up == 0\n      annotations:\n        a: '{{ if true }}x'\n        b: '{{ end }}'\n        c: '{{ $nope }}'\n",
];

/// promtool's messages for a file, without the file name and YAML positions before them.
fn promtool(path: &Path) -> (bool, Vec<String>) {
    let out = Command::new("promtool")
        .arg("check")
        .arg("rules")
        .arg(path)
        .output()
        .expect("promtool runs (Debian's prometheus package; scripts/test.sh installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let prefix = format!("{}: ", path.display());
    let messages = text
        .lines()
        .filter_map(|l| {
            l.strip_prefix(&prefix)
                .or_else(|| l.starts_with("  line ").then_some(l))
        })
        .map(|m| {
            let mut m = m;
            // "5:17: " position prefixes, one or two of them.
            while let Some((pos, rest)) = m.split_once(": ") {
                if pos
                    .split(':')
                    .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                {
                    m = rest;
                } else {
                    break;
                }
            }
            m.to_string()
        })
        .collect();
    (out.status.success(), messages)
}

#[test]
fn accepts_exactly_what_promtool_accepts_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    for (i, yaml) in FILES.iter().enumerate() {
        let path = dir.path().join(format!("rules{i}.yml"));
        std::fs::write(&path, yaml).unwrap();
        let (accepted, messages) = promtool(&path);
        let ours = RuleFile::parse(yaml.as_bytes(), &template::check);
        assert_eq!(
            ours.is_ok(),
            accepted,
            "file {i}:\n{yaml}\npromtool: {messages:?}\npyrite: {ours:?}"
        );
        let Err(ours) = ours else { continue };
        for m in &messages {
            // promtool names unknown YAML fields after its Go types; the substance is the field.
            if let Some(field) = m.strip_prefix("yaml: unmarshal errors:") {
                assert!(
                    field.is_empty() || ours.0.iter().any(|o| o.contains(field.trim())),
                    "{m}"
                );
                continue;
            }
            if m.trim_start().starts_with("line ") {
                let field = m.split("field ").nth(1).and_then(|f| f.split(' ').next()).unwrap_or(m);
                assert!(
                    ours.0.iter().any(|o| o.contains(&format!("`{field}`"))),
                    "file {i}: {m} not in {ours:?}"
                );
                continue;
            }
            // The expression's message without promtool's position in the expression.
            let m = match m.split_once("could not parse expression: ") {
                Some((head, why)) => format!(
                    "{head}could not parse expression: {}",
                    why.rsplit("parse error: ").next().unwrap_or(why)
                ),
                None => m.clone(),
            };
            assert!(
                ours.0.iter().any(|o| o.contains(m.as_str())),
                "file {i}: promtool's {m:?} not in {:#?}",
                ours.0
            );
        }
        assert_eq!(
            ours.0.len(),
            messages
                .iter()
                .filter(|m| !m.trim_start().starts_with("yaml: unmarshal"))
                .count(),
            "file {i}: {messages:#?} vs {:#?}",
            ours.0
        );
    }
}
