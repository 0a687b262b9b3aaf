use std::path::Path;

use super::*;

const RULES: &str = r#"groups:
- name: rec
  rules:
  - record: job:up:sum
    expr: sum by (job) (up)
- name: alerts
  rules:
  - alert: JobDown
    expr: job:up:sum == 0
    for: 2m
    labels:
      severity: page
    annotations:
      summary: '{{ $labels.job }} down in {{ $externalLabels.cluster }} ({{ $externalURL }})'
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn run(tests: &str) -> FileOutcome {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rules.yml", RULES);
    let path = write(dir.path(), "test.yml", tests);
    run_file(&path)
}

const PASSING: &str = r#"rule_files: [rules.yml]
evaluation_interval: 1m
group_eval_order: [rec, alerts]
tests:
- interval: 1m
  external_labels: {cluster: eu1}
  external_url: http://pyrite.example
  input_series:
  - series: 'up{job="api", instance="a"}'
    values: '1 1 0 0 0 0 0'
  alert_rule_test:
  - eval_time: 3m
    alertname: JobDown
  - eval_time: 4m30s
    alertname: JobDown
    exp_alerts:
    - exp_labels: {job: api, severity: page}
      exp_annotations:
        summary: api down in eu1 (http://pyrite.example)
  promql_expr_test:
  - expr: job:up:sum
    eval_time: 1m
    exp_samples:
    - labels: 'job:up:sum{job="api"}'
      value: 1
"#;

#[test]
fn recording_rules_feed_alerts_that_fire_after_for() {
    let outcome = run(PASSING);
    assert_eq!(outcome, FileOutcome::default());
}

#[test]
fn a_wrong_expectation_is_reported_in_promtools_words() {
    let outcome = run(&PASSING
        .replace("value: 1\n", "value: 2\n")
        .replace("eval_time: 3m", "eval_time: 4m"));
    assert_eq!(
        outcome.failures,
        [
            "    alertname: JobDown, time: 4m, \n        exp:[], \n        got:[\n            0:\n              Labels:{alertname=\"JobDown\", job=\"api\", severity=\"page\"}\n              Annotations:{summary=\"api down in eu1 (http://pyrite.example)\"}\n            ]",
            "    expr: \"job:up:sum\", time: 1m,\n        exp: {__name__=\"job:up:sum\", job=\"api\"} 2E+00\n        got: {__name__=\"job:up:sum\", job=\"api\"} 1E+00",
        ]
    );
}

#[test]
fn unknown_fields_are_refused_with_their_line() {
    let outcome = run("rule_files: [rules.yml]\ntests:\n- interval: 1m\n  bogus: 1\n");
    assert_eq!(
        outcome.failures,
        ["yaml: unmarshal errors:\n  line 4: field bogus not found in a test group"]
    );
}

#[test]
fn an_alert_test_needs_an_alertname() {
    let outcome = run("rule_files: [rules.yml]\ntests:\n- name: t\n  alert_rule_test:\n  - eval_time: 5m\n");
    assert_eq!(
        outcome.failures,
        ["an item under alert_rule_test misses required attribute alertname at eval_time 5m (in TestGroup t)"]
    );
}

#[test]
fn a_failing_rule_stops_its_test_group() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "rules.yml",
        "groups:\n- name: g\n  rules:\n  - record: r\n    expr: label_replace(x, \"a\", \"b\", \"c\", \"d\") + ignoring(a) x\n",
    );
    let path = write(
        dir.path(),
        "test.yml",
        "rule_files: ['r*.yml']\ntests:\n- interval: 1m\n  input_series:\n  - series: x{a=\"1\"}\n    values: 1x3\n  - series: x{a=\"2\"}\n    values: 1x3\n  promql_expr_test:\n  - expr: r\n    eval_time: 2m\n",
    );
    let outcome = run_file(&path);
    assert_eq!(outcome.failures.len(), 1, "{:?}", outcome.failures);
    assert!(
        outcome.failures[0].starts_with("    rule: r, time: 0s, err: "),
        "{:?}",
        outcome.failures
    );
}

#[test]
fn groups_named_twice_in_the_order_and_patterns_matching_nothing() {
    let outcome = run("rule_files: [nothing*.yml]\ngroup_eval_order: [a, a]\n");
    assert_eq!(outcome.failures, ["group name repeated in evaluation order: a"]);
    let outcome = run("rule_files: [nothing*.yml]\ntests: []\n");
    assert!(outcome.passed());
    assert_eq!(outcome.warnings.len(), 1);
    assert!(outcome.warnings[0].starts_with("no file match pattern "));
}

#[test]
fn the_report_prints_as_promtool_does() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "rules.yml", RULES);
    let good = write(dir.path(), "good.yml", PASSING);
    let bad = write(dir.path(), "bad.yml", &PASSING.replace("value: 1\n", "value: 2\n"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let passed = report(&[good.clone(), bad.clone()], &mut out, &mut err).unwrap();
    assert!(!passed);
    assert_eq!(
        String::from_utf8(out).unwrap(),
        format!(
            "Unit Testing:  {}\n  SUCCESS\n\nUnit Testing:  {}\n\n\n",
            good.display(),
            bad.display()
        )
    );
    assert!(String::from_utf8(err)
        .unwrap()
        .starts_with("  FAILED:\n    expr: \"job:up:sum\", time: 1m,"));
}

#[test]
fn yaml_problems_name_their_line_and_durations_their_text() {
    assert_eq!(
        run("tests:\n  - interval: 5x\n").failures,
        ["not a valid duration string: \"5x\""]
    );
    assert_eq!(
        run("tests:\n  - promql_expr_test:\n    - expr: up\n      exp_samples:\n      - value: abc\n").failures,
        ["yaml: unmarshal errors:\n  line 5: invalid type: string \"abc\", expected f64"]
    );
    let duplicate = run("evaluation_interval: 1m\nevaluation_interval: 2m\n").failures;
    assert_eq!(duplicate.len(), 1);
    assert!(
        duplicate[0].starts_with("yaml: unmarshal errors:\n  ")
            && duplicate[0].ends_with("field evaluation_interval already set in the unit-test file"),
        "{duplicate:?}"
    );
}

#[test]
fn an_empty_file_has_no_tests_and_scalars_are_text() {
    assert!(run("").passed());
    let outcome = run("tests:\n  - interval: 1m\n    input_series:\n      - series: x\n        values: 7\n    promql_expr_test:\n      - expr: x\n        eval_time: 0\n        exp_samples:\n          - labels: x\n            value: 7\n");
    assert_eq!(outcome, FileOutcome::default());
}
