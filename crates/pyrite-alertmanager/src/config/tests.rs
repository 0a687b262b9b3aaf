//! Loading real configurations: values, defaults, values from `global`, relative paths,
//! and printing without secrets.

use std::time::Duration;

use super::*;
use crate::matchers::{MatchOp, Matcher, Matchers};

const EXAMPLE: &str = include_str!("../../tests/testdata/alertmanager.yml");

/// Every secret value written in the example file.
const SECRETS: [&str; 8] = [
    "smtp-s3cret",
    "XXXXXXXX",
    "opsgenie-s3cret",
    "pd-routing-s3cret",
    "telegram-s3cret",
    "discord-s3cret",
    "webhook-s3cret",
    "basic-s3cret",
];

fn m(name: &str, op: MatchOp, value: &str) -> Matcher {
    Matcher::new(name, op, value).unwrap()
}

#[test]
fn the_example_file_loads_with_its_values_and_alertmanagers_defaults() {
    let c = Config::parse(EXAMPLE).unwrap();
    assert_eq!(c.original(), EXAMPLE);
    assert_eq!(c.global.resolve_timeout, Duration::from_secs(600));
    assert_eq!(c.global.smtp_hello, "localhost");
    assert!(c.global.smtp_require_tls);
    assert_eq!(c.global.pagerduty_url, "https://events.pagerduty.com/v2/enqueue");

    // The root route keeps what it sets; its children inherit (None).
    let root = &c.route;
    assert_eq!(root.receiver.as_deref(), Some("team-default"));
    assert_eq!(
        root.group_by,
        Some(GroupBy::Labels(vec![
            "alertname".into(),
            "cluster".into(),
            "service".into()
        ]))
    );
    assert_eq!(root.group_wait, Some(Duration::from_secs(45)));
    assert_eq!(root.group_interval, Some(Duration::from_secs(600)));
    assert_eq!(root.repeat_interval, Some(Duration::from_secs(3 * 3600)));
    assert_eq!(root.routes.len(), 3);

    let pager = &root.routes[0];
    assert_eq!(
        pager.matchers,
        Matchers(vec![m("severity", MatchOp::Equal, "critical")])
    );
    assert!(pager.continue_);
    assert_eq!(pager.group_wait, Some(Duration::from_secs(10)));
    assert_eq!(pager.group_interval, None);
    assert_eq!(pager.group_by, None);

    // `match` and `match_re` merge into the matchers, sorted by name.
    let db = &root.routes[1];
    assert_eq!(
        db.matchers,
        Matchers(vec![
            m("service", MatchOp::Regex, "^(?:^(mysql|postgres)$)$"),
            m("team", MatchOp::Equal, "database"),
        ])
    );
    assert_eq!(db.group_by, Some(GroupBy::All));
    assert_eq!(db.routes[0].mute_time_intervals, ["offhours"]);
    assert_eq!(db.routes[0].matchers.0[0], m("env", MatchOp::Regex, "staging|dev"));
    assert_eq!(root.routes[2].active_time_intervals, ["business-hours"]);
    assert_eq!(root.routes[2].matchers.0[0], m("archive", MatchOp::NotEqual, "false"));

    assert_eq!(c.inhibit_rules.len(), 2);
    assert_eq!(
        c.inhibit_rules[0].source_matchers.to_string(),
        r#"{severity="critical"}"#
    );
    assert_eq!(c.inhibit_rules[0].equal, ["alertname", "cluster"]);
    assert_eq!(
        c.inhibit_rules[1].source_matchers.to_string(),
        r#"{alertname="ClusterDown"}"#
    );
    assert_eq!(
        c.inhibit_rules[1].target_matchers.to_string(),
        r#"{alertname=~"^(?:.+)$"}"#
    );

    // Both interval sections, the older one first.
    let names: Vec<_> = c.time_intervals.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["offhours", "business-hours"]);
    assert_eq!(c.time_interval("business-hours").unwrap().time_intervals.len(), 1);
    assert_eq!(c.templates, ["templates/*.tmpl", "/etc/alertmanager/extra/*.tmpl"]);
}

#[test]
fn integrations_take_what_they_leave_out_from_global_and_get_default_texts() {
    let c = Config::parse(EXAMPLE).unwrap();
    let email = &c.receiver("team-default").unwrap().email_configs[0];
    assert_eq!(email.to, "oncall@example.org");
    assert_eq!(email.smarthost, "smtp.example.org:587");
    assert_eq!(email.from, "alertmanager@example.org");
    assert_eq!(email.hello, "localhost");
    assert_eq!(email.auth_username, "alertmanager");
    assert_eq!(email.auth_password.as_ref().unwrap().expose(), "smtp-s3cret");
    assert_eq!(email.require_tls, Some(true));
    assert!(!email.send_resolved);
    assert_eq!(email.html, r#"{{ template "email.default.html" . }}"#);
    assert_eq!(email.headers.get("X-Team").map(String::as_str), Some("platform"));

    let pager = c.receiver("pager").unwrap();
    let pd = &pager.pagerduty_configs[0];
    assert!(pd.send_resolved);
    assert_eq!(pd.url.as_deref(), Some("https://events.pagerduty.com/v2/enqueue"));
    assert_eq!(pd.description, r#"{{ template "pagerduty.default.description" .}}"#);
    assert_eq!(pd.source, pd.client);
    assert_eq!(pd.details.len(), 5);
    assert_eq!(pd.details["num_firing"], "{{ .Alerts.Firing | len }}");
    let og = &pager.opsgenie_configs[0];
    assert_eq!(og.api_key.as_ref().unwrap().expose(), "opsgenie-s3cret");
    assert_eq!(og.api_url.as_deref(), Some("https://api.opsgenie.com/"));
    assert_eq!(og.responders[0].kind, "team");
    assert_eq!(og.message, r#"{{ template "opsgenie.default.message" . }}"#);

    let slack = &c.receiver("team-db").unwrap().slack_configs[0];
    assert_eq!(
        slack.api_url.as_ref().unwrap().expose(),
        "https://hooks.slack.com/services/T000/B000/XXXXXXXX"
    );
    assert_eq!(slack.title, r#"{{ template "slack.default.title" . }}"#);
    assert!(slack.send_resolved);
    assert_eq!(slack.fields[0].title, "Cluster");

    let chat = c.receiver("team-db-chat").unwrap();
    let tg = &chat.telegram_configs[0];
    assert_eq!(tg.chat_id, -1001234567890);
    assert_eq!(tg.parse_mode, "HTML");
    assert_eq!(tg.api_url.as_deref(), Some("https://api.telegram.org"));
    assert!(tg.send_resolved);
    assert_eq!(
        chat.discord_configs[0].title,
        r#"{{ template "discord.default.title" . }}"#
    );

    let wh = &c.receiver("webhook-archive").unwrap().webhook_configs[0];
    assert!(wh.send_resolved);
    assert_eq!(wh.max_alerts, 100);
    assert_eq!(wh.timeout, Some(Duration::from_secs(10)));
    let http = wh.http_config.http_client_config();
    assert_eq!(http.basic_auth.unwrap().password.unwrap().expose(), "basic-s3cret");
    // An integration without its own http_config takes global's.
    assert!(pd.http_config.http_client_config().follow_redirects);
}

#[test]
fn defaults_fill_a_minimal_file() {
    let c = Config::parse("route: {receiver: x}\nreceivers: [{name: x}]\n").unwrap();
    assert_eq!(c.route.group_wait, Some(DEFAULT_GROUP_WAIT));
    assert_eq!(c.route.group_interval, Some(Duration::from_secs(300)));
    assert_eq!(c.route.repeat_interval, Some(Duration::from_secs(4 * 3600)));
    assert_eq!(c.route.group_by, None);
    assert_eq!(c.global.resolve_timeout, Duration::from_secs(300));
    // An empty `global:` block still gets the defaults.
    let c = Config::parse("global:\nroute: {receiver: x}\nreceivers: [{name: x}]\n").unwrap();
    assert_eq!(c.global.smtp_hello, "localhost");

    let c = Config::parse(
        "global: {http_config: {tls_config: {insecure_skip_verify: true}}}\n\
         route: {receiver: x}\n\
         receivers: [{name: x, webhook_configs: [{url: 'http://a'}, {url: 'http://b', http_config: {}}]}]\n",
    )
    .unwrap();
    let whs = &c.receivers[0].webhook_configs;
    assert!(whs[0].http_config.tls_config.insecure_skip_verify);
    assert!(!whs[1].http_config.tls_config.insecure_skip_verify);
    assert_eq!(whs[0].max_alerts, 0);
    assert_eq!(whs[0].timeout, None);
}

#[test]
fn load_file_takes_relative_names_against_the_files_directory() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alertmanager.yml");
    let text = format!("{EXAMPLE}\n# extra\n").replace(
        "url: https://archive.example.org/alerts?token=webhook-s3cret",
        "url_file: ./secrets/webhook-url",
    );
    std::fs::write(&path, text).unwrap();
    let c = Config::load_file(&path).unwrap();
    assert_eq!(c.base_dir(), Some(dir.path()));
    let tmpl = dir.path().join("templates/*.tmpl");
    assert_eq!(c.templates, [tmpl.to_str().unwrap(), "/etc/alertmanager/extra/*.tmpl"]);
    let wh = &c.receiver("webhook-archive").unwrap().webhook_configs[0];
    assert_eq!(wh.url_file.as_deref(), dir.path().join("secrets/webhook-url").to_str());

    let e = Config::load_file(&dir.path().join("missing.yml")).unwrap_err();
    assert!(matches!(e, ConfigError::Read { .. }), "{e}");
}

#[test]
fn the_testdata_file_loads_from_disk() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/testdata/alertmanager.yml");
    let c = Config::load_file(&path).unwrap();
    assert_eq!(c.receivers.len(), 5);
    assert!(c.templates[0].ends_with("tests/testdata/templates/*.tmpl"));
}

#[test]
fn printing_masks_every_secret_and_reads_back() {
    let c = Config::parse(EXAMPLE).unwrap();
    let printed = c.to_yaml();
    for secret in SECRETS {
        assert!(!printed.contains(secret), "{secret} shown in:\n{printed}");
        assert!(!format!("{c:?}").contains(secret), "{secret} in Debug");
    }
    assert!(printed.contains(pyrite_config::MASK), "{printed}");
    // The defaults are printed, so the status page shows what is in force.
    assert!(printed.contains("group_wait: 45s"), "{printed}");
    assert!(printed.contains("resolve_timeout: 10m"), "{printed}");
    assert!(printed.contains("email.default.html"), "{printed}");
    assert!(printed.contains("severity=\\\"critical\\\"") || printed.contains(r#"severity="critical""#));
    assert!(printed.contains("business-hours"), "{printed}");

    let again = Config::parse(&printed).unwrap_or_else(|e| panic!("{e}\n{printed}"));
    assert_eq!(again.route, c.route);
    assert_eq!(again.inhibit_rules, c.inhibit_rules);
    assert_eq!(again.time_intervals, c.time_intervals);
    assert_eq!(again.receivers.len(), c.receivers.len());
    assert_eq!(again.to_yaml(), printed);
}

#[test]
fn the_rarer_integrations_load() {
    let c = Config::parse(
        r#"
global:
  victorops_api_key: vo-s3cret
  wechat_api_secret: wc-s3cret
  wechat_api_corp_id: corp
  jira_api_url: https://example.atlassian.net
  rocketchat_token: rc-s3cret
  rocketchat_token_id: rc-id
route: {receiver: all}
receivers:
  - name: all
    pushover_configs: [{user_key: po-user-s3cret, token: po-s3cret}]
    victorops_configs: [{routing_key: ops}]
    wechat_configs: [{message_type: markdown}]
    sns_configs: [{topic_arn: 'arn:aws:sns:eu-west-1:1:t', sigv4: {region: eu-west-1, secret_key: sns-s3cret}}]
    webex_configs: [{room_id: r, http_config: {authorization: {credentials: wx-s3cret}}}]
    msteams_configs: [{webhook_url: 'https://example.webhook.office.com/teams-s3cret'}]
    msteamsv2_configs: [{webhook_url_file: /run/teams-url}]
    jira_configs: [{project: OPS, issue_type: Bug, fields: {customfield_1: {value: x}}}]
    rocketchat_configs: [{channel: '#alerts'}]
"#,
    )
    .unwrap();
    let r = &c.receivers[0];
    assert_eq!(r.pushover_configs[0].retry, Some(Duration::from_secs(60)));
    assert_eq!(
        r.victorops_configs[0].api_url.as_deref(),
        Some("https://alert.victorops.com/integrations/generic/20131114/alert/")
    );
    assert_eq!(r.wechat_configs[0].corp_id, "corp");
    assert_eq!(
        r.webex_configs[0].api_url.as_deref(),
        Some("https://webexapis.com/v1/messages")
    );
    assert_eq!(
        r.msteams_configs[0].summary,
        r#"{{ template "msteams.default.summary" . }}"#
    );
    assert_eq!(
        r.jira_configs[0].api_url.as_deref(),
        Some("https://example.atlassian.net")
    );
    assert_eq!(
        r.rocketchat_configs[0].api_url.as_deref(),
        Some("https://open.rocket.chat/")
    );
    let printed = c.to_yaml();
    for secret in [
        "vo-s3cret",
        "wc-s3cret",
        "rc-s3cret",
        "rc-id",
        "po-user-s3cret",
        "po-s3cret",
        "sns-s3cret",
        "wx-s3cret",
        "teams-s3cret",
    ] {
        assert!(!printed.contains(secret), "{secret} shown in:\n{printed}");
    }
}

#[test]
fn anchors_and_merge_keys_are_applied() {
    let c = Config::parse(
        r#"
route:
  receiver: a
  routes:
    - &child {receiver: b, group_wait: 1m, matchers: ['a!="x"', 'a="x"', 'a="w"']}
    - <<: *child
      receiver: a
receivers:
  - name: a
    webhook_configs: &hooks [{url: 'http://a'}]
  - name: b
    webhook_configs: *hooks
"#,
    )
    .unwrap();
    let children = &c.route.routes;
    assert_eq!(children[1].receiver.as_deref(), Some("a"));
    assert_eq!(children[1].group_wait, Some(Duration::from_secs(60)));
    assert_eq!(c.receivers[1].webhook_configs.len(), 1);
    // Sorted as Alertmanager sorts them: name, then value, then operator.
    assert_eq!(children[0].matchers.to_string(), r#"{a="w", a="x", a!="x"}"#);
}

#[test]
fn empty_sections_read_as_empty() {
    let c = Config::parse(
        "global:\nroute:\n  receiver: x\n  routes:\n  group_by:\nreceivers:\n  - name: x\n    webhook_configs:\ninhibit_rules:\ntemplates:\ntime_intervals:\n",
    )
    .unwrap();
    assert!(c.route.routes.is_empty() && c.route.group_by.is_none());
    assert!(c.receivers[0].webhook_configs.is_empty() && c.inhibit_rules.is_empty() && c.templates.is_empty());
}
