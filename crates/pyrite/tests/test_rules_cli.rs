//! `pyrite test rules` as a user runs it: the example of docs/operations.md, written out
//! and run exactly as the docs show it, and a failing file's report and exit status.

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The fenced blocks of the operations guide's "Rule unit tests" section, as
/// (language, text).
fn docs_blocks() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(repo_root().join("docs/operations.md")).unwrap();
    let start = doc.find("### Rule unit tests").expect("the section");
    let mut blocks = Vec::new();
    // Up to the next heading outside a fenced block.
    let mut lines = doc[start..].lines().skip(1);
    while let Some(line) = lines.next() {
        if line.starts_with('#') {
            break;
        }
        let Some(lang) = line.strip_prefix("```") else { continue };
        let mut text = String::new();
        for l in lines.by_ref() {
            if l == "```" {
                break;
            }
            text.push_str(l);
            text.push('\n');
        }
        blocks.push((lang.to_string(), text));
    }
    blocks
}

/// `PATH` with the built `pyrite` first.
fn path_with_pyrite() -> String {
    let bin = Path::new(env!("CARGO_BIN_EXE_pyrite")).parent().unwrap().to_path_buf();
    format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default())
}

#[test]
fn the_documented_example_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let blocks = docs_blocks();
    for (lang, text) in &blocks {
        if lang == "yaml" {
            let name = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# "))
                .expect("# FILE first");
            std::fs::write(dir.path().join(name), text).unwrap();
        }
    }
    let commands: Vec<&String> = blocks.iter().filter(|(l, _)| l == "sh").map(|(_, t)| t).collect();
    let outputs: Vec<&String> = blocks.iter().filter(|(l, _)| l == "text").map(|(_, t)| t).collect();
    assert_eq!(commands.len(), 1, "one command in the section");
    let out = Command::new("sh")
        .arg("-c")
        .arg(commands[0].trim())
        .current_dir(dir.path())
        .env("PATH", path_with_pyrite())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        format!("{}\n", stdout.trim_end()),
        *outputs[0],
        "the output the docs show"
    );
}

#[test]
fn a_failing_file_reports_its_failures_and_exits_with_1() {
    let passing = repo_root().join("crates/pyrite-ruler/tests/unittest/passing.yml");
    let failing = repo_root().join("crates/pyrite-ruler/tests/unittest/failing_samples.yml");
    let out = Command::new(env!("CARGO_BIN_EXE_pyrite"))
        .args(["test", "rules"])
        .arg(&passing)
        .arg(&failing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stdout.starts_with(&format!(
            "Unit Testing:  {}\n  SUCCESS\n\nUnit Testing:  {}\n",
            passing.display(),
            failing.display()
        )),
        "{stdout}"
    );
    assert!(
        stderr.starts_with("  FAILED:\n    expr: \"job:load:sum\", time: 2m,\n"),
        "{stderr}"
    );

    let out = Command::new(env!("CARGO_BIN_EXE_pyrite"))
        .args(["test", "rules"])
        .arg(&passing)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
}
