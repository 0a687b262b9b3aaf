//! The parse tree: nodes for text, actions and control structures, pipelines, commands
//! and their operands, each printed back as Go prints its nodes (the `<…>` part of an
//! execution error), and Go's rules for reading numeric constants.
//!
//! Invariant: every position is a byte offset into the text of the tree that holds the
//! node, so a position and that text always give Go's `LINE:COL`.

use std::fmt;

use crate::quote::quote;

/// A node of a template's body.
pub(crate) enum Node {
    Text(String),
    Action { pos: usize, pipe: Pipe },
    If(Control),
    Range(Control),
    With(Control),
    Template(TemplateCall),
    Break,
    Continue,
}

/// `if`, `range` and `with`: a pipeline, a body and an optional `else` body.
pub(crate) struct Control {
    pub pipe: Pipe,
    pub list: Vec<Node>,
    pub else_list: Option<Vec<Node>>,
}

/// `{{template "name" pipeline}}`, also what a `{{block}}` leaves in place.
pub(crate) struct TemplateCall {
    pub pos: usize,
    pub name: String,
    pub pipe: Option<Pipe>,
}

/// A pipeline: optional variable declarations (or assignments) and commands joined by `|`.
pub(crate) struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

/// A command: an operand, or a function or method and its arguments.
pub(crate) struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

/// An operand of a command.
pub(crate) enum Arg {
    /// `.A.B`.
    Field {
        pos: usize,
        idents: Vec<String>,
    },
    /// `$x.A.B`; `idents[0]` is the variable, `$` included.
    Variable {
        pos: usize,
        idents: Vec<String>,
    },
    /// `(pipeline).A.B`.
    Chain {
        pos: usize,
        node: Box<Arg>,
        fields: Vec<String>,
    },
    /// A function name.
    Identifier {
        pos: usize,
        name: String,
    },
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, Number),
    /// A string constant: its source text and its value.
    String {
        pos: usize,
        quoted: String,
        text: String,
    },
    /// A parenthesised pipeline.
    Pipe(Box<Pipe>),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field { pos, .. }
            | Arg::Variable { pos, .. }
            | Arg::Chain { pos, .. }
            | Arg::Identifier { pos, .. }
            | Arg::Dot(pos)
            | Arg::Nil(pos)
            | Arg::Bool(pos, _)
            | Arg::Number(pos, _)
            | Arg::String { pos, .. } => *pos,
            Arg::Pipe(p) => p.pos,
        }
    }
}

/// A numeric constant, read as Go reads it: what it can be as an int or a float.
pub(crate) struct Number {
    pub text: String,
    pub int: Option<i64>,
    pub is_uint: bool,
    pub float: Option<f64>,
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            f.write_str(&self.decl.join(", "))?;
            f.write_str(if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            match a {
                Arg::Pipe(p) => write!(f, "({p})")?,
                _ => write!(f, "{a}")?,
            }
        }
        Ok(())
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field { idents, .. } => {
                for id in idents {
                    write!(f, ".{id}")?;
                }
                Ok(())
            }
            Arg::Variable { idents, .. } => f.write_str(&idents.join(".")),
            Arg::Chain { node, fields, .. } => {
                match node.as_ref() {
                    Arg::Pipe(p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                for field in fields {
                    write!(f, ".{field}")?;
                }
                Ok(())
            }
            Arg::Identifier { name, .. } => f.write_str(name),
            Arg::Dot(_) => f.write_str("."),
            Arg::Nil(_) => f.write_str("nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, n) => f.write_str(&n.text),
            Arg::String { quoted, .. } => f.write_str(quoted),
            Arg::Pipe(p) => write!(f, "{p}"),
        }
    }
}

impl fmt::Display for TemplateCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.pipe {
            Some(p) => write!(f, "{{{{template {} {p}}}}}", quote(&self.name, false)),
            None => write!(f, "{{{{template {}}}}}", quote(&self.name, false)),
        }
    }
}

/// Go's `underscoreOK`: underscores only between digits, or after a base prefix.
fn underscore_ok(s: &str) -> bool {
    let s = s.strip_prefix(['+', '-']).unwrap_or(s);
    let b = s.as_bytes();
    let mut saw = b'^';
    let mut i = 0;
    let mut hex = false;
    if b.len() >= 2 && b[0] == b'0' && matches!(b[1].to_ascii_lowercase(), b'b' | b'o' | b'x') {
        i = 2;
        saw = b'0';
        hex = b[1].eq_ignore_ascii_case(&b'x');
    }
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_digit() || (hex && c.is_ascii_hexdigit()) {
            saw = b'0';
        } else if c == b'_' {
            if saw != b'0' {
                return false;
            }
            saw = b'_';
        } else {
            if saw == b'_' {
                return false;
            }
            saw = b'!';
        }
        i += 1;
    }
    saw != b'_'
}

/// `strconv.ParseUint(s, 0, 64)`.
fn parse_uint(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let b = s.as_bytes();
    let (base, digits) = if b[0] == b'0' {
        match (b.len() >= 3, b.get(1).map(u8::to_ascii_lowercase)) {
            (true, Some(b'b')) => (2, &s[2..]),
            (true, Some(b'o')) => (8, &s[2..]),
            (true, Some(b'x')) => (16, &s[2..]),
            _ => (8, &s[1..]),
        }
    } else {
        (10, s)
    };
    let mut n: u64 = 0;
    let mut underscores = false;
    for c in digits.chars() {
        if c == '_' {
            underscores = true;
            continue;
        }
        let d = u64::from(c.to_digit(36)?);
        if d >= base {
            return None;
        }
        n = n.checked_mul(base)?.checked_add(d)?;
    }
    if underscores && !underscore_ok(s) {
        return None;
    }
    Some(n)
}

/// `strconv.ParseInt(s, 0, 64)`.
fn parse_int(s: &str) -> Option<i64> {
    let (neg, rest) = match s.as_bytes().first() {
        Some(b'+') => (false, &s[1..]),
        Some(b'-') => (true, &s[1..]),
        _ => (false, s),
    };
    let u = parse_uint(rest)?;
    if neg {
        if u > 1u64 << 63 {
            return None;
        }
        Some((u as i64).wrapping_neg())
    } else {
        i64::try_from(u).ok()
    }
}

/// `strconv.ParseFloat(s, 64)` for the forms the lexer produces; out of range is `None`.
fn parse_float(s: &str) -> Option<f64> {
    if s.contains('_') && !underscore_ok(s) {
        return None;
    }
    let clean: String = s.chars().filter(|&c| c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'+') => (false, &clean[1..]),
        Some(b'-') => (true, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let v = if body.len() > 2 && body[..2].eq_ignore_ascii_case("0x") {
        parse_hex_float(&body[2..])?
    } else {
        if !body.bytes().all(|c| c.is_ascii_digit() || b".eE+-".contains(&c)) {
            return None;
        }
        body.parse::<f64>().ok()?
    };
    if v.is_infinite() {
        return None;
    }
    Some(if neg { -v } else { v })
}

/// A hexadecimal mantissa with its mandatory binary exponent: `1.8p1`.
fn parse_hex_float(s: &str) -> Option<f64> {
    let (mant, exp) = s.split_once(['p', 'P'])?;
    let exp: i64 = exp.parse().ok()?;
    let (int, frac) = mant.split_once('.').unwrap_or((mant, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut m: u64 = 0;
    let mut e = exp;
    for (i, c) in int.chars().chain(frac.chars()).enumerate() {
        let d = u64::from(c.to_digit(16)?);
        if m >> 56 == 0 {
            m = m * 16 + d;
            if i >= int.len() {
                e -= 4;
            }
        } else if i < int.len() {
            e += 4;
        }
    }
    let e = i32::try_from(e.clamp(-2000, 2000)).ok()?;
    Some(m as f64 * 2f64.powi(e))
}

impl Number {
    /// Reads a numeric or character constant as Go's parser does (`newNumber`).
    pub fn parse(text: &str, is_char: bool, is_complex: bool) -> Result<Number, String> {
        if is_char {
            return match crate::quote::unquote_char_constant(text) {
                Ok(r) => Ok(Number {
                    text: text.to_string(),
                    int: Some(i64::from(r)),
                    is_uint: true,
                    float: Some(f64::from(r)),
                }),
                Err(crate::quote::CharError::Malformed) => Err(format!("malformed character constant: {text}")),
                Err(crate::quote::CharError::Syntax) => Err("invalid syntax".to_string()),
            };
        }
        if is_complex || text.ends_with('i') {
            return Err(format!("complex constants are not supported: {}", quote(text, false)));
        }
        let mut n = Number {
            text: text.to_string(),
            int: None,
            is_uint: false,
            float: None,
        };
        let u = parse_uint(text);
        n.is_uint = u.is_some();
        n.int = parse_int(text);
        if n.int == Some(0) {
            n.is_uint = true;
        }
        if let Some(i) = n.int {
            n.float = Some(i as f64);
        } else if let Some(u) = u {
            n.float = Some(u as f64);
        } else if let Some(f) = parse_float(text) {
            if !text.contains(['.', 'e', 'E', 'p', 'P']) {
                return Err(format!("integer overflow: {}", quote(text, false)));
            }
            n.float = Some(f);
            if f.fract() == 0.0 && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                n.int = Some(f as i64);
            }
            if f.fract() == 0.0 && (0.0..1.844_674_407_370_955_2e19).contains(&f) {
                n.is_uint = true;
            }
        }
        if n.int.is_none() && !n.is_uint && n.float.is_none() {
            return Err(format!("illegal number syntax: {}", quote(text, false)));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_like_go() {
        let n = |s: &str| Number::parse(s, false, false);
        assert_eq!(n("0x1F").ok().and_then(|n| n.int), Some(31));
        assert_eq!(n("0o17").ok().and_then(|n| n.int), Some(15));
        assert_eq!(n("017").ok().and_then(|n| n.int), Some(15));
        assert_eq!(n("0b101").ok().and_then(|n| n.int), Some(5));
        assert_eq!(n("1_000").ok().and_then(|n| n.int), Some(1000));
        assert_eq!(n("-7").ok().and_then(|n| n.int), Some(-7));
        assert_eq!(n("1e3").ok().and_then(|n| n.int), Some(1000));
        assert_eq!(n("0x1p4").ok().and_then(|n| n.float), Some(16.0));
        assert_eq!(n("1.5").ok().and_then(|n| n.float), Some(1.5));
        assert!(n("1.5").ok().is_some_and(|n| n.int.is_none()));
        assert_eq!(n("089").err().as_deref(), Some("integer overflow: \"089\""));
        assert_eq!(
            n("99999999999999999999").err().as_deref(),
            Some("integer overflow: \"99999999999999999999\"")
        );
        assert_eq!(n("1__0").err().as_deref(), Some("illegal number syntax: \"1__0\""));
        assert_eq!(n("1e400").err().as_deref(), Some("illegal number syntax: \"1e400\""));
        assert!(n("18446744073709551615").is_ok_and(|n| n.is_uint && n.int.is_none()));
    }
}
