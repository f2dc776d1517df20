//! How an HTTP/1.1 response body of an event stream is delimited (RFC 9112 §6.3), and the
//! decoding of each kind: chunked, a `Content-Length`, or everything until the server closes.
//!
//! Pure: it takes the bytes read so far and hands back body data as it becomes complete, so
//! it is tested without a socket. The reading itself is [`super::stream_http`]'s.

use bytes::{Buf, Bytes, BytesMut};

/// Longest chunk-size or trailer line accepted. A size line is a few hex digits and, rarely,
/// an extension; anything longer is not a server speaking HTTP.
const MAX_LINE: usize = 4096;

/// What the bytes read so far gave.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// A piece of the body.
    Data(Bytes),
    /// Nothing until more bytes are read.
    NeedMore,
    /// The body is complete.
    End,
}

/// A body that breaks its own framing.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum FramingError {
    #[error("invalid chunk size line")]
    ChunkSize,
    #[error("chunk data not followed by CRLF")]
    ChunkEnd,
    #[error("chunk size or trailer line longer than {MAX_LINE} bytes")]
    LineTooLong,
    #[error("the server closed the connection before the body was complete")]
    Truncated,
}

/// How the body is delimited, and how far decoding has got.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// `Transfer-Encoding: chunked` (what an event stream normally is).
    Chunked(Chunk),
    /// `Content-Length`: this many bytes still to come.
    Length(u64),
    /// Neither: the body ends when the server closes the connection.
    UntilClose,
    /// No body (1xx, 204, 304, or a length of zero), or one already complete.
    Done,
}

/// Where a chunked body stands.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Chunk {
    /// A chunk-size line is next.
    Size,
    /// This many bytes of the current chunk's data are still to come.
    Data(u64),
    /// The CRLF after a chunk's data is next.
    DataEnd,
    /// After the last chunk: trailer lines, up to an empty one.
    Trailers,
}

impl Framing {
    /// The framing of a response with `status` and these header values (RFC 9112 §6.3: a
    /// transfer coding wins over a length; a coding other than chunked last means the body
    /// runs until the connection closes).
    pub(crate) fn of(
        status: u16,
        transfer_encoding: Option<&[u8]>,
        content_length: Option<&[u8]>,
    ) -> Result<Framing, &'static str> {
        if (100..200).contains(&status) || status == 204 || status == 304 {
            return Ok(Framing::Done);
        }
        if let Some(codings) = transfer_encoding {
            let last = codings.rsplit(|b| *b == b',').next().unwrap_or_default();
            return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                Framing::Chunked(Chunk::Size)
            } else {
                Framing::UntilClose
            });
        }
        match content_length {
            None => Ok(Framing::UntilClose),
            Some(value) => match std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
            {
                Some(0) => Ok(Framing::Done),
                Some(length) => Ok(Framing::Length(length)),
                None => Err("invalid Content-Length"),
            },
        }
    }

    /// Takes what it can from `buf`: one piece of body data, or the news that the body ended
    /// or that more bytes are needed. Data is split off `buf` without copying.
    pub(crate) fn next(&mut self, buf: &mut BytesMut) -> Result<Step, FramingError> {
        loop {
            match self {
                Framing::Done => return Ok(Step::End),
                Framing::UntilClose => {
                    return Ok(if buf.is_empty() {
                        Step::NeedMore
                    } else {
                        Step::Data(buf.split().freeze())
                    });
                }
                Framing::Length(left) => {
                    let Some(data) = take(buf, left) else {
                        return Ok(Step::NeedMore);
                    };
                    if *left == 0 {
                        *self = Framing::Done;
                    }
                    return Ok(Step::Data(data));
                }
                Framing::Chunked(chunk) => match chunk {
                    Chunk::Size => match httparse::parse_chunk_size(buf) {
                        Ok(httparse::Status::Complete((used, size))) => {
                            buf.advance(used);
                            *chunk = if size == 0 {
                                Chunk::Trailers
                            } else {
                                Chunk::Data(size)
                            };
                        }
                        Ok(httparse::Status::Partial) if buf.len() > MAX_LINE => {
                            return Err(FramingError::LineTooLong);
                        }
                        Ok(httparse::Status::Partial) => return Ok(Step::NeedMore),
                        Err(_) => return Err(FramingError::ChunkSize),
                    },
                    Chunk::Data(left) => {
                        let Some(data) = take(buf, left) else {
                            return Ok(Step::NeedMore);
                        };
                        if *left == 0 {
                            *chunk = Chunk::DataEnd;
                        }
                        return Ok(Step::Data(data));
                    }
                    Chunk::DataEnd => {
                        if buf.len() < 2 {
                            return Ok(Step::NeedMore);
                        }
                        if &buf[..2] != b"\r\n" {
                            return Err(FramingError::ChunkEnd);
                        }
                        buf.advance(2);
                        *chunk = Chunk::Size;
                    }
                    Chunk::Trailers => {
                        // Trailers are not used by event streams; they are read past.
                        let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
                            if buf.len() > MAX_LINE {
                                return Err(FramingError::LineTooLong);
                            }
                            return Ok(Step::NeedMore);
                        };
                        buf.advance(end + 2);
                        if end == 0 {
                            *self = Framing::Done;
                        }
                    }
                },
            }
        }
    }

    /// The connection was closed: fine only for a body that ends that way (or has ended).
    pub(crate) fn at_close(&self) -> Result<(), FramingError> {
        match self {
            Framing::UntilClose | Framing::Done => Ok(()),
            _ => Err(FramingError::Truncated),
        }
    }
}

/// Up to `left` bytes from the front of `buf` (`None` when it is empty), counted off `left`.
fn take(buf: &mut BytesMut, left: &mut u64) -> Option<Bytes> {
    if buf.is_empty() {
        return None;
    }
    let n = usize::try_from(*left).map_or(buf.len(), |left| left.min(buf.len()));
    *left -= n as u64;
    Some(buf.split_to(n).freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `input` one slice at a time and collects the body until it ends.
    fn decode(mut framing: Framing, pieces: &[&[u8]]) -> Result<(Vec<u8>, bool), FramingError> {
        let mut buf = BytesMut::new();
        let mut body = Vec::new();
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                match framing.next(&mut buf)? {
                    Step::Data(data) => body.extend_from_slice(&data),
                    Step::NeedMore => break,
                    Step::End => return Ok((body, true)),
                }
            }
        }
        Ok((body, false))
    }

    #[test]
    fn a_chunked_body_split_anywhere_decodes_to_the_same_bytes() {
        let wire: &[u8] =
            b"7\r\nevent: \r\n17;ext=1\r\nstep.started\ndata: {}\n\n\r\n0\r\nX-T: 1\r\n\r\n";
        let whole = decode(Framing::Chunked(Chunk::Size), &[wire]).unwrap();
        assert_eq!(
            whole,
            (b"event: step.started\ndata: {}\n\n".to_vec(), true),
            "extensions and trailers are read past"
        );
        for cut in 0..wire.len() {
            let (a, b) = wire.split_at(cut);
            assert_eq!(
                decode(Framing::Chunked(Chunk::Size), &[a, b]).unwrap(),
                whole,
                "cut at {cut}"
            );
        }
        let bytewise: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(
            decode(Framing::Chunked(Chunk::Size), &bytewise).unwrap(),
            whole
        );
    }

    #[test]
    fn a_chunked_body_that_breaks_its_framing_is_an_error() {
        let bad_size = decode(Framing::Chunked(Chunk::Size), &[b"zz\r\n"]);
        assert_eq!(bad_size, Err(FramingError::ChunkSize));
        let no_crlf = decode(Framing::Chunked(Chunk::Size), &[b"2\r\nabXY"]);
        assert_eq!(no_crlf, Err(FramingError::ChunkEnd));
        let too_many_digits = decode(Framing::Chunked(Chunk::Size), &[b"10000000000000000\r\n"]);
        assert_eq!(too_many_digits, Err(FramingError::ChunkSize));
        let mut endless = b"1;".to_vec();
        endless.resize(MAX_LINE + 1, b'x');
        let too_long = decode(Framing::Chunked(Chunk::Size), &[&endless]);
        assert_eq!(too_long, Err(FramingError::LineTooLong));
    }

    #[test]
    fn a_closed_connection_ends_only_a_body_that_ends_that_way() {
        let mut chunked = Framing::Chunked(Chunk::Data(3));
        assert_eq!(chunked.at_close(), Err(FramingError::Truncated));
        let mut buf = BytesMut::from(&b"abc\r\n0\r\n\r\n"[..]);
        assert_eq!(
            chunked.next(&mut buf),
            Ok(Step::Data(Bytes::from_static(b"abc")))
        );
        assert_eq!(chunked.next(&mut buf), Ok(Step::End));
        assert_eq!(chunked.at_close(), Ok(()));
        assert_eq!(Framing::UntilClose.at_close(), Ok(()));
        assert_eq!(Framing::Length(1).at_close(), Err(FramingError::Truncated));
    }

    #[test]
    fn a_length_body_stops_at_its_length() {
        let (body, ended) = decode(Framing::Length(5), &[b"hel", b"lo and more"]).unwrap();
        assert_eq!((body.as_slice(), ended), (&b"hello"[..], true));
    }

    #[test]
    fn the_framing_follows_rfc_9112() {
        assert_eq!(Framing::of(204, None, Some(b"10")), Ok(Framing::Done));
        assert_eq!(Framing::of(304, Some(b"chunked"), None), Ok(Framing::Done));
        assert_eq!(
            Framing::of(200, Some(b"gzip, Chunked"), Some(b"10")),
            Ok(Framing::Chunked(Chunk::Size)),
            "a transfer coding wins over a length"
        );
        assert_eq!(
            Framing::of(200, Some(b"gzip"), None),
            Ok(Framing::UntilClose)
        );
        assert_eq!(
            Framing::of(200, None, Some(b" 12 ")),
            Ok(Framing::Length(12))
        );
        assert_eq!(Framing::of(200, None, Some(b"0")), Ok(Framing::Done));
        assert_eq!(Framing::of(200, None, None), Ok(Framing::UntilClose));
        assert!(Framing::of(200, None, Some(b"-1")).is_err());
    }
}
