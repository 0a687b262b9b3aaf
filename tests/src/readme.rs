//! Running what the README shows, as written: its shell blocks are read out of the file
//! itself, so a test fails as soon as the recipe and the product part ways.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::docker::repo_root;

/// The first ```` ```sh ```` block after the heading `heading` (its text without the
/// `#`s) in the README.
pub fn sh_block(heading: &str) -> anyhow::Result<String> {
    sh_blocks(heading)?
        .into_iter()
        .next()
        .with_context(|| format!("README.md has no sh block after {heading:?}"))
}

/// Every ```` ```sh ```` block of the README's section `heading`, up to the next heading
/// of any level, in order.
pub fn sh_blocks(heading: &str) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(repo_root().join("README.md")).context("reading README.md")?;
    let mut lines = text
        .lines()
        .skip_while(|l| l.trim_start_matches('#').trim() != heading || !l.starts_with('#'));
    if lines.next().is_none() {
        bail!("README.md has no heading {heading:?}");
    }
    let mut blocks = Vec::new();
    let mut current: Option<Vec<&str>> = None;
    for line in lines {
        match (&mut current, line.trim()) {
            (None, _) if line.starts_with('#') => break,
            (None, "```sh") => current = Some(Vec::new()),
            (Some(block), "```") => {
                blocks.push(block.join("\n"));
                current = None;
            }
            (Some(block), _) => block.push(line),
            (None, _) => {}
        }
    }
    Ok(blocks)
}

/// A README recipe running in one bash session, as a user would type it block after
/// block: a `pyrite` on `PATH` is the binary under test with `extra` flags after the
/// recipe's own, and later blocks see the variables and background jobs of earlier
/// ones. Every process is killed when this is dropped, and their logs printed if the
/// test failed.
pub struct Recipe {
    dir: PathBuf,
    shell: Child,
    stdin: ChildStdin,
    stdout: Receiver<String>,
    blocks: usize,
}

impl Recipe {
    /// Starts the session in `dir` (which must exist) and runs `script` in it; returns
    /// once the script has (its background processes go on).
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
        let mut shell = Command::new("bash")
            .arg("-eu")
            .current_dir(dir)
            .env(
                "PATH",
                format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default()),
            )
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(dir.join("shell.err"))?)
            .spawn()
            .context("starting bash")?;
        let stdin = shell.stdin.take().context("bash's stdin")?;
        let out = shell.stdout.take().context("bash's stdout")?;
        let (tx, stdout) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut recipe = Recipe {
            dir: dir.to_path_buf(),
            shell,
            stdin,
            stdout,
            blocks: 0,
        };
        recipe.then(script)?;
        Ok(recipe)
    }

    /// Runs the next block in the same session; returns what it printed.
    pub fn then(&mut self, script: &str) -> anyhow::Result<String> {
        self.blocks += 1;
        let done = format!("__recipe_block_{}_done__", self.blocks);
        writeln!(self.stdin, "{script}\necho\necho {done}").context("writing to bash")?;
        self.stdin.flush()?;
        let deadline = Instant::now() + Duration::from_secs(180);
        let mut printed = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stdout.recv_timeout(left) {
                Ok(line) if line == done => return Ok(printed.join("\n").trim_end().to_string()),
                Ok(line) => printed.push(line),
                Err(RecvTimeoutError::Timeout) => bail!("block {} still running after 180 s", self.blocks),
                Err(RecvTimeoutError::Disconnected) => {
                    let err = std::fs::read_to_string(self.dir.join("shell.err")).unwrap_or_default();
                    bail!("block {} failed: {}\n{err}", self.blocks, printed.join("\n"));
                }
            }
        }
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
        let _ = self.shell.kill();
        let _ = self.shell.wait();
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
    }
}
