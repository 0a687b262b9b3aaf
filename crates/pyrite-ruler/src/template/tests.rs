//! Expected outputs and messages are Prometheus's: the cases of its template tests and
//! of its alerting rules, and Go's formatting of the values involved.

use std::sync::Arc;

use pyrite_model::Labels;
use pyrite_template::{MissingKey, Template, Value};

use super::funcs::{prometheus_funcs, Context};
use super::*;

/// Prometheus's test instant: 2012-11-24 11:14:12 UTC.
const EVAL_MS: i64 = 1_353_755_652_000;
const EXTERNAL_URL: &str = "http://testhost:9090/path/prefix";

fn sample(pairs: &[(&str, &str)], value: f64) -> QuerySample {
    QuerySample {
        labels: Labels::from_pairs(pairs),
        value,
        histogram: None,
    }
}

fn answering(result: Vec<QuerySample>) -> QueryFn {
    Arc::new(move |_| Ok(result.clone()))
}

/// Prometheus's `Expand` of a template named `test` with `data` as dot.
fn run_with(text: &str, data: Value, query: QueryFn) -> Result<String, String> {
    let funcs = prometheus_funcs(Arc::new(Context {
        query,
        eval_ms: EVAL_MS,
        external_url: EXTERNAL_URL.to_string(),
    }));
    let t = Template::parse("test", text, &funcs)
        .map_err(|e| format!("error parsing template test: {}", e.message()))?
        .with_missing_key(MissingKey::Zero);
    t.execute_main(&data)
        .map_err(|e| format!("error executing template test: {}", e.message()))
}

fn run(text: &str, data: Value) -> Result<String, String> {
    run_with(text, data, answering(Vec::new()))
}

fn floats(v: &[f64]) -> Value {
    Value::list(v.iter().map(|&f| Value::Float(f)).collect())
}

fn ints(v: &[i64]) -> Value {
    Value::list(v.iter().map(|&i| Value::Int(i)).collect())
}

fn strs(v: &[&str]) -> Value {
    Value::list(v.iter().map(|&s| Value::from(s)).collect())
}

#[test]
fn functions_give_prometheus_output() {
    let cases: Vec<(&str, Value, &str)> = vec![
        ("plain text", Value::Nil, "plain text"),
        ("{{ 1 }}", Value::Nil, "1"),
        ("{{ \"<b>\" }}", Value::Nil, "<b>"),
        ("{{ \"<b>\" | safeHtml }}", Value::Nil, "<b>"),
        (
            "{{define \"x\"}}{{.arg0}} {{.arg1}}{{end}}{{template \"x\" (args 1 \"2\")}}",
            Value::Nil,
            "1 2",
        ),
        ("{{ .Foo }}", Value::Nil, "<no value>"),
        ("{{ reReplaceAll \"(a)b\" \"x$1\" \"ab\" }}", Value::Nil, "xa"),
        ("{{ reReplaceAll \"b\" \"${0}_\" \"abcb\" }}", Value::Nil, "ab_cb_"),
        ("{{ reReplaceAll \"(a)b\" \"$1x\" \"ab\" }}", Value::Nil, ""),
        ("{{ reReplaceAll \"(a)b\" \"$$1\" \"ab\" }}", Value::Nil, "$1"),
        ("{{ reReplaceAll \"x*\" \"-\" \"abc\" }}", Value::Nil, "-a-b-c-"),
        ("{{ reReplaceAll \"\\\\d\" \"#\" \"1٣\" }}", Value::Nil, "#٣"),
        ("{{ reReplaceAll \"(?P<x>\\\\d+)\" \"<$x>\" \"a1b22\" }}", Value::Nil, "a<1>b<22>"),
        // humanize
        ("{{ range . }}{{ humanize . }}:{{ end }}", floats(&[0.0, 1.0, 1234567.0, 0.12]), "0:1:1.235M:120m:"),
        ("{{ range . }}{{ humanize . }}:{{ end }}", strs(&["0.0", "1.0", "1234567.0", ".12"]), "0:1:1.235M:120m:"),
        (
            "{{ range . }}{{ humanize . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567, i64::MAX]),
            "0:-1:1:1.235M:9.223E:",
        ),
        (
            "{{ range . }}{{ humanize . }}:{{ end }}",
            floats(&[0.0012, -1234.5, 1e-30, 1e30, 999.95]),
            "1.2m:-1.234k:1e-06y:1e+06Y:1000:",
        ),
        // humanize1024
        ("{{ range . }}{{ humanize1024 . }}:{{ end }}", floats(&[0.0, 1.0, 1048576.0, 0.12]), "0:1:1Mi:0.12:"),
        ("{{ range . }}{{ humanize1024 . }}:{{ end }}", strs(&["0.0", "1.0", "1048576.0", ".12"]), "0:1:1Mi:0.12:"),
        (
            "{{ range . }}{{ humanize1024 . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567, i64::MAX]),
            "0:-1:1:1.177Mi:8Ei:",
        ),
        // humanizeDuration
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            floats(&[0.0, 1.0, 60.0, 3600.0, 86400.0, 86400.0 + 3600.0, -(86400.0 * 2.0 + 3600.0 * 3.0 + 60.0 * 4.0 + 5.0), 899.99]),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:1d 1h 0m 0s:-2d 3h 4m 5s:14m 59s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            strs(&["0", "1", "60", "3600", "86400"]),
            "0s:1s:1m 0s:1h 0m 0s:1d 0h 0m 0s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            floats(&[0.1, 0.0001, 0.12345, 60.1, 60.5, 1.2345, 12.345]),
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            strs(&[".1", ".0001", ".12345", "60.1", "60.5", "1.2345", "12.345"]),
            "100ms:100us:123.5ms:1m 0s:1m 0s:1.234s:12.35s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567]),
            "0s:-1s:1s:14d 6h 56m 7s:",
        ),
        (
            "{{ range . }}{{ humanizeDuration . }}:{{ end }}",
            floats(&[3600.5, 0.0012, 62.0, -0.5]),
            "1h 0m 0s:1.2ms:1m 2s:-500ms:",
        ),
        // NaN and infinities
        (
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            floats(&[f64::INFINITY, f64::NEG_INFINITY, f64::NAN]),
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        ),
        (
            "{{ range . }}{{ humanize . }}:{{ humanize1024 . }}:{{ humanizeDuration . }}:{{humanizeTimestamp .}}:{{ end }}",
            strs(&["+Inf", "-Inf", "NaN"]),
            "+Inf:+Inf:+Inf:+Inf:-Inf:-Inf:-Inf:-Inf:NaN:NaN:NaN:NaN:",
        ),
        // humanizePercentage
        (
            "{{ -0.22222 | humanizePercentage }}:{{ 0.0 | humanizePercentage }}:{{ 0.1234567 | humanizePercentage }}:{{ 1.23456 | humanizePercentage }}",
            Value::Nil,
            "-22.22%:0%:12.35%:123.5%",
        ),
        (
            "{{ range . }}{{ humanizePercentage . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567, i64::MAX]),
            "0%:-100%:100%:1.235e+08%:9.223e+20%:",
        ),
        (
            r#"{{ "-0.22222" | humanizePercentage }}:{{ "0.0" | humanizePercentage }}:{{ "0.1234567" | humanizePercentage }}:{{ "1.23456" | humanizePercentage }}"#,
            Value::Nil,
            "-22.22%:0%:12.35%:123.5%",
        ),
        ("{{ 0.1234 | humanizePercentage }}", Value::Nil, "12.34%"),
        // humanizeTimestamp
        (
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            ints(&[0, -1, 1, 1234567, 9223372036]),
            "1970-01-01 00:00:00 +0000 UTC:1969-12-31 23:59:59 +0000 UTC:1970-01-01 00:00:01 +0000 UTC:1970-01-15 06:56:07 +0000 UTC:2262-04-11 23:47:16 +0000 UTC:",
        ),
        ("{{ 1435065584.128 | humanizeTimestamp }}", Value::Nil, "2015-06-23 13:19:44.128 +0000 UTC"),
        (r#"{{ "1435065584.128" | humanizeTimestamp }}"#, Value::Nil, "2015-06-23 13:19:44.128 +0000 UTC"),
        ("{{ 1577836800 | humanizeTimestamp }}", Value::Nil, "2020-01-01 00:00:00 +0000 UTC"),
        // Prometheus keeps milliseconds: the microseconds are dropped.
        ("{{ 1577836800.0015 | humanizeTimestamp }}", Value::Nil, "2020-01-01 00:00:00.001 +0000 UTC"),
        // toTime, toDuration, now, parseDuration
        (r#"{{ (1435065584.128 | toTime).Format "2006" }}"#, Value::Nil, "2015"),
        (r#"{{ ("1435065584.128" | toTime).Format "2006" }}"#, Value::Nil, "2015"),
        ("{{ 1435065584.128 | toTime }}", Value::Nil, "2015-06-23 13:19:44.128 +0000 UTC"),
        (r#"{{ (1800 | toDuration).String }}"#, Value::Nil, "30m0s"),
        (r#"{{ ("1800" | toDuration).String }}"#, Value::Nil, "30m0s"),
        ("{{ 90.5 | toDuration }}", Value::Nil, "1m30.5s"),
        ("{{ now }}", Value::Nil, "1.353755652e+09"),
        (r#"{{ (now | toTime).Format "Mon Jan 2 15:04:05 2006" }}"#, Value::Nil, "Sat Nov 24 11:14:12 2012"),
        (
            r#"{{ ("-30m" | parseDuration | toDuration | (now | toTime).Add).UnixMilli }}"#,
            Value::Nil,
            "1353753852000",
        ),
        (r#"{{ ((now | toTime).Sub (0 | toTime)) | humanizeDuration }}"#, Value::Nil, "15668d 11h 14m 12s"),
        (r#"{{ printf "%0.2f" (parseDuration "1h2m10ms") }}"#, Value::Nil, "3720.01"),
        (r#"{{ printf "%0.2f" (parseDuration "-1h2m10ms") }}"#, Value::Nil, "-3720.01"),
        // strings
        ("{{ \"aa bb CC\" | title }}", Value::Nil, "Aa Bb CC"),
        ("{{ \"aa bb CC\" | toUpper }}", Value::Nil, "AA BB CC"),
        ("{{ \"aA bB CC\" | toLower }}", Value::Nil, "aa bb cc"),
        ("{{ match \"a+\" \"aa\" }} {{ match \"a+\" \"b\" }}", Value::Nil, "true false"),
        ("{{ match \"b\" \"abc\" }} {{ match \"^b\" \"abc\" }}", Value::Nil, "true false"),
        ("{{ graphLink \"up\" }}", Value::Nil, "/graph?g0.expr=up&g0.tab=0"),
        ("{{ tableLink \"up\" }}", Value::Nil, "/graph?g0.expr=up&g0.tab=1"),
        (
            "{{ graphLink \"rate(x{a=\\\"b c\\\"}[5m])\" }}",
            Value::Nil,
            "/graph?g0.expr=rate%28x%7Ba%3D%22b+c%22%7D%5B5m%5D%29&g0.tab=0",
        ),
        ("{{ urlQueryEscape \"a b&c=d/é\" }}", Value::Nil, "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ pathPrefix }}", Value::Nil, "/path/prefix"),
        ("{{ externalURL }}", Value::Nil, "http://testhost:9090/path/prefix"),
        ("{{ \"foo.example.com:12345\" | stripPort }}", Value::Nil, "foo.example.com"),
        ("{{ \"foo.example.com:12345\" | stripDomain }}", Value::Nil, "foo:12345"),
        ("{{ \"[2001:0DB8::1]:12345\" | stripDomain }}", Value::Nil, "[2001:0DB8::1]:12345"),
    ];
    for (text, data, want) in cases {
        assert_eq!(run(text, data).as_deref(), Ok(want), "template {text:?}");
    }
}

#[test]
fn functions_fail_with_prometheus_messages() {
    let exec = |rest: &str| format!("error executing template test: template: test:{rest}");
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "{{",
            Value::Nil,
            "error parsing template test: template: test:1: unclosed action".to_string(),
        ),
        (
            "{{\u{a0}}}",
            Value::Nil,
            "error parsing template test: template: test:1: unrecognized character in action: U+00A0".to_string(),
        ),
        (
            "{{ query \"missing\" | first }}",
            Value::Nil,
            exec(
                r#"1:21: executing "test" at <first>: error calling first: first() called on vector with no elements"#,
            ),
        ),
        (
            r#"{{ humanize "one" }}"#,
            Value::Nil,
            exec(
                r#"1:3: executing "test" at <humanize "one">: error calling humanize: strconv.ParseFloat: parsing "one": invalid syntax"#,
            ),
        ),
        (
            r#"{{ humanize1024 "one" }}"#,
            Value::Nil,
            exec(
                r#"1:3: executing "test" at <humanize1024 "one">: error calling humanize1024: strconv.ParseFloat: parsing "one": invalid syntax"#,
            ),
        ),
        (
            r#"{{ humanizeDuration "one" }}"#,
            Value::Nil,
            exec(
                r#"1:3: executing "test" at <humanizeDuration "one">: error calling humanizeDuration: strconv.ParseFloat: parsing "one": invalid syntax"#,
            ),
        ),
        (
            r#"{{ "one" | humanizePercentage }}"#,
            Value::Nil,
            exec(
                r#"1:11: executing "test" at <humanizePercentage>: error calling humanizePercentage: strconv.ParseFloat: parsing "one": invalid syntax"#,
            ),
        ),
        (
            "{{ range . }}{{ humanizeTimestamp . }}:{{ end }}",
            ints(&[i64::MIN, i64::MAX]),
            exec(
                r#"1:16: executing "test" at <humanizeTimestamp .>: error calling humanizeTimestamp: -9.223372036854776e+18 cannot be represented as a nanoseconds timestamp since it overflows int64"#,
            ),
        ),
        (
            "{{ humanize true }}",
            Value::Nil,
            exec(r#"1:3: executing "test" at <humanize true>: error calling humanize: can't convert bool to float"#),
        ),
        (
            "{{ 1 | toDuration | humanizeDuration }}",
            Value::Nil,
            exec(
                r#"1:20: executing "test" at <humanizeDuration>: error calling humanizeDuration: can't convert *time.Duration to float"#,
            ),
        ),
        (
            "{{ toTime (0 | divide) }}",
            Value::Nil,
            "error parsing template test: template: test:1: function \"divide\" not defined".to_string(),
        ),
        (
            "{{ toTime \"NaN\" }}",
            Value::Nil,
            exec(r#"1:3: executing "test" at <toTime "NaN">: error calling toTime: value is NaN or Inf"#),
        ),
        (
            "{{ parseDuration \"1x\" }}",
            Value::Nil,
            exec(
                r#"1:3: executing "test" at <parseDuration "1x">: error calling parseDuration: not a valid duration string: "1x""#,
            ),
        ),
        (
            "{{ humanize }}",
            Value::Nil,
            exec(r#"1:3: executing "test" at <humanize>: wrong number of args for humanize: want 1 got 0"#),
        ),
    ];
    for (text, data, want) in cases {
        assert_eq!(run(text, data), Err(want), "template {text:?}");
    }
    // Go names the chain's innermost node (`1:10 … at <"missing">`); the engine names the
    // whole chain. The message itself is Prometheus's.
    let field = run("{{ (query \"missing\").banana }}", Value::Nil).unwrap_err();
    assert!(
        field.ends_with("can't evaluate field banana in type template.queryResult"),
        "{field}"
    );
    let bad_regex = run("{{ reReplaceAll \"(\" \"\" \"\" }}", Value::Nil).unwrap_err();
    assert!(
        bad_regex.contains("error calling reReplaceAll: regexp: Compile(`(`): error parsing regexp:"),
        "{bad_regex}"
    );
}

fn metric() -> Vec<QuerySample> {
    vec![
        sample(&[("__name__", "metric"), ("instance", "b")], 21.0),
        sample(&[("__name__", "metric"), ("instance", "a"), ("__value__", "x")], 11.0),
    ]
}

#[test]
fn query_results_are_samples_with_labels_and_value() {
    let cases = [
        ("{{ query \"metric\" | first | value }}", "21"),
        ("{{ query \"metric\" | first | label \"instance\" }}", "b"),
        ("{{ query \"metric\" | first | label \"foo\" }}", ""),
        ("{{ $x := query \"metric\" | first }}{{ $x.Labels.foo }}", ""),
        ("{{ range query \"metric\" }}{{ . | strvalue }};{{ end }}", ";x;"),
        (
            "{{ range query \"metric\" | sortByLabel \"instance\" }}{{.Labels.instance}}:{{.Value}}: {{end}}",
            "a:11: b:21: ",
        ),
        (
            "{{ with query \"metric\" }}{{ . | first | value | humanize }}{{ end }}",
            "21",
        ),
        (
            "{{ range query \"metric\" }}{{ .Labels.instance }} {{ .Value }};{{ end }}",
            "b 21;a 11;",
        ),
        (
            "{{ len (query \"metric\") }} {{ (index (query \"metric\") 1).Value }}",
            "2 11",
        ),
        (
            "{{ query \"metric\" | first }}",
            "&{map[__name__:metric instance:b] 21}",
        ),
        (
            "{{ (query \"metric\" | first).Labels }}",
            "map[__name__:metric instance:b]",
        ),
    ];
    for (text, want) in cases {
        assert_eq!(
            run_with(text, Value::Nil, answering(metric())).as_deref(),
            Ok(want),
            "{text:?}"
        );
    }
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let failing: QueryFn = Arc::new(move |q| {
        record.lock().map_err(|e| e.to_string())?.push(q.to_string());
        Err("parse error: unexpected end of input".to_string())
    });
    assert_eq!(
        run_with("{{ query \"up{\" }}", Value::Nil, failing),
        Err(r#"error executing template test: template: test:1:3: executing "test" at <query "up{">: error calling query: parse error: unexpected end of input"#.to_string())
    );
    assert_eq!(*seen.lock().unwrap(), vec!["up{".to_string()]);
    assert_eq!(
        run("{{ with query \"x\" }}some{{ else }}none{{ end }}", Value::Nil).as_deref(),
        Ok("none")
    );
}

fn expander() -> Expander {
    let external = Labels::from_pairs(&[("cluster", "eu1"), ("replica", "a")]);
    Expander::new(&external, "http://pyrite.example:9009/prometheus", answering(metric())).at(EVAL_MS)
}

#[test]
fn alert_templates_see_labels_value_and_external_data() {
    let e = expander();
    let labels = Labels::from_pairs(&[("instance", "host:9100"), ("job", "node")]);
    let cases = [
        (
            "{{ $labels.instance }} of {{ $labels.job }} is down",
            "host:9100 of node is down",
        ),
        ("{{ .Labels.instance }}", "host:9100"),
        ("[{{ $labels.missing }}]", "[]"),
        ("[{{ .Labels.missing }}]", "[]"),
        (
            "{{ $value }} {{ .Value }} {{ $value | humanize }}",
            "1.234567e+06 1.234567e+06 1.235M",
        ),
        ("{{ $externalLabels.cluster }}/{{ .ExternalLabels.replica }}", "eu1/a"),
        (
            "{{ $externalURL }} {{ .ExternalURL }}",
            "http://pyrite.example:9009/prometheus http://pyrite.example:9009/prometheus",
        ),
        ("{{ pathPrefix }}", "/prometheus"),
        (
            "{{ with query \"metric\" }}{{ . | first | value | humanize }}{{ end }}",
            "21",
        ),
        ("{{ now | humanizeTimestamp }}", "2012-11-24 11:14:12 +0000 UTC"),
        ("line one\n{{ $labels.job }}", "line one\nnode"),
    ];
    for (text, want) in cases {
        assert_eq!(e.expand("Down", text, &labels, 1_234_567.0), want, "{text:?}");
    }
    assert_eq!(
        e.expand("Down", "{{ . }}", &Labels::from_pairs(&[("a", "b")]), 1.5),
        "{map[a:b] map[cluster:eu1 replica:a] http://pyrite.example:9009/prometheus 1.5}"
    );
}

#[test]
fn alert_template_failures_expand_to_the_message() {
    let e = expander();
    let labels = Labels::from_pairs(&[("instance", "a")]);
    assert_eq!(
        e.expand("Down", "{{ nosuch }}", &labels, 0.0),
        "<error expanding template: error parsing template __alert_Down: template: __alert_Down:1: function \"nosuch\" not defined>"
    );
    assert_eq!(
        e.expand("Down", "{{ humanize \"x\" }}", &labels, 0.0),
        "<error expanding template: error executing template __alert_Down: template: __alert_Down:1:115: executing \"__alert_Down\" at <humanize \"x\">: error calling humanize: strconv.ParseFloat: parsing \"x\": invalid syntax>"
    );
    assert_eq!(
        e.expand("Down", "{{ .Nope }}", &labels, 0.0),
        format!("<error expanding template: error executing template __alert_Down: template: __alert_Down:1:115: executing \"__alert_Down\" at <.Nope>: can't evaluate field Nope in type {DATA_TYPE}>")
    );
    let empty = Expander::new(&Labels::empty(), "", answering(Vec::new()));
    assert_eq!(
        empty.expand("Down", "ok\n{{ query \"none\" | first }}", &labels, 0.0),
        "<error expanding template: error executing template __alert_Down: template: __alert_Down:2:18: executing \"__alert_Down\" at <first>: error calling first: first() called on vector with no elements>"
    );
    assert_eq!(
        e.try_expand("Down", "{{ nosuch }}", &labels, 0.0),
        Err(
            "error parsing template __alert_Down: template: __alert_Down:1: function \"nosuch\" not defined"
                .to_string()
        )
    );
}

#[test]
fn check_reports_promtool_messages() {
    assert_eq!(check("Down", "{{ $labels.instance }} {{ humanize $value }}"), Ok(()));
    assert_eq!(
        check("Down", "{{ nosuch }}"),
        Err("template: __alert_Down:1: function \"nosuch\" not defined".to_string())
    );
    assert_eq!(
        check("Down", "a\nb {{ $nope }}"),
        Err("template: __alert_Down:2: undefined variable \"$nope\"".to_string())
    );
    assert_eq!(
        check("Down", "{{"),
        Err("template: __alert_Down:1: unclosed action".to_string())
    );
    assert_eq!(expander().check("Down", "{{ nosuch }}"), check("Down", "{{ nosuch }}"));
    let as_rules_check: pyrite_rules::TemplateCheck<'_> = &check;
    assert!(as_rules_check("X", "{{ now | toTime }}").is_ok());
}
