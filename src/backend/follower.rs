//! `Follower`: the state machine behind a [`JobEventStream`](super::JobEventStream).
//!
//! One connection at a time, each opened by `eventsource-client` with its own reconnects off:
//! deciding when and how to reconnect is this file's job, because every (re)connect must be
//! followed by a backfill and some answers (404, 401) must end the stream instead.
//!
//! The cycle:
//! 1. connect (after a backoff delay, if this is a retry), sending `Last-Event-ID` = the last
//!    delivered event;
//! 2. once the server answered 200, backfill with `GET …/events?after=<last delivered>` (all
//!    events on the first connect) and deliver what is new. The backfill comes *after* the
//!    connect so that a server which streams only events newer than the connection (failure
//!    mode 8) leaves no gap: anything older is in the backfill, anything newer in the stream.
//!    One exception, the first connect of a job followed from its start (`replay.rs`): its
//!    first event tells whether the server replays stored events, and only if not is the
//!    backfill made;
//! 3. read the stream, delivering each event whose id was not delivered yet, until
//!    `stream.complete` (a final backfill unless the connection carried the whole job, as
//!    `replay.rs` tells; then `Completed`), or the connection is lost (closed, reset, stalled,
//!    `event: error`, unparseable bytes), after which the job itself is asked whether it is
//!    final or gone before going back to 1.
//!
//! A connect that fails although the server is reachable (503, reset before the answer,
//! silence) also asks the job, and backfills its new events over REST: a job whose stream
//! endpoint is broken is still relayed, and still ends.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use eventsource_client::{self as es, Client as _};
use futures_util::StreamExt;

use super::client::BackendClient;
use super::config::StreamPolicy;
use super::delivered::DeliveredIds;
use super::error::BackendError;
use super::event::JobEvent;
use super::follow::{Followed, StreamEnd};
use super::model::{EventId, JobId, JobStatus, RunnerJob};
use super::request::parse_retry_after;
use super::stream_signals::{
    clip, completion_status, describe, end_for, gave_up, never_connected, server_error_message,
};

mod outcomes;
mod replay;

use outcomes::{ConnectFailure, Loss, Read};

type Connection = es::BoxStream<es::Result<es::SSE>>;

pub(crate) struct Follower {
    client: BackendClient,
    job: JobId,
    delivered: DeliveredIds,
    /// The newest delivered event: `Last-Event-ID` and `?after=`.
    last: Option<EventId>,
    /// The caller's resume point, until the first backfill has told which ids precede it.
    resume_after: Option<EventId>,
    backfilled: bool,
    /// Until when the first connect waits for the stream to show that it replays (`replay.rs`);
    /// `None` once that is told, or when it is not asked.
    replay_check: Option<Instant>,
    /// Whether the current connection carried every event of the job so far: it replayed
    /// from the job's start, each event with an `id:` line, none unreadable (`replay.rs`).
    /// Its `stream.complete` then needs no final backfill.
    gapless: bool,
    queue: VecDeque<Followed>,
    connection: Option<Connection>,
    /// Whether the current connection (its backfill included) delivered anything new.
    progress: bool,
    /// When the current connection was established.
    connected_at: Option<Instant>,
    ended: bool,
    failed_connects: u32,
    backoff: ExponentialBackoff,
    delay: Option<Duration>,
    /// The server's `Retry-After` on the last refused connect: a floor for the next delay.
    retry_after: Option<Duration>,
}

impl Follower {
    pub(crate) fn new(client: BackendClient, job: JobId, resume_after: Option<EventId>) -> Self {
        let backoff = reconnect_backoff(&client.config().stream);
        Self {
            client,
            job,
            delivered: DeliveredIds::default(),
            last: resume_after.clone(),
            resume_after,
            backfilled: false,
            replay_check: None,
            gapless: false,
            queue: VecDeque::new(),
            connection: None,
            progress: false,
            connected_at: None,
            ended: false,
            failed_connects: 0,
            backoff,
            delay: None,
            retry_after: None,
        }
    }

    /// The next item for the caller; `None` after `End`.
    pub(crate) async fn next_item(&mut self) -> Option<Followed> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                if self.queue.is_empty() && self.queue.capacity() > 16 {
                    // A long backfill must not pin its buffer for the rest of the job.
                    self.queue.shrink_to_fit();
                }
                return Some(item);
            }
            if self.ended {
                return None;
            }
            // Only `read` is awaited in place: a follower spends its life there. The other
            // steps (connecting, backfills, job checks) are boxed: they happen a few times
            // per job, and in place they would size every resting follower's state by the
            // largest of them.
            match self.connection.take() {
                None => Box::pin(self.connect()).await,
                Some(mut connection) => match self.read(&mut connection).await {
                    // A replay check's backfill may have ended the stream (404, 401).
                    Read::Continue if self.ended => drop(connection),
                    Read::Continue => self.connection = Some(connection),
                    Read::Complete(status) => {
                        drop(connection);
                        Box::pin(self.complete(status)).await;
                    }
                    Read::Lost(reason) => {
                        drop(connection);
                        Box::pin(self.reconnect_after_loss(&reason)).await;
                    }
                },
            }
        }
    }

    fn policy(&self) -> &StreamPolicy {
        &self.client.config().stream
    }

    fn end(&mut self, end: StreamEnd) {
        tracing::info!(?end, "stream ends");
        self.queue.push_back(Followed::End(end));
        self.ended = true;
        self.connection = None;
    }

    /// Delivers `event` unless it was delivered before.
    fn offer(&mut self, event: JobEvent) {
        if !self.delivered.insert(&event.id) {
            tracing::trace!(id = %event.id, "already delivered");
            return;
        }
        self.last = Some(event.id.clone());
        self.progress = true;
        self.queue.push_back(Followed::Event(event));
    }

    /// One connect attempt and its backfill; on success `self.connection` is set.
    async fn connect(&mut self) {
        if let Some(delay) = self.delay.take() {
            tokio::time::sleep(delay).await;
        }
        self.progress = false;
        self.gapless = false;
        let result = match self.open().await {
            Ok(connection) => self.backfill(connection).await,
            Err(failure) => Err(failure),
        };
        match result {
            Ok(connection) => {
                self.failed_connects = 0;
                self.connected_at = Some(Instant::now());
                self.connection = Some(connection);
            }
            Err(ConnectFailure::End(end)) => self.end(end),
            Err(ConnectFailure::Unreachable(error)) => self.connect_failed(error, false).await,
            Err(ConnectFailure::Refused(error)) => self.connect_failed(error, true).await,
        }
    }

    /// Counts a failed connect; gives up, or schedules the next attempt. When the server is
    /// reachable its REST side is asked meanwhile: a job can end or vanish while only its
    /// stream is broken, and its events can still be relayed from the backfill.
    async fn connect_failed(&mut self, error: String, reachable: bool) {
        self.client
            .count_reconnect(if reachable { "refused" } else { "unreachable" });
        self.failed_connects += 1;
        tracing::warn!(%error, attempt = self.failed_connects, "cannot connect to the event stream");
        if let Some(limit) = self.policy().give_up_after
            && self.failed_connects >= limit
        {
            return self.end(StreamEnd::GaveUp {
                attempts: self.failed_connects,
                last_error: error,
            });
        }
        // Before the first backfill the resume point is not placed yet: nothing may be
        // delivered until a connection exists, so wait for one.
        if reachable && self.backfilled {
            self.check_job(true).await;
            if self.ended {
                return;
            }
        }
        let floor = self.retry_after.take().unwrap_or_default();
        self.delay = Some(self.next_delay().max(floor));
    }

    /// Opens the stream and waits for the server's answer.
    async fn open(&mut self) -> Result<Connection, ConnectFailure> {
        let url = self
            .client
            .stream_url(&self.job)
            .map_err(|e| ConnectFailure::End(gave_up(e.to_string())))?;
        let reconnect = es::ReconnectOptions::reconnect(false)
            .retry_initial(false)
            .build();
        let mut builder = es::ClientBuilder::for_url(url.as_str())
            .map_err(|e| ConnectFailure::End(gave_up(e.to_string())))?
            .reconnect(reconnect);
        if let Some(last) = &self.last {
            builder = builder.last_event_id(last.as_str().to_owned());
        }
        let transport = self.client.inner.streams.clone();
        let mut connection = builder.build_with_transport(transport).stream();
        let wait = self.policy().stall_timeout;
        match tokio::time::timeout(wait, connection.next()).await {
            Ok(Some(Ok(es::SSE::Connected(_)))) => Ok(connection),
            Ok(Some(Ok(_))) => Err(ConnectFailure::Refused("data before an answer".into())),
            Ok(Some(Err(es::Error::UnexpectedResponse(response, _)))) => {
                self.retry_after = response
                    .get_header_value("retry-after")
                    .ok()
                    .flatten()
                    .and_then(parse_retry_after);
                Err(match response.status() {
                    404 | 410 => ConnectFailure::End(StreamEnd::NotFound),
                    401 | 403 => ConnectFailure::End(StreamEnd::Unauthorized),
                    status => ConnectFailure::Refused(format!("HTTP {status}")),
                })
            }
            Ok(Some(Err(error))) if never_connected(&error) => {
                Err(ConnectFailure::Unreachable(describe(&error)))
            }
            Ok(Some(Err(error))) => Err(ConnectFailure::Refused(describe(&error))),
            Ok(None) => Err(ConnectFailure::Refused("closed before answering".into())),
            Err(_) => Err(ConnectFailure::Refused(format!(
                "no answer within {wait:?}"
            ))),
        }
    }

    /// Reads one item, or notices that there is none within the stall timeout.
    async fn read(&mut self, connection: &mut Connection) -> Read {
        let stall = self.policy().stall_timeout;
        let wait = self.replay_check.map_or(stall, |until| {
            stall.min(until.saturating_duration_since(Instant::now()))
        });
        let item = match tokio::time::timeout(wait, connection.next()).await {
            Ok(item) => item,
            Err(_) if self.replay_check.is_some() => {
                return Box::pin(self.replay_not_shown()).await;
            }
            Err(_) => return Read::Lost(Loss::Stalled(stall)),
        };
        match item {
            Some(Ok(es::SSE::Event(event))) if self.replay_check.is_some() => {
                Box::pin(self.first_event(event)).await
            }
            Some(Ok(es::SSE::Event(event))) => self.on_event(event),
            Some(Ok(es::SSE::Comment(_) | es::SSE::Connected(_))) => Read::Continue,
            Some(Err(es::Error::Eof)) | None => Read::Lost(Loss::Closed),
            Some(Err(error @ (es::Error::InvalidLine(_) | es::Error::InvalidEvent))) => {
                // eventsource-client cannot go on after a line it cannot parse; a new
                // connection (deduplicated) is the way to skip it.
                tracing::warn!(%error, "malformed stream data; skipping it by reconnecting");
                Read::Lost(Loss::Malformed(error.to_string()))
            }
            Some(Err(error)) => Read::Lost(Loss::Transport(describe(&error))),
        }
    }

    fn on_event(&mut self, event: es::Event) -> Read {
        match event.event_type.as_str() {
            "stream.complete" => Read::Complete(completion_status(&event.data)),
            "error" => {
                let message = server_error_message(&event.data);
                tracing::warn!(%message, "the backend reported a stream error; reconnecting");
                Read::Lost(Loss::ServerError(message))
            }
            kind => {
                if event.id.as_deref().is_none_or(str::is_empty) {
                    self.gapless = false;
                }
                match JobEvent::from_json(&event.data) {
                    Ok(job_event) => self.offer(job_event),
                    Err(error) => {
                        // It may have been an event: the REST list still has it.
                        self.gapless = false;
                        tracing::warn!(
                            %error, sse_type = kind, data = %clip(&event.data),
                            "skipping unreadable event data"
                        );
                    }
                }
                Read::Continue
            }
        }
    }

    /// `stream.complete`: deliver anything the stream may have skipped, then end.
    async fn complete(&mut self, status: Option<JobStatus>) {
        let status = match status.filter(JobStatus::is_final) {
            Some(status) => status,
            None => match fetch_job(&self.client, &self.job).await {
                Ok(job) => job.status,
                Err(error) => match end_for(&error) {
                    Some(end) => return self.end(end),
                    None => JobStatus::Other(String::new()),
                },
            },
        };
        if !std::mem::take(&mut self.gapless) {
            self.backfill_rest().await;
        }
        self.end(StreamEnd::Completed(status));
    }

    /// The connection is gone: end if the job is final or gone, else schedule a reconnect.
    async fn reconnect_after_loss(&mut self, reason: &Loss) {
        tracing::info!(%reason, "event stream connection lost");
        self.client.count_reconnect(reason.kind());
        // A server may close for good after the job ended without sending `stream.complete`,
        // or because the job was deleted; the job itself says which. If it runs on, the
        // reconnect backfills anyway.
        self.check_job(false).await;
        if self.ended {
            return;
        }
        // A connection that moved the job on, or lived longer than the longest backoff, was
        // a good one: the next failure starts the backoff over. A server that accepts and
        // drops at once without anything new keeps backing off.
        let lived = self.connected_at.take().map(|at| at.elapsed());
        if std::mem::take(&mut self.progress)
            || lived.is_some_and(|lived| lived >= self.policy().reconnect_max_delay)
        {
            self.backoff = reconnect_backoff(self.policy());
        }
        self.delay = Some(self.next_delay());
    }

    /// Asks the job how it is: ends the stream if it is final (after a last backfill), gone
    /// or forbidden; otherwise delivers its new events if `backfill` says so.
    async fn check_job(&mut self, backfill: bool) {
        match fetch_job(&self.client, &self.job).await {
            Ok(job) if job.status.is_final() => {
                self.backfill_rest().await;
                self.end(StreamEnd::Completed(job.status));
            }
            Ok(_) if backfill => self.backfill_rest().await,
            Ok(_) => {}
            Err(error) => match end_for(&error) {
                Some(end) => self.end(end),
                None => tracing::warn!(%error, "cannot check the job; reconnecting anyway"),
            },
        }
    }

    /// The next reconnect delay: drawn from `[d/2, d)`, where `d` starts at the policy's
    /// minimum and doubles up to its maximum. (backon's jitter draws from `[d, 2d)`; halving
    /// keeps the maximum a maximum.)
    fn next_delay(&mut self) -> Duration {
        let cap = self.policy().reconnect_max_delay;
        self.backoff.next().map_or(cap, |delay| delay / 2)
    }
}

/// `job` on the heap, for the same reason as `replay::fetch_events`.
async fn fetch_job(client: &BackendClient, job: &JobId) -> Result<RunnerJob, BackendError> {
    Box::pin(client.job(job)).await
}

fn reconnect_backoff(policy: &StreamPolicy) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(policy.reconnect_min_delay)
        .with_max_delay(policy.reconnect_max_delay)
        .without_max_times()
        .with_jitter()
        .build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::BackendConfig;

    #[test]
    fn reconnect_delays_grow_within_the_policy_bounds() {
        let mut config = BackendConfig::new("http://127.0.0.1:9", "t".into(), "w");
        config.stream.reconnect_min_delay = Duration::from_millis(100);
        config.stream.reconnect_max_delay = Duration::from_millis(800);
        let client = BackendClient::new(config).unwrap();
        let mut follower = Follower::new(client, JobId::new("j"), None);
        let delays: Vec<Duration> = (0..12).map(|_| follower.next_delay()).collect();
        let first = delays[0];
        assert!(first >= Duration::from_millis(50) && first < Duration::from_millis(100));
        assert!(
            delays.iter().all(|d| *d < Duration::from_millis(800)),
            "{delays:?}"
        );
        assert!(
            delays[11] >= Duration::from_millis(400),
            "capped, not stuck: {delays:?}"
        );
    }
}
