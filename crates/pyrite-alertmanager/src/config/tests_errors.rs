//! Every rule `amtool check-config` enforces that Pyrite enforces too, with the message a
//! user sees.

use super::*;

/// The message for `yaml`, which must be refused.
fn refused(yaml: &str) -> String {
    match Config::parse(yaml) {
        Ok(_) => panic!("accepted:\n{yaml}"),
        Err(e) => e.to_string(),
    }
}

/// `receivers` with one receiver `x` holding `integration`, and a root route to it.
fn with_receiver(integration: &str) -> String {
    format!("route: {{receiver: x}}\nreceivers:\n  - name: x\n    {integration}\n")
}

fn assert_refused(yaml: &str, want: &str) {
    let got = refused(yaml);
    assert!(got.contains(want), "want {want:?}, got {got:?}, for:\n{yaml}");
}

#[test]
fn unknown_fields_are_refused_at_their_line() {
    let e = Config::parse("route:\n  receiver: x\n  recevier: y\nreceivers: [{name: x}]\n").unwrap_err();
    assert_eq!(e.line(), Some(3), "{e}");
    assert!(e.to_string().contains("unknown field `recevier`"), "{e}");
    let e = Config::parse("route: {receiver: x}\nreceivers: [{name: x}]\n\nglobl: {}\n").unwrap_err();
    assert_eq!(e.line(), Some(4), "{e}");
    assert_refused(
        &with_receiver("webhook_configs: [{url: 'http://a', urll: b}]"),
        "unknown field `urll`",
    );
    assert_refused(
        &with_receiver("webhook_configs: [{url: 'http://a', http_config: {basic_ath: {}}}]"),
        "basic_ath",
    );
    assert_refused(
        &with_receiver("slack_configs: [{api_url: 'http://a', fields: [{title: a, value: b, x: 1}]}]"),
        "unknown field `x`",
    );
    assert_refused(&with_receiver("carrier_pigeon_configs: []"), "carrier_pigeon_configs");
}

#[test]
fn the_root_route_is_the_fallback_for_every_alert() {
    assert_refused("receivers: [{name: x}]\n", "no routes provided");
    assert_refused("", "no route provided in config");
    assert_refused("# only a comment\n", "no route provided in config");
    assert_refused(
        "route: {group_by: [a]}\nreceivers: [{name: x}]\n",
        "root route must specify a default receiver",
    );
    for matchers in ["matchers: ['a=b']", "match: {a: b}", "match_re: {a: b.*}"] {
        assert_refused(
            &format!("route: {{receiver: x, {matchers}}}\nreceivers: [{{name: x}}]\n"),
            "root route must not have any matchers",
        );
    }
    assert_refused(
        "route: {receiver: x, continue: true}\nreceivers: [{name: x}]\n",
        "cannot have continue in root route",
    );
    assert_refused(
        "route: {receiver: x, mute_time_intervals: [t]}\nreceivers: [{name: x}]\ntime_intervals: [{name: t}]\n",
        "root route must not have any mute time intervals",
    );
    assert_refused(
        "route: {receiver: x, active_time_intervals: [t]}\nreceivers: [{name: x}]\ntime_intervals: [{name: t}]\n",
        "root route must not have any active time intervals",
    );
}

#[test]
fn receivers_are_named_uniquely_and_defined_where_used() {
    assert_refused(
        "route: {receiver: x}\nreceivers: [{webhook_configs: []}]\n",
        "missing name in receiver",
    );
    assert_refused(
        "route: {receiver: x}\nreceivers: [{name: x}, {name: x}]\n",
        r#"notification config name "x" is not unique"#,
    );
    assert_refused(
        "route: {receiver: x, routes: [{receiver: x}, {routes: [{receiver: y}]}]}\nreceivers: [{name: x}]\n",
        r#"undefined receiver "y" used in route"#,
    );
    assert_refused(
        "route: {receiver: z}\nreceivers: [{name: x}]\n",
        r#"undefined receiver "z" used in route"#,
    );
}

#[test]
fn time_intervals_are_named_uniquely_and_defined_where_used() {
    let base = "route: {receiver: x, routes: [{receiver: x, mute_time_intervals: [nights]}]}\nreceivers: [{name: x}]\n";
    assert_refused(base, r#"undefined time interval "nights" used in route"#);
    assert_refused(
        "route: {receiver: x, routes: [{active_time_intervals: [days]}]}\nreceivers: [{name: x}]\n",
        r#"undefined time interval "days" used in route"#,
    );
    Config::parse(&format!("{base}time_intervals: [{{name: nights}}]\n")).unwrap();
    Config::parse(&format!("{base}mute_time_intervals: [{{name: nights}}]\n")).unwrap();
    assert_refused(
        &format!("{base}time_intervals: [{{name: nights}}, {{name: nights}}]\n"),
        r#"time interval "nights" is not unique"#,
    );
    assert_refused(
        &format!("{base}mute_time_intervals: [{{name: nights}}]\ntime_intervals: [{{name: nights}}]\n"),
        r#"time interval "nights" is not unique"#,
    );
    assert_refused(
        &format!("{base}mute_time_intervals: [{{name: nights}}, {{name: nights}}]\n"),
        r#"mute time interval "nights" is not unique"#,
    );
    assert_refused(
        &format!("{base}time_intervals: [{{time_intervals: []}}]\n"),
        "missing name in time interval",
    );
    assert_refused(
        &format!("{base}mute_time_intervals: [{{}}]\n"),
        "missing name in mute time interval",
    );
}

#[test]
fn routes_are_checked_as_they_are_read() {
    let route = |r: &str| format!("route: {{receiver: x, routes: [{r}]}}\nreceivers: [{{name: x}}]\n");
    assert_refused(&route("{group_by: [a, b, a]}"), r#"duplicated label "a" in group_by"#);
    assert_refused(
        &route("{group_by: [a-b]}"),
        r#"invalid label name "a-b" in group_by list"#,
    );
    assert_refused(
        &route("{group_by: ['...', a]}"),
        "cannot have wildcard group_by (`...`) and other labels at the same time",
    );
    assert_refused(&route("{group_interval: 0s}"), "group_interval cannot be zero");
    assert_refused(&route("{repeat_interval: 0s}"), "repeat_interval cannot be zero");
    assert_refused(&route("{group_wait: 5x}"), "not a valid duration string");
    assert_refused(&route("{match: {a-b: c}}"), r#"invalid label name "a-b""#);
    assert_refused(&route("{match_re: {a: '(' }}"), r#"invalid regexp value for "a""#);
    assert_refused(&route("{matchers: ['foo']}"), "bad matcher format: foo");
    assert_refused(&route(r#"{matchers: ['a=~"("']}"#), "bad matcher format");
    // The group_by of the root route is checked too.
    assert_refused(
        "route: {receiver: x, group_by: [a, a]}\nreceivers: [{name: x}]\n",
        "duplicated label",
    );
}

#[test]
fn inhibit_rules_need_valid_matchers_and_label_names() {
    let rule = |r: &str| format!("route: {{receiver: x}}\nreceivers: [{{name: x}}]\ninhibit_rules: [{r}]\n");
    assert_refused(
        &rule("{source_matchers: ['foo'], target_matchers: ['a=b']}"),
        "bad matcher format: foo",
    );
    assert_refused(&rule("{target_matchers: ['a=\"b']}"), "bad matcher format");
    assert_refused(&rule("{source_match: {a b: c}}"), r#"invalid label name "a b""#);
    assert_refused(&rule("{target_match_re: {a: '[' }}"), r#"invalid regexp value for "a""#);
    assert_refused(&rule("{equal: ['a b']}"), r#"invalid label name "a b" in equal list"#);
    assert_refused(&rule("{sourc_matchers: []}"), "unknown field `sourc_matchers`");
}

#[test]
fn webhooks_need_exactly_one_url() {
    assert_refused(
        &with_receiver("webhook_configs: [{max_alerts: 1}]"),
        "one of url or url_file must be configured",
    );
    assert_refused(
        &with_receiver("webhook_configs: [{url: 'http://a', url_file: /run/url}]"),
        "at most one of url & url_file must be configured",
    );
    let got = refused(&with_receiver(
        "webhook_configs: [{url: 'ftp://h/hook?token=tok-s3cret'}]",
    ));
    assert!(got.contains(r#"unsupported scheme "ftp" for URL"#), "{got}");
    assert!(!got.contains("tok-s3cret"), "{got}");
    assert_refused(
        &with_receiver("webhook_configs: [{url: 'http:///x'}]"),
        "missing host for URL",
    );
}

#[test]
fn email_needs_an_address_a_smarthost_and_a_sender() {
    assert_refused(
        &with_receiver("email_configs: [{from: a@b, smarthost: 'h:25'}]"),
        "missing to address in email config",
    );
    assert_refused(
        &with_receiver("email_configs: [{to: a@b, from: a@b}]"),
        "no global SMTP smarthost set",
    );
    assert_refused(
        &with_receiver("email_configs: [{to: a@b, smarthost: 'h:25'}]"),
        "no global SMTP from set",
    );
    assert_refused(
        &with_receiver("email_configs: [{to: a@b, smarthost: h}]"),
        "address h: missing port in address",
    );
    assert_refused(
        &with_receiver("email_configs: [{to: a@b, from: c@d, smarthost: 'h:25', headers: {subject: a, Subject: b}}]"),
        r#"duplicate header "Subject" in email config"#,
    );
    Config::parse(&with_receiver(
        "email_configs: [{to: a@b, from: c@d, smarthost: 'h:25'}]",
    ))
    .unwrap();
}

#[test]
fn chat_and_paging_integrations_need_their_credentials() {
    assert_refused(
        &with_receiver("slack_configs: [{channel: '#a'}]"),
        "no global Slack API URL set either inline or in a file",
    );
    assert_refused(
        &with_receiver("slack_configs: [{api_url: 'http://a', api_url_file: /f}]"),
        "at most one of api_url & api_url_file must be configured",
    );
    assert_refused(
        &format!(
            "global: {{slack_api_url: 'http://a', slack_api_url_file: /f}}\n{}",
            with_receiver("slack_configs: []")
        ),
        "at most one of slack_api_url & slack_api_url_file must be configured",
    );
    assert_refused(
        &with_receiver("slack_configs: [{api_url: 'http://a', fields: [{value: v}]}]"),
        "missing title in Slack field configuration",
    );
    assert_refused(
        &with_receiver("slack_configs: [{api_url: 'http://a', actions: [{type: button, text: t}]}]"),
        "missing name or url in Slack action configuration",
    );
    assert_refused(
        &with_receiver("pagerduty_configs: [{severity: critical}]"),
        "missing service or routing key in PagerDuty config",
    );
    assert_refused(
        &with_receiver("pagerduty_configs: [{routing_key: k, routing_key_file: /f}]"),
        "at most one of routing_key & routing_key_file must be configured",
    );
    assert_refused(
        &with_receiver("opsgenie_configs: [{message: m}]"),
        "no global OpsGenie API Key set either inline or in a file",
    );
    assert_refused(
        &with_receiver("opsgenie_configs: [{api_key: k, responders: [{name: n, type: crew}]}]"),
        "opsGenieConfig responder { n  crew} type does not match valid options ^(team|teams|user|escalation|schedule)$",
    );
    assert_refused(
        &with_receiver("opsgenie_configs: [{api_key: k, responders: [{type: team}]}]"),
        "has to have at least one of id, username or name specified",
    );
    assert_refused(
        &with_receiver("telegram_configs: [{chat_id: 1}]"),
        "missing bot_token or bot_token_file on telegram_config",
    );
    assert_refused(
        &with_receiver("telegram_configs: [{bot_token: t}]"),
        "missing chat_id on telegram_config",
    );
    assert_refused(
        &with_receiver("telegram_configs: [{bot_token: t, chat_id: 1, parse_mode: Plain}]"),
        "unknown parse_mode on telegram_config, must be Markdown, MarkdownV2, HTML or empty string",
    );
    for kind in ["discord_configs", "msteams_configs", "msteamsv2_configs"] {
        assert_refused(
            &with_receiver(&format!("{kind}: [{{title: t}}]")),
            "one of webhook_url or webhook_url_file must be configured",
        );
        assert_refused(
            &with_receiver(&format!("{kind}: [{{webhook_url: 'http://a', webhook_url_file: /f}}]")),
            "at most one of webhook_url & webhook_url_file must be configured",
        );
    }
    assert_refused(
        &with_receiver("webex_configs: [{room_id: r}]"),
        "missing webex_configs.http_config.authorization",
    );
    assert_refused(
        &with_receiver("webex_configs: [{http_config: {}}]"),
        "missing room_id on webex_config",
    );
    assert_refused(
        &with_receiver("victorops_configs: [{api_key: k}]"),
        "missing Routing key in VictorOps config",
    );
    assert_refused(
        &with_receiver("jira_configs: [{issue_type: Bug}]"),
        "missing project in jira_config",
    );
    assert_refused(
        &with_receiver("pushover_configs: [{token: t}]"),
        "one of user_key or user_key_file must be configured",
    );
    assert_refused(
        &with_receiver("sns_configs: [{topic_arn: a, phone_number: p}]"),
        "must provide either a Target ARN, Topic ARN, or Phone Number for SNS config",
    );
}

#[test]
fn http_client_options_are_checked_as_prometheus_checks_them() {
    assert_refused(
        &with_receiver(
            "webhook_configs: [{url: 'http://a', http_config: {basic_auth: {username: u}, bearer_token: t}}]",
        ),
        "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
    );
    assert_refused(
        "global: {http_config: {tls_config: {ca: x, ca_file: y}}}\nroute: {receiver: x}\nreceivers: [{name: x}]\n",
        "at most one of ca & ca_file must be configured",
    );
}
