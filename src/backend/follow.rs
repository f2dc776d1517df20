//! Following a job: the public face of the event stream (`BackendClient::follow`).
//!
//! A [`JobEventStream`] yields every event of a job exactly once and in order, then one
//! [`Followed::End`] saying why it stopped, then `None`. How it gets there through dropped
//! connections, replays, stalls and gaps is `follower.rs`.
//!
//! The stream is not a spawned task: the caller (one relay task per job) polls it, so a
//! followed job costs one task, not two, and dropping the stream closes its connection.

use std::pin::Pin;
use std::task::{Context, Poll};

use futures_util::Stream;
use tracing::Instrument;

use super::client::BackendClient;
use super::event::JobEvent;
use super::follower::Follower;
use super::model::{EventId, JobId, JobStatus};

/// One item of a followed job.
#[derive(Clone, Debug, PartialEq)]
pub enum Followed {
    /// The next event, never one delivered before.
    Event(JobEvent),
    /// The stream is over; always the last item.
    End(StreamEnd),
}

/// Why a followed job's stream ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamEnd {
    /// The job is final (`stream.complete`, or confirmed with `GET /runner-jobs/:id`) and every
    /// event was delivered.
    Completed(JobStatus),
    /// The job does not exist (any more): 404 on the stream or the job.
    NotFound,
    /// The backend refused the token or the workspace (401 or 403).
    Unauthorized,
    /// `StreamPolicy::give_up_after` connects in a row failed.
    GaveUp {
        /// Connects tried in a row.
        attempts: u32,
        /// Why the last one failed.
        last_error: String,
    },
}

/// The events of one job; see [`BackendClient::follow`].
pub struct JobEventStream {
    inner: Pin<Box<dyn Stream<Item = Followed> + Send>>,
}

impl std::fmt::Debug for JobEventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobEventStream")
    }
}

impl Stream for JobEventStream {
    type Item = Followed;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Followed>> {
        self.inner.as_mut().poll_next(cx)
    }
}

impl BackendClient {
    /// Follows `job`'s events until it is final.
    ///
    /// `resume_after` is the last event delivered by an earlier run of the bot: it and every
    /// event before it are not delivered again, even by a server that replays from the start.
    ///
    /// Survives dropped and stalled connections, servers that ignore `Last-Event-ID`, send no
    /// `id:` lines or stream only live events (gaps are filled from `GET …/events`), 503s and
    /// refused connections, malformed lines and `event: error`. Ends with
    /// [`StreamEnd::NotFound`] or [`StreamEnd::Unauthorized`] rather than retrying those.
    pub fn follow(&self, job: JobId, resume_after: Option<EventId>) -> JobEventStream {
        let span = tracing::info_span!("follow", job = %job);
        // Boxed: `unfold` keeps a slot for its state beside the future that the state moves
        // into while an item is awaited, so an unboxed follower would be held twice.
        let follower = Box::new(Follower::new(self.clone(), job, resume_after));
        let stream = futures_util::stream::unfold(follower, move |mut follower| {
            let span = span.clone();
            async move {
                let item = follower.next_item().instrument(span).await?;
                Some((item, follower))
            }
        });
        JobEventStream {
            inner: Box::pin(stream),
        }
    }
}
