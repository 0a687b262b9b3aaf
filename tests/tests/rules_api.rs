//! The rule configuration API of a real `pyrite` process, driven as rule-management
//! clients drive it: a group POSTed as YAML without a content type (the namespace
//! path-escaped, the tenant in `X-Scope-OrgID`) is listed by the configuration API and by `/prometheus/api/v1/rules`
//! at once (well before `--ruler.poll-interval`), runs beside the tenant's
//! `--ruler.rules-dir` groups, writes a recording rule's output that queries see, is
//! still there after a restart (the local rule store under the data directory), and is
//! gone once deleted; another tenant sees none of it.

use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use pyrite_cluster_tests::http::{api_get_as, enc};
use pyrite_cluster_tests::{remote_write, wait_until, Pyrite};
use reqwest::blocking::Client;
use serde_json::Value;

/// A group as rule-management clients send it: YAML, four-space indented.
const GROUP: &str = "name: slo\ninterval: 1s\nrules:\n    - record: slo:demo:sum\n      expr: sum(demo_value)\n";

const DIR_FILE: &str = "groups:\n  - name: from-dir\n    interval: 1s\n    rules:\n      - record: dir:demo:count\n        expr: count(demo_value)\n";

const CONFIG: &str = "/prometheus/config/v1/rules";

/// A request to the configuration API as a tenant: status, content type and body.
fn call(client: &Client, method: &str, url: &str, tenant: &str, body: &str) -> anyhow::Result<(u16, String, String)> {
    let req = match method {
        "GET" => client.get(url),
        "POST" => client.post(url).body(body.to_string()),
        "DELETE" => client.delete(url),
        _ => anyhow::bail!("method {method}"),
    };
    let resp = req
        .header("X-Scope-OrgID", tenant)
        .send()
        .with_context(|| format!("{method} {url}"))?;
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get("Content-Type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    Ok((status, content_type, resp.text()?))
}

/// The groups `/prometheus/api/v1/rules` lists for a tenant, as `file name` pairs.
fn running(p: &Pyrite, tenant: &str) -> anyhow::Result<Vec<String>> {
    let data = api_get_as(&p.url("/prometheus/api/v1/rules"), Some(tenant))?;
    let mut out: Vec<String> = data["groups"]
        .as_array()
        .context("groups")?
        .iter()
        .map(|g| {
            format!(
                "{} {}",
                g["file"].as_str().unwrap_or(""),
                g["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

/// The values an instant query returns for a tenant.
fn values(p: &Pyrite, tenant: &str, query: &str) -> anyhow::Result<Vec<String>> {
    let data = api_get_as(
        &p.url(&format!("/prometheus/api/v1/query?query={}", enc(query))),
        Some(tenant),
    )?;
    Ok(data["result"]
        .as_array()
        .context("result")?
        .iter()
        .map(|r| r["value"][1].as_str().unwrap_or("").to_string())
        .collect())
}

#[test]
fn rule_groups_are_managed_through_the_configuration_api() -> anyhow::Result<()> {
    let ip = Ipv4Addr::new(127, 0, 0, 207);
    let tmp = tempfile::tempdir()?;
    let rules_dir = tmp.path().join("rules");
    std::fs::create_dir_all(rules_dir.join("team-a"))?;
    let dir_file = rules_dir.join("team-a/dir.yml");
    std::fs::write(&dir_file, DIR_FILE)?;
    let mut p = Pyrite::start(
        ip,
        &tmp.path().join("data"),
        &[&format!("--ruler.rules-dir={}", rules_dir.display())],
    )?;
    let client = Client::new();
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
    for tenant in ["team-a", "team-b"] {
        let body = remote_write::encode(vec![
            remote_write::series(&[("__name__", "demo_value"), ("node", "a")], &[(now, 3.0)]),
            remote_write::series(&[("__name__", "demo_value"), ("node", "b")], &[(now, 7.0)]),
        ]);
        let (status, text) = remote_write::push(&client, &p.url("/api/v1/push"), Some(tenant), body)?;
        assert!((200..300).contains(&status), "{status} {text}");
    }

    // Nothing stored yet: an empty map.
    let (status, ct, body) = call(&client, "GET", &p.url(CONFIG), "team-a", "")?;
    assert_eq!((status, ct.as_str(), body.as_str()), (200, "application/yaml", "{}\n"));

    // The namespace is path-escaped; the group's name is in its body.
    let group_url = p.url(&format!("{CONFIG}/demo%2Fslo"));
    let (status, ct, body) = call(&client, "POST", &group_url, "team-a", GROUP)?;
    assert_eq!((status, ct.as_str()), (202, "application/json"), "{body}");
    let answer: Value = serde_json::from_str(&body)?;
    assert_eq!(answer["status"], "success");

    let (status, ct, body) = call(&client, "GET", &p.url(CONFIG), "team-a", "")?;
    assert_eq!((status, ct.as_str()), (200, "application/yaml"));
    let listed: serde_yaml::Value = serde_yaml::from_str(&body)?;
    assert_eq!(listed["demo/slo"][0]["name"].as_str(), Some("slo"), "{body}");
    assert_eq!(
        listed["demo/slo"][0]["rules"][0]["record"].as_str(),
        Some("slo:demo:sum"),
        "{body}"
    );
    let (status, _, body) = call(
        &client,
        "GET",
        &p.url(&format!("{CONFIG}/demo%2Fslo/slo")),
        "team-a",
        "",
    )?;
    assert_eq!(status, 200);
    let one: serde_yaml::Value = serde_yaml::from_str(&body)?;
    assert_eq!(one["interval"].as_str(), Some("1s"), "{body}");

    // Applied at once (the poll interval is ten minutes), beside the directory's group.
    let expected = vec![format!("{} from-dir", dir_file.display()), "demo/slo slo".to_string()];
    let mut sorted = expected.clone();
    sorted.sort();
    wait_until("the POSTed group to run", Duration::from_secs(10), || {
        Ok((running(&p, "team-a")? == sorted).then_some(()))
    })?;
    wait_until("the recording rule's output", Duration::from_secs(20), || {
        Ok((values(&p, "team-a", "slo:demo:sum")? == ["10"]).then_some(()))
    })?;

    // A group promtool would refuse is refused with promtool's message.
    let bad = "name: bad\nrules:\n    - record: 'not a metric'\n      expr: up\n";
    let (status, _, body) = call(&client, "POST", &group_url, "team-a", bad)?;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        "group \"bad\", rule 1, \"not a metric\": invalid recording rule name: not a metric\n"
    );

    // Another tenant sees none of it.
    let (status, _, body) = call(&client, "GET", &p.url(CONFIG), "team-b", "")?;
    assert_eq!((status, body.as_str()), (200, "{}\n"));
    let (status, _, _) = call(
        &client,
        "GET",
        &p.url(&format!("{CONFIG}/demo%2Fslo/slo")),
        "team-b",
        "",
    )?;
    assert_eq!(status, 404);
    assert_eq!(running(&p, "team-b")?, Vec::<String>::new());
    assert_eq!(values(&p, "team-b", "slo:demo:sum")?, Vec::<String>::new());

    // Kept across a restart.
    p.kill9_and_restart()?;
    wait_until("the stored group to run again", Duration::from_secs(20), || {
        Ok((running(&p, "team-a")? == sorted).then_some(()))
    })?;

    // Deleted: gone from both APIs; the directory's group runs on.
    let (status, _, body) = call(
        &client,
        "DELETE",
        &p.url(&format!("{CONFIG}/demo%2Fslo/slo")),
        "team-a",
        "",
    )?;
    assert_eq!(status, 202, "{body}");
    let (status, _, body) = call(&client, "GET", &p.url(CONFIG), "team-a", "")?;
    assert_eq!((status, body.as_str()), (200, "{}\n"));
    wait_until("the deleted group to stop", Duration::from_secs(10), || {
        Ok((running(&p, "team-a")? == expected[..1]).then_some(()))
    })?;
    let (status, _, body) = call(
        &client,
        "DELETE",
        &p.url(&format!("{CONFIG}/demo%2Fslo/slo")),
        "team-a",
        "",
    )?;
    assert_eq!((status, body.as_str()), (404, "group does not exist\n"));
    let (status, _, body) = call(&client, "DELETE", &group_url, "team-a", "")?;
    assert_eq!((status, body.as_str()), (404, "group namespace does not exist\n"));
    Ok(())
}
