//! Go's `strconv.FormatFloat` for 64-bit floats in the formats `fmt` needs (`e E f g G`,
//! shortest or with a precision, and `b`, `x`, `X`).
//!
//! Decimal digits come from Rust's own formatting, which is exact: `{:e}` yields the
//! shortest digits that round-trip (the same digits Go's shortest mode picks) and
//! `{:.N}`/`{:.Ne}` round the exact binary value half-to-even, as Go's fixed-precision
//! paths do. Only the layout (exponent form, `%g`'s choice between forms) is Go's and
//! written here. Invariant: the result for finite input always carries a sign-free digit
//! string with at most one leading `-`.

/// Decimal digits `0.d1d2d3… × 10^dp` with no trailing zeros; zero has no digits.
struct Digits {
    d: Vec<u8>,
    dp: i64,
}

impl Digits {
    /// Parses Rust's `{:e}` output for a non-negative finite value, e.g. `1.2345e-7`.
    fn from_exp(s: &str) -> Digits {
        let (mant, exp) = s.split_once('e').unwrap_or((s, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let mut d: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
        while d.last() == Some(&b'0') {
            d.pop();
        }
        if d.is_empty() {
            return Digits { d, dp: 0 };
        }
        Digits { d, dp: exp + 1 }
    }

    fn nd(&self) -> i64 {
        self.d.len() as i64
    }

    fn digit(&self, i: i64) -> u8 {
        usize::try_from(i)
            .ok()
            .and_then(|i| self.d.get(i).copied())
            .unwrap_or(b'0')
    }
}

fn shortest(v: f64) -> Digits {
    Digits::from_exp(&format!("{v:e}"))
}

/// `n` significant digits (n ≥ 1), correctly rounded.
fn significant(v: f64, n: usize) -> Digits {
    Digits::from_exp(&format!("{:.*e}", n.saturating_sub(1), v))
}

/// `%e`: `d.ddddde±dd`.
fn fmt_e(out: &mut String, digs: &Digits, prec: i64, upper: bool) {
    out.push(char::from(if digs.d.is_empty() { b'0' } else { digs.d[0] }));
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            out.push(char::from(digs.digit(i)));
        }
    }
    out.push(if upper { 'E' } else { 'e' });
    let mut exp = if digs.d.is_empty() { 0 } else { digs.dp - 1 };
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

/// `%f`: `ddd.dddd`.
fn fmt_f(out: &mut String, digs: &Digits, prec: i64) {
    if digs.dp > 0 {
        for i in 0..digs.dp {
            out.push(char::from(digs.digit(i)));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 1..=prec {
            let j = digs.dp + i - 1;
            out.push(char::from(if j >= 0 { digs.digit(j) } else { b'0' }));
        }
    }
}

/// `strconv.FormatFloat(v, fmt, prec, 64)`; `prec < 0` asks for the shortest form.
pub(crate) fn format(v: f64, fmt: char, prec: i64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let mut out = String::new();
    if v.is_sign_negative() {
        out.push('-');
    }
    let a = v.abs();
    match fmt {
        'b' => format_binary(&mut out, v),
        'x' | 'X' => format_hex(&mut out, a, prec, fmt == 'X'),
        'f' if prec >= 0 => {
            let p = usize::try_from(prec).unwrap_or(0);
            out.push_str(&format!("{a:.p$}"));
        }
        'f' => {
            let digs = shortest(a);
            fmt_f(&mut out, &digs, (digs.nd() - digs.dp).max(0));
        }
        'e' | 'E' => {
            let upper = fmt == 'E';
            if prec < 0 {
                let digs = shortest(a);
                fmt_e(&mut out, &digs, digs.nd() - 1, upper);
            } else {
                let digs = significant(a, usize::try_from(prec + 1).unwrap_or(1));
                fmt_e(&mut out, &digs, prec, upper);
            }
        }
        _ => {
            let upper = fmt == 'G';
            let is_shortest = prec < 0;
            let (digs, mut prec) = if is_shortest {
                let d = shortest(a);
                let n = d.nd();
                (d, n)
            } else {
                let p = prec.max(1);
                (significant(a, usize::try_from(p).unwrap_or(1)), p)
            };
            let mut eprec = prec;
            if eprec > digs.nd() && digs.nd() >= digs.dp {
                eprec = digs.nd();
            }
            if is_shortest {
                eprec = 6;
            }
            let exp = digs.dp - 1;
            if exp < -4 || exp >= eprec {
                if prec > digs.nd() {
                    prec = digs.nd();
                }
                fmt_e(&mut out, &digs, prec - 1, upper);
            } else {
                if prec > digs.dp {
                    prec = digs.nd();
                }
                fmt_f(&mut out, &digs, (prec - digs.dp).max(0));
            }
        }
    }
    out
}

/// `%b`: the decimal mantissa and binary exponent, `4503599627370496p-52`.
fn format_binary(out: &mut String, v: f64) {
    let bits = v.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let e = if exp == 0 {
        1 - 1023 - 52
    } else {
        mant |= 1u64 << 52;
        exp - 1023 - 52
    };
    out.push_str(&mant.to_string());
    out.push('p');
    if e >= 0 {
        out.push('+');
    }
    out.push_str(&e.to_string());
}

/// `%x`: a hexadecimal mantissa `0x1.8p+01`, rounded half-to-even to `prec` hex digits.
fn format_hex(out: &mut String, a: f64, prec: i64, upper: bool) {
    let bits = a.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i64;
    let mut mant = bits & ((1u64 << 52) - 1);
    let mut exp = if biased == 0 {
        -1022
    } else {
        mant |= 1u64 << 52;
        biased - 1023
    };
    if mant == 0 {
        exp = 0;
    } else {
        // Normalise so that bit 52 is the leading one.
        while mant & (1u64 << 52) == 0 {
            mant <<= 1;
            exp -= 1;
        }
    }
    // Shift so the mantissa has the leading one at bit 60: 1 integer hex digit + 15.
    mant <<= 8;
    if (0..15).contains(&prec) {
        let shift = 4 * (15 - prec) as u32;
        let extra = mant & ((1u64 << shift) - 1);
        mant >>= shift;
        let half = 1u64 << (shift - 1);
        if extra > half || (extra == half && mant & 1 == 1) {
            mant += 1;
        }
        mant <<= shift;
        if mant >> 61 != 0 {
            mant >>= 1;
            exp += 1;
        }
    }
    let digits: &[u8] = if upper {
        b"0123456789ABCDEF"
    } else {
        b"0123456789abcdef"
    };
    out.push('0');
    out.push(if upper { 'X' } else { 'x' });
    out.push(char::from(b'0' + ((mant >> 60) & 0xf) as u8));
    mant <<= 4;
    if prec < 0 && mant != 0 {
        out.push('.');
        while mant != 0 {
            out.push(char::from(digits[((mant >> 60) & 0xf) as usize]));
            mant <<= 4;
        }
    } else if prec > 0 {
        out.push('.');
        for _ in 0..prec {
            out.push(char::from(digits[((mant >> 60) & 0xf) as usize]));
            mant <<= 4;
        }
    }
    out.push(if upper { 'P' } else { 'p' });
    if exp < 0 {
        out.push('-');
        exp = -exp;
    } else {
        out.push('+');
    }
    if exp < 10 {
        out.push('0');
    }
    out.push_str(&exp.to_string());
}

#[cfg(test)]
mod tests {
    use super::format;

    #[test]
    fn shortest_g_like_go() {
        for (v, want) in [
            (0.1, "0.1"),
            (3.0, "3"),
            (1e21, "1e+21"),
            (1e20, "1e+20"),
            (123456789.0, "1.23456789e+08"),
            (100000.0, "100000"),
            (1e6, "1e+06"),
            (1.5e-7, "1.5e-07"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.0, "0"),
            (-0.0, "-0"),
            (-2.5, "-2.5"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (1e100, "1e+100"),
            (5e-324, "5e-324"),
        ] {
            assert_eq!(format(v, 'g', -1), want, "{v}");
        }
    }

    #[test]
    fn fixed_precision_rounds_exactly() {
        assert_eq!(format(1.005, 'f', 2), "1.00");
        assert_eq!(format(0.25, 'f', 1), "0.2");
        assert_eq!(format(0.35, 'f', 1), "0.3");
        assert_eq!(format(0.125, 'f', 2), "0.12");
        assert_eq!(format(2.5, 'f', 0), "2");
        assert_eq!(format(3.5, 'f', 0), "4");
        assert_eq!(format(0.5, 'f', 0), "0");
        assert_eq!(format(1.5, 'f', 0), "2");
        assert_eq!(format(-0.001, 'f', 2), "-0.00");
        assert_eq!(format(1.23456, 'f', 6), "1.234560");
        assert_eq!(format(1234.5678, 'e', 6), "1.234568e+03");
        assert_eq!(format(0.0, 'e', 2), "0.00e+00");
        assert_eq!(format(1e-100, 'E', 1), "1.0E-100");
        assert_eq!(format(9.99, 'e', 1), "1.0e+01");
        assert_eq!(format(1234.0, 'g', 3), "1.23e+03");
        assert_eq!(format(1.0, 'g', 3), "1");
        assert_eq!(format(0.000012345, 'g', 2), "1.2e-05");
        assert_eq!(format(123.456, 'g', 4), "123.5");
        assert_eq!(format(100.0, 'g', 0), "1e+02");
    }

    #[test]
    fn binary_and_hex_forms() {
        assert_eq!(format(1.0, 'b', -1), "4503599627370496p-52");
        assert_eq!(format(1.0, 'x', -1), "0x1p+00");
        assert_eq!(format(3.0, 'x', -1), "0x1.8p+01");
        assert_eq!(format(0.0, 'x', -1), "0x0p+00");
        assert_eq!(format(1.0, 'x', 2), "0x1.00p+00");
        assert_eq!(format(1.0 / 3.0, 'X', 3), "0X1.555P-02");
    }
}
