//! `pyrite test rules FILE...`: runs rule unit-test files (the format of `promtool test
//! rules`) with Pyrite's rule evaluator and prints each file's outcome as promtool does;
//! the exit status is 0 when every file passed and 1 otherwise.

use std::path::PathBuf;

use anyhow::bail;

use crate::config::Invocation;

/// The command line after `test`: `rules` and the files, or a request for help.
pub fn parse(args: &[String]) -> anyhow::Result<Invocation> {
    match args.first().map(String::as_str) {
        Some("rules") => {}
        Some("-h" | "--help") | None => return Ok(Invocation::Help(crate::help::TEST_RULES_HELP.to_string())),
        Some(other) => bail!("unknown command \"test {other}\"; the one test command is `pyrite test rules FILE...`"),
    }
    let mut files = Vec::new();
    for arg in &args[1..] {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Invocation::Help(crate::help::TEST_RULES_HELP.to_string())),
            flag if flag.starts_with('-') => bail!("unknown flag {flag} for `pyrite test rules` (see --help)"),
            file => files.push(PathBuf::from(file)),
        }
    }
    if files.is_empty() {
        bail!("`pyrite test rules` needs at least one unit-test file (see --help)");
    }
    for file in &files {
        if !file.exists() {
            bail!("path '{}' does not exist", file.display());
        }
    }
    Ok(Invocation::TestRules(files))
}

/// Runs the files; the process's exit status.
pub fn run(files: &[PathBuf]) -> anyhow::Result<i32> {
    let passed = pyrite_ruler::unittest::report(files, &mut std::io::stdout(), &mut std::io::stderr())?;
    Ok(if passed { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn rules_takes_existing_files() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.yml");
        std::fs::write(&file, "tests: []\n").unwrap();
        let Invocation::TestRules(files) = parse(&args(&["rules", file.to_str().unwrap()])).unwrap() else {
            panic!("a test run")
        };
        assert_eq!(files, std::slice::from_ref(&file));
        assert!(parse(&args(&["rules"])).is_err());
        assert!(parse(&args(&["rules", "/no/such/file.yml"])).is_err());
        assert!(parse(&args(&["alerts", file.to_str().unwrap()])).is_err());
        assert!(matches!(
            parse(&args(&["rules", "--help"])).unwrap(),
            Invocation::Help(_)
        ));
    }
}
