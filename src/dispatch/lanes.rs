//! Lanes: inbound messages handled concurrently across channels and in
//! order within one. A `fix` waiting on a slow backend in one channel must
//! not hold up `help` in another, while `fix` then `verbose` typed in one
//! thread must still be carried out in that order.
//!
//! One lane (a task and its queue) per platform channel, started on its
//! first message and ended after a quiet minute. Handled one at a time
//! with `Dispatcher::handle` (a button press, with `Dispatcher::handle_press`,
//! in the same lane as the messages of its channel, so a press after a
//! typed command comes after it); a permit per queued message bounds how much
//! input waits in memory, so a flood slows its platform's reader instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use mosaic_chat::{Inbound, Platform, Press};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::Dispatcher;

/// Messages accepted but not yet handled, all lanes together.
const MAX_WAITING: usize = 512;

/// A lane with nothing to do for this long ends (the next message starts a new one).
const IDLE: Duration = Duration::from_secs(60);

type Key = (Platform, String);
/// Boxed in the queue: a queue allocates its slots 32 at a time, and a lane lives a minute
/// after its last message, so an unboxed `Work` (a whole `Inbound`) cost every recently
/// active channel ~9 KB (massif, relay bench); boxed, under 1 KB.
type Queue = mpsc::UnboundedSender<(Box<Work>, OwnedSemaphorePermit)>;

/// What a lane handles.
enum Work {
    Message(Inbound),
    Press(Press),
}

/// Hands each message to its channel's lane.
pub struct Lanes {
    dispatcher: Dispatcher,
    queues: Arc<Mutex<HashMap<Key, Queue>>>,
    permits: Arc<Semaphore>,
    tasks: TaskTracker,
    shutdown: CancellationToken,
}

impl Lanes {
    /// Lanes for `dispatcher`; `shutdown` drops the messages still queued
    /// and interrupts those being handled.
    pub fn new(dispatcher: Dispatcher, shutdown: CancellationToken) -> Lanes {
        Lanes {
            dispatcher,
            queues: Arc::default(),
            permits: Arc::new(Semaphore::new(MAX_WAITING)),
            tasks: TaskTracker::new(),
            shutdown,
        }
    }

    /// Queues `inbound` on its channel's lane, waiting while too many
    /// messages wait already.
    pub async fn submit(&self, inbound: Inbound) {
        let key = (inbound.platform, inbound.channel.clone());
        self.queue(key, Work::Message(inbound)).await;
    }

    /// Queues a button press on its channel's lane, as [`submit`](Lanes::submit).
    pub async fn submit_press(&self, press: Press) {
        let key = (press.platform, press.channel.clone());
        self.queue(key, Work::Press(press)).await;
    }

    async fn queue(&self, key: Key, work: Work) {
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            // The semaphore is never closed.
            return;
        };
        let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
        let message = (Box::new(work), permit);
        // A lane that just ended left its entry behind only if it could not
        // remove it; sending then fails and a new lane takes the message.
        let message = match queues.get(&key) {
            Some(queue) => match queue.send(message) {
                Ok(()) => return,
                Err(mpsc::error::SendError(message)) => message,
            },
            None => message,
        };
        let (queue, receiver) = mpsc::unbounded_channel();
        // A new channel's receiver is open: this send cannot fail.
        let _ = queue.send(message);
        queues.insert(key.clone(), queue);
        self.tasks.spawn(lane(
            self.dispatcher.clone(),
            key,
            receiver,
            Arc::clone(&self.queues),
            self.shutdown.clone(),
        ));
    }

    /// No more input: every lane finishes what it has, then this returns.
    pub async fn drain(&self) {
        self.queues
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

async fn lane(
    dispatcher: Dispatcher,
    key: Key,
    mut receiver: mpsc::UnboundedReceiver<(Box<Work>, OwnedSemaphorePermit)>,
    queues: Arc<Mutex<HashMap<Key, Queue>>>,
    shutdown: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => return,
            next = tokio::time::timeout(IDLE, receiver.recv()) => next,
        };
        match next {
            Ok(Some((work, _permit))) => {
                // Boxed: handling a message is a large future, and an idle lane would
                // otherwise keep room for it (~7 KB a lane, massif) while it waits a minute.
                let handled = Box::pin(async {
                    match *work {
                        Work::Message(inbound) => dispatcher.handle(inbound).await,
                        Work::Press(press) => dispatcher.handle_press(press).await,
                    }
                });
                tokio::select! {
                    // A command waiting on a slow backend must not hold up a
                    // shutdown: the handler is dropped when the signal comes.
                    () = handled => {}
                    () = shutdown.cancelled() => return,
                }
            }
            Ok(None) => return,
            Err(_idle) => {
                // Under the lock no message can be queued meanwhile: either
                // one already was (go on), or the lane ends and the next
                // message starts a new one.
                let mut queues = queues.lock().unwrap_or_else(PoisonError::into_inner);
                if receiver.is_empty() {
                    queues.remove(&key);
                    return;
                }
            }
        }
    }
}
