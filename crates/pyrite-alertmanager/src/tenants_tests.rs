use std::sync::atomic::Ordering;

use super::testing::replicated;
use super::*;
use crate::instance::PostedAlert;

fn alert(name: &str) -> PostedAlert {
    PostedAlert {
        labels: [("alertname".to_string(), name.to_string())].into(),
        ..PostedAlert::default()
    }
}

fn alert_names(i: &Instance) -> Vec<String> {
    i.with_state(|st| st.alerts.values().map(|a| a.labels["alertname"].clone()).collect())
}

#[tokio::test]
async fn a_follower_mirrors_a_record_once_until_it_changes() {
    let dir = tempfile::tempdir().unwrap();
    // The owner commits a tenant's alert.
    let (owner, records, _) = replicated(dir.path(), true).await;
    let i = owner.instance("t").unwrap();
    i.receive_alerts(vec![alert("Committed")], Utc::now()).await.unwrap();

    let (follower, follower_records, _) = replicated(dir.path(), false).await;
    *follower_records.record.lock() = records.record.lock().clone();
    assert!(!follower.follow_once(false).await);
    let f = follower.existing("t").expect("made from the record");
    assert_eq!(alert_names(&f), ["Committed"]);

    // Something only this replica holds (as a write it could not commit would be,
    // but without the commit it asked for): the same record is not mirrored again,
    // so it stays.
    f.put_alerts(vec![alert("Local")], Utc::now()).unwrap();
    follower.follow_once(false).await;
    follower.refresh().await;
    let mut names = alert_names(&f);
    names.sort();
    assert_eq!(names, ["Committed", "Local"]);
    assert!(Arc::ptr_eq(&f, &follower.existing("t").unwrap()));

    // A new record is.
    i.receive_alerts(vec![alert("Later")], Utc::now()).await.unwrap();
    *follower_records.record.lock() = records.record.lock().clone();
    follower.follow_once(false).await;
    let mut names = alert_names(&f);
    names.sort();
    assert_eq!(names, ["Committed", "Later"]);

    // So is a commit this replica asked for since, even of the same record.
    f.put_alerts(vec![alert("Local")], Utc::now()).unwrap();
    assert!(f.save().await.is_err(), "not the owner");
    follower.follow_once(false).await;
    assert_eq!(alert_names(&f).len(), 2);
}

#[tokio::test]
async fn taking_over_takes_the_record_even_when_it_was_mirrored() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, records, _) = replicated(dir.path(), true).await;
    owner
        .instance("t")
        .unwrap()
        .receive_alerts(vec![alert("Committed")], Utc::now())
        .await
        .unwrap();
    let (follower, follower_records, switch) = replicated(dir.path(), false).await;
    *follower_records.record.lock() = records.record.lock().clone();
    follower.follow_once(false).await;
    let f = follower.existing("t").unwrap();
    f.put_alerts(vec![alert("Local")], Utc::now()).unwrap();

    switch.mine.store(true, Ordering::SeqCst);
    assert!(follower.follow_once(false).await);
    assert_eq!(alert_names(&f), ["Committed"], "the committed state, as it was");
}

#[tokio::test]
async fn an_owner_back_from_a_lapse_commits_nothing_until_it_took_over_what_was_committed_meanwhile() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, records, switch) = replicated(dir.path(), true).await;
    let i = owner.instance("t").unwrap();
    i.receive_alerts(vec![alert("Before")], Utc::now()).await.unwrap();

    // Its tenure lapses and comes back with nothing committed meanwhile: it goes on
    // with what it holds.
    switch.tenure.fetch_add(1, Ordering::SeqCst);
    assert!(!owner.owns(), "not before it has looked");
    assert!(owner.follow_once(true).await);
    assert!(owner.owns());
    assert_eq!(alert_names(&i), ["Before"]);

    // It lapses again, and meanwhile another replica owned the state and committed.
    let (other, other_records, other_switch) = replicated(dir.path(), true).await;
    *other_records.record.lock() = records.record.lock().clone();
    other_switch.tenure.fetch_add(1, Ordering::SeqCst);
    assert!(other.follow_once(true).await);
    other
        .existing("t")
        .unwrap()
        .receive_alerts(vec![alert("During")], Utc::now())
        .await
        .unwrap();
    let mut meanwhile = other_records.record.lock().clone().unwrap();
    meanwhile.member = "other".into();
    *records.record.lock() = Some(meanwhile);
    switch.tenure.fetch_add(1, Ordering::SeqCst);

    // Back, it refuses to commit (and so to notify) from what it held...
    assert!(i.receive_alerts(vec![alert("Stale")], Utc::now()).await.is_err());
    assert!(!owner.owns());
    // ...until it has taken the record over.
    assert!(owner.follow_once(true).await);
    assert!(owner.owns());
    let mut names = alert_names(&i);
    names.sort();
    assert_eq!(names, ["Before", "During"], "what was committed, not what it held");
    i.receive_alerts(vec![alert("After")], Utc::now()).await.unwrap();
    let kept = parse(records.record.lock().as_ref().unwrap()).unwrap();
    assert_eq!(kept.tenants["t"].alerts.len(), 3);
}

#[tokio::test]
async fn an_owner_cut_off_and_back_under_the_same_tenure_keeps_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, records, switch) = replicated(dir.path(), true).await;
    let i = owner.instance("t").unwrap();
    i.receive_alerts(vec![alert("Committed")], Utc::now()).await.unwrap();
    // Held, not yet committed (a notification logged, its commit on its way).
    i.put_alerts(vec![alert("Held")], Utc::now()).unwrap();
    let puts = records.puts.load(Ordering::SeqCst);

    switch.lapsed.store(true, Ordering::SeqCst);
    assert!(!owner.owns());
    assert!(owner.follow_once(true).await, "nothing learnt while cut off");
    switch.lapsed.store(false, Ordering::SeqCst);
    assert!(owner.owns(), "the same tenure: nobody else owned the state");
    assert!(owner.follow_once(true).await);
    let mut names = alert_names(&i);
    names.sort();
    assert_eq!(names, ["Committed", "Held"], "nothing of its own taken back");
    assert_eq!(records.puts.load(Ordering::SeqCst), puts);
}

#[tokio::test]
async fn at_start_only_the_owner_takes_the_pending_notifications() {
    let dir = tempfile::tempdir().unwrap();
    let (owner, records, _) = replicated(dir.path(), true).await;
    owner
        .instance("t")
        .unwrap()
        .receive_alerts(vec![alert("Committed")], Utc::now())
        .await
        .unwrap();
    // A notification the owner had pending when every replica stopped.
    let mut snapshot = parse(records.record.lock().as_ref().unwrap()).unwrap();
    let pending = crate::state::Pending {
        key: crate::nflog::NflogKey {
            group_key: "{}:{}".into(),
            receiver: "gone".into(),
            integration: "webhook".into(),
            index: 0,
        },
        entry: crate::nflog::Entry {
            firing: Default::default(),
            resolved: Default::default(),
            timestamp: Utc::now(),
        },
        group_labels: Default::default(),
        idempotency_key: "k".into(),
        at: Utc::now(),
        alerts: Vec::new(),
    };
    snapshot.tenants.get_mut("t").unwrap().pending.push(pending);
    let record = Record {
        value: serde_json::to_string(&snapshot).unwrap(),
        ..records.record.lock().clone().unwrap()
    };

    for mine in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let (ams, ams_records, switch) = replicated(dir.path(), mine).await;
        *ams_records.record.lock() = Some(record.clone());
        switch.tenure.fetch_add(1, Ordering::SeqCst);
        ams.restore().await.unwrap();
        let i = ams.existing("t").unwrap();
        assert_eq!(alert_names(&i), ["Committed"]);
        assert_eq!(
            i.snapshot().pending.len(),
            usize::from(mine),
            "only the owner holds (and sends) what was pending"
        );
    }
}

#[tokio::test]
async fn reading_a_tenant_makes_none() {
    let dir = tempfile::tempdir().unwrap();
    let (ams, records, _) = replicated(dir.path(), true).await;
    assert!(ams.existing("t").is_none());
    assert_eq!(ams.tenant_config("t"), None);
    assert!(ams.tenants().is_empty());
    assert!(ams.snapshot().tenants.is_empty());
    assert_eq!(records.puts.load(Ordering::SeqCst), 0);
    ams.instance("t").unwrap();
    assert_eq!(ams.tenants(), ["t"]);
}
