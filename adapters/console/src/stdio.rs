//! Standard input and output for the console, each on a thread of its own.
//!
//! Tokio's own `stdin()` reads on the runtime's blocking pool, and a blocking
//! read cannot be cancelled: a daemon stopped by SIGINT would then hang on
//! exit until the person presses Enter. Here a detached thread reads and
//! hands chunks over a channel; when the console stops listening, the
//! runtime does not wait for that thread, and the process exits at once.
//!
//! Tokio's `stdout()` hands each write, and then each flush, to the blocking
//! pool: two thread hand-offs per batch of output, the console's busiest path
//! under thousands of relays. Here one thread writes and flushes a batch in
//! one hand-off.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use std::io::Write;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{mpsc, oneshot};

/// Chunks in flight between the reading thread and the console: a little
/// read-ahead, and back-pressure on a fast pipe.
const CHUNKS_IN_FLIGHT: usize = 4;
const CHUNK_BYTES: usize = 8 * 1024;

/// Standard input as an [`AsyncRead`], fed by a detached thread.
pub(crate) struct ThreadedStdin {
    chunks: mpsc::Receiver<std::io::Result<Vec<u8>>>,
    chunk: Vec<u8>,
    pos: usize,
}

impl ThreadedStdin {
    /// Starts the reading thread. If the thread cannot be started, the
    /// reader reports that error on its first read.
    pub(crate) fn spawn() -> ThreadedStdin {
        let (tx, chunks) = mpsc::channel(CHUNKS_IN_FLIGHT);
        let reader_tx = tx.clone();
        let spawned = std::thread::Builder::new()
            .name("console-stdin".into())
            .spawn(move || read_into(std::io::stdin().lock(), &reader_tx));
        if let Err(e) = spawned {
            let _ = tx.try_send(Err(e));
        }
        ThreadedStdin {
            chunks,
            chunk: Vec::new(),
            pos: 0,
        }
    }
}

/// Reads until end of input, an error, or nobody listening any more.
fn read_into(mut input: impl Read, tx: &mpsc::Sender<std::io::Result<Vec<u8>>>) {
    let mut buf = vec![0; CHUNK_BYTES];
    loop {
        let chunk = match input.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => Ok(buf[..n].to_vec()),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => Err(e),
        };
        let failed = chunk.is_err();
        if tx.blocking_send(chunk).is_err() || failed {
            return;
        }
    }
}

impl AsyncRead for ThreadedStdin {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        while this.pos >= this.chunk.len() {
            match ready!(this.chunks.poll_recv(cx)) {
                Some(Ok(chunk)) => {
                    this.chunk = chunk;
                    this.pos = 0;
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                // The thread ended: end of input.
                None => return Poll::Ready(Ok(())),
            }
        }
        let n = buf.remaining().min(this.chunk.len() - this.pos);
        buf.put_slice(&this.chunk[this.pos..this.pos + n]);
        this.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// A batch for the writing thread, and where it answers: the write's outcome and the buffer
/// back, to be reused.
type Batch = (Vec<u8>, oneshot::Sender<(std::io::Result<()>, Vec<u8>)>);

/// Standard output as an [`AsyncWrite`], written by a thread of its own. A write hands its
/// bytes over and returns; a flush (or the next write) waits until the thread has written and
/// flushed them.
pub(crate) struct ThreadedStdout {
    batches: std::sync::mpsc::Sender<Batch>,
    /// The batch handed over and not yet answered.
    in_flight: Option<oneshot::Receiver<(std::io::Result<()>, Vec<u8>)>>,
    /// A buffer the thread gave back.
    spare: Vec<u8>,
}

impl ThreadedStdout {
    /// Starts the writing thread, which ends when this is dropped. If it cannot be started,
    /// every write reports that.
    pub(crate) fn spawn() -> std::io::Result<ThreadedStdout> {
        let (batches, to_write) = std::sync::mpsc::channel::<Batch>();
        std::thread::Builder::new()
            .name("console-stdout".into())
            .spawn(move || {
                for (batch, done) in to_write {
                    // Locked per batch: anything else printing is not shut out for good.
                    let mut out = std::io::stdout().lock();
                    let result = out.write_all(&batch).and_then(|()| out.flush());
                    drop(out);
                    let _ = done.send((result, batch));
                }
            })?;
        Ok(ThreadedStdout {
            batches,
            in_flight: None,
            spare: Vec::new(),
        })
    }

    /// Waits for the batch in flight, if any, and takes its buffer back.
    fn poll_in_flight(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let Some(in_flight) = &mut self.in_flight else {
            return Poll::Ready(Ok(()));
        };
        let answer = ready!(Pin::new(in_flight).poll(cx));
        self.in_flight = None;
        Poll::Ready(match answer {
            Ok((result, mut buffer)) => {
                buffer.clear();
                self.spare = buffer;
                result
            }
            Err(_) => Err(writer_gone()),
        })
    }
}

fn writer_gone() -> std::io::Error {
    std::io::Error::other("the console's output thread has stopped")
}

impl AsyncWrite for ThreadedStdout {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        ready!(this.poll_in_flight(cx))?;
        let mut batch = std::mem::take(&mut this.spare);
        batch.extend_from_slice(buf);
        let (done, answer) = oneshot::channel();
        this.batches
            .send((batch, done))
            .map_err(|_| writer_gone())?;
        this.in_flight = Some(answer);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_in_flight(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.poll_in_flight(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    #[tokio::test]
    async fn writes_are_handed_over_and_flushed_in_order() {
        // Standard output of the test process: what matters is that every write completes,
        // in order, and the buffer comes back for the next.
        let mut out = ThreadedStdout::spawn().expect("a thread");
        out.write_all(b"\n").await.expect("written");
        out.flush().await.expect("flushed");
        assert!(out.in_flight.is_none());
        for _ in 0..3 {
            out.write_all(b"\n").await.expect("written");
            assert!(out.in_flight.is_some(), "handed over, not waited for");
            out.flush().await.expect("flushed");
            assert!(out.in_flight.is_none(), "the flush waited for the thread");
        }
    }
}
