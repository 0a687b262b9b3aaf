//! Running what the README shows, as written: its shell blocks are read out of the file
//! itself, so a test fails as soon as the recipe and the product part ways.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context};

use crate::docker::repo_root;

/// The first ```` ```sh ```` block after the heading `heading` (its text without the
/// `#`s) in the README.
pub fn sh_block(heading: &str) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(repo_root().join("README.md")).context("reading README.md")?;
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_start_matches('#').trim() != heading || !l.starts_with('#'));
    if lines.next().is_none() {
        bail!("README.md has no heading {heading:?}");
    }
    let mut lines = lines.skip_while(|l| l.trim() != "```sh");
    if lines.next().is_none() {
        bail!("README.md has no sh block after {heading:?}");
    }
    Ok(lines.take_while(|l| l.trim() != "```").collect::<Vec<_>>().join("\n"))
}

/// Processes a README recipe started in the background, through a `pyrite` on `PATH`
/// that is the binary under test with `extra` flags after the recipe's own. Every one
/// is killed when this is dropped, and their logs printed if the test failed.
pub struct Recipe {
    dir: PathBuf,
}

impl Recipe {
    /// Runs `script` with bash in `dir` (which must exist); returns once the script has
    /// (its background processes go on).
    pub fn run(dir: &Path, script: &str, extra: &[&str]) -> anyhow::Result<Recipe> {
        let bin = dir.join("bin");
        std::fs::create_dir_all(&bin)?;
        let wrapper = format!(
            "#!/bin/sh\necho $$ >> '{dir}/pids'\nexec '{real}' \"$@\" {extra} >> '{dir}'/pyrite-$$.log 2>&1\n",
            dir = dir.display(),
            real = crate::pyrite_bin().display(),
            extra = extra.join(" "),
        );
        let path = bin.join("pyrite");
        std::fs::write(&path, wrapper)?;
        Command::new("chmod").arg("+x").arg(&path).status()?;
        let recipe = Recipe { dir: dir.to_path_buf() };
        let out = Command::new("bash")
            .arg("-euc")
            .arg(script)
            .current_dir(dir)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
            )
            .output()
            .context("running the recipe")?;
        if !out.status.success() {
            bail!("the recipe failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(recipe)
    }

    /// Every log the recipe's processes wrote, each headed by its pid.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for pid in self.pids() {
            let log = std::fs::read_to_string(self.dir.join(format!("pyrite-{pid}.log"))).unwrap_or_default();
            out.push_str(&format!("---- pyrite {pid} ----\n{}\n", crate::blocks::tail(&log, 30)));
        }
        out
    }

    fn pids(&self) -> Vec<String> {
        std::fs::read_to_string(self.dir.join("pids"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

impl Drop for Recipe {
    fn drop(&mut self) {
        for pid in self.pids() {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}
