//! The job resources of the runner-jobs API: ids, statuses, jobs and the create request.
//!
//! Decoding is tolerant by design (see `../../shared/backend-api.md`): unknown fields are
//! ignored, statuses are matched case-insensitively and an unknown status is kept, optional
//! fields may be absent or `null`.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::lenient;

/// The id of a runner job, as the backend spells it (a UUID in the real service).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(String);

impl JobId {
    /// Wraps an id received from the backend or stored earlier.
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text, for URLs and storage.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for JobId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

/// The id of one job event (`e-0007`). Only the id inside the event's JSON is trusted; the
/// SSE `id:` line is optional on the wire.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(#[serde(deserialize_with = "lenient::id_string")] String);

impl EventId {
    /// Wraps an event id received from the backend or stored as "last relayed".
    pub fn new(id: impl Into<String>) -> Self {
        Self(id.into())
    }

    /// The id as text, for `?after=` and `Last-Event-ID`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for EventId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

/// Where a job is in its life. Matched case-insensitively; anything else is kept as `Other`
/// so that a newer backend's status does not make the job unreadable.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum JobStatus {
    /// Created, not yet queued.
    Pending,
    /// Waiting for a runner.
    Queued,
    /// A runner works on it.
    Running,
    /// Final: done, `result` set.
    Completed,
    /// Final: gave up, `error` set.
    Failed,
    /// Final: stopped on request.
    Cancelled,
    /// A status this client does not know, as the backend wrote it.
    Other(String),
}

impl JobStatus {
    /// Reads a status as the backend writes it, in any letter case.
    pub fn parse(text: &str) -> Self {
        let known = [
            ("PENDING", Self::Pending),
            ("QUEUED", Self::Queued),
            ("RUNNING", Self::Running),
            ("COMPLETED", Self::Completed),
            ("FAILED", Self::Failed),
            // Both spellings occur in the wild; the contract uses the British one.
            ("CANCELLED", Self::Cancelled),
            ("CANCELED", Self::Cancelled),
        ];
        let text = text.trim();
        known
            .into_iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(text))
            .map_or_else(|| Self::Other(text.to_owned()), |(_, status)| status)
    }

    /// Whether the job can no longer change (`COMPLETED`, `FAILED`, `CANCELLED`).
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Completed | Self::Failed | Self::Cancelled)
    }

    /// The contract's spelling (upper case); `Other` as received.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Pending => "PENDING",
            Self::Queued => "QUEUED",
            Self::Running => "RUNNING",
            Self::Completed => "COMPLETED",
            Self::Failed => "FAILED",
            Self::Cancelled => "CANCELLED",
            Self::Other(text) => text,
        }
    }
}

impl fmt::Display for JobStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for JobStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(lenient::opt_string(d)?.map_or_else(|| Self::Other(String::new()), |s| Self::parse(&s)))
    }
}

impl Serialize for JobStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The GitHub issue a job works on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssueRef {
    /// The repository's owner (`acme`).
    pub owner: String,
    /// The repository's name (`web`).
    pub repo: String,
    /// The issue's number (`42`).
    pub number: u64,
    /// The issue's web address; the service derives it when absent.
    #[serde(
        default,
        deserialize_with = "lenient::opt_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub url: Option<String>,
}

/// What a completed job produced.
#[derive(Clone, Debug, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    /// What was done, in a sentence.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub summary: Option<String>,
    /// The pull request opened, if any.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub pr_url: Option<String>,
}

/// A runner job as `GET /runner-jobs/:id` returns it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunnerJob {
    /// The job's id.
    pub id: JobId,
    /// The job type (`fix`).
    #[serde(rename = "type", default, deserialize_with = "lenient::opt_string")]
    pub kind: Option<String>,
    /// Where the job is in its life.
    pub status: JobStatus,
    /// Progress as the backend estimates it, 0 to 100.
    #[serde(default, deserialize_with = "lenient::opt_u32")]
    pub progress_percent: Option<u32>,
    /// The issue the job works on.
    #[serde(default)]
    pub issue: Option<IssueRef>,
    /// Set once `COMPLETED`.
    #[serde(default)]
    pub result: Option<JobResult>,
    /// Set once `FAILED`; an error object is kept as its JSON text.
    #[serde(default, deserialize_with = "lenient::opt_string")]
    pub error: Option<String>,
    /// The job this one retries.
    #[serde(default)]
    pub retry_of: Option<JobId>,
    /// When the job was created.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub created_at: Option<SystemTime>,
    /// When a runner started it.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub started_at: Option<SystemTime>,
    /// When it became final.
    #[serde(default, deserialize_with = "lenient::opt_time")]
    pub completed_at: Option<SystemTime>,
}

/// One page of `GET /runner-jobs?owner=&repo=&issue=&limit=`, newest first.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JobList {
    /// The jobs of this page, newest first.
    #[serde(default)]
    pub data: Vec<RunnerJob>,
    /// How many jobs match in all (the page may hold fewer).
    #[serde(default)]
    pub total: u64,
}

/// Where in chat a job was asked for, so the backend can link back to it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobOrigin {
    /// `discord`, `slack`, `mattermost`, `console`.
    pub platform: String,
    /// The platform's id of the channel.
    pub channel_id: String,
    /// The platform's id of the thread, once there is one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub thread_id: Option<String>,
    /// The platform's id of the person who asked.
    pub user_id: String,
    /// Their display name.
    pub user_name: String,
    /// A link to the message that asked, where the platform has one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub message_url: Option<String>,
}

/// The body of `POST /runner-jobs`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreateJob {
    /// The job type; the bot only starts `fix` jobs.
    #[serde(rename = "type")]
    pub kind: String,
    /// The issue to fix.
    pub issue: IssueRef,
    /// Where in chat it was asked for.
    pub origin: JobOrigin,
}

impl CreateJob {
    /// A `fix` job for `issue`, asked for from `origin`.
    pub fn fix(issue: IssueRef, origin: JobOrigin) -> Self {
        Self {
            kind: "fix".to_owned(),
            issue,
            origin,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_is_matched_case_insensitively() {
        assert_eq!(JobStatus::parse("running"), JobStatus::Running);
        assert_eq!(JobStatus::parse("Completed"), JobStatus::Completed);
        assert_eq!(JobStatus::parse("canceled"), JobStatus::Cancelled);
        assert!(JobStatus::parse("failed").is_final());
        assert!(!JobStatus::parse("QUEUED").is_final());
    }

    #[test]
    fn unknown_status_is_kept_not_rejected() {
        let status: JobStatus = serde_json::from_str("\"PAUSED\"").unwrap();
        assert_eq!(status, JobStatus::Other("PAUSED".into()));
        assert!(!status.is_final());
        assert_eq!(serde_json::to_string(&status).unwrap(), "\"PAUSED\"");
    }

    #[test]
    fn job_decodes_the_contract_example() {
        let json = r#"{
          "id": "7d6f4c1e", "type": "fix", "status": "RUNNING", "progressPercent": 40,
          "issue": {"owner": "acme", "repo": "web", "number": 42,
                    "url": "https://github.com/acme/web/issues/42"},
          "result": {"summary": "Fixed null check in parser",
                     "prUrl": "https://github.com/acme/web/pull/57"},
          "error": null, "retryOf": null,
          "createdAt": "2026-11-20T10:00:00.000Z", "startedAt": "2026-11-20T10:00:02.000Z",
          "completedAt": null
        }"#;
        let job: RunnerJob = serde_json::from_str(json).unwrap();
        assert_eq!(job.id, JobId::new("7d6f4c1e"));
        assert_eq!(job.status, JobStatus::Running);
        assert_eq!(job.progress_percent, Some(40));
        assert_eq!(job.issue.as_ref().map(|i| i.number), Some(42));
        let result = job.result.unwrap();
        assert_eq!(
            result.pr_url.as_deref(),
            Some("https://github.com/acme/web/pull/57")
        );
        assert!(job.created_at.is_some() && job.started_at.is_some());
        assert_eq!(
            (job.error, job.retry_of, job.completed_at),
            (None, None, None)
        );
    }

    #[test]
    fn job_tolerates_missing_and_extra_fields_and_lowercase_status() {
        let json = r#"{"id": "j1", "status": "failed", "error": {"code": 7},
                       "workspaceId": "w", "brandNewField": [1, 2]}"#;
        let job: RunnerJob = serde_json::from_str(json).unwrap();
        assert_eq!(job.status, JobStatus::Failed);
        assert_eq!(job.error.as_deref(), Some(r#"{"code":7}"#));
        assert_eq!(job.issue, None);
        assert_eq!(job.kind, None);
    }

    #[test]
    fn create_job_serializes_the_contract_body() {
        let body = CreateJob::fix(
            IssueRef {
                owner: "acme".into(),
                repo: "web".into(),
                number: 42,
                url: Some("https://github.com/acme/web/issues/42".into()),
            },
            JobOrigin {
                platform: "slack".into(),
                channel_id: "C1".into(),
                thread_id: Some("171.5".into()),
                user_id: "U1".into(),
                user_name: "ada".into(),
                message_url: None,
            },
        );
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["type"], "fix");
        assert_eq!(json["issue"]["number"], 42);
        assert_eq!(json["origin"]["channelId"], "C1");
        assert_eq!(json["origin"]["threadId"], "171.5");
        assert_eq!(json["origin"]["userName"], "ada");
        assert!(json["origin"].get("messageUrl").is_none());
    }
}
