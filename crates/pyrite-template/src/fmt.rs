//! Go's `fmt` printing of template values: `Sprint`, `Sprintln` and `Sprintf` with the
//! verbs `v s q d b o O x X c U e E f F g G t T %`, the flags `+ - # 0 space`, width and
//! precision (also from `*` arguments), explicit argument indexes `%[n]d`, and Go's
//! in-band complaints (`%!d(string=x)`, `%!v(MISSING)`, `%!(EXTRA int=1)`, `%!(NOVERB)`,
//! `%!(BADWIDTH)`, `%!(BADPREC)`, `%!d(BADINDEX)`).
//!
//! Invariant: formatting never fails and never panics; whatever the format and arguments,
//! the result is the text Go would print (Go-syntax `%#v` is an approximation).

use crate::float;
use crate::quote::{can_backquote, quote, quote_rune};
use crate::value::Value;

#[derive(Clone, Copy, Default)]
struct Flags {
    wid: Option<usize>,
    prec: Option<usize>,
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    plus_v: bool,
    sharp_v: bool,
}

/// Widths and precisions above this are refused, as Go refuses them.
const TOO_LARGE: usize = 1_000_000;

struct Printer {
    buf: String,
    f: Flags,
}

/// `fmt.Sprint`: operands printed with `%v`, a space between two operands when neither
/// is a string.
pub(crate) fn sprint(args: &[Value]) -> String {
    let mut p = Printer::new();
    let mut prev_string = false;
    for (i, arg) in args.iter().enumerate() {
        let is_string = matches!(arg.resolved(), Value::String(_));
        if i > 0 && !is_string && !prev_string {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
        prev_string = is_string;
    }
    p.buf
}

/// `fmt.Sprintln`: operands printed with `%v`, always separated by a space, then `\n`.
pub(crate) fn sprintln(args: &[Value]) -> String {
    let mut p = Printer::new();
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            p.buf.push(' ');
        }
        p.print_arg(arg, 'v');
    }
    p.buf.push('\n');
    p.buf
}

/// Go's `fmt.Sprintf`: `format`'s verbs applied to `args` exactly as Go prints them,
/// for functions that callers add and that format with Go's verbs (`humanize`'s
/// `%.4g`).
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut p = Printer::new();
    p.do_printf(format, args);
    p.buf
}

/// Parses a decimal number at `s[i..end]`, as Go's `parsenum`.
fn parse_num(s: &[u8], start: usize, end: usize) -> (Option<usize>, usize) {
    let mut num = 0usize;
    let mut is_num = false;
    let mut i = start;
    while i < end && s[i].is_ascii_digit() {
        if num > TOO_LARGE {
            return (None, end);
        }
        num = num * 10 + usize::from(s[i] - b'0');
        is_num = true;
        i += 1;
    }
    (is_num.then_some(num), i)
}

impl Printer {
    fn new() -> Printer {
        Printer {
            buf: String::new(),
            f: Flags::default(),
        }
    }

    /// Go's `argNumber`: an explicit `[n]` index at `i`, if any.
    fn arg_number(
        &mut self,
        arg_num: usize,
        s: &[u8],
        i: usize,
        nargs: usize,
        reordered: &mut bool,
        good: &mut bool,
    ) -> (usize, usize, bool) {
        if i >= s.len() || s[i] != b'[' {
            return (arg_num, i, false);
        }
        *reordered = true;
        // Find the closing bracket.
        let mut wid = 1;
        let mut index = None;
        let mut ok = false;
        if s.len() - i >= 3 {
            if let Some(close) = s[i + 1..].iter().position(|&c| c == b']') {
                let close = i + 1 + close;
                let (n, newi) = parse_num(s, i + 1, close);
                wid = close + 1 - i;
                if let (Some(n), true) = (n, newi == close) {
                    ok = true;
                    index = n.checked_sub(1);
                }
            }
        }
        if let Some(idx) = index.filter(|&idx| ok && idx < nargs) {
            return (idx, i + wid, true);
        }
        *good = false;
        (arg_num, i + wid, ok)
    }

    fn do_printf(&mut self, format: &str, args: &[Value]) {
        let s = format.as_bytes();
        let end = s.len();
        let mut arg_num = 0usize;
        let mut reordered = false;
        let mut i = 0usize;
        while i < end {
            let mut good = true;
            let lasti = i;
            while i < end && s[i] != b'%' {
                i += 1;
            }
            if i > lasti {
                self.buf.push_str(&format[lasti..i]);
            }
            if i >= end {
                break;
            }
            i += 1; // the '%'
            self.f = Flags::default();
            while i < end {
                match s[i] {
                    b'#' => self.f.sharp = true,
                    b'0' => self.f.zero = true,
                    b'+' => self.f.plus = true,
                    b'-' => self.f.minus = true,
                    b' ' => self.f.space = true,
                    _ => break,
                }
                i += 1;
            }
            let mut after_index;
            (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len(), &mut reordered, &mut good);
            // Width.
            if i < end && s[i] == b'*' {
                i += 1;
                let (w, next) = int_from_arg(args, arg_num);
                arg_num = next;
                match w {
                    None => self.buf.push_str("%!(BADWIDTH)"),
                    Some(w) if w < 0 => {
                        self.f.wid = Some(w.unsigned_abs() as usize);
                        self.f.minus = true;
                        self.f.zero = false;
                    }
                    Some(w) => self.f.wid = Some(w as usize),
                }
                after_index = false;
            } else {
                let (w, next) = parse_num(s, i, end);
                self.f.wid = w;
                i = next;
                if after_index && w.is_some() {
                    good = false;
                }
            }
            // Precision.
            if i + 1 < end && s[i] == b'.' {
                i += 1;
                if after_index {
                    good = false;
                }
                (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len(), &mut reordered, &mut good);
                if i < end && s[i] == b'*' {
                    i += 1;
                    let (p, next) = int_from_arg(args, arg_num);
                    arg_num = next;
                    match p {
                        Some(p) if p >= 0 => self.f.prec = Some(p as usize),
                        _ => {
                            self.f.prec = None;
                            self.buf.push_str("%!(BADPREC)");
                        }
                    }
                    after_index = false;
                } else {
                    let (p, next) = parse_num(s, i, end);
                    self.f.prec = Some(p.unwrap_or(0));
                    i = next;
                }
            }
            if !after_index {
                (arg_num, i, after_index) = self.arg_number(arg_num, s, i, args.len(), &mut reordered, &mut good);
            }
            let _ = after_index;
            if i >= end {
                self.buf.push_str("%!(NOVERB)");
                break;
            }
            let verb = format[i..].chars().next().unwrap_or('%');
            i += verb.len_utf8();
            if verb == '%' {
                self.buf.push('%');
            } else if !good {
                self.buf.push_str(&format!("%!{verb}(BADINDEX)"));
            } else if arg_num >= args.len() {
                self.buf.push_str(&format!("%!{verb}(MISSING)"));
            } else {
                if verb == 'v' {
                    self.f.sharp_v = self.f.sharp;
                    self.f.sharp = false;
                    self.f.plus_v = self.f.plus;
                    self.f.plus = false;
                }
                self.print_arg(&args[arg_num], verb);
                arg_num += 1;
            }
        }
        if !reordered && arg_num < args.len() {
            self.f = Flags::default();
            self.buf.push_str("%!(EXTRA ");
            for (k, arg) in args[arg_num..].iter().enumerate() {
                if k > 0 {
                    self.buf.push_str(", ");
                }
                if matches!(arg, Value::Nil) {
                    self.buf.push_str("<nil>");
                } else {
                    self.buf.push_str(&arg.type_name());
                    self.buf.push('=');
                    self.print_arg(arg, 'v');
                }
            }
            self.buf.push(')');
        }
    }

    /// Go's `printArg`: an operand at the top level.
    fn print_arg(&mut self, arg: &Value, verb: char) {
        if let Value::Nil = arg {
            match verb {
                'T' | 'v' => self.pad_str("<nil>"),
                _ => self.bad_verb(verb, None),
            }
            return;
        }
        if verb == 'T' {
            let t = arg.type_name();
            self.fmt_s(&t);
            return;
        }
        self.print_value(arg, verb);
    }

    /// Go's `printValue`: an operand, or an element of one.
    fn print_value(&mut self, v: &Value, verb: char) {
        match v {
            Value::Nil => {
                // A nil element of a list or map.
                if self.f.sharp_v {
                    self.buf.push_str("interface {}(nil)");
                } else {
                    self.buf.push_str("<nil>");
                }
            }
            Value::Bool(b) => match verb {
                't' | 'v' => self.pad_str(if *b { "true" } else { "false" }),
                _ => self.bad_verb(verb, Some(v)),
            },
            Value::Int(i) => self.fmt_integer(*i, verb, v),
            Value::Float(x) => self.fmt_float(*x, verb, v),
            Value::String(s) => self.fmt_string(s, verb, v),
            Value::List(l) => {
                if self.f.sharp_v {
                    self.buf.push_str(&v.type_name());
                    self.buf.push('{');
                    for (k, item) in l.items().iter().enumerate() {
                        if k > 0 {
                            self.buf.push_str(", ");
                        }
                        self.print_value(item, verb);
                    }
                    self.buf.push('}');
                    return;
                }
                self.buf.push('[');
                for (k, item) in l.items().iter().enumerate() {
                    if k > 0 {
                        self.buf.push(' ');
                    }
                    self.print_value(item, verb);
                }
                self.buf.push(']');
            }
            Value::Map(m) => {
                if self.f.sharp_v {
                    self.buf.push_str(&v.type_name());
                    self.buf.push('{');
                } else {
                    self.buf.push_str("map[");
                }
                for (k, (key, item)) in m.entries().iter().enumerate() {
                    if k > 0 {
                        self.buf.push_str(if self.f.sharp_v { ", " } else { " " });
                    }
                    self.fmt_string(key, verb, &Value::from(key.as_str()));
                    self.buf.push(':');
                    self.print_value(item, verb);
                }
                self.buf.push(if self.f.sharp_v { '}' } else { ']' });
            }
            Value::Object(o) => {
                if !self.f.sharp_v && matches!(verb, 'v' | 's' | 'x' | 'X' | 'q') {
                    if let Some(s) = o.to_go_string() {
                        self.fmt_string(&s, verb, v);
                        return;
                    }
                }
                match o.underlying() {
                    Some(u) => self.print_value(&u, verb),
                    None => self.pad_str(&format!("{{{}}}", o.type_name())),
                }
            }
            Value::Func(_) => match verb {
                'v' => self.pad_str("0x0"),
                _ => self.bad_verb(verb, Some(v)),
            },
        }
    }

    /// `%!verb(type=value)`, or `%!verb(<nil>)`.
    fn bad_verb(&mut self, verb: char, v: Option<&Value>) {
        self.buf.push_str("%!");
        self.buf.push(verb);
        self.buf.push('(');
        match v {
            Some(v) => {
                self.buf.push_str(&v.type_name());
                self.buf.push('=');
                self.print_arg(v, 'v');
            }
            None => self.buf.push_str("<nil>"),
        }
        self.buf.push(')');
    }

    fn write_padding(&mut self, n: usize) {
        let c = if self.f.zero && !self.f.minus { '0' } else { ' ' };
        self.buf.extend(std::iter::repeat_n(c, n));
    }

    /// Pads `s` to the width, on the left or (with `-`) on the right.
    fn pad_str(&mut self, s: &str) {
        let Some(wid) = self.f.wid else {
            self.buf.push_str(s);
            return;
        };
        let n = wid.saturating_sub(s.chars().count());
        if self.f.minus {
            self.buf.push_str(s);
            self.write_padding(n);
        } else {
            self.write_padding(n);
            self.buf.push_str(s);
        }
    }

    fn truncate<'s>(&self, s: &'s str) -> &'s str {
        match self.f.prec {
            Some(p) => match s.char_indices().nth(p) {
                Some((i, _)) => &s[..i],
                None => s,
            },
            None => s,
        }
    }

    fn fmt_s(&mut self, s: &str) {
        let s = self.truncate(s);
        self.pad_str(s);
    }

    fn fmt_q(&mut self, s: &str) {
        let s = self.truncate(s);
        if self.f.sharp && can_backquote(s) {
            self.pad_str(&format!("`{s}`"));
        } else {
            let q = quote(s, self.f.plus);
            self.pad_str(&q);
        }
    }

    /// `%x` and `%X` of a string: hex bytes, optionally spaced and prefixed.
    fn fmt_sx(&mut self, s: &str, upper: bool) {
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let bytes = s.as_bytes();
        let length = self.f.prec.map_or(bytes.len(), |p| p.min(bytes.len()));
        let mut width = 2 * length;
        if width == 0 {
            if let Some(w) = self.f.wid {
                self.write_padding(w);
            }
            return;
        }
        if self.f.space {
            if self.f.sharp {
                width *= 2;
            }
            width += length - 1;
        } else if self.f.sharp {
            width += 2;
        }
        let pad = self.f.wid.map_or(0, |w| w.saturating_sub(width));
        if !self.f.minus {
            self.write_padding(pad);
        }
        let prefix = if upper { "0X" } else { "0x" };
        if self.f.sharp {
            self.buf.push_str(prefix);
        }
        for (k, b) in bytes[..length].iter().enumerate() {
            if self.f.space && k > 0 {
                self.buf.push(' ');
                if self.f.sharp {
                    self.buf.push_str(prefix);
                }
            }
            self.buf.push(char::from(digits[usize::from(b >> 4)]));
            self.buf.push(char::from(digits[usize::from(b & 0xf)]));
        }
        if self.f.minus {
            self.write_padding(pad);
        }
    }

    fn fmt_string(&mut self, s: &str, verb: char, v: &Value) {
        match verb {
            'v' if self.f.sharp_v => {
                let q = quote(s, false);
                self.pad_str(&q);
            }
            'v' | 's' => self.fmt_s(s),
            'x' => self.fmt_sx(s, false),
            'X' => self.fmt_sx(s, true),
            'q' => self.fmt_q(s),
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    fn fmt_integer(&mut self, i: i64, verb: char, v: &Value) {
        match verb {
            'v' | 'd' => self.fmt_int_base(i, 10, verb, false),
            'b' => self.fmt_int_base(i, 2, verb, false),
            'o' | 'O' => self.fmt_int_base(i, 8, verb, false),
            'x' => self.fmt_int_base(i, 16, verb, false),
            'X' => self.fmt_int_base(i, 16, verb, true),
            'c' => {
                let c = rune_of(i);
                self.pad_str(c.encode_utf8(&mut [0u8; 4]));
            }
            'q' => {
                let q = quote_rune(rune_of(i), self.f.plus);
                self.pad_str(&q);
            }
            'U' => self.fmt_unicode(i),
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    /// Go's `fmtInteger`.
    fn fmt_int_base(&mut self, i: i64, base: u64, verb: char, upper: bool) {
        let negative = i < 0;
        let mut u = i.unsigned_abs();
        let digits: &[u8; 16] = if upper {
            b"0123456789ABCDEF"
        } else {
            b"0123456789abcdef"
        };
        let mut prec = 0usize;
        if let Some(p) = self.f.prec {
            prec = p;
            if p == 0 && u == 0 {
                let old = self.f.zero;
                self.f.zero = false;
                self.write_padding(self.f.wid.unwrap_or(0));
                self.f.zero = old;
                return;
            }
        } else if let (true, false, Some(w)) = (self.f.zero, self.f.minus, self.f.wid) {
            prec = w;
            if negative || self.f.plus || self.f.space {
                prec = prec.saturating_sub(1);
            }
        }
        let mut rev: Vec<u8> = Vec::with_capacity(24);
        loop {
            rev.push(digits[(u % base) as usize]);
            u /= base;
            if u == 0 {
                break;
            }
        }
        while rev.len() < prec {
            rev.push(b'0');
        }
        if self.f.sharp {
            match base {
                2 => rev.extend_from_slice(b"b0"),
                8 if rev.last() != Some(&b'0') => rev.push(b'0'),
                16 => rev.extend_from_slice(if upper { b"X0" } else { b"x0" }),
                _ => {}
            }
        }
        if verb == 'O' {
            rev.extend_from_slice(b"o0");
        }
        if negative {
            rev.push(b'-');
        } else if self.f.plus {
            rev.push(b'+');
        } else if self.f.space {
            rev.push(b' ');
        }
        rev.reverse();
        let s = String::from_utf8_lossy(&rev).into_owned();
        let old = self.f.zero;
        self.f.zero = false;
        self.pad_str(&s);
        self.f.zero = old;
    }

    /// `%U`: `U+0078`, or with `#` `U+0078 'x'`.
    fn fmt_unicode(&mut self, i: i64) {
        let u = i as u64;
        let prec = self.f.prec.filter(|&p| p > 4).unwrap_or(4);
        let mut s = format!("U+{u:0prec$X}");
        if self.f.sharp {
            if let Some(c) = u32::try_from(u).ok().and_then(char::from_u32) {
                if crate::quote::is_print(c) {
                    s.push_str(&format!(" '{c}'"));
                }
            }
        }
        let old = self.f.zero;
        self.f.zero = false;
        self.pad_str(&s);
        self.f.zero = old;
    }

    fn fmt_float(&mut self, x: f64, verb: char, v: &Value) {
        match verb {
            'v' => self.fmt_float_with(x, 'g', -1),
            'b' | 'g' | 'G' | 'x' | 'X' => self.fmt_float_with(x, verb, -1),
            'f' | 'e' | 'E' => self.fmt_float_with(x, verb, 6),
            'F' => self.fmt_float_with(x, 'f', 6),
            _ => self.bad_verb(verb, Some(v)),
        }
    }

    /// Go's `fmt.fmtFloat`: sign, flags, padding and the `#` flag around strconv's text.
    fn fmt_float_with(&mut self, x: f64, verb: char, default_prec: i64) {
        let prec = self.f.prec.map_or(default_prec, |p| p as i64);
        let text = float::format(x, verb, prec);
        let mut num: Vec<u8> = if text.starts_with('-') || text.starts_with('+') {
            text.into_bytes()
        } else {
            let mut n = vec![b'+'];
            n.extend_from_slice(text.as_bytes());
            n
        };
        if self.f.space && num[0] == b'+' && !self.f.plus {
            num[0] = b' ';
        }
        if num.get(1).is_some_and(|&c| c == b'I' || c == b'N') {
            let old = self.f.zero;
            self.f.zero = false;
            if num[1] == b'N' && !self.f.space && !self.f.plus {
                num.remove(0);
            }
            self.pad_str(&String::from_utf8_lossy(&num));
            self.f.zero = old;
            return;
        }
        if self.f.sharp && verb != 'b' {
            let mut digits: i64 = match verb {
                'v' | 'g' | 'G' | 'x' => {
                    if prec == -1 {
                        6
                    } else {
                        prec
                    }
                }
                _ => 0,
            };
            let mut tail: Vec<u8> = Vec::new();
            let mut has_point = false;
            let mut saw_nonzero = false;
            let mut k = 1;
            while k < num.len() {
                match num[k] {
                    b'.' => has_point = true,
                    b'p' | b'P' => {
                        tail.extend_from_slice(&num[k..]);
                        num.truncate(k);
                        break;
                    }
                    b'e' | b'E' if verb != 'x' && verb != 'X' => {
                        tail.extend_from_slice(&num[k..]);
                        num.truncate(k);
                        break;
                    }
                    c => {
                        if c != b'0' {
                            saw_nonzero = true;
                        }
                        if saw_nonzero {
                            digits -= 1;
                        }
                    }
                }
                k += 1;
            }
            if !has_point {
                if num.len() == 2 && num[1] == b'0' {
                    digits -= 1;
                }
                num.push(b'.');
            }
            while digits > 0 {
                num.push(b'0');
                digits -= 1;
            }
            num.extend_from_slice(&tail);
        }
        if self.f.plus || num[0] != b'+' {
            if let (true, Some(w)) = (self.f.zero && !self.f.minus, self.f.wid) {
                if w > num.len() {
                    self.buf.push(char::from(num[0]));
                    self.write_padding(w - num.len());
                    self.buf.push_str(&String::from_utf8_lossy(&num[1..]));
                    return;
                }
            }
            self.pad_str(&String::from_utf8_lossy(&num));
            return;
        }
        self.pad_str(&String::from_utf8_lossy(&num[1..]));
    }
}

/// The rune an integer stands for in `%c` and `%q`; out of range gives U+FFFD.
fn rune_of(i: i64) -> char {
    u32::try_from(i).ok().and_then(char::from_u32).unwrap_or('\u{FFFD}')
}

/// Go's `intFromArg`: the integer for a `*` width or precision, and the next argument.
fn int_from_arg(args: &[Value], arg_num: usize) -> (Option<i64>, usize) {
    match args.get(arg_num) {
        Some(v) => {
            let n = match v.resolved() {
                Value::Int(i) if i.unsigned_abs() <= TOO_LARGE as u64 => Some(i),
                _ => None,
            };
            (n, arg_num + 1)
        }
        None => (None, arg_num),
    }
}
