//! One REST call: timeout, retries with capped exponential backoff and jitter, `Retry-After`,
//! and the mapping of every failure to a [`BackendError`].
//!
//! Which failures are retried depends on whether replaying the request is safe:
//! - reads (`Replay::Always`) are retried on 429, 5xx, timeouts and connection errors;
//! - writes (`Replay::OnlyIfUnprocessed`) are retried only when the server provably did not act
//!   on them: the connection could not be made (the request was never sent), or the answer was
//!   429 or 503 (the server refused before doing anything). A timeout, a reset after sending
//!   or a 500 may come after the server created a job, and a replay would create a second one.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, RETRY_AFTER};
use reqwest::{Method, Url};
use serde::Serialize;
use tracing::Instrument;

use super::client::BackendClient;
use super::config::RetryPolicy;
use super::error::{self, BackendError};
use super::model::JobId;

/// Longest `Retry-After` honoured; a server asking for more gets asked again after this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Whether a request may be sent again after an unclear failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Replay {
    /// Reads: sending twice changes nothing.
    Always,
    /// Writes: only when the first one provably did nothing (see the module doc).
    OnlyIfUnprocessed,
}

/// A prepared request: built once, sent as many times as the retry policy allows.
pub(crate) struct Call<'a> {
    method: Method,
    /// The path template, for logs (`/runner-jobs/:id`).
    pub(crate) route: &'static str,
    url: Url,
    body: Option<Bytes>,
    replay: Replay,
    job: Option<&'a JobId>,
}

impl<'a> Call<'a> {
    pub(crate) fn new(method: Method, route: &'static str, url: Url) -> Self {
        Self {
            method,
            route,
            url,
            body: None,
            replay: Replay::Always,
            job: None,
        }
    }

    pub(crate) fn json(mut self, body: &impl Serialize) -> Result<Self, BackendError> {
        let bytes = serde_json::to_vec(body).map_err(|e| BackendError::Decode {
            message: format!("cannot encode the request: {e}"),
        })?;
        self.body = Some(Bytes::from(bytes));
        Ok(self)
    }

    pub(crate) fn replay(mut self, replay: Replay) -> Self {
        self.replay = replay;
        self
    }

    pub(crate) fn job(mut self, job: &'a JobId) -> Self {
        self.job = Some(job);
        self
    }
}

/// One failed attempt and whether another one may follow.
struct Failure {
    error: BackendError,
    retry: bool,
    retry_after: Option<Duration>,
}

impl BackendClient {
    /// Sends `call` with retries; the body of the first successful answer.
    pub(crate) async fn send(&self, call: Call<'_>) -> Result<Bytes, BackendError> {
        let span = tracing::info_span!(
            "backend_call",
            method = %call.method,
            route = call.route,
            job = call.job.map(JobId::as_str),
        );
        let policy = &self.inner.config.retry;
        (|| self.attempt(&call))
            .retry(backoff(policy))
            .when(|failure| failure.retry)
            // `None` means the attempts are used up; keep it so. backon's jitter draws from
            // `[d, 2d)`; halving keeps `max_delay` a maximum. `Retry-After` wins.
            .adjust(|failure, delay| delay.map(|d| failure.retry_after.unwrap_or(d / 2)))
            .notify(|failure, delay| {
                tracing::warn!(error = %failure.error, ?delay, "backend call failed; retrying");
            })
            .instrument(span)
            .await
            .map_err(|failure| failure.error)
    }

    async fn attempt(&self, call: &Call<'_>) -> Result<Bytes, Failure> {
        // Held per attempt, not per call: a call waiting out its backoff holds no slot. The
        // semaphore is never closed, so `acquire` cannot fail; if it did, going on unbounded
        // is the lesser harm.
        let _slot = self.inner.in_flight.acquire().await.ok();
        let timeout = self.inner.config.request_timeout;
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), call.url.clone())
            .timeout(timeout);
        if let Some(body) = &call.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let response = request
            .send()
            .await
            .map_err(|e| transport_failure(&e, call.replay, timeout))?;
        let status = response.status().as_u16();
        let retry_after = retry_after(response.headers());
        // The server answered, so a write was received: a failure reading the rest of the
        // answer is not a connect error, and `transport_failure` will not replay it.
        let body = response
            .bytes()
            .await
            .map_err(|e| transport_failure(&e, call.replay, timeout))?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let retry = match status {
            429 | 503 => true,
            500..=599 => call.replay == Replay::Always,
            _ => false,
        };
        Err(Failure {
            error: error::from_response(status, &body),
            retry,
            retry_after,
        })
    }
}

fn backoff(policy: &RetryPolicy) -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(policy.max_attempts.saturating_sub(1) as usize)
        .with_jitter()
}

fn transport_failure(e: &reqwest::Error, replay: Replay, timeout: Duration) -> Failure {
    // A failed connect means nothing was sent, so even a write may go again.
    if e.is_connect() {
        return Failure {
            error: BackendError::Transport {
                message: error_chain(e),
            },
            retry: true,
            retry_after: None,
        };
    }
    let error = if e.is_timeout() {
        BackendError::Timeout { after: timeout }
    } else {
        BackendError::Transport {
            message: error_chain(e),
        }
    };
    Failure {
        error,
        retry: replay == Replay::Always,
        retry_after: None,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by the service).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    parse_retry_after(headers.get(RETRY_AFTER)?.to_str().ok()?)
}

/// A `Retry-After` value in seconds, capped at [`MAX_RETRY_AFTER`].
pub(crate) fn parse_retry_after(value: &str) -> Option<Duration> {
    let seconds: u64 = value.trim().parse().ok()?;
    Some(Duration::from_secs(seconds).min(MAX_RETRY_AFTER))
}

/// An error with its causes, which is where reqwest keeps the useful part
/// ("error sending request" … "Connection refused").
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_is_capped() {
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers), None);
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("86400"));
        assert_eq!(retry_after(&headers), Some(MAX_RETRY_AFTER));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }
}
