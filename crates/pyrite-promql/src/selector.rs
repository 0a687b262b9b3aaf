//! Selectors: turning the parser's vector selectors into Pyrite matchers, and reading
//! the samples an instant selector sees at an evaluation time.
//!
//! Semantics are Prometheus 3's: an instant selector at `t` takes the newest sample in
//! the left-open window `(t - lookback, t]` unless that sample is a staleness marker.

use promql_parser::label::MatchOp as PMatchOp;
use promql_parser::parser::VectorSelector;
use pyrite_model::{is_stale_nan, MatchOp, Matcher, METRIC_NAME};

use crate::QueryError;

/// Matcher groups of a selector: a series matches when it satisfies every matcher of
/// any group (`{a="b" or c="d"}` has two groups).
pub fn selector_matchers(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let groups = matcher_groups(vs)?;
    if groups.iter().any(|g| g.iter().all(Matcher::matches_empty)) {
        return Err(QueryError::BadData(
            "vector selector must contain at least one non-empty matcher".into(),
        ));
    }
    Ok(groups)
}

/// The selector's matcher groups as written, without the non-empty check (for
/// arguments that are label filters rather than selections, as in `info()`).
pub(crate) fn matcher_groups(vs: &VectorSelector) -> Result<Vec<Vec<Matcher>>, QueryError> {
    let groups: Vec<&Vec<promql_parser::label::Matcher>> = if vs.matchers.or_matchers.is_empty() {
        vec![&vs.matchers.matchers]
    } else {
        vs.matchers.or_matchers.iter().collect()
    };
    let mut out = Vec::with_capacity(groups.len());
    for group in groups {
        let mut ms = Vec::with_capacity(group.len() + 1);
        if let Some(name) = &vs.name {
            ms.push(Matcher::equal(METRIC_NAME, name.clone()));
        }
        for m in group {
            let op = match m.op {
                PMatchOp::Equal => MatchOp::Equal,
                PMatchOp::NotEqual => MatchOp::NotEqual,
                PMatchOp::Re(_) => MatchOp::Regex,
                PMatchOp::NotRe(_) => MatchOp::NotRegex,
            };
            ms.push(Matcher::new(op, m.name.clone(), m.value.clone()).map_err(|e| QueryError::BadData(e.to_string()))?);
        }
        out.push(ms);
    }
    Ok(out)
}

/// For each evaluation time (ascending), the newest non-stale sample in
/// `(t - lookback, t]`, if any. `samples` are in time order.
pub(crate) fn instant_values(samples: &[(i64, f64)], times: &[i64], lookback: i64) -> Vec<Option<(i64, f64)>> {
    let mut out = Vec::with_capacity(times.len());
    let mut i = 0; // first sample after the current time
    for &t in times {
        while i < samples.len() && samples[i].0 <= t {
            i += 1;
        }
        let v = i
            .checked_sub(1)
            .map(|j| samples[j])
            .filter(|(st, v)| *st > t - lookback && !is_stale_nan(*v));
        out.push(v);
    }
    out
}

#[cfg(test)]
mod tests {
    use pyrite_model::STALE_NAN;

    use super::*;

    #[test]
    fn lookback_is_left_open_and_respects_staleness() {
        let s = [(10, 1.0), (20, 2.0), (30, STALE_NAN), (50, 5.0)];
        let got = instant_values(&s, &[5, 10, 25, 30, 40, 50, 60, 70], 20);
        assert_eq!(
            got,
            [
                None,
                Some((10, 1.0)),
                Some((20, 2.0)),
                None,
                None,
                Some((50, 5.0)),
                Some((50, 5.0)),
                None
            ]
        );
    }
}
