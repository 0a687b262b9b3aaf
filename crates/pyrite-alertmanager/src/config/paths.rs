//! Relative file names in a configuration file, taken against the file's directory:
//! template globs, every `*_file` of `global` and of the integrations, and the files of
//! each `http_config` and `tls_config`.
//!
//! The invariant: after [`resolve`], no file name in the [`Config`] is relative; names that
//! were absolute are unchanged, so resolving twice changes nothing.

use std::path::{Component, Path, PathBuf};

use pyrite_http_client::TlsConfig;

use super::{Config, HttpConfig};

/// `dir/name` for a relative `name`, without `.` components (as Go's `filepath.Join`
/// cleans them away).
fn join(dir: &Path, name: &mut String) {
    if !name.is_empty() && !Path::new(name.as_str()).is_absolute() {
        let joined: PathBuf = dir
            .join(name.as_str())
            .components()
            .filter(|c| !matches!(c, Component::CurDir))
            .collect();
        *name = joined.to_string_lossy().into_owned();
    }
}

fn join_opt(dir: &Path, name: &mut Option<String>) {
    if let Some(name) = name {
        join(dir, name);
    }
}

fn tls(dir: &Path, t: &mut TlsConfig) {
    join_opt(dir, &mut t.ca_file);
    join_opt(dir, &mut t.cert_file);
    join_opt(dir, &mut t.key_file);
}

fn http(dir: &Path, h: &mut HttpConfig) {
    if let Some(b) = &mut h.basic_auth {
        join_opt(dir, &mut b.username_file);
        join_opt(dir, &mut b.password_file);
    }
    if let Some(a) = &mut h.authorization {
        join_opt(dir, &mut a.credentials_file);
    }
    if let Some(o) = &mut h.oauth2 {
        join_opt(dir, &mut o.client_secret_file);
        if let Some(t) = &mut o.tls_config {
            tls(dir, t);
        }
    }
    join_opt(dir, &mut h.bearer_token_file);
    tls(dir, &mut h.tls_config);
}

/// Takes every relative file name in `config` against `dir`.
pub(super) fn resolve(config: &mut Config, dir: &Path) {
    for t in &mut config.templates {
        join(dir, t);
    }
    let g = &mut config.global;
    http(dir, &mut g.http_config);
    tls(dir, &mut g.smtp_tls_config);
    for f in [
        &mut g.smtp_auth_password_file,
        &mut g.smtp_auth_secret_file,
        &mut g.slack_api_url_file,
        &mut g.opsgenie_api_key_file,
        &mut g.victorops_api_key_file,
        &mut g.rocketchat_token_file,
        &mut g.rocketchat_token_id_file,
    ] {
        join_opt(dir, f);
    }
    for r in &mut config.receivers {
        for c in &mut r.webhook_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.url_file);
        }
        for c in &mut r.email_configs {
            join_opt(dir, &mut c.auth_password_file);
            join_opt(dir, &mut c.auth_secret_file);
            if let Some(t) = &mut c.tls_config {
                tls(dir, t);
            }
        }
        for c in &mut r.slack_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.api_url_file);
        }
        for c in &mut r.pagerduty_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.routing_key_file);
            join_opt(dir, &mut c.service_key_file);
        }
        for c in &mut r.opsgenie_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.api_key_file);
        }
        for c in &mut r.msteams_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.webhook_url_file);
        }
        for c in &mut r.msteamsv2_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.webhook_url_file);
        }
        for c in &mut r.discord_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.webhook_url_file);
        }
        for c in &mut r.telegram_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.bot_token_file);
        }
        for c in &mut r.pushover_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.user_key_file);
            join_opt(dir, &mut c.token_file);
        }
        for c in &mut r.victorops_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.api_key_file);
        }
        for c in &mut r.rocketchat_configs {
            http(dir, &mut c.http_config);
            join_opt(dir, &mut c.token_file);
            join_opt(dir, &mut c.token_id_file);
        }
        for c in &mut r.wechat_configs {
            http(dir, &mut c.http_config);
        }
        for c in &mut r.sns_configs {
            http(dir, &mut c.http_config);
        }
        for c in &mut r.webex_configs {
            http(dir, &mut c.http_config);
        }
        for c in &mut r.jira_configs {
            http(dir, &mut c.http_config);
        }
    }
}
