use super::*;

const MIN: i64 = 60_000;

fn candidate(instance: &str, value: f64) -> Candidate {
    let series = Labels::from_pairs(&[("__name__", "up"), ("instance", instance), ("job", "node")]);
    Candidate {
        labels: alert_labels(&series, [("severity", "page".to_string())], "InstanceDown"),
        annotations: BTreeMap::from([("summary".to_string(), format!("{instance} down"))]),
        value,
    }
}

fn states(alerts: &Alerts) -> Vec<(String, &'static str)> {
    alerts
        .iter()
        .map(|a| (a.labels.get("instance").to_string(), a.state.as_str()))
        .collect()
}

#[test]
fn labels_drop_the_metric_name_and_name_the_alert() {
    let series = Labels::from_pairs(&[("__name__", "up"), ("instance", "a"), ("severity", "low")]);
    let labels = alert_labels(&series, [("severity", "page".into()), ("instance", String::new())], "X");
    assert_eq!(labels, Labels::from_pairs(&[("alertname", "X"), ("severity", "page")]));
}

#[test]
fn pending_for_its_hold_then_firing_then_resolved_and_forgotten() {
    let settings = AlertingSettings {
        for_ms: 5 * MIN,
        ..Default::default()
    };
    let mut alerts = Alerts::default();
    alerts.evaluate(0, settings, vec![candidate("a", 0.0)]).unwrap();
    assert_eq!(states(&alerts), [("a".into(), "pending")]);
    alerts.evaluate(4 * MIN, settings, vec![candidate("a", 0.0)]).unwrap();
    assert_eq!(states(&alerts), [("a".into(), "pending")]);
    alerts.evaluate(5 * MIN, settings, vec![candidate("a", 0.0)]).unwrap();
    let a = alerts.iter().next().unwrap();
    assert_eq!(
        (a.state, a.active_at, a.fired_at),
        (AlertState::Firing, 0, Some(5 * MIN))
    );
    alerts.evaluate(6 * MIN, settings, vec![]).unwrap();
    let a = alerts.iter().next().unwrap();
    assert_eq!((a.state, a.resolved_at), (AlertState::Inactive, Some(6 * MIN)));
    // Kept fifteen minutes after resolving, then forgotten.
    alerts.evaluate(21 * MIN, settings, vec![]).unwrap();
    assert_eq!(alerts.len(), 1);
    alerts.evaluate(21 * MIN + 1, settings, vec![]).unwrap();
    assert!(alerts.is_empty());
}

#[test]
fn a_pending_alert_that_leaves_is_dropped_and_a_resolved_one_restarts_pending() {
    let settings = AlertingSettings::default();
    let mut alerts = Alerts::default();
    // No hold: firing in its first evaluation.
    alerts.evaluate(0, settings, vec![candidate("a", 1.0)]).unwrap();
    assert_eq!(states(&alerts), [("a".into(), "firing")]);
    alerts.evaluate(MIN, settings, vec![]).unwrap();
    alerts.evaluate(2 * MIN, settings, vec![candidate("a", 2.0)]).unwrap();
    let a = alerts.iter().next().unwrap();
    assert_eq!(
        (a.state, a.active_at, a.resolved_at, a.value),
        (AlertState::Firing, 2 * MIN, None, 2.0)
    );

    let held = AlertingSettings {
        for_ms: 10 * MIN,
        ..Default::default()
    };
    let mut alerts = Alerts::default();
    alerts.evaluate(0, held, vec![candidate("b", 1.0)]).unwrap();
    alerts.evaluate(MIN, held, vec![]).unwrap();
    assert!(alerts.is_empty());
}

#[test]
fn keeps_firing_for_its_time_after_the_series_leaves() {
    let settings = AlertingSettings {
        keep_firing_for_ms: 2 * MIN,
        ..Default::default()
    };
    let mut alerts = Alerts::default();
    alerts.evaluate(0, settings, vec![candidate("a", 1.0)]).unwrap();
    alerts.evaluate(MIN, settings, vec![]).unwrap();
    alerts.evaluate(2 * MIN, settings, vec![]).unwrap();
    assert_eq!(states(&alerts), [("a".into(), "firing")]);
    assert_eq!(alerts.iter().next().unwrap().keep_firing_since, Some(MIN));
    // Back in the result: the clock of keep_firing_for starts over.
    alerts.evaluate(3 * MIN, settings, vec![candidate("a", 1.0)]).unwrap();
    assert_eq!(alerts.iter().next().unwrap().keep_firing_since, None);
    alerts.evaluate(4 * MIN, settings, vec![]).unwrap();
    alerts.evaluate(6 * MIN, settings, vec![]).unwrap();
    let a = alerts.iter().next().unwrap();
    assert_eq!((a.state, a.resolved_at), (AlertState::Inactive, Some(6 * MIN)));
}

#[test]
fn duplicates_change_nothing_and_the_limit_drops_everything() {
    let mut alerts = Alerts::default();
    let settings = AlertingSettings {
        limit: 1,
        ..Default::default()
    };
    alerts.evaluate(0, settings, vec![candidate("a", 1.0)]).unwrap();
    let before = alerts.clone();
    assert_eq!(
        alerts.evaluate(MIN, settings, vec![candidate("b", 1.0), candidate("b", 2.0)]),
        Err(AlertingError::DuplicateLabels)
    );
    assert_eq!(alerts, before);
    assert_eq!(
        alerts.evaluate(MIN, settings, vec![candidate("a", 1.0), candidate("b", 1.0)]),
        Err(AlertingError::LimitExceeded { limit: 1, alerts: 2 })
    );
    assert!(alerts.is_empty());
    assert_eq!(
        AlertingError::LimitExceeded { limit: 1, alerts: 2 }.to_string(),
        "exceeded limit of 1 with 2 alerts"
    );
}

#[test]
fn writes_alerts_and_their_active_time() {
    let settings = AlertingSettings {
        for_ms: MIN,
        ..Default::default()
    };
    let mut alerts = Alerts::default();
    alerts.evaluate(90_500, settings, vec![candidate("a", 1.0)]).unwrap();
    let series = alerts.series();
    let base = [
        ("alertname", "InstanceDown"),
        ("instance", "a"),
        ("job", "node"),
        ("severity", "page"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut pairs = base.to_vec();
        pairs.extend_from_slice(extra);
        Labels::from_pairs(&pairs)
    };
    assert_eq!(
        series,
        [
            (with(&[("__name__", "ALERTS"), ("alertstate", "pending")]), 1.0),
            (with(&[("__name__", "ALERTS_FOR_STATE")]), 90.0),
        ]
    );
}

#[test]
fn sends_firing_alerts_each_resend_delay_and_resolved_ones_once() {
    let settings = AlertingSettings::default();
    let mut alerts = Alerts::default();
    alerts.evaluate(0, settings, vec![candidate("a", 1.0)]).unwrap();
    let sent = alerts.due(0, MIN, 15_000);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].starts_at, sent[0].ends_at, sent[0].resolved),
        (0, 4 * MIN, false)
    );
    // Not again until the resend delay has passed.
    assert!(alerts.due(MIN, MIN, 15_000).is_empty());
    assert_eq!(alerts.due(MIN + 1, MIN, 15_000).len(), 1);
    alerts.evaluate(2 * MIN, settings, vec![]).unwrap();
    let sent = alerts.due(2 * MIN, MIN, 15_000);
    assert_eq!((sent[0].ends_at, sent[0].resolved), (2 * MIN, true));
    assert!(alerts.due(2 * MIN + 1, MIN, 15_000).is_empty());
    // Pending alerts are never sent.
    let mut pending = Alerts::default();
    let held = AlertingSettings {
        for_ms: MIN,
        ..Default::default()
    };
    pending.evaluate(0, held, vec![candidate("b", 1.0)]).unwrap();
    assert!(pending.due(0, MIN, 15_000).is_empty());
}
