//! Job events: the typed form of `JobEvent` and its tolerant decoding.
//!
//! An event's `type` selects a typed payload ([`EventKind`]); a type this client does not know,
//! or a known type whose payload cannot be read, becomes [`EventKind::Unknown`] with the raw
//! payload, so that the relay can still render it generically. Decoding an event fails only
//! when it has no usable `id`, because without one it cannot be relayed exactly once.

use std::time::SystemTime;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::lenient;
use super::model::{EventId, JobId};

/// One event of a job, oldest first in every list and stream.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "WireEvent")]
pub struct JobEvent {
    /// The event's id: the key of exactly-once delivery.
    pub id: EventId,
    /// The job it belongs to; empty if the backend left it out.
    pub job_id: JobId,
    /// `None` when absent or unreadable.
    pub timestamp: Option<SystemTime>,
    /// Who caused it (`coder`, `reviewer`, …), when the backend says.
    pub actor: Option<String>,
    /// The event type with its payload.
    pub kind: EventKind,
}

impl JobEvent {
    /// Decodes one event from its JSON text (an SSE `data:` line or a list element).
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(json)
    }

    /// The event type as the backend spells it (`step.started`, or an unknown one).
    pub fn type_name(&self) -> &str {
        self.kind.type_name()
    }
}

/// The known event types of the contract, each with the payload fields the bot uses.
/// Payload fields are all optional: a backend that leaves one out still gets its event relayed.
#[derive(Clone, Debug, PartialEq)]
pub enum EventKind {
    /// `job.created`
    JobCreated,
    /// `job.queued`
    JobQueued,
    /// `job.started`
    JobStarted,
    /// `job.completed`
    JobCompleted(JobCompleted),
    /// `job.failed`
    JobFailed(JobFailed),
    /// `job.cancelled`
    JobCancelled(JobCancelled),
    /// `step.started`
    StepStarted(Step),
    /// `step.completed`
    StepCompleted(Step),
    /// `step.failed`
    StepFailed(Step),
    /// `step.progress`
    StepProgress(StepProgress),
    /// `step.output`
    StepOutput(StepOutput),
    /// `ai.tool_called`
    AiToolCalled(ToolCall),
    /// `ai.tokens_used`
    AiTokensUsed(TokensUsed),
    /// `ai.artifact_created`
    AiArtifactCreated(Artifact),
    /// `gate.started`
    GateStarted(Gate),
    /// `gate.passed`
    GatePassed(Gate),
    /// `gate.failed`
    GateFailed(Gate),
    /// Any other type, or a known type whose payload could not be read.
    Unknown {
        /// The type as the backend wrote it.
        kind: String,
        /// The payload as received (`{}` when there was none).
        payload: Value,
    },
}

impl EventKind {
    /// The wire name of the type.
    pub fn type_name(&self) -> &str {
        match self {
            Self::JobCreated => "job.created",
            Self::JobQueued => "job.queued",
            Self::JobStarted => "job.started",
            Self::JobCompleted(_) => "job.completed",
            Self::JobFailed(_) => "job.failed",
            Self::JobCancelled(_) => "job.cancelled",
            Self::StepStarted(_) => "step.started",
            Self::StepCompleted(_) => "step.completed",
            Self::StepFailed(_) => "step.failed",
            Self::StepProgress(_) => "step.progress",
            Self::StepOutput(_) => "step.output",
            Self::AiToolCalled(_) => "ai.tool_called",
            Self::AiTokensUsed(_) => "ai.tokens_used",
            Self::AiArtifactCreated(_) => "ai.artifact_created",
            Self::GateStarted(_) => "gate.started",
            Self::GatePassed(_) => "gate.passed",
            Self::GateFailed(_) => "gate.failed",
            Self::Unknown { kind, .. } => kind,
        }
    }

    /// Builds the typed kind from the wire type and payload; never fails.
    pub fn from_wire(kind: String, payload: Value) -> Self {
        // A missing or null payload reads as an empty one, so payload-less events of a
        // known type still decode.
        let payload = match payload {
            Value::Null => Value::Object(serde_json::Map::new()),
            other => other,
        };
        let decoded = match kind.as_str() {
            "job.created" => Some(Self::JobCreated),
            "job.queued" => Some(Self::JobQueued),
            "job.started" => Some(Self::JobStarted),
            "job.completed" => typed(&payload).map(Self::JobCompleted),
            "job.failed" => typed(&payload).map(Self::JobFailed),
            "job.cancelled" | "job.canceled" => typed(&payload).map(Self::JobCancelled),
            "step.started" => typed(&payload).map(Self::StepStarted),
            "step.completed" => typed(&payload).map(Self::StepCompleted),
            "step.failed" => typed(&payload).map(Self::StepFailed),
            "step.progress" => typed(&payload).map(Self::StepProgress),
            "step.output" => typed(&payload).map(Self::StepOutput),
            "ai.tool_called" => typed(&payload).map(Self::AiToolCalled),
            "ai.tokens_used" => typed(&payload).map(Self::AiTokensUsed),
            "ai.artifact_created" => typed(&payload).map(Self::AiArtifactCreated),
            "gate.started" => typed(&payload).map(Self::GateStarted),
            "gate.passed" => typed(&payload).map(Self::GatePassed),
            "gate.failed" => typed(&payload).map(Self::GateFailed),
            _ => None,
        };
        decoded.unwrap_or(Self::Unknown { kind, payload })
    }
}

/// Reads a typed payload by reference, so a failure leaves the raw payload for `Unknown`.
fn typed<T: DeserializeOwned>(payload: &Value) -> Option<T> {
    match T::deserialize(payload) {
        Ok(value) => Some(value),
        Err(error) => {
            tracing::warn!(%error, "event payload unreadable; relaying it as an unknown event");
            None
        }
    }
}

/// `job.completed`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobCompleted {
    /// What was done, in a sentence.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub summary: Option<String>,
    /// The pull request opened, if any.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pr_url: Option<String>,
}

/// `job.failed`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct JobFailed {
    /// Why the job failed.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub error: Option<String>,
}

/// `job.cancelled`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct JobCancelled {
    /// Why, if the canceller said.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub reason: Option<String>,
}

/// `step.started`, `step.completed`, `step.failed` (`error` on failure).
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct Step {
    /// The step's name (`Run tests`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub step: Option<String>,
    /// Position of the step, as the backend counts (the contract's example starts at 1).
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub index: Option<u32>,
    /// How many steps the job has.
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub total: Option<u32>,
    /// Why the step failed (`step.failed` only).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub error: Option<String>,
}

/// `step.progress`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct StepProgress {
    /// The step's name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub step: Option<String>,
    /// Progress of the step, 0 to 100.
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub percent: Option<u32>,
    /// What is happening.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub message: Option<String>,
}

/// `step.output`: a chunk of a step's console output, possibly long and with ANSI codes.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct StepOutput {
    /// The step's name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub step: Option<String>,
    /// `stdout` or `stderr` (kept as written).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub stream: Option<String>,
    /// The output itself, unescaped: rendering it safely is the relay's job.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub text: Option<String>,
}

/// `ai.tool_called`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct ToolCall {
    /// The tool's name (`shell.run`).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub tool: Option<String>,
    /// A short summary of the tool's input.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub input: Option<String>,
}

/// `ai.tokens_used`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct TokensUsed {
    /// Prompt tokens.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub input: Option<u64>,
    /// Completion tokens.
    #[serde(default, deserialize_with = "lenient::opt_u64")]
    pub output: Option<u64>,
}

/// `ai.artifact_created`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct Artifact {
    /// What sort of artifact (`log`, `patch`, …).
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// Its name.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub name: Option<String>,
    /// Where to see it, if anywhere.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub url: Option<String>,
}

/// `gate.started`, `gate.passed`, `gate.failed`.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
pub struct Gate {
    /// `typecheck`, `lint`, `build`, `test`, …
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub gate: Option<String>,
    /// Free text; structured details are kept as their JSON text.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub details: Option<String>,
}

/// The event as it is on the wire, before the type selects a payload.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent {
    #[serde(default, deserialize_with = "lenient::opt_string")]
    id: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    job_id: Option<String>,
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    kind: Option<String>,
    #[serde(default, deserialize_with = "lenient::opt_time")]
    timestamp: Option<SystemTime>,
    #[serde(default, deserialize_with = "lenient::opt_string")]
    actor: Option<String>,
    #[serde(default)]
    payload: Value,
}

impl TryFrom<WireEvent> for JobEvent {
    type Error = String;

    fn try_from(wire: WireEvent) -> Result<Self, Self::Error> {
        let id = wire
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| "event has no id".to_owned())?;
        Ok(Self {
            id: EventId::new(id),
            job_id: JobId::new(wire.job_id.unwrap_or_default()),
            timestamp: wire.timestamp,
            actor: wire.actor,
            kind: EventKind::from_wire(wire.kind.unwrap_or_default(), wire.payload),
        })
    }
}

/// Decodes a JSON array of events, skipping (and logging) elements that are not events, so one
/// bad element does not hide the others.
pub(crate) fn decode_event_list(body: &[u8]) -> Result<Vec<JobEvent>, serde_json::Error> {
    let items: Vec<Value> = serde_json::from_slice(body)?;
    Ok(items
        .into_iter()
        .filter_map(|item| match JobEvent::deserialize(item) {
            Ok(event) => Some(event),
            Err(error) => {
                tracing::warn!(%error, "skipping an unreadable event in the event list");
                None
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(json: &str) -> JobEvent {
        JobEvent::from_json(json).expect("event decodes")
    }

    #[test]
    fn contract_example_decodes_to_a_typed_step() {
        let e = event(
            r#"{"id": "e-0007", "jobId": "7d6f", "type": "step.started",
                "timestamp": "2026-11-20T10:00:05.120Z", "actor": "coder",
                "payload": {"step": "Run tests", "index": 3, "total": 6}}"#,
        );
        assert_eq!(e.id, EventId::new("e-0007"));
        assert_eq!(e.job_id, JobId::new("7d6f"));
        assert_eq!(e.actor.as_deref(), Some("coder"));
        assert!(e.timestamp.is_some());
        let EventKind::StepStarted(step) = &e.kind else {
            panic!("expected step.started, got {:?}", e.kind);
        };
        assert_eq!(step.step.as_deref(), Some("Run tests"));
        assert_eq!((step.index, step.total), (Some(3), Some(6)));
        assert_eq!(e.type_name(), "step.started");
    }

    #[test]
    fn unknown_type_is_kept_with_its_payload() {
        let e = event(r#"{"id": "e-1", "type": "ai.thought", "payload": {"text": "hmm"}}"#);
        assert_eq!(
            e.kind,
            EventKind::Unknown {
                kind: "ai.thought".into(),
                payload: serde_json::json!({"text": "hmm"}),
            }
        );
        assert_eq!(e.type_name(), "ai.thought");
    }

    #[test]
    fn missing_payload_and_optional_fields_are_tolerated() {
        let e = event(r#"{"id": "e-2", "type": "job.completed"}"#);
        assert_eq!(e.kind, EventKind::JobCompleted(JobCompleted::default()));
        assert_eq!((e.timestamp, e.actor), (None, None));
        assert_eq!(e.job_id, JobId::new(""));
        let e = event(r#"{"id": "e-3", "type": "job.cancelled", "payload": null}"#);
        assert_eq!(
            e.kind,
            EventKind::JobCancelled(JobCancelled { reason: None })
        );
    }

    #[test]
    fn extra_fields_are_ignored_and_numeric_ids_accepted() {
        let e = event(
            r#"{"id": 17, "type": "ai.tokens_used", "traceId": "x",
                "payload": {"input": 1200, "output": "340", "model": "big"}}"#,
        );
        assert_eq!(e.id, EventId::new("17"));
        assert_eq!(
            e.kind,
            EventKind::AiTokensUsed(TokensUsed {
                input: Some(1200),
                output: Some(340),
            })
        );
    }

    #[test]
    fn a_payload_of_the_wrong_shape_becomes_unknown() {
        let e = event(r#"{"id": "e-4", "type": "step.output", "payload": "just text"}"#);
        assert_eq!(
            e.kind,
            EventKind::Unknown {
                kind: "step.output".into(),
                payload: Value::String("just text".into()),
            }
        );
    }

    #[test]
    fn long_output_with_ansi_is_kept_intact() {
        let text = format!("\u{1b}[31m{}\u{1b}[0m @everyone", "x".repeat(100_000));
        let json = serde_json::json!({
            "id": "e-5", "type": "step.output",
            "payload": {"step": "build", "stream": "stderr", "text": text}
        });
        let e = event(&json.to_string());
        let EventKind::StepOutput(out) = e.kind else {
            panic!("expected step.output");
        };
        assert_eq!(out.text.as_deref(), Some(text.as_str()));
        assert_eq!(out.stream.as_deref(), Some("stderr"));
    }

    #[test]
    fn an_event_without_id_is_rejected() {
        assert!(JobEvent::from_json(r#"{"type": "job.created"}"#).is_err());
        assert!(JobEvent::from_json(r#"{"id": "", "type": "job.created"}"#).is_err());
        assert!(JobEvent::from_json("not json").is_err());
    }

    #[test]
    fn an_event_list_skips_bad_elements() {
        let list = decode_event_list(
            br#"[{"id": "e-1", "type": "job.created"}, {"type": "broken"}, 42,
                 {"id": "e-2", "type": "job.queued"}]"#,
        )
        .unwrap();
        let ids: Vec<_> = list.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["e-1", "e-2"]);
    }
}
