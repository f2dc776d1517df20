//! The failure modes of backend-api.md ("What the bot must survive"), as
//! switches (`Faults`), and what each one produces: the odd events of mode 5,
//! the raw garbage of mode 6, the `event: error` frame, and the per-connection
//! decisions the stream obeys (`ConnectionFaults`).

use bytes::Bytes;
use serde_json::json;

use crate::plan::{Effect, Planned};

/// Failure modes a job's stream and timeline follow. Jobs take their faults
/// when created (from `Sim::script_issue`, else the server-wide default), so
/// a test can break one job and leave the others alone.
///
/// "Events" below means `JobEvent` frames sent on one stream connection;
/// keep-alives, garbage and `stream.complete` do not count.
#[derive(Clone, Debug, Default)]
pub struct Faults {
    /// Mode 1: every stream connection ends after sending K events (K ≥ 1),
    /// before `stream.complete`, again on every reconnect. A client that
    /// resumes with `Last-Event-ID` gets K more each time.
    pub drop_after: Option<usize>,
    /// Mode 1: a drop resets the TCP connection (RST, the HTTP body cut off
    /// mid-stream) instead of ending the response cleanly.
    pub reset_on_drop: bool,
    /// Mode 2: `Last-Event-ID` is ignored; every connection replays from the
    /// first event. (With `drop_after`, a client then never gets further
    /// than K events: combine with care.)
    pub ignore_last_event_id: bool,
    /// Mode 3: after K events the first `stall_connections` connections go
    /// silent (no bytes, not even keep-alives) and stay open.
    pub stall_after: Option<usize>,
    /// Mode 3: how many connections (counted from the job's first stream
    /// connection that was not answered 503) stall; 0 stalls none.
    pub stall_connections: usize,
    /// Mode 4: the first N stream connects of the job answer `503` with
    /// `Retry-After: 0`. (Refused connections: `Sim::refuse_connections_for`.)
    pub unavailable_connects: usize,
    /// Mode 5: the timeline adds events of unknown types, events missing
    /// optional fields (and one without `actor`), a 100 KB `step.output`,
    /// ANSI colour codes, and text holding `@everyone`, `<!channel>`,
    /// `@here`, `<@123>`. They follow the first `step.started`.
    pub weird_payloads: bool,
    /// Mode 6: after the 2nd, 6th, 10th… event of a connection the stream
    /// writes a line without a colon, a `data:` line of broken JSON, and a
    /// `step.output` event whose data is not JSON at all.
    pub malformed_lines: bool,
    /// The first connection sends `event: error` with
    /// `data: {"message":"…"}` after K events, then ends cleanly.
    pub error_event_after: Option<usize>,
    /// Mode 8: no `id:` lines, and a connection gets only the events emitted
    /// after it connected (`Last-Event-ID` is ignored); a connection to a
    /// final job gets `stream.complete` alone. Clients must backfill with
    /// `GET /runner-jobs/:id/events?after=`.
    pub live_only_no_ids: bool,
}

/// Where a new stream connection starts in the job's stored events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// After the event named by `Last-Event-ID`, or from the first.
    Honour,
    /// From the first event, whatever the client asked.
    FromStart,
    /// From the events emitted after the connection (mode 8).
    LiveOnly,
}

/// What one stream connection does wrong, decided when it opens.
#[derive(Clone, Debug)]
pub(crate) struct ConnectionFaults {
    pub(crate) replay: Replay,
    pub(crate) write_ids: bool,
    pub(crate) drop_after: Option<usize>,
    pub(crate) reset_on_drop: bool,
    pub(crate) stall_after: Option<usize>,
    pub(crate) error_after: Option<usize>,
    pub(crate) malformed_lines: bool,
}

impl Faults {
    /// Whether the `attempt`-th stream connect of a job (0-based, every
    /// connect that found the job) is answered 503.
    pub(crate) fn unavailable(&self, attempt: usize) -> bool {
        attempt < self.unavailable_connects
    }

    /// The faults of the `attempt`-th stream connect of a job that is served.
    pub(crate) fn for_connection(&self, attempt: usize) -> ConnectionFaults {
        // Connections answered 503 never streamed: "the first connection"
        // of the other modes is the first one that did.
        let served = attempt.saturating_sub(self.unavailable_connects);
        let replay = if self.live_only_no_ids {
            Replay::LiveOnly
        } else if self.ignore_last_event_id {
            Replay::FromStart
        } else {
            Replay::Honour
        };
        ConnectionFaults {
            replay,
            write_ids: !self.live_only_no_ids,
            drop_after: self.drop_after,
            reset_on_drop: self.reset_on_drop,
            stall_after: self.stall_after.filter(|_| served < self.stall_connections),
            error_after: self.error_event_after.filter(|_| served == 0),
            malformed_lines: self.malformed_lines,
        }
    }
}

impl ConnectionFaults {
    /// Mode 6 garbage to write after the `sent`-th event of this connection.
    pub(crate) fn garbage_after(&self, sent: usize) -> Option<Bytes> {
        (self.malformed_lines && sent % 4 == 2).then(|| {
            Bytes::from_static(
                b"garbage without colon\n\n\
                  data: {not json\n\n\
                  event: step.output\ndata: this is not json at all\n\n",
            )
        })
    }
}

/// The `event: error` frame a failing server sends before it closes.
pub(crate) fn error_frame() -> Bytes {
    Bytes::from_static(
        b"event: error\ndata: {\"message\":\"Simulated server error: event store unavailable\"}\n\n",
    )
}

/// Size of the huge `step.output` text of mode 5.
pub(crate) const HUGE_OUTPUT_BYTES: usize = 100 * 1024;

/// The odd events mode 5 adds after the first `step.started` of `step`.
pub(crate) fn weird_events(step: &str) -> Vec<Planned> {
    let line = "0123456789abcdef".repeat(4) + "\n";
    let huge: String =
        line.repeat(HUGE_OUTPUT_BYTES / line.len() + 1)[..HUGE_OUTPUT_BYTES].to_owned();
    let odd = |kind: &str, actor: Option<&'static str>, payload| Planned {
        kind: kind.to_owned(),
        actor,
        payload,
        effect: Effect::None,
    };
    vec![
        odd(
            "ai.thinking",
            Some("coder"),
            json!({"text": "Looking at the parser first.", "depth": 2}),
        ),
        odd("runner.heartbeat", None, json!({"uptimeMs": 1234})),
        // Missing optional fields: `message` of a progress, `url` of an artifact.
        odd(
            "step.progress",
            Some("coder"),
            json!({"step": step, "percent": 10}),
        ),
        odd(
            "ai.artifact_created",
            Some("coder"),
            json!({"kind": "log", "name": "clone.log"}),
        ),
        odd(
            "step.output",
            Some("coder"),
            json!({"step": step, "stream": "stdout", "text": huge}),
        ),
        odd(
            "step.output",
            Some("coder"),
            json!({"step": step, "stream": "stderr",
                   "text": "\u{1b}[1;31merror\u{1b}[0m: build failed\n\u{1b}[32m✓\u{1b}[0m 3 passed"}),
        ),
        odd(
            "step.output",
            Some("coder"),
            json!({"step": step, "stream": "stdout",
                   "text": "Notify @everyone and @here, <!channel> and <@123>: done"}),
        ),
        odd(
            "step.progress",
            Some("coder"),
            json!({"step": step, "percent": 20, "message": "Pinging @everyone <!channel>"}),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stall_and_error_count_only_served_connections() {
        let faults = Faults {
            unavailable_connects: 2,
            stall_after: Some(3),
            stall_connections: 1,
            error_event_after: Some(1),
            ..Faults::default()
        };
        assert!(faults.unavailable(1));
        assert!(!faults.unavailable(2));
        let first_served = faults.for_connection(2);
        assert_eq!(first_served.stall_after, Some(3));
        assert_eq!(first_served.error_after, Some(1));
        let second_served = faults.for_connection(3);
        assert_eq!(second_served.stall_after, None);
        assert_eq!(second_served.error_after, None);
    }

    #[test]
    fn live_only_writes_no_ids_and_wins_over_replay() {
        let faults = Faults {
            live_only_no_ids: true,
            ignore_last_event_id: true,
            ..Faults::default()
        };
        let conn = faults.for_connection(0);
        assert_eq!(conn.replay, Replay::LiveOnly);
        assert!(!conn.write_ids);
    }

    #[test]
    fn huge_output_is_exactly_100_kb() {
        let events = weird_events("Clone");
        let longest = events
            .iter()
            .filter_map(|e| e.payload["text"].as_str())
            .map(str::len)
            .max();
        assert_eq!(longest, Some(HUGE_OUTPUT_BYTES));
    }
}
