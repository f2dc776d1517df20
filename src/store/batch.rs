//! SQLite's group commit: one task runs every [`Write`] of the store, each group of writes
//! that waited together as one transaction.
//!
//! SQLite has one writer at a time, and each commit writes the pages it changed to the log.
//! Under the relay bench (5,000 jobs starting over five seconds) the store made six commits per
//! job, from four connections contending for the file's lock (sleeping in SQLite's busy
//! handler), and each write cost a connection checkout whose release pings the connection's
//! thread (sqlx does so on every release). Here one task holds one connection per group: it
//! takes whatever writes wait, runs them in order in one `BEGIN IMMEDIATE` transaction, commits
//! once, then answers each. A write that arrives while a group runs waits for the next group,
//! so a quiet store answers a lone write at once, and a busy one makes few large commits.
//!
//! Each write is answered only after its group committed, so a caller that was answered has
//! its write in the store, as before. A write that fails (an engine error, a duplicate job)
//! would roll the whole group back: the group is then run again one write at a time, each in a
//! transaction of its own, so that every write gets the answer it would have got alone. A
//! failed commit fails every write of its group (none of them is in the store).
//!
//! While groups follow each other, this task holds SQLite's write lock nearly all the time; a
//! write from another connection waits in SQLite's busy handler, which sleeps and retries and
//! can miss the short gaps between groups (an adapter's memory write waited a second at 5,000
//! jobs). So the keeper's heartbeat and the adapters' memory go through here too; the rare
//! writes left outside (claims at start-up, a hand-back's release, an edit's acted mark, purges)
//! wait at most the busy timeout and are retried or reported by their callers.

use std::sync::OnceLock;

use sqlx::AnyPool;
use tokio::sync::{mpsc, oneshot};

use super::writes::{Write, Written, apply_alone};
use super::{Engine, StoreError};

/// The most writes run in one transaction: enough for a storm of commands, small enough that
/// no write waits long behind a group.
const MAX_GROUP: usize = 256;

/// A write waiting for its group, and whom to answer.
pub(super) struct Waiting {
    pub(super) write: Write,
    pub(super) done: oneshot::Sender<Result<Written, StoreError>>,
}

/// The handle the store's clones share; the task starts with the first write (on the runtime
/// that makes it) and ends when the last clone of the store is gone.
#[derive(Debug, Default)]
pub(super) struct Batcher {
    queue: OnceLock<mpsc::UnboundedSender<Waiting>>,
}

impl Batcher {
    /// Runs `write` in the next group; answers once that group committed.
    pub(super) async fn submit(
        &self,
        pool: &AnyPool,
        engine: Engine,
        write: Write,
    ) -> Result<Written, StoreError> {
        let operation = write.operation();
        let queue = self.queue.get_or_init(|| {
            let (queue, waiting) = mpsc::unbounded_channel();
            tokio::spawn(run(pool.clone(), engine, waiting));
            queue
        });
        let (done, answer) = oneshot::channel();
        let gone = || StoreError::GroupCommit {
            operation,
            message: "the store's writer has stopped".to_owned(),
        };
        queue.send(Waiting { write, done }).map_err(|_| gone())?;
        answer.await.unwrap_or_else(|_| Err(gone()))
    }
}

/// Runs groups of writes until every handle is gone. The connection is kept from one group
/// to the next while writes keep coming (a checkout costs a ping of the connection when it
/// goes back), and handed back when none waits: an in-memory store has only the one. On
/// PostgreSQL it is kept [`HOLD`] longer, and dropped after a write failed in the engine (it
/// may be broken; the pool tests it as it comes back).
async fn run(pool: AnyPool, engine: Engine, mut waiting: mpsc::UnboundedReceiver<Waiting>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    let mut positions = Vec::new();
    while !group.is_empty() || waiting.recv_many(&mut group, MAX_GROUP).await > 0 {
        let mut connection = match pool.acquire().await {
            Ok(connection) => connection,
            Err(error) => {
                fail_all(&mut group, &error.to_string());
                continue;
            }
        };
        loop {
            let healthy = match engine {
                Engine::Sqlite => {
                    // Relay positions are one large statement a second under load: they go in
                    // a transaction of their own after the group, so that the commands and
                    // relay starts of the group are not answered later for them.
                    let (small, large): (Vec<_>, Vec<_>) = group
                        .drain(..)
                        .partition(|w: &Waiting| !matches!(w.write, Write::Positions(_)));
                    group = small;
                    positions.extend(large);
                    run_group(&mut connection, engine, &mut group).await;
                    for Waiting { write, done } in positions.drain(..) {
                        tracing::debug!(writes = 1, "a write commits alone");
                        let _ = done.send(apply_alone(&mut connection, engine, &write).await);
                    }
                    true
                }
                Engine::Postgres => super::pg_group::run_group(&mut connection, &mut group).await,
            };
            while group.len() < MAX_GROUP {
                match waiting.try_recv() {
                    Ok(more) => group.push(more),
                    Err(_) => break,
                }
            }
            if group.is_empty() && healthy && engine == Engine::Postgres {
                // Channel closed (`Ok(0)`) or nothing within the hold: the group stays empty.
                let _ = tokio::time::timeout(HOLD, waiting.recv_many(&mut group, MAX_GROUP)).await;
            }
            if group.is_empty() || !healthy {
                break;
            }
        }
    }
}

/// How long PostgreSQL's writer keeps its connection after the last write, waiting for the
/// next: at a few writes a second apart it is handed back and checked out again (a ping each),
/// which costs more than holding one of the pool's connections.
const HOLD: std::time::Duration = std::time::Duration::from_millis(100);

/// Runs `group` (emptied) and answers each of its writes.
async fn run_group(connection: &mut sqlx::AnyConnection, engine: Engine, group: &mut Vec<Waiting>) {
    if group.len() <= 1 {
        // Alone, a write is its own transaction: no `BEGIN` and `COMMIT` around one statement.
        for Waiting { write, done } in group.drain(..) {
            tracing::debug!(writes = 1, "a write commits alone");
            let _ = done.send(apply_alone(connection, engine, &write).await);
        }
        return;
    }
    match together(connection, group).await {
        Ok(answers) => {
            tracing::debug!(writes = answers.len(), "a group of writes committed");
            for (Waiting { done, .. }, answer) in group.drain(..).zip(answers) {
                let _ = done.send(Ok(answer));
            }
        }
        Err(Failed::Write) => {
            for Waiting { write, done } in group.drain(..) {
                let _ = done.send(apply_alone(connection, engine, &write).await);
            }
        }
        Err(Failed::Commit(message)) => {
            tracing::error!(%message, writes = group.len(), "a group commit of the store failed");
            fail_all(group, &message);
        }
    }
}

/// Why a group did not commit.
enum Failed {
    /// One of its writes failed; the transaction was rolled back.
    Write,
    /// The commit (or the `BEGIN`) failed: none of the writes is in the store.
    Commit(String),
}

/// Runs `group` as one transaction on `connection`; the answers in order.
async fn together(
    connection: &mut sqlx::AnyConnection,
    group: &[Waiting],
) -> Result<Vec<Written>, Failed> {
    // IMMEDIATE takes the write lock at once: every write of the group writes.
    let mut tx = sqlx::Connection::begin_with(connection, "BEGIN IMMEDIATE")
        .await
        .map_err(|error| Failed::Commit(error.to_string()))?;
    let answers = match super::pg_group::decide_in_transaction(&mut tx, group).await {
        Ok(answers) => answers,
        Err(error) => {
            tracing::debug!(%error, "a write failed in a group; the group runs again one by one");
            // Dropping the transaction would roll it back later, on the connection's next
            // use; this says when.
            let _ = tx.rollback().await;
            return Err(Failed::Write);
        }
    };
    tx.commit()
        .await
        .map_err(|error| Failed::Commit(error.to_string()))?;
    Ok(answers)
}

/// Answers every write of `group` with the failure `message`.
fn fail_all(group: &mut Vec<Waiting>, message: &str) {
    for Waiting { write, done } in group.drain(..) {
        let _ = done.send(Err(StoreError::GroupCommit {
            operation: write.operation(),
            message: message.to_owned(),
        }));
    }
}
