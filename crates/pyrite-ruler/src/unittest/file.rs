//! The unit-test file's YAML shape, read strictly: a field the format does not have is
//! refused with its line, and every scalar a string field takes (a number, a boolean) is
//! taken as its text. Durations are Prometheus's rule-file durations (`5m`, `1h30m`, `0`).

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// A unit-test file: the rule files under test and the tests.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UnitTestFile {
    #[serde(default, deserialize_with = "nullable")]
    pub rule_files: Vec<Text>,
    #[serde(default, deserialize_with = "nullable")]
    pub evaluation_interval: ModelDuration,
    #[serde(default, deserialize_with = "nullable")]
    pub group_eval_order: Vec<Text>,
    #[serde(default, deserialize_with = "nullable")]
    pub tests: Vec<TestGroup>,
}

/// Input series and the tests run over them.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestGroup {
    #[serde(default, deserialize_with = "nullable")]
    pub interval: ModelDuration,
    #[serde(default, deserialize_with = "nullable")]
    pub input_series: Vec<InputSeries>,
    #[serde(default, deserialize_with = "nullable")]
    pub alert_rule_test: Vec<AlertTestCase>,
    #[serde(default, deserialize_with = "nullable")]
    pub promql_expr_test: Vec<PromqlTestCase>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_labels: BTreeMap<String, Text>,
    #[serde(default, deserialize_with = "nullable")]
    pub external_url: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub name: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct InputSeries {
    #[serde(default, deserialize_with = "nullable")]
    pub series: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub values: Text,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AlertTestCase {
    #[serde(default, deserialize_with = "nullable")]
    pub eval_time: ModelDuration,
    #[serde(default, deserialize_with = "nullable")]
    pub alertname: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub exp_alerts: Vec<ExpectedAlert>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedAlert {
    #[serde(default, deserialize_with = "nullable")]
    pub exp_labels: BTreeMap<String, Text>,
    #[serde(default, deserialize_with = "nullable")]
    pub exp_annotations: BTreeMap<String, Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PromqlTestCase {
    #[serde(default, deserialize_with = "nullable")]
    pub expr: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub eval_time: ModelDuration,
    #[serde(default, deserialize_with = "nullable")]
    pub exp_samples: Vec<ExpectedSample>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExpectedSample {
    #[serde(default, deserialize_with = "nullable")]
    pub labels: Text,
    #[serde(default, deserialize_with = "nullable")]
    pub value: f64,
}

/// A field left empty (`exp_alerts:`) is its zero value, as in Prometheus's YAML.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// A string field: any scalar, as its text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Text(pub String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Text, D::Error> {
        struct Scalar;
        impl Visitor<'_> for Scalar {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Text, E> {
                Ok(Text(v.to_string()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text::default())
            }
        }
        d.deserialize_any(Scalar)
    }
}

/// A rule-file duration, in milliseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct ModelDuration(pub i64);

impl<'de> Deserialize<'de> for ModelDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ModelDuration, D::Error> {
        let Text(text) = Text::deserialize(d)?;
        pyrite_rules::parse_duration(&text)
            .map(ModelDuration)
            .map_err(de::Error::custom)
    }
}

impl fmt::Display for ModelDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&pyrite_rules::format_duration(self.0))
    }
}

/// Reads a unit-test file: an empty one has no tests. A field the format does not have
/// is refused as `yaml: unmarshal errors:` and the line it is on.
pub(crate) fn parse(text: &str) -> Result<UnitTestFile, String> {
    match serde_yaml::from_str::<Option<UnitTestFile>>(text) {
        Ok(file) => Ok(file.unwrap_or_default()),
        Err(e) => Err(yaml_message(&e)),
    }
}

fn yaml_message(e: &serde_yaml::Error) -> String {
    let full = e.to_string();
    // serde_yaml writes `path: message at line L column C`; the path goes, the line
    // is said as Prometheus's YAML decoder says it.
    let (path, message) = match full.split_once(": ") {
        Some((path, rest)) if is_path(path) => (path, rest),
        _ => ("", full.as_str()),
    };
    let message = message.rsplit_once(" at line ").map_or(message, |(m, _)| m);
    // A duration's own error is the whole message, as promtool prints it.
    if message.starts_with("not a valid duration string") || message.starts_with("empty duration string") {
        return message.to_string();
    }
    let line = e.location().map(|l| format!("line {}: ", l.line())).unwrap_or_default();
    let what = if let Some(field) = quoted_field(message, "unknown field `") {
        format!("field {field} not found in {}", where_in(path))
    } else if let Some(field) = quoted_field(message, "duplicate field `") {
        format!("field {field} already set in {}", where_in(path))
    } else {
        message.to_string()
    };
    format!("yaml: unmarshal errors:\n  {line}{what}")
}

/// Whether `s` is a serde path: `tests[0].alert_rule_test[1]`.
fn is_path(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}

/// The name after `prefix` up to the closing backquote.
fn quoted_field<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.split(prefix).nth(1)?;
    rest.split('`').next()
}

/// What part of the file a serde path (`tests[0].alert_rule_test[1]`) is.
fn where_in(path: &str) -> &'static str {
    let last = path.rsplit('.').next().unwrap_or(path);
    let last = last.split('[').next().unwrap_or(last);
    match last {
        "tests" => "a test group",
        "input_series" => "an input series",
        "alert_rule_test" => "an alert test case",
        "exp_alerts" => "an expected alert",
        "promql_expr_test" => "a PromQL test case",
        "exp_samples" => "an expected sample",
        _ => "the unit-test file",
    }
}
