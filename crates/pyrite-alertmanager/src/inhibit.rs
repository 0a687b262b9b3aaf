//! Inhibition: an alert is muted while another alert, firing and matching a rule's
//! source matchers, has the same values for the rule's `equal` labels.
//!
//! The invariant: an alert never inhibits itself — where an alert matches both sides
//! of a rule, sources that also match the target side are not counted.

use chrono::{DateTime, Utc};

use crate::config::InhibitRule;
use crate::model::{Alert, Fingerprint, LabelSet};

pub struct Inhibitor {
    rules: Vec<InhibitRule>,
}

impl Inhibitor {
    pub fn new(rules: Vec<InhibitRule>) -> Inhibitor {
        Inhibitor { rules }
    }

    /// The fingerprint of an alert inhibiting one with these labels, if any, among the
    /// alerts known at `now`.
    pub fn inhibited_by<'a>(
        &self,
        target: &LabelSet,
        alerts: impl Iterator<Item = &'a Alert> + Clone,
        now: DateTime<Utc>,
    ) -> Option<Fingerprint> {
        for rule in self.rules.iter().filter(|r| r.target_matchers.matches(target)) {
            let two_sided = rule.source_matchers.matches(target);
            let source = alerts.clone().find(|a| {
                !a.resolved_at(now)
                    && rule.source_matchers.matches(&a.labels)
                    && rule.equal.iter().all(|n| a.labels.get(n) == target.get(n))
                    && !(two_sided && rule.target_matchers.matches(&a.labels))
            });
            if let Some(a) = source {
                return Some(a.fingerprint());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matchers::Matchers;

    fn alert(pairs: &[(&str, &str)], ends: i64) -> Alert {
        let t = |s| DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap();
        Alert {
            labels: pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            annotations: LabelSet::new(),
            starts_at: t(0),
            ends_at: t(ends),
            generator_url: String::new(),
            updated_at: t(0),
            timeout: false,
        }
    }

    #[test]
    fn a_firing_source_with_equal_labels_inhibits_and_nothing_inhibits_itself() {
        let inhibitor = Inhibitor::new(vec![InhibitRule {
            name: None,
            source_matchers: Matchers::parse(r#"severity="critical""#).unwrap(),
            target_matchers: Matchers::parse(r#"severity=~"warning|critical""#).unwrap(),
            equal: vec!["cluster".into()],
        }]);
        let now = DateTime::from_timestamp(1_700_000_010, 0).unwrap();
        let crit = alert(&[("severity", "critical"), ("cluster", "a")], 100);
        let warn_a = alert(&[("severity", "warning"), ("cluster", "a")], 100);
        let warn_b = alert(&[("severity", "warning"), ("cluster", "b")], 100);
        let all = [crit.clone(), warn_a.clone(), warn_b.clone()];
        assert_eq!(
            inhibitor.inhibited_by(&warn_a.labels, all.iter(), now),
            Some(crit.fingerprint())
        );
        assert_eq!(inhibitor.inhibited_by(&warn_b.labels, all.iter(), now), None);
        assert_eq!(
            inhibitor.inhibited_by(&crit.labels, all.iter(), now),
            None,
            "not by itself"
        );
        let resolved = [alert(&[("severity", "critical"), ("cluster", "a")], 5), warn_a.clone()];
        assert_eq!(inhibitor.inhibited_by(&warn_a.labels, resolved.iter(), now), None);
    }
}
