//! Prometheus rule files, read and checked as `promtool check rules` reads and checks
//! them: `groups:` of recording and alerting rules, each group with its `interval`,
//! `query_offset` and `limit`. [`RuleFile::parse`] turns a file's bytes into typed
//! [`RuleGroup`]s or into every problem promtool would report, worded as promtool words
//! it (`group "a", rule 1, "job:up:sum": invalid field 'for' in recording rule`);
//! [`RuleGroup::to_yaml`] writes a group back in the same format, as the rule
//! configuration API answers it.
//!
//! This crate owns the rule *format* only: it evaluates nothing, and it knows nothing of
//! tenants or where files come from. Template text in labels and annotations is checked
//! by a caller-supplied [`TemplateCheck`], so that the one template engine the ruler
//! renders with is also the one that decides what parses.
//!
//! The invariant: a [`RuleGroup`] that comes out of this crate passed every check, so an
//! evaluator may rely on what they guarantee — a name on every group, one of `record` or
//! `alert` on every rule, a parsable expression, valid label names, `for` and
//! `annotations` only on alerting rules.

mod duration;
mod format;

pub use duration::{format_duration, parse_duration};
pub use format::{Rule, RuleFile, RuleGroup, RuleKind};

/// Checks one template text of a rule (`name` is the rule's name, `text` a label's or an
/// annotation's value): `Err` with the template engine's message when it does not parse.
pub type TemplateCheck<'a> = &'a dyn Fn(&str, &str) -> Result<(), String>;

/// What is wrong with a rule file: every problem found, in file order.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}", .0.join("\n"))]
pub struct RuleFileError(pub Vec<String>);
