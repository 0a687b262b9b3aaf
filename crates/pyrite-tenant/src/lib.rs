//! Who a request is for. [`TenantLayer`] reads the tenant of every HTTP request once —
//! `X-Scope-OrgID`, `anonymous` without it, checked by [`pyrite_model::validate_tenant`] —
//! and puts a [`Tenant`] in the request's extensions; handlers take it as an extractor
//! and never read the header themselves. A request whose header is refused never reaches
//! a handler: the surface's own [`Reject`] function answers it, in that surface's error
//! shape. This is also where authentication will sit, as a layer of the same kind.
//!
//! The header name and the rules for tenant IDs stay in `pyrite-model` (no I/O there);
//! this crate owns only their HTTP side. Its invariant: a [`Tenant`] value is always a
//! valid tenant ID, so whoever holds one may use it as a directory name or metric label.

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Request, StatusCode};
use axum::response::Response;
use futures::future::{ready, Either, Ready};
use pyrite_model::{validate_tenant, TenantError, DEFAULT_TENANT, TENANT_HEADER};

/// A valid tenant ID, as the tenant layer found it on a request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Tenant(Arc<str>);

impl Tenant {
    /// Checks `id` against the tenant rules.
    pub fn new(id: &str) -> Result<Self, TenantError> {
        validate_tenant(id)?;
        Ok(Tenant(id.into()))
    }

    /// The tenant of requests without a tenant header.
    pub fn default_tenant() -> Self {
        Tenant(DEFAULT_TENANT.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Tenant {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Tenant {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Tenant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a request does with its tenant's data: a write names exactly one tenant, and
/// so does a query (Pyrite answers no query across tenants). The messages differ, and
/// an authorization layer will tell the two apart too.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

/// Why a request's tenant header was refused (a 400: the sender must fix it).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("{TENANT_HEADER} header is not valid text")]
    NotText,
    #[error("multi-tenant writes are not supported")]
    SeveralWrite,
    #[error("queries across several tenants are not supported")]
    SeveralRead,
    #[error(transparent)]
    Invalid(#[from] TenantError),
}

/// The tenant of a request with these headers.
pub fn from_headers(headers: &HeaderMap, access: Access) -> Result<Tenant, Rejection> {
    let Some(v) = headers.get(TENANT_HEADER) else {
        return Ok(Tenant::default_tenant());
    };
    let v = v.to_str().map_err(|_| Rejection::NotText)?;
    if v.contains('|') {
        return Err(match access {
            Access::Write => Rejection::SeveralWrite,
            Access::Read => Rejection::SeveralRead,
        });
    }
    Ok(Tenant::new(v)?)
}

/// How a surface answers a refused tenant header, in its own error shape; it sees the
/// request's headers (a protocol may answer with headers of its own).
pub type Reject = fn(&HeaderMap, Rejection) -> Response;

/// Puts the request's [`Tenant`] in its extensions, or answers with the surface's
/// [`Reject`]. Put it on routes with `Router::route_layer`, so unknown paths still
/// answer 404.
#[derive(Clone, Copy)]
pub struct TenantLayer {
    access: Access,
    reject: Reject,
}

impl TenantLayer {
    pub fn new(access: Access, reject: Reject) -> Self {
        Self { access, reject }
    }
}

impl<S> tower::Layer<S> for TenantLayer {
    type Service = TenantService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TenantService { inner, layer: *self }
    }
}

/// The service [`TenantLayer`] wraps around a surface's routes.
#[derive(Clone)]
pub struct TenantService<S> {
    inner: S,
    layer: TenantLayer,
}

impl<S, B> tower::Service<Request<B>> for TenantService<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<S::Future, Ready<Result<Response, S::Error>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        match from_headers(req.headers(), self.layer.access) {
            Ok(tenant) => {
                req.extensions_mut().insert(tenant);
                Either::Left(self.inner.call(req))
            }
            Err(why) => Either::Right(ready(Ok((self.layer.reject)(req.headers(), why)))),
        }
    }
}

/// Handlers take the tenant as an argument. A route without the layer is a wiring
/// mistake, answered 500 rather than served for a tenant nobody named.
impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = (StatusCode, &'static str);

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Tenant>().cloned().ok_or((
            StatusCode::INTERNAL_SERVER_ERROR,
            "no tenant on this request: the route is served without the tenant layer\n",
        ))
    }
}

#[cfg(test)]
mod tests;
