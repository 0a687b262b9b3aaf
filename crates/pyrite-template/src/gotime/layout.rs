//! Go's reference-time layouts (`Mon Jan 2 15:04:05 MST 2006`): the civil fields of a
//! time in its zone, the layout elements Go's `nextStdChunk` recognises, and how each
//! prints.
//!
//! The civil fields are computed here from the seconds since the epoch plus the zone's
//! offset at that instant (the only thing asked of the tz database), so every `i64` of
//! seconds prints, as in Go, however far from the epoch.

use std::fmt::Write as _;

pub(super) const MONTHS: [&str; 12] = [
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
pub(super) const DAYS: [&str; 7] = [
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

/// The parts of a time, in its zone, that layouts print.
pub(super) struct Civil {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub yday: i64,
    pub weekday: usize,
    pub hour: i64,
    pub min: i64,
    pub sec: i64,
    pub nanos: u32,
    /// Seconds east of UTC.
    pub offset: i32,
    /// The zone's abbreviation (`UTC`, `CET`), or empty if it has none.
    pub abbreviation: String,
}

impl Civil {
    /// The civil fields of `secs` since the epoch (plus `nanos`) at `offset` seconds east
    /// of UTC.
    pub fn new(secs: i64, nanos: u32, offset: i32, abbreviation: String) -> Civil {
        let local = secs.saturating_add(i64::from(offset));
        let days = local.div_euclid(86_400);
        let rest = local.rem_euclid(86_400);
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
            nanos,
            offset,
            abbreviation,
        }
    }

    /// Go's `Time.Format` of these fields.
    pub fn format(&self, layout: &str) -> String {
        let mut out = String::with_capacity(layout.len() + 10);
        let bytes = layout.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            match std_at(&bytes[i..]) {
                Some((len, std)) => {
                    write_std(&mut out, std, self);
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
        // `_2006` is a literal `_` and then the year.
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
    let sep = if colons { ":" } else { "" };
    // Writing to a String cannot fail.
    let _ = write!(out, "{:02}", abs / 3600);
    if parts >= 2 {
        let _ = write!(out, "{sep}{:02}", abs / 60 % 60);
    }
    if parts >= 3 {
        let _ = write!(out, "{sep}{:02}", abs % 60);
    }
}

fn write_std(out: &mut String, std: Std, c: &Civil) {
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
