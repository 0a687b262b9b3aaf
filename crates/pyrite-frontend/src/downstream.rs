//! What the frontend sends to queriers: one Prometheus API request, answered with the
//! querier's HTTP status and body. The queue and its workers carry these in a cluster;
//! tests hand them to an API router in-process.

use async_trait::async_trait;
use bytes::Bytes;

use crate::FrontendError;

/// One API request for a querier.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    pub tenant: String,
    /// `/api/v1/query_range` and the like.
    pub path: String,
    /// URL-encoded parameters.
    pub params: String,
}

impl Request {
    pub fn new(tenant: &str, path: &str, params: &[(&str, String)]) -> Self {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            s.append_pair(k, v);
        }
        Self {
            tenant: tenant.to_string(),
            path: path.to_string(),
            params: s.finish(),
        }
    }

    pub fn range(tenant: &str, query: &str, start: i64, end: i64, step: i64) -> Self {
        Self::new(
            tenant,
            "/api/v1/query_range",
            &[
                ("query", query.to_string()),
                ("start", seconds(start)),
                ("end", seconds(end)),
                ("step", seconds(step)),
            ],
        )
    }

    pub fn instant(tenant: &str, query: &str, t: i64) -> Self {
        Self::new(
            tenant,
            "/api/v1/query",
            &[("query", query.to_string()), ("time", seconds(t))],
        )
    }
}

/// Milliseconds as the seconds the API reads back exactly.
pub fn seconds(ms: i64) -> String {
    if ms % 1000 == 0 {
        (ms / 1000).to_string()
    } else {
        format!("{}", ms as f64 / 1000.0)
    }
}

/// A querier's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    pub status: u16,
    pub body: Bytes,
}

impl Reply {
    pub fn ok(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Where the frontend's requests are answered.
#[async_trait]
pub trait Downstream: Send + Sync {
    async fn run(&self, req: Request) -> Result<Reply, FrontendError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_back_exactly() {
        for ms in [0, 1_435_781_451_781, -1500, 86_400_000, 7] {
            assert_eq!(pyrite_api::parse_time(&seconds(ms)).unwrap(), ms);
        }
        let r = Request::instant("t", "sum(x{a=\"b c\"})", 1000);
        assert_eq!(r.params, "query=sum%28x%7Ba%3D%22b+c%22%7D%29&time=1");
    }
}
