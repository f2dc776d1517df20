//! Relay positions, written by one task in group commits.
//!
//! Every relay records how far it got after each post. One transaction per record was one
//! commit per posted batch: SQLite has one writer and syncs each commit, so thousands of
//! relays queued behind each other's commits and fell seconds behind their events. Here relays
//! hand their positions to one writer task, which takes everything waiting, keeps the newest
//! per job, writes it as one transaction (`Store::record_positions`), and answers each relay
//! once it has committed. Under load it starts commits at most once a second, so a busy job's
//! row is written once a second rather than once per event.
//!
//! A relay hands a position over only after its post, so the rule stays: a position is never
//! written ahead of what it covers. It does not wait for the commit before reading its next
//! event (a commit can take tens of milliseconds, more than the gap between two events of a
//! busy job); it waits for its last one before it stops, so a relay that has stopped has its
//! last position in the store. A crash loses what was handed over and not yet committed (up
//! to a second of it): those posts carry marks, which a resumed relay reads back instead of
//! posting them again (`resume.rs`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio::time::Instant;

use crate::store::{Position, Store, StoreError};

/// The most positions taken off the queue at once.
const MAX_GROUP: usize = 4096;

/// Under load, the shortest time between the starts of two group commits. Each commit
/// writes one row per job however many of its events it covers, so a job relaying four
/// events a second costs one row update a second instead of four: at 5,000 jobs that was
/// 20,000 row updates a second, and the database (PostgreSQL's server or SQLite's writer
/// thread) on the same two cores as the relays was what held them back. A crash loses at most
/// this much of records; the posts they covered carry marks that a resumed relay reads back
/// (`resume.rs`). A writer idle for longer commits at once, and one who waits for its record
/// (a relay stopping, a resumed relay before it posts) hurries the writer.
const COMMIT_GAP: Duration = Duration::from_secs(1);

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

/// A position waiting to be written (none: a flush, answered once everything handed over
/// before it is committed), and whom to tell.
struct Waiting {
    position: Option<Position>,
    done: oneshot::Sender<Result<(), RecordError>>,
}

/// The handle relays record through. The writer ends when the last handle is dropped, after
/// writing what waits.
#[derive(Clone)]
pub(crate) struct PositionWriter {
    queue: mpsc::UnboundedSender<Waiting>,
    /// Someone awaits a commit: do not wait out the gap.
    hurry: Arc<Notify>,
}

impl PositionWriter {
    /// Starts the writer task on the current Tokio runtime.
    pub(crate) fn start(store: Store) -> PositionWriter {
        PositionWriter::with_gap(store, COMMIT_GAP)
    }

    fn with_gap(store: Store, gap: Duration) -> PositionWriter {
        let (queue, waiting) = mpsc::unbounded_channel();
        let hurry = Arc::new(Notify::new());
        tokio::spawn(write_groups(store, waiting, hurry.clone(), gap));
        PositionWriter { queue, hurry }
    }

    /// Hands `position` to the writer; the answer says when it is committed (with the others
    /// of its group), or why not.
    pub(crate) fn submit(&self, position: Position) -> Recording {
        self.send(Some(position))
    }

    /// Commits every position handed over so far. Shutdown awaits it before the store
    /// closes: a relay aborted at the deadline (or one that did not need its last record
    /// answered) may have left a position waiting for the writer's gap, which would otherwise
    /// be written to a closed store, and fail.
    pub(crate) fn flush(&self) -> Recording {
        self.send(None)
    }

    fn send(&self, position: Option<Position>) -> Recording {
        let (done, committed) = oneshot::channel();
        // A send fails only once the writer is gone; the answer then says so.
        let _ = self.queue.send(Waiting { position, done });
        Recording {
            committed,
            hurry: self.hurry.clone(),
        }
    }
}

/// A submitted position, to await when it matters that it is in the store.
pub(crate) struct Recording {
    committed: oneshot::Receiver<Result<(), RecordError>>,
    hurry: Arc<Notify>,
}

impl Recording {
    /// Waits until the position is committed.
    pub(crate) async fn committed(mut self) -> Result<(), RecordError> {
        match self.committed.try_recv() {
            Ok(answer) => return answer,
            Err(oneshot::error::TryRecvError::Closed) => return Err(RecordError::WriterGone),
            Err(oneshot::error::TryRecvError::Empty) => {}
        }
        self.hurry.notify_one();
        self.committed.await.unwrap_or(Err(RecordError::WriterGone))
    }
}

/// Writes what waits as one transaction, answers, and again, until every handle is gone.
/// Under load, commits start at least `gap` apart, and what arrives in between is
/// merged per job: a job's row is written once per commit however many events it relayed.
async fn write_groups(
    store: Store,
    mut waiting: mpsc::UnboundedReceiver<Waiting>,
    hurry: Arc<Notify>,
    gap: Duration,
) {
    let mut group = Vec::new();
    let mut pending = Pending::default();
    let mut answers = Vec::new();
    let mut last_commit: Option<Instant> = None;
    let mut open = true;
    while open {
        if waiting.recv_many(&mut group, MAX_GROUP).await == 0 {
            break;
        }
        pending.take(&mut group, &mut answers);
        if let Some(last) = last_commit {
            let next = last + gap;
            while Instant::now() < next {
                tokio::select! {
                    biased;
                    () = hurry.notified() => break,
                    () = tokio::time::sleep_until(next) => break,
                    received = waiting.recv_many(&mut group, MAX_GROUP) => {
                        if received == 0 {
                            open = false;
                            break;
                        }
                        pending.take(&mut group, &mut answers);
                    }
                }
            }
        }
        // What arrived while waiting for the last piece joins this commit.
        while let Ok(item) = waiting.try_recv() {
            group.push(item);
        }
        pending.take(&mut group, &mut answers);
        last_commit = Some(Instant::now());
        let positions = pending.drain();
        let result = store
            .record_positions(&positions)
            .await
            .map_err(|error| RecordError::Store(Arc::new(error)));
        if let Err(error) = &result {
            tracing::error!(%error, positions = positions.len(), "could not record relay positions");
        }
        // A hurry for a record of this commit (made while it was written) is spent: cleared
        // before the answers go out, so that it does not cut the next gap short.
        let _ = hurry.notified().now_or_never();
        for done in answers.drain(..) {
            let _ = done.send(result.clone());
        }
    }
}

/// Positions received since the last commit, one per job: the newest, carrying the last post
/// any of them named.
#[derive(Default)]
struct Pending {
    by_job: HashMap<String, Position>,
}

impl Pending {
    /// Merges `group` in, keeping whom to answer.
    fn take(
        &mut self,
        group: &mut Vec<Waiting>,
        answers: &mut Vec<oneshot::Sender<Result<(), RecordError>>>,
    ) {
        for Waiting { position, done } in group.drain(..) {
            answers.push(done);
            let Some(position) = position else {
                continue;
            };
            match self.by_job.get_mut(position.job_id.as_str()) {
                Some(held) => merge(held, position),
                None => {
                    self.by_job.insert(position.job_id.clone(), position);
                }
            }
        }
    }

    fn drain(&mut self) -> Vec<Position> {
        self.by_job.drain().map(|(_, position)| position).collect()
    }
}

/// Merges a later record of one job into the one held: the higher `seq` wins (the later of
/// two equal ones, as `Store::record_positions` does), and a record naming no post keeps the
/// post an earlier one named, since that post is still the relay's last.
fn merge(held: &mut Position, later: Position) {
    if later.seq < held.seq {
        return;
    }
    let post_id = later.post_id.or_else(|| held.post_id.take());
    *held = Position { post_id, ..later };
}

#[cfg(test)]
mod tests {
    use mosaic_chat::{Platform, ThreadRef};

    use super::*;
    use crate::command::{IssueKind, IssueRef};
    use crate::store::{FollowedJob, Verbosity};

    fn at(seq: u64, post: Option<&str>) -> Position {
        Position {
            job_id: "j1".to_owned(),
            event_id: format!("e{seq}"),
            seq,
            post_id: post.map(str::to_owned),
            settled: false,
        }
    }

    #[test]
    fn a_merge_keeps_the_newest_position_and_the_last_post_named() {
        let mut held = at(3, Some("p3"));
        merge(&mut held, at(4, None));
        assert_eq!((held.seq, held.post_id.as_deref()), (4, Some("p3")));
        merge(&mut held, at(5, Some("p5")));
        assert_eq!((held.seq, held.post_id.as_deref()), (5, Some("p5")));
        merge(&mut held, at(2, Some("p2")));
        assert_eq!((held.seq, held.post_id.as_deref()), (5, Some("p5")));
        let settled = Position {
            settled: true,
            ..at(5, None)
        };
        merge(&mut held, settled);
        assert!(held.settled);
        assert_eq!(held.post_id.as_deref(), Some("p5"));
    }

    fn followed(job_id: &str) -> FollowedJob {
        FollowedJob {
            job_id: job_id.to_owned(),
            workspace: "default".to_owned(),
            thread: ThreadRef {
                platform: Platform::new("console"),
                channel: "c".to_owned(),
                thread: job_id.to_owned(),
            },
            command_message_id: None,
            requester_id: "u".to_owned(),
            requester_name: "u".to_owned(),
            issue: IssueRef::new("github.com", "acme", "web", 1, IssueKind::Issue),
            retry_of: None,
            card_message_id: None,
            verbosity: Verbosity::Milestones,
            last_event_id: None,
            last_event_seq: 0,
            last_post_id: None,
            posts_settled: false,
            status: "QUEUED".to_owned(),
            ended: false,
            created_at: 0,
            updated_at: 0,
        }
    }

    async fn stored_seq(store: &Store) -> u64 {
        store
            .job("j1")
            .await
            .expect("reads")
            .expect("kept")
            .last_event_seq
    }

    /// A store with job `j1`, and a writer whose gap nothing in a test reaches, which has
    /// just committed seq 1 (an idle writer commits at once).
    async fn writer_after_one_record() -> (Store, PositionWriter) {
        let store = Store::open("sqlite::memory:").await.expect("a store");
        store.insert_job(&followed("j1")).await.expect("inserts");
        let writer = PositionWriter::with_gap(store.clone(), Duration::from_secs(60));
        writer
            .submit(at(1, Some("p1")))
            .committed()
            .await
            .expect("commits");
        assert_eq!(stored_seq(&store).await, 1);
        (store, writer)
    }

    #[tokio::test]
    async fn a_flush_commits_what_waits_out_the_gap_and_nothing_else() {
        let (store, writer) = writer_after_one_record().await;
        // Within the gap, nobody awaiting it: the record waits…
        let waiting = writer.submit(at(2, Some("p2")));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(stored_seq(&store).await, 1, "written before the gap ended");
        // …until a flush (shutdown's, before the store closes): committed when it answers.
        tokio::time::timeout(Duration::from_secs(10), writer.flush().committed())
            .await
            .expect("hurried, not 60 s")
            .expect("commits");
        assert_eq!(stored_seq(&store).await, 2);
        waiting.committed().await.expect("the same commit");
        // A flush with nothing waiting writes nothing and answers.
        writer.flush().committed().await.expect("nothing to write");
        assert_eq!(stored_seq(&store).await, 2);
    }

    #[tokio::test]
    async fn records_wait_out_the_gap_unless_someone_awaits_one() {
        let (store, writer) = writer_after_one_record().await;
        // Within the gap, records wait and are merged…
        let second = writer.submit(at(2, Some("p2")));
        let third = writer.submit(at(3, None));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(stored_seq(&store).await, 1, "written before the gap ended");
        // …until someone awaits one: then everything waiting is written in one commit.
        tokio::time::timeout(Duration::from_secs(10), third.committed())
            .await
            .expect("hurried, not 60 s")
            .expect("commits");
        second.committed().await.expect("the same commit");
        let job = store.job("j1").await.expect("reads").expect("kept");
        assert_eq!(
            (job.last_event_seq, job.last_post_id.as_deref()),
            (3, Some("p2"))
        );
    }
}
