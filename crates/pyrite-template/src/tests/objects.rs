//! Objects: Go named types with fields and methods, as Alertmanager's template data
//! exposes them (`.Alerts.Firing`, `.CommonLabels.SortedPairs`, `.Labels.Remove`).

use super::{check, test_funcs, E, O};
use crate::{Arity, CallError, Kind, List, Map, MissingKey, Object, Template, Value};

/// Alertmanager's `KV`: a `map[string]string` with methods.
struct Kv(Map);

impl Kv {
    fn value(pairs: &[(&str, &str)]) -> Value {
        Value::object(Kv(Map::strings(pairs.iter().map(|&(k, v)| (k, v)))))
    }
}

impl Object for Kv {
    fn type_name(&self) -> &str {
        "template.KV"
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        let e = self.0.entries();
        Some(Ok(match name {
            "Names" => Value::List(List::strings(e.keys().map(String::as_str))),
            "Values" => Value::List(List::strings(
                e.values().map(|v| v.as_str().unwrap_or_default().to_string()),
            )),
            "SortedPairs" => Value::list(
                e.iter()
                    .map(|(k, v)| Value::map([("Name", Value::from(k.as_str())), ("Value", v.clone())]))
                    .collect(),
            ),
            "Remove" => {
                let [Value::List(drop)] = args else {
                    return Some(Err(CallError::WrongArgs {
                        want: Arity::Exact(1),
                        got: args.len(),
                    }));
                };
                let keep = e
                    .iter()
                    .filter(|(k, _)| !drop.items().iter().any(|d| d.as_str() == Some(k.as_str())))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                Value::object(Kv(Map::new(Kind::String, keep)))
            }
            _ => return None,
        }))
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::Map(self.0.clone()))
    }
}

/// Alertmanager's `Alerts`: a list of alerts with `Firing` and `Resolved`.
struct Alerts(Vec<Value>);

impl Alerts {
    fn with_status(&self, status: &str) -> Value {
        Value::object(Alerts(
            self.0
                .iter()
                .filter(|a| matches!(a, Value::Object(o) if o.field("Status").and_then(|s| s.as_str().map(|s| s == status)) == Some(true)))
                .cloned()
                .collect(),
        ))
    }
}

impl Object for Alerts {
    fn type_name(&self) -> &str {
        "template.Alerts"
    }

    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, CallError>> {
        match name {
            "Firing" => Some(Ok(self.with_status("firing"))),
            "Resolved" => Some(Ok(self.with_status("resolved"))),
            _ => None,
        }
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::list(self.0.clone()))
    }
}

/// Alertmanager's `Alert` struct.
struct Alert {
    status: &'static str,
    labels: Value,
}

impl Object for Alert {
    fn type_name(&self) -> &str {
        "template.Alert"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Status" => Some(Value::from(self.status)),
            "Labels" => Some(self.labels.clone()),
            _ => None,
        }
    }
}

/// Alertmanager's `Data` struct, plus two methods to exercise arguments and failures.
struct Data {
    alerts: Value,
    common: Value,
}

impl Object for Data {
    fn type_name(&self) -> &str {
        "template.Data"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Status" => Some(Value::from("firing")),
            "Receiver" => Some(Value::from("team-x")),
            "Alerts" => Some(self.alerts.clone()),
            "CommonLabels" => Some(self.common.clone()),
            _ => None,
        }
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        match name {
            "Greet" => Some(match args {
                [who] => Ok(Value::from(format!("hello {who}"))),
                _ => Err(CallError::WrongArgs {
                    want: Arity::Exact(1),
                    got: args.len(),
                }),
            }),
            "Fail" => Some(Err("boom".into())),
            _ => None,
        }
    }

    fn to_go_string(&self) -> Option<String> {
        Some("Data(firing)".to_string())
    }
}

fn am_data() -> Value {
    let a1 = Value::object(Alert {
        status: "firing",
        labels: Kv::value(&[("alertname", "Up"), ("job", "api")]),
    });
    let a2 = Value::object(Alert {
        status: "resolved",
        labels: Kv::value(&[("alertname", "Up"), ("job", "db")]),
    });
    Value::object(Data {
        alerts: Value::object(Alerts(vec![a1, a2])),
        common: Kv::value(&[("alertname", "Up"), ("severity", "page")]),
    })
}

#[test]
fn fields_methods_and_underlying_values() {
    check(
        &[
            ("{{.Status}} {{.Receiver}}", O("firing team-x")),
            ("{{.CommonLabels.alertname}}", O("Up")),
            ("{{.CommonLabels}}", O("map[alertname:Up severity:page]")),
            ("{{.CommonLabels.Names}}", O("[alertname severity]")),
            ("{{.CommonLabels.Values}}", O("[Up page]")),
            (
                "{{range .CommonLabels.SortedPairs}}{{.Name}}={{.Value}} {{end}}",
                O("alertname=Up severity=page "),
            ),
            (
                "{{.CommonLabels.Remove (stringSlice \"severity\")}}",
                O("map[alertname:Up]"),
            ),
            (
                "{{(.CommonLabels.Remove (stringSlice \"alertname\")).Names}}",
                O("[severity]"),
            ),
            (
                "{{.CommonLabels.Remove}}",
                E("wrong number of args for Remove: want 1 got 0"),
            ),
            ("{{len .Alerts}} {{len .Alerts.Firing}}", O("2 1")),
            (
                "{{range .Alerts.Firing}}{{.Status}}:{{.Labels.job}}{{end}}",
                O("firing:api"),
            ),
            ("{{range .Alerts.Resolved}}{{.Labels.job}}{{end}}", O("db")),
            (
                "{{range $i, $a := .Alerts}}{{$i}}{{$a.Status}} {{end}}",
                O("0firing 1resolved "),
            ),
            ("{{(index .Alerts 1).Labels.job}}", O("db")),
            ("{{index .CommonLabels \"severity\"}}", O("page")),
            ("{{if .Alerts.Firing}}some{{end}}", O("some")),
            ("{{if .Alerts.Firing.Resolved}}some{{else}}none{{end}}", O("none")),
            ("{{.Greet \"bob\"}}", O("hello bob")),
            ("{{\"bob\" | .Greet}}", O("hello bob")),
            ("{{.Greet}}", E("wrong number of args for Greet: want 1 got 0")),
            ("{{.Fail}}", E("error calling Fail: boom")),
            (
                "{{.Status 1}}",
                E("Status has arguments but cannot be invoked as function"),
            ),
            ("{{.Nope}}", E("can't evaluate field Nope in type template.Data")),
            ("{{.CommonLabels.nope}}", O("")),
            ("{{.}}", O("Data(firing)")),
            (
                "{{printf \"%s|%v|%q\" . . .}}",
                O("Data(firing)|Data(firing)|\"Data(firing)\""),
            ),
            ("{{eq .Status \"firing\"}}", O("true")),
            ("{{with .Alerts}}{{len .}}{{end}}", O("2")),
            ("{{.Alerts.Firing}}", O("[{template.Alert}]")),
        ],
        &am_data(),
        MissingKey::Zero,
    );
}

#[test]
fn alertmanager_style_template_files() -> Result<(), Box<dyn std::error::Error>> {
    let mut t = Template::parse("default.tmpl", "", &test_funcs())?.with_missing_key(MissingKey::Zero);
    t.add(
        "slack.tmpl",
        r#"
{{ define "slack.title" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}{{ end }}
{{ define "slack.text" -}}
{{ range .Alerts -}}
* {{ .Labels.job }}{{ if .Labels.instance }} on {{ .Labels.instance }}{{ end }}
{{ end -}}
{{- end }}
"#,
    )?;
    let d = am_data();
    assert_eq!(t.execute("slack.title", &d)?, "[FIRING:1] Up");
    assert_eq!(t.execute("slack.text", &d)?, "* api\n* db\n");
    Ok(())
}
