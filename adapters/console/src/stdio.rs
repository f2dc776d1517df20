//! Standard input for the console, read on a thread of its own.
//!
//! Tokio's own `stdin()` reads on the runtime's blocking pool, and a blocking
//! read cannot be cancelled: a daemon stopped by SIGINT would then hang on
//! exit until the person presses Enter. Here a detached thread reads and
//! hands chunks over a channel; when the console stops listening, the
//! runtime does not wait for that thread, and the process exits at once.

use std::io::Read;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::mpsc;

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
