use axum::body::Body;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tower::ServiceExt;

use super::*;

fn reject(_: &HeaderMap, why: Rejection) -> Response {
    (StatusCode::BAD_REQUEST, format!("refused: {why}")).into_response()
}

fn app(access: Access) -> Router {
    Router::new()
        .route("/t", get(|t: Tenant| async move { t.to_string() }))
        .route_layer(TenantLayer::new(access, reject))
}

async fn call(app: Router, tenant: Option<&[u8]>, path: &str) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if let Some(t) = tenant {
        req = req.header(TENANT_HEADER, axum::http::HeaderValue::from_bytes(t).unwrap());
    }
    let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
    let status = resp.status();
    let body = axum::body::to_bytes(resp.into_body(), 1 << 16).await.unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn the_handler_gets_the_header_or_the_default() {
    assert_eq!(
        call(app(Access::Read), Some(b"team-a"), "/t").await,
        (StatusCode::OK, "team-a".into())
    );
    assert_eq!(
        call(app(Access::Read), None, "/t").await,
        (StatusCode::OK, "anonymous".into())
    );
}

#[tokio::test]
async fn refused_headers_never_reach_the_handler() {
    for (header, access, want) in [
        (
            &b"a|b"[..],
            Access::Write,
            "refused: multi-tenant writes are not supported",
        ),
        (
            b"a|b",
            Access::Read,
            "refused: queries across several tenants are not supported",
        ),
        (
            b"../x",
            Access::Read,
            "refused: tenant ID \"../x\" contains an unsupported character '/'",
        ),
        (b"", Access::Write, "refused: tenant ID is empty"),
        (b"\xff", Access::Read, "refused: X-Scope-OrgID header is not valid text"),
    ] {
        assert_eq!(
            call(app(access), Some(header), "/t").await,
            (StatusCode::BAD_REQUEST, want.to_string())
        );
    }
}

#[tokio::test]
async fn unknown_paths_stay_404_and_a_missing_layer_is_500() {
    assert_eq!(
        call(app(Access::Read), Some(b"a|b"), "/nope").await.0,
        StatusCode::NOT_FOUND
    );
    let bare = Router::new().route("/t", get(|t: Tenant| async move { t.to_string() }));
    assert_eq!(call(bare, None, "/t").await.0, StatusCode::INTERNAL_SERVER_ERROR);
}

#[test]
fn tenants_are_checked_when_made() {
    assert_eq!(Tenant::new("team-a").unwrap().as_str(), "team-a");
    assert!(Tenant::new("..").is_err());
    assert_eq!(&*Tenant::default_tenant(), DEFAULT_TENANT);
}
