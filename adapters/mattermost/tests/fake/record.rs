//! Every request the bot makes to the fake, recorded as it arrived (method,
//! path, query, JSON body, `Authorization` header) before any route sees it,
//! so [`super::conformance`] can hold each one against Mattermost's API
//! description, whatever the route answered.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::Shared;

/// The largest body the fake reads: far above Mattermost's post size.
const MAX_BODY: usize = 1 << 20;

/// One request as the fake received it.
#[derive(Debug, Clone, PartialEq)]
pub struct Recorded {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query's `key=value` pairs, decoded, in order.
    pub query: Vec<(String, String)>,
    /// The body read as JSON; `None` when empty, `Some(Value::Null)` when
    /// present but not JSON.
    pub body: Option<Value>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
}

/// The middleware: records the request, then hands it on unchanged.
pub(super) async fn record(State(s): State<Shared>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, MAX_BODY)
        .await
        .unwrap_or_default();
    // axum's own query reading (serde_urlencoded), kept as pairs in order.
    let query = axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        .map(|q| q.0)
        .unwrap_or_default();
    let recorded = Recorded {
        method: parts.method.as_str().to_owned(),
        path: parts.uri.path().to_owned(),
        query,
        body: (!bytes.is_empty()).then(|| serde_json::from_slice(&bytes).unwrap_or(Value::Null)),
        authorization: parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    };
    s.world().requests.push(recorded);
    // The parts keep their extensions, hyper's pending upgrade included.
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
