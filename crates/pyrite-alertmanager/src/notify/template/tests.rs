//! The template data and functions, and each default definition's output for one fixed
//! notification, written out as Alertmanager's `default.tmpl` produces it.

use chrono::{DateTime, Utc};

use super::*;
use crate::model::LabelSet;

fn set(pairs: &[(&str, &str)]) -> LabelSet {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn at(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

const URL_A: &str = "http://prom:9090/graph?g0.expr=up&g0.tab=1";
const URL_B: &str = "http://prom:9090/graph?g0.expr=down";

/// One firing and one resolved alert of the group `alertname=HighLatency`.
pub(crate) fn sample_data() -> Data {
    let alert = |status, instance, starts, ends, url: &str, fp: &str| DataAlert {
        status,
        labels: set(&[
            ("alertname", "HighLatency"),
            ("instance", instance),
            ("job", "node"),
            ("severity", "critical"),
        ]),
        annotations: set(&[("summary", "Latency is high")]),
        starts_at: at(starts),
        ends_at: ends,
        generator_url: url.to_string(),
        fingerprint: fp.to_string(),
    };
    Data {
        receiver: "team X".into(),
        status: "firing",
        alerts: vec![
            // 2024-01-02T03:04:05Z
            alert("firing", "a:9100", 1_704_164_645, None, URL_A, "0a1b2c3d4e5f6a7b"),
            alert(
                "resolved",
                "b:9100",
                1_704_164_000,
                at(1_704_165_000),
                URL_B,
                "1111222233334444",
            ),
        ],
        group_labels: set(&[("alertname", "HighLatency")]),
        common_labels: set(&[("alertname", "HighLatency"), ("job", "node"), ("severity", "critical")]),
        common_annotations: set(&[("summary", "Latency is high")]),
        external_url: "http://am.example".into(),
    }
}

fn run(text: &str) -> String {
    Templates::defaults()
        .execute(text, &sample_data())
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn def(name: &str) -> String {
    run(&format!("{{{{ template \"{name}\" . }}}}"))
}

const SUBJECT: &str = "[FIRING:1] HighLatency (node critical)";
const AM_URL: &str = "http://am.example/#/alerts?receiver=team+X";

fn list_a() -> String {
    format!(
        "Labels:\n - alertname = HighLatency\n - instance = a:9100\n - job = node\n - severity = critical\n\
         Annotations:\n - summary = Latency is high\nSource: {URL_A}\n"
    )
}

fn list_b() -> String {
    format!(
        "Labels:\n - alertname = HighLatency\n - instance = b:9100\n - job = node\n - severity = critical\n\
         Annotations:\n - summary = Latency is high\nSource: {URL_B}\n"
    )
}

fn markdown(instance: &str, url: &str) -> String {
    format!(
        "\nLabels:\n  - alertname = HighLatency\n  - instance = {instance}\n  - job = node\n  - severity = critical\n\
         \nAnnotations:\n  - summary = Latency is high\n\nSource: {url}\n\n"
    )
}

#[test]
fn the_data_has_alertmanagers_fields_and_methods() {
    assert_eq!(
        run("{{ .Receiver }}|{{ .Status }}|{{ .ExternalURL }}"),
        "team X|firing|http://am.example"
    );
    assert_eq!(
        run("{{ .Alerts | len }} {{ .Alerts.Firing | len }} {{ len .Alerts.Resolved }}"),
        "2 1 1"
    );
    assert_eq!(
        run("{{ range .Alerts }}{{ .Status }} {{ .Fingerprint }} {{ .Labels.instance }};{{ end }}"),
        "firing 0a1b2c3d4e5f6a7b a:9100;resolved 1111222233334444 b:9100;"
    );
    assert_eq!(
        run("{{ .CommonLabels }}"),
        "alertname=HighLatency, job=node, severity=critical"
    );
    assert_eq!(
        run("{{ range .CommonLabels.SortedPairs }}{{ .Name }}:{{ .Value }} {{ end }}"),
        "alertname:HighLatency job:node severity:critical "
    );
    assert_eq!(run("{{ .CommonLabels.Names }}"), "[alertname job severity]");
    assert_eq!(
        run("{{ .CommonLabels.Values | join \",\" }}"),
        "HighLatency,node,critical"
    );
    assert_eq!(
        run("{{ .CommonLabels.Remove (stringSlice \"job\" \"alertname\") }}"),
        "severity=critical"
    );
    assert_eq!(
        run("{{ .CommonLabels.SortedPairs }}"),
        "alertname=HighLatency, job=node, severity=critical"
    );
    assert_eq!(
        run("{{ index .CommonLabels \"job\" }}{{ .CommonLabels.missing }}|"),
        "node|"
    );
    let first = "{{ with index .Alerts 0 }}{{ .StartsAt }}|{{ .EndsAt }}|{{ .GeneratorURL }}{{ end }}";
    assert_eq!(
        run(first),
        format!("2024-01-02 03:04:05 +0000 UTC|0001-01-01 00:00:00 +0000 UTC|{URL_A}")
    );
    assert_eq!(
        run("{{ range .Alerts.Resolved }}{{ .EndsAt.Format \"15:04:05\" }} {{ .EndsAt.Unix }}{{ end }}"),
        "03:10:00 1704165000"
    );
}

#[test]
fn alertmanagers_functions() {
    assert_eq!(
        run(r#"{{ toUpper "aBc" }} {{ toLower "AbC" }} {{ trimSpace "  x  " }}"#),
        "ABC abc x"
    );
    assert_eq!(
        run(r#"{{ toUpper "straße" }}"#),
        "STRAßE",
        "rune by rune, as Go maps case"
    );
    assert_eq!(
        run(r#"{{ title "hello wORLD foo-bar don't" }}"#),
        "Hello World Foo-Bar Don't"
    );
    assert_eq!(run(r#"{{ stringSlice "a" "b" "c" | join "-" }}"#), "a-b-c");
    assert_eq!(
        run(r#"{{ match "^High" .CommonLabels.alertname }} {{ match "x+" "abc" }}"#),
        "true false"
    );
    assert_eq!(
        run(r#"{{ reReplaceAll "(\\w+):(\\d+)" "$2@$1" "host:9100" }}"#),
        "9100@host"
    );
    assert_eq!(
        run(r#"{{ safeHtml "<b>" }} {{ safeUrl "http://x/?a=1" }}"#),
        "<b> http://x/?a=1"
    );
    assert_eq!(run(r#"{{ urlUnescape "a%20b+c%2F" }}"#), "a b c/");
    assert_eq!(
        run(r#"{{ with index .Alerts 0 }}{{ date "2006-01-02 15:04 MST" .StartsAt }}{{ end }}"#),
        "2024-01-02 03:04 UTC"
    );
    assert_eq!(
        run(
            r#"{{ with index .Alerts 0 }}{{ .StartsAt | tz "Europe/Paris" | date "Mon Jan _2 15:04:05 -07:00 MST" }}{{ end }}"#
        ),
        "Tue Jan  2 04:04:05 +01:00 CET"
    );
    assert_eq!(
        run(r#"{{ with index .Alerts 0 }}{{ (.StartsAt | tz "America/New_York").Format "3:04PM Z0700" }}{{ end }}"#),
        "10:04PM -0500"
    );
    assert_eq!(
        run(r#"{{ humanizeDuration 90061 }} {{ humanizeDuration 3.5 }}"#),
        "1d 1h 1m 1s 3.5s"
    );
    assert_eq!(
        run(r#"{{ humanizeDuration 0.0012 }} {{ humanizeDuration "0" }}"#),
        "1.2ms 0s"
    );
    // `since` is a duration from the alert's start until now: years by now.
    let since = run(r#"{{ with index .Alerts 0 }}{{ since .StartsAt | humanizeDuration }}{{ end }}"#);
    assert!(since.contains("d ") && !since.starts_with('-'), "{since}");
    assert_eq!(
        run(r#"{{ .CommonLabels | toJson }} {{ stringSlice "<a>" | toJson }}"#),
        r#"{"alertname":"HighLatency","job":"node","severity":"critical"} ["\u003ca\u003e"]"#
    );
    assert_eq!(
        run(r#"{{ (index .Alerts.Resolved 0).EndsAt | toJson }}"#),
        r#""2024-01-02T03:10:00Z""#
    );
}

#[test]
fn errors_are_gos() {
    let t = Templates::defaults();
    let err = t.execute("{{ toUpper 1 }}", &sample_data()).unwrap_err();
    assert!(err.contains("wrong type for value; expected string; got int"), "{err}");
    let err = t.execute("{{ nosuch }}", &sample_data()).unwrap_err();
    assert!(err.contains(r#"function "nosuch" not defined"#), "{err}");
    let err = t
        .execute(r#"{{ "x" | tz "Nowhere/City" }}"#, &sample_data())
        .unwrap_err();
    assert!(err.contains("expected time.Time"), "{err}");
    assert_eq!(t.execute("", &sample_data()).unwrap(), "");
}

#[test]
fn subjects_and_links() {
    assert_eq!(def("__subject"), SUBJECT);
    assert_eq!(def("__alertmanager"), "Alertmanager");
    assert_eq!(def("__alertmanagerURL"), AM_URL);
    for name in [
        "slack.default.title",
        "pagerduty.default.description",
        "opsgenie.default.message",
        "email.default.subject",
        "msteams.default.title",
        "msteams.default.summary",
        "discord.default.title",
        "victorops.default.entity_display_name",
        "pushover.default.title",
        "jira.default.summary",
    ] {
        assert_eq!(def(name), SUBJECT, "{name}");
    }
    for name in [
        "slack.default.titlelink",
        "pagerduty.default.clientURL",
        "opsgenie.default.source",
        "pushover.default.url",
        "rocketchat.default.titlelink",
    ] {
        assert_eq!(def(name), AM_URL, "{name}");
    }
    assert_eq!(def("slack.default.username"), "Alertmanager");
    assert_eq!(def("pagerduty.default.client"), "Alertmanager");
    assert_eq!(def("slack.default.fallback"), format!("{SUBJECT} | {AM_URL}"));
    for name in [
        "slack.default.pretext",
        "slack.default.text",
        "slack.default.footer",
        "slack.default.iconemoji",
        "slack.default.iconurl",
        "slack.default.callbackid",
        "discord.default.content",
        "__description",
    ] {
        assert_eq!(def(name), "", "{name}");
    }
}

#[test]
fn the_subject_without_extra_common_labels_and_when_resolved() {
    let mut data = sample_data();
    data.common_labels = data.group_labels.clone();
    data.status = "resolved";
    let t = Templates::defaults();
    let subject = t.execute(r#"{{ template "__subject" . }}"#, &data).unwrap();
    assert_eq!(subject, "[RESOLVED] HighLatency ");
}

#[test]
fn alert_lists() {
    assert_eq!(
        run(r#"{{ template "pagerduty.default.instances" .Alerts.Firing }}"#),
        list_a()
    );
    assert_eq!(
        run(r#"{{ template "__text_alert_list" .Alerts }}"#),
        format!("{}{}", list_a(), list_b())
    );
    assert_eq!(
        run(r#"{{ template "__text_alert_list_markdown" .Alerts.Firing }}"#),
        markdown("a:9100", URL_A)
    );
}

#[test]
fn long_messages() {
    let (a, b) = (list_a(), list_b());
    let spaced = format!("\n\nAlerts Firing:\n{a}\n\n\nAlerts Resolved:\n{b}\n\n");
    assert_eq!(def("telegram.default.message"), spaced);
    assert_eq!(def("discord.default.message"), spaced);
    assert_eq!(def("pushover.default.message"), format!("Latency is high{spaced}"));
    assert_eq!(def("sns.default.message"), format!("Latency is high{spaced}"));
    assert_eq!(def("webex.default.message"), format!("Latency is high{spaced}"));
    let compact = format!("Latency is high\nAlerts Firing:\n{a}\nAlerts Resolved:\n{b}");
    assert_eq!(def("opsgenie.default.description"), compact);
    assert_eq!(def("victorops.default.state_message"), compact);
    assert_eq!(
        def("wechat.default.message"),
        format!("{SUBJECT}\n{compact}\nAlertmanagerUrl:\n{AM_URL}")
    );
    let md = format!(
        "\n\n# Alerts Firing:\n{}\n\n\n# Alerts Resolved:\n{}\n\n",
        markdown("a:9100", URL_A),
        markdown("b:9100", URL_B)
    );
    assert_eq!(def("msteams.default.text"), md);
    assert_eq!(def("msteamsv2.default.text"), md);
    assert_eq!(def("jira.default.description"), md);
}

#[test]
fn messages_with_only_firing_alerts() {
    let mut data = sample_data();
    data.alerts.truncate(1);
    let t = Templates::defaults();
    let a = list_a();
    assert_eq!(
        t.execute(r#"{{ template "telegram.default.message" . }}"#, &data)
            .unwrap(),
        format!("\n\nAlerts Firing:\n{a}\n\n\n")
    );
    assert_eq!(
        t.execute(r#"{{ template "opsgenie.default.description" . }}"#, &data)
            .unwrap(),
        format!("Latency is high\nAlerts Firing:\n{a}\n")
    );
}

#[test]
fn jira_priority() {
    assert_eq!(def("jira.default.priority"), "High");
    let mut data = sample_data();
    data.alerts[0].labels.insert("severity".into(), "info".into());
    data.alerts[1].labels.insert("severity".into(), "warning".into());
    let t = Templates::defaults();
    let p = |d: &Data| t.execute(r#"{{ template "jira.default.priority" . }}"#, d).unwrap();
    assert_eq!(p(&data), "Low", "firing alerts decide when they have a severity");
    data.alerts[0].labels.remove("severity");
    assert_eq!(p(&data), "Medium", "then the resolved ones");
}

#[test]
fn email_html_has_the_alerts() {
    let html = def("email.default.html");
    assert!(html.starts_with("<!DOCTYPE html>\n<html>"), "{html}");
    assert!(html.contains(&format!("<title>{SUBJECT}</title>")));
    assert!(html.contains("2 alerts for alertname=HighLatency</td>"), "{html}");
    assert!(html.contains("<strong>[1] Firing</strong>") && html.contains("<strong>[1] Resolved</strong>"));
    assert!(html.contains("instance = a:9100<br />") && html.contains("summary = Latency is high<br />"));
    assert!(
        html.contains("http://prom:9090/graph?g0.expr=up&amp;g0.tab=1"),
        "{html}"
    );
}

#[test]
fn user_templates_override_the_defaults() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.tmpl"),
        r#"{{ define "__subject" }}custom {{ .CommonLabels.job }}{{ end }}{{ define "mine" }}M{{ end }}"#,
    )
    .unwrap();
    std::fs::write(dir.path().join("b.tmpl"), r#"{{ define "mine" }}second{{ end }}"#).unwrap();
    let t = Templates::from_globs(&["*.tmpl".into(), "none/*.tmpl".into()], Some(dir.path())).unwrap();
    let data = sample_data();
    assert_eq!(
        t.execute(r#"{{ template "slack.default.title" . }}"#, &data).unwrap(),
        "custom node"
    );
    assert_eq!(t.execute(r#"{{ template "mine" . }}"#, &data).unwrap(), "second");
    // A field's own definitions do not stay in the set.
    assert_eq!(
        t.execute(r#"{{ define "x" }}1{{ end }}{{ template "x" }}"#, &data)
            .unwrap(),
        "1"
    );
    assert!(!t.contains("x"));

    std::fs::write(dir.path().join("c.tmpl"), "{{ if }}").unwrap();
    let err = Templates::from_globs(&["c.tmpl".into()], Some(dir.path())).unwrap_err();
    assert!(err.contains("c.tmpl"), "{err}");
}

#[test]
fn html_execution_escapes_the_data() {
    let mut data = sample_data();
    data.alerts.truncate(1);
    data.alerts[0]
        .annotations
        .insert("summary".into(), "a < b & 'c' + \"d\"".into());
    let out = Templates::defaults()
        .execute_html(
            r#"{{ range .Alerts }}<b>{{ .Annotations.summary }}</b> {{ .GeneratorURL }}{{ end }}"#,
            &data,
        )
        .unwrap();
    assert_eq!(
        out,
        "<b>a &lt; b &amp; &#39;c&#39; &#43; &#34;d&#34;</b> http://prom:9090/graph?g0.expr=up&amp;g0.tab=1"
    );
}

#[test]
fn times_and_durations_print_as_go_prints_them() {
    let first = |body: &str| run(&format!("{{{{ with index .Alerts 0 }}}}{body}{{{{ end }}}}"));
    assert_eq!(
        first(r#"{{ .StartsAt.Format "Jan 2, 2006 at 3:04pm (MST) .000 __2 002 Z07:00" }}"#),
        "Jan 2, 2024 at 3:04am (UTC) .000   2 002 Z"
    );
    assert_eq!(
        first(
            r#"{{ .StartsAt.Month }} {{ .StartsAt.Weekday }} {{ .StartsAt.Year }} {{ .StartsAt.IsZero }} {{ .EndsAt.IsZero }}"#
        ),
        "January Tuesday 2024 false true"
    );
    assert_eq!(
        first(r#"{{ (.StartsAt | tz "Asia/Kolkata").Format "2006-01-02T15:04:05-07:00 MST" }}"#),
        "2024-01-02T08:34:05+05:30 IST"
    );
    assert_eq!(
        run(
            r#"{{ with index .Alerts.Resolved 0 }}{{ .EndsAt.Sub .StartsAt }} {{ (.EndsAt.Sub .StartsAt).Minutes }}{{ end }}"#
        ),
        "16m40s 16.666666666666668"
    );
    assert_eq!(gotime::GoDuration(1_500_000).go_string(), "1.5ms");
    assert_eq!(gotime::GoDuration(-3_723_000_000_000).go_string(), "-1h2m3s");
    assert_eq!(gotime::GoDuration(0).go_string(), "0s");
}
