//! What the signals of an event stream mean to a follower: the stream's own frames
//! (`stream.complete`, `event: error`), its failures (could it connect at all?), and REST
//! errors about the followed job. Pure functions, so they are tested without a server.

use eventsource_client as es;
use serde::Deserialize;

use super::error::BackendError;
use super::follow::StreamEnd;
use super::model::JobStatus;
use super::request::error_chain;
use super::stream_http::StreamHttpError;

/// Longest piece of a bad `data:` line quoted in a warning.
const MAX_LOGGED_DATA: usize = 200;

/// The stream end that a REST error on the followed job means, if any.
pub(crate) fn end_for(error: &BackendError) -> Option<StreamEnd> {
    match error {
        BackendError::NotFound { .. } => Some(StreamEnd::NotFound),
        BackendError::Unauthorized { .. } | BackendError::Forbidden { .. } => {
            Some(StreamEnd::Unauthorized)
        }
        _ => None,
    }
}

/// The end of a stream that cannot even be set up (a URL the HTTP stack refuses).
pub(crate) fn gave_up(error: String) -> StreamEnd {
    StreamEnd::GaveUp {
        attempts: 0,
        last_error: error,
    }
}

/// Whether the connect failed before any connection existed (refused, DNS, connect timeout).
pub(crate) fn never_connected(error: &es::Error) -> bool {
    match error {
        es::Error::Transport(inner) => {
            let inner = inner.inner();
            inner
                .downcast_ref::<reqwest::Error>()
                .is_some_and(reqwest::Error::is_connect)
                || inner
                    .downcast_ref::<StreamHttpError>()
                    .is_some_and(StreamHttpError::is_connect)
        }
        _ => false,
    }
}

/// A stream error as one line, causes included.
pub(crate) fn describe(error: &es::Error) -> String {
    match error {
        es::Error::Transport(inner) => error_chain(inner),
        other => other.to_string(),
    }
}

/// `{"jobId": …, "status": "COMPLETED"}`; `None` when unreadable.
pub(crate) fn completion_status(data: &str) -> Option<JobStatus> {
    #[derive(Deserialize)]
    struct Complete {
        status: Option<JobStatus>,
    }
    serde_json::from_str::<Complete>(data).ok()?.status
}

/// `{"message": …}`, or the start of the raw data.
pub(crate) fn server_error_message(data: &str) -> String {
    #[derive(Deserialize)]
    struct ServerError {
        message: Option<String>,
    }
    serde_json::from_str::<ServerError>(data)
        .ok()
        .and_then(|e| e.message)
        .unwrap_or_else(|| clip(data).to_owned())
}

/// At most `MAX_LOGGED_DATA` characters of `text`, for logs.
pub(crate) fn clip(text: &str) -> &str {
    match text.char_indices().nth(MAX_LOGGED_DATA) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completion_status_reads_any_case_and_tolerates_garbage() {
        assert_eq!(
            completion_status(r#"{"jobId":"j","status":"failed"}"#),
            Some(JobStatus::Failed)
        );
        assert_eq!(completion_status("{}"), None);
        assert_eq!(completion_status("nope"), None);
    }

    #[test]
    fn server_error_message_prefers_the_message_field() {
        assert_eq!(server_error_message(r#"{"message":"db down"}"#), "db down");
        assert_eq!(server_error_message("plain"), "plain");
    }

    #[test]
    fn only_a_failed_connect_counts_as_never_connected() {
        use launchdarkly_sdk_transport::TransportError;
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        let connect = StreamHttpError::Connect(Box::new(refused));
        assert!(never_connected(&es::Error::Transport(TransportError::new(
            connect
        ))));
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert!(!never_connected(&es::Error::Transport(
            TransportError::new(StreamHttpError::Io(reset))
        )));
        assert!(!never_connected(&es::Error::Eof));
    }

    #[test]
    fn clip_cuts_on_a_char_boundary() {
        let text = "é".repeat(MAX_LOGGED_DATA + 5);
        assert_eq!(clip(&text).chars().count(), MAX_LOGGED_DATA);
    }
}
