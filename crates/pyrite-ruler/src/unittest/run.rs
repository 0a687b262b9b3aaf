//! One test group run as promtool runs it: its input series loaded into an in-memory
//! store step by step, every rule group evaluated at each evaluation instant from 0 to
//! the latest `eval_time` (each group's output written before the next group's
//! queries), firing alerts compared at the instants their tests name, and expressions
//! queried once the evaluations are done.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use pyrite_model::{Labels, TimeSeries};
use pyrite_promql::series_notation::{parse_labels, parse_series_line, Point};
use pyrite_promql::{Engine, EngineOptions};
use pyrite_rules::{RuleGroup, RuleKind};
use pyrite_storage::MemQueryable;
use pyrite_template::go_quote;

use super::compare::{alerts_string, indent, same_samples, samples_string, AlertSet, Pairs, SampleSet};
use super::file::{ModelDuration, TestGroup};
use crate::alerting::AlertState;
use crate::group::{instant_query, EvalSettings, Expansion, GroupState, QuerySample, RuleEnv};
use crate::template::{go_duration, Expander};

/// The tenant the tests' data and rules live in (the store holds nothing else).
const TENANT: &str = "anonymous";

/// A rule group under test.
pub(crate) struct LoadedGroup {
    pub group: RuleGroup,
}

/// What every test group of a file shares.
pub(crate) struct FileSettings<'a> {
    pub eval_interval_ms: i64,
    /// Groups in the order they are evaluated at each instant.
    pub groups: &'a [LoadedGroup],
}

/// The input series' samples, added to the store up to each evaluation instant (data
/// after the last instant evaluated is never loaded, as in promtool).
struct Input {
    series: Vec<InputSeries>,
}

/// One input series: its samples in time order, and how many are loaded.
struct InputSeries {
    labels: Labels,
    samples: Vec<(i64, Point)>,
    loaded: usize,
}

impl Input {
    fn parse(test: &TestGroup) -> Result<Input, String> {
        let interval = test.interval.0;
        let mut by_labels: BTreeMap<Labels, Vec<(i64, Point)>> = BTreeMap::new();
        for s in &test.input_series {
            let line = format!("{} {}", s.series.0, s.values.0);
            let desc = parse_series_line(&line).map_err(|e| format!("error parsing input series {line:?}: {e}"))?;
            let samples = desc.samples(0, interval).map(|(t, p)| (t, p.clone())).collect();
            // The same series twice: the later one is the one loaded.
            by_labels.insert(desc.labels, samples);
        }
        Ok(Input {
            series: by_labels
                .into_iter()
                .map(|(labels, samples)| InputSeries {
                    labels,
                    samples,
                    loaded: 0,
                })
                .collect(),
        })
    }

    fn load_until(&mut self, store: &MemQueryable, t: i64) {
        for InputSeries {
            labels,
            samples,
            loaded,
        } in &mut self.series
        {
            let due = samples[*loaded..].iter().take_while(|(at, _)| *at <= t).count();
            let mut floats = Vec::new();
            let mut histograms = Vec::new();
            for (at, p) in &samples[*loaded..*loaded + due] {
                match p {
                    Point::Float(v) => floats.push((*at, *v)),
                    Point::Histogram(h, _) => histograms.push((*at, (**h).clone())),
                    Point::Omitted => {}
                }
            }
            *loaded += due;
            if !floats.is_empty() {
                store.add(TENANT, labels.clone(), &floats);
            }
            if !histograms.is_empty() {
                store.add_histograms(TENANT, labels.clone(), &histograms);
            }
        }
    }
}

/// Queries, writes and templates of the test's evaluations, over the in-memory store.
struct Env {
    engine: Engine,
    store: Arc<MemQueryable>,
    external_labels: Labels,
    external_url: String,
}

/// The answer of `expr` at `t` over the test's store.
async fn instant(engine: &Engine, store: Arc<MemQueryable>, expr: &str, t: i64) -> Result<Vec<QuerySample>, String> {
    instant_query(engine, store, TENANT, expr, t).await
}

#[async_trait::async_trait]
impl RuleEnv for Env {
    async fn query(&self, _tenant: &str, expr: &str, t: i64) -> Result<Vec<QuerySample>, String> {
        instant(&self.engine, self.store.clone(), expr, t).await
    }

    async fn write(&self, _tenant: &str, series: Vec<TimeSeries>) -> Result<(), String> {
        for s in series {
            let floats: Vec<(i64, f64)> = s.samples.iter().map(|x| (x.t, x.v)).collect();
            if !floats.is_empty() {
                self.store.add(TENANT, s.labels.clone(), &floats);
            }
            if !s.histograms.is_empty() {
                self.store.add_histograms(TENANT, s.labels, &s.histograms);
            }
        }
        Ok(())
    }

    fn expand(&self, at: &Expansion<'_>, text: &str) -> String {
        // Templates run `query` synchronously; the evaluation's thread waits for it.
        let handle = tokio::runtime::Handle::current();
        let (engine, store, t) = (self.engine.clone(), self.store.clone(), at.t);
        let query = Arc::new(move |expr: &str| {
            tokio::task::block_in_place(|| handle.block_on(instant(&engine, store.clone(), expr, t)))
        });
        Expander::new(&self.external_labels, self.external_url.clone(), query)
            .at(at.t)
            .expand(at.rule, text, at.labels, at.value)
    }
}

fn pairs(labels: &Labels) -> Pairs {
    labels
        .iter()
        .map(|l| (l.name.to_string(), l.value.to_string()))
        .collect()
}

fn text_pairs(map: &BTreeMap<String, super::file::Text>) -> Pairs {
    map.iter().map(|(n, v)| (n.clone(), v.0.clone())).collect()
}

/// Runs one test group: its failures, in promtool's words (none: it passed).
pub(crate) async fn run_test_group(test: &TestGroup, settings: &FileSettings<'_>) -> Vec<String> {
    let mut input = match Input::parse(test) {
        Ok(input) => input,
        Err(e) => return vec![e],
    };
    let external_labels = Labels::from_pairs(&text_pairs(&test.external_labels));
    let env = Env {
        engine: Engine::new(EngineOptions {
            timeout: Duration::from_secs(100),
            default_subquery_step: Duration::from_millis(settings.eval_interval_ms.max(1) as u64),
            ..EngineOptions::default()
        }),
        store: Arc::new(MemQueryable::new()),
        external_labels,
        external_url: test.external_url.0.clone(),
    };

    // The alert tests by instant, and the alert names each instant asks about.
    let mut alert_tests: BTreeMap<ModelDuration, Vec<&super::file::AlertTestCase>> = BTreeMap::new();
    for case in &test.alert_rule_test {
        if case.alertname.0.is_empty() {
            let in_group = match test.name.0.as_str() {
                "" => String::new(),
                name => format!(" (in TestGroup {name})"),
            };
            return vec![format!(
                "an item under alert_rule_test misses required attribute alertname at eval_time {}{in_group}",
                case.eval_time
            )];
        }
        alert_tests.entry(case.eval_time).or_default().push(case);
    }
    let max_eval = test
        .alert_rule_test
        .iter()
        .map(|c| c.eval_time.0)
        .chain(test.promql_expr_test.iter().map(|c| c.eval_time.0))
        .max()
        .unwrap_or(0)
        .max(0);

    let mut states: Vec<GroupState> = settings
        .groups
        .iter()
        .map(|g| GroupState::for_group(&g.group, None))
        .collect();
    let interval = settings.eval_interval_ms;
    let mut pending_alert_times = alert_tests.keys().copied().peekable();
    let mut failures = Vec::new();
    let mut ts = 0;
    while ts <= max_eval {
        input.load_until(&env.store, ts);
        let mut eval_errors = Vec::new();
        for (loaded, state) in settings.groups.iter().zip(states.iter_mut()) {
            let group = &loaded.group;
            let offset = group.query_offset_ms.unwrap_or(0);
            state
                .evaluate(
                    &env,
                    TENANT,
                    group,
                    ts,
                    EvalSettings {
                        query_offset_ms: offset,
                    },
                )
                .await;
            for (rule, rs) in group.rules.iter().zip(&state.rules) {
                if let Some(e) = &rs.last_error {
                    eval_errors.push(format!(
                        "    rule: {}, time: {}, err: {e}",
                        rule.name(),
                        go_duration(ts)
                    ));
                }
            }
        }
        if !eval_errors.is_empty() {
            failures.extend(eval_errors);
            return failures;
        }
        // Tests at an instant from `ts` up to the next evaluation see this one's alerts.
        while let Some(at) = pending_alert_times.next_if(|at| ts <= at.0 && at.0 < ts + interval) {
            let cases = &alert_tests[&at];
            let names: BTreeSet<&str> = cases.iter().map(|c| c.alertname.0.as_str()).collect();
            let firing = firing_alerts(settings.groups, &states, &names);
            for case in cases {
                failures.extend(check_alerts(test, case, firing.get(case.alertname.0.as_str())));
            }
        }
        ts += interval;
    }

    for case in &test.promql_expr_test {
        let quoted = go_quote(&case.expr.0);
        let got = match instant(&env.engine, env.store.clone(), &case.expr.0, case.eval_time.0).await {
            Ok(got) => got,
            Err(e) => {
                failures.push(format!("    expr: {quoted}, time: {}, err: {e}", case.eval_time));
                continue;
            }
        };
        let mut got: Vec<SampleSet> = got
            .into_iter()
            .map(|s| SampleSet {
                labels: pairs(&s.labels),
                value: s.value,
            })
            .collect();
        let mut expected = Vec::with_capacity(case.exp_samples.len());
        let mut bad_labels = None;
        for s in &case.exp_samples {
            match parse_labels(&s.labels.0) {
                Ok(labels) => expected.push(SampleSet {
                    labels: pairs(&labels),
                    value: s.value,
                }),
                Err(e) => {
                    bad_labels = Some(format!("labels {}: {e}", go_quote(&s.labels.0)));
                    break;
                }
            }
        }
        if let Some(e) = bad_labels {
            failures.push(format!("    expr: {quoted}, time: {}, err: {e}", case.eval_time));
            continue;
        }
        expected.sort_by(|a, b| a.labels.cmp(&b.labels));
        got.sort_by(|a, b| a.labels.cmp(&b.labels));
        if !same_samples(&expected, &got) {
            failures.push(format!(
                "    expr: {quoted}, time: {},\n        exp: {}\n        got: {}",
                case.eval_time,
                samples_string(&expected),
                samples_string(&got)
            ));
        }
    }
    failures
}

/// The firing alerts of every alerting rule named in `names`, by name, across groups.
fn firing_alerts<'a>(
    groups: &[LoadedGroup],
    states: &[GroupState],
    names: &BTreeSet<&'a str>,
) -> HashMap<&'a str, Vec<AlertSet>> {
    let mut out: HashMap<&str, Vec<AlertSet>> = HashMap::new();
    for (loaded, state) in groups.iter().zip(states) {
        for (rule, rs) in loaded.group.rules.iter().zip(&state.rules) {
            let RuleKind::Alerting { alert, .. } = &rule.kind else {
                continue;
            };
            let Some(&name) = names.get(alert.as_str()) else {
                continue;
            };
            let entry = out.entry(name).or_default();
            entry.extend(
                rs.alerts
                    .iter()
                    .filter(|a| a.state == AlertState::Firing)
                    .map(|a| AlertSet {
                        labels: pairs(&a.labels),
                        annotations: a.annotations.iter().map(|(n, v)| (n.clone(), v.clone())).collect(),
                    }),
            );
        }
    }
    out
}

/// An alert test's failure, if the firing alerts are not the ones it expects.
fn check_alerts(test: &TestGroup, case: &super::file::AlertTestCase, got: Option<&Vec<AlertSet>>) -> Option<String> {
    let mut got = got.cloned().unwrap_or_default();
    let mut expected: Vec<AlertSet> = case
        .exp_alerts
        .iter()
        .map(|a| {
            let mut labels = a.exp_labels.clone();
            labels.insert(
                crate::alerting::ALERT_NAME.to_string(),
                super::file::Text(case.alertname.0.clone()),
            );
            AlertSet {
                labels: text_pairs(&labels),
                annotations: text_pairs(&a.exp_annotations),
            }
        })
        .collect();
    got.sort();
    expected.sort();
    if got == expected {
        return None;
    }
    let name = match test.name.0.as_str() {
        "" => String::new(),
        name => format!("    name: {name},\n"),
    };
    let pad = "            ";
    Some(format!(
        "{name}    alertname: {}, time: {}, \n        exp:{}, \n        got:{}",
        case.alertname.0,
        case.eval_time,
        indent(&alerts_string(&expected), pad),
        indent(&alerts_string(&got), pad)
    ))
}
