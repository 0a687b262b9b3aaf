//! `/status` and `/receivers`.

use std::sync::Arc;

use axum::extract::State;
use axum::response::IntoResponse;
use axum::Json;
use pyrite_tenant::Tenant;
use serde_json::json;

use super::{api_time, existing, ApiResult, Shared};
use crate::config::Config;
use crate::tenants::Alertmanagers;

/// The configuration the tenant's alertmanager runs, or a fresh one would.
fn config(ams: &Alertmanagers, tenant: &Tenant) -> Arc<Config> {
    match existing(ams, tenant) {
        Some(inst) => inst.with_state(|st| st.config.clone()),
        None => ams.config(),
    }
}

pub(super) async fn status(State(ams): State<Shared>, tenant: Tenant) -> ApiResult {
    let config = config(&ams, &tenant);
    let peers: Vec<_> = ams
        .peers()
        .into_iter()
        .map(|(name, address)| json!({"name": name, "address": address}))
        .collect();
    Ok(Json(json!({
        "cluster": {
            "name": ams.peer_name(),
            "status": if peers.is_empty() { "settling" } else { "ready" },
            "peers": peers,
        },
        "versionInfo": {
            "branch": "", "buildDate": "", "buildUser": "", "goVersion": "",
            "revision": "", "version": env!("CARGO_PKG_VERSION"),
        },
        "config": {"original": config.to_yaml()},
        "uptime": api_time(ams.started()),
    }))
    .into_response())
}

pub(super) async fn receivers(State(ams): State<Shared>, tenant: Tenant) -> ApiResult {
    let names: Vec<_> = config(&ams, &tenant)
        .receivers
        .iter()
        .map(|r| json!({"name": r.name}))
        .collect();
    Ok(Json(names).into_response())
}
