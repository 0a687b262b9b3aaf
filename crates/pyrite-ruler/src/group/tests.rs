use std::sync::Mutex;

use super::*;
use pyrite_rules::RuleFile;

/// Answers each expression from a table the test sets, and keeps what is written; a
/// query of a recorded metric answers what was written of it at that instant, so a rule
/// reads the rules before it.
#[derive(Default)]
struct Env {
    answers: Mutex<BTreeMap<String, Vec<QuerySample>>>,
    written: Mutex<Vec<(i64, Labels, f64)>>,
}

impl Env {
    fn answer(&self, expr: &str, series: &[(&[(&str, &str)], f64)]) {
        let samples = series
            .iter()
            .map(|(pairs, v)| QuerySample {
                labels: Labels::from_pairs(pairs),
                value: *v,
                histogram: None,
            })
            .collect();
        self.answers.lock().unwrap().insert(expr.to_string(), samples);
    }

    fn take(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .written
            .lock()
            .unwrap()
            .drain(..)
            .map(|(t, l, v)| {
                let v = if pyrite_model::is_stale_nan(v) {
                    "stale".to_string()
                } else {
                    v.to_string()
                };
                format!("{t} {l} {v}")
            })
            .collect();
        out.sort();
        out
    }
}

#[async_trait::async_trait]
impl RuleEnv for Env {
    async fn query(&self, _tenant: &str, expr: &str, t: i64) -> Result<Vec<QuerySample>, String> {
        if let Some(a) = self.answers.lock().unwrap().get(expr) {
            return Ok(a.clone());
        }
        let written = self.written.lock().unwrap();
        let found: Vec<QuerySample> = written
            .iter()
            .filter(|(at, l, _)| *at == t && l.metric_name() == expr)
            .map(|(_, l, v)| QuerySample {
                labels: l.clone(),
                value: *v,
                histogram: None,
            })
            .collect();
        if found.is_empty() && expr.contains('(') {
            return Err(format!("no answer for {expr}"));
        }
        Ok(found)
    }

    async fn write(&self, _tenant: &str, series: Vec<TimeSeries>) -> Result<(), String> {
        let mut w = self.written.lock().unwrap();
        for s in series {
            for p in s.samples {
                w.push((p.t, s.labels.clone(), p.v));
            }
        }
        Ok(())
    }

    fn expand(&self, at: &Expansion<'_>, text: &str) -> String {
        text.replace("$instance", at.labels.get("instance"))
            .replace("$value", &at.value.to_string())
    }
}

fn group(yaml: &str) -> RuleGroup {
    RuleFile::parse(yaml.as_bytes(), &|_, _| Ok(()))
        .unwrap()
        .groups
        .remove(0)
}

const SETTINGS: EvalSettings = EvalSettings { query_offset_ms: 0 };

#[tokio::test]
async fn records_in_order_so_later_rules_read_earlier_ones() {
    let g = group(
        "groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n    labels: {team: infra}\n  - record: job:up:double\n    expr: job:up:sum\n",
    );
    let env = Env::default();
    env.answer("sum(up)", &[(&[("job", "node")], 3.0)]);
    let mut state = GroupState::for_group(&g, None);
    state.evaluate(&env, "t", &g, 1000, SETTINGS).await;
    assert_eq!(
        env.take(),
        [
            r#"1000 job:up:double{job="node", team="infra"} 3"#,
            r#"1000 job:up:sum{job="node", team="infra"} 3"#,
        ]
    );
    assert!(state.rules.iter().all(|r| r.health == Health::Ok));
    assert_eq!(state.last_evaluation, Some(1000));
}

#[tokio::test]
async fn series_a_rule_stops_writing_go_stale_once() {
    let g = group("groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(x)\n");
    let env = Env::default();
    env.answer("sum(x)", &[(&[("a", "1")], 1.0), (&[("a", "2")], 2.0)]);
    let mut state = GroupState::for_group(&g, None);
    state.evaluate(&env, "t", &g, 1000, SETTINGS).await;
    env.take();
    env.answer("sum(x)", &[(&[("a", "1")], 1.0)]);
    state.evaluate(&env, "t", &g, 2000, SETTINGS).await;
    assert_eq!(env.take(), [r#"2000 r{a="1"} 1"#, r#"2000 r{a="2"} stale"#]);
    state.evaluate(&env, "t", &g, 3000, SETTINGS).await;
    assert_eq!(env.take(), [r#"3000 r{a="1"} 1"#]);
    // The group removed: everything it wrote goes stale.
    let stale: Vec<String> = state.stale_markers(4000).iter().map(|s| s.labels.to_string()).collect();
    assert_eq!(stale, [r#"r{a="1"}"#]);
}

#[tokio::test]
async fn a_failing_rule_keeps_its_series_until_it_succeeds() {
    let g = group("groups:\n- name: g\n  rules:\n  - record: r\n    expr: sum(x)\n");
    let env = Env::default();
    env.answer("sum(x)", &[(&[("a", "1")], 1.0)]);
    let mut state = GroupState::for_group(&g, None);
    state.evaluate(&env, "t", &g, 1000, SETTINGS).await;
    env.take();
    env.answers.lock().unwrap().clear();
    state.evaluate(&env, "t", &g, 2000, SETTINGS).await;
    assert_eq!(state.rules[0].health, Health::Err);
    assert_eq!(state.rules[0].last_error.as_deref(), Some("no answer for sum(x)"));
    assert!(env.take().is_empty());
    assert_eq!(state.rules[0].written.len(), 1);
}

#[tokio::test]
async fn alerts_write_their_series_at_the_offset_instant() {
    let g = group(
        "groups:\n- name: g\n  rules:\n  - alert: Down\n    expr: up == 0\n    for: 1m\n    labels: {severity: page}\n    annotations: {summary: '$instance is down ($value)'}\n",
    );
    let env = Env::default();
    env.answer("up == 0", &[(&[("__name__", "up"), ("instance", "a")], 0.0)]);
    let mut state = GroupState::for_group(&g, None);
    let settings = EvalSettings { query_offset_ms: 500 };
    state.evaluate(&env, "t", &g, 60_000, settings).await;
    assert_eq!(
        env.take(),
        [
            r#"59500 ALERTS_FOR_STATE{alertname="Down", instance="a", severity="page"} 60"#,
            r#"59500 ALERTS{alertname="Down", alertstate="pending", instance="a", severity="page"} 1"#,
        ]
    );
    let a = state.rules[0].alerts.iter().next().unwrap();
    assert_eq!(a.annotations["summary"], "a is down (0)");
    assert_eq!(a.active_at, 60_000);
    state.evaluate(&env, "t", &g, 120_000, settings).await;
    let written = env.take();
    assert!(written.contains(
        &r#"119500 ALERTS{alertname="Down", alertstate="firing", instance="a", severity="page"} 1"#.to_string()
    ));
    // The pending series is gone from the output once it fires.
    assert!(written.contains(
        &r#"119500 ALERTS{alertname="Down", alertstate="pending", instance="a", severity="page"} stale"#.to_string()
    ));
}

#[tokio::test]
async fn a_reload_keeps_the_state_of_rules_still_there() {
    let old = group("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n  - record: r\n    expr: sum(x)\n");
    let env = Env::default();
    env.answer("up == 0", &[(&[("instance", "a")], 0.0)]);
    env.answer("sum(x)", &[(&[], 1.0)]);
    let mut state = GroupState::for_group(&old, None);
    state.evaluate(&env, "t", &old, 1000, SETTINGS).await;
    let new =
        group("groups:\n- name: g\n  rules:\n  - record: r2\n    expr: sum(x)\n  - alert: A\n    expr: up == 0\n");
    let kept = GroupState::for_group(&new, Some((&old, state)));
    assert_eq!(kept.rules[0], RuleState::default());
    assert_eq!(kept.rules[1].alerts.len(), 1);
    assert_eq!(kept.last_evaluation, Some(1000));
}
