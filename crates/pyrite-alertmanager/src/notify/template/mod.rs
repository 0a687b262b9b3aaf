//! Notification templates as Alertmanager executes them: Pyrite's `default.tmpl` (the
//! `__subject`, `slack.default.*`, `pagerduty.default.*`, … definitions, producing
//! Alertmanager's output), then the files of the configuration's `templates:` globs,
//! which may override them; each field's text (`{{ template "slack.default.title" . }}`)
//! is executed with every definition available, over [`Data`] as templates see it, with
//! Alertmanager's functions and `missingkey=zero`.
//!
//! The invariant: a [`Templates`] is immutable once loaded — executing a text parses it
//! into a copy of the set, as Go's `Clone().New("").Parse(text)` does, so a `{{define}}`
//! in one field never leaks into another or into the next notification.
//!
//! Layout: `data` holds the template objects of [`Data`], `funcs` the functions; Go's
//! `time.Time` and `time.Duration` values are [`pyrite_template::gotime`]'s.

mod data;
mod funcs;

#[cfg(test)]
mod tests;
#[cfg(test)]
use pyrite_template::gotime;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use pyrite_template::{MissingKey, Template, Value};

use super::{Data, DataAlert};
use crate::config::Config;

pub use data::data_value;

/// Pyrite's default notification templates.
pub const DEFAULT_TEMPLATES: &str = include_str!("../default.tmpl");

/// The notification templates of one configuration.
#[derive(Debug, Clone)]
pub struct Templates {
    set: Template,
}

impl Default for Templates {
    fn default() -> Templates {
        Templates::defaults()
    }
}

impl Templates {
    /// The default templates only.
    pub fn defaults() -> Templates {
        static DEFAULTS: OnceLock<Template> = OnceLock::new();
        let set = DEFAULTS.get_or_init(|| {
            Template::parse("default.tmpl", DEFAULT_TEMPLATES, &funcs::alertmanager_funcs())
                // The defaults are part of the program, and tested to parse.
                .unwrap_or_else(|e| panic!("default.tmpl: {e}"))
                .with_missing_key(MissingKey::Zero)
        });
        Templates { set: set.clone() }
    }

    /// The defaults, then every file the configuration's `templates:` globs match, in
    /// order (relative globs taken against the configuration file's directory).
    pub fn load(config: &Config) -> Result<Templates, String> {
        Templates::from_globs(&config.templates, config.base_dir())
    }

    /// The defaults, then the files `globs` match (a glob matching nothing is no error,
    /// as in Alertmanager), each glob's files in name order.
    pub fn from_globs(globs: &[String], base_dir: Option<&Path>) -> Result<Templates, String> {
        let mut t = Templates::defaults();
        for g in globs {
            let pattern = match base_dir {
                Some(dir) if !Path::new(g).is_absolute() => dir.join(g).to_string_lossy().into_owned(),
                _ => g.clone(),
            };
            let paths = glob::glob(&pattern).map_err(|e| format!("template glob {g:?}: {e}"))?;
            let mut files: Vec<PathBuf> = paths.filter_map(Result::ok).filter(|p| p.is_file()).collect();
            files.sort();
            for file in files {
                let text = std::fs::read_to_string(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                t.add(&name, &text)?;
            }
        }
        Ok(t)
    }

    /// Parses more definitions into the set, after (and over) those already there.
    pub fn add(&mut self, name: &str, text: &str) -> Result<(), String> {
        self.set.add(name, text).map_err(|e| e.to_string())
    }

    /// Executes a field's template text over `data` with every definition available;
    /// an empty text gives an empty string.
    pub fn execute(&self, text: &str, data: &Data) -> Result<String, String> {
        self.execute_value(text, &data_value(data))
    }

    /// [`Templates::execute`] over data already made a template value (to execute many
    /// fields over one notification).
    pub fn execute_value(&self, text: &str, data: &Value) -> Result<String, String> {
        if text.is_empty() {
            return Ok(String::new());
        }
        let mut set = self.set.clone();
        set.add("", text).map_err(|e| e.to_string())?;
        set.execute("", data).map_err(|e| e.to_string())
    }

    /// Executes `text` for an HTML destination (Telegram's `parse_mode: HTML`), as
    /// Alertmanager's `html/template` does for text context: every value the data
    /// contributes is HTML-escaped, the template's own text is not. (Values a template
    /// computes from the data, rather than prints as they are, are escaped before the
    /// computation rather than after it.)
    pub fn execute_html(&self, text: &str, data: &Data) -> Result<String, String> {
        self.execute(text, &escaped(data))
    }

    /// Whether a definition of this name exists.
    pub fn contains(&self, name: &str) -> bool {
        self.set.contains(name)
    }
}

/// `html/template`'s escaping of text: `<>&'"+` and NUL.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn escaped(data: &Data) -> Data {
    let set = |s: &crate::model::LabelSet| -> crate::model::LabelSet {
        s.iter().map(|(k, v)| (html_escape(k), html_escape(v))).collect()
    };
    Data {
        receiver: html_escape(&data.receiver),
        status: data.status,
        alerts: data
            .alerts
            .iter()
            .map(|a| DataAlert {
                status: a.status,
                labels: set(&a.labels),
                annotations: set(&a.annotations),
                starts_at: a.starts_at,
                ends_at: a.ends_at,
                generator_url: html_escape(&a.generator_url),
                fingerprint: a.fingerprint.clone(),
            })
            .collect(),
        group_labels: set(&data.group_labels),
        common_labels: set(&data.common_labels),
        common_annotations: set(&data.common_annotations),
        external_url: html_escape(&data.external_url),
    }
}
