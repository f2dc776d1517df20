//! The job-backend client: REST calls and event streams of the runner-jobs API
//! (`../shared/backend-api.md`).
//!
//! - `model.rs`, `event.rs`, `lenient.rs`: the wire model, decoded tolerantly;
//! - `config.rs`: where the backend is and how hard to try;
//! - `backends.rs`: one client per workspace;
//! - `client.rs`, `request.rs`, `error.rs`: REST calls, retries, typed errors;
//! - `follow.rs`, `follower.rs`, `stream_signals.rs`, `delivered.rs`, `transport.rs`: following
//!   a job's events exactly once through everything the contract's failure modes throw at it.

mod backends;
mod client;
mod config;
mod delivered;
mod error;
mod event;
mod follow;
mod follower;
mod framing;
mod lenient;
mod model;
mod request;
mod stream_http;
mod stream_signals;
mod transport;

pub use backends::Backends;
pub use client::BackendClient;
pub use config::{BackendConfig, RetryPolicy, StreamPolicy};
pub use error::BackendError;
pub use event::{
    Artifact, EventKind, Gate, JobCancelled, JobCompleted, JobEvent, JobFailed, Step, StepOutput,
    StepProgress, TokensUsed, ToolCall,
};
pub use follow::{Followed, JobEventStream, StreamEnd};
pub use model::{
    CreateJob, EventId, IssueRef, JobId, JobList, JobOrigin, JobResult, JobStatus, RunnerJob,
};
