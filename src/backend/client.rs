//! `BackendClient`: the REST calls of the runner-jobs API.
//!
//! One `reqwest::Client` (one connection pool, one TLS set-up) per `BackendClient` for every
//! REST call, and one stream transport (`transport.rs`) for every event stream; cloning the
//! client is an `Arc` bump. Retrying and error mapping live in `request.rs`, the event stream
//! in `follow.rs` and `follower.rs`.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};
use serde::de::DeserializeOwned;

use super::config::BackendConfig;
use super::error::BackendError;
use super::event::{JobEvent, decode_event_list};
use super::model::{CreateJob, EventId, JobId, JobList, RunnerJob};
use super::request::{Call, Replay};
use super::transport::StreamTransport;

/// Idle connections kept per host. Thousands of streams each hold their own connection while
/// open; when they end, keeping all of them idle would only hold memory and sockets.
const MAX_IDLE_PER_HOST: usize = 32;

/// The header naming the workspace a job belongs to (the service's WorkspaceGuard).
const WORKSPACE_HEADER: HeaderName = HeaderName::from_static("x-workspace-id");

/// A client of the job backend. Cheap to clone; share one per backend.
#[derive(Clone)]
pub struct BackendClient {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    /// Shared by every event stream of this client.
    pub(crate) streams: StreamTransport,
    /// Bounds the REST attempts in flight (`BackendConfig::max_concurrent_requests`).
    pub(crate) in_flight: tokio::sync::Semaphore,
    /// `base_url` with a path that ends in `/`, so joining never drops a segment.
    base: Url,
    pub(crate) config: BackendConfig,
    /// Where stream reconnects are counted, once the daemon attaches it.
    pub(crate) metrics: std::sync::OnceLock<Arc<crate::metrics::Metrics>>,
}

impl std::fmt::Debug for BackendClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendClient")
            .field("base_url", &self.inner.base.as_str())
            .field("workspace", &self.inner.config.workspace)
            .finish_non_exhaustive()
    }
}

impl BackendClient {
    /// Builds a client. Installs the process-wide rustls `ring` provider first (if none is
    /// installed yet), so no caller can forget it.
    pub fn new(config: BackendConfig) -> Result<Self, BackendError> {
        // Err means a provider is already installed, by us earlier or by the embedding
        // program; either way TLS has one.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let base = base_url(&config.base_url)?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {}", config.token.expose()))
            .map_err(|_| config_error("the API token is not a valid header value"))?;
        auth.set_sensitive(true);
        let workspace = HeaderValue::from_str(&config.workspace)
            .map_err(|_| config_error("the workspace id is not a valid header value"))?;
        let headers = HeaderMap::from_iter([(AUTHORIZATION, auth), (WORKSPACE_HEADER, workspace)]);

        let mut builder = reqwest::Client::builder()
            .default_headers(headers.clone())
            .user_agent(concat!("mosaic-bot/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.connect_timeout)
            // Events are small writes that a person waits for; do not let Nagle hold them.
            .tcp_nodelay(true)
            .pool_max_idle_per_host(MAX_IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_secs(60));
        // No client-wide `timeout`: it would cut every event stream after that long. REST
        // calls set theirs per request instead.
        if !config.use_env_proxy {
            builder = builder.no_proxy();
        }
        let http = builder
            .build()
            .map_err(|e| config_error(&format!("cannot build the HTTP client: {e}")))?;
        let streams =
            StreamTransport::new(&http, headers, config.connect_timeout, config.use_env_proxy)
                .map_err(|e| config_error(&format!("cannot set up TLS for event streams: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                http,
                streams,
                in_flight: tokio::sync::Semaphore::new(config.max_concurrent_requests.max(1)),
                base,
                config,
                metrics: std::sync::OnceLock::new(),
            }),
        })
    }

    /// The workspace this client works in (its `X-Workspace-Id`).
    pub fn workspace(&self) -> &str {
        &self.inner.config.workspace
    }

    /// Counts this client's stream reconnects in `metrics` from now on (the
    /// first call wins; clones share it).
    pub fn attach_metrics(&self, metrics: Arc<crate::metrics::Metrics>) {
        let _ = self.inner.metrics.set(metrics);
    }

    /// Counts one lost or refused event stream connection.
    pub(crate) fn count_reconnect(&self, reason: &str) {
        if let Some(metrics) = self.inner.metrics.get() {
            metrics.stream_reconnect(reason);
        }
    }

    /// The configuration this client was built with.
    pub fn config(&self) -> &BackendConfig {
        &self.inner.config
    }

    /// `POST /runner-jobs`: starts a job. Retried only when the request provably did not
    /// create a job (see `Replay::OnlyIfUnprocessed`).
    pub async fn create_job(&self, request: &CreateJob) -> Result<RunnerJob, BackendError> {
        let call = Call::new(Method::POST, "/runner-jobs", self.url(&["runner-jobs"])?)
            .json(request)?
            .replay(Replay::OnlyIfUnprocessed);
        self.fetch(call).await
    }

    /// `GET /runner-jobs/:id`.
    pub async fn job(&self, id: &JobId) -> Result<RunnerJob, BackendError> {
        let call = Call::new(Method::GET, "/runner-jobs/:id", self.job_url(id, &[])?).job(id);
        self.fetch(call).await
    }

    /// `GET /runner-jobs?owner=&repo=&issue=&limit=`: the newest jobs of an issue.
    pub async fn jobs_for_issue(
        &self,
        owner: &str,
        repo: &str,
        number: u64,
        limit: u32,
    ) -> Result<JobList, BackendError> {
        let mut url = self.url(&["runner-jobs"])?;
        url.query_pairs_mut()
            .append_pair("owner", owner)
            .append_pair("repo", repo)
            .append_pair("issue", &number.to_string())
            .append_pair("limit", &limit.to_string());
        self.fetch(Call::new(Method::GET, "/runner-jobs?issue", url))
            .await
    }

    /// `POST /runner-jobs/:id/cancel`. `Conflict` when the job is already final. Not retried
    /// after it may have reached the server: a replay would answer `Conflict` for a cancel
    /// that in fact succeeded.
    pub async fn cancel(
        &self,
        id: &JobId,
        reason: Option<&str>,
    ) -> Result<RunnerJob, BackendError> {
        let body = serde_json::json!({ "reason": reason });
        let url = self.job_url(id, &["cancel"])?;
        let call = Call::new(Method::POST, "/runner-jobs/:id/cancel", url)
            .job(id)
            .json(&body)?
            .replay(Replay::OnlyIfUnprocessed);
        self.fetch(call).await
    }

    /// `POST /runner-jobs/:id/retry`: a new job with `retry_of` set. `Conflict` unless the job
    /// failed or was cancelled. Retried like `create_job`, since a replay could start two jobs.
    pub async fn retry(&self, id: &JobId) -> Result<RunnerJob, BackendError> {
        let url = self.job_url(id, &["retry"])?;
        let call = Call::new(Method::POST, "/runner-jobs/:id/retry", url)
            .job(id)
            .replay(Replay::OnlyIfUnprocessed);
        self.fetch(call).await
    }

    /// `GET /runner-jobs/:id/events[?after=]`: stored events after `after` (all when `None`),
    /// oldest first. Elements that are not readable events are skipped and logged.
    pub async fn events_after(
        &self,
        id: &JobId,
        after: Option<&EventId>,
    ) -> Result<Vec<JobEvent>, BackendError> {
        let mut url = self.job_url(id, &["events"])?;
        if let Some(after) = after {
            url.query_pairs_mut().append_pair("after", after.as_str());
        }
        let body = self
            .send(Call::new(Method::GET, "/runner-jobs/:id/events", url).job(id))
            .await?;
        decode_event_list(&body).map_err(|e| BackendError::Decode {
            message: format!("event list: {e}"),
        })
    }

    /// The URL of a job's event stream.
    pub(crate) fn stream_url(&self, id: &JobId) -> Result<Url, BackendError> {
        self.job_url(id, &["events", "stream"])
    }

    async fn fetch<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, BackendError> {
        let route = call.route;
        let body = self.send(call).await?;
        serde_json::from_slice(&body).map_err(|e| BackendError::Decode {
            message: format!("{route}: {e}"),
        })
    }

    /// `base` joined with path segments, each percent-encoded as needed.
    fn url(&self, segments: &[&str]) -> Result<Url, BackendError> {
        let mut url = self.inner.base.clone();
        url.path_segments_mut()
            .map_err(|()| config_error("the base URL cannot take a path"))?
            .pop_if_empty()
            .extend(segments);
        Ok(url)
    }

    fn job_url(&self, id: &JobId, rest: &[&str]) -> Result<Url, BackendError> {
        let mut segments = vec!["runner-jobs", id.as_str()];
        segments.extend_from_slice(rest);
        self.url(&segments)
    }
}

fn base_url(text: &str) -> Result<Url, BackendError> {
    let url = Url::parse(text).map_err(|e| config_error(&format!("base URL {text:?}: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return Err(config_error(&format!("base URL {text:?} is not http(s)")));
    }
    Ok(url)
}

fn config_error(message: &str) -> BackendError {
    BackendError::Config {
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn client(base: &str) -> BackendClient {
        BackendClient::new(BackendConfig::new(base, Secret::from("t"), "w")).unwrap()
    }

    #[test]
    fn urls_keep_the_base_path_and_encode_ids() {
        let c = client("http://h:1/api/");
        let url = c.job_url(&JobId::new("a b/c"), &["events"]).unwrap();
        assert_eq!(url.as_str(), "http://h:1/api/runner-jobs/a%20b%2Fc/events");
        let c = client("http://h:1");
        assert_eq!(
            c.url(&["runner-jobs"]).unwrap().as_str(),
            "http://h:1/runner-jobs"
        );
    }

    #[test]
    fn bad_configuration_is_an_error_not_a_panic() {
        let bad_url = BackendClient::new(BackendConfig::new("ftp://x", Secret::from("t"), "w"));
        assert!(matches!(bad_url, Err(BackendError::Config { .. })));
        let bad_token = BackendClient::new(BackendConfig::new("http://x", "a\nb".into(), "w"));
        let Err(BackendError::Config { message }) = bad_token else {
            panic!("expected a config error");
        };
        assert!(
            !message.contains("a\nb"),
            "the token must not leak: {message}"
        );
    }

    #[test]
    fn debug_does_not_print_the_token() {
        let c = BackendClient::new(BackendConfig::new("http://x", "sekrit".into(), "w")).unwrap();
        assert!(!format!("{c:?}").contains("sekrit"));
        assert!(!format!("{:?}", c.config()).contains("sekrit"));
    }
}
