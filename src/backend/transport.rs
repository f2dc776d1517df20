//! The HTTP transport that `eventsource-client` streams through.
//!
//! eventsource-client 0.18 brings no HTTP stack of its own; it takes any
//! `launchdarkly_sdk_transport::HttpTransport`. One [`StreamTransport`] is built per
//! `BackendClient` and shared (cloned, an `Arc` inside) by every stream it follows.
//!
//! Each open stream holds one HTTP/1.1 connection for as long as the job runs, so what a
//! connection costs is what a followed job costs. Most of it is hyper's: an 8 KiB header write
//! buffer and the first block of its dispatch channel are fixed, but the read buffer is not —
//! by default it starts at 8 KiB and doubles whenever a read fills it (a replay of stored
//! events does), and reqwest offers no way to change that. So direct connections go through a
//! hyper client of our own with a small fixed read buffer; events larger than it are read in
//! several pieces, which costs syscalls, not correctness. The one thing this client does not
//! know is proxies: when the environment configures one (and the config honours it), streams
//! go through the REST calls' `reqwest::Client` instead, which does.
//!
//! TLS is rustls with `ring` either way (hyper-rustls here, reqwest's own there); neither pulls
//! aws-lc. eventsource-client's own hyper transport (its `hyper-rustls-*` features, which were
//! checked not to pull aws-lc either) is not used: it cannot set the read buffer and would
//! compile a second proxy stack.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};
use http_body_util::{BodyDataStream, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use launchdarkly_sdk_transport::{
    ByteStream, HeaderMap, HttpTransport, Request, Response, ResponseFuture, TransportError,
};
use sync_wrapper::{SyncFuture, SyncStream};

/// Read buffer of a stream connection. An event line is a few hundred bytes; 2 KiB holds a
/// burst of them and keeps thousands of idle streams cheap.
const STREAM_READ_BUFFER: usize = 2048;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

/// The transport of every event stream of one `BackendClient`.
#[derive(Clone)]
pub(crate) enum StreamTransport {
    /// Direct connections through a hyper client tuned for many long-lived streams.
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

/// A hyper client with a small fixed read buffer and no idle pool (a stream's connection
/// ends with its stream).
#[derive(Clone)]
pub(crate) struct DirectTransport {
    client: Client<HttpsConnector, Full<Bytes>>,
    headers: Arc<HeaderMap>,
}

impl DirectTransport {
    fn new(headers: HeaderMap, connect_timeout: Duration) -> Result<Self, rustls::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .http1_read_buf_exact_size(STREAM_READ_BUFFER)
            .pool_max_idle_per_host(0)
            .build(connector);
        Ok(Self {
            client,
            headers: Arc::new(headers),
        })
    }
}

impl HttpTransport for DirectTransport {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        let (mut parts, body) = request.into_parts();
        for (name, value) in self.headers.iter() {
            parts.headers.insert(name, value.clone());
        }
        let request = Request::from_parts(parts, Full::new(body.unwrap_or_default()));
        let pending = self.client.request(request);
        // The trait wants `Sync` futures and streams; hyper's are `Send` only. Both are only
        // ever polled through `&mut`, which is what `SyncFuture`/`SyncStream` make sound.
        Box::pin(SyncFuture::new(async move {
            let response = pending.await.map_err(TransportError::new)?;
            Ok(response.map(|body| -> ByteStream {
                Box::pin(SyncStream::new(
                    BodyDataStream::new(body).map_err(TransportError::new),
                ))
            }))
        }))
    }
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
