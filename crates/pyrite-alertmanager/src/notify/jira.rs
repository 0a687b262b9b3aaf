//! `jira_configs`: Jira's REST API as Alertmanager uses it. Each notification looks
//! for the group's issue — `POST {api_url}/search` with a JQL query for the label
//! `ALERT{<group key hash>}` in the project (open issues only unless a reopen
//! transition is configured; at most two results, the most recently resolved first) —
//! then creates one (`POST issue`) or updates the one found (`PUT issue/{key}`) with
//! the summary (cut to 255 characters), description (cut to 32767; parsed as Atlassian
//! Document Format JSON when `api_url` ends in `/3`), issue type, project, priority,
//! the sorted labels and the configured `fields` as written. Finally a found issue is
//! moved: by `resolve_transition` once all alerts are resolved and it is not done, by
//! `reopen_transition` when alerts fire again and it is done (`GET` then `POST
//! issue/{key}/transitions`). A resolved group with no issue sends nothing more.
//!
//! The invariant: the group's label is the same on every replica and every
//! notification, so a group has one issue, found again until it is done.

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::http::{self, Renderer};
use super::template::Templates;
use super::{Context, Data, Integration, NotifyError};
use crate::config::JiraConfig;
use crate::model::Alert;

const KIND: &str = "jira";
const MAX_SUMMARY_RUNES: usize = 255;
const MAX_DESCRIPTION_RUNES: usize = 32767;
/// 429 is retried besides 5xx, as Jira rate-limits with it.
const RETRY_CODES: &[u16] = &[429];

pub struct Jira {
    config: JiraConfig,
    api_url: String,
    client: pyrite_http_client::HttpClient,
    templates: Arc<Templates>,
}

#[derive(Deserialize, Default)]
struct SearchResult {
    #[serde(default)]
    total: u64,
    #[serde(default)]
    issues: Vec<Issue>,
}

#[derive(Deserialize, Default, Clone)]
struct Issue {
    #[serde(default)]
    key: String,
    #[serde(default)]
    fields: Option<IssueFields>,
}

#[derive(Deserialize, Default, Clone)]
struct IssueFields {
    #[serde(default)]
    status: Option<Status>,
}

#[derive(Deserialize, Default, Clone)]
struct Status {
    #[serde(default, rename = "statusCategory")]
    category: Category,
}

#[derive(Deserialize, Default, Clone)]
struct Category {
    #[serde(default)]
    key: String,
}

#[derive(Deserialize)]
struct Transitions {
    #[serde(default)]
    transitions: Vec<Transition>,
}

#[derive(Deserialize)]
struct Transition {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
}

#[derive(Serialize)]
struct Search<'a> {
    expand: [&'a str; 0],
    fields: [&'a str; 1],
    jql: String,
    #[serde(rename = "maxResults")]
    max_results: u32,
    #[serde(rename = "startAt")]
    start_at: u32,
}

impl Jira {
    pub fn new(config: &JiraConfig, base_dir: &Path, templates: Arc<Templates>) -> Result<Jira, String> {
        let api_url = config.api_url.clone().ok_or("no Jira api_url configured")?;
        Ok(Jira {
            client: http::client(&config.http_config, base_dir)?,
            config: config.clone(),
            api_url: api_url.trim_end_matches('/').to_string(),
            templates,
        })
    }

    /// The search for the group's issue.
    fn jql(&self, project: &str, label: &str, firing: bool) -> String {
        let c = &self.config;
        let mut jql = String::new();
        if !c.wont_fix_resolution.is_empty() {
            jql.push_str(&format!(
                "resolution != {} and ",
                pyrite_template::go_quote(&c.wont_fix_resolution)
            ));
        }
        if firing {
            if c.reopen_transition.is_empty() {
                jql.push_str("statusCategory != Done and ");
            }
        } else {
            let minutes = c.reopen_duration.map_or(0, |d| d.as_secs() / 60);
            if minutes != 0 {
                jql.push_str(&format!(
                    "(resolutiondate is EMPTY OR resolutiondate >= -{minutes}m) and "
                ));
            }
        }
        jql.push_str(&format!(
            "project={} and labels={} order by status ASC,resolutiondate DESC",
            pyrite_template::go_quote(project),
            pyrite_template::go_quote(label)
        ));
        jql
    }

    /// The issue's `fields`, every template executed.
    fn fields(&self, r: &mut Renderer<'_>, label: &str) -> Result<Value, NotifyError> {
        let c = &self.config;
        let summary = r.truncated("summary", &c.summary, MAX_SUMMARY_RUNES);
        let project = r.text(&c.project);
        let issue_type = r.text(&c.issue_type);
        let description = r.truncated("description", &c.description, MAX_DESCRIPTION_RUNES);
        let mut labels: Vec<String> = c.labels.iter().map(|l| r.text(l)).collect();
        labels.push(label.to_string());
        labels.sort();
        let priority = r.text(&c.priority);
        let description = if self.api_url.ends_with("/3") {
            serde_json::from_str(&description)
                .map_err(|e| NotifyError::fatal(format!("{KIND}: the description is not JSON: {e}")))?
        } else {
            Value::String(description)
        };
        let mut f = Map::new();
        f.insert("description".into(), description);
        f.insert("summary".into(), Value::String(summary));
        f.insert("issuetype".into(), json!({ "name": issue_type }));
        f.insert("labels".into(), json!(labels));
        if !priority.is_empty() {
            f.insert("priority".into(), json!({ "name": priority }));
        }
        f.insert("project".into(), json!({ "key": project }));
        for (k, v) in &c.fields {
            let v = serde_json::to_value(v)
                .map_err(|e| NotifyError::fatal(format!("{KIND}: field {k:?} does not encode as JSON: {e}")))?;
            f.insert(k.clone(), v);
        }
        Ok(Value::Object(f))
    }

    /// One call of the API; the answer's body on a 2xx.
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Vec<u8>>) -> Result<String, NotifyError> {
        let url = format!("{}/{path}", self.api_url);
        let what = format!("{method} {path}");
        let mut req = http::request(KIND, &self.client, method, &url)
            .await?
            .header("Content-Type", "application/json")
            .header("Accept-Language", "en");
        if let Some(body) = body {
            req = req.body(body);
        }
        let resp = http::send(KIND, req, RETRY_CODES)
            .await
            .map_err(|e| http::noting(e, &what))?;
        resp.text()
            .await
            .map_err(|e| NotifyError::retry(format!("{KIND}: reading the answer to {what}: {}", e.without_url())))
    }

    async fn find_issue(&self, project: &str, label: &str, firing: bool) -> Result<Option<Issue>, NotifyError> {
        let search = Search {
            expand: [],
            fields: ["status"],
            jql: self.jql(project, label, firing),
            max_results: 2,
            start_at: 0,
        };
        let answer = self
            .call(reqwest::Method::POST, "search", Some(http::json_body(KIND, &search)?))
            .await?;
        let found: SearchResult = serde_json::from_str(&answer)
            .map_err(|e| NotifyError::fatal(format!("{KIND}: reading the search result: {e}")))?;
        if found.total == 0 {
            return Ok(None);
        }
        if found.total > 1 {
            tracing::warn!(
                integration = KIND,
                issue = found.issues.first().map(|i| i.key.as_str()).unwrap_or(""),
                "more than one issue matched, selecting the most recently resolved"
            );
        }
        Ok(found.issues.into_iter().next())
    }

    /// Moves `issue` by the reopen or resolve transition when its state calls for it.
    async fn transition(&self, issue: &Issue, firing: bool) -> Result<(), NotifyError> {
        let Some(status) = issue.fields.as_ref().and_then(|f| f.status.as_ref()) else {
            return Ok(());
        };
        if issue.key.is_empty() {
            return Ok(());
        }
        let done = status.category.key == "done";
        let name = match (firing, done) {
            (true, true) => &self.config.reopen_transition,
            (false, false) => &self.config.resolve_transition,
            _ => return Ok(()),
        };
        let path = format!("issue/{}/transitions", issue.key);
        let answer = self.call(reqwest::Method::GET, &path, None).await?;
        let transitions: Transitions = serde_json::from_str(&answer)
            .map_err(|e| NotifyError::fatal(format!("{KIND}: reading the transitions: {e}")))?;
        let Some(t) = transitions.transitions.iter().find(|t| &t.name == name) else {
            return Err(NotifyError::fatal(format!(
                "{KIND}: can't find transition {name} for issue {}",
                issue.key
            )));
        };
        let body = http::json_body(KIND, &json!({ "transition": { "id": t.id } }))?;
        self.call(reqwest::Method::POST, &path, Some(body)).await?;
        Ok(())
    }
}

#[async_trait]
impl Integration for Jira {
    fn name(&self) -> &'static str {
        KIND
    }

    fn send_resolved(&self) -> bool {
        self.config.send_resolved
    }

    async fn notify(&self, ctx: &Context, alerts: &[Alert]) -> Result<(), NotifyError> {
        let data = Data::new(ctx, alerts);
        let firing = data.status == "firing";
        let label = format!("ALERT{{{}}}", http::group_key_hash(&ctx.group_key));
        let mut r = Renderer::new(KIND, &self.templates, &data);
        let project = r.text(&self.config.project);
        let fields = self.fields(&mut r, &label)?;
        r.finish()?;

        let existing = self.find_issue(&project, &label, firing).await?;
        let (method, path) = match &existing {
            None if !firing => return Ok(()),
            None => (reqwest::Method::POST, "issue".to_string()),
            Some(issue) => (reqwest::Method::PUT, format!("issue/{}", issue.key)),
        };
        let body = http::json_body(KIND, &json!({ "fields": fields }))?;
        self.call(method, &path, Some(body)).await?;
        match existing {
            Some(issue) => self.transition(&issue, firing).await,
            None => Ok(()),
        }
    }
}

#[cfg(test)]
#[path = "jira_tests.rs"]
mod tests;
