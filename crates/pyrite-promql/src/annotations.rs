//! Warnings and infos a query returns beside its result, deduplicated as Prometheus does.

#[derive(Debug, Default, Clone)]
pub(crate) struct Annotations {
    pub warnings: Vec<String>,
    pub infos: Vec<String>,
}

impl Annotations {
    /// Adds a warning about the expression at `pos` (see [`position`]).
    pub fn warn(&mut self, msg: impl Into<String>, pos: &str) {
        let msg = format!("PromQL warning: {} ({pos})", msg.into());
        if !self.warnings.contains(&msg) {
            self.warnings.push(msg);
        }
    }

    /// Adds an info about the expression at `pos`.
    pub fn info(&mut self, msg: impl Into<String>, pos: &str) {
        let msg = format!("PromQL info: {} ({pos})", msg.into());
        if !self.infos.contains(&msg) {
            self.infos.push(msg);
        }
    }

    pub fn merge(&mut self, other: Annotations) {
        for w in other.warnings {
            if !self.warnings.contains(&w) {
                self.warnings.push(w);
            }
        }
        for i in other.infos {
            if !self.infos.contains(&i) {
                self.infos.push(i);
            }
        }
    }
}

/// Formats a float the way Go's `%g` does for the common cases annotations print.
pub(crate) fn fmt_g(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else {
        let s = format!("{v}");
        let abs = v.abs();
        if abs != 0.0 && !(1e-4..1e21).contains(&abs) {
            format!("{v:e}").replace('e', "e+").replace("e+-", "e-")
        } else {
            s
        }
    }
}

/// Where `e` starts in `query`, as `line:column` (1-based), the way Prometheus ends
/// annotation messages. The parser keeps no positions, so the node is found in the
/// text by its leading token.
pub(crate) fn position(query: &str, e: &promql_parser::parser::Expr) -> String {
    use promql_parser::parser::Expr;
    let needle: String = match e {
        Expr::VectorSelector(vs) => vs.name.clone().unwrap_or_else(|| "{".into()),
        Expr::MatrixSelector(ms) => ms.vs.name.clone().unwrap_or_else(|| "{".into()),
        Expr::Call(c) => c.func.name.to_string(),
        Expr::Aggregate(a) => a.op.to_string(),
        Expr::NumberLiteral(n) => n.to_string(),
        Expr::StringLiteral(s) => s.val.clone(),
        Expr::Paren(_) => "(".into(),
        Expr::Binary(b) => return position(query, &b.lhs),
        Expr::Subquery(s) => return position(query, &s.expr),
        Expr::Unary(_) => "-".into(),
        Expr::Extension(_) => String::new(),
    };
    let offset = find_token(query, &needle).unwrap_or(0);
    let line = query[..offset].matches('\n').count() + 1;
    let col = offset - query[..offset].rfind('\n').map_or(0, |i| i + 1) + 1;
    format!("{line}:{col}")
}

fn find_token(query: &str, needle: &str) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    let is_ident = |c: char| c.is_alphanumeric() || c == '_' || c == ':';
    let word = needle.chars().all(is_ident);
    let mut from = 0;
    while let Some(i) = query[from..].find(needle) {
        let at = from + i;
        let before_ok = !word || query[..at].chars().next_back().is_none_or(|c| !is_ident(c));
        let after_ok = !word || query[at + needle.len()..].chars().next().is_none_or(|c| !is_ident(c));
        if before_ok && after_ok {
            return Some(at);
        }
        from = at + needle.len();
    }
    None
}
