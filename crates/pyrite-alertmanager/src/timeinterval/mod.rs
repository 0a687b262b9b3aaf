//! Alertmanager's `time_intervals`: the entries of a named time interval as written in
//! `alertmanager.yml`, read and checked as Alertmanager 0.27/0.28 reads and checks them,
//! printed back in the form Alertmanager prints them, and asked whether an instant falls
//! inside them.
//!
//! The invariant a reader must not break: every range held by a [`TimeInterval`] has
//! passed Alertmanager's validation (the only way in is parsing, through [`FromStr`],
//! [`TimeRange::new`] or `Deserialize`), so [`TimeInterval::contains`] never meets a
//! malformed range and never fails. Every check is made on the wall-clock date and time
//! in the interval's `location` (UTC when absent).
//!
//! Deliberate behaviours kept from Alertmanager:
//! - an absent field matches every instant, but a field given as an empty list matches
//!   none;
//! - month numbers are not range-checked (`13` is accepted and never matches), and years
//!   may be any integer;
//! - months, days of the month and years are printed back as numbers (`1:3`), weekdays as
//!   names (`monday:friday`), times as `HH:MM`;
//! - the length of a month is its calendar length in the interval's location (the
//!   Alertmanager fix for negative days across DST changes).

use std::fmt;
use std::num::IntErrorKind;
use std::str::FromStr;

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Timelike, Utc};
use chrono_tz::Tz;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize, Serializer};

#[cfg(test)]
mod tests;

/// Why a time interval (or one of its parts) was rejected; the messages are Alertmanager's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeIntervalError {
    #[error("both start and end times must be provided")]
    MissingTime,
    #[error("couldn't parse timestamp {0}, invalid format")]
    InvalidTimestamp(String),
    #[error("start time cannot be equal or greater than end time")]
    StartNotBeforeEnd,
    #[error("couldn't parse range {0}, invalid format")]
    InvalidRange(String),
    /// A member that must be an integer is not one (Go's `strconv.Atoi` wording).
    #[error("strconv.Atoi: parsing {0:?}: invalid syntax")]
    NotAnInteger(String),
    /// A member that must be an integer does not fit in 64 bits (Go's `strconv.Atoi` wording).
    #[error("strconv.Atoi: parsing {0:?}: value out of range")]
    IntegerOutOfRange(String),
    #[error("{0} is not a valid weekday")]
    InvalidWeekday(String),
    #[error("start day cannot be before end day")]
    WeekdaysReversed,
    #[error("{0} is not a valid day of the month: out of range")]
    DayOfMonthOutOfRange(i64),
    #[error("end day must be negative if start day is negative")]
    DayOfMonthSignMismatch,
    #[error("end day {end} is always before start day {start}")]
    DaysOfMonthReversed { start: i64, end: i64 },
    #[error("{0} is not a valid month")]
    InvalidMonth(String),
    /// Month names as Alertmanager prints them; empty for a number outside 1..=12.
    #[error("end month {end} is before start month {start}")]
    MonthsReversed { start: String, end: String },
    #[error("end year {end} is before start year {start}")]
    YearsReversed { start: i64, end: i64 },
    #[error("unknown time zone {0}")]
    UnknownTimeZone(String),
    #[error("time: invalid location name")]
    InvalidLocationName,
}

/// One entry of a named time interval's `time_intervals` list, as written in
/// alertmanager.yml. A field left out matches every instant.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeInterval {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Vec<TimeRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weekdays: Option<Vec<WeekdayRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub days_of_month: Option<Vec<DayOfMonthRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub months: Option<Vec<MonthRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub years: Option<Vec<YearRange>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

impl TimeInterval {
    /// Whether the instant falls in this interval (every given field must match; an absent
    /// field matches all), evaluated in `location` (default UTC; "Local" = the machine's zone).
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let wall = match self.location {
            None => WallClock::of(t),
            Some(Location::Local) => WallClock::of(t.with_timezone(&chrono::Local)),
            Some(Location::Zone(tz)) => WallClock::of(t.with_timezone(&tz)),
        };
        matches_any(&self.times, |r| r.contains_minute(wall.minute_of_day))
            && matches_any(&self.days_of_month, |r| r.contains_day(wall.day, wall.days_in_month))
            && matches_any(&self.months, |r| r.contains(i64::from(wall.month)))
            && matches_any(&self.weekdays, |r| r.contains_weekday(wall.weekday))
            && matches_any(&self.years, |r| r.contains(i64::from(wall.year)))
    }
}

/// An absent list matches everything; a present one (even empty) needs a matching member.
fn matches_any<T>(ranges: &Option<Vec<T>>, matches: impl Fn(&T) -> bool) -> bool {
    ranges.as_ref().is_none_or(|rs| rs.iter().any(matches))
}

/// The wall-clock fields of an instant in some zone.
struct WallClock {
    minute_of_day: u32,
    /// 0 = Sunday.
    weekday: u32,
    day: u32,
    month: u32,
    year: i32,
    days_in_month: u32,
}

impl WallClock {
    fn of<Z: TimeZone>(t: DateTime<Z>) -> Self {
        let local: NaiveDateTime = t.naive_local();
        WallClock {
            minute_of_day: local.hour() * 60 + local.minute(),
            weekday: local.weekday().num_days_from_sunday(),
            day: local.day(),
            month: local.month(),
            year: local.year(),
            days_in_month: days_in_month(local.year(), local.month()),
        }
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// A span of the day in minutes, `start_minute` inclusive and `end_minute` exclusive,
/// with `0 <= start_minute < end_minute <= 1440`. Written `{start_time: "HH:MM", end_time: "HH:MM"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    start_minute: u32,
    end_minute: u32,
}

impl TimeRange {
    /// Parses `HH:MM` bounds (`24:00` allowed); the start must be before the end.
    pub fn new(start_time: &str, end_time: &str) -> Result<Self, TimeIntervalError> {
        if start_time.is_empty() || end_time.is_empty() {
            return Err(TimeIntervalError::MissingTime);
        }
        let start_minute = parse_clock(start_time)?;
        let end_minute = parse_clock(end_time)?;
        if start_minute >= end_minute {
            return Err(TimeIntervalError::StartNotBeforeEnd);
        }
        Ok(TimeRange {
            start_minute,
            end_minute,
        })
    }

    /// Minutes after midnight at which the range starts (inclusive).
    pub fn start_minute(&self) -> u32 {
        self.start_minute
    }

    /// Minutes after midnight at which the range ends (exclusive).
    pub fn end_minute(&self) -> u32 {
        self.end_minute
    }

    fn contains_minute(&self, minute: u32) -> bool {
        minute >= self.start_minute && minute < self.end_minute
    }
}

/// `HH:MM` with `00:00` to `23:59`, or `24:00`, as minutes after midnight.
fn parse_clock(s: &str) -> Result<u32, TimeIntervalError> {
    let invalid = || TimeIntervalError::InvalidTimestamp(s.to_string());
    if s == "24:00" {
        return Ok(24 * 60);
    }
    let b = s.as_bytes();
    if b.len() != 5 || b[2] != b':' || !b.iter().enumerate().all(|(i, c)| i == 2 || c.is_ascii_digit()) {
        return Err(invalid());
    }
    let digit = |i: usize| u32::from(b[i] - b'0');
    let (hours, minutes) = (digit(0) * 10 + digit(1), digit(3) * 10 + digit(4));
    if hours > 23 || minutes > 59 {
        return Err(invalid());
    }
    Ok(hours * 60 + minutes)
}

fn format_clock(minutes: u32) -> String {
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

/// The YAML form of a [`TimeRange`].
#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct TimeRangeFields {
    #[serde(default)]
    start_time: Option<Scalar>,
    #[serde(default)]
    end_time: Option<Scalar>,
}

impl<'de> Deserialize<'de> for TimeRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = TimeRangeFields::deserialize(deserializer)?;
        let text = |f: Option<Scalar>| f.map(|s| s.0).unwrap_or_default();
        TimeRange::new(&text(fields.start_time), &text(fields.end_time)).map_err(de::Error::custom)
    }
}

impl Serialize for TimeRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        TimeRangeFields {
            start_time: Some(Scalar(format_clock(self.start_minute))),
            end_time: Some(Scalar(format_clock(self.end_minute))),
        }
        .serialize(serializer)
    }
}

/// An inclusive range of weekdays, 0 = Sunday to 6 = Saturday, `begin <= end`.
/// Written by (case-insensitive) name: `monday:friday` or `saturday`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeekdayRange {
    begin: u32,
    end: u32,
}

const WEEKDAYS: [&str; 7] = [
    "sunday",
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
];

impl WeekdayRange {
    /// First weekday of the range, 0 = Sunday.
    pub fn begin(&self) -> u32 {
        self.begin
    }

    /// Last weekday of the range (inclusive), 0 = Sunday.
    pub fn end(&self) -> u32 {
        self.end
    }

    fn contains_weekday(&self, weekday: u32) -> bool {
        weekday >= self.begin && weekday <= self.end
    }
}

impl FromStr for WeekdayRange {
    type Err = TimeIntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (begin, end) = parse_range(s, |member| {
            WEEKDAYS
                .iter()
                .position(|name| *name == member)
                .map(|i| i as i64)
                .ok_or_else(|| TimeIntervalError::InvalidWeekday(member.to_string()))
        })?;
        if begin > end {
            return Err(TimeIntervalError::WeekdaysReversed);
        }
        // Names only ever map into 0..=6, so the members are in range.
        Ok(WeekdayRange {
            begin: begin as u32,
            end: end as u32,
        })
    }
}

impl fmt::Display for WeekdayRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = |d: u32| WEEKDAYS.get(d as usize).copied().unwrap_or_default();
        if self.begin == self.end {
            f.write_str(name(self.begin))
        } else {
            write!(f, "{}:{}", name(self.begin), name(self.end))
        }
    }
}

/// An inclusive range of days of the month. Members are 1..=31 or -31..=-1, a negative
/// day counting back from the month's end (-1 = last day); a negative start needs a
/// negative end, and the range is not empty in a 28-day month. Written `1:5`, `-3:-1`, `15`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayOfMonthRange {
    begin: i64,
    end: i64,
}

impl DayOfMonthRange {
    /// First day of the range as written (negative = from the month's end).
    pub fn begin(&self) -> i64 {
        self.begin
    }

    /// Last day of the range as written (inclusive; negative = from the month's end).
    pub fn end(&self) -> i64 {
        self.end
    }

    /// Resolves negative days against the month's length and clamps to the month, as
    /// Alertmanager does; a start past the month's end matches nothing.
    fn contains_day(&self, day: u32, days_in_month: u32) -> bool {
        let (day, len) = (i64::from(day), i64::from(days_in_month));
        let resolve = |d: i64| if d < 0 { len + d + 1 } else { d };
        let (begin, end) = (resolve(self.begin), resolve(self.end));
        if begin > len {
            return false;
        }
        let (begin, end) = (begin.clamp(-len, len), end.clamp(-len, len));
        day >= begin && day <= end
    }
}

impl FromStr for DayOfMonthRange {
    type Err = TimeIntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (begin, end) = parse_range(s, parse_int)?;
        for d in [begin, end] {
            if d == 0 || !(-31..=31).contains(&d) {
                return Err(TimeIntervalError::DayOfMonthOutOfRange(d));
            }
        }
        if begin < 0 && end > 0 {
            return Err(TimeIntervalError::DayOfMonthSignMismatch);
        }
        // Negative days are placed in the shortest month, so only ranges empty in every
        // month are refused.
        let in_short_month = |d: i64| if d < 0 { 28 + d } else { d };
        if in_short_month(begin) > in_short_month(end) {
            return Err(TimeIntervalError::DaysOfMonthReversed { start: begin, end });
        }
        Ok(DayOfMonthRange { begin, end })
    }
}

/// An inclusive range of months, 1 = January, `begin <= end`. Written by
/// (case-insensitive) name or number: `january:march`, `12`; printed as numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthRange {
    begin: i64,
    end: i64,
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

fn month_name(month: i64) -> &'static str {
    usize::try_from(month - 1)
        .ok()
        .and_then(|i| MONTHS.get(i))
        .copied()
        .unwrap_or_default()
}

impl MonthRange {
    /// First month of the range, 1 = January.
    pub fn begin(&self) -> i64 {
        self.begin
    }

    /// Last month of the range (inclusive), 1 = January.
    pub fn end(&self) -> i64 {
        self.end
    }

    fn contains(&self, month: i64) -> bool {
        month >= self.begin && month <= self.end
    }
}

impl FromStr for MonthRange {
    type Err = TimeIntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (begin, end) = parse_range(s, |member| match MONTHS.iter().position(|name| *name == member) {
            Some(i) => Ok(i as i64 + 1),
            None => member
                .parse::<i64>()
                .map_err(|_| TimeIntervalError::InvalidMonth(member.to_string())),
        })?;
        if begin > end {
            return Err(TimeIntervalError::MonthsReversed {
                start: month_name(begin).to_string(),
                end: month_name(end).to_string(),
            });
        }
        Ok(MonthRange { begin, end })
    }
}

/// An inclusive range of years, `begin <= end`. Written `2020:2022` or `2021`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YearRange {
    begin: i64,
    end: i64,
}

impl YearRange {
    /// First year of the range.
    pub fn begin(&self) -> i64 {
        self.begin
    }

    /// Last year of the range (inclusive).
    pub fn end(&self) -> i64 {
        self.end
    }

    fn contains(&self, year: i64) -> bool {
        year >= self.begin && year <= self.end
    }
}

impl FromStr for YearRange {
    type Err = TimeIntervalError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (begin, end) = parse_range(s, parse_int)?;
        if begin > end {
            return Err(TimeIntervalError::YearsReversed { start: begin, end });
        }
        Ok(YearRange { begin, end })
    }
}

/// Numeric ranges print as Alertmanager prints them: `begin:end`, or one number.
macro_rules! display_numeric_range {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                if self.begin == self.end {
                    write!(f, "{}", self.begin)
                } else {
                    write!(f, "{}:{}", self.begin, self.end)
                }
            }
        }
    )*};
}
display_numeric_range!(DayOfMonthRange, MonthRange, YearRange);

/// Ranges are YAML scalars, parsed with [`FromStr`] and printed with `Display`.
macro_rules! serde_via_string {
    ($($ty:ty),*) => {$(
        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Scalar::deserialize(deserializer)?.0.parse().map_err(de::Error::custom)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }
    )*};
}
serde_via_string!(WeekdayRange, DayOfMonthRange, MonthRange, YearRange, Location);

/// Splits `a:b` or `a` (lower-cased) and maps each member; a single member is `a:a`.
fn parse_range(
    input: &str,
    member: impl Fn(&str) -> Result<i64, TimeIntervalError>,
) -> Result<(i64, i64), TimeIntervalError> {
    let lower = input.to_lowercase();
    let mut parts = lower.split(':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(one), None, _) => member(one).map(|v| (v, v)),
        (Some(begin), Some(end), None) => Ok((member(begin)?, member(end)?)),
        _ => Err(TimeIntervalError::InvalidRange(lower.clone())),
    }
}

/// A decimal integer with an optional sign, as Go's `strconv.Atoi` reads it.
fn parse_int(s: &str) -> Result<i64, TimeIntervalError> {
    s.parse::<i64>().map_err(|e| match e.kind() {
        IntErrorKind::PosOverflow | IntErrorKind::NegOverflow => TimeIntervalError::IntegerOutOfRange(s.to_string()),
        _ => TimeIntervalError::NotAnInteger(s.to_string()),
    })
}

/// The zone an interval is evaluated in: an IANA zone, or the machine's own (`Local`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// The machine's zone (`TZ`, else the system setting), read at each evaluation.
    Local,
    Zone(Tz),
}

impl FromStr for Location {
    type Err = TimeIntervalError;

    /// Resolves a name as Go's `time.LoadLocation` does: `""` and `UTC` are UTC, `Local`
    /// is the machine's zone, anything else an IANA zone name (case-sensitive).
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "" | "UTC" => Ok(Location::Zone(Tz::UTC)),
            "Local" => Ok(Location::Local),
            _ if name.contains("..") || name.starts_with('/') || name.starts_with('\\') => {
                Err(TimeIntervalError::InvalidLocationName)
            }
            _ => name
                .parse::<Tz>()
                .map(Location::Zone)
                .map_err(|_| TimeIntervalError::UnknownTimeZone(name.to_string())),
        }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Local => f.write_str("Local"),
            Location::Zone(tz) => f.write_str(tz.name()),
        }
    }
}

/// A YAML scalar read as its text, as Go's YAML decoder fills a string: `15`, `2021` and
/// `true` are accepted unquoted; null is the empty string.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
struct Scalar(String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ScalarVisitor;

        impl Visitor<'_> for ScalarVisitor {
            type Value = Scalar;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }

            fn visit_unit<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }

            fn visit_none<E: de::Error>(self) -> Result<Scalar, E> {
                Ok(Scalar(String::new()))
            }
        }

        deserializer.deserialize_any(ScalarVisitor)
    }
}
