use axum::body::Body;
use axum::http::Request;
use object_store::memory::InMemory;
use pyrite_limits::{Overrides, PerTenant, TenantLimits};
use tower::ServiceExt;

use super::*;

const GROUP: &str = "name: slo\ninterval: 30s\nrules:\n- record: job:up:sum\n  expr: sum by (job) (up)\n";

struct Answer {
    status: StatusCode,
    content_type: String,
    body: String,
}

fn api_with(limits: Limits) -> (Router, Arc<Notify>) {
    let changed = Arc::new(Notify::new());
    let api = Arc::new(ConfigApi {
        store: RuleStore::new(Arc::new(InMemory::new())),
        limits: Arc::new(limits),
        changed: changed.clone(),
    });
    (routes(api), changed)
}

fn api() -> Router {
    api_with(Limits::uniform(TenantLimits::default())).0
}

async fn call(app: &Router, method: &str, path: &str, tenant: Option<&str>, body: &str) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    let resp = app
        .clone()
        .oneshot(req.body(Body::from(body.to_string())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let content_type = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = axum::body::to_bytes(resp.into_body(), 1 << 20).await.unwrap();
    Answer {
        status,
        content_type,
        body: String::from_utf8(bytes.to_vec()).unwrap(),
    }
}

const ACCEPTED: &str = r#"{"status":"success","data":null,"errorType":"","error":""}"#;

#[tokio::test]
async fn a_group_is_stored_listed_fetched_and_deleted() {
    let (app, changed) = api_with(Limits::uniform(TenantLimits::default()));
    let a = call(&app, "GET", PATH, Some("team-a"), "").await;
    assert_eq!(
        (a.status, a.content_type.as_str(), a.body.as_str()),
        (StatusCode::OK, "application/yaml", "{}\n")
    );

    let a = call(&app, "POST", &format!("{PATH}/api%2Fv1"), Some("team-a"), GROUP).await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (StatusCode::ACCEPTED, "application/json")
    );
    assert_eq!(a.body, ACCEPTED);
    // The ruler is woken (the permit waits for it).
    tokio::time::timeout(std::time::Duration::from_secs(1), changed.notified())
        .await
        .unwrap();

    let expected_group = RuleGroup::parse(GROUP.as_bytes(), &crate::template::check).unwrap();
    let a = call(&app, "GET", PATH, Some("team-a"), "").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (StatusCode::OK, "application/yaml")
    );
    let listed: std::collections::BTreeMap<String, Vec<serde_yaml::Value>> = serde_yaml::from_str(&a.body).unwrap();
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["api/v1"]);
    let back = serde_yaml::to_string(&listed["api/v1"][0]).unwrap();
    assert_eq!(
        RuleGroup::parse(back.as_bytes(), &crate::template::check).unwrap(),
        expected_group
    );
    assert_eq!(
        call(&app, "GET", &format!("{PATH}/api%2Fv1"), Some("team-a"), "")
            .await
            .body,
        a.body
    );
    assert_eq!(
        call(&app, "GET", &format!("{PATH}/other"), Some("team-a"), "")
            .await
            .body,
        "{}\n"
    );

    let a = call(&app, "GET", &format!("{PATH}/api%2Fv1/slo"), Some("team-a"), "").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (StatusCode::OK, "application/yaml")
    );
    assert_eq!(
        RuleGroup::parse(a.body.as_bytes(), &crate::template::check).unwrap(),
        expected_group
    );

    let a = call(&app, "DELETE", &format!("{PATH}/api%2Fv1/slo"), Some("team-a"), "").await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::ACCEPTED, ACCEPTED));
    let a = call(&app, "GET", &format!("{PATH}/api%2Fv1/slo"), Some("team-a"), "").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (StatusCode::NOT_FOUND, "text/plain; charset=utf-8")
    );
    assert_eq!(a.body, "group does not exist\n");
    let a = call(&app, "DELETE", &format!("{PATH}/api%2Fv1/slo"), Some("team-a"), "").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::NOT_FOUND, "group does not exist\n")
    );
}

#[tokio::test]
async fn deleting_a_namespace_deletes_its_groups_only() {
    let app = api();
    for (ns, name) in [("a", "one"), ("a", "two"), ("b", "three")] {
        let body = GROUP.replace("name: slo", &format!("name: {name}"));
        assert_eq!(
            call(&app, "POST", &format!("{PATH}/{ns}"), None, &body).await.status,
            StatusCode::ACCEPTED
        );
    }
    let a = call(&app, "DELETE", &format!("{PATH}/a"), None, "").await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::ACCEPTED, ACCEPTED));
    let a = call(&app, "DELETE", &format!("{PATH}/a"), None, "").await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (StatusCode::NOT_FOUND, "group namespace does not exist\n")
    );
    let listed: std::collections::BTreeMap<String, serde_yaml::Value> =
        serde_yaml::from_str(&call(&app, "GET", PATH, None, "").await.body).unwrap();
    assert_eq!(listed.keys().collect::<Vec<_>>(), ["b"]);
}

#[tokio::test]
async fn tenants_see_only_their_own_groups() {
    let app = api();
    assert_eq!(
        call(&app, "POST", &format!("{PATH}/ns"), Some("team-a"), GROUP)
            .await
            .status,
        StatusCode::ACCEPTED
    );
    assert_eq!(call(&app, "GET", PATH, Some("team-b"), "").await.body, "{}\n");
    assert_eq!(
        call(&app, "GET", PATH, None, "").await.body,
        "{}\n",
        "nor does anonymous"
    );
    let a = call(&app, "GET", &format!("{PATH}/ns/slo"), Some("team-b"), "").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND);
    assert_eq!(
        call(&app, "DELETE", &format!("{PATH}/ns/slo"), Some("team-b"), "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "DELETE", &format!("{PATH}/ns"), Some("team-b"), "")
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, "GET", &format!("{PATH}/ns/slo"), Some("team-a"), "")
            .await
            .status,
        StatusCode::OK
    );

    let a = call(&app, "GET", PATH, Some("a|b"), "").await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (StatusCode::BAD_REQUEST, "application/json")
    );
    let j: serde_json::Value = serde_json::from_str(&a.body).unwrap();
    assert_eq!(
        j,
        json!({"status": "error", "data": null, "errorType": "bad_data", "error": "queries across several tenants are not supported"})
    );
    let a = call(&app, "POST", &format!("{PATH}/ns"), Some("a|b"), GROUP).await;
    assert!(a.body.contains("multi-tenant writes are not supported"), "{}", a.body);
}

#[tokio::test]
async fn a_group_promtool_refuses_is_refused_with_its_messages() {
    let app = api();
    let bad = "name: g\nrules:\n- record: 'bad name'\n  expr: up\n- alert: A\n  expr: up\n  annotations: {x: '{{ nosuch }}'}\n";
    let a = call(&app, "POST", &format!("{PATH}/ns"), None, bad).await;
    assert_eq!(
        (a.status, a.content_type.as_str()),
        (StatusCode::BAD_REQUEST, "text/plain; charset=utf-8")
    );
    assert_eq!(
        a.body,
        "group \"g\", rule 1, \"bad name\": invalid recording rule name: bad name, \
         group \"g\", rule 2, \"A\": annotation \"x\": template: __alert_A:1: function \"nosuch\" not defined\n"
    );
    for (body, message) in [
        (
            "name: g\nrules:\n- record: r\n  expr: sum(\n",
            "could not parse expression",
        ),
        ("name: ''\nrules: []\n", "Groupname must not be empty"),
        ("name: g\nrulez: []\n", "unknown field `rulez`"),
        (
            "name: g\nrules:\n- record: r\n  expr: up\n  for: 1m\n",
            "invalid field 'for' in recording rule",
        ),
        ("", "Groupname must not be empty"),
        ("name: [", "yaml"),
    ] {
        let a = call(&app, "POST", &format!("{PATH}/ns"), None, body).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{body:?}");
        assert!(a.body.contains(message), "{body:?}: {}", a.body);
    }
    assert_eq!(
        call(&app, "GET", PATH, None, "").await.body,
        "{}\n",
        "nothing was stored"
    );
}

#[tokio::test]
async fn limits_refuse_too_many_rules_and_groups() {
    let groups: PerTenant<usize> = "small=2".parse().unwrap();
    let rules: PerTenant<usize> = "small=1".parse().unwrap();
    let limits = Limits::new(
        Overrides::new(TenantLimits::default())
            .set(&groups, |l, v| l.ruler_max_rule_groups_per_tenant = v)
            .set(&rules, |l, v| l.ruler_max_rules_per_rule_group = v),
    );
    let (app, _) = api_with(limits);
    let two_rules = format!("{GROUP}- record: job:up:count\n  expr: count by (job) (up)\n");
    let a = call(&app, "POST", &format!("{PATH}/ns"), Some("small"), &two_rules).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "per-user rules per rule group limit (limit: 1 actual: 2) exceeded\n"
        )
    );
    assert_eq!(
        call(&app, "POST", &format!("{PATH}/ns"), Some("other"), &two_rules)
            .await
            .status,
        StatusCode::ACCEPTED
    );

    for name in ["a", "b"] {
        let body = GROUP.replace("name: slo", &format!("name: {name}"));
        assert_eq!(
            call(&app, "POST", &format!("{PATH}/ns"), Some("small"), &body)
                .await
                .status,
            StatusCode::ACCEPTED
        );
    }
    let a = call(&app, "POST", &format!("{PATH}/ns2"), Some("small"), GROUP).await;
    assert_eq!(
        (a.status, a.body.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "per-user rule groups limit (limit: 2 actual: 3) exceeded\n"
        )
    );
    // Replacing a group it has is not a new group.
    let body = GROUP.replace("name: slo", "name: a").replace("30s", "1m");
    assert_eq!(
        call(&app, "POST", &format!("{PATH}/ns"), Some("small"), &body)
            .await
            .status,
        StatusCode::ACCEPTED
    );
}
