//! Relabeling as Prometheus does it: the scenarios of its documentation and of its own
//! relabel tests, written as the YAML a user writes.

use pyrite_model::Labels;

use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    Labels::from_pairs(pairs)
}

fn configs(yaml: &str) -> Vec<RelabelConfig> {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{e}\n{yaml}"))
}

/// Runs `yaml` over `input`; `None` when the set is dropped.
fn run(input: &[(&str, &str)], yaml: &str) -> Option<Labels> {
    process(&labels(input), &configs(yaml))
}

#[test]
fn replace_expands_groups_into_the_target() {
    let got = run(
        &[("a", "foo"), ("b", "bar"), ("c", "baz")],
        r#"[{source_labels: [a], regex: "f(.*)", target_label: d, replacement: "ch${1}-ch${1}"}]"#,
    );
    assert_eq!(
        got,
        Some(labels(&[("a", "foo"), ("b", "bar"), ("c", "baz"), ("d", "choo-choo")]))
    );

    // Steps see what the steps before them wrote.
    let got = run(
        &[("a", "foo"), ("b", "bar"), ("c", "baz")],
        r#"
- {source_labels: [a, b], regex: "f(.*);(.*)r", target_label: a, replacement: "b${1}${2}m"}
- {source_labels: [c, a], regex: "(b).*b(.*)ba(.*)", target_label: d, replacement: "$1$2$2$3"}
"#,
    );
    assert_eq!(
        got,
        Some(labels(&[("a", "boobam"), ("b", "bar"), ("c", "baz"), ("d", "boooom")]))
    );

    let got = run(
        &[("a", "abc")],
        r#"[{source_labels: [a], regex: ".*(b).*", target_label: d}]"#,
    );
    assert_eq!(got, Some(labels(&[("a", "abc"), ("d", "b")])));
}

#[test]
fn replace_without_a_match_changes_nothing() {
    let got = run(
        &[("a", "boo")],
        r#"[{source_labels: [a], regex: f, target_label: b, replacement: bar}]"#,
    );
    assert_eq!(got, Some(labels(&[("a", "boo")])));
}

#[test]
fn replace_targets_can_be_templated_and_invalid_results_are_skipped() {
    let rule = |replacement: &str, target: &str| {
        format!(
            r#"[{{source_labels: [a], regex: "some-([^-]+)-([^,]+)", replacement: "{replacement}", target_label: "{target}"}}]"#
        )
    };
    let got = run(&[("a", "some-name-value")], &rule("${2}", "${1}"));
    assert_eq!(got, Some(labels(&[("a", "some-name-value"), ("name", "value")])));
    // An empty replacement deletes the target (here: never set).
    let got = run(&[("a", "some-name-value")], &rule("${3}", "${1}"));
    assert_eq!(got, Some(labels(&[("a", "some-name-value")])));
    // A target that expands to nothing, or to an invalid name, is skipped.
    let got = run(&[("a", "some-name-0")], &rule("${1}", "${3}"));
    assert_eq!(got, Some(labels(&[("a", "some-name-0")])));
    let got = run(
        &[("a", "some-name-0")],
        r#"[{source_labels: [a], regex: "some-([^-]+)(-[^,]+)", replacement: "${1}", target_label: "${3}"}]"#,
    );
    assert_eq!(got, Some(labels(&[("a", "some-name-0")])));
}

#[test]
fn a_real_service_discovery_tag_list_is_taken_apart() {
    let got = run(
        &[("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar")],
        r#"
- {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)path:(/[^,]+).*", replacement: "${1}", target_label: __metrics_path__}
- {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)job:([^,]+).*", replacement: "${1}", target_label: job}
- {source_labels: [__meta_sd_tags], regex: "(?:.+,|^)label:([^=]+)=([^,]+).*", replacement: "${2}", target_label: "${1}"}
"#,
    );
    assert_eq!(
        got,
        Some(labels(&[
            ("__meta_sd_tags", "path:/secret,job:some-job,label:foo=bar"),
            ("__metrics_path__", "/secret"),
            ("job", "some-job"),
            ("foo", "bar"),
        ]))
    );
}

#[test]
fn an_empty_source_writes_the_replacement_as_is() {
    let got = run(&[("a", "x")], r#"[{target_label: env, replacement: prod}]"#);
    assert_eq!(got, Some(labels(&[("a", "x"), ("env", "prod")])));
    // And an empty replacement there deletes the target.
    let got = run(
        &[("a", "x"), ("env", "prod")],
        r#"[{target_label: env, replacement: ""}]"#,
    );
    assert_eq!(got, Some(labels(&[("a", "x")])));
}

#[test]
fn keep_and_drop_decide_by_the_joined_value() {
    assert_eq!(
        run(
            &[("a", "foo")],
            r#"[{source_labels: [a], regex: ".*o.*", action: drop}]"#
        ),
        None
    );
    let kept = Some(labels(&[("a", "foo")]));
    assert_eq!(
        run(
            &[("a", "foo")],
            r#"[{source_labels: [a], regex: no-match, action: drop}]"#
        ),
        kept
    );
    assert_eq!(
        run(&[("a", "foo")], r#"[{source_labels: [a], regex: "f|o", action: drop}]"#),
        kept,
        "anchored"
    );
    assert_eq!(
        run(
            &[("a", "foo")],
            r#"[{source_labels: [a], regex: no-match, action: keep}]"#
        ),
        None
    );
    assert_eq!(
        run(&[("a", "foo")], r#"[{source_labels: [a], regex: "f.*", action: keep}]"#),
        kept
    );
    // A dropped set stops the steps after it.
    let yaml = r#"
- {source_labels: [a], regex: ".*o.*", action: drop}
- {source_labels: [a], regex: "f(.*)", target_label: d, replacement: "ch$1-ch$1"}
"#;
    assert_eq!(run(&[("a", "foo")], yaml), None);
}

#[test]
fn keepequal_and_dropequal_compare_with_the_target() {
    let input = [("__tmp_port", "1234"), ("__port1", "1234"), ("__port2", "5678")];
    let same = Some(labels(&input));
    let rule = |action: &str, target: &str| {
        format!("[{{source_labels: [__tmp_port], action: {action}, target_label: {target}}}]")
    };
    assert_eq!(run(&input, &rule("keepequal", "__port1")), same);
    assert_eq!(run(&input, &rule("keepequal", "__port2")), None);
    assert_eq!(run(&input, &rule("dropequal", "__port1")), None);
    assert_eq!(run(&input, &rule("dropequal", "__port2")), same);
}

#[test]
fn hashmod_matches_prometheus() {
    let got = run(
        &[("a", "foo"), ("b", "bar"), ("c", "baz")],
        "[{source_labels: [c], target_label: d, action: hashmod, modulus: 1000}]",
    );
    assert_eq!(got.unwrap().get("d"), "976");
    let got = run(
        &[("a", "foo\nbar")],
        "[{source_labels: [a], target_label: b, action: hashmod, modulus: 1000}]",
    );
    assert_eq!(got.unwrap().get("b"), "734");
}

#[test]
fn labelmap_copies_matching_labels_under_new_names() {
    let got = run(
        &[("a", "foo"), ("b1", "bar"), ("b2", "baz")],
        r#"[{regex: "(b.*)", replacement: "bar_${1}", action: labelmap}]"#,
    );
    let want = [
        ("a", "foo"),
        ("b1", "bar"),
        ("b2", "baz"),
        ("bar_b1", "bar"),
        ("bar_b2", "baz"),
    ];
    assert_eq!(got, Some(labels(&want)));
    let got = run(
        &[
            ("a", "foo"),
            ("__meta_my_bar", "aaa"),
            ("__meta_my_baz", "bbb"),
            ("__meta_other", "ccc"),
        ],
        r#"[{regex: "__meta_(my.*)", replacement: "${1}", action: labelmap}]"#,
    );
    let want = [
        ("a", "foo"),
        ("__meta_my_bar", "aaa"),
        ("__meta_my_baz", "bbb"),
        ("__meta_other", "ccc"),
        ("my_bar", "aaa"),
        ("my_baz", "bbb"),
    ];
    assert_eq!(got, Some(labels(&want)));
}

#[test]
fn labelkeep_and_labeldrop_match_names() {
    let input = [("a", "foo"), ("b1", "bar"), ("b2", "baz")];
    assert_eq!(
        run(&input, r#"[{regex: "(b.*)", action: labelkeep}]"#),
        Some(labels(&[("b1", "bar"), ("b2", "baz")]))
    );
    assert_eq!(
        run(&input, r#"[{regex: "(b.*)", action: labeldrop}]"#),
        Some(labels(&[("a", "foo")]))
    );
    // A label dropped and then written again (an anchored regex with ^ and $ inside).
    let got = run(
        &[
            ("__meta_kubernetes_pod_container_port_name", "foo"),
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
        ],
        r#"
- {regex: "^__meta_kubernetes_pod_container_port_name$", action: labeldrop}
- {source_labels: [__meta_kubernetes_pod_annotation_XXX_metrics_port], regex: "(.+)", replacement: metrics, target_label: __meta_kubernetes_pod_container_port_name}
- {source_labels: [__meta_kubernetes_pod_container_port_name], regex: "^metrics$", action: keep}
"#,
    );
    assert_eq!(
        got,
        Some(labels(&[
            ("__meta_kubernetes_pod_annotation_XXX_metrics_port", "9091"),
            ("__meta_kubernetes_pod_container_port_name", "metrics"),
        ]))
    );
}

#[test]
fn lowercase_and_uppercase_write_the_target() {
    let got = run(
        &[("foo", "bAr123Foo")],
        "[{source_labels: [foo], action: Uppercase, target_label: foo_uppercase}, {source_labels: [foo], action: LOWERCASE, target_label: foo_lowercase}]",
    );
    assert_eq!(
        got,
        Some(labels(&[
            ("foo", "bAr123Foo"),
            ("foo_lowercase", "bar123foo"),
            ("foo_uppercase", "BAR123FOO")
        ]))
    );
}

#[test]
fn invalid_configs_are_refused_with_prometheus_messages() {
    let refused = |yaml: &str| {
        serde_yaml::from_str::<Vec<RelabelConfig>>(yaml)
            .unwrap_err()
            .to_string()
    };
    assert!(refused("[{action: replace}]").contains("requires 'target_label' value"));
    assert!(refused("[{action: lowercase}]").contains("requires 'target_label' value"));
    assert!(refused(r#"[{action: lowercase, target_label: "${3}"}]"#).contains(r#""${3}" is invalid 'target_label'"#));
    assert!(
        refused(r#"[{source_labels: [a], target_label: "0${3}"}]"#).contains(r#""0${3}" is invalid 'target_label'"#)
    );
    assert!(refused(r#"[{source_labels: [a], target_label: "-${3}"}]"#)
        .contains(r#""-${3}" is invalid 'target_label' for replace action"#));
    assert!(refused("[{action: hashmod, target_label: x}]").contains("requires non-zero modulus"));
    assert!(refused("[{action: labeldrop, regex: a, source_labels: [b]}]").contains("requires only 'regex'"));
    assert!(refused("[{action: keepequal, target_label: a, regex: b}]").contains("requires only 'source_labels'"));
    assert!(refused("[{action: uppercase, target_label: a, replacement: b}]").contains("'replacement' can not be set"));
    assert!(refused("[{action: nonsense}]").contains("unknown relabel action"));
    assert!(refused("[{regex: '('}]").contains("regex"));
    assert!(refused("[{target_label: a, bogus: 1}]").contains("bogus"));
    // Templated targets that are fine.
    serde_yaml::from_str::<Vec<RelabelConfig>>(r#"[{source_labels: [a], target_label: "${3}"}]"#).unwrap();
}

#[test]
fn target_templates_are_checked_as_prometheus_checks_them() {
    for (s, valid) in [
        ("-label", false),
        ("label", true),
        ("label${1}", true),
        ("${1}label", true),
        ("${1}", true),
        ("${", false),
        ("$", false),
        ("${}", false),
        ("foo${", false),
        ("$1", true),
        ("asd$2asd", true),
        ("-foo${1}bar-", false),
        ("_${1}_", true),
        ("foo${bar}foo", true),
    ] {
        assert_eq!(is_name_template(s), valid, "{s}");
    }
}

#[test]
fn configs_print_back_as_written() {
    let c = configs(r#"[{source_labels: [a, b], regex: "x(.*)", target_label: t, action: replace}]"#);
    let printed = serde_yaml::to_string(&c).unwrap();
    assert!(printed.contains("regex: x(.*)"), "{printed}");
    assert_eq!(configs(&printed), c);
}
