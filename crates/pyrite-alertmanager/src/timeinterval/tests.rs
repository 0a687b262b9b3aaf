//! Cases ported from Alertmanager's timeinterval tests (parsing with its messages, and
//! containment), plus printing back.

use chrono::{DateTime, Utc};

use super::*;

/// An instant written as Alertmanager's tests write them (Go's RFC822Z): `02 Jan 06 15:04 +0000`.
fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_str(s, "%d %b %y %H:%M %z")
        .unwrap_or_else(|e| panic!("bad test instant {s}: {e}"))
        .with_timezone(&Utc)
}

fn parse_list(yaml: &str) -> Result<Vec<TimeInterval>, String> {
    serde_yaml::from_str(yaml).map_err(|e| e.to_string())
}

fn parse_one(yaml: &str) -> TimeInterval {
    serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"))
}

/// Parsing must fail, with `message` in the error.
fn assert_rejected(yaml: &str, message: &str) {
    match parse_list(yaml) {
        Ok(ti) => panic!("{yaml}: accepted as {ti:?}, expected error {message:?}"),
        Err(e) => assert!(e.contains(message), "{yaml}: error {e:?} lacks {message:?}"),
    }
}

fn assert_contains(ti: &TimeInterval, inside: &[&str], outside: &[&str]) {
    for s in inside {
        assert!(ti.contains(at(s)), "{ti:?} should contain {s}");
    }
    for s in outside {
        assert!(!ti.contains(at(s)), "{ti:?} should not contain {s}");
    }
}

fn weekdays(begin: u32, end: u32) -> WeekdayRange {
    WeekdayRange { begin, end }
}

#[test]
fn time_ranges_parse_as_minutes_of_the_day() {
    for (yaml, start, end) in [
        ("{start_time: '00:00', end_time: '24:00'}", 0, 1440),
        ("{start_time: '01:35', end_time: '17:39'}", 95, 1059),
        ("{start_time: '09:35', end_time: '09:39'}", 575, 579),
        ("{start_time: 09:00, end_time: 17:00}", 540, 1020),
    ] {
        let tr: TimeRange = serde_yaml::from_str(yaml).unwrap_or_else(|e| panic!("{yaml}: {e}"));
        assert_eq!((tr.start_minute(), tr.end_minute()), (start, end), "{yaml}");
    }
}

#[test]
fn time_ranges_are_validated() {
    for (yaml, message) in [
        (
            "{start_time: '17:31', end_time: '17:31'}",
            "start time cannot be equal or greater than end time",
        ),
        (
            "{start_time: '12:30', end_time: '24:01'}",
            "couldn't parse timestamp 24:01, invalid format",
        ),
        (
            "{start_time: '09:30', end_time: '07:41'}",
            "start time cannot be equal or greater than end time",
        ),
        (
            "{start_time: '24:00', end_time: '17:41'}",
            "start time cannot be equal or greater than end time",
        ),
        ("{start_time: '14:03'}", "both start and end times must be provided"),
        (
            "{start_time: '', end_time: '10:00'}",
            "both start and end times must be provided",
        ),
        (
            "{start_time: '01:99', end_time: '23:59'}",
            "couldn't parse timestamp 01:99, invalid format",
        ),
        (
            "{start_time: '00:00', end_time: '99:99'}",
            "couldn't parse timestamp 99:99, invalid format",
        ),
        (
            "{start_time: '9:00', end_time: '10:00'}",
            "couldn't parse timestamp 9:00, invalid format",
        ),
        (
            "{start_time: '09:00 ', end_time: '10:00'}",
            "couldn't parse timestamp 09:00 , invalid format",
        ),
        ("{start_time: '09:00', end_time: '10:00', tz: x}", "unknown field `tz`"),
    ] {
        match serde_yaml::from_str::<TimeRange>(yaml) {
            Ok(tr) => panic!("{yaml}: accepted as {tr:?}"),
            Err(e) => assert!(e.to_string().contains(message), "{yaml}: {e} lacks {message:?}"),
        }
    }
    assert_eq!(
        TimeRange::new("08:00", "08:00"),
        Err(TimeIntervalError::StartNotBeforeEnd)
    );
}

#[test]
fn weekdays_parse_by_name_case_insensitively() {
    let ti = parse_one("weekdays: ['monday:friday', 'Sunday', 'SATURDAY:saturday']");
    assert_eq!(ti.weekdays, Some(vec![weekdays(1, 5), weekdays(0, 0), weekdays(6, 6)]));
}

#[test]
fn weekdays_are_validated() {
    assert_rejected("- weekdays: ['friday:monday']", "start day cannot be before end day");
    assert_rejected(
        "- weekdays: ['blurgsday:flurgsday']",
        "blurgsday is not a valid weekday",
    );
    assert_rejected("- weekdays: ['Blurgsday']", "blurgsday is not a valid weekday");
    assert_rejected("- weekdays: ['1:3']", "1 is not a valid weekday");
    assert_rejected("- weekdays: ['-2:-1']", "-2 is not a valid weekday");
    assert_rejected("- weekdays: [3]", "3 is not a valid weekday");
    assert_rejected(
        "- weekdays: ['monday:tuesday:wednesday']",
        "couldn't parse range monday:tuesday:wednesday, invalid format",
    );
}

#[test]
fn days_of_month_parse_including_negative_and_unquoted() {
    let ti = parse_one("days_of_month: ['1:5', '-3:-1', '15', 20, '1:-1', '+2']");
    let got: Vec<(i64, i64)> = ti
        .days_of_month
        .iter()
        .flatten()
        .map(|r| (r.begin(), r.end()))
        .collect();
    assert_eq!(got, vec![(1, 5), (-3, -1), (15, 15), (20, 20), (1, -1), (2, 2)]);
}

#[test]
fn days_of_month_are_validated() {
    assert_rejected(
        "- days_of_month: ['0']",
        "0 is not a valid day of the month: out of range",
    );
    assert_rejected(
        "- days_of_month: ['-50:-20']",
        "-50 is not a valid day of the month: out of range",
    );
    assert_rejected(
        "- days_of_month: ['1:50']",
        "50 is not a valid day of the month: out of range",
    );
    assert_rejected(
        "- days_of_month: ['-15:5']",
        "end day must be negative if start day is negative",
    );
    assert_rejected(
        "- days_of_month: ['10:-25']",
        "end day -25 is always before start day 10",
    );
    assert_rejected("- days_of_month: ['20:10']", "end day 10 is always before start day 20");
    assert_rejected(
        "- days_of_month: ['first']",
        r#"strconv.Atoi: parsing "first": invalid syntax"#,
    );
    assert_rejected(
        "- days_of_month: ['99999999999999999999']",
        r#"strconv.Atoi: parsing "99999999999999999999": value out of range"#,
    );
}

#[test]
fn months_parse_by_name_or_number() {
    let ti = parse_one("months: ['January:december', 'MAY', '3:june', '12']");
    let got: Vec<(i64, i64)> = ti.months.iter().flatten().map(|r| (r.begin(), r.end())).collect();
    assert_eq!(got, vec![(1, 12), (5, 5), (3, 6), (12, 12)]);
}

#[test]
fn months_are_validated() {
    assert_rejected("- months: ['martius:june']", "martius is not a valid month");
    assert_rejected("- months: ['march:junius']", "junius is not a valid month");
    assert_rejected(
        "- months: ['december:january']",
        "end month january is before start month december",
    );
    assert_rejected(
        "- months: ['11:2']",
        "end month february is before start month november",
    );
    assert_rejected("- months: ['13:2']", "end month february is before start month ");
    // Like Alertmanager, month numbers are not range-checked; 13 never matches.
    let ti = parse_one("months: ['13']");
    assert_contains(&ti, &[], &["31 Dec 21 12:00 +0000", "01 Jan 22 12:00 +0000"]);
}

#[test]
fn years_are_validated() {
    let ti = parse_one("years: ['2020:2022', 2030]");
    let got: Vec<(i64, i64)> = ti.years.iter().flatten().map(|r| (r.begin(), r.end())).collect();
    assert_eq!(got, vec![(2020, 2022), (2030, 2030)]);
    assert_rejected("- years: ['2022:2020']", "end year 2020 is before start year 2022");
    assert_rejected(
        "- years: ['twenty']",
        r#"strconv.Atoi: parsing "twenty": invalid syntax"#,
    );
}

#[test]
fn locations_resolve_as_go_loads_them() {
    let ti = parse_one("years: ['2020:2022']\nlocation: 'Australia/Sydney'");
    assert_eq!(ti.location, Some(Location::Zone(chrono_tz::Australia::Sydney)));
    assert_eq!("".parse::<Location>(), Ok(Location::Zone(Tz::UTC)));
    assert_eq!("UTC".parse::<Location>(), Ok(Location::Zone(Tz::UTC)));
    assert_eq!("Local".parse::<Location>(), Ok(Location::Local));
    assert_rejected("- location: 'Mars/Olympus_Mons'", "unknown time zone Mars/Olympus_Mons");
    assert_rejected("- location: 'europe/berlin'", "unknown time zone europe/berlin");
    assert_rejected("- location: '../etc/passwd'", "time: invalid location name");
    assert_rejected("- location: '/etc/localtime'", "time: invalid location name");
}

#[test]
fn unknown_fields_are_refused() {
    assert_rejected("- weekday: ['monday']", "unknown field `weekday`");
    assert_rejected("- time_zone: 'UTC'", "unknown field `time_zone`");
}

#[test]
fn prints_back_as_alertmanager_does() {
    let yaml = "\
- times: [{start_time: '17:00', end_time: '24:00'}, {start_time: '00:00', end_time: '08:30'}]
  weekdays: ['monday:friday', 'Saturday']
  days_of_month: ['1:5', '-3:-1', '15']
  months: ['january:march', '12']
  years: ['2020:2022']
  location: 'Europe/Berlin'
- location: Local
- {}
";
    let intervals = parse_list(yaml).unwrap_or_else(|e| panic!("{e}"));
    let printed = serde_yaml::to_string(&intervals).unwrap_or_else(|e| panic!("{e}"));
    let expected = "\
- times:
  - start_time: 17:00
    end_time: 24:00
  - start_time: 00:00
    end_time: 08:30
  weekdays:
  - monday:friday
  - saturday
  days_of_month:
  - 1:5
  - -3:-1
  - '15'
  months:
  - 1:3
  - '12'
  years:
  - 2020:2022
  location: Europe/Berlin
- location: Local
- {}
";
    assert_eq!(printed, expected);
    assert_eq!(parse_list(&printed), Ok(intervals.clone()));
    // JSON, as the API prints the configuration, reads back the same way.
    let json = serde_json::to_string(&intervals).unwrap_or_else(|e| panic!("{e}"));
    assert!(json.contains(r#"{"start_time":"17:00","end_time":"24:00"}"#), "{json}");
    let back: Vec<TimeInterval> = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back, intervals);
}

#[test]
fn empty_interval_contains_everything() {
    assert_contains(
        &TimeInterval::default(),
        &[
            "02 Jan 06 15:04 +0000",
            "03 Jan 07 10:04 +0000",
            "04 Jan 06 09:04 +0000",
        ],
        &[],
    );
}

#[test]
fn empty_list_matches_nothing() {
    assert_contains(&parse_one("weekdays: []"), &[], &["02 Jan 06 15:04 +0000"]);
}

#[test]
fn business_hours() {
    let ti = parse_one("times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']");
    assert_contains(
        &ti,
        &[
            "04 May 20 15:04 +0000",
            "05 May 20 10:04 +0000",
            "09 Jun 20 09:04 +0000",
            "08 Jul 20 09:00 +0000",
            "08 Jul 20 16:59 +0000",
            "01 Apr 21 13:00 +0000",
        ],
        &[
            "03 May 20 15:04 +0000", // Sunday
            "04 May 20 08:59 +0000",
            "05 May 20 05:00 +0000",
            "08 Jul 20 17:00 +0000", // end is exclusive
        ],
    );
}

#[test]
fn end_of_day_is_inclusive_of_the_last_minute() {
    let ti = parse_one("times: [{start_time: '17:00', end_time: '24:00'}]");
    assert_contains(
        &ti,
        &["08 Jul 20 17:00 +0000", "08 Jul 20 23:59 +0000"],
        &["09 Jul 20 00:00 +0000"],
    );
}

#[test]
fn easter_2020() {
    let ti = parse_one("days_of_month: ['4:6']\nmonths: ['april']\nyears: ['2020']");
    assert_contains(
        &ti,
        &[
            "04 Apr 20 15:04 +0000",
            "05 Apr 20 00:00 +0000",
            "06 Apr 20 23:05 +0000",
        ],
        &[
            "03 May 18 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
        ],
    );
}

#[test]
fn negative_days_count_from_the_end_of_each_month() {
    let ti = parse_one("days_of_month: ['-3:-1']");
    assert_contains(
        &ti,
        &[
            "31 Jan 20 15:04 +0000",
            "30 Jan 20 15:04 +0000",
            "29 Jan 20 15:04 +0000",
            "30 Jun 20 00:00 +0000",
            "29 Feb 20 23:05 +0000",
            "26 Feb 21 10:00 +0000",
        ],
        &[
            "03 May 18 15:04 +0000",
            "27 Jan 20 15:04 +0000",
            "03 Apr 20 23:59 +0000",
            "04 Jun 20 23:59 +0000",
            "06 Apr 19 23:59 +0000",
            "07 Apr 20 00:00 +0000",
            "01 Mar 20 00:00 +0000",
            "26 Feb 20 10:00 +0000", // 2020 is a leap year
        ],
    );
}

#[test]
fn out_of_month_days_are_clamped() {
    // Alertmanager's case builds -31:31 directly: parsing refuses a negative start with a
    // positive end.
    let ti = TimeInterval {
        months: Some(vec!["6".parse().unwrap_or_else(|e| panic!("{e}"))]),
        days_of_month: Some(vec![DayOfMonthRange { begin: -31, end: 31 }]),
        ..TimeInterval::default()
    };
    assert_contains(
        &ti,
        &["30 Jun 20 00:00 +0000", "01 Jun 20 00:00 +0000"],
        &["31 May 20 00:00 +0000", "01 Jul 20 00:00 +0000"],
    );
    // A start past the end of a short month matches nothing rather than its last day.
    let ti = parse_one("days_of_month: ['30:31']\nyears: ['2020:2023']\nmonths: ['february']");
    assert_contains(&ti, &[], &["28 Feb 21 13:00 +0000", "29 Feb 20 13:00 +0000"]);
}

#[test]
fn last_week_of_the_first_quarter() {
    let ti = parse_one(
        "weekdays: ['monday:friday', 'sunday']
months: ['january:march']
days_of_month: ['-7:-1']
years: ['2020:2025', '2030:2035']
times: [{start_time: '09:00', end_time: '17:00'}]",
    );
    assert_contains(
        &ti,
        &[
            "27 Jan 21 09:00 +0000",
            "28 Jan 21 16:59 +0000",
            "29 Jan 21 13:00 +0000",
            "31 Mar 25 13:00 +0000",
            "31 Jan 35 13:00 +0000",
        ],
        &[
            "30 Jan 21 13:00 +0000", // Saturday
            "01 Apr 21 13:00 +0000", // April
            "30 Jan 26 13:00 +0000", // 2026
            "31 Jan 35 17:01 +0000", // after 17:00
        ],
    );
}

#[test]
fn mixed_fields() {
    let ti = parse_one(
        "weekdays: ['monday:wednesday', 'saturday', 'sunday']
times: [{start_time: '13:00', end_time: '15:00'}]
days_of_month: ['1', '10', '20:-1']
years: ['2020:2023']
months: ['january:march']",
    );
    assert_contains(
        &ti,
        &["10 Jan 21 13:00 +0000", "30 Jan 21 14:24 +0000"],
        &[
            "09 Jan 21 13:00 +0000",
            "20 Jan 21 12:59 +0000",
            "02 Feb 21 13:00 +0000",
        ],
    );
}

#[test]
fn location_shifts_every_check_to_local_wall_time() {
    // 09:00 to 17:00 Monday to Friday in Sydney (AEST, +10:00).
    let ti = parse_one(
        "times: [{start_time: '09:00', end_time: '17:00'}]\nweekdays: ['monday:friday']\nlocation: Australia/Sydney",
    );
    assert_contains(&ti, &["06 Apr 21 13:00 +1000"], &["06 Apr 21 13:00 +0000"]);
}

#[test]
fn location_follows_daylight_saving_time() {
    // Sydney is on AEDT (+11:00) in November: 22:00 UTC on Sunday 31 October is 09:00 on
    // Monday 1 November there, 21:00 UTC is still 08:00.
    let ti = parse_one(
        "times: [{start_time: '09:00', end_time: '17:00'}]
weekdays: ['monday:friday']
months: ['november']
location: Australia/Sydney",
    );
    assert_contains(
        &ti,
        &["01 Nov 21 09:00 +1100", "31 Oct 21 22:00 +0000"],
        &["31 Oct 21 21:00 +0000"],
    );
}

#[test]
fn last_day_does_not_shift_in_a_spring_forward_month() {
    let ti = parse_one("days_of_month: ['-1']\nlocation: America/New_York");
    assert_contains(
        &ti,
        &["31 Mar 21 12:00 -0400", "01 Apr 21 03:00 +0000"],
        &["30 Mar 21 12:00 -0400", "31 Mar 21 03:00 +0000"],
    );
}

#[test]
fn evenings_and_weekends_in_sydney() {
    let evenings = parse_one(
        "times: [{start_time: '00:00', end_time: '09:00'}, {start_time: '17:00', end_time: '24:00'}]
location: Australia/Sydney",
    );
    let weekends = parse_one("weekdays: ['saturday', 'sunday']\nlocation: Australia/Sydney");
    // Sydney is on AEDT (+11:00) in January.
    for (instant, in_evenings, in_weekends) in [
        ("01 Jan 24 00:00 +1100", true, false),
        ("01 Jan 24 09:00 +1100", false, false),
        ("06 Jan 24 10:00 +1100", false, true),
        ("06 Jan 24 17:00 +1100", true, true),
        ("01 Jan 24 10:00 +0000", true, false),
        ("06 Jan 24 10:00 +0000", true, true),
    ] {
        assert_eq!(evenings.contains(at(instant)), in_evenings, "evenings at {instant}");
        assert_eq!(weekends.contains(at(instant)), in_weekends, "weekends at {instant}");
    }
}

#[test]
fn local_location_uses_the_machine_zone() {
    let ti = parse_one("times: [{start_time: '00:00', end_time: '24:00'}]\nlocation: Local");
    assert_eq!(ti.location, Some(Location::Local));
    assert_contains(&ti, &["06 Jan 24 10:00 +0000"], &[]);
    let t = at("06 Jan 24 10:00 +0000");
    let wall = t.with_timezone(&chrono::Local).naive_local();
    let year = chrono::Datelike::year(&wall);
    let this_year = parse_one(&format!("years: ['{year}']\nlocation: Local"));
    assert!(this_year.contains(t));
}

#[test]
fn days_in_month_follows_the_calendar() {
    assert_eq!(days_in_month(2020, 2), 29);
    assert_eq!(days_in_month(2021, 2), 28);
    assert_eq!(days_in_month(1900, 2), 28);
    assert_eq!(days_in_month(2000, 2), 29);
    assert_eq!(days_in_month(2021, 4), 30);
    assert_eq!(days_in_month(2021, 12), 31);
}
