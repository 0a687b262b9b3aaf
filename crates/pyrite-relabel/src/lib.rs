//! Prometheus relabeling, written once for every place that rewrites label sets: scrape
//! targets (`relabel_configs`), scraped samples (`metric_relabel_configs`), remote writes
//! (`write_relabel_configs`) and alerts (`alert_relabel_configs`). A [`RelabelConfig`]
//! reads and validates exactly as Prometheus's YAML does (defaults: `replace`, separator
//! `;`, regex `(.*)`, replacement `$1`), and [`process`] applies a list of them in order.
//!
//! Regexes follow Go's RE2 semantics ([`Regex`]): fully anchored, `\d \w \s \b` ASCII,
//! and `$1`, `${1}`, `$name` expanded as Go expands them (the longest run of name
//! characters after `$`, an unknown group expanding to nothing). `hashmod` hashes with
//! MD5 and takes the last eight bytes, big-endian, modulo the modulus, as Prometheus
//! does, so targets shard the same way in both. Label names follow the legacy syntax
//! Pyrite's write path accepts.
//!
//! The invariant: relabeling is a pure function of the label set and the configs, and a
//! label set left empty of a name or value never carries an empty value.

mod go_regex;

use md5::{Digest, Md5};
use pyrite_model::{is_valid_label_name, Labels, LabelsBuilder};
use serde::{Deserialize, Serialize};

pub use crate::go_regex::Regex;

/// What a relabeling step does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Replace,
    Keep,
    Drop,
    KeepEqual,
    DropEqual,
    HashMod,
    LabelMap,
    LabelDrop,
    LabelKeep,
    Lowercase,
    Uppercase,
}

impl<'de> Deserialize<'de> for Action {
    /// Any case, as Prometheus reads it (`Replace`, `LABELDROP`).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Ok(match s.to_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            "hashmod" => Action::HashMod,
            "labelmap" => Action::LabelMap,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            _ => return Err(serde::de::Error::custom(format!("unknown relabel action {s:?}"))),
        })
    }
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Replace => "replace",
            Action::Keep => "keep",
            Action::Drop => "drop",
            Action::KeepEqual => "keepequal",
            Action::DropEqual => "dropequal",
            Action::HashMod => "hashmod",
            Action::LabelMap => "labelmap",
            Action::LabelDrop => "labeldrop",
            Action::LabelKeep => "labelkeep",
            Action::Lowercase => "lowercase",
            Action::Uppercase => "uppercase",
        }
    }
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// One relabeling step, as Prometheus's YAML writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Unchecked")]
pub struct RelabelConfig {
    /// Labels whose values are joined with `separator` into the value the step reads.
    pub source_labels: Vec<String>,
    pub separator: String,
    /// Matched against the joined value (anchored at both ends).
    pub regex: Regex,
    /// `hashmod`'s modulus.
    pub modulus: u64,
    /// The label written (`replace` may use `$1`-style references in it).
    pub target_label: String,
    /// What `replace` writes and `labelmap` renames to, with `$1`-style references.
    pub replacement: String,
    pub action: Action,
}

impl Default for RelabelConfig {
    fn default() -> Self {
        RelabelConfig {
            source_labels: Vec::new(),
            separator: DEFAULT_SEPARATOR.into(),
            regex: Regex::new(DEFAULT_REGEX).expect("the default regex compiles"),
            modulus: 0,
            target_label: String::new(),
            replacement: DEFAULT_REPLACEMENT.into(),
            action: Action::Replace,
        }
    }
}

/// The YAML form before [`RelabelConfig::validate`].
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct Unchecked {
    source_labels: Vec<String>,
    separator: String,
    regex: Regex,
    modulus: u64,
    target_label: String,
    replacement: String,
    action: Action,
}

impl Default for Unchecked {
    fn default() -> Self {
        let d = RelabelConfig::default();
        Unchecked {
            source_labels: d.source_labels,
            separator: d.separator,
            regex: d.regex,
            modulus: d.modulus,
            target_label: d.target_label,
            replacement: d.replacement,
            action: d.action,
        }
    }
}

impl TryFrom<Unchecked> for RelabelConfig {
    type Error = RelabelError;

    fn try_from(u: Unchecked) -> Result<Self, RelabelError> {
        let c = RelabelConfig {
            source_labels: u.source_labels,
            separator: u.separator,
            regex: u.regex,
            modulus: u.modulus,
            target_label: u.target_label,
            replacement: u.replacement,
            action: u.action,
        };
        c.validate()?;
        Ok(c)
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct RelabelError(String);

/// A `target_label` or `labelmap` replacement made of name characters and `$` references.
fn is_name_template(s: &str) -> bool {
    static TEMPLATE: std::sync::LazyLock<::regex::Regex> = std::sync::LazyLock::new(|| {
        ::regex::Regex::new(r"^(?:(?:[a-zA-Z_]|\$(?:\{[0-9A-Za-z_]+\}|[0-9A-Za-z_]+))+[0-9A-Za-z_]*)+$")
            .expect("the template pattern compiles")
    });
    TEMPLATE.is_match(s)
}

impl RelabelConfig {
    /// Prometheus's checks, with its messages.
    pub fn validate(&self) -> Result<(), RelabelError> {
        use Action::*;
        let err = |m: String| Err(RelabelError(m));
        let a = self.action;
        let defaults = RelabelConfig::default();
        if self.modulus == 0 && a == HashMod {
            return err("relabel configuration for hashmod requires non-zero modulus".into());
        }
        let needs_target = matches!(a, Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual);
        if needs_target && self.target_label.is_empty() {
            return err(format!(
                "relabel configuration for {} action requires 'target_label' value",
                a.name()
            ));
        }
        let templated = self.target_label.contains('$');
        let bad_target = match a {
            Replace if templated => !is_name_template(&self.target_label),
            Replace | HashMod | Lowercase | Uppercase | KeepEqual | DropEqual => {
                !is_valid_label_name(&self.target_label)
            }
            _ => false,
        };
        if bad_target {
            return err(format!(
                "{:?} is invalid 'target_label' for {} action",
                self.target_label,
                a.name()
            ));
        }
        if matches!(a, Lowercase | Uppercase | KeepEqual | DropEqual) && self.replacement != DEFAULT_REPLACEMENT {
            return err(format!("'replacement' can not be set for {} action", a.name()));
        }
        if a == LabelMap && !is_name_template(&self.replacement) {
            return err(format!(
                "{:?} is invalid 'replacement' for {} action",
                self.replacement,
                a.name()
            ));
        }
        if matches!(a, KeepEqual | DropEqual)
            && (self.regex != defaults.regex
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{} action requires only 'source_labels' and `target_label`, and no other fields",
                a.name()
            ));
        }
        if matches!(a, LabelDrop | LabelKeep)
            && (!self.source_labels.is_empty()
                || !self.target_label.is_empty()
                || self.modulus != 0
                || self.separator != DEFAULT_SEPARATOR
                || self.replacement != DEFAULT_REPLACEMENT)
        {
            return err(format!(
                "{} action requires only 'regex', and no other fields",
                a.name()
            ));
        }
        Ok(())
    }
}

/// Applies `configs` in order; `None` when a step drops the label set.
pub fn process(labels: &Labels, configs: &[RelabelConfig]) -> Option<Labels> {
    let mut b = labels.to_builder();
    for c in configs {
        if !step(c, &mut b) {
            return None;
        }
    }
    Some(b.build())
}

/// One step on `b`; false drops the label set.
fn step(c: &RelabelConfig, b: &mut LabelsBuilder) -> bool {
    let values: Vec<&str> = c.source_labels.iter().map(|n| b.get(n)).collect();
    let val = values.join(&c.separator);
    match c.action {
        Action::Drop => return !c.regex.is_match(&val),
        Action::Keep => return c.regex.is_match(&val),
        Action::DropEqual => return b.get(&c.target_label) != val,
        Action::KeepEqual => return b.get(&c.target_label) == val,
        Action::Replace => replace(c, &val, b),
        Action::Lowercase => {
            let lower: String = val.chars().flat_map(char::to_lowercase).collect();
            b.set(&c.target_label, &lower);
        }
        Action::Uppercase => {
            let upper: String = val.chars().flat_map(char::to_uppercase).collect();
            b.set(&c.target_label, &upper);
        }
        Action::HashMod => {
            let sum = Md5::digest(val.as_bytes());
            let tail: [u8; 8] = sum[8..].try_into().expect("an MD5 sum has 16 bytes");
            b.set(&c.target_label, &(u64::from_be_bytes(tail) % c.modulus).to_string());
        }
        Action::LabelMap => {
            let renames: Vec<(String, String)> = b
                .labels()
                .iter()
                .filter(|l| c.regex.is_match(&l.name))
                .map(|l| {
                    let name = c.regex.compiled().replace_all(&l.name, c.replacement.as_str());
                    (name.into_owned(), l.value.to_string())
                })
                .collect();
            for (name, value) in renames {
                b.set(&name, &value);
            }
        }
        Action::LabelDrop | Action::LabelKeep => {
            let keep_matching = c.action == Action::LabelKeep;
            let gone: Vec<String> = b
                .labels()
                .iter()
                .filter(|l| c.regex.is_match(&l.name) != keep_matching)
                .map(|l| l.name.to_string())
                .collect();
            for name in gone {
                b.del(&name);
            }
        }
    }
    true
}

/// `replace`: a regex match writes the expanded replacement to the expanded target
/// (an empty result deletes it); no match changes nothing.
fn replace(c: &RelabelConfig, val: &str, b: &mut LabelsBuilder) {
    // Prometheus's fast path: nothing to match or expand, the replacement is written as is.
    if val.is_empty()
        && c.regex.as_str() == DEFAULT_REGEX
        && !c.target_label.contains('$')
        && !c.replacement.contains('$')
    {
        b.set(&c.target_label, &c.replacement);
        return;
    }
    let Some(caps) = c.regex.compiled().captures(val) else {
        return;
    };
    let mut target = String::new();
    caps.expand(&c.target_label, &mut target);
    if !is_valid_label_name(&target) {
        return;
    }
    let mut value = String::new();
    caps.expand(&c.replacement, &mut value);
    b.set(&target, &value);
}

#[cfg(test)]
mod tests;
