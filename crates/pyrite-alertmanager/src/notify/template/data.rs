//! [`Data`] as templates see it: Alertmanager's `template.Data`, `Alerts`, `Alert`, `KV`,
//! `Pairs` and `Pair` as template objects, with their fields (`.Receiver`, `.Labels`,
//! `.StartsAt`, …) and methods (`.Alerts.Firing`, `.SortedPairs`, `.Remove`, `.Names`,
//! `.Values`), printing as Go prints them (a `KV` as `a=1, b=2`).
//!
//! The invariant: a `KV`'s pairs are sorted by name with `alertname` first, as
//! Alertmanager sorts them, wherever they are listed (`.SortedPairs`, `.Names`,
//! `.Values`, printing); ranging over the `KV` itself goes in plain key order, as Go's
//! `range` over a map does.

use std::collections::BTreeMap;
use std::sync::Arc;

use pyrite_template::gotime::GoTime;
use pyrite_template::{Arity, CallError, Kind, List, Map, Object, Value};

use crate::notify::{Data, DataAlert};

/// A method name no template can write (`.to-json` does not lex as one field), through
/// which `toJson` gets an object's JSON.
pub(super) const JSON_METHOD: &str = "to-json";

fn no_args(args: &[Value]) -> Result<(), CallError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(CallError::WrongArgs {
            want: Arity::Exact(0),
            got: args.len(),
        })
    }
}

fn json_string(v: &impl serde::Serialize) -> Value {
    Value::from(serde_json::to_string(v).unwrap_or_default())
}

/// `template.KV`: a label or annotation set.
pub(super) struct Kv(Arc<BTreeMap<String, String>>);

impl Kv {
    pub(super) fn value(set: &BTreeMap<String, String>) -> Value {
        Value::object(Kv(Arc::new(set.clone())))
    }

    /// The pairs, `alertname` first and the rest by name.
    fn sorted(&self) -> Vec<(&String, &String)> {
        let mut pairs: Vec<(&String, &String)> = self.0.iter().collect();
        pairs.sort_by_key(|(k, _)| (k.as_str() != "alertname", *k));
        pairs
    }

    fn go_string(&self) -> String {
        let parts: Vec<String> = self.sorted().iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join(", ")
    }
}

impl Object for Kv {
    fn type_name(&self) -> &str {
        "template.KV"
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        let sorted = || self.sorted();
        Some(match name {
            "SortedPairs" => no_args(args).map(|()| pairs_value(sorted())),
            "Names" => {
                no_args(args).map(|()| Value::List(List::strings(sorted().into_iter().map(|(k, _)| k.as_str()))))
            }
            "Values" => {
                no_args(args).map(|()| Value::List(List::strings(sorted().into_iter().map(|(_, v)| v.as_str()))))
            }
            "String" => no_args(args).map(|()| Value::from(self.go_string())),
            "Remove" => remove(&self.0, args),
            JSON_METHOD => Ok(json_string(&*self.0)),
            _ => return None,
        })
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::Map(Map::strings(
            self.0.iter().map(|(k, v)| (k.clone(), v.as_str())),
        )))
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.go_string())
    }
}

/// `KV.Remove(keys []string)`: a copy without `keys`.
fn remove(set: &BTreeMap<String, String>, args: &[Value]) -> Result<Value, CallError> {
    let [arg] = args else {
        return Err(CallError::WrongArgs {
            want: Arity::Exact(1),
            got: args.len(),
        });
    };
    let keys: Vec<&str> = match arg {
        Value::Nil => Vec::new(),
        Value::List(l) if l.items().iter().all(|v| v.as_str().is_some()) => {
            l.items().iter().filter_map(Value::as_str).collect()
        }
        other => {
            return Err(CallError::Failed(format!(
                "wrong type for value; expected []string; got {}",
                other.type_name()
            )))
        }
    };
    let kept: BTreeMap<String, String> = set
        .iter()
        .filter(|(k, _)| !keys.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Value::object(Kv(Arc::new(kept))))
}

/// `template.Pair`.
struct Pair {
    name: String,
    value: String,
}

impl Object for Pair {
    fn type_name(&self) -> &str {
        "template.Pair"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Name" => Some(Value::from(self.name.as_str())),
            "Value" => Some(Value::from(self.value.as_str())),
            _ => None,
        }
    }

    fn to_go_string(&self) -> Option<String> {
        Some(format!("{{{} {}}}", self.name, self.value))
    }
}

/// `template.Pairs`: a list of pairs with `.Names` and `.Values`.
struct Pairs(Vec<(String, String)>);

fn pairs_value(pairs: Vec<(&String, &String)>) -> Value {
    Value::object(Pairs(pairs.into_iter().map(|(k, v)| (k.clone(), v.clone())).collect()))
}

impl Object for Pairs {
    fn type_name(&self) -> &str {
        "template.Pairs"
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        Some(match name {
            "Names" => no_args(args).map(|()| Value::List(List::strings(self.0.iter().map(|(k, _)| k.as_str())))),
            "Values" => no_args(args).map(|()| Value::List(List::strings(self.0.iter().map(|(_, v)| v.as_str())))),
            "String" => no_args(args).map(|()| Value::from(self.go_string())),
            JSON_METHOD => Ok(json_string(
                &self
                    .0
                    .iter()
                    .map(|(k, v)| serde_json::json!({"Name": k, "Value": v}))
                    .collect::<Vec<_>>(),
            )),
            _ => return None,
        })
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::List(List::new(
            Kind::Any,
            self.0
                .iter()
                .map(|(k, v)| {
                    Value::object(Pair {
                        name: k.clone(),
                        value: v.clone(),
                    })
                })
                .collect(),
        )))
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.go_string())
    }
}

impl Pairs {
    fn go_string(&self) -> String {
        let parts: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        parts.join(", ")
    }
}

/// `template.Alert`.
struct AlertObject(Arc<DataAlert>);

impl Object for AlertObject {
    fn type_name(&self) -> &str {
        "template.Alert"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let a = &self.0;
        Some(match name {
            "Status" => Value::from(a.status),
            "Labels" => Kv::value(&a.labels),
            "Annotations" => Kv::value(&a.annotations),
            "StartsAt" => Value::object(GoTime::from_chrono(a.starts_at)),
            "EndsAt" => Value::object(GoTime::from_chrono(a.ends_at)),
            "GeneratorURL" => Value::from(a.generator_url.as_str()),
            "Fingerprint" => Value::from(a.fingerprint.as_str()),
            _ => return None,
        })
    }

    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, CallError>> {
        (name == JSON_METHOD).then(|| Ok(json_string(&*self.0)))
    }

    fn to_go_string(&self) -> Option<String> {
        let a = &self.0;
        Some(format!(
            "{{{} {} {} {} {} {} {}}}",
            a.status,
            Kv(Arc::new(a.labels.clone())).go_string(),
            Kv(Arc::new(a.annotations.clone())).go_string(),
            GoTime::from_chrono(a.starts_at).go_string(),
            GoTime::from_chrono(a.ends_at).go_string(),
            a.generator_url,
            a.fingerprint
        ))
    }
}

fn alert_list(alerts: &[Arc<DataAlert>], keep: impl Fn(&DataAlert) -> bool) -> Value {
    Value::List(List::new(
        Kind::Any,
        alerts
            .iter()
            .filter(|a| keep(a))
            .map(|a| Value::object(AlertObject(a.clone())))
            .collect(),
    ))
}

/// `template.Alerts`: the alerts, with `.Firing` and `.Resolved`.
struct Alerts(Vec<Arc<DataAlert>>);

impl Object for Alerts {
    fn type_name(&self) -> &str {
        "template.Alerts"
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        Some(match name {
            "Firing" => no_args(args).map(|()| alert_list(&self.0, |a| a.status == "firing")),
            "Resolved" => no_args(args).map(|()| alert_list(&self.0, |a| a.status == "resolved")),
            JSON_METHOD => Ok(json_string(&self.0.iter().map(|a| &**a).collect::<Vec<&DataAlert>>())),
            _ => return None,
        })
    }

    fn underlying(&self) -> Option<Value> {
        Some(alert_list(&self.0, |_| true))
    }
}

/// `*template.Data`: what every notification template is executed with.
struct DataObject {
    data: Arc<Data>,
    alerts: Vec<Arc<DataAlert>>,
}

impl Object for DataObject {
    fn type_name(&self) -> &str {
        "*template.Data"
    }

    fn field(&self, name: &str) -> Option<Value> {
        let d = &self.data;
        Some(match name {
            "Receiver" => Value::from(d.receiver.as_str()),
            "Status" => Value::from(d.status),
            "Alerts" => Value::object(Alerts(self.alerts.clone())),
            "GroupLabels" => Kv::value(&d.group_labels),
            "CommonLabels" => Kv::value(&d.common_labels),
            "CommonAnnotations" => Kv::value(&d.common_annotations),
            "ExternalURL" => Value::from(d.external_url.as_str()),
            _ => return None,
        })
    }

    fn method(&self, name: &str, _args: &[Value]) -> Option<Result<Value, CallError>> {
        (name == JSON_METHOD).then(|| Ok(json_string(&*self.data)))
    }
}

/// The template value of `data`.
pub fn data_value(data: &Data) -> Value {
    Value::object(DataObject {
        alerts: data.alerts.iter().cloned().map(Arc::new).collect(),
        data: Arc::new(data.clone()),
    })
}

/// Go's `time.Time` in JSON (RFC 3339 with as many fractional digits as needed), for
/// `toJson` of a time.
pub(super) fn time_json(t: &GoTime) -> String {
    t.format("2006-01-02T15:04:05.999999999Z07:00")
}
