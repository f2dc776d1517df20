//! The HTTP transport that `eventsource-client` streams through.
//!
//! eventsource-client 0.18 brings no HTTP stack of its own; it takes any
//! `launchdarkly_sdk_transport::HttpTransport`. One [`StreamTransport`] is built per
//! `BackendClient` and shared (cloned, an `Arc` inside) by every stream it follows.
//!
//! Each open stream holds one HTTP/1.1 connection for as long as the job runs, so what a
//! connection costs is what a followed job costs. Direct connections therefore go through a
//! lean client of our own ([`super::stream_http`], which says why hyper's is too heavy here).
//! The one thing that client does not know is proxies: when the environment configures one
//! (and the config honours it), streams go through the REST calls' `reqwest::Client`
//! instead, which does.
//!
//! TLS is rustls with `ring` either way (hyper-rustls's connector there, reqwest's own here);
//! neither pulls aws-lc. eventsource-client's own hyper transport (its `hyper-rustls-*`
//! features) is not used: it has hyper's per-connection costs and would compile a second
//! proxy stack.

use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;
use launchdarkly_sdk_transport::{
    ByteStream, HeaderMap, HttpTransport, Request, Response, ResponseFuture, TransportError,
};
use sync_wrapper::{SyncFuture, SyncStream};

use super::stream_http::DirectTransport;

/// The transport of every event stream of one `BackendClient`.
#[derive(Clone)]
pub(crate) enum StreamTransport {
    /// Direct connections through the lean client of [`super::stream_http`].
    Direct(DirectTransport),
    /// Through a proxy, via the REST calls' reqwest client.
    Proxied(ReqwestTransport),
}

impl StreamTransport {
    /// `headers` (authorization, workspace) are added to every stream request; the reqwest
    /// client adds its own default headers already.
    pub(crate) fn new(
        http: &reqwest::Client,
        headers: HeaderMap,
        connect_timeout: Duration,
        use_env_proxy: bool,
    ) -> Result<Self, rustls::Error> {
        if use_env_proxy && env_proxy_configured() {
            return Ok(Self::Proxied(ReqwestTransport { http: http.clone() }));
        }
        Ok(Self::Direct(DirectTransport::new(
            headers,
            connect_timeout,
        )?))
    }
}

impl HttpTransport for StreamTransport {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        match self {
            Self::Direct(direct) => direct.request(request),
            Self::Proxied(proxied) => proxied.request(request),
        }
    }
}

/// Whether the environment names an HTTP proxy (as reqwest reads it).
fn env_proxy_configured() -> bool {
    ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]
        .into_iter()
        .flat_map(|name| [name.to_owned(), name.to_lowercase()])
        .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()))
}

/// Streams over the REST calls' `reqwest::Client` (which carries the auth headers and knows
/// the environment's proxies).
#[derive(Clone)]
pub(crate) struct ReqwestTransport {
    http: reqwest::Client,
}

impl HttpTransport for ReqwestTransport {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        let http = self.http.clone();
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.unwrap_or_default());
        Box::pin(SyncFuture::new(async move {
            let request = reqwest::Request::try_from(request).map_err(TransportError::new)?;
            let mut response = http.execute(request).await.map_err(TransportError::new)?;
            let status = response.status();
            let headers = std::mem::take(response.headers_mut());
            let body: ByteStream = Box::pin(SyncStream::new(body_chunks(response)));
            let mut answer = Response::new(body);
            *answer.status_mut() = status;
            *answer.headers_mut() = headers;
            Ok(answer)
        }))
    }
}

/// The body as a stream of chunks, ending after the first error (reqwest's own `bytes_stream`
/// needs its `stream` feature, which drags in `tokio/fs`).
fn body_chunks(response: reqwest::Response) -> impl Stream<Item = Result<Bytes, TransportError>> {
    futures_util::stream::unfold(Some(response), |response| async move {
        let mut response = response?;
        match response.chunk().await {
            Ok(Some(chunk)) => Some((Ok(chunk), Some(response))),
            Ok(None) => None,
            Err(error) => Some((Err(TransportError::new(error)), None)),
        }
    })
}
