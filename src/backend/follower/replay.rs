//! The backfills of a [`Follower`]: after a connect (step 2 of the cycle), and outside it
//! (a final one after `stream.complete`, or while the stream is broken).
//!
//! **The first connect of a job followed from its start** makes no backfill until the stream
//! has shown what it is. backend-api.md ("The event stream"): on connect the server first
//! sends every stored event (all of them when no `Last-Event-ID` is sent), except the
//! live-only server of failure mode 8, which is also the one that writes no `id:` lines. So
//! the stream's first event decides: with an `id:` line the server replays, and what a
//! backfill would list comes on the stream anyway; without one, or when no event comes within
//! [`REPLAY_WAIT`], the backfill is made as on every other connect, and the event that came
//! waits until the backfill's older events are delivered. A reconnect (with `Last-Event-ID`,
//! which failure mode 2 ignores) and a resumed job (whose resume point the first list places)
//! always backfill.
//!
//! **`stream.complete` backfills** (a last list after the last delivered event) **unless the
//! connection that sent it carried the whole job**: it is that first connect, it showed it
//! replays, every event after the first also came with an `id:` line, and none was unreadable
//! (`Follower::gapless`). Such a server sent every stored event and then every live one
//! (backend-api.md), so the list could hold nothing new; it trusts the server to keep that
//! promise across the switch from its replay to its live feed. Any reconnect, stream error,
//! event without an `id:`, unreadable data (mode 6: it may have been an event), or resumed job
//! keeps the last list.
//!
//! Why: every job's first connect listed all its events over REST only to find each of them
//! already delivered by the stream, and its end listed once more to find nothing; at thousands
//! of jobs each list was one of the four REST calls per job (the profile of the relay bench:
//! ~2% of the bot's CPU each, and the simulator's, on the same cores).

use std::time::{Duration, Instant};

use eventsource_client as es;

use super::outcomes::{ConnectFailure, Loss, Read};
use super::{Connection, Follower};
use crate::backend::client::BackendClient;
use crate::backend::error::BackendError;
use crate::backend::event::JobEvent;
use crate::backend::model::{EventId, JobId};
use crate::backend::stream_signals::end_for;

/// How long the first connect waits for the stream's first event before backfilling anyway.
/// A replaying server sends its stored events with its answer; a live-only one may send
/// nothing for long, and its older events then show this much later at most.
pub(super) const REPLAY_WAIT: Duration = Duration::from_millis(250);

impl Follower {
    /// Delivers the stored events the stream may not carry, after a connect (the module doc
    /// of `follower.rs`, step 2); on the first connect of a job followed from its start, only
    /// once the stream has shown it does not replay them (this module's doc).
    pub(super) async fn backfill(
        &mut self,
        connection: Connection,
    ) -> Result<Connection, ConnectFailure> {
        if !self.backfilled && self.resume_after.is_none() && self.last.is_none() {
            self.replay_check = Some(Instant::now() + REPLAY_WAIT);
            return Ok(connection);
        }
        self.list_stored().await.map(|()| connection)
    }

    /// The first event of a first connect: decides whether to backfill, then reads it.
    pub(super) async fn first_event(&mut self, event: es::Event) -> Read {
        match event.event_type.as_str() {
            // Decide nothing: `stream.complete` makes its own backfill (all events, nothing
            // being delivered yet), and `error` reconnects to check again.
            "stream.complete" | "error" => self.on_event(event),
            _ if event.id.as_deref().is_some_and(|id| !id.is_empty()) => {
                self.replay_check = None;
                self.backfilled = true;
                self.gapless = true;
                self.on_event(event)
            }
            _ => match self.replay_not_shown().await {
                Read::Continue if !self.ended => self.on_event(event),
                other => other,
            },
        }
    }

    /// The stream did not show that it replays: backfill as after any connect.
    pub(super) async fn replay_not_shown(&mut self) -> Read {
        self.replay_check = None;
        match self.list_stored().await {
            Ok(()) => Read::Continue,
            Err(ConnectFailure::End(end)) => {
                self.end(end);
                Read::Continue
            }
            Err(ConnectFailure::Refused(error) | ConnectFailure::Unreachable(error)) => {
                Read::Lost(Loss::Transport(error))
            }
        }
    }

    /// The backfill proper: lists the stored events after the last delivered one (all of them
    /// the first time) and delivers what is new.
    async fn list_stored(&mut self) -> Result<(), ConnectFailure> {
        // The first backfill lists every event: it is what tells which ids precede the resume
        // point, in case the stream replays them.
        let after = if self.backfilled {
            self.last.clone()
        } else {
            None
        };
        // REST futures are boxed: they are large and short-lived, and unboxed they would size
        // every idle stream's state (see `fetch_events`).
        let events = fetch_events(&self.client, &self.job, after.as_ref())
            .await
            .map_err(|error| match end_for(&error) {
                Some(end) => ConnectFailure::End(end),
                None => ConnectFailure::Refused(format!("backfill: {error}")),
            })?;
        if !self.backfilled {
            self.backfilled = true;
            self.skip_before_resume_point(&events);
        }
        events.into_iter().for_each(|event| self.offer(event));
        Ok(())
    }

    /// Marks the events up to and including the resume point as delivered.
    fn skip_before_resume_point(&mut self, events: &[JobEvent]) {
        let Some(resume) = self.resume_after.take() else {
            return;
        };
        match events.iter().position(|event| event.id == resume) {
            Some(index) => {
                for event in &events[..=index] {
                    self.delivered.insert(&event.id);
                }
            }
            // Better a repeat than a loss: the relay dedupes against its own store too.
            None => {
                tracing::warn!(%resume, "resume point is not among the job's events; relaying them all")
            }
        }
    }

    /// Delivers the stored events after the last delivered one, outside a connect cycle.
    pub(super) async fn backfill_rest(&mut self) {
        let listed = fetch_events(&self.client, &self.job, self.last.as_ref()).await;
        match listed {
            Ok(events) => events.into_iter().for_each(|event| self.offer(event)),
            Err(error) => tracing::warn!(%error, "backfill failed; events may be missing"),
        }
    }
}

/// `events_after` on the heap. An async fn's state is as large as its largest await point;
/// a REST call's state (retry loop, request, timers) is several times that of waiting on a
/// stream, and a follower spends its life waiting on the stream.
pub(super) async fn fetch_events(
    client: &BackendClient,
    job: &JobId,
    after: Option<&EventId>,
) -> Result<Vec<JobEvent>, BackendError> {
    Box::pin(client.events_after(job, after)).await
}
