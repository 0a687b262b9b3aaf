//! Go's printing and methods of times and durations, against Go's outputs.

use super::*;

fn t(secs: i64, nanos: i64) -> GoTime {
    GoTime::unix(secs, nanos)
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
        assert_eq!(GoDuration(nanos).go_string(), want);
    }
    assert_eq!(GoDuration(1_500_000_000).seconds(), 1.5);
}

#[test]
fn methods_answer_as_go() {
    let now = t(1_353_755_652, 0);
    let call = |name: &str, args: &[Value]| now.method(name, args).unwrap().unwrap().to_string();
    assert_eq!(call("Month", &[]), "November");
    assert_eq!(call("Weekday", &[]), "Saturday");
    assert_eq!(call("UnixMilli", &[]), "1353755652000");
    let back = Value::object(Pointer::new(GoDuration(-1_800 * NANOS)));
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

#[test]
fn pointers_print_and_answer_as_what_they_point_to() {
    let p = Pointer::new(t(1_435_065_584, 128_000_000));
    assert_eq!(p.type_name(), "*time.Time");
    assert_eq!(p.to_go_string().unwrap(), "2015-06-23 13:19:44.128 +0000 UTC");
    let utc = p.method("UTC", &[]).unwrap().unwrap();
    assert_eq!(utc.type_name(), "time.Time");
    assert_eq!(time_arg(&Value::object(p)), Some(t(1_435_065_584, 128_000_000)));
    let d = Value::object(Pointer::new(GoDuration(1_500_000_000)));
    assert_eq!(d.type_name(), "*time.Duration");
    assert_eq!(duration_arg(&d), None);
    assert_eq!(duration_arg(&Value::object(GoDuration(3))), Some(GoDuration(3)));
}

#[test]
fn times_print_in_their_zone() {
    let zone: Tz = "Europe/Berlin".parse().unwrap();
    // 2024-01-02 03:04:05 UTC, in winter, and 2024-07-01 12:00:00 UTC, in summer.
    let winter = t(1_704_164_645, 0).in_zone(zone);
    assert_eq!(winter.go_string(), "2024-01-02 04:04:05 +0100 CET");
    assert_eq!(winter.format("15:04 Z07:00 -07"), "04:04 +01:00 +01");
    let summer = t(1_719_835_200, 0).in_zone(zone);
    assert_eq!(summer.go_string(), "2024-07-01 14:00:00 +0200 CEST");
    let back = time_arg(&Value::object(summer)).unwrap();
    assert_eq!(back, summer);
    assert_eq!(
        summer.method("UTC", &[]).unwrap().unwrap().to_string(),
        "2024-07-01 12:00:00 +0000 UTC"
    );
}
