//! What a test compares — alerts as label and annotation sets, samples as labels and a
//! value — and how a mismatch is printed: label sets as `{name="value", …}` with Go's
//! quoting, values as Go's `%E` (`1E+00`), alert lists numbered and indented, as
//! promtool prints them.

use pyrite_template::go_quote;

/// A label set (or annotations), sorted by name.
pub(crate) type Pairs = Vec<(String, String)>;

/// `{a="b", c="d"}`, the empty set `{}`.
pub(crate) fn pairs_string(pairs: &Pairs) -> String {
    let inner: Vec<String> = pairs.iter().map(|(n, v)| format!("{n}={}", go_quote(v))).collect();
    format!("{{{}}}", inner.join(", "))
}

/// One alert: its labels (`alertname` included) and annotations.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct AlertSet {
    pub labels: Pairs,
    pub annotations: Pairs,
}

/// Alerts sorted by labels, then annotations, printed as promtool prints them.
pub(crate) fn alerts_string(alerts: &[AlertSet]) -> String {
    if alerts.is_empty() {
        return "[]".to_string();
    }
    let mut out = String::from("[");
    for (i, a) in alerts.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        let one = format!(
            "\nLabels:{}\nAnnotations:{}",
            pairs_string(&a.labels),
            pairs_string(&a.annotations)
        );
        out.push_str(&format!("\n{i}:{}", indent(&one, "  ")));
    }
    out.push_str("\n]");
    out
}

/// Every line after the first prefixed with `prefix`.
pub(crate) fn indent(text: &str, prefix: &str) -> String {
    text.split('\n').collect::<Vec<_>>().join(&format!("\n{prefix}"))
}

/// One sample of an expression's result, or one expected.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct SampleSet {
    pub labels: Pairs,
    pub value: f64,
}

/// `nil`, or the samples as `{labels} 1E+00`, comma-separated.
pub(crate) fn samples_string(samples: &[SampleSet]) -> String {
    if samples.is_empty() {
        return "nil".to_string();
    }
    let all: Vec<String> = samples
        .iter()
        .map(|s| format!("{} {}", pairs_string(&s.labels), go_float_e(s.value)))
        .collect();
    all.join(", ")
}

/// Whether two sorted sample lists are the same; a NaN equals nothing, not even NaN.
pub(crate) fn same_samples(a: &[SampleSet], b: &[SampleSet]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.labels == y.labels && x.value == y.value)
}

/// A float as Go's `strconv.FormatFloat(v, 'E', -1, 64)`: the fewest digits that read
/// back as `v`, and a signed exponent of at least two digits.
pub(crate) fn go_float_e(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let text = format!("{v:E}");
    let (mantissa, exponent) = text.split_once('E').unwrap_or((&text, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let sign = if exponent < 0 { '-' } else { '+' };
    format!("{mantissa}E{sign}{:02}", exponent.abs())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(p: &[(&str, &str)]) -> Pairs {
        p.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect()
    }

    #[test]
    fn floats_print_as_go_prints_them_with_e() {
        let printed: Vec<String> = [
            1.0,
            0.0,
            25.0,
            0.0015,
            -3.5e21,
            f64::NAN,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ]
        .into_iter()
        .map(go_float_e)
        .collect();
        assert_eq!(
            printed,
            ["1E+00", "0E+00", "2.5E+01", "1.5E-03", "-3.5E+21", "NaN", "+Inf", "-Inf"]
        );
    }

    #[test]
    fn alert_lists_are_numbered_and_indented() {
        let a = AlertSet {
            labels: pairs(&[("alertname", "Down"), ("job", "a\"b")]),
            annotations: pairs(&[("summary", "x")]),
        };
        assert_eq!(alerts_string(&[]), "[]");
        assert_eq!(
            alerts_string(&[a.clone(), a]),
            "[\n0:\n  Labels:{alertname=\"Down\", job=\"a\\\"b\"}\n  Annotations:{summary=\"x\"},\n1:\n  Labels:{alertname=\"Down\", job=\"a\\\"b\"}\n  Annotations:{summary=\"x\"}\n]"
        );
    }

    #[test]
    fn nan_matches_nothing() {
        let s = SampleSet {
            labels: Pairs::new(),
            value: f64::NAN,
        };
        assert!(!same_samples(std::slice::from_ref(&s), std::slice::from_ref(&s)));
        assert_eq!(samples_string(&[]), "nil");
        assert_eq!(samples_string(&[s]), "{} NaN");
    }
}
