//! Go's `time.Time` and `time.Duration` as template values, for the components that
//! hand times to templates: the ruler's `toTime`, `toDuration` and `now`, the
//! alertmanager's `.StartsAt`, `.EndsAt`, `tz` and `since`. They print as Go prints them
//! (`2015-06-23 13:19:44.128 +0000 UTC`, `30m0s`) and answer the methods templates call
//! on them (`.Format "2006"`, `.Add`, `.Sub`, `.Unix`, `.Seconds`, …), with Go's
//! reference-time layouts (in `layout`).
//!
//! A time carries a zone from the tz database (UTC unless moved with
//! [`GoTime::in_zone`]); printing takes the civil fields in that zone, so the same
//! instant prints the same in the same zone whatever the server's. Go's pointers
//! (`*time.Time` as Prometheus's `toTime` returns, `*time.Duration`) are [`Pointer`]s:
//! they print and answer methods as what they point to, under a `*` type name.
//!
//! Invariant: a time is whole seconds since the Unix epoch plus nanoseconds in `0..1e9`,
//! as Go normalises it, so printing never sees a negative fraction.

mod layout;
#[cfg(test)]
mod tests;

use chrono::{DateTime, Offset, TimeZone};
use chrono_tz::{OffsetName, Tz};

use self::layout::{Civil, DAYS, MONTHS};
use crate::{Arity, CallError, Object, Value};

const NANOS: i64 = 1_000_000_000;
/// Go's zero `time.Time`: January 1, year 1, 00:00:00 UTC.
const ZERO_SECS: i64 = -62_135_596_800;

/// Go's type name of a time.
pub const TIME_TYPE: &str = "time.Time";
/// Go's type name of a duration.
pub const DURATION_TYPE: &str = "time.Duration";

/// Go's `time.Time`: an instant and the zone it prints in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoTime {
    secs: i64,
    nanos: u32,
    zone: Tz,
}

/// Go's `time.Duration`: nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoDuration(pub i64);

/// A Go pointer to a value (`*time.Time`, `*time.Duration`): its type name has a `*`,
/// and it prints and answers methods as the value does; it has no underlying value.
pub struct Pointer<T> {
    target: T,
    type_name: String,
}

impl<T: Object> Pointer<T> {
    pub fn new(target: T) -> Pointer<T> {
        let type_name = format!("*{}", target.type_name());
        Pointer { target, type_name }
    }
}

impl<T: Object> Object for Pointer<T> {
    fn type_name(&self) -> &str {
        &self.type_name
    }

    fn field(&self, name: &str) -> Option<Value> {
        self.target.field(name)
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        self.target.method(name, args)
    }

    fn to_go_string(&self) -> Option<String> {
        self.target.to_go_string()
    }
}

/// A Go named integer type with a `String` method (`time.Month`, `time.Weekday`).
struct Named {
    type_name: &'static str,
    n: i64,
    name: &'static str,
}

impl GoTime {
    /// `time.Unix(secs, nanos)` in UTC, normalised.
    pub fn unix(secs: i64, nanos: i64) -> GoTime {
        GoTime {
            secs: secs.saturating_add(nanos.div_euclid(NANOS)),
            nanos: nanos.rem_euclid(NANOS) as u32,
            zone: Tz::UTC,
        }
    }

    /// The zero time, as Go's `time.Time{}`.
    pub fn zero() -> GoTime {
        GoTime::unix(ZERO_SECS, 0)
    }

    /// A UTC time, or the zero time for none.
    pub fn from_chrono(t: Option<DateTime<chrono::Utc>>) -> GoTime {
        t.map_or_else(GoTime::zero, |t| {
            GoTime::unix(t.timestamp(), i64::from(t.timestamp_subsec_nanos().min(999_999_999)))
        })
    }

    /// The same instant in `zone` (Go's `t.In(loc)`).
    pub fn in_zone(self, zone: Tz) -> GoTime {
        GoTime { zone, ..self }
    }

    /// The time since `self` at `now` (Go's `now.Sub(t)`).
    pub fn since(self, now: GoTime) -> GoDuration {
        GoDuration(clamp_i64(now.total_nanos() - self.total_nanos()))
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

    fn civil(self) -> Civil {
        if self.zone == Tz::UTC {
            return Civil::new(self.secs, self.nanos, 0, "UTC".to_string());
        }
        let utc = DateTime::from_timestamp(self.secs, self.nanos).unwrap_or_default();
        let offset = self.zone.offset_from_utc_datetime(&utc.naive_utc());
        let abbreviation = offset.abbreviation().unwrap_or_default().to_string();
        Civil::new(self.secs, self.nanos, offset.fix().local_minus_utc(), abbreviation)
    }

    /// Go's `Time.String()`.
    pub fn go_string(self) -> String {
        self.format("2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Go's `Time.Format`.
    pub fn format(self, layout: &str) -> String {
        self.civil().format(layout)
    }

    /// The methods without arguments, or `None` if `name` is none of them.
    fn nullary(&self, name: &str) -> Option<Value> {
        let c = || self.civil();
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
                    name: DAYS[d % 7],
                })
            }
            "Location" => Value::from(self.zone.name()),
            // The server's zone is UTC as far as templates are concerned.
            "UTC" | "Local" => Value::object(self.in_zone(Tz::UTC)),
            "IsZero" => Value::Bool(self.secs == ZERO_SECS && self.nanos == 0),
            _ => return None,
        })
    }

    /// The methods of one argument.
    fn unary(&self, name: &str, arg: &Value) -> Result<Value, CallError> {
        let wrong = |want: &str| {
            CallError::Failed(format!(
                "wrong type for value; expected {want}; got {}",
                arg.type_name()
            ))
        };
        let time = || time_arg(arg).ok_or_else(|| wrong(TIME_TYPE));
        Ok(match name {
            "Format" => match arg {
                Value::String(layout) => Value::from(self.format(layout)),
                _ => return Err(wrong("string")),
            },
            "Add" => {
                // A duration, a pointer to one, or an integer constant of nanoseconds.
                let d = match arg {
                    Value::Int(n) => *n,
                    _ => nanoseconds(arg, true).ok_or_else(|| wrong(DURATION_TYPE))?,
                };
                Value::object(GoTime::from_total_nanos(self.total_nanos() + i128::from(d), self.zone))
            }
            "Sub" => Value::object(time()?.since(*self)),
            "Before" => Value::Bool(self.total_nanos() < time()?.total_nanos()),
            "After" => Value::Bool(self.total_nanos() > time()?.total_nanos()),
            "Equal" => Value::Bool(self.total_nanos() == time()?.total_nanos()),
            _ => return Err(CallError::Failed(format!("no method {name}"))),
        })
    }
}

impl GoDuration {
    /// Go's `Duration.Seconds()`.
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

/// Go's `fmtFrac`: `.digits` of `v / 10^prec` without trailing zeros, or nothing.
fn fraction(v: u64, prec: u32) -> String {
    if v == 0 {
        return String::new();
    }
    let digits = format!("{v:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

fn clamp_i64(v: i128) -> i64 {
    v.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
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

/// The nanoseconds of a duration value made by this module, or of a pointer to one if
/// `pointer`.
fn nanoseconds(v: &Value, pointer: bool) -> Option<i64> {
    let Value::Object(o) = v else { return None };
    let t = o.type_name();
    if t != DURATION_TYPE && !(pointer && t.strip_prefix('*') == Some(DURATION_TYPE)) {
        return None;
    }
    match o.method("Nanoseconds", &[]) {
        Some(Ok(Value::Int(n))) => Some(n),
        _ => None,
    }
}

/// The time in a template value made by this module (a `time.Time` or `*time.Time`).
pub fn time_arg(v: &Value) -> Option<GoTime> {
    let Value::Object(o) = v else { return None };
    let t = o.type_name();
    if t != TIME_TYPE && t.strip_prefix('*') != Some(TIME_TYPE) {
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
    Some(GoTime::unix(int("Unix")?, int("Nanosecond")?).in_zone(zone))
}

/// The duration in a template value made by this module (a `time.Duration`, not a
/// pointer to one).
pub fn duration_arg(v: &Value) -> Option<GoDuration> {
    nanoseconds(v, false).map(GoDuration)
}

impl Object for GoTime {
    fn type_name(&self) -> &str {
        TIME_TYPE
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

impl Object for GoDuration {
    fn type_name(&self) -> &str {
        DURATION_TYPE
    }

    fn underlying(&self) -> Option<Value> {
        Some(Value::Int(self.0))
    }

    fn method(&self, name: &str, args: &[Value]) -> Option<Result<Value, CallError>> {
        let d = self.0;
        let v = match name {
            "String" => Value::from(self.go_string()),
            "Nanoseconds" => Value::Int(d),
            "Microseconds" => Value::Int(d / 1_000),
            "Milliseconds" => Value::Int(d / 1_000_000),
            "Seconds" => Value::Float(self.seconds()),
            "Minutes" => Value::Float((d / (60 * NANOS)) as f64 + (d % (60 * NANOS)) as f64 / (60e9)),
            "Hours" => Value::Float((d / (3600 * NANOS)) as f64 + (d % (3600 * NANOS)) as f64 / (3600e9)),
            "Abs" => Value::object(GoDuration(if d == i64::MIN { i64::MAX } else { d.abs() })),
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
