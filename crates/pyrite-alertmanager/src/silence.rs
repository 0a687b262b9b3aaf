//! Silences: matchers that mute alerts from a start to an end, created, updated and
//! expired as Alertmanager's API v2 allows.
//!
//! The invariant: a silence's matchers never change under its ID. An update that would
//! change them, move an active silence's start or end it in the past expires the old
//! silence and creates a new one, so what an ID muted stays true in retrospect.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::matchers::Matchers;
use crate::model::LabelSet;

/// How long an expired silence is kept, as Alertmanager's `--data.retention` default.
pub const DEFAULT_RETENTION: Duration = Duration::from_secs(120 * 60 * 60);

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Silence {
    pub id: String,
    pub matchers: Matchers,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub created_by: String,
    pub comment: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SilenceState {
    Pending,
    Active,
    Expired,
}

impl SilenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            SilenceState::Pending => "pending",
            SilenceState::Active => "active",
            SilenceState::Expired => "expired",
        }
    }
}

impl Silence {
    pub fn state(&self, now: DateTime<Utc>) -> SilenceState {
        if self.ends_at <= now {
            SilenceState::Expired
        } else if self.starts_at > now {
            SilenceState::Pending
        } else {
            SilenceState::Active
        }
    }

    pub fn mutes(&self, labels: &LabelSet, now: DateTime<Utc>) -> bool {
        self.state(now) == SilenceState::Active && self.matchers.matches(labels)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SilenceError {
    #[error("{0}")]
    Invalid(String),
    #[error("silence {0} not found")]
    NotFound(String),
    #[error("silence {0} already expired")]
    AlreadyExpired(String),
}

/// Every silence of one tenant, by ID.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Silences {
    by_id: BTreeMap<String, Silence>,
}

impl Silences {
    /// Creates a silence (`silence.id` empty) or updates one, returning the ID that now
    /// holds it; `new_id` names a silence created in place of one that cannot be
    /// updated.
    pub fn set(
        &mut self,
        mut silence: Silence,
        now: DateTime<Utc>,
        new_id: impl FnOnce() -> String,
    ) -> Result<String, SilenceError> {
        validate(&silence, now)?;
        silence.updated_at = now;
        if !silence.id.is_empty() {
            let prev = self
                .by_id
                .get(&silence.id)
                .ok_or_else(|| SilenceError::NotFound(silence.id.clone()))?
                .clone();
            if can_update(&prev, &silence, now) {
                self.by_id.insert(silence.id.clone(), silence.clone());
                return Ok(silence.id);
            }
            if prev.state(now) != SilenceState::Expired {
                self.expire(&prev.id, now)?;
            }
        }
        if silence.starts_at < now {
            silence.starts_at = now;
        }
        silence.id = new_id();
        self.by_id.insert(silence.id.clone(), silence.clone());
        Ok(silence.id)
    }

    pub fn expire(&mut self, id: &str, now: DateTime<Utc>) -> Result<(), SilenceError> {
        let s = self
            .by_id
            .get_mut(id)
            .ok_or_else(|| SilenceError::NotFound(id.to_string()))?;
        match s.state(now) {
            SilenceState::Expired => return Err(SilenceError::AlreadyExpired(id.to_string())),
            SilenceState::Pending => s.starts_at = now,
            SilenceState::Active => {}
        }
        s.ends_at = now;
        s.updated_at = now;
        Ok(())
    }

    pub fn get(&self, id: &str) -> Option<&Silence> {
        self.by_id.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Silence> {
        self.by_id.values()
    }

    /// The IDs of the active silences muting these labels.
    pub fn muting(&self, labels: &LabelSet, now: DateTime<Utc>) -> Vec<String> {
        self.by_id
            .values()
            .filter(|s| s.mutes(labels, now))
            .map(|s| s.id.clone())
            .collect()
    }

    /// Forgets silences expired longer than `retention` ago.
    pub fn gc(&mut self, now: DateTime<Utc>, retention: Duration) {
        let horizon = now - chrono::Duration::from_std(retention).unwrap_or(chrono::Duration::MAX);
        self.by_id.retain(|_, s| s.ends_at > horizon);
    }

    /// Puts a silence as it is, for state restored or replicated from elsewhere.
    pub fn restore(&mut self, silence: Silence) {
        self.by_id.insert(silence.id.clone(), silence);
    }
}

fn validate(s: &Silence, now: DateTime<Utc>) -> Result<(), SilenceError> {
    let invalid = |m: &str| Err(SilenceError::Invalid(m.to_string()));
    if s.matchers.is_empty() {
        return invalid("at least one matcher required");
    }
    if s.matchers.iter().all(|m| m.matches_value("")) {
        return invalid("at least one matcher must not match the empty string");
    }
    if s.starts_at >= s.ends_at {
        return invalid("start time must be before end time");
    }
    if s.ends_at < now {
        return invalid("end time can't be in the past");
    }
    Ok(())
}

fn can_update(prev: &Silence, new: &Silence, now: DateTime<Utc>) -> bool {
    if prev.matchers != new.matchers {
        return false;
    }
    match prev.state(now) {
        SilenceState::Active => new.starts_at == prev.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn silence(id: &str, m: &str, start: i64, end: i64) -> Silence {
        Silence {
            id: id.into(),
            matchers: Matchers::parse(m).unwrap(),
            starts_at: t(start),
            ends_at: t(end),
            updated_at: t(0),
            created_by: "me".into(),
            comment: "c".into(),
        }
    }

    #[test]
    fn silences_mute_while_active_and_updates_keep_or_replace_the_id() {
        let mut s = Silences::default();
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("s{n}")
        };
        let id = s
            .set(silence("", r#"alertname="Disk""#, -10, 100), t(0), &mut next)
            .unwrap();
        assert_eq!(id, "s1");
        assert_eq!(s.get("s1").unwrap().starts_at, t(0), "a start in the past becomes now");
        let disk: LabelSet = [("alertname".to_string(), "Disk".to_string())].into();
        assert_eq!(s.muting(&disk, t(5)), ["s1"]);
        // Extending an active silence keeps its ID.
        assert_eq!(
            s.set(silence("s1", r#"alertname="Disk""#, 0, 200), t(5), &mut next)
                .unwrap(),
            "s1"
        );
        // Changing its matchers expires it and makes a new one.
        assert_eq!(
            s.set(silence("s1", r#"alertname="Cpu""#, 0, 200), t(6), &mut next)
                .unwrap(),
            "s2"
        );
        assert_eq!(s.get("s1").unwrap().state(t(6)), SilenceState::Expired);
        assert!(s.muting(&disk, t(7)).is_empty());
        assert_eq!(s.expire("s1", t(8)), Err(SilenceError::AlreadyExpired("s1".into())));
        s.expire("s2", t(8)).unwrap();
        assert_eq!(s.get("s2").unwrap().ends_at, t(8));
        s.gc(t(9) + chrono::Duration::hours(121), DEFAULT_RETENTION);
        assert_eq!(s.iter().count(), 0);
    }

    #[test]
    fn invalid_silences_are_refused_with_alertmanagers_words() {
        let mut s = Silences::default();
        let id = || "x".to_string();
        let err = |r: Result<String, SilenceError>| r.unwrap_err().to_string();
        assert_eq!(
            err(s.set(silence("", r#"a=~".*""#, 0, 10), t(0), id)),
            "at least one matcher must not match the empty string"
        );
        assert_eq!(
            err(s.set(silence("", r#"a="b""#, 10, 10), t(0), id)),
            "start time must be before end time"
        );
        assert_eq!(
            err(s.set(silence("", r#"a="b""#, -20, -10), t(0), id)),
            "end time can't be in the past"
        );
        assert_eq!(
            err(s.set(silence("nope", r#"a="b""#, 0, 10), t(0), id)),
            "silence nope not found"
        );
    }
}
