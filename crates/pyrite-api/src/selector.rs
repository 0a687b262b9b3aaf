//! Series selectors of the `match[]` parameter, turned into matcher groups.

use promql_parser::parser::{self, Expr};
use pyrite_model::Matcher;

use crate::ApiError;

/// Parses a series selector (`up{job="x"}`, `{__name__=~"a.*"}`, `{a="b" or c="d"}`)
/// into groups of matchers: a series matches the selector when it matches every
/// matcher of any group.
pub fn parse_selector(s: &str) -> Result<Vec<Vec<Matcher>>, ApiError> {
    let bad = |msg: String| ApiError::bad_data(format!("invalid parameter \"match[]\": {msg}"));
    let expr = parser::parse(s).map_err(bad)?;
    let Expr::VectorSelector(vs) = expr else {
        return Err(bad(format!("{s:?} is not a series selector")));
    };
    pyrite_promql::selector_matchers(&vs).map_err(|e| bad(e.to_string()))
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors() {
        let g = parse_selector(r#"up{job="x"}"#).unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!(g[0].len(), 2);
        assert!(g[0].iter().any(|m| m.name == "__name__" && m.value == "up"));
        assert!(parse_selector("rate(up[5m])").is_err());
        assert!(parse_selector(r#"{a=~".*"}"#).is_err());
        assert!(parse_selector("up{").is_err());
    }
}
