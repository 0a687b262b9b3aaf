use std::sync::atomic::{AtomicBool, Ordering};

use super::*;

fn join(id: &str, at_ms: i64) -> Command {
    Command::Join {
        pool: "scrape".into(),
        id: id.into(),
        addr: format!("{id}:80"),
        timeout_ms: 3_000,
        at_ms,
        handoff_ms: 2_000,
    }
}

fn owners(p: &Pool, at_ms: i64, keys: u64) -> Vec<String> {
    (0..keys).map(|k| p.owner(mix(k), at_ms).unwrap().to_string()).collect()
}

#[test]
fn the_first_member_owns_everything_at_once_and_a_joiner_after_the_handoff() {
    let mut m = Members::default();
    m.apply(&join("a", 1_000)).unwrap();
    let p = m.pool("scrape").unwrap();
    assert_eq!(p.epochs[0].effective_ms, 1_000, "nobody to take over from");
    assert!(owners(p, 1_000, 100).iter().all(|o| o == "a"));

    m.apply(&join("b", 5_000)).unwrap();
    let p = m.pool("scrape").unwrap();
    assert_eq!(p.seq(), 2);
    // Until the handoff instant every key stays with a; from it, b has its share.
    assert!(owners(p, 6_999, 100).iter().all(|o| o == "a"));
    let after = owners(p, 7_000, 1_000);
    let b = after.iter().filter(|o| *o == "b").count();
    assert!((400..600).contains(&b), "b owns about half: {b}");

    // A known member's join changes nothing.
    m.apply(&join("b", 9_000)).unwrap();
    assert_eq!(m.pool("scrape").unwrap().seq(), 2);
}

#[test]
fn only_the_keys_of_the_member_that_came_or_went_move() {
    let mut m = Members::default();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        m.apply(&join(id, i as i64)).unwrap();
    }
    let before = owners(m.pool("scrape").unwrap(), 100_000, 3_000);
    for id in ["a", "b", "c"] {
        let n = before.iter().filter(|o| *o == id).count();
        assert!((800..1_200).contains(&n), "{id} owns about a third: {n}");
    }
    m.apply(&join("d", 10)).unwrap();
    let with_d = owners(m.pool("scrape").unwrap(), 100_000, 3_000);
    for (old, new) in before.iter().zip(&with_d) {
        assert!(old == new || new == "d", "a key moved from {old} to {new}");
    }
    m.apply(&Command::Expire {
        pool: "scrape".into(),
        id: "b".into(),
        last_seen_ms: 20_000,
    })
    .unwrap();
    let without_b = owners(m.pool("scrape").unwrap(), 100_000, 3_000);
    for (old, new) in with_d.iter().zip(&without_b) {
        assert!(old == new || old == "b", "a key moved from {old} to {new}");
        assert_ne!(new, "b");
    }
}

#[test]
fn an_expired_member_gives_its_keys_up_from_when_it_was_last_heard_never_before_the_last_epoch() {
    let mut m = Members::default();
    m.apply(&join("a", 0)).unwrap();
    m.apply(&join("b", 1_000)).unwrap(); // effective 3_000
    let expire = |id: &str, last: i64| Command::Expire {
        pool: "scrape".into(),
        id: id.into(),
        last_seen_ms: last,
    };
    m.apply(&expire("b", 2_500)).unwrap();
    let p = m.pool("scrape").unwrap();
    assert_eq!(
        p.epochs.last().unwrap().effective_ms,
        3_000,
        "not before the join took effect"
    );
    assert!(owners(p, 3_000, 100).iter().all(|o| o == "a"));
    m.apply(&join("b", 4_000)).unwrap(); // effective 6_000
    m.apply(&expire("b", 7_500)).unwrap();
    let p = m.pool("scrape").unwrap();
    assert_eq!(p.epochs.last().unwrap().effective_ms, 7_500);
    assert!(owners(p, 7_499, 100).iter().any(|o| o == "b"));
    assert!(owners(p, 7_500, 100).iter().all(|o| o == "a"));
    // Expiring a member no longer there is a no-op.
    let seq = p.seq();
    m.apply(&expire("b", 9_000)).unwrap();
    assert_eq!(m.pool("scrape").unwrap().seq(), seq);
}

#[test]
fn a_leaving_member_keeps_its_keys_until_the_handoff() {
    let mut m = Members::default();
    m.apply(&join("a", 0)).unwrap();
    m.apply(&join("b", 0)).unwrap(); // effective 2_000
    m.apply(&Command::Leave {
        pool: "scrape".into(),
        id: "b".into(),
        at_ms: 10_000,
        handoff_ms: 2_000,
    })
    .unwrap();
    let p = m.pool("scrape").unwrap();
    assert!(owners(p, 11_999, 100).iter().any(|o| o == "b"));
    assert!(owners(p, 12_000, 100).iter().all(|o| o == "a"));
    assert!(!p.members.contains_key("b"));
}

#[test]
fn a_heartbeat_asks_for_a_command_only_when_something_changes() {
    let mut m = Members::default();
    let hb = Heartbeat {
        pool: "scrape".into(),
        id: "a".into(),
        addr: "a:80".into(),
        timeout_ms: 3_000,
        handoff_ms: 2_000,
        leave: false,
    };
    let c = hb.command(&m, 5).expect("an unknown member joins");
    m.apply(&c).unwrap();
    assert_eq!(hb.command(&m, 6), None);
    let moved = Heartbeat {
        addr: "a:81".into(),
        ..hb.clone()
    };
    assert!(matches!(moved.command(&m, 7), Some(Command::Join { .. })));
    let leaving = Heartbeat { leave: true, ..hb };
    m.apply(&leaving.command(&m, 8).unwrap()).unwrap();
    assert_eq!(leaving.command(&m, 9), None, "already gone");
}

#[test]
fn liveness_expires_members_unheard_for_their_timeout_counting_from_first_sight() {
    let mut m = Members::default();
    m.apply(&join("a", 0)).unwrap();
    m.apply(&join("b", 0)).unwrap();
    let mut l = Liveness::default();
    // A new leader has heard from nobody: both count as heard now.
    assert!(l.expired(&m, 10_000).is_empty());
    l.heard("scrape", "a", 12_000);
    assert!(l.expired(&m, 13_000).is_empty());
    let due = l.expired(&m, 13_001);
    assert_eq!(
        due,
        vec![Command::Expire {
            pool: "scrape".into(),
            id: "b".into(),
            last_seen_ms: 10_000
        }]
    );
}

#[test]
fn the_state_survives_a_json_round_trip() {
    let mut m = Members::default();
    m.apply(&join("a", 0)).unwrap();
    m.apply(&join("b", 1)).unwrap();
    let back: Members = serde_json::from_slice(&serde_json::to_vec(&m).unwrap()).unwrap();
    assert_eq!(back, m);
}

/// A registry whose leader can be cut off.
struct Switch {
    up: AtomicBool,
    /// Its clock's zero: answers are as of the (paused) time since.
    start: tokio::time::Instant,
}

impl Switch {
    fn new() -> Arc<Switch> {
        Arc::new(Switch {
            up: AtomicBool::new(true),
            start: tokio::time::Instant::now(),
        })
    }
}

#[async_trait::async_trait]
impl Registry for Switch {
    async fn heartbeat(&self, hb: &Heartbeat) -> Result<Answer, String> {
        if !self.up.load(Ordering::SeqCst) {
            return Err("unreachable".into());
        }
        let mut m = Members::default();
        m.apply(&hb.command(&m, 0).unwrap()).unwrap();
        Ok(Answer {
            pool: m.pools.remove(&hb.pool).unwrap(),
            as_of_ms: self.start.elapsed().as_millis() as i64,
        })
    }
}

fn member_a(timing: Timing) -> Heartbeat {
    Heartbeat {
        pool: "scrape".into(),
        id: "a".into(),
        addr: "a:80".into(),
        timeout_ms: timing.timeout.as_millis() as i64,
        handoff_ms: timing.handoff().as_millis() as i64,
        leave: false,
    }
}

/// Member `a` heartbeating to a [`Switch`], once its first answer is in its view.
async fn answered_member() -> (Arc<Switch>, Timing, View) {
    let registry = Switch::new();
    let timing = Timing {
        period: Duration::from_millis(250),
        timeout: Duration::from_secs(2),
    };
    let (tx, mut view) = View::channel();
    tokio::spawn(run_heartbeats(registry.clone(), member_a(timing), timing, tx));
    view.pool.changed().await.unwrap();
    assert!(view.pool.borrow().is_some());
    (registry, timing, view)
}

#[tokio::test(start_paused = true)]
async fn a_member_unanswered_for_the_fence_gives_its_work_up_and_takes_it_back_when_answered() {
    let (registry, timing, view) = answered_member().await;
    let mut rx = view.pool.clone();
    registry.up.store(false, Ordering::SeqCst);
    let cut = tokio::time::Instant::now();
    rx.changed().await.unwrap();
    assert!(rx.borrow().is_none());
    assert_eq!(*view.settled_until.borrow(), i64::MAX, "owning nothing is final");
    let waited = cut.elapsed();
    assert!(
        waited >= timing.fence() - timing.period && waited <= timing.fence() + timing.period,
        "fenced after {waited:?}"
    );
    assert!(waited < timing.timeout, "before the leader could expire it");
    registry.up.store(true, Ordering::SeqCst);
    rx.changed().await.unwrap();
    assert!(rx.borrow().is_some());
}

#[tokio::test(start_paused = true)]
async fn a_member_works_an_instant_only_once_an_answer_settles_its_view_past_it() {
    let (registry, timing, view) = answered_member().await;
    let handoff = timing.handoff().as_millis() as i64;
    // Answered as of 0: nothing unheard of takes effect before the handoff.
    assert_eq!(*view.settled_until.borrow(), handoff);
    let mut until = view.settled_until.clone();
    settled(&mut until, handoff - 1).await;
    assert_eq!(registry.start.elapsed(), Duration::ZERO, "settled already");

    // An instant further out waits for an answer as of later than it less the handoff.
    settled(&mut until, 3_000).await;
    let waited = registry.start.elapsed().as_millis() as i64;
    assert!(waited > 3_000 - handoff && waited <= 3_000 - handoff + 250, "{waited}");

    // Unanswered, the view stays settled where the last answer left it, until the fence
    // withdraws it: then owning nothing is final.
    registry.up.store(false, Ordering::SeqCst);
    let cut = registry.start.elapsed().as_millis() as i64;
    let held = *view.settled_until.borrow();
    assert!(held <= cut + handoff);
    settled(&mut until, held + 10_000).await;
    assert!(view.pool.borrow().is_none());
    let fenced = registry.start.elapsed().as_millis() as i64 - cut;
    assert!(
        fenced <= (timing.fence() + timing.period).as_millis() as i64,
        "{fenced}"
    );
}

fn record(key: &str, member: &str, instant_ms: i64, at_ms: i64) -> Command {
    Command::Record {
        pool: "rules".into(),
        key: key.into(),
        member: member.into(),
        instant_ms,
        at_ms,
        value: format!("{member}@{instant_ms}"),
    }
}

#[test]
fn only_the_owner_records_and_only_forward() {
    let mut m = Members::default();
    let join = |id: &str, at_ms| Command::Join {
        pool: "rules".into(),
        id: id.into(),
        addr: format!("{id}:80"),
        timeout_ms: 3_000,
        at_ms,
        handoff_ms: 2_000,
    };
    m.apply(&join("a", 0)).unwrap();
    // Nobody else is in the pool: every key is a's.
    m.apply(&record("g1", "a", 1_000, 1_500)).unwrap();
    assert_eq!(m.record("rules", "g1").unwrap().value, "a@1000");
    let refused = m.apply(&record("g1", "b", 2_000, 2_500)).unwrap_err();
    assert_eq!(refused, "g1 belongs to a, not b");
    // An instant is recorded once, and never an earlier one.
    assert!(m.apply(&record("g1", "a", 1_000, 1_600)).is_err());
    assert!(m.apply(&record("g1", "a", 500, 1_600)).is_err());
    assert_eq!(m.record("rules", "g1").unwrap().instant_ms, 1_000);

    // b joins at 10s; from 12s on, the keys rendezvous hashing gives b are b's: a may
    // still record an instant it owned (late, by the leader's clock), never a later one,
    // and nothing once b has recorded.
    m.apply(&join("b", 10_000)).unwrap();
    let keys: Vec<String> = (0..64).map(|i| format!("g{i}")).collect();
    let of_b = keys
        .iter()
        .find(|k| m.pool("rules").unwrap().owner(key_hash(k), 12_000) == Some("b"))
        .expect("some key moves to b");
    m.apply(&record(of_b, "a", 11_000, 11_999)).unwrap();
    assert!(m.apply(&record(of_b, "a", 12_000, 12_000)).is_err());
    m.apply(&record(of_b, "a", 11_500, 12_500)).unwrap();
    m.apply(&record(of_b, "b", 12_000, 12_000)).unwrap();
    assert!(m.apply(&record(of_b, "a", 11_800, 12_600)).is_err());
    assert_eq!(m.record("rules", of_b).unwrap().member, "b");

    // Only the owner forgets; a forgotten key starts afresh.
    let forget = |member: &str| Command::Forget {
        pool: "rules".into(),
        key: of_b.clone(),
        member: member.into(),
        at_ms: 13_000,
    };
    assert!(m.apply(&forget("a")).is_err());
    m.apply(&forget("b")).unwrap();
    assert_eq!(m.record("rules", of_b), None);
    m.apply(&record(of_b, "b", 1, 13_000)).unwrap();

    // Records travel with the rest of the state.
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Members>(&json).unwrap(), m);
    // A state written before records existed reads as having none.
    let old = serde_json::json!({"pools": {}});
    assert_eq!(serde_json::from_value::<Members>(old).unwrap(), Members::default());
}

#[test]
fn a_tenure_lasts_while_the_key_stays_and_a_member_that_lost_it_gets_a_new_one() {
    let mut m = Members::default();
    for (i, id) in ["a", "b", "c"].iter().enumerate() {
        m.apply(&join(id, i as i64)).unwrap();
    }
    let p = m.pool("scrape").unwrap();
    let abcd: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
    let key = (0..)
        .map(mix)
        .find(|k| p.owner(*k, 100_000) == Some("a") && rendezvous(*k, &abcd) == Some("a"))
        .unwrap();
    let first = p.tenure(key, 100_000, "a").expect("a owns it");
    assert_eq!(p.tenure(key, 100_000, "b"), None);

    // d joins and the key stays with a: the same tenure.
    m.apply(&join("d", 100_000)).unwrap();
    let p = m.pool("scrape").unwrap();
    assert_eq!(p.tenure(key, 200_000, "a"), Some(first));

    // a is expired and comes back: the key is a's again, under a new tenure.
    m.apply(&Command::Expire {
        pool: "scrape".into(),
        id: "a".into(),
        last_seen_ms: 300_000,
    })
    .unwrap();
    assert_eq!(m.pool("scrape").unwrap().tenure(key, 400_000, "a"), None);
    m.apply(&join("a", 500_000)).unwrap();
    let p = m.pool("scrape").unwrap();
    let again = p.tenure(key, 600_000, "a").expect("a owns it again");
    assert!(again > first, "a new tenure: {again} after {first}");
}

#[test]
fn an_answer_is_complete_as_of_now_or_the_oldest_change_still_being_committed() {
    let mut l = Liveness::default();
    assert_eq!(l.as_of(100), 100);
    l.proposing(40);
    l.proposing(40);
    l.proposing(70);
    assert_eq!(l.as_of(100), 40);
    l.proposed(40);
    assert_eq!(l.as_of(100), 40, "one of the two stamped 40 is still in flight");
    l.proposed(40);
    assert_eq!(l.as_of(100), 70);
    l.proposed(70);
    l.proposed(70);
    assert_eq!(l.as_of(100), 100, "nothing in flight; a second report is harmless");
    l.proposing(150);
    assert_eq!(l.as_of(100), 100, "a change stamped later leaves now as it is");
}
