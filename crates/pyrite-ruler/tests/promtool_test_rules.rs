//! Rule unit-test files (`tests/unittest/*.yml`, passing and deliberately failing ones)
//! run through `promtool test rules` (Prometheus 2.42, Debian's `prometheus` package)
//! and through Pyrite's runner: the same files pass, and the same tests fail with the
//! same report — word for word, but for the PromQL engine's own error messages, YAML
//! type names and positions inside a line.

use std::path::{Path, PathBuf};
use std::process::Command;

use pyrite_ruler::unittest;
use regex::Regex;

fn test_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/unittest");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml"))
        .collect();
    files.sort();
    assert!(files.len() >= 5, "test files in {}", dir.display());
    files
}

/// promtool's exit status, standard output and standard error for one file.
fn promtool(file: &Path) -> (bool, String, String) {
    let out = Command::new("promtool")
        .arg("test")
        .arg("rules")
        .arg(file)
        .output()
        .expect("promtool runs (Debian's prometheus package; scripts/test.sh installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn pyrite(file: &Path) -> (bool, String, String) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let passed = unittest::report(&[file.to_path_buf()], &mut out, &mut err).unwrap();
    (passed, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
}

/// A report without what may differ: the engine's error messages (after `err: `), the
/// type an unknown YAML field was not found in, and `line:column: ` positions.
fn substance(report: &str) -> String {
    let engine_error = Regex::new(r"err: .*").unwrap();
    let yaml_type = Regex::new(r"(field \S+ not found) in .*").unwrap();
    let position = Regex::new(r"\b\d+:\d+: ").unwrap();
    let report = engine_error.replace_all(report, "err: …");
    let report = yaml_type.replace_all(&report, "$1");
    position.replace_all(&report, "").into_owned()
}

#[test]
fn unit_test_files_pass_and_fail_as_in_promtool() {
    for file in test_files() {
        let (promtool_passed, promtool_out, promtool_err) = promtool(&file);
        let (passed, out, err) = pyrite(&file);
        let name = file.display();
        assert_eq!(
            passed, promtool_passed,
            "{name}: promtool said\n{promtool_out}{promtool_err}\nPyrite\n{out}{err}"
        );
        let expect_pass = file.file_name().unwrap().to_string_lossy().starts_with("passing");
        assert_eq!(passed, expect_pass, "{name}:\n{out}{err}");
        assert_eq!(out, promtool_out, "{name}: standard output");
        assert_eq!(substance(&err), substance(&promtool_err), "{name}: the failures\n{err}");
    }
}

#[test]
fn the_same_rule_error_is_reported_at_the_same_instant() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/unittest/failing_rule_error.yml");
    let outcome = unittest::run_file(&file);
    assert!(
        outcome.failures[0].starts_with("    rule: matched, time: 0s, err: "),
        "{:?}",
        outcome.failures
    );
    assert!(outcome.failures[0].contains("many-to-many"), "{:?}", outcome.failures);
}
