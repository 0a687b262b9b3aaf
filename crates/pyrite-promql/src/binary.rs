//! Binary operators: arithmetic, comparison (filtering or `bool`), `atan2`, and the set
//! operators, between scalars and vectors, with `on`/`ignoring` and
//! `group_left`/`group_right` vector matching.

use std::collections::HashMap;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{BinaryExpr, LabelModifier, VectorMatchCardinality};
use pyrite_model::{FloatHistogram, Labels, LabelsBuilder, METRIC_NAME};

use crate::annotations::Annotations;
use crate::eval::{Evaluator, StepArgs};
use crate::value::{drop_metadata, Matrix, Sample, Vector, H};
use crate::QueryError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Atan2,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
    /// `</`: a histogram without its observations above the value.
    TrimUpper,
    /// `>/`: a histogram without its observations below the value.
    TrimLower,
}

impl Op {
    fn parse(s: &str) -> Result<Op, QueryError> {
        Ok(match s {
            "+" => Op::Add,
            "-" => Op::Sub,
            "*" => Op::Mul,
            "/" => Op::Div,
            "%" => Op::Mod,
            "^" => Op::Pow,
            "atan2" => Op::Atan2,
            "==" => Op::Eq,
            "!=" => Op::Ne,
            ">" => Op::Gt,
            "<" => Op::Lt,
            ">=" => Op::Ge,
            "<=" => Op::Le,
            "and" => Op::And,
            "or" => Op::Or,
            "unless" => Op::Unless,
            other => return Err(QueryError::BadData(format!("unsupported binary operator {other}"))),
        })
    }

    fn symbol(self) -> &'static str {
        match self {
            Op::Add => "+",
            Op::Sub => "-",
            Op::Mul => "*",
            Op::Div => "/",
            Op::Mod => "%",
            Op::Pow => "^",
            Op::Atan2 => "atan2",
            Op::Eq => "==",
            Op::Ne => "!=",
            Op::Gt => ">",
            Op::Lt => "<",
            Op::Ge => ">=",
            Op::Le => "<=",
            Op::And => "and",
            Op::Or => "or",
            Op::Unless => "unless",
            Op::TrimUpper => "</",
            Op::TrimLower => ">/",
        }
    }

    fn is_trim(self) -> bool {
        matches!(self, Op::TrimUpper | Op::TrimLower)
    }

    fn is_comparison(self) -> bool {
        matches!(self, Op::Eq | Op::Ne | Op::Gt | Op::Lt | Op::Ge | Op::Le)
    }

    /// Arithmetic changes what the value means, so the metric name goes.
    fn changes_schema(self) -> bool {
        matches!(
            self,
            Op::Add | Op::Sub | Op::Mul | Op::Div | Op::Mod | Op::Pow | Op::Atan2
        )
    }
}

/// Applies `op`; for comparisons returns the left value and whether it compares true.
fn apply(op: Op, l: f64, r: f64) -> (f64, bool) {
    match op {
        Op::Add => (l + r, true),
        Op::Sub => (l - r, true),
        Op::Mul => (l * r, true),
        Op::Div => (l / r, true),
        Op::Mod => (go_mod(l, r), true),
        Op::Pow => (go_pow(l, r), true),
        Op::Atan2 => (l.atan2(r), true),
        Op::Eq => (l, l == r),
        Op::Ne => (l, l != r),
        Op::Gt => (l, l > r),
        Op::Lt => (l, l < r),
        Op::Ge => (l, l >= r),
        Op::Le => (l, l <= r),
        // Trims only apply to histograms; `elem` refuses floats before this.
        Op::And | Op::Or | Op::Unless | Op::TrimUpper | Op::TrimLower => (l, true),
    }
}

/// Go's `math.Mod`: the result has the sign of `x`.
fn go_mod(x: f64, y: f64) -> f64 {
    x % y
}

/// Go's `math.Pow`; its special cases agree with C's `pow`.
fn go_pow(x: f64, y: f64) -> f64 {
    x.powf(y)
}

/// The outcome of an operator on two elements, when either may be a histogram.
struct Elem {
    f: f64,
    h: Option<H>,
    keep: bool,
    /// An info to report while keeping the result (bucket bounds were reconciled).
    info: Option<String>,
}

/// Why an element operation yields nothing.
enum Refused {
    /// The operand types do not go together (an info).
    Types(String),
    /// The histograms cannot be combined, or their counter-reset hints collide (a warning).
    Warn(String),
}

fn elem(op: Op, lf: f64, rf: f64, lh: Option<&H>, rh: Option<&H>) -> Result<Elem, Refused> {
    let kind = |h: Option<&H>| if h.is_some() { "histogram" } else { "float" };
    let refuse = || {
        Refused::Types(format!(
            "incompatible sample types encountered for binary operator {:?}: {} {} {}",
            op.symbol(),
            kind(lh),
            op.symbol(),
            kind(rh)
        ))
    };
    let scaled = |h: &H, f: f64, div: bool| {
        let mut h = FloatHistogram::clone(h);
        if div {
            h.div(f);
        } else {
            h.mul(f);
        }
        h.compact();
        Elem {
            f: 0.0,
            h: Some(std::sync::Arc::new(h)),
            keep: true,
            info: None,
        }
    };
    let trim = match op {
        Op::TrimUpper => Some(true),
        Op::TrimLower => Some(false),
        _ => None,
    };
    match (lh, rh) {
        (Some(h), None) if trim.is_some() => {
            let mut h = FloatHistogram::clone(h);
            h.trim(rf, trim == Some(true));
            Ok(Elem {
                f: 0.0,
                h: Some(std::sync::Arc::new(h)),
                keep: true,
                info: None,
            })
        }
        _ if trim.is_some() => Err(refuse()),
        (None, None) => {
            let (f, keep) = apply(op, lf, rf);
            Ok(Elem {
                f,
                h: None,
                keep,
                info: None,
            })
        }
        (None, Some(h)) if op == Op::Mul => Ok(scaled(h, lf, false)),
        (Some(h), None) if op == Op::Mul => Ok(scaled(h, rf, false)),
        (Some(h), None) if op == Op::Div => Ok(scaled(h, rf, true)),
        (Some(l), Some(r)) => match op {
            Op::Add | Op::Sub => {
                let mut h = FloatHistogram::clone(l);
                let (res, what) = if op == Op::Add {
                    (h.add(r), "addition")
                } else {
                    (h.sub(r), "subtraction")
                };
                let c = res.map_err(|_| {
                    Refused::Warn(format!(
                        "incompatible bucket layout encountered for binary operator {}",
                        op.symbol()
                    ))
                })?;
                if c.reset_collision {
                    return Err(Refused::Warn(format!(
                        "conflicting counter resets during histogram {what}"
                    )));
                }
                h.compact();
                Ok(Elem {
                    f: 0.0,
                    h: Some(std::sync::Arc::new(h)),
                    keep: true,
                    info: c
                        .reconciled
                        .then(|| format!("mismatched custom buckets were reconciled during {what}")),
                })
            }
            Op::Eq | Op::Ne => Ok(Elem {
                f: 0.0,
                h: Some(l.clone()),
                keep: l.equals(r) == (op == Op::Eq),
                info: None,
            }),
            _ => Err(refuse()),
        },
        _ => Err(refuse()),
    }
}

fn btof(b: bool) -> f64 {
    if b {
        1.0
    } else {
        0.0
    }
}

struct Matching {
    card: Card,
    on: bool,
    labels: Vec<String>,
    include: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Card {
    OneToOne,
    ManyToOne,
    OneToMany,
    ManyToMany,
}

fn matching_of(b: &BinaryExpr, op: Op) -> Matching {
    let (mut card, mut include) = (Card::OneToOne, Vec::new());
    let (mut on, mut labels) = (false, Vec::new());
    if let Some(m) = &b.modifier {
        match &m.card {
            VectorMatchCardinality::OneToOne => {}
            VectorMatchCardinality::ManyToOne(l) => {
                card = Card::ManyToOne;
                include = l.labels.clone();
            }
            VectorMatchCardinality::OneToMany(l) => {
                card = Card::OneToMany;
                include = l.labels.clone();
            }
            VectorMatchCardinality::ManyToMany => card = Card::ManyToMany,
        }
        match &m.matching {
            Some(LabelModifier::Include(l)) => {
                on = true;
                labels = l.labels.clone();
            }
            Some(LabelModifier::Exclude(l)) => labels = l.labels.clone(),
            None => {}
        }
    }
    if matches!(op, Op::And | Op::Or | Op::Unless) {
        card = Card::ManyToMany;
    }
    Matching {
        card,
        on,
        labels,
        include,
    }
}

fn signature(m: &Matching, l: &Labels) -> Labels {
    if m.on {
        l.keep_only(&m.labels)
    } else {
        let mut without: Vec<&str> = m.labels.iter().map(String::as_str).collect();
        without.push(METRIC_NAME);
        l.without(&without)
    }
}

pub(crate) fn eval_binary(ev: &mut Evaluator<'_>, b: &BinaryExpr) -> Result<Matrix, QueryError> {
    let op = match ev.q.trims.get(&crate::trim::key(b)) {
        Some(crate::trim::Trim::Upper) => Op::TrimUpper,
        Some(crate::trim::Trim::Lower) => Op::TrimLower,
        None => Op::parse(&b.op.to_string())?,
    };
    let return_bool = b.modifier.as_ref().is_some_and(|m| m.return_bool);
    let (lt, rt) = (b.lhs.value_type(), b.rhs.value_type());
    match (lt, rt) {
        (ValueType::Scalar, ValueType::Scalar) => ev.range_eval(&[&b.lhs, &b.rhs], None, |s, _| {
            let (l, r) = (s.vectors[0][0].f, s.vectors[1][0].f);
            let (v, keep) = apply(op, l, r);
            let v = if op.is_comparison() { btof(keep) } else { v };
            Ok(vec![Sample::scalar(s.ts, v)])
        }),
        (ValueType::Vector, ValueType::Vector) => {
            let m = matching_of(b, op);
            let sigf = |l: &Labels| signature(&m, l);
            let pos = ev.pos(&promql_parser::parser::Expr::Binary(b.clone()));
            ev.range_eval(&[&b.lhs, &b.rhs], Some(&sigf), |s, annos| match op {
                Op::And => Ok(vector_and(s)),
                Op::Or => Ok(vector_or(s)),
                Op::Unless => Ok(vector_unless(s)),
                _ => vector_binop(op, s, &m, return_bool, annos, &pos),
            })
        }
        (ValueType::Vector, ValueType::Scalar) => {
            let pos = ev.pos(&promql_parser::parser::Expr::Binary(b.clone()));
            ev.range_eval(&[&b.lhs, &b.rhs], None, |s, annos| {
                let r = s.vectors[1][0].f;
                let lhs = std::mem::take(&mut s.vectors[0]);
                Ok(vector_scalar(op, lhs, r, false, return_bool, annos, &pos))
            })
        }
        (ValueType::Scalar, ValueType::Vector) => {
            let pos = ev.pos(&promql_parser::parser::Expr::Binary(b.clone()));
            ev.range_eval(&[&b.lhs, &b.rhs], None, |s, annos| {
                let l = s.vectors[0][0].f;
                let rhs = std::mem::take(&mut s.vectors[1]);
                Ok(vector_scalar(op, rhs, l, true, return_bool, annos, &pos))
            })
        }
        _ => Err(QueryError::BadData(format!(
            "binary operator {} is not defined between these operand types",
            b.op
        ))),
    }
}

fn vector_scalar(
    op: Op,
    vec: Vector,
    scalar: f64,
    swap: bool,
    return_bool: bool,
    annos: &mut Annotations,
    pos: &str,
) -> Vector {
    let mut out = Vec::with_capacity(vec.len());
    for mut s in vec {
        let (l, r) = if swap { (scalar, s.f) } else { (s.f, scalar) };
        let (mut v, mut keep, mut h) = if s.h.is_none() && !op.is_trim() {
            let (v, keep) = apply(op, l, r);
            (v, keep, None)
        } else {
            let (lh, rh) = if swap {
                (None, s.h.as_ref())
            } else {
                (s.h.as_ref(), None)
            };
            match elem(op, l, r, lh, rh) {
                Ok(e) => (e.f, e.keep, e.h),
                Err(Refused::Types(msg)) => {
                    annos.info(msg, pos);
                    continue;
                }
                Err(Refused::Warn(msg)) => {
                    annos.warn(msg, pos);
                    continue;
                }
            }
        };
        if op.is_comparison() && swap {
            v = r;
            h = s.h.clone();
        }
        if return_bool {
            v = btof(keep);
            keep = true;
        }
        if keep {
            s.f = v;
            s.h = h;
            if op.changes_schema() || return_bool {
                s.drop_name = true;
            }
            out.push(s);
        }
    }
    out
}

fn vector_and(s: &mut StepArgs) -> Vector {
    let (lhs, rhs) = (&s.vectors[0], &s.vectors[1]);
    if lhs.is_empty() || rhs.is_empty() {
        return Vec::new();
    }
    let right: std::collections::HashSet<usize> = s.sigs[1].iter().copied().collect();
    lhs.iter()
        .zip(&s.sigs[0])
        .filter(|(_, sig)| right.contains(sig))
        .map(|(x, _)| x.clone())
        .collect()
}

fn vector_or(s: &mut StepArgs) -> Vector {
    let left: std::collections::HashSet<usize> = s.sigs[0].iter().copied().collect();
    let mut out = std::mem::take(&mut s.vectors[0]);
    for (x, sig) in s.vectors[1].iter().zip(&s.sigs[1]) {
        if !left.contains(sig) {
            out.push(x.clone());
        }
    }
    out
}

fn vector_unless(s: &mut StepArgs) -> Vector {
    let right: std::collections::HashSet<usize> = s.sigs[1].iter().copied().collect();
    let lhs = std::mem::take(&mut s.vectors[0]);
    lhs.into_iter()
        .zip(&s.sigs[0])
        .filter(|(_, sig)| !right.contains(sig))
        .map(|(x, _)| x)
        .collect()
}

fn vector_binop(
    op: Op,
    s: &mut StepArgs,
    m: &Matching,
    return_bool: bool,
    annos: &mut Annotations,
    pos: &str,
) -> Result<Vector, QueryError> {
    let (mut lhs, mut rhs) = (std::mem::take(&mut s.vectors[0]), std::mem::take(&mut s.vectors[1]));
    let (mut lsig, mut rsig) = (std::mem::take(&mut s.sigs[0]), std::mem::take(&mut s.sigs[1]));
    if lhs.is_empty() || rhs.is_empty() {
        return Ok(Vec::new());
    }
    if m.card == Card::OneToMany {
        std::mem::swap(&mut lhs, &mut rhs);
        std::mem::swap(&mut lsig, &mut rsig);
    }
    // The "one" side, by signature.
    let mut right: HashMap<usize, usize> = HashMap::with_capacity(rhs.len());
    for (i, sig) in rsig.iter().enumerate() {
        if let Some(&j) = right.get(sig) {
            let one_side = if m.card == Card::OneToMany { "left" } else { "right" };
            let matched = if m.on {
                rhs[i].metric.keep_only(&m.labels)
            } else {
                rhs[i].metric.without(&m.labels)
            };
            let (mut d1, mut d2) = (braces(&rhs[i].metric), braces(&rhs[j].metric));
            if d1 > d2 {
                std::mem::swap(&mut d1, &mut d2);
            }
            return Err(QueryError::Execution(format!(
                "found duplicate series for the match group {} on the {one_side} hand-side of the operation: [{d1}, {d2}];many-to-many matching not allowed: matching labels must be unique on one side",
                braces(&matched)
            )));
        }
        right.insert(*sig, i);
    }
    let mut matched_one: std::collections::HashSet<usize> = std::collections::HashSet::new();
    let mut matched_many: HashMap<usize, std::collections::HashSet<Labels>> = HashMap::new();
    let mut out = Vec::new();
    for (ls, sig) in lhs.iter().zip(&lsig) {
        let Some(&ri) = right.get(sig) else { continue };
        let rs = &rhs[ri];
        let (mut fl, mut fr) = (ls.f, rs.f);
        let (mut hl, mut hr) = (ls.h.as_ref(), rs.h.as_ref());
        if m.card == Card::OneToMany {
            std::mem::swap(&mut fl, &mut fr);
            std::mem::swap(&mut hl, &mut hr);
        }
        let (mut v, keep, mut h) = if hl.is_none() && hr.is_none() && !op.is_trim() {
            let (v, keep) = apply(op, fl, fr);
            (v, keep, None)
        } else {
            match elem(op, fl, fr, hl, hr) {
                Ok(e) => {
                    if let Some(info) = e.info {
                        annos.info(info, pos);
                    }
                    (e.f, e.keep, e.h)
                }
                Err(Refused::Types(msg)) => {
                    annos.info(msg, pos);
                    continue;
                }
                Err(Refused::Warn(msg)) => {
                    annos.warn(msg, pos);
                    continue;
                }
            }
        };
        if return_bool {
            v = btof(keep);
            h = None;
        }
        let metric = result_metric(&ls.metric, &rs.metric, op, m);
        if m.card == Card::OneToOne {
            if !matched_one.insert(*sig) {
                return Err(QueryError::Execution(
                    "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                        .into(),
                ));
            }
        } else if !matched_many.entry(*sig).or_default().insert(metric.clone()) {
            return Err(QueryError::Execution(
                "multiple matches for labels: grouping labels must ensure unique matches".into(),
            ));
        }
        if !keep && !return_bool {
            continue;
        }
        out.push(Sample {
            metric,
            t: s.ts,
            f: v,
            h,
            drop_name: return_bool,
        });
    }
    Ok(out)
}

fn result_metric(lhs: &Labels, rhs: &Labels, op: Op, m: &Matching) -> Labels {
    let base = if op.changes_schema() {
        drop_metadata(lhs)
    } else {
        lhs.clone()
    };
    if m.card == Card::OneToOne {
        let kept = if m.on {
            base.keep_only(&m.labels)
        } else {
            base.without(&m.labels)
        };
        if m.include.is_empty() {
            return kept;
        }
        return include_labels(kept, rhs, &m.include);
    }
    if m.include.is_empty() {
        return base;
    }
    include_labels(base, rhs, &m.include)
}

fn include_labels(base: Labels, one_side: &Labels, include: &[String]) -> Labels {
    let mut b: LabelsBuilder = base.to_builder();
    for name in include {
        let v = one_side.get(name);
        if v.is_empty() {
            b.del(name);
        } else {
            b.set(name, v);
        }
    }
    b.build()
}

/// Labels printed as Prometheus 3 prints them in errors: `{__name__="x", a="b"}`.
fn braces(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|l| format!("{}={:?}", l.name, l.value)).collect();
    format!("{{{}}}", parts.join(", "))
}
