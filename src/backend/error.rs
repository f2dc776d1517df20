//! `BackendError`: every way a backend call can fail, with what a reply to a user needs.
//!
//! HTTP failures arrive as NestJS error bodies (`{"statusCode", "message", "error"}`, where
//! `message` is a string or, for validation errors, a list of strings); [`from_response`]
//! turns status and body into a variant. The wording for users lives in the dispatcher; the
//! `Display` texts here are for logs.

use std::time::Duration;

use serde::Deserialize;

/// A failed backend call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// 404 (or 410): the job does not exist, or no longer.
    #[error("not found: {message}")]
    NotFound {
        /// The backend's message.
        message: String,
    },
    /// 409: the job's state does not allow the request (cancel a final job, retry a running one).
    #[error("conflict: {message}")]
    Conflict {
        /// The backend's message (`Runner job is already COMPLETED`).
        message: String,
    },
    /// 401: the API token is wrong or expired.
    #[error("unauthorized: {message}")]
    Unauthorized {
        /// The backend's message.
        message: String,
    },
    /// 403: the token is valid but not for this workspace.
    #[error("forbidden: {message}")]
    Forbidden {
        /// The backend's message.
        message: String,
    },
    /// 400 (or 422): the request was refused; one entry per validation message.
    #[error("invalid request: {}", messages.join("; "))]
    Invalid {
        /// Each validation message (`issue.number must be a positive integer`).
        messages: Vec<String>,
    },
    /// 429 or 5xx, still so after the retries.
    #[error("backend unavailable ({status}): {message}")]
    Unavailable {
        /// The last HTTP status.
        status: u16,
        /// The backend's last message.
        message: String,
    },
    /// Any other refusal (405, 413, …), which retrying would not change.
    #[error("request refused ({status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// The backend's message.
        message: String,
    },
    /// No complete answer within the request timeout.
    #[error("no answer within {after:?}")]
    Timeout {
        /// The request timeout that ran out.
        after: Duration,
    },
    /// The backend could not be reached (refused, reset, DNS, TLS).
    #[error("backend unreachable: {message}")]
    Transport {
        /// What failed, with its causes (`Connection refused`).
        message: String,
    },
    /// A success answer that is not what the contract promises.
    #[error("unreadable answer: {message}")]
    Decode {
        /// What could not be read, and why.
        message: String,
    },
    /// The client cannot be built from its configuration (bad URL, header, TLS set-up).
    #[error("invalid backend configuration: {message}")]
    Config {
        /// What is wrong (never the token itself).
        message: String,
    },
}

impl BackendError {
    /// The HTTP status behind the error, if there was an answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::NotFound { .. } => Some(404),
            Self::Conflict { .. } => Some(409),
            Self::Unauthorized { .. } => Some(401),
            Self::Forbidden { .. } => Some(403),
            Self::Invalid { .. } => Some(400),
            Self::Unavailable { status, .. } | Self::Rejected { status, .. } => Some(*status),
            Self::Timeout { .. } | Self::Transport { .. } | Self::Decode { .. } => None,
            Self::Config { .. } => None,
        }
    }

    /// Whether the bot's credentials are the problem (401 or 403): a retry will not help and
    /// an operator must act.
    pub fn is_auth(&self) -> bool {
        matches!(self, Self::Unauthorized { .. } | Self::Forbidden { .. })
    }
}

/// A NestJS error body. Every field is optional: proxies answer with HTML or nothing.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct NestErrorBody {
    #[serde(default)]
    message: Option<Messages>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Messages {
    One(String),
    Many(Vec<String>),
}

/// Longest piece of a non-JSON error body kept in a message (an HTML error page is noise).
const MAX_RAW_BODY: usize = 200;

/// Maps an unsuccessful answer to an error. Pure, so it is tested without a server.
pub(crate) fn from_response(status: u16, body: &[u8]) -> BackendError {
    let mut messages = parse_messages(status, body);
    let message = messages.join("; ");
    match status {
        400 | 422 => BackendError::Invalid { messages },
        401 => BackendError::Unauthorized { message },
        403 => BackendError::Forbidden { message },
        404 | 410 => BackendError::NotFound { message },
        409 => BackendError::Conflict { message },
        429 | 500..=599 => BackendError::Unavailable { status, message },
        _ => {
            messages.truncate(1);
            BackendError::Rejected { status, message }
        }
    }
}

/// The human-readable messages of a body: NestJS `message` (string or list), else its
/// `error`, else the start of the raw text, else the status's reason phrase.
fn parse_messages(status: u16, body: &[u8]) -> Vec<String> {
    if let Ok(parsed) = serde_json::from_slice::<NestErrorBody>(body) {
        match parsed.message {
            Some(Messages::One(one)) if !one.is_empty() => return vec![one],
            Some(Messages::Many(many)) if !many.is_empty() => return many,
            _ => {}
        }
        if let Some(error) = parsed.error.filter(|e| !e.is_empty()) {
            return vec![error];
        }
    }
    let raw = String::from_utf8_lossy(body);
    let raw = raw.trim();
    if !raw.is_empty() && !raw.starts_with('{') {
        let cut: String = raw.chars().take(MAX_RAW_BODY).collect();
        return vec![cut];
    }
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("error");
    vec![format!("HTTP {status} {reason}")]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_message_is_kept() {
        let body =
            br#"{"statusCode": 404, "message": "Runner job not found", "error": "Not Found"}"#;
        assert_eq!(
            from_response(404, body),
            BackendError::NotFound {
                message: "Runner job not found".into()
            }
        );
    }

    #[test]
    fn an_array_message_becomes_validation_messages() {
        let body = br#"{"statusCode": 400,
                        "message": ["issue.number must be a positive integer", "type must be fix"],
                        "error": "Bad Request"}"#;
        assert_eq!(
            from_response(400, body),
            BackendError::Invalid {
                messages: vec![
                    "issue.number must be a positive integer".into(),
                    "type must be fix".into()
                ]
            }
        );
    }

    #[test]
    fn conflict_auth_and_server_errors_map_to_their_variants() {
        let conflict = from_response(409, br#"{"statusCode":409,"message":"Job is final"}"#);
        assert_eq!(
            conflict,
            BackendError::Conflict {
                message: "Job is final".into()
            }
        );
        assert!(from_response(401, b"").is_auth());
        assert!(matches!(
            from_response(403, b"{}"),
            BackendError::Forbidden { .. }
        ));
        assert_eq!(
            from_response(503, br#"{"statusCode":503,"error":"Service Unavailable"}"#),
            BackendError::Unavailable {
                status: 503,
                message: "Service Unavailable".into()
            }
        );
    }

    #[test]
    fn a_non_json_body_is_quoted_briefly_and_an_empty_one_named_by_status() {
        let html = format!("<html>{}</html>", "x".repeat(1000));
        let BackendError::Unavailable { status, message } = from_response(502, html.as_bytes())
        else {
            panic!("expected Unavailable");
        };
        assert_eq!((status, message.chars().count()), (502, MAX_RAW_BODY));
        assert_eq!(
            from_response(405, b""),
            BackendError::Rejected {
                status: 405,
                message: "HTTP 405 Method Not Allowed".into()
            }
        );
    }
}
