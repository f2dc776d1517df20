//! The simulator's sockets: a listener that can stop listening for a while
//! (`Sim::refuse_connections_for`: the port really refuses connections) and
//! listen again on the same port, and connections that can be killed from
//! outside (refusal, shutdown) or reset with a TCP RST (mode 1 with
//! `reset_on_drop`). axum serves through these via its `Listener` trait.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::{CancellationToken, WaitForCancellationFutureOwned};

/// Control over the listening socket and the open connections.
pub(crate) struct Net {
    addr: SocketAddr,
    slot: Mutex<Slot>,
}

struct Slot {
    /// `None` while refusing (the port is closed) and after shutdown.
    listener: Option<TcpListener>,
    /// The accept loop to wake when a listener is back.
    waker: Option<Waker>,
    refuse_until: Option<Instant>,
    closed: bool,
    /// Parent of every open connection's token: cancelling it kills them all.
    connections: CancellationToken,
}

impl Net {
    /// Binds `addr` (port 0 picks a free port).
    pub(crate) async fn bind(addr: SocketAddr) -> io::Result<Arc<Self>> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        Ok(Arc::new(Self {
            addr,
            slot: Mutex::new(Slot {
                listener: Some(listener),
                waker: None,
                refuse_until: None,
                closed: false,
                connections: CancellationToken::new(),
            }),
        }))
    }

    /// The bound address.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the port now (connects are refused as soon as this returns),
    /// kills the open connections as a crashed server would, and listens
    /// again on the same port after `duration`.
    pub(crate) fn refuse_for(
        self: &Arc<Self>,
        duration: Duration,
        runtime: &tokio::runtime::Handle,
    ) {
        {
            let mut slot = self.slot();
            let until = Instant::now() + duration;
            slot.refuse_until = Some(slot.refuse_until.map_or(until, |u| u.max(until)));
            slot.listener = None;
            kill_connections(&mut slot);
        }
        let net = Arc::clone(self);
        runtime.spawn(async move { net.listen_again().await });
    }

    /// Rebinds once the refusal is over; gives up if the simulator shut down
    /// or another rebind got there first.
    async fn listen_again(&self) {
        loop {
            let wait = {
                let slot = self.slot();
                if slot.closed || slot.listener.is_some() {
                    return;
                }
                slot.refuse_until
                    .map(|until| until.saturating_duration_since(Instant::now()))
            };
            if let Some(wait) = wait.filter(|w| !w.is_zero()) {
                tokio::time::sleep(wait).await;
                continue;
            }
            match TcpListener::bind(self.addr).await {
                Ok(listener) => {
                    let mut slot = self.slot();
                    if slot.closed || slot.listener.is_some() {
                        return;
                    }
                    if slot
                        .refuse_until
                        .is_some_and(|until| until > Instant::now())
                    {
                        // Refused again meanwhile: drop this one, wait more.
                        continue;
                    }
                    slot.refuse_until = None;
                    slot.listener = Some(listener);
                    if let Some(waker) = slot.waker.take() {
                        waker.wake();
                    }
                    tracing::info!(addr = %self.addr, "listening again");
                    return;
                }
                Err(error) => {
                    tracing::warn!(%error, addr = %self.addr, "rebinding failed; retrying");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }
        }
    }

    /// Stops listening for good and kills every open connection.
    pub(crate) fn close(&self) {
        let mut slot = self.slot();
        slot.closed = true;
        slot.listener = None;
        kill_connections(&mut slot);
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(ConnIo, SocketAddr)>> {
        let mut slot = self.slot();
        slot.waker = Some(cx.waker().clone());
        let Some(listener) = &slot.listener else {
            return Poll::Pending;
        };
        match listener.poll_accept(cx) {
            Poll::Ready(Ok((stream, peer))) => {
                let conn = ConnHandle {
                    token: slot.connections.child_token(),
                    reset: Arc::new(AtomicBool::new(false)),
                };
                Poll::Ready(Ok((ConnIo::new(stream, conn), peer)))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => Poll::Pending,
        }
    }
}

fn kill_connections(slot: &mut Slot) {
    // A fresh parent for the connections accepted from now on.
    let old = std::mem::replace(&mut slot.connections, CancellationToken::new());
    old.cancel();
}

/// The listener axum serves from.
pub(crate) struct SimListener(pub(crate) Arc<Net>);

impl Listener for SimListener {
    type Io = ConnIo;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (ConnIo, SocketAddr) {
        loop {
            match poll_fn(|cx| self.0.poll_accept(cx)).await {
                Ok(accepted) => return accepted,
                Err(error) => {
                    // Out of file descriptors and the like: back off rather
                    // than spin, as axum's own listener does.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.0.addr())
    }
}

/// A handler's grip on the connection it answers on.
#[derive(Clone, Debug)]
pub(crate) struct ConnHandle {
    token: CancellationToken,
    reset: Arc<AtomicBool>,
}

impl ConnHandle {
    /// Aborts the connection with a TCP RST: the client sees the body cut
    /// off and "connection reset".
    pub(crate) fn reset(&self) {
        self.reset.store(true, Ordering::SeqCst);
        self.token.cancel();
    }

    /// Resolves once the connection is killed (reset, refusal, shutdown).
    pub(crate) async fn killed(&self) {
        self.token.cancelled().await;
    }

    pub(crate) fn is_killed(&self) -> bool {
        self.token.is_cancelled()
    }
}

impl Connected<IncomingStream<'_, SimListener>> for ConnHandle {
    fn connect_info(stream: IncomingStream<'_, SimListener>) -> Self {
        stream.io().conn.clone()
    }
}

/// A TCP connection that fails its reads and writes once killed, so hyper
/// drops it at once, and that closes with an RST when reset.
pub(crate) struct ConnIo {
    stream: TcpStream,
    conn: ConnHandle,
    killed: Pin<Box<WaitForCancellationFutureOwned>>,
}

impl ConnIo {
    fn new(stream: TcpStream, conn: ConnHandle) -> Self {
        let killed = Box::pin(conn.token.clone().cancelled_owned());
        Self {
            stream,
            conn,
            killed,
        }
    }

    /// Registers the task for waking on a kill; an error once killed.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        if self.conn.is_killed() || self.killed.as_mut().poll(cx).is_ready() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection killed by the simulator",
            ));
        }
        Ok(())
    }
}

impl Drop for ConnIo {
    fn drop(&mut self) {
        if self.conn.reset.load(Ordering::SeqCst) {
            // Zero linger turns the close into an RST: a reset, not an end.
            if let Err(error) = self.stream.set_zero_linger() {
                tracing::warn!(%error, "could not arm the reset");
            }
        }
    }
}

impl AsyncRead for ConnIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if let Err(error) = self.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for ConnIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if let Err(error) = self.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Err(error) = self.check(cx) {
            return Poll::Ready(Err(error));
        }
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}
