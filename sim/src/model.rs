//! The wire types of backend-api.md, as this simulator writes them: job
//! status, the issue, the `RunnerJob` and `JobEvent` JSON, timestamps and the
//! NestJS error body. These are the simulator's own serde types: it is the
//! contract's second implementation and shares nothing with the bot.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// A job's `status`, written UPPERCASE as the service does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub(crate) enum Status {
    Pending,
    Queued,
    Running,
    Completed,
    Failed,
    Cancelled,
}

impl Status {
    /// `COMPLETED`, `FAILED` and `CANCELLED` end a job: nothing follows them.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The wire spelling, for messages and `stream.complete`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
        }
    }
}

/// The forge issue a job fixes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Issue {
    pub(crate) owner: String,
    pub(crate) repo: String,
    pub(crate) number: u64,
    pub(crate) url: String,
}

impl Issue {
    /// The issue on github.com, for jobs created through the library.
    pub(crate) fn on_github(owner: &str, repo: &str, number: u64) -> Self {
        Self {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            number,
            url: format!("https://github.com/{owner}/{repo}/issues/{number}"),
        }
    }
}

/// `result` of a `COMPLETED` job.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobResult {
    pub(crate) summary: String,
    pub(crate) pr_url: Option<String>,
}

/// The `RunnerJob` resource, borrowed from the stored job for serialization.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct RunnerJob<'a> {
    pub(crate) id: &'a str,
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    pub(crate) status: Status,
    pub(crate) progress_percent: u8,
    pub(crate) issue: &'a Issue,
    pub(crate) result: Option<&'a JobResult>,
    pub(crate) error: Option<&'a str>,
    pub(crate) retry_of: Option<&'a str>,
    pub(crate) created_at: String,
    pub(crate) started_at: Option<String>,
    pub(crate) completed_at: Option<String>,
    /// Not in the contract's example; kept because the service stores it and
    /// clients ignore unknown fields.
    pub(crate) origin: &'a Value,
}

/// One `JobEvent`, as stored and as sent in `data:` lines.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobEvent {
    pub(crate) id: String,
    pub(crate) job_id: String,
    #[serde(rename = "type")]
    pub(crate) kind: String,
    pub(crate) timestamp: String,
    /// Absent only in the odd events of `Faults::weird_payloads`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) actor: Option<String>,
    pub(crate) payload: Value,
}

/// The id of the `seq`-th event of a job (1-based): `e-0001`, `e-0002`, …
pub(crate) fn event_id(seq: usize) -> String {
    format!("e-{seq:04}")
}

/// The sequence number inside an event id (`e-0007` → 7), if it is one.
pub(crate) fn event_seq(id: &str) -> Option<usize> {
    id.trim().strip_prefix("e-")?.parse().ok()
}

/// The id of the `n`-th job of a simulator: UUID-shaped and deterministic.
pub(crate) fn job_id(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012}")
}

/// ISO-8601 UTC with milliseconds (`2026-11-20T10:00:02.000Z`), or with
/// microseconds when `micros` (latency benches need the finer grain).
pub(crate) fn iso8601(t: SystemTime, micros: bool) -> String {
    let since = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let date = format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}");
    if micros {
        format!("{date}.{:06}Z", since.subsec_micros())
    } else {
        format!("{date}.{:03}Z", since.subsec_millis())
    }
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's
/// `civil_from_days`; it saves a date-time dependency for one format.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The `message` of a NestJS error: one sentence, or a list for validation.
#[derive(Debug)]
pub(crate) enum ErrorMessage {
    One(String),
    Many(Vec<String>),
}

/// An error answer with the NestJS body
/// `{"statusCode":…,"message":…,"error":…}`.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: ErrorMessage,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: ErrorMessage::One(message.into()),
        }
    }

    /// 404 for a job that does not exist, was deleted, or belongs to another
    /// workspace: the service does not tell these apart.
    pub(crate) fn job_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "Runner job not found")
    }

    /// 400 with class-validator style messages.
    pub(crate) fn validation(messages: Vec<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: ErrorMessage::Many(messages),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match self.message {
            ErrorMessage::One(text) => Value::String(text),
            ErrorMessage::Many(list) => json!(list),
        };
        let body = json!({
            "statusCode": self.status.as_u16(),
            "message": message,
            "error": self.status.canonical_reason().unwrap_or("Error"),
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Tells a client it may come back at once: tests stay fast.
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("0"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn formats_the_epoch() {
        assert_eq!(iso8601(UNIX_EPOCH, false), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn formats_the_contract_example_with_millis_and_micros() {
        let t = UNIX_EPOCH + Duration::from_micros(1_795_168_802_123_456);
        assert_eq!(iso8601(t, false), "2026-11-20T10:00:02.123Z");
        assert_eq!(iso8601(t, true), "2026-11-20T10:00:02.123456Z");
    }

    #[test]
    fn formats_a_leap_day() {
        // 2024-02-29T23:59:59Z
        let t = UNIX_EPOCH + Duration::from_secs(1_709_251_199);
        assert_eq!(iso8601(t, false), "2024-02-29T23:59:59.000Z");
    }

    #[test]
    fn event_ids_round_trip() {
        assert_eq!(event_id(7), "e-0007");
        assert_eq!(event_seq("e-0007"), Some(7));
        assert_eq!(event_seq("e-12345"), Some(12_345));
        assert_eq!(event_seq("7"), None);
        assert_eq!(event_seq("e-x"), None);
    }

    #[test]
    fn job_ids_are_uuid_shaped() {
        assert_eq!(job_id(1), "00000000-0000-4000-8000-000000000001");
    }
}
