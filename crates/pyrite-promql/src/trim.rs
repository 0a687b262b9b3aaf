//! The trim operators `</` (drop observations above) and `>/` (drop observations
//! below) on native histograms. The parser crate does not know them, so before parsing
//! they are rewritten to the comparison operators of the same precedence, `<` and `>`,
//! and afterwards the comparison nodes that stood for them are recognised by their
//! place: the n-th strict comparison in the text is the n-th one an in-order walk of
//! the tree meets.

use std::collections::HashMap;

use promql_parser::parser::{BinaryExpr, Expr};

use crate::QueryError;

/// Which trim a comparison node stands for, keyed by the node's address.
pub(crate) type TrimOps = HashMap<usize, Trim>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trim {
    /// `</`: keep what lies below the value.
    Upper,
    /// `>/`: keep what lies above the value.
    Lower,
}

pub(crate) fn key(b: &BinaryExpr) -> usize {
    b as *const BinaryExpr as usize
}

/// The query with `</` and `>/` turned into `<` and `>` (same length, so positions
/// hold), and for each strict comparison in text order whether it was a trim.
pub(crate) fn rewrite(q: &str) -> (String, Vec<Option<Trim>>) {
    let bytes = q.as_bytes();
    let mut out = bytes.to_vec();
    let mut ops = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            quote @ (b'"' | b'\'' | b'`') => {
                i += 1;
                while i < bytes.len() && bytes[i] != quote {
                    if bytes[i] == b'\\' && quote != b'`' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            c @ (b'<' | b'>') => match bytes.get(i + 1) {
                Some(b'=') => i += 1,
                Some(b'/') => {
                    ops.push(Some(if c == b'<' { Trim::Upper } else { Trim::Lower }));
                    out[i + 1] = b' ';
                    i += 1;
                }
                _ => ops.push(None),
            },
            _ => {}
        }
        i += 1;
    }
    // Only ASCII bytes were replaced by ASCII, so the text is still UTF-8.
    (String::from_utf8(out).unwrap_or_else(|_| q.to_string()), ops)
}

/// Finds the parsed comparison nodes the trims became.
pub(crate) fn mark(expr: &Expr, ops: &[Option<Trim>]) -> Result<TrimOps, QueryError> {
    let mut trims = TrimOps::new();
    if ops.iter().all(Option::is_none) {
        return Ok(trims);
    }
    let mut nodes = Vec::new();
    strict_comparisons(expr, &mut nodes);
    if nodes.len() != ops.len() {
        return Err(QueryError::BadData(
            "could not place the trim operators in the query".into(),
        ));
    }
    for (b, op) in nodes.into_iter().zip(ops) {
        if let Some(t) = op {
            if b.modifier.as_ref().is_some_and(|m| m.return_bool) {
                return Err(QueryError::BadData(
                    "bool modifier can only be used on comparison operators".into(),
                ));
            }
            trims.insert(key(b), *t);
        }
    }
    Ok(trims)
}

/// `<` and `>` nodes in the order their operators appear in the text.
fn strict_comparisons<'e>(e: &'e Expr, out: &mut Vec<&'e BinaryExpr>) {
    match e {
        Expr::Binary(b) => {
            strict_comparisons(&b.lhs, out);
            let op = b.op.to_string();
            if op == "<" || op == ">" {
                out.push(b);
            }
            strict_comparisons(&b.rhs, out);
        }
        Expr::Aggregate(a) => {
            if let Some(p) = &a.param {
                strict_comparisons(p, out);
            }
            strict_comparisons(&a.expr, out);
        }
        Expr::Unary(u) => strict_comparisons(&u.expr, out),
        Expr::Paren(p) => strict_comparisons(&p.expr, out),
        Expr::Subquery(s) => strict_comparisons(&s.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| strict_comparisons(a, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_are_found_outside_strings_and_comments() {
        let (q, ops) = rewrite(r#"a </ 1 > b{x="</"} >= c >/ d # </"#);
        assert_eq!(q, r#"a <  1 > b{x="</"} >= c >  d # </"#);
        assert_eq!(ops, [Some(Trim::Upper), None, Some(Trim::Lower)]);
    }

    #[test]
    fn parsed_nodes_are_matched_in_text_order() {
        let (q, ops) = rewrite("(a > 1) </ 2 and sum(b >/ c)");
        let expr = promql_parser::parser::parse(&q).unwrap();
        let trims = mark(&expr, &ops).unwrap();
        assert_eq!(trims.len(), 2);
        let mut nodes = Vec::new();
        strict_comparisons(&expr, &mut nodes);
        assert_eq!(trims.get(&key(nodes[0])), None);
        assert_eq!(trims.get(&key(nodes[1])), Some(&Trim::Upper));
        assert_eq!(trims.get(&key(nodes[2])), Some(&Trim::Lower));
    }
}
