use super::*;

fn no_templates(_: &str, _: &str) -> Result<(), String> {
    Ok(())
}

fn parse(yaml: &str) -> Result<RuleFile, Vec<String>> {
    RuleFile::parse(yaml.as_bytes(), &no_templates).map_err(|e| e.0)
}

#[test]
fn reads_recording_and_alerting_rules() {
    let file = parse(
        r#"
groups:
  - name: node
    interval: 30s
    query_offset: 1m
    limit: 10
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels:
          team: infra
      - alert: InstanceDown
        expr: up == 0
        for: 5m
        keep_firing_for: 1m
        labels:
          severity: page
          priority: 1
        annotations:
          summary: "{{ $labels.instance }} is down"
  - name: other
    rules: []
"#,
    )
    .unwrap();
    assert_eq!(file.groups.len(), 2);
    let g = &file.groups[0];
    assert_eq!(
        (g.interval_ms, g.query_offset_ms, g.limit),
        (Some(30_000), Some(60_000), 10)
    );
    assert_eq!(g.rules[0].name(), "job:up:sum");
    assert_eq!(g.rules[0].labels["team"], "infra");
    let RuleKind::Alerting {
        for_ms,
        keep_firing_for_ms,
        annotations,
        ..
    } = &g.rules[1].kind
    else {
        panic!("an alerting rule")
    };
    assert_eq!((*for_ms, *keep_firing_for_ms), (300_000, 60_000));
    assert_eq!(annotations["summary"], "{{ $labels.instance }} is down");
    // A number where YAML decoding into a Go string takes its text.
    assert_eq!(g.rules[1].labels["priority"], "1");
    assert_eq!(file.groups[1].interval_ms, None);
}

#[test]
fn lists_every_problem_as_promtool_words_it() {
    let errors = parse(
        r#"
groups:
  - name: a
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        for: 5m
      - record: "bad name"
        expr: up
      - alert: X
        record: y
        expr: up
      - alert: Y
        expr: "sum("
      - record: z
      - alert: W
        expr: up
        labels:
          "0bad": x
          __name__: y
        annotations:
          "a-b": c
      - record: r
        expr: up
        annotations:
          a: b
      - expr: up
  - name: a
    rules:
      - record: r
        expr: up
        keep_firing_for: 1m
"#,
    )
    .unwrap_err();
    let expected = [
        r#"group "a", rule 1, "job:up:sum": invalid field 'for' in recording rule"#,
        r#"group "a", rule 2, "bad name": invalid recording rule name: bad name"#,
        r#"group "a", rule 3, "X": only one of 'record' and 'alert' must be set"#,
        r#"group "a", rule 5, "z": field 'expr' must be set in rule"#,
        r#"group "a", rule 6, "W": invalid label name: 0bad"#,
        r#"group "a", rule 6, "W": invalid label name: __name__"#,
        r#"group "a", rule 6, "W": invalid annotation name: a-b"#,
        r#"group "a", rule 7, "r": invalid field 'annotations' in recording rule"#,
        r#"group "a", rule 8, "": one of 'record' or 'alert' must be set"#,
        r#"groupname: "a" is repeated in the same file"#,
        r#"group "a", rule 1, "r": invalid field 'keep_firing_for' in recording rule"#,
    ];
    for e in expected {
        assert!(errors.iter().any(|got| got == e), "missing {e:?} in {errors:#?}");
    }
    let parse_error = errors
        .iter()
        .find(|e| e.starts_with(r#"group "a", rule 4, "Y": could not parse expression: "#))
        .expect("the expression's error");
    assert!(parse_error.contains("unclosed left parenthesis"), "{parse_error}");
    assert_eq!(errors.len(), expected.len() + 1, "{errors:#?}");
}

#[test]
fn refuses_unknown_fields_bad_durations_and_unnamed_groups() {
    let unknown =
        parse("groups:\n - name: a\n   rules:\n    - record: x\n      expr: up\n      bogus: 1\n").unwrap_err();
    assert!(unknown[0].contains("unknown field `bogus`"), "{unknown:?}");
    let duration = parse("groups:\n - name: a\n   interval: 15\n   rules: []\n").unwrap_err();
    assert_eq!(duration, [r#"group "a": interval: not a valid duration string: "15""#]);
    let for_ = parse("groups:\n - name: a\n   rules:\n    - alert: x\n      expr: up\n      for: 5x\n").unwrap_err();
    assert_eq!(
        for_,
        [r#"group "a", rule 1, "x": for: not a valid duration string: "5x""#]
    );
    let unnamed = parse("groups:\n - rules: []\n").unwrap_err();
    assert_eq!(unnamed, ["Groupname must not be empty"]);
}

#[test]
fn checks_alert_templates_with_the_callers_engine() {
    let check = |name: &str, text: &str| {
        if text.contains("nosuch") {
            Err(format!("template: __alert_{name}:1: function \"nosuch\" not defined"))
        } else {
            Ok(())
        }
    };
    let yaml = "groups:\n - name: a\n   rules:\n    - alert: Down\n      expr: up == 0\n      annotations:\n        bad: '{{ nosuch }}'\n        good: '{{ $value }}'\n";
    let errors = RuleFile::parse(yaml.as_bytes(), &check).unwrap_err().0;
    assert_eq!(
        errors,
        [r#"group "a", rule 1, "Down": annotation "bad": template: __alert_Down:1: function "nosuch" not defined"#]
    );
}

#[test]
fn a_group_writes_back_as_it_reads() {
    let file = parse(
        r#"
groups:
  - name: node
    interval: 1m30s
    limit: 3
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
      - alert: Down
        expr: up == 0
        for: 5m
        labels: {severity: page}
        annotations: {summary: "{{ $labels.job }}"}
"#,
    )
    .unwrap();
    let group = &file.groups[0];
    let again = RuleGroup::parse(group.to_yaml().as_bytes(), &no_templates).unwrap();
    assert_eq!(&again, group);
    let whole = parse(&RuleGroup::file_yaml(&file.groups)).unwrap();
    assert_eq!(whole, file);
}
