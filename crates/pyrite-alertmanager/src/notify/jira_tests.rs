//! Tests of the Jira integration: the recorder answers every request alike, so the
//! answers below carry a search result and a transition list at once.

use super::*;
use crate::notify::testkit::{self, Recorder};

fn config(url: &str) -> JiraConfig {
    JiraConfig {
        api_url: Some(format!("{url}/rest/api/2")),
        project: "OPS".into(),
        issue_type: "Bug".into(),
        labels: vec!["{{ .CommonLabels.severity }}".into(), "alertmanager".into()],
        resolve_transition: "Done".into(),
        fields: [(
            "customfield_10001".to_string(),
            serde_yaml::from_str("{value: team-a}").unwrap(),
        )]
        .into(),
        ..JiraConfig::default()
    }
}

fn label() -> String {
    format!("ALERT{{{}}}", testkit::GROUP_KEY_HASH)
}

/// An answer with `issues` (key and status category) and a `Done` and a `Reopen`
/// transition.
fn answer(server: &Recorder, issues: &[(&str, &str)]) {
    let issues: Vec<Value> = issues
        .iter()
        .map(|(key, cat)| json!({"key": key, "fields": {"status": {"name": "x", "statusCategory": {"key": cat}}}}))
        .collect();
    let body = json!({
        "total": issues.len(),
        "issues": issues,
        "transitions": [{"id": "31", "name": "Done"}, {"id": "41", "name": "Reopen"}],
    });
    server.answer(200, "application/json", &body.to_string());
}

fn calls(server: &Recorder) -> Vec<(String, String)> {
    server
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone()))
        .collect()
}

fn call(m: &str, p: &str) -> (String, String) {
    (m.to_string(), p.to_string())
}

/// The calls of a notification that finds OPS-7 and updates it.
fn update() -> [(String, String); 2] {
    [
        call("POST", "/rest/api/2/search"),
        call("PUT", "/rest/api/2/issue/OPS-7"),
    ]
}

/// The calls of a notification that finds OPS-7, updates it and moves it.
fn update_and_move() -> [(String, String); 4] {
    [
        call("POST", "/rest/api/2/search"),
        call("PUT", "/rest/api/2/issue/OPS-7"),
        call("GET", "/rest/api/2/issue/OPS-7/transitions"),
        call("POST", "/rest/api/2/issue/OPS-7/transitions"),
    ]
}

/// The search for the group's issue in `OPS`, `conditions` first.
fn group_jql(conditions: &str) -> String {
    format!(
        "{conditions}project=\"OPS\" and labels=\"{}\" order by status ASC,resolutiondate DESC",
        label()
    )
}

#[tokio::test]
async fn creates_an_issue_for_a_new_group() {
    let server = Recorder::start().await;
    answer(&server, &[]);
    let c = config(&server.url);
    let jira = Jira::new(&c, Path::new("/"), testkit::templates()).unwrap();
    assert!(jira.send_resolved());
    let alerts = [testkit::alert("a:1", false), testkit::alert("b:1", false)];
    jira.notify(&testkit::context(), &alerts).await.unwrap();

    assert_eq!(
        calls(&server),
        [call("POST", "/rest/api/2/search"), call("POST", "/rest/api/2/issue")]
    );
    let r = server.requests();
    assert_eq!(r[0].header("content-type"), "application/json");
    assert_eq!(r[0].header("accept-language"), "en");
    assert_eq!(
        r[0].json(),
        json!({
            "expand": [],
            "fields": ["status"],
            "jql": group_jql("statusCategory != Done and "),
            "maxResults": 2,
            "startAt": 0,
        })
    );
    let description = testkit::templates()
        .execute(&c.description, &Data::new(&testkit::context(), &alerts))
        .unwrap();
    assert!(
        description.contains("a:1") && description.contains("b:1"),
        "{description}"
    );
    let mut labels = vec![label(), "alertmanager".to_string(), "page".to_string()];
    labels.sort();
    assert_eq!(
        r[1].json(),
        json!({
            "fields": {
                "description": description,
                "summary": testkit::subject(2),
                "issuetype": {"name": "Bug"},
                "labels": labels,
                "project": {"key": "OPS"},
                "customfield_10001": {"value": "team-a"},
            }
        })
    );
}

#[tokio::test]
async fn updates_then_resolves_the_groups_issue() {
    let server = Recorder::start().await;
    answer(&server, &[("OPS-7", "indeterminate")]);
    let mut c = config(&server.url);
    c.priority = "High".into();
    let jira = Jira::new(&c, Path::new("/"), testkit::templates()).unwrap();

    // Firing, open issue: updated, not moved.
    testkit::send_one(&jira, false).await;
    assert_eq!(calls(&server), update());
    let fields = server.requests()[1].json()["fields"].clone();
    assert_eq!(fields["priority"], json!({"name": "High"}));
    assert_eq!(fields["summary"], "[FIRING:1] Down (a:1 page)");

    // Resolved, open issue: updated and moved by the resolve transition.
    server.clear();
    testkit::send_one(&jira, true).await;
    assert_eq!(calls(&server), update_and_move());
    let r = server.requests();
    assert_eq!(r[0].json()["jql"], group_jql(""));
    assert_eq!(r[1].json()["fields"]["summary"], "[RESOLVED] Down (a:1 page)");
    assert_eq!(r[3].json(), json!({"transition": {"id": "31"}}));

    // Resolved, already done: updated only.
    server.clear();
    answer(&server, &[("OPS-7", "done")]);
    testkit::send_one(&jira, true).await;
    assert_eq!(calls(&server), update());

    // Resolved, no issue: nothing is created.
    server.clear();
    answer(&server, &[]);
    testkit::send_one(&jira, true).await;
    assert_eq!(calls(&server), [call("POST", "/rest/api/2/search")]);
}

#[tokio::test]
async fn reopens_a_done_issue_and_builds_the_jql() {
    let server = Recorder::start().await;
    answer(&server, &[("OPS-7", "done"), ("OPS-3", "done")]);
    let mut c = config(&server.url);
    c.reopen_transition = "Reopen".into();
    c.wont_fix_resolution = "Won't \"Fix\"".into();
    c.reopen_duration = Some(std::time::Duration::from_secs(3 * 3600));
    c.send_resolved = false;
    let jira = Jira::new(&c, Path::new("/"), testkit::templates()).unwrap();
    assert!(!jira.send_resolved());
    testkit::send_one(&jira, false).await;
    assert_eq!(calls(&server), update_and_move());
    let r = server.requests();
    assert_eq!(
        r[0].json()["jql"],
        group_jql("resolution != \"Won't \\\"Fix\\\"\" and ")
    );
    assert_eq!(r[3].json(), json!({"transition": {"id": "41"}}));

    // Resolved: the reopen window limits the search.
    assert_eq!(
        jira.jql("OPS", "L", false),
        "resolution != \"Won't \\\"Fix\\\"\" and (resolutiondate is EMPTY OR resolutiondate >= -180m) and project=\"OPS\" and labels=\"L\" order by status ASC,resolutiondate DESC"
    );
}

#[tokio::test]
async fn api_v3_takes_the_description_as_json() {
    let server = Recorder::start().await;
    answer(&server, &[]);
    let mut c = config(&server.url);
    c.api_url = Some(format!("{}/rest/api/3", server.url));
    c.description = r#"{"type":"doc","version":1,"content":[{"type":"paragraph","content":[{"type":"text","text":"{{ .Status }}"}]}]}"#.into();
    let jira = Jira::new(&c, Path::new("/"), testkit::templates()).unwrap();
    testkit::send_one(&jira, false).await;
    let r = server.requests();
    assert_eq!(r[1].path, "/rest/api/3/issue");
    assert_eq!(
        r[1].json()["fields"]["description"]["content"][0]["content"][0]["text"],
        "firing"
    );

    server.clear();
    c.description = "not json".into();
    let e = Jira::new(&c, Path::new("/"), testkit::templates())
        .unwrap()
        .notify(&testkit::context(), &[testkit::alert("a:1", false)])
        .await
        .unwrap_err();
    assert!(!e.retry && e.message.contains("description"), "{}", e.message);
    assert!(server.requests().is_empty());
}

#[tokio::test]
async fn failures_are_classified() {
    let server = Recorder::start().await;
    let jira = Jira::new(&config(&server.url), Path::new("/"), testkit::templates()).unwrap();
    let alerts = [testkit::alert("a:1", false)];
    let ctx = testkit::context();
    for (code, retry) in [(503, true), (429, true), (400, false), (401, false)] {
        server.answer(code, "application/json", r#"{"errorMessages":["no"]}"#);
        let e = jira.notify(&ctx, &alerts).await.unwrap_err();
        assert_eq!(e.retry, retry, "{code}: {}", e.message);
        assert!(e.message.contains("POST search"), "{}", e.message);
    }

    // A missing transition is final.
    server.clear();
    answer(&server, &[("OPS-7", "indeterminate")]);
    let mut c = config(&server.url);
    c.resolve_transition = "Closed".into();
    let e = Jira::new(&c, Path::new("/"), testkit::templates())
        .unwrap()
        .notify(&ctx, &[testkit::alert("a:1", true)])
        .await
        .unwrap_err();
    assert!(
        !e.retry && e.message.contains("can't find transition Closed for issue OPS-7"),
        "{}",
        e.message
    );

    // A search answer that is not JSON is final.
    let e = testkit::fail_with(&server, &jira, &alerts, (200, "text/html", "<html>login</html>")).await;
    testkit::assert_failure(&e, false, &[]);
}
