//! The checks that need more than one node of the file, in the order Alertmanager makes
//! them, and the values an integration takes from `global` when it leaves them out.
//!
//! Order matters for which message a file with several mistakes gets: first each node's
//! own checks (as Alertmanager makes them while reading), then `global`'s, then each
//! receiver in turn (unique name, values from `global`), then the routing tree, then the
//! time intervals.
//!
//! The invariant: [`finish`] returns a [`Config`] only when every check passed; no check
//! quotes a secret.

use std::collections::HashSet;

use super::fields::{secret_set, text_set, with_trailing_slash};
use super::route::{
    NamedTimeInterval, RawNamedInterval, DEFAULT_GROUP_INTERVAL, DEFAULT_GROUP_WAIT, DEFAULT_REPEAT_INTERVAL,
};
use super::{Config, GlobalConfig, HttpConfig, RawConfig, Receiver, RouteConfig};

fn http(h: &HttpConfig) -> Result<(), String> {
    h.http_client_config().validate().map_err(|e| e.to_string())
}

/// Each integration's own checks, as Alertmanager makes them while reading the receiver.
fn check_own(r: &mut Receiver) -> Result<(), String> {
    for c in &r.discord_configs {
        super::receivers::check_webhook_url(&c.webhook_url, &c.webhook_url_file)?;
        http(&c.http_config)?;
    }
    for c in &mut r.email_configs {
        c.check()?;
    }
    for c in &mut r.pagerduty_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &mut r.slack_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.webhook_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &mut r.opsgenie_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &mut r.wechat_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.pushover_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.victorops_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.sns_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.telegram_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.webex_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.msteams_configs {
        super::receivers::check_webhook_url(&c.webhook_url, &c.webhook_url_file)?;
        http(&c.http_config)?;
    }
    for c in &r.msteamsv2_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.jira_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    for c in &r.rocketchat_configs {
        c.check()?;
        http(&c.http_config)?;
    }
    if r.name.is_empty() {
        return Err("missing name in receiver".into());
    }
    Ok(())
}

fn check_global(g: &GlobalConfig) -> Result<(), String> {
    let pairs = [
        (secret_set(&g.slack_api_url), &g.slack_api_url_file, "slack_api_url"),
        (
            secret_set(&g.opsgenie_api_key),
            &g.opsgenie_api_key_file,
            "opsgenie_api_key",
        ),
        (
            secret_set(&g.victorops_api_key),
            &g.victorops_api_key_file,
            "victorops_api_key",
        ),
        (
            secret_set(&g.smtp_auth_password),
            &g.smtp_auth_password_file,
            "smtp_auth_password",
        ),
        (
            g.rocketchat_token.is_some(),
            &g.rocketchat_token_file,
            "rocketchat_token",
        ),
        (
            g.rocketchat_token_id.is_some(),
            &g.rocketchat_token_id_file,
            "rocketchat_token_id",
        ),
        (
            secret_set(&g.smtp_auth_secret),
            &g.smtp_auth_secret_file,
            "smtp_auth_secret",
        ),
    ];
    for (inline, file, name) in pairs {
        super::receivers::at_most_one(inline, file, name, &format!("{name}_file"))?;
    }
    http(&g.http_config)?;
    g.smtp_tls_config.validate().map_err(|e| e.to_string())
}

/// Takes `global.http_config` for every integration of `r` that has none of its own.
fn inherit_http(r: &mut Receiver, g: &HttpConfig) {
    macro_rules! inherit {
        ($($list:ident),*) => {
            $(for c in &mut r.$list {
                if !c.http_config.explicit {
                    c.http_config = g.clone();
                }
            })*
        };
    }
    inherit!(
        discord_configs,
        pagerduty_configs,
        slack_configs,
        webhook_configs,
        opsgenie_configs,
        wechat_configs,
        pushover_configs,
        victorops_configs,
        sns_configs,
        telegram_configs,
        webex_configs,
        msteams_configs,
        msteamsv2_configs,
        jira_configs,
        rocketchat_configs
    );
}

/// Fills what `r`'s integrations leave out from `global`, refusing what neither sets.
fn inherit_global(r: &mut Receiver, g: &GlobalConfig) -> Result<(), String> {
    inherit_http(r, &g.http_config);
    for ec in &mut r.email_configs {
        if ec.tls_config.is_none() {
            ec.tls_config = Some(g.smtp_tls_config.clone());
        }
        if ec.smarthost.is_empty() {
            if g.smtp_smarthost.is_empty() {
                return Err("no global SMTP smarthost set".into());
            }
            ec.smarthost = g.smtp_smarthost.clone();
        }
        if ec.from.is_empty() {
            if g.smtp_from.is_empty() {
                return Err("no global SMTP from set".into());
            }
            ec.from = g.smtp_from.clone();
        }
        if ec.hello.is_empty() {
            ec.hello = g.smtp_hello.clone();
        }
        if ec.auth_username.is_empty() {
            ec.auth_username = g.smtp_auth_username.clone();
        }
        if !secret_set(&ec.auth_password) && !text_set(&ec.auth_password_file) {
            ec.auth_password = g.smtp_auth_password.clone();
            ec.auth_password_file = g.smtp_auth_password_file.clone();
        }
        if !secret_set(&ec.auth_secret) && !text_set(&ec.auth_secret_file) {
            ec.auth_secret = g.smtp_auth_secret.clone();
            ec.auth_secret_file = g.smtp_auth_secret_file.clone();
        }
        if ec.auth_identity.is_empty() {
            ec.auth_identity = g.smtp_auth_identity.clone();
        }
        ec.require_tls.get_or_insert(g.smtp_require_tls);
    }
    for sc in &mut r.slack_configs {
        if sc.api_url.is_none() && !text_set(&sc.api_url_file) {
            if g.slack_api_url.is_none() && !text_set(&g.slack_api_url_file) {
                return Err("no global Slack API URL set either inline or in a file".into());
            }
            sc.api_url = g.slack_api_url.clone();
            sc.api_url_file = g.slack_api_url_file.clone();
        }
    }
    for pd in &mut r.pagerduty_configs {
        pd.url.get_or_insert_with(|| g.pagerduty_url.clone());
    }
    for og in &mut r.opsgenie_configs {
        let url = og.api_url.take().unwrap_or_else(|| g.opsgenie_api_url.clone());
        og.api_url = Some(with_trailing_slash(&url));
        if !secret_set(&og.api_key) && !text_set(&og.api_key_file) {
            if !secret_set(&g.opsgenie_api_key) && !text_set(&g.opsgenie_api_key_file) {
                return Err("no global OpsGenie API Key set either inline or in a file".into());
            }
            og.api_key = g.opsgenie_api_key.clone();
            og.api_key_file = g.opsgenie_api_key_file.clone();
        }
    }
    for wc in &mut r.wechat_configs {
        let url = wc.api_url.take().unwrap_or_else(|| g.wechat_api_url.clone());
        if !secret_set(&wc.api_secret) {
            if !secret_set(&g.wechat_api_secret) {
                return Err("no global Wechat ApiSecret set".into());
            }
            wc.api_secret = g.wechat_api_secret.clone();
        }
        if wc.corp_id.is_empty() {
            if g.wechat_api_corp_id.is_empty() {
                return Err("no global Wechat CorpID set".into());
            }
            wc.corp_id = g.wechat_api_corp_id.clone();
        }
        wc.api_url = Some(with_trailing_slash(&url));
    }
    for vo in &mut r.victorops_configs {
        let url = vo.api_url.take().unwrap_or_else(|| g.victorops_api_url.clone());
        vo.api_url = Some(with_trailing_slash(&url));
        if !secret_set(&vo.api_key) && !text_set(&vo.api_key_file) {
            if !secret_set(&g.victorops_api_key) && !text_set(&g.victorops_api_key_file) {
                return Err("no global VictorOps API Key set".into());
            }
            vo.api_key = g.victorops_api_key.clone();
            vo.api_key_file = g.victorops_api_key_file.clone();
        }
    }
    for tg in &mut r.telegram_configs {
        tg.api_url.get_or_insert_with(|| g.telegram_api_url.clone());
    }
    for wx in &mut r.webex_configs {
        wx.api_url.get_or_insert_with(|| g.webex_api_url.clone());
    }
    for jc in &mut r.jira_configs {
        if jc.api_url.is_none() {
            let Some(url) = &g.jira_api_url else {
                return Err("no global Jira Cloud URL set".into());
            };
            jc.api_url = Some(url.clone());
        }
    }
    for rc in &mut r.rocketchat_configs {
        rc.api_url.get_or_insert_with(|| g.rocketchat_api_url.clone());
        if rc.token_id.is_none() && !text_set(&rc.token_id_file) {
            if g.rocketchat_token_id.is_none() && !text_set(&g.rocketchat_token_id_file) {
                return Err("no global Rocketchat TokenID set either inline or in a file".into());
            }
            rc.token_id = g.rocketchat_token_id.clone();
            rc.token_id_file = g.rocketchat_token_id_file.clone();
        }
        if rc.token.is_none() && !text_set(&rc.token_file) {
            if g.rocketchat_token.is_none() && !text_set(&g.rocketchat_token_file) {
                return Err("no global Rocketchat Token set either inline or in a file".into());
            }
            rc.token = g.rocketchat_token.clone();
            rc.token_file = g.rocketchat_token_file.clone();
        }
    }
    Ok(())
}

/// Every receiver a route of the tree names is defined (children first, as Alertmanager
/// walks the tree).
fn check_receivers_used(route: &RouteConfig, names: &HashSet<String>) -> Result<(), String> {
    for child in &route.routes {
        check_receivers_used(child, names)?;
    }
    match &route.receiver {
        Some(r) if !names.contains(r.as_str()) => Err(format!("undefined receiver {r:?} used in route")),
        _ => Ok(()),
    }
}

/// Every time interval a route of the tree names is defined.
fn check_intervals_used(route: &RouteConfig, names: &HashSet<&str>) -> Result<(), String> {
    for child in &route.routes {
        check_intervals_used(child, names)?;
    }
    let used = route.active_time_intervals.iter().chain(&route.mute_time_intervals);
    match used.into_iter().find(|n| !names.contains(n.as_str())) {
        Some(n) => Err(format!("undefined time interval {n:?} used in route")),
        None => Ok(()),
    }
}

fn named(raw: Vec<RawNamedInterval>, section: &str) -> Result<Vec<NamedTimeInterval>, String> {
    raw.into_iter()
        .map(|t| {
            if t.name.is_empty() {
                return Err(format!("missing name in {section}"));
            }
            Ok(NamedTimeInterval {
                name: t.name,
                time_intervals: t.time_intervals,
            })
        })
        .collect()
}

/// Checks a configuration as read and makes it a [`Config`].
pub(super) fn finish(raw: RawConfig) -> Result<Config, String> {
    let RawConfig {
        global,
        route,
        inhibit_rules,
        mut receivers,
        templates,
        mute_time_intervals,
        time_intervals,
    } = raw;
    for r in &mut receivers {
        check_own(r)?;
    }
    let mute_time_intervals = named(mute_time_intervals, "mute time interval")?;
    let time_intervals = named(time_intervals, "time interval")?;

    let global = global.unwrap_or_default();
    check_global(&global)?;

    let mut names = HashSet::new();
    for r in &mut receivers {
        if names.contains(&r.name) {
            return Err(format!("notification config name {:?} is not unique", r.name));
        }
        inherit_global(r, &global)?;
        names.insert(r.name.clone());
    }

    let Some(mut route) = route else {
        return Err("no routes provided".into());
    };
    if route.receiver.is_none() {
        return Err("root route must specify a default receiver".into());
    }
    if !route.matchers.is_empty() {
        return Err("root route must not have any matchers".into());
    }
    if !route.mute_time_intervals.is_empty() {
        return Err("root route must not have any mute time intervals".into());
    }
    if !route.active_time_intervals.is_empty() {
        return Err("root route must not have any active time intervals".into());
    }
    check_receivers_used(&route, &names)?;

    let mut interval_names = HashSet::new();
    for t in &mute_time_intervals {
        if !interval_names.insert(t.name.as_str()) {
            return Err(format!("mute time interval {:?} is not unique", t.name));
        }
    }
    for t in &time_intervals {
        if !interval_names.insert(t.name.as_str()) {
            return Err(format!("time interval {:?} is not unique", t.name));
        }
    }
    check_intervals_used(&route, &interval_names)?;

    if route.continue_ {
        return Err("cannot have continue in root route".into());
    }
    route.group_wait.get_or_insert(DEFAULT_GROUP_WAIT);
    route.group_interval.get_or_insert(DEFAULT_GROUP_INTERVAL);
    route.repeat_interval.get_or_insert(DEFAULT_REPEAT_INTERVAL);

    Ok(Config {
        global,
        route,
        inhibit_rules,
        receivers,
        templates,
        time_intervals: mute_time_intervals.into_iter().chain(time_intervals).collect(),
        original: String::new(),
        base_dir: None,
        written_mute_time_intervals: None,
        written_time_intervals: None,
    })
}
