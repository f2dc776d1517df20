//! Relay positions, written by one task in group commits.
//!
//! Every relay records how far it got after each post. One transaction per record was one
//! commit per posted batch: SQLite has one writer and syncs each commit, so thousands of
//! relays queued behind each other's commits and fell seconds behind their events. Here relays
//! hand their positions to one writer task, which takes everything waiting, writes it as one
//! transaction (`Store::record_positions`), and answers each relay once it has committed.
//!
//! A relay hands a position over only after its post, so the rule stays: a position is never
//! written ahead of what it covers. It does not wait for the commit before reading its next
//! event (a commit can take tens of milliseconds, more than the gap between two events of a
//! busy job); it waits for its last one before it stops, so a relay that has stopped has its
//! last position in the store. A crash loses what was handed over and not yet committed: those
//! events are shown again after a restart, as a crash between a post and its record always
//! did.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};

use crate::store::{Position, Store, StoreError};

/// The most positions written in one transaction; more wait for the next.
const MAX_GROUP: usize = 4096;

/// Why a position was not recorded.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum RecordError {
    /// The group's transaction failed.
    #[error(transparent)]
    Store(Arc<StoreError>),
    /// The writer task is gone (the runtime is shutting down).
    #[error("the relay positions' writer has stopped")]
    WriterGone,
}

/// A position waiting to be written, and whom to tell.
struct Waiting {
    position: Position,
    done: oneshot::Sender<Result<(), RecordError>>,
}

/// The handle relays record through. The writer ends when the last handle is dropped, after
/// writing what waits.
#[derive(Clone)]
pub(crate) struct PositionWriter {
    queue: mpsc::UnboundedSender<Waiting>,
}

impl PositionWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn start(store: Store) -> PositionWriter {
        let (queue, waiting) = mpsc::unbounded_channel();
        tokio::spawn(write_groups(store, waiting));
        PositionWriter { queue }
    }

    /// Hands `position` to the writer; the answer says when it is committed (with the others
    /// of its group), or why not.
    pub(crate) fn submit(&self, position: Position) -> Recording {
        let (done, committed) = oneshot::channel();
        // A send fails only once the writer is gone; the answer then says so.
        let _ = self.queue.send(Waiting { position, done });
        Recording { committed }
    }
}

/// A submitted position, to await when it matters that it is in the store.
pub(crate) struct Recording {
    committed: oneshot::Receiver<Result<(), RecordError>>,
}

impl Recording {
    /// Waits until the position is committed.
    pub(crate) async fn committed(self) -> Result<(), RecordError> {
        self.committed.await.unwrap_or(Err(RecordError::WriterGone))
    }
}

/// Writes what waits as one transaction, answers, and again, until every handle is gone.
async fn write_groups(store: Store, mut waiting: mpsc::UnboundedReceiver<Waiting>) {
    let mut group = Vec::new();
    let mut positions = Vec::new();
    let mut answers = Vec::new();
    while waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
        for Waiting { position, done } in group.drain(..) {
            positions.push(position);
            answers.push(done);
        }
        let result = store
            .record_positions(&positions)
            .await
            .map_err(|error| RecordError::Store(Arc::new(error)));
        if let Err(error) = &result {
            tracing::error!(%error, positions = positions.len(), "could not record relay positions");
        }
        for done in answers.drain(..) {
            let _ = done.send(result.clone());
        }
        positions.clear();
    }
}
