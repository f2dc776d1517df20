//! The HTTP transport that `eventsource-client` streams through: the client's own
//! `reqwest::Client`.
//!
//! eventsource-client 0.18 brings no HTTP stack of its own; it takes any
//! `launchdarkly_sdk_transport::HttpTransport`. Plugging in the `reqwest::Client` that the REST
//! calls use means one connection pool, one DNS resolver and one rustls (`ring`) set-up for
//! REST and thousands of streams alike, HTTPS included, without the crate's hyper transport
//! and its proxy stack (whose rustls features were checked not to pull aws-lc either, but
//! would be a second copy of everything). Timeouts stay with the caller: the stream watches
//! for silence itself, and a client-wide timeout would cut long-lived streams.

use bytes::Bytes;
use futures_util::Stream;
use launchdarkly_sdk_transport::{
    ByteStream, HttpTransport, Request, Response, ResponseFuture, TransportError,
};
use sync_wrapper::{SyncFuture, SyncStream};

/// An [`HttpTransport`] over a shared `reqwest::Client` (which carries the auth headers).
#[derive(Clone)]
pub(crate) struct ReqwestTransport {
    http: reqwest::Client,
}

impl ReqwestTransport {
    pub(crate) fn new(http: reqwest::Client) -> Self {
        Self { http }
    }
}

impl HttpTransport for ReqwestTransport {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        let http = self.http.clone();
        let (parts, body) = request.into_parts();
        let request = Request::from_parts(parts, body.unwrap_or_default());
        // The trait wants `Sync` futures and streams; reqwest's are `Send` only. Both are only
        // ever polled through `&mut`, which is what `SyncFuture`/`SyncStream` make sound.
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
