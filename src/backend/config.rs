//! How to reach the job backend and how hard to try: `BackendConfig` and its policies.

use std::time::Duration;

use crate::secret::Secret;

/// Connection settings of a [`BackendClient`](super::BackendClient).
#[derive(Clone, Debug)]
pub struct BackendConfig {
    /// e.g. `http://localhost:3001`; every API path is appended to it.
    pub base_url: String,
    /// Sent as `Authorization: Bearer <token>`.
    pub token: Secret,
    /// Sent as `X-Workspace-Id`.
    pub workspace: String,
    /// Upper bound of one REST attempt, connecting through reading the whole answer.
    pub request_timeout: Duration,
    /// Upper bound of establishing a TCP (and TLS) connection, REST and stream alike.
    pub connect_timeout: Duration,
    /// Whether `HTTP_PROXY`/`HTTPS_PROXY`/`NO_PROXY` are honoured (tests turn this off).
    pub use_env_proxy: bool,
    /// REST requests in flight at once, all callers together. A restarted bot resumes
    /// thousands of streams at once, each wanting a backfill; unbounded, that is as many new
    /// connections at the same moment, for the backend and for this process's memory.
    pub max_concurrent_requests: usize,
    /// Retries of REST calls.
    pub retry: RetryPolicy,
    /// Reconnects and stall detection of event streams.
    pub stream: StreamPolicy,
}

impl BackendConfig {
    /// Settings with the defaults below for everything but where and who.
    pub fn new(base_url: impl Into<String>, token: Secret, workspace: impl Into<String>) -> Self {
        Self {
            base_url: base_url.into(),
            token,
            workspace: workspace.into(),
            request_timeout: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(5),
            use_env_proxy: true,
            max_concurrent_requests: 64,
            retry: RetryPolicy::default(),
            stream: StreamPolicy::default(),
        }
    }
}

/// Retries of one REST call on 429, 5xx and connection errors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; `1` disables retries.
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time. Each delay is drawn at random from
    /// `[d/2, d)`, so that clients that failed together do not retry together.
    pub min_delay: Duration,
    /// Cap of the doubling (a server's `Retry-After` may ask for longer, up to a minute).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            min_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(5),
        }
    }
}

/// How an event stream is kept alive.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreamPolicy {
    /// Silence (no event, no keep-alive comment) after which the connection is presumed dead.
    /// The backend sends a keep-alive every 15 s, so the contract's 45 s is three missed ones.
    pub stall_timeout: Duration,
    /// Delay before the first reconnect; doubles per consecutive failure. Each delay is drawn
    /// at random from `[d/2, d)`, so that streams dropped together do not return together.
    pub reconnect_min_delay: Duration,
    /// Cap of the doubling. A connection that lived this long counts as healthy: the next
    /// failure starts again from the minimum.
    pub reconnect_max_delay: Duration,
    /// Consecutive failed connects after which the stream ends with `GaveUp`; `None` keeps
    /// trying for ever (a job is not forgotten because the backend is down for a while).
    pub give_up_after: Option<u32>,
}

impl Default for StreamPolicy {
    fn default() -> Self {
        Self {
            stall_timeout: Duration::from_secs(45),
            reconnect_min_delay: Duration::from_millis(500),
            reconnect_max_delay: Duration::from_secs(30),
            give_up_after: None,
        }
    }
}
