//! Text forms: a histogram as Prometheus prints it (`count_values` uses it as a label
//! value), and floats as Go's `%g` prints them.

use std::fmt;

use super::FloatHistogram;

/// A float as Go's `%g`/`%v` prints it: the shortest exact digits, in exponent form
/// when the exponent is below -4 or at least 6.
pub fn go_float(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf".into() } else { "-Inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let exp: i32 = exp.parse().expect("integer exponent");
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{v}")
    }
}

impl fmt::Display for FloatHistogram {
    /// `{count:…, sum:…, [lower,upper):count, …}`: non-empty buckets from the lowest,
    /// negative ones closed below, the zero bucket closed, positive ones closed above.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{{count:{}, sum:{}", go_float(self.count), go_float(self.sum))?;
        for b in self.negative().iter().rev().filter(|b| b.count != 0.0) {
            write!(
                f,
                ", [{},{}):{}",
                go_float(b.lower),
                go_float(b.upper),
                go_float(b.count)
            )?;
        }
        if self.zero_count != 0.0 {
            let t = self.zero_threshold;
            write!(f, ", [{},{}]:{}", go_float(-t), go_float(t), go_float(self.zero_count))?;
        }
        for b in self.positive().iter().filter(|b| b.count != 0.0) {
            write!(
                f,
                ", ({},{}]:{}",
                go_float(b.lower),
                go_float(b.upper),
                go_float(b.count)
            )?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_as_go_does() {
        assert_eq!(go_float(1.0), "1");
        assert_eq!(go_float(0.001), "0.001");
        assert_eq!(go_float(0.00001), "1e-05");
        assert_eq!(go_float(123456.0), "123456");
        assert_eq!(go_float(1234567.0), "1.234567e+06");
        assert_eq!(go_float(-2.5), "-2.5");
        assert_eq!(go_float(1e100), "1e+100");
    }
}
