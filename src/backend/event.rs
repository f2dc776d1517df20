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
use serde_json::value::RawValue;

use super::lenient;
use super::model::{EventId, JobId};

/// One event of a job, oldest first in every list and stream.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(try_from = "WireEvent<Value>")]
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
    /// Decodes one event from its JSON text (an SSE `data:` line or a list element). The
    /// payload is read in place, typed straight from its text: a JSON value of it first (what
    /// `Deserialize` must build, not knowing the type yet) cost a map and its strings for
    /// every relayed event. The outcome is the same as [`JobEvent`]'s `Deserialize`.
    pub fn from_json(json: &str) -> Result<Self, serde_json::Error> {
        let wire: WireEvent<&RawValue> = serde_json::from_str(json)?;
        let payload = wire.payload;
        wire.into_event(|kind| EventKind::from_raw(kind, payload))
            .map_err(serde::de::Error::custom)
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
        Self::from_payload(kind, payload)
    }

    /// [`EventKind::from_wire`] on the payload's JSON text, as it stands in the event: known
    /// types read their typed payload straight from it; only an unknown type (or an
    /// unreadable payload) builds the generic JSON value.
    fn from_raw(kind: String, payload: Option<&RawValue>) -> Self {
        let text = match payload.map(RawValue::get) {
            None | Some("null") => "{}",
            Some(text) => text,
        };
        Self::from_payload(kind, RawPayload(text))
    }

    fn from_payload(kind: String, payload: impl Payload) -> Self {
        let decoded = match kind.as_str() {
            "job.created" => Some(Self::JobCreated),
            "job.queued" => Some(Self::JobQueued),
            "job.started" => Some(Self::JobStarted),
            "job.completed" => payload.typed().map(Self::JobCompleted),
            "job.failed" => payload.typed().map(Self::JobFailed),
            "job.cancelled" | "job.canceled" => payload.typed().map(Self::JobCancelled),
            "step.started" => payload.typed().map(Self::StepStarted),
            "step.completed" => payload.typed().map(Self::StepCompleted),
            "step.failed" => payload.typed().map(Self::StepFailed),
            "step.progress" => payload.typed().map(Self::StepProgress),
            "step.output" => payload.typed().map(Self::StepOutput),
            "ai.tool_called" => payload.typed().map(Self::AiToolCalled),
            "ai.tokens_used" => payload.typed().map(Self::AiTokensUsed),
            "ai.artifact_created" => payload.typed().map(Self::AiArtifactCreated),
            "gate.started" => payload.typed().map(Self::GateStarted),
            "gate.passed" => payload.typed().map(Self::GatePassed),
            "gate.failed" => payload.typed().map(Self::GateFailed),
            _ => None,
        };
        decoded.unwrap_or_else(|| Self::Unknown {
            kind,
            payload: payload.into_value(),
        })
    }
}

/// An event's payload, as a JSON value (an event read through serde in general) or as its
/// JSON text (an event read from the stream or a list: every relayed event).
trait Payload {
    /// Reads a typed payload, leaving the raw one for `Unknown` on failure (logged).
    fn typed<T: DeserializeOwned>(&self) -> Option<T>;
    fn into_value(self) -> Value;
}

impl Payload for Value {
    fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        unreadable_as_none(T::deserialize(self))
    }

    fn into_value(self) -> Value {
        self
    }
}

/// The payload's JSON text, valid JSON (it was read as a `RawValue`).
struct RawPayload<'a>(&'a str);

impl Payload for RawPayload<'_> {
    fn typed<T: DeserializeOwned>(&self) -> Option<T> {
        unreadable_as_none(serde_json::from_str(self.0))
    }

    fn into_value(self) -> Value {
        // Cannot fail on a `RawValue`'s text; `Null` if it ever did.
        serde_json::from_str(self.0).unwrap_or_default()
    }
}

fn unreadable_as_none<T>(decoded: Result<T, serde_json::Error>) -> Option<T> {
    match decoded {
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

/// The event as it is on the wire, before the type selects a payload: the payload as a JSON
/// value (`P` = `Value`, for `Deserialize`), or as its text (`&RawValue`, for `from_json`).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "P: Deserialize<'de>"))]
struct WireEvent<P> {
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
    payload: Option<P>,
}

impl<P> WireEvent<P> {
    /// The event, its kind built by `kind` from the wire's type.
    fn into_event(self, kind: impl FnOnce(String) -> EventKind) -> Result<JobEvent, String> {
        let id = self
            .id
            .filter(|id| !id.is_empty())
            .ok_or_else(|| "event has no id".to_owned())?;
        Ok(JobEvent {
            id: EventId::new(id),
            job_id: JobId::new(self.job_id.unwrap_or_default()),
            timestamp: self.timestamp,
            actor: self.actor,
            kind: kind(self.kind.unwrap_or_default()),
        })
    }
}

impl TryFrom<WireEvent<Value>> for JobEvent {
    type Error = String;

    fn try_from(mut wire: WireEvent<Value>) -> Result<Self, Self::Error> {
        let payload = wire.payload.take().unwrap_or_default();
        wire.into_event(|kind| EventKind::from_wire(kind, payload))
    }
}

/// Decodes a JSON array of events, skipping (and logging) elements that are not events, so one
/// bad element does not hide the others.
pub(crate) fn decode_event_list(body: &[u8]) -> Result<Vec<JobEvent>, serde_json::Error> {
    let items: Vec<&RawValue> = serde_json::from_slice(body)?;
    Ok(items
        .into_iter()
        .filter_map(|item| match JobEvent::from_json(item.get()) {
            Ok(event) => Some(event),
            Err(error) => {
                tracing::warn!(%error, "skipping an unreadable event in the event list");
                None
            }
        })
        .collect())
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
