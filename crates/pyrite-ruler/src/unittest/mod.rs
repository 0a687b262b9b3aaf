//! Rule unit tests in `promtool test rules`'s file format, run against Pyrite's rule
//! evaluator: the rule files a test file names (relative to it, globs allowed), input
//! series in Prometheus's series notation, and tests of the alerts firing
//! (`alert_rule_test`) and of expressions' values (`promql_expr_test`) at given instants.
//!
//! A test group loads its series into an in-memory store as time passes, evaluates every
//! rule group at each `evaluation_interval` from 0 up to its latest `eval_time` — the
//! groups in `group_eval_order`, each rule reading what the rules before it wrote — and
//! checks its alert tests against the state of the evaluation at or just before their
//! instant, and its expressions once every evaluation is done. A failure is worded as
//! promtool words it; [`report`] prints files' outcomes as `promtool test rules` does.
//!
//! This module owns the test format and its run; evaluation is [`crate::group`]'s,
//! alert state [`crate::alerting`]'s and templates [`crate::template`]'s, exactly as the
//! ruler runs them, so a test that passes here passes in the ruler.
//!
//! The invariant: a test file's outcome depends only on its text and the rule files it
//! names — no clock, no network, the same failures in the same order on every run.

mod compare;
mod file;
mod run;

use std::io::Write;
use std::path::{Path, PathBuf};

use pyrite_rules::RuleFile;

use self::run::{FileSettings, LoadedGroup};

/// The evaluation interval of a test file that sets none.
pub const DEFAULT_EVALUATION_INTERVAL_MS: i64 = 60_000;

/// Why a test file could not be run at all.
#[derive(Debug, thiserror::Error)]
pub enum UnitTestError {
    #[error("open {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Yaml(String),
    #[error("{0}")]
    Glob(#[from] glob::PatternError),
    #[error("group name repeated in evaluation order: {0}")]
    RepeatedGroup(String),
    #[error("the runtime for the tests: {0}")]
    Runtime(std::io::Error),
}

/// What running one test file found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileOutcome {
    /// Rule-file patterns that matched no file (the file still runs).
    pub warnings: Vec<String>,
    /// Every failure, in promtool's words; empty when the file passed.
    pub failures: Vec<String>,
}

impl FileOutcome {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Runs every test of the unit-test file at `path`. Call it outside any async runtime:
/// it runs the evaluations on a runtime of its own.
pub fn run_file(path: &Path) -> FileOutcome {
    let mut outcome = FileOutcome::default();
    if let Err(e) = run_file_into(path, &mut outcome) {
        outcome.failures.push(e.to_string());
    }
    outcome
}

fn run_file_into(path: &Path, outcome: &mut FileOutcome) -> Result<(), UnitTestError> {
    let text = std::fs::read_to_string(path).map_err(|source| UnitTestError::Read {
        path: path.display().to_string(),
        source,
    })?;
    let parsed = file::parse(&text).map_err(UnitTestError::Yaml)?;
    let base = path.parent().unwrap_or(Path::new(""));
    let rule_files = resolve_rule_files(base, &parsed.rule_files, &mut outcome.warnings)?;
    let eval_interval_ms = match parsed.evaluation_interval.0 {
        0 => DEFAULT_EVALUATION_INTERVAL_MS,
        ms => ms,
    };
    let mut order: Vec<&str> = Vec::new();
    for name in &parsed.group_eval_order {
        if order.contains(&name.0.as_str()) {
            return Err(UnitTestError::RepeatedGroup(name.0.clone()));
        }
        order.push(&name.0);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .map_err(UnitTestError::Runtime)?;
    for test in &parsed.tests {
        // Rule files are loaded afresh for each test group, as each gets its own rules.
        let groups = match load_groups(&rule_files, &order) {
            Ok(groups) => groups,
            Err(problems) => {
                outcome.failures.extend(problems);
                continue;
            }
        };
        let settings = FileSettings {
            eval_interval_ms,
            groups: &groups,
        };
        outcome
            .failures
            .extend(runtime.block_on(run::run_test_group(test, &settings)));
    }
    Ok(())
}

/// The rule files the patterns name: relative ones joined to the test file's directory,
/// globs expanded (each pattern's matches in name order).
fn resolve_rule_files(
    base: &Path,
    patterns: &[file::Text],
    warnings: &mut Vec<String>,
) -> Result<Vec<PathBuf>, UnitTestError> {
    let mut files = Vec::new();
    for pattern in patterns {
        let pattern = match pattern.0.as_str() {
            "" => String::new(),
            p if Path::new(p).is_absolute() => p.to_string(),
            p => base.join(p).display().to_string(),
        };
        let matches: Vec<PathBuf> = glob::glob(&pattern)?.filter_map(Result::ok).collect();
        if matches.is_empty() {
            warnings.push(format!("no file match pattern {pattern}"));
        }
        files.extend(matches);
    }
    Ok(files)
}

/// Every group of the rule files, checked as `promtool check rules` checks them, in
/// evaluation order: those in `order` by their place there, the others (as the first
/// named) in file order. `Err`: every problem of every file.
fn load_groups(files: &[PathBuf], order: &[&str]) -> Result<Vec<LoadedGroup>, Vec<String>> {
    let mut groups = Vec::new();
    let mut problems = Vec::new();
    for path in files {
        let file = path.display().to_string();
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) => {
                problems.push(format!("{file}: open {file}: {e}"));
                continue;
            }
        };
        match RuleFile::parse(&bytes, &crate::template::check) {
            Ok(parsed) => groups.extend(parsed.groups.into_iter().map(|group| LoadedGroup { group })),
            Err(e) => problems.extend(e.0.into_iter().map(|p| format!("{file}: {p}"))),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let rank = |g: &LoadedGroup| order.iter().position(|n| *n == g.group.name).unwrap_or(0);
    groups.sort_by_key(rank);
    Ok(groups)
}

/// Runs each file and prints its outcome as `promtool test rules` does — `Unit Testing:
/// FILE`, then `  SUCCESS` or `  FAILED:` and each failure — progress on `out`, failures
/// and warnings on `err`. `true` when every file passed.
pub fn report(files: &[PathBuf], out: &mut dyn Write, err: &mut dyn Write) -> std::io::Result<bool> {
    let mut all_passed = true;
    for path in files {
        writeln!(out, "Unit Testing:  {}", path.display())?;
        out.flush()?;
        let outcome = run_file(path);
        for w in &outcome.warnings {
            writeln!(err, "  WARNING: {w}")?;
        }
        if outcome.passed() {
            writeln!(out, "  SUCCESS")?;
        } else {
            all_passed = false;
            writeln!(err, "  FAILED:")?;
            for f in &outcome.failures {
                writeln!(err, "{f}")?;
                writeln!(out)?;
            }
        }
        writeln!(out)?;
    }
    Ok(all_passed)
}

#[cfg(test)]
mod tests;
