//! Go's `time.Time` (in a zone) and `time.Duration` as notification template values:
//! what `.StartsAt`, `.EndsAt`, `tz` and `since` hand to templates. They print as Go
//! prints them (`2024-01-02 03:04:05 +0000 UTC`, `1h2m3s`) and answer the methods
//! templates call (`.Format "15:04"`, `.Unix`, `.Add`, `.Sub`, …) with Go's
//! reference-time layouts.
//!
//! The invariant: a time is whole seconds since the Unix epoch, nanoseconds in
//! `0..1e9` and a zone from the tz database; printing takes the civil fields from that
//! zone, so the same instant prints the same in the same zone whatever the server's.

use chrono::{DateTime, Datelike, Offset, TimeZone, Timelike};
use chrono_tz::{OffsetName, Tz};
use pyrite_template::{Arity, CallError, Object, Value};

const NANOS: i64 = 1_000_000_000;
/// Go's zero `time.Time`: January 1, year 1, 00:00:00 UTC.
const ZERO_SECS: i64 = -62_135_596_800;

pub const TIME_TYPE: &str = "time.Time";
pub const DURATION_TYPE: &str = "time.Duration";

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

/// Go's `time.Time`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoTime {
    secs: i64,
    nanos: u32,
    zone: Tz,
}

/// Go's `time.Duration`: nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration(pub i64);

/// A named integer with a `String` method (`time.Month`, `time.Weekday`).
struct Named {
    type_name: &'static str,
    n: i64,
    name: &'static str,
}

impl Object for Named {
    fn type_name(&self) -> &str {
        self.type_name
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::Int(self.n))
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        (name == "String").then(|| {
            if args.is_empty() {
                Ok(Value::from(self.name))
            } else {
                Err(CallError::WrongArgs {
                    want: Arity::Exact(0),
                    got: args.len(),
                })
            }
        })
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.name.to_string())
    }
}

/// The civil fields of a time in its zone.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    yday: u32,
    weekday: usize,
    hour: u32,
    min: u32,
    sec: u32,
    nanos: u32,
    /// Seconds east of UTC.
    offset: i32,
    abbreviation: String,
}

impl GoTime {
    /// The zero time, as Go's `time.Time{}`.
    pub fn zero() -> GoTime {
        GoTime {
            secs: ZERO_SECS,
            nanos: 0,
            zone: Tz::UTC,
        }
    }

    /// A UTC time, or the zero time for none.
    pub fn from_chrono(t: Option<DateTime<chrono::Utc>>) -> GoTime {
        t.map_or_else(GoTime::zero, |t| GoTime {
            secs: t.timestamp(),
            nanos: t.timestamp_subsec_nanos().min(999_999_999),
            zone: Tz::UTC,
        })
    }

    /// The same instant in `zone` (Go's `t.In(loc)`).
    pub fn in_zone(self, zone: Tz) -> GoTime {
        GoTime { zone, ..self }
    }

    fn total_nanos(self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS) + i128::from(self.nanos)
    }

    fn from_total_nanos(ns: i128, zone: Tz) -> GoTime {
        let n = i128::from(NANOS);
        GoTime {
            secs: ns.div_euclid(n).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64,
            nanos: ns.rem_euclid(n) as u32,
            zone,
        }
    }

    /// The time since `self` at `now`.
    pub fn since(self, now: GoTime) -> GoDuration {
        GoDuration(clamp_i64(now.total_nanos() - self.total_nanos()))
    }

    fn civil(self) -> Civil {
        let utc = DateTime::from_timestamp(self.secs, self.nanos).unwrap_or_default();
        let local = self.zone.from_utc_datetime(&utc.naive_utc());
        let offset = local.offset();
        let abbreviation = offset.abbreviation().unwrap_or_default().to_string();
        Civil {
            year: i64::from(local.year()),
            month: local.month(),
            day: local.day(),
            yday: local.ordinal(),
            weekday: local.weekday().num_days_from_sunday() as usize,
            hour: local.hour(),
            min: local.minute(),
            sec: local.second(),
            nanos: self.nanos,
            offset: offset.fix().local_minus_utc(),
            abbreviation,
        }
    }

    /// Go's `Time.String()`.
    pub fn go_string(self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Go's `Time.Format`.
    pub fn format(self, layout: &str) -> String {
        let c = self.civil();
        let mut out = String::with_capacity(layout.len() + 10);
        let bytes = layout.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            if let Some((len, std)) = std_at(&bytes[i..]) {
                write_std(&mut out, std, &c);
                i += len;
            } else {
                let ch = layout[i..].chars().next().unwrap_or_default();
                out.push(ch);
                i += ch.len_utf8();
            }
        }
        out
    }

    fn nullary(&self, name: &str) -> Option<Value> {
        let c = || self.civil();
        Some(match name {
            "String" => Value::from(self.go_string()),
            "Unix" => Value::Int(self.secs),
            "UnixMilli" => Value::Int(clamp_i64(self.total_nanos() / 1_000_000)),
            "UnixNano" => Value::Int(clamp_i64(self.total_nanos())),
            "Nanosecond" => Value::Int(i64::from(self.nanos)),
            "Second" => Value::Int(i64::from(c().sec)),
            "Minute" => Value::Int(i64::from(c().min)),
            "Hour" => Value::Int(i64::from(c().hour)),
            "Day" => Value::Int(i64::from(c().day)),
            "YearDay" => Value::Int(i64::from(c().yday)),
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
                    name: DAYS[d % 7],
                })
            }
            "Location" => Value::from(self.zone.name()),
            "UTC" | "Local" => Value::object(self.in_zone(Tz::UTC)),
            "IsZero" => Value::Bool(self.secs == ZERO_SECS && self.nanos == 0),
            _ => return None,
        })
    }

    fn unary(&self, name: &str, arg: &Value) -> Option<Result<Value, CallError>> {
        let wrong = |want: &str| {
            CallError::Failed(format!(
                "wrong type for value; expected {want}; got {}",
                arg.type_name()
            ))
        };
        let time = || time_arg(arg).ok_or_else(|| wrong(TIME_TYPE));
        let result = match name {
            "Format" => match arg {
                Value::String(layout) => Ok(Value::from(self.format(layout))),
                _ => Err(wrong("string")),
            },
            "Add" => duration_arg(arg).ok_or_else(|| wrong(DURATION_TYPE)).map(|d| {
                Value::object(GoTime::from_total_nanos(
                    self.total_nanos() + i128::from(d.0),
                    self.zone,
                ))
            }),
            "Sub" => time().map(|t| Value::object(t.since(*self))),
            "Before" => time().map(|t| Value::Bool(self.total_nanos() < t.total_nanos())),
            "After" => time().map(|t| Value::Bool(self.total_nanos() > t.total_nanos())),
            "Equal" => time().map(|t| Value::Bool(self.total_nanos() == t.total_nanos())),
            _ => return None,
        };
        Some(result)
    }
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        TIME_TYPE
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        match args {
            [] => self.nullary(name).map(Ok).or_else(|| {
                self.unary(name, &Value::Nil).map(|_| {
                    Err(CallError::WrongArgs {
                        want: Arity::Exact(1),
                        got: 0,
                    })
                })
            }),
            [arg] => self.unary(name, arg).or_else(|| {
                self.nullary(name).map(|_| {
                    Err(CallError::WrongArgs {
                        want: Arity::Exact(0),
                        got: 1,
                    })
                })
            }),
            _ => None,
        }
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.go_string())
    }
}

impl GoDuration {
    pub fn seconds(self) -> f64 {
        (self.0 / NANOS) as f64 + (self.0 % NANOS) as f64 / 1e9
    }

    /// Go's `Duration.String()`: `1h2m0.5s`, `1.5ms`, `0s`.
    pub fn go_string(self) -> String {
        if self.0 == 0 {
            return "0s".to_string();
        }
        let u = self.0.unsigned_abs();
        let sign = if self.0 < 0 { "-" } else { "" };
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

/// `.ddd` of `v / 10^prec` without trailing zeros, or nothing.
fn fraction(v: u64, prec: u32) -> String {
    if prec == 0 || v == 0 {
        return String::new();
    }
    let digits = format!("{v:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

impl Object for GoDuration {
    fn type_name(&self) -> &str {
        DURATION_TYPE
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::Int(self.0))
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        let v = match name {
            "String" => Value::from(self.go_string()),
            "Seconds" => Value::Float(self.seconds()),
            "Minutes" => Value::Float(self.seconds() / 60.0),
            "Hours" => Value::Float(self.seconds() / 3600.0),
            "Milliseconds" => Value::Int(self.0 / 1_000_000),
            "Nanoseconds" => Value::Int(self.0),
            _ => return None,
        };
        Some(if args.is_empty() {
            Ok(v)
        } else {
            Err(CallError::WrongArgs {
                want: Arity::Exact(0),
                got: args.len(),
            })
        })
    }

    fn to_go_string(&self) -> Option<String> {
        Some(self.go_string())
    }
}

/// The time in a template value made by this module.
pub fn time_arg(v: &Value) -> Option<GoTime> {
    let Value::Object(o) = v else { return None };
    if o.type_name() != TIME_TYPE {
        return None;
    }
    let int = |name: &str| match o.method(name, &[]) {
        Some(Ok(Value::Int(i))) => Some(i),
        _ => None,
    };
    let zone = match o.method("Location", &[]) {
        Some(Ok(Value::String(name))) => name.parse::<Tz>().ok()?,
        _ => return None,
    };
    Some(GoTime {
        secs: int("Unix")?,
        nanos: u32::try_from(int("Nanosecond")?).ok()?,
        zone,
    })
}

/// The duration in a template value made by this module.
pub fn duration_arg(v: &Value) -> Option<GoDuration> {
    match v {
        Value::Object(o) if o.type_name() == DURATION_TYPE => match o.underlying() {
            Some(Value::Int(n)) => Some(GoDuration(n)),
            _ => None,
        },
        _ => None,
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
    ZoneName,
    /// A numeric zone: `Z` for UTC when `z`, with `:` between parts when `colons`, and
    /// hours only, hours and minutes, or hours, minutes and seconds.
    Offset {
        z: bool,
        colons: bool,
        parts: u8,
    },
    Frac {
        sep: u8,
        digits: usize,
        trim: bool,
    },
}

/// The layout element at the start of `l` and its length, as Go's `nextStdChunk` finds it.
fn std_at(l: &[u8]) -> Option<(usize, Std)> {
    let starts = |p: &str| l.starts_with(p.as_bytes());
    let lower_after = |n: usize| l.get(n).is_some_and(u8::is_ascii_lowercase);
    let first = *l.first()?;
    Some(match first {
        b'J' if starts("January") => (7, Std::LongMonth),
        b'J' if starts("Jan") && !lower_after(3) => (3, Std::Month),
        b'M' if starts("Monday") => (6, Std::LongWeekDay),
        b'M' if starts("Mon") && !lower_after(3) => (3, Std::WeekDay),
        b'M' if starts("MST") => (3, Std::ZoneName),
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
        b'_' if starts("_2") && !starts("_2006") => (2, Std::UnderDay),
        b'_' if starts("__2") => (3, Std::UnderYearDay),
        b'3' => (1, Std::Hour12),
        b'4' => (1, Std::Minute),
        b'5' => (1, Std::Second),
        b'P' if starts("PM") => (2, Std::UpperPm),
        b'p' if starts("pm") => (2, Std::LowerPm),
        b'-' | b'Z' => {
            let forms: [(&str, bool, u8); 5] = [
                ("070000", false, 3),
                ("07:00:00", true, 3),
                ("0700", false, 2),
                ("07:00", true, 2),
                ("07", false, 1),
            ];
            let rest = &l[1..];
            let (form, colons, parts) = forms.iter().find(|(f, ..)| rest.starts_with(f.as_bytes()))?;
            (
                1 + form.len(),
                Std::Offset {
                    z: first == b'Z',
                    colons: *colons,
                    parts: *parts,
                },
            )
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

fn write_offset(out: &mut String, offset: i32, z: bool, colons: bool, parts: u8) {
    if z && offset == 0 {
        out.push('Z');
        return;
    }
    let abs = offset.unsigned_abs();
    out.push(if offset < 0 { '-' } else { '+' });
    out.push_str(&format!("{:02}", abs / 3600));
    let sep = if colons { ":" } else { "" };
    if parts >= 2 {
        out.push_str(&format!("{sep}{:02}", abs / 60 % 60));
    }
    if parts >= 3 {
        out.push_str(&format!("{sep}{:02}", abs % 60));
    }
}

fn write_std(out: &mut String, std: Std, c: &Civil) {
    use std::fmt::Write as _;
    let month = MONTHS[(c.month as usize).saturating_sub(1) % 12];
    let day = DAYS[c.weekday % 7];
    let hour12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
    // Writing to a String cannot fail.
    let _ = match std {
        Std::LongMonth => write!(out, "{month}"),
        Std::Month => write!(out, "{}", &month[..3]),
        Std::NumMonth => write!(out, "{}", c.month),
        Std::ZeroMonth => write!(out, "{:02}", c.month),
        Std::LongWeekDay => write!(out, "{day}"),
        Std::WeekDay => write!(out, "{}", &day[..3]),
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
        Std::ZoneName if !c.abbreviation.is_empty() => write!(out, "{}", c.abbreviation),
        Std::ZoneName => {
            write_offset(out, c.offset, false, false, 2);
            Ok(())
        }
        Std::Offset { z, colons, parts } => {
            write_offset(out, c.offset, z, colons, parts);
            Ok(())
        }
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
