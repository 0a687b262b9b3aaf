//! Go's `time.Time` and `time.Duration` as template values, for `toTime`, `toDuration`
//! and `now`: they print as Go prints them (`2015-06-23 13:19:44.128 +0000 UTC`,
//! `30m0s`) and answer the methods templates call on them (`.Format "2006"`, `.Add`,
//! `.Unix`, `.Seconds`, …), with Go's reference-time layouts.
//!
//! Deliberately UTC only: every time a Prometheus template makes is in UTC, so there is
//! no zone database here. Invariant: a time is whole seconds since the Unix epoch plus
//! nanoseconds in `0..1e9`, as Go normalises it, so printing never sees a negative
//! fraction.

use pyrite_template::{Arity, CallError, Object, Value};

const NANOS: i64 = 1_000_000_000;

/// Go's `time.Time` in UTC (or `*time.Time`, as `toTime` returns it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct GoTime {
    secs: i64,
    nanos: u32,
    pointer: bool,
}

/// Go's `time.Duration` (or `*time.Duration`, as `toDuration` returns it): nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct GoDuration {
    nanos: i64,
    pointer: bool,
}

/// A Go named integer type with a `String` method (`time.Month`, `time.Weekday`).
struct Named {
    type_name: &'static str,
    n: i64,
    name: &'static str,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The proleptic Gregorian date of a day since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { yoe + era * 400 + 1 } else { yoe + era * 400 }, m, d)
}

/// The parts of a time that layouts print.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    yday: i64,
    weekday: usize,
    hour: i64,
    min: i64,
    sec: i64,
    nanos: u32,
}

impl GoTime {
    /// `time.Unix(secs, nanos)`, normalised.
    pub(super) fn unix(secs: i64, nanos: i64, pointer: bool) -> GoTime {
        let secs = secs.saturating_add(nanos.div_euclid(NANOS));
        GoTime {
            secs,
            nanos: nanos.rem_euclid(NANOS) as u32,
            pointer,
        }
    }

    /// `model.TimeFromUnixNano(ns).Time()`: Prometheus keeps milliseconds only.
    pub(super) fn from_unix_nanos_ms(ns: i64, pointer: bool) -> GoTime {
        let ms = ns / 1_000_000;
        GoTime::unix(ms / 1000, (ms % 1000) * 1_000_000, pointer)
    }

    fn total_nanos(self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS) + i128::from(self.nanos)
    }

    fn from_total_nanos(ns: i128) -> GoTime {
        let n = i128::from(NANOS);
        let secs = ns.div_euclid(n).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64;
        GoTime {
            secs,
            nanos: ns.rem_euclid(n) as u32,
            pointer: false,
        }
    }

    fn civil(self) -> Civil {
        let days = self.secs.div_euclid(86_400);
        let rest = self.secs.rem_euclid(86_400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            yday: days - days_from_civil(year, 1, 1) + 1,
            weekday: (days + 4).rem_euclid(7) as usize,
            hour: rest / 3600,
            min: rest / 60 % 60,
            sec: rest % 60,
            nanos: self.nanos,
        }
    }

    /// Go's `Time.String()` of a UTC time.
    pub(super) fn go_string(self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Go's `Time.Format` in UTC.
    pub(super) fn format(self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(layout.len() + 10);
        let bytes = layout.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match std_at(&bytes[i..]) {
                Some((len, std)) => {
                    write_std(&mut out, std, &c);
                    i += len;
                }
                None => {
                    let ch = layout[i..].chars().next().unwrap_or_default();
                    out.push(ch);
                    i += ch.len_utf8().max(1);
                }
            }
        }
        out
    }
}

impl GoTime {
    /// The methods without arguments, or `None` if `name` is none of them.
    fn nullary(&self, name: &str) -> Option<Value> {
        let c = || self.civil();
        let utc = GoTime {
            pointer: false,
            ..*self
        };
        Some(match name {
            "String" => Value::from(self.go_string()),
            "Unix" => Value::Int(self.secs),
            "UnixMilli" => Value::Int(clamp_i64(self.total_nanos() / 1_000_000)),
            "UnixMicro" => Value::Int(clamp_i64(self.total_nanos() / 1_000)),
            "UnixNano" => Value::Int(clamp_i64(self.total_nanos())),
            "Nanosecond" => Value::Int(i64::from(self.nanos)),
            "Second" => Value::Int(c().sec),
            "Minute" => Value::Int(c().min),
            "Hour" => Value::Int(c().hour),
            "Day" => Value::Int(i64::from(c().day)),
            "YearDay" => Value::Int(c().yday),
            "Year" => Value::Int(c().year),
            "Month" => {
                let m = c().month;
                Value::object(Named {
                    type_name: "time.Month",
                    n: i64::from(m),
                    name: MONTHS[(m as usize).saturating_sub(1) % 12],
                })
            }
            "Weekday" => {
                let d = c().weekday;
                Value::object(Named {
                    type_name: "time.Weekday",
                    n: d as i64,
                    name: DAYS[d],
                })
            }
            // The server's zone is UTC as far as templates are concerned.
            "UTC" | "Local" => Value::object(utc),
            "IsZero" => Value::Bool(self.secs == -62_135_596_800 && self.nanos == 0),
            _ => return None,
        })
    }

    /// The methods of one argument.
    fn unary(&self, name: &str, arg: &Value) -> Result<Value, CallError> {
        Ok(match name {
            "Format" => match arg {
                Value::String(layout) => Value::from(self.format(layout)),
                other => {
                    return Err(CallError::Failed(format!(
                        "wrong type for value; expected string; got {}",
                        other.type_name()
                    )))
                }
            },
            "Add" => {
                let d = duration_arg(arg)?;
                Value::object(GoTime::from_total_nanos(self.total_nanos() + i128::from(d)))
            }
            "Sub" => {
                let d = clamp_i64(self.total_nanos() - time_arg(arg)?.total_nanos());
                Value::object(GoDuration::new(d, false))
            }
            "Before" => Value::Bool(self.total_nanos() < time_arg(arg)?.total_nanos()),
            "After" => Value::Bool(self.total_nanos() > time_arg(arg)?.total_nanos()),
            "Equal" => Value::Bool(self.total_nanos() == time_arg(arg)?.total_nanos()),
            _ => return Err(CallError::Failed(format!("no method {name}"))),
        })
    }
}

/// A layout element (Go's `std*` constants).
#[derive(Clone, Copy)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    UpperPm,
    LowerPm,
    /// A zone element, printed as this text in UTC.
    Zone(&'static str),
    Frac {
        sep: u8,
        digits: usize,
        trim: bool,
    },
}

/// The layout element at the start of `l`, and its length, as Go's `nextStdChunk`
/// recognises them.
fn std_at(l: &[u8]) -> Option<(usize, Std)> {
    let starts = |p: &str| l.starts_with(p.as_bytes());
    let lower_after = |n: usize| l.get(n).is_some_and(u8::is_ascii_lowercase);
    let first = *l.first()?;
    Some(match first {
        b'J' if starts("January") => (7, Std::LongMonth),
        b'J' if starts("Jan") && !lower_after(3) => (3, Std::Month),
        b'M' if starts("Monday") => (6, Std::LongWeekDay),
        b'M' if starts("Mon") && !lower_after(3) => (3, Std::WeekDay),
        b'M' if starts("MST") => (3, Std::Zone("UTC")),
        b'0' if l.len() >= 2 && (b'1'..=b'6').contains(&l[1]) => {
            let std = [
                Std::ZeroMonth,
                Std::ZeroDay,
                Std::ZeroHour12,
                Std::ZeroMinute,
                Std::ZeroSecond,
                Std::Year,
            ][usize::from(l[1] - b'1')];
            (2, std)
        }
        b'0' if starts("002") => (3, Std::ZeroYearDay),
        b'1' if starts("15") => (2, Std::Hour),
        b'1' => (1, Std::NumMonth),
        b'2' if starts("2006") => (4, Std::LongYear),
        b'2' => (1, Std::Day),
        // `_2006` is a literal `_` and then the year.
        b'_' if starts("_2") && !starts("_2006") => (2, Std::UnderDay),
        b'_' if starts("__2") => (3, Std::UnderYearDay),
        b'3' => (1, Std::Hour12),
        b'4' => (1, Std::Minute),
        b'5' => (1, Std::Second),
        b'P' if starts("PM") => (2, Std::UpperPm),
        b'p' if starts("pm") => (2, Std::LowerPm),
        b'-' | b'Z' => {
            let utc_z = first == b'Z';
            let forms: [(&str, &'static str); 5] = [
                ("070000", "+000000"),
                ("07:00:00", "+00:00:00"),
                ("0700", "+0000"),
                ("07:00", "+00:00"),
                ("07", "+00"),
            ];
            let rest = &l[1..];
            let (form, text) = forms.iter().find(|(f, _)| rest.starts_with(f.as_bytes()))?;
            (1 + form.len(), Std::Zone(if utc_z { "Z" } else { text }))
        }
        b'.' | b',' if l.len() > 1 && (l[1] == b'0' || l[1] == b'9') => {
            let ch = l[1];
            let j = 1 + l[1..].iter().take_while(|&&c| c == ch).count();
            if l.get(j).is_some_and(u8::is_ascii_digit) {
                return None;
            }
            (
                j,
                Std::Frac {
                    sep: first,
                    digits: (j - 1).min(9),
                    trim: ch == b'9',
                },
            )
        }
        _ => return None,
    })
}

fn write_std(out: &mut String, std: Std, c: &Civil) {
    use std::fmt::Write as _;
    let month = MONTHS[(c.month as usize).saturating_sub(1) % 12];
    let hour12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
    // Writing to a String cannot fail.
    let _ = match std {
        Std::LongMonth => write!(out, "{month}"),
        Std::Month => write!(out, "{}", &month[..3]),
        Std::NumMonth => write!(out, "{}", c.month),
        Std::ZeroMonth => write!(out, "{:02}", c.month),
        Std::LongWeekDay => write!(out, "{}", DAYS[c.weekday]),
        Std::WeekDay => write!(out, "{}", &DAYS[c.weekday][..3]),
        Std::Day => write!(out, "{}", c.day),
        Std::UnderDay => write!(out, "{:>2}", c.day),
        Std::ZeroDay => write!(out, "{:02}", c.day),
        Std::UnderYearDay => write!(out, "{:>3}", c.yday),
        Std::ZeroYearDay => write!(out, "{:03}", c.yday),
        Std::Hour => write!(out, "{:02}", c.hour),
        Std::Hour12 => write!(out, "{hour12}"),
        Std::ZeroHour12 => write!(out, "{hour12:02}"),
        Std::Minute => write!(out, "{}", c.min),
        Std::ZeroMinute => write!(out, "{:02}", c.min),
        Std::Second => write!(out, "{}", c.sec),
        Std::ZeroSecond => write!(out, "{:02}", c.sec),
        Std::LongYear if c.year < 0 => write!(out, "-{:04}", c.year.unsigned_abs()),
        Std::LongYear => write!(out, "{:04}", c.year),
        Std::Year => write!(out, "{:02}", c.year.rem_euclid(100)),
        Std::UpperPm => write!(out, "{}", if c.hour >= 12 { "PM" } else { "AM" }),
        Std::LowerPm => write!(out, "{}", if c.hour >= 12 { "pm" } else { "am" }),
        Std::Zone(text) => write!(out, "{text}"),
        Std::Frac { sep, digits, trim } => {
            let all = format!("{:09}", c.nanos);
            let mut n = digits;
            if trim {
                while n > 0 && all.as_bytes()[n - 1] == b'0' {
                    n -= 1;
                }
                if n == 0 {
                    return;
                }
            }
            write!(out, "{}{}", char::from(sep), &all[..n])
        }
    };
}

impl GoDuration {
    pub(super) fn new(nanos: i64, pointer: bool) -> GoDuration {
        GoDuration { nanos, pointer }
    }

    /// Go's `Duration.Seconds()`.
    pub(super) fn seconds(self) -> f64 {
        (self.nanos / NANOS) as f64 + (self.nanos % NANOS) as f64 / 1e9
    }

    /// Go's `Duration.String()`: `1h2m0.5s`, `1.5ms`, `0s`.
    pub(super) fn go_string(self) -> String {
        if self.nanos == 0 {
            return "0s".to_string();
        }
        let u = self.nanos.unsigned_abs();
        let sign = if self.nanos < 0 { "-" } else { "" };
        if u < NANOS as u64 {
            let (prec, unit) = match u {
                0..1_000 => (0, "ns"),
                1_000..1_000_000 => (3, "µs"),
                _ => (6, "ms"),
            };
            let p = 10u64.pow(prec);
            return format!("{sign}{}{}{unit}", u / p, fraction(u % p, prec));
        }
        let secs = u / NANOS as u64;
        let frac = fraction(u % NANOS as u64, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            format!("{sign}{h}h{m}m{s}{frac}s")
        } else if m > 0 {
            format!("{sign}{m}m{s}{frac}s")
        } else {
            format!("{sign}{s}{frac}s")
        }
    }
}

/// Go's `fmtFrac`: `.digits` of `v / 10^prec` without trailing zeros, or nothing.
fn fraction(v: u64, prec: u32) -> String {
    if v == 0 {
        return String::new();
    }
    let digits = format!("{v:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

fn want(n: usize, args: &[Value]) -> Result<(), CallError> {
    if args.len() == n {
        Ok(())
    } else {
        Err(CallError::WrongArgs {
            want: Arity::Exact(n),
            got: args.len(),
        })
    }
}

/// A `time.Duration` argument: a duration value, or an integer of nanoseconds.
fn duration_arg(v: &Value) -> Result<i64, CallError> {
    match v {
        Value::Int(n) => Ok(*n),
        Value::Object(o) if o.type_name().ends_with("time.Duration") => match o.method("Nanoseconds", &[]) {
            Some(Ok(Value::Int(n))) => Ok(n),
            _ => Err("not a duration".into()),
        },
        other => Err(CallError::Failed(format!(
            "wrong type for value; expected time.Duration; got {}",
            other.type_name()
        ))),
    }
}

/// A `time.Time` argument.
fn time_arg(v: &Value) -> Result<GoTime, CallError> {
    if let Value::Object(o) = v {
        if o.type_name().ends_with("time.Time") {
            if let (Some(Ok(Value::Int(s))), Some(Ok(Value::Int(n)))) =
                (o.method("Unix", &[]), o.method("Nanosecond", &[]))
            {
                return Ok(GoTime::unix(s, n, false));
            }
        }
    }
    Err(CallError::Failed(format!(
        "wrong type for value; expected time.Time; got {}",
        v.type_name()
    )))
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        if self.pointer {
            "*time.Time"
        } else {
            "time.Time"
        }
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        if let Some(v) = self.nullary(name) {
            return Some(want(0, args).map(|_| v));
        }
        if !["Format", "Add", "Sub", "Before", "After", "Equal"].contains(&name) {
            return None;
        }
        Some(match args {
            [arg] => self.unary(name, arg),
            _ => Err(CallError::WrongArgs {
                want: Arity::Exact(1),
                got: args.len(),
            }),
        })
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.go_string())
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl Object for GoDuration {
    fn type_name(&self) -> &str {
        if self.pointer {
            "*time.Duration"
        } else {
            "time.Duration"
        }
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        let d = self.nanos;
        let v = match name {
            "String" => Value::from(self.go_string()),
            "Nanoseconds" => Value::Int(d),
            "Microseconds" => Value::Int(d / 1_000),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Seconds" => Value::Float(self.seconds()),
            "Minutes" => Value::Float((d / (60 * NANOS)) as f64 + (d % (60 * NANOS)) as f64 / (60e9)),
            "Hours" => Value::Float((d / (3600 * NANOS)) as f64 + (d % (3600 * NANOS)) as f64 / (3600e9)),
            "Abs" => Value::object(GoDuration::new(if d == i64::MIN { i64::MAX } else { d.abs() }, false)),
            _ => return None,
        };
        Some(want(0, args).map(|_| v))
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.go_string())
    }
}

impl Object for Named {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        (name == "String").then(|| want(0, args).map(|_| Value::from(self.name)))
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::Int(self.n))
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.name.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64, nanos: i64) -> GoTime {
        GoTime::unix(secs, nanos, true)
    }

    #[test]
    fn times_print_as_go_prints_them_in_utc() {
        let cases = [
            (t(0, 0), "1970-01-01 00:00:00 +0000 UTC"),
            (t(-1, 0), "1969-12-31 23:59:59 +0000 UTC"),
            (t(1_435_065_584, 128_000_000), "2015-06-23 13:19:44.128 +0000 UTC"),
            (t(1_577_836_800, 0), "2020-01-01 00:00:00 +0000 UTC"),
            (t(1_577_836_800, 100), "2020-01-01 00:00:00.0000001 +0000 UTC"),
            (t(9_223_372_036, 0), "2262-04-11 23:47:16 +0000 UTC"),
            (t(-9_223_372_037, 0), "1677-09-21 00:12:43 +0000 UTC"),
            (t(951_782_400, 0), "2000-02-29 00:00:00 +0000 UTC"),
            (t(0, -500_000_000), "1969-12-31 23:59:59.5 +0000 UTC"),
        ];
        for (time, want) in cases {
            assert_eq!(time.go_string(), want);
        }
    }

    #[test]
    fn layouts_follow_the_reference_time() {
        // 2012-11-24 11:14:12.0456 UTC, a Saturday, day 329 of a leap year.
        let now = t(1_353_755_652, 45_600_000);
        let cases = [
            ("2006", "2012"),
            ("Mon Jan 2 15:04:05 2006", "Sat Nov 24 11:14:12 2012"),
            (
                "Monday, January _2 06 3:4:5 PM pm",
                "Saturday, November 24 12 11:14:12 AM am",
            ),
            (
                "01/02 03 .000 .999 ,000000 .9 .9999",
                "11/24 11 .045 .045 ,045600  .0456",
            ),
            ("002 __2 _2006", "329 329 _2012"),
            ("-0700 -07:00 -07 Z0700 Z07:00 MST", "+0000 +00:00 +00 Z Z UTC"),
            ("2006-01-02T15:04:05Z07:00", "2012-11-24T11:14:12Z"),
            ("Janx Monx .0001 1", "Janx Monx .0011 11"),
            ("Jane", "Jane"),
            ("héllo 15h", "héllo 11h"),
        ];
        for (layout, want) in cases {
            assert_eq!(now.format(layout), want, "layout {layout:?}");
        }
        assert_eq!(t(1_353_715_200, 0).format("3PM .9"), "12AM ");
    }

    #[test]
    fn durations_print_as_go_prints_them() {
        let cases = [
            (0, "0s"),
            (1, "1ns"),
            (1_500, "1.5µs"),
            (1_500_000, "1.5ms"),
            (-1_500_000, "-1.5ms"),
            (1_800 * NANOS, "30m0s"),
            (3_720_010_000_000, "1h2m0.01s"),
            (-3_720_010_000_000, "-1h2m0.01s"),
            (90 * NANOS, "1m30s"),
            (NANOS + 1, "1.000000001s"),
            (100 * 3600 * NANOS, "100h0m0s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for (nanos, want) in cases {
            assert_eq!(GoDuration::new(nanos, true).go_string(), want);
        }
        assert_eq!(GoDuration::new(1_500_000_000, false).seconds(), 1.5);
    }

    #[test]
    fn methods_answer_as_go() {
        let now = t(1_353_755_652, 0);
        let call = |name: &str, args: &[Value]| now.method(name, args).unwrap().unwrap().to_string();
        assert_eq!(call("Month", &[]), "November");
        assert_eq!(call("Weekday", &[]), "Saturday");
        assert_eq!(call("UnixMilli", &[]), "1353755652000");
        let back = Value::object(GoDuration::new(-1_800 * NANOS, true));
        assert_eq!(
            call("Add", std::slice::from_ref(&back)),
            "2012-11-24 10:44:12 +0000 UTC"
        );
        assert_eq!(call("Add", &[Value::Int(NANOS)]), "2012-11-24 11:14:13 +0000 UTC");
        let earlier = now.method("Add", &[back]).unwrap().unwrap();
        assert_eq!(call("Sub", std::slice::from_ref(&earlier)), "30m0s");
        assert_eq!(call("After", &[earlier]), "true");
        assert!(matches!(
            now.method("Format", &[]),
            Some(Err(CallError::WrongArgs {
                want: Arity::Exact(1),
                got: 0
            }))
        ));
        assert!(now.method("Nope", &[]).is_none());
        assert_eq!(
            t(-62_135_596_800, 0)
                .method("IsZero", &[])
                .unwrap()
                .unwrap()
                .to_string(),
            "true"
        );
    }
}
