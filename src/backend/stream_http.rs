//! The HTTP/1.1 client of direct event-stream connections: one `GET` per connection, its
//! response head parsed with `httparse`, its body handed to eventsource-client as it arrives.
//!
//! Why not hyper, which the REST calls use through reqwest: a stream holds its connection for
//! as long as its job runs, so a connection's resting cost is a followed job's cost, and
//! hyper's is fixed at about 20 KiB that no setting changes: an 8 KiB header write buffer kept
//! for the connection's life, the first block of its request channel (32 request slots,
//! ~9 KiB, to carry one request), and a connection task. heaptrack put that at half the bot's
//! memory per job at 2,000 jobs. A stream needs none of it: it sends one request and never
//! reuses the connection. Here a resting connection holds its socket (and TLS state) and no
//! buffer at all: reads go through a buffer on the stack and only the bytes of an unfinished
//! line or chunk are kept between reads.
//!
//! What stays hyper's ecosystem: connecting (DNS, connect timeout, `TCP_NODELAY`, rustls) is
//! hyper-rustls's connector over hyper-util's `HttpConnector`, as before.

use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use futures_util::Stream;
use hyper_rustls::MaybeHttpsStream;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioIo;
use launchdarkly_sdk_transport::{
    ByteStream, HeaderMap, HttpTransport, Request, Response, ResponseFuture, TransportError, Uri,
};
use sync_wrapper::{SyncFuture, SyncStream};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, ReadBuf};
use tower_service::Service;

use super::framing::{Framing, FramingError, Step};

/// Bytes read from the socket at a time, on the stack. Larger than an event line (a few
/// hundred bytes) so that a burst or a replay of stored events takes few reads.
const READ_CHUNK: usize = 4096;

/// Longest response head accepted (hyper's default limit is ~400 KiB of buffer; a stream's
/// head is a few hundred bytes, so this is generous).
const MAX_HEAD: usize = 64 * 1024;

/// Most header lines in a response head.
const MAX_HEADERS: usize = 64;

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;
type Connection = TokioIo<MaybeHttpsStream<TokioIo<tokio::net::TcpStream>>>;

/// Why a stream request failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StreamHttpError {
    /// No connection was made (refused, DNS, connect timeout, TLS handshake): what reqwest
    /// calls a connect error.
    #[error("cannot connect")]
    Connect(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("invalid response head: {0}")]
    Head(String),
    #[error("response head longer than {MAX_HEAD} bytes")]
    HeadTooLarge,
    #[error("the server closed the connection before answering")]
    NoAnswer,
    #[error(transparent)]
    Body(#[from] FramingError),
}

impl StreamHttpError {
    /// Whether the request failed before any connection existed.
    pub(crate) fn is_connect(&self) -> bool {
        matches!(self, StreamHttpError::Connect(_))
    }
}

/// Direct stream connections. Cheap to clone (the connector's parts are shared).
#[derive(Clone)]
pub(crate) struct DirectTransport {
    connector: HttpsConnector,
    headers: Arc<HeaderMap>,
}

impl DirectTransport {
    /// `headers` (authorization, workspace) go on every request.
    pub(crate) fn new(
        headers: HeaderMap,
        connect_timeout: Duration,
    ) -> Result<Self, rustls::Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(connect_timeout));
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            connector,
            headers: Arc::new(headers),
        })
    }
}

impl HttpTransport for DirectTransport {
    fn request(&self, request: Request<Option<Bytes>>) -> ResponseFuture {
        let mut connector = self.connector.clone();
        let headers = self.headers.clone();
        // The trait wants `Sync` futures and streams; the connector's are `Send` only. Both are
        // only ever polled through `&mut`, which is what `SyncFuture`/`SyncStream` make sound.
        Box::pin(SyncFuture::new(async move {
            let head = request_head(&request, &headers);
            let uri = request.uri().clone();
            let mut io = TokioIo::new(
                connector
                    .call(uri)
                    .await
                    .map_err(|e| TransportError::new(StreamHttpError::Connect(e)))?,
            );
            send(&mut io, &head, request.body().as_deref())
                .await
                .map_err(TransportError::new)?;
            let (response, body) = read_head(io).await.map_err(TransportError::new)?;
            let stream: ByteStream = Box::pin(SyncStream::new(body));
            Ok(response.map(|()| stream))
        }))
    }
}

/// The request line and headers: the caller's, then ours (which replace any of the same name),
/// then `Host` and `Content-Length` where needed.
fn request_head(request: &Request<Option<Bytes>>, ours: &HeaderMap) -> Vec<u8> {
    let uri = request.uri();
    let target = uri.path_and_query().map_or("/", |p| p.as_str());
    let mut head = Vec::with_capacity(512);
    head.extend_from_slice(request.method().as_str().as_bytes());
    head.extend_from_slice(b" ");
    head.extend_from_slice(target.as_bytes());
    head.extend_from_slice(b" HTTP/1.1\r\n");
    let mut line = |name: &[u8], value: &[u8]| {
        head.extend_from_slice(name);
        head.extend_from_slice(b": ");
        head.extend_from_slice(value);
        head.extend_from_slice(b"\r\n");
    };
    if !request.headers().contains_key("host") {
        line(b"host", host(uri).as_bytes());
    }
    for (name, value) in request.headers() {
        if !ours.contains_key(name) {
            line(name.as_str().as_bytes(), value.as_bytes());
        }
    }
    for (name, value) in ours {
        line(name.as_str().as_bytes(), value.as_bytes());
    }
    if let Some(body) = request.body() {
        line(b"content-length", body.len().to_string().as_bytes());
    }
    head.extend_from_slice(b"\r\n");
    head
}

/// `Host`: the authority without user info, its port only when not the scheme's default.
fn host(uri: &Uri) -> String {
    let host = uri.host().unwrap_or_default();
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    match uri.port_u16() {
        Some(port) if port != default_port => format!("{host}:{port}"),
        _ => host.to_owned(),
    }
}

async fn send(io: &mut Connection, head: &[u8], body: Option<&[u8]>) -> std::io::Result<()> {
    io.write_all(head).await?;
    if let Some(body) = body {
        io.write_all(body).await?;
    }
    io.flush().await
}

/// Reads up to the end of the final response head (skipping informational 1xx ones); the
/// response and its body, which starts with whatever was read past the head.
async fn read_head(mut io: Connection) -> Result<(Response<()>, Body), StreamHttpError> {
    let mut buf = BytesMut::new();
    loop {
        if let Some((response, framing)) = parse_head(&mut buf)? {
            let body = Body {
                io,
                buf,
                framing,
                done: false,
            };
            return Ok((response, body));
        }
        if buf.len() > MAX_HEAD {
            return Err(StreamHttpError::HeadTooLarge);
        }
        // The head is read once per connection: a heap buffer here costs nothing at rest.
        buf.reserve(1024);
        if io.read_buf(&mut buf).await? == 0 {
            return Err(StreamHttpError::NoAnswer);
        }
    }
}

/// The final response head at the front of `buf`, taken off it, and how its body is framed;
/// `None` while the head is incomplete.
fn parse_head(buf: &mut BytesMut) -> Result<Option<(Response<()>, Framing)>, StreamHttpError> {
    loop {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Response::new(&mut headers);
        let used = match parsed.parse(buf) {
            Ok(httparse::Status::Complete(used)) => used,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(StreamHttpError::Head(error.to_string())),
        };
        let status = parsed.code.unwrap_or_default();
        if (100..200).contains(&status) && status != 101 {
            // `100 Continue` and the like precede the real answer.
            buf.advance(used);
            continue;
        }
        let mut builder = Response::builder().status(status);
        let (mut transfer_encoding, mut content_length) = (None::<Vec<u8>>, None::<&[u8]>);
        for header in parsed.headers.iter() {
            if header.name.eq_ignore_ascii_case("transfer-encoding") {
                // Several fields make one comma-separated list (RFC 9110 §5.3).
                let list = transfer_encoding.get_or_insert_with(Vec::new);
                if !list.is_empty() {
                    list.push(b',');
                }
                list.extend_from_slice(header.value);
            } else if header.name.eq_ignore_ascii_case("content-length") {
                if content_length.is_some_and(|earlier| earlier != header.value) {
                    return Err(StreamHttpError::Head("conflicting Content-Length".into()));
                }
                content_length = Some(header.value);
            }
            builder = builder.header(header.name, header.value);
        }
        let framing = Framing::of(status, transfer_encoding.as_deref(), content_length)
            .map_err(|e| StreamHttpError::Head(e.into()))?;
        let response = builder
            .body(())
            .map_err(|e| StreamHttpError::Head(e.to_string()))?;
        buf.advance(used);
        return Ok(Some((response, framing)));
    }
}

/// A response body as it arrives. At rest it holds the connection and only the bytes of an
/// unfinished chunk-size line, if any: see the module doc.
struct Body {
    io: Connection,
    /// Bytes read and not yet decoded.
    buf: BytesMut,
    framing: Framing,
    done: bool,
}

impl Body {
    fn fail(&mut self, error: StreamHttpError) -> Poll<Option<Result<Bytes, TransportError>>> {
        self.done = true;
        Poll::Ready(Some(Err(TransportError::new(error))))
    }
}

impl Stream for Body {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if this.done {
                return Poll::Ready(None);
            }
            match this.framing.next(&mut this.buf) {
                Ok(Step::Data(data)) => {
                    if this.buf.is_empty() {
                        // Let the data just split off own the allocation alone: it is freed
                        // when the parser has taken its bytes.
                        this.buf = BytesMut::new();
                    }
                    return Poll::Ready(Some(Ok(data)));
                }
                Ok(Step::End) => {
                    this.done = true;
                    return Poll::Ready(None);
                }
                Ok(Step::NeedMore) => {}
                Err(error) => return this.fail(error.into()),
            }
            // On the stack: nothing is held between reads (see the module doc). Left
            // uninitialised (the reader writes before anything is read back): zeroing 4 KiB for
            // every read of an event or two was the costliest step of the read (callgrind,
            // relay bench: ~7% of the bot's instructions).
            let mut chunk = [MaybeUninit::<u8>::uninit(); READ_CHUNK];
            let mut read = ReadBuf::uninit(&mut chunk);
            match Pin::new(&mut this.io).poll_read(cx, &mut read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(error)) => return this.fail(error.into()),
                Poll::Ready(Ok(())) if read.filled().is_empty() => {
                    if let Err(error) = this.framing.at_close() {
                        return this.fail(error.into());
                    }
                    this.done = true;
                    return Poll::Ready(None);
                }
                Poll::Ready(Ok(())) => this.buf.extend_from_slice(read.filled()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_head_carries_host_the_callers_headers_and_ours_in_their_place() {
        let request = Request::get("http://sim.test:8080/runner-jobs/j/events/stream?x=1")
            .header("accept", "text/event-stream")
            .header("authorization", "Bearer stale")
            .body(None)
            .unwrap();
        let mut ours = HeaderMap::new();
        ours.insert("authorization", "Bearer t".parse().unwrap());
        let head = String::from_utf8(request_head(&request, &ours)).unwrap();
        assert_eq!(
            head,
            "GET /runner-jobs/j/events/stream?x=1 HTTP/1.1\r\nhost: sim.test:8080\r\n\
             accept: text/event-stream\r\nauthorization: Bearer t\r\n\r\n"
        );
        let default_port = Request::get("https://api.test:443").body(None).unwrap();
        let head = String::from_utf8(request_head(&default_port, &HeaderMap::new())).unwrap();
        assert_eq!(head, "GET / HTTP/1.1\r\nhost: api.test\r\n\r\n");
    }

    #[test]
    fn a_head_is_read_past_informational_answers_and_leaves_the_body_behind() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\
               Transfer-Encoding: chunked\r\n\r\n5\r\nhello"[..],
        );
        let (response, framing) = parse_head(&mut buf).unwrap().unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        assert_eq!(
            framing,
            Framing::Chunked(super::super::framing::Chunk::Size)
        );
        assert_eq!(&buf[..], b"5\r\nhello");
    }

    #[test]
    fn an_incomplete_head_waits_and_a_bad_one_is_an_error() {
        let mut partial =
            BytesMut::from(&b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\n"[..]);
        assert!(parse_head(&mut partial).unwrap().is_none());
        assert_eq!(partial.len(), 50, "nothing is taken off an incomplete head");
        let mut refused = BytesMut::from(
            &b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 2\r\ncontent-length: 3\r\n\r\nbye"
                [..],
        );
        let (response, framing) = parse_head(&mut refused).unwrap().unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.headers()["retry-after"], "2");
        assert_eq!(framing, Framing::Length(3));
        let mut conflicting = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\ncontent-length: 4\r\n\r\n"[..],
        );
        assert!(matches!(
            parse_head(&mut conflicting),
            Err(StreamHttpError::Head(_))
        ));
        let mut garbage = BytesMut::from(&b"SSH-2.0-OpenSSH\r\n\r\n"[..]);
        assert!(matches!(
            parse_head(&mut garbage),
            Err(StreamHttpError::Head(_))
        ));
    }
}
