//! The value shapes `alertmanager.yml` is written in and how each is read and printed:
//! durations (Prometheus's `model.Duration` for routes, Go's for timeouts), URLs (checked
//! as Alertmanager checks them: http or https, with a host), secret URLs, `host:port`
//! addresses, matcher lists and label names.
//!
//! The invariant: a value that reads back is printed in a form that reads back to the same
//! value, and a secret is only ever printed masked.

use std::time::Duration;

use pyrite_config::Secret;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::matchers::Matchers;

/// What an earlier `to_yaml` printed for a secret URL: read back as "set, value unknown".
const MASKED: [&str; 2] = ["<secret>", pyrite_config::MASK];

/// Whether a secret is given and not empty.
pub(crate) fn secret_set(s: &Option<Secret>) -> bool {
    s.as_ref().is_some_and(|s| !s.is_empty())
}

/// Whether a file name (or any optional text) is given and not empty.
pub(crate) fn text_set(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

pub(crate) fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Alertmanager's label name rule (the classic one): `[a-zA-Z_][a-zA-Z0-9_]*`.
pub(crate) fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Checks a URL the way Alertmanager's `parseURL` does: the scheme must be http or https
/// and there must be a host. The URL itself is never quoted (it may hold a token).
pub(crate) fn check_url(s: &str) -> Result<(), String> {
    let (scheme, rest) = match s.split_once(':') {
        Some((scheme, rest))
            if scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (scheme.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), s),
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!("unsupported scheme {scheme:?} for URL"));
    }
    let host = rest
        .strip_prefix("//")
        .map(|authority| {
            let end = authority.find(['/', '?', '#']).unwrap_or(authority.len());
            let authority = &authority[..end];
            authority.rsplit_once('@').map_or(authority, |(_, host)| host)
        })
        .unwrap_or("");
    let hostname = match host.rsplit_once(':') {
        Some((h, port)) if !host.starts_with('[') && port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => host,
    };
    if hostname.is_empty() {
        return Err("missing host for URL".to_string());
    }
    Ok(())
}

/// `url` with a `/` at the end of its path, as Alertmanager makes OpsGenie, VictorOps and
/// WeChat API URLs.
pub(crate) fn with_trailing_slash(url: &str) -> String {
    let end = url.find(['?', '#']).unwrap_or(url.len());
    let (base, tail) = url.split_at(end);
    if base.ends_with('/') {
        url.to_string()
    } else {
        format!("{base}/{tail}")
    }
}

/// A non-secret URL, checked.
pub(crate) fn de_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_url(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

/// An optional non-secret URL, checked when given.
pub(crate) fn de_opt_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) => {
            check_url(&s).map_err(serde::de::Error::custom)?;
            Ok(Some(s))
        }
        None => Ok(None),
    }
}

/// A secret URL (a webhook URL with its token in it), checked when given; a masked value
/// printed by `to_yaml` reads back as set.
pub(crate) fn de_secret_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret>, D::Error> {
    match Option::<String>::deserialize(d)? {
        Some(s) => {
            if !MASKED.contains(&s.as_str()) {
                check_url(&s).map_err(serde::de::Error::custom)?;
            }
            Ok(Some(Secret::new(s)))
        }
        None => Ok(None),
    }
}

/// `host:port` (an SMTP smarthost); empty means "not set".
pub(crate) fn de_host_port<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    check_host_port(&s).map_err(serde::de::Error::custom)?;
    Ok(s)
}

pub(crate) fn check_host_port(s: &str) -> Result<(), String> {
    if s.is_empty() {
        return Ok(());
    }
    let port = if let Some(rest) = s.strip_prefix('[') {
        match rest.split_once(']') {
            Some((_, after)) => after.strip_prefix(':'),
            None => return Err(format!("address {s}: missing ']' in address")),
        }
    } else {
        match s.rsplit_once(':') {
            Some((host, _)) if host.contains(':') => return Err(format!("address {s}: too many colons in address")),
            Some((_, port)) => Some(port),
            None => None,
        }
    };
    match port {
        None => Err(format!("address {s}: missing port in address")),
        Some("") => Err(format!("address {s:?}: port cannot be empty")),
        Some(_) => Ok(()),
    }
}

fn parse_model(s: &str) -> Result<Duration, String> {
    let ms = pyrite_config::parse_model_duration(s)?;
    u64::try_from(ms)
        .map(Duration::from_millis)
        .map_err(|_| format!("not a valid duration string: {s:?}"))
}

fn print(d: &Duration) -> String {
    pyrite_config::Duration(*d).to_string()
}

/// A duration as Prometheus's `model.Duration` reads it (`30s`, `4h`, `1d`).
pub(crate) mod model_duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&print(d))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        parse_model(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

/// An optional `model.Duration` (a route's timings: absent means inherited).
pub(crate) mod opt_model_duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| print(&d)).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(s) => parse_model(&s).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// An optional Go `time.Duration` (`10s`, `1m30s`, `500ms`), for timeouts and retries.
pub(crate) mod opt_go_duration {
    use super::*;

    pub(crate) fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| print(&d)).serialize(s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<pyrite_config::Duration>::deserialize(d)? {
            Some(d) => Ok(Some(d.get())),
            None => Ok(None),
        }
    }
}

/// Matchers printed as Alertmanager prints them: one `name="value"` string each.
pub(crate) fn ser_matchers<S: Serializer>(m: &Matchers, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(m.iter().map(|m| m.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_as_alertmanager_checks_them() {
        for good in [
            "http://x",
            "https://hooks.slack.com/services/T/B/C",
            "http://user:pw@h:8080/p?q#f",
            "HTTP://x",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        assert_eq!(check_url("ftp://x").unwrap_err(), "unsupported scheme \"ftp\" for URL");
        assert_eq!(check_url("localhost").unwrap_err(), "unsupported scheme \"\" for URL");
        assert_eq!(check_url("http:///path").unwrap_err(), "missing host for URL");
        assert_eq!(check_url("http://").unwrap_err(), "missing host for URL");
        assert_eq!(
            with_trailing_slash("https://api.opsgenie.com"),
            "https://api.opsgenie.com/"
        );
        assert_eq!(with_trailing_slash("https://x/v2/?a=b"), "https://x/v2/?a=b");
        assert_eq!(with_trailing_slash("https://x/v2?a=b"), "https://x/v2/?a=b");
    }

    #[test]
    fn host_ports_need_a_port() {
        assert_eq!(check_host_port("smtp.example.org:587"), Ok(()));
        assert_eq!(check_host_port("[::1]:25"), Ok(()));
        assert_eq!(check_host_port(""), Ok(()));
        assert_eq!(
            check_host_port("smtp.example.org").unwrap_err(),
            "address smtp.example.org: missing port in address"
        );
        assert_eq!(
            check_host_port("smtp:").unwrap_err(),
            "address \"smtp:\": port cannot be empty"
        );
    }

    #[test]
    fn label_names_are_classic() {
        assert!(valid_label_name("alertname") && valid_label_name("_x1"));
        assert!(!valid_label_name("1x") && !valid_label_name("a-b") && !valid_label_name(""));
    }
}
