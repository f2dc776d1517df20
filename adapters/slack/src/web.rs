//! The Web API calls the adapter makes, and what they can answer turned into
//! [`ChatError`]s: HTTP 429 with `Retry-After`, and Slack's own failures,
//! which come as `{"ok": false, "error": "…"}` inside an HTTP 200.

use std::time::Duration;

use mosaic_chat::{ChatError, Secret};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long one call may take before Slack counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// When a 429 names no wait: Slack's own advice for most methods.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// `usergroups.list` codes that no retry will change: the app lacks
/// `usergroups:read`, the token is not a bot or user token, or the
/// workspace's plan has no user groups.
const GROUPS_REFUSED_FOR_GOOD: [&str; 4] = [
    "missing_scope",
    "not_allowed_token_type",
    "paid_teams_only",
    "plan_upgrade_required",
];

/// A user group, as far as the bot reads one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserGroup {
    /// `S…`: what permissions name.
    pub id: String,
    /// Its members' user ids (sent with `include_users`).
    #[serde(default)]
    pub users: Vec<String>,
}

#[derive(Deserialize)]
struct UserGroupList {
    #[serde(default)]
    usergroups: Vec<UserGroup>,
}

/// Why `usergroups.list` gave no groups.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum UserGroupsError {
    /// Slack will not tell this app, whatever it retries (Slack's code inside).
    #[error("Slack will not list user groups to this app: {0}")]
    Refused(String),
    /// This time it failed; a later call may succeed.
    #[error(transparent)]
    Failed(#[from] ChatError),
}

/// A Web API client for one bot token.
#[derive(Clone)]
pub struct WebApi {
    http: reqwest::Client,
    /// `https://slack.com/api`, without a trailing slash.
    base: String,
    token: Secret,
}

impl WebApi {
    /// A client for `base` authenticating with the bot token.
    pub fn new(base: &str, token: Secret) -> Result<WebApi, ChatError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ChatError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(WebApi {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    /// Calls `method` with a JSON body and `token`; the answer when `ok`.
    async fn call_with(
        &self,
        token: &Secret,
        method: &str,
        body: Value,
    ) -> Result<Value, ChatError> {
        let request = self
            .http
            .post(format!("{}/{method}", self.base))
            .bearer_auth(token.expose())
            .json(&body);
        let answer = send(request).await?;
        let channel = body.get("channel").and_then(Value::as_str).unwrap_or("");
        check_ok(method, channel, answer)
    }

    async fn call(&self, method: &str, body: Value) -> Result<Value, ChatError> {
        self.call_with(&self.token, method, body).await
    }

    /// `auth.test`: the bot's own user id.
    pub async fn auth_test(&self) -> Result<String, ChatError> {
        let answer = self.call("auth.test", json!({})).await?;
        string_field(&answer, "user_id")
    }

    /// `apps.connections.open` with the app-level token: a Socket Mode URL.
    pub async fn open_connection(&self, app_token: &Secret) -> Result<String, ChatError> {
        let answer = self
            .call_with(app_token, "apps.connections.open", json!({}))
            .await?;
        string_field(&answer, "url")
    }

    /// `chat.postMessage`; `thread_ts` puts it in that thread. Returns its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
    ) -> Result<String, ChatError> {
        let mut body = json!({
            "channel": channel,
            "text": text,
            // The bot's links (pull requests) need no preview cards.
            "unfurl_links": false,
            "unfurl_media": false,
        });
        if let Some(ts) = thread_ts {
            body["thread_ts"] = json!(ts);
        }
        let answer = self.call("chat.postMessage", body).await?;
        string_field(&answer, "ts")
    }

    /// `chat.update`: replaces the text of the message `ts`.
    pub async fn update(&self, channel: &str, ts: &str, text: &str) -> Result<(), ChatError> {
        let body = json!({ "channel": channel, "ts": ts, "text": text });
        self.call("chat.update", body).await.map(drop)
    }

    /// `reactions.add`; a reaction already there counts as added.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), ChatError> {
        let body = json!({ "channel": channel, "timestamp": ts, "name": name });
        match self.call("reactions.add", body).await {
            Err(ChatError::Rejected { code, .. }) if code == "already_reacted" => Ok(()),
            other => other.map(drop),
        }
    }

    /// `usergroups.list` with `include_users`: the workspace's enabled
    /// user groups and their members. Asked with GET and query parameters:
    /// Slack reads JSON bodies for its write methods only.
    pub async fn user_groups(&self) -> Result<Vec<UserGroup>, UserGroupsError> {
        const METHOD: &str = "usergroups.list";
        let request = self
            .http
            .get(format!("{}/{METHOD}", self.base))
            .bearer_auth(self.token.expose())
            .query(&[("include_users", "true")]);
        let answer = send(request).await?;
        let code = answer.get("error").and_then(Value::as_str).unwrap_or("");
        if GROUPS_REFUSED_FOR_GOOD.contains(&code) {
            return Err(UserGroupsError::Refused(code.to_owned()));
        }
        let answer = check_ok(METHOD, "", answer)?;
        let list: UserGroupList =
            serde_json::from_value(answer).map_err(|e| ChatError::Rejected {
                code: "bad_response".to_owned(),
                message: format!("Slack answered {METHOD} with something unexpected: {e}"),
            })?;
        Ok(list.usergroups)
    }

    /// `chat.getPermalink`: a URL that opens the message `ts` (a thread's
    /// root opens the thread). A read, so asked with GET.
    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, ChatError> {
        const METHOD: &str = "chat.getPermalink";
        let request = self
            .http
            .get(format!("{}/{METHOD}", self.base))
            .bearer_auth(self.token.expose())
            .query(&[("channel", channel), ("message_ts", ts)]);
        let answer = check_ok(METHOD, channel, send(request).await?)?;
        string_field(&answer, "permalink")
    }

    /// Answers a slash command through its `response_url`, seen only by
    /// its author. The URL is Slack's own and takes no token.
    pub async fn respond_ephemeral(&self, response_url: &str, text: &str) -> Result<(), ChatError> {
        let body = json!({ "response_type": "ephemeral", "text": text });
        let request = self.http.post(response_url).json(&body);
        let response = request
            .send()
            .await
            .map_err(|e| ChatError::Unavailable(format!("cannot reach Slack: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        Err(status_error(status, retry_after(response.headers())))
    }
}

/// Sends a request: the JSON answer of an HTTP 200, else the matching error.
async fn send(request: RequestBuilder) -> Result<Value, ChatError> {
    let response = request
        .send()
        .await
        .map_err(|e| ChatError::Unavailable(format!("cannot reach Slack: {e}")))?;
    let status = response.status();
    if !status.is_success() {
        return Err(status_error(status, retry_after(response.headers())));
    }
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ChatError::Unavailable(format!("reading Slack's answer: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ChatError::Rejected {
        code: "bad_response".to_owned(),
        message: format!("Slack answered something unexpected: {e}"),
    })
}

fn string_field(answer: &Value, name: &str) -> Result<String, ChatError> {
    answer
        .get(name)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| ChatError::Rejected {
            code: "bad_response".to_owned(),
            message: format!("Slack's answer has no `{name}`"),
        })
}

/// How long a 429 asks to wait (`Retry-After`, in seconds).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get("retry-after")?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()?;
    (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value.min(3600.0)))
}

/// The error for an unsuccessful HTTP status.
pub fn status_error(status: StatusCode, retry_after: Option<Duration>) -> ChatError {
    match status {
        StatusCode::TOO_MANY_REQUESTS => ChatError::RateLimited {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        StatusCode::UNAUTHORIZED => ChatError::Unauthorized(format!("Slack answered {status}")),
        StatusCode::FORBIDDEN => ChatError::Forbidden(status.to_string()),
        StatusCode::NOT_FOUND => ChatError::NotFound(status.to_string()),
        s if s.is_server_error() => ChatError::Unavailable(format!("Slack: {s}")),
        s => ChatError::Rejected {
            code: s.as_u16().to_string(),
            message: s.to_string(),
        },
    }
}

/// `answer` when it says `ok: true`; otherwise its `error` as a [`ChatError`].
/// A missing permission is logged with the channel, as the fix is in Slack's
/// settings, not in the bot.
pub fn check_ok(method: &str, channel: &str, answer: Value) -> Result<Value, ChatError> {
    if answer.get("ok").and_then(Value::as_bool) == Some(true) {
        return Ok(answer);
    }
    let code = answer
        .get("error")
        .and_then(Value::as_str)
        .unwrap_or("unknown_error")
        .to_owned();
    let error = ok_false_error(method, &code);
    if let ChatError::Forbidden(_) = &error {
        let needed = answer.get("needed").and_then(Value::as_str).unwrap_or("");
        tracing::warn!(%method, %channel, %code, %needed, "Slack refused the bot: invite it to the channel or grant the scope");
    }
    Err(error)
}

/// Slack's `error` code of an `ok: false` answer as a [`ChatError`].
pub fn ok_false_error(method: &str, code: &str) -> ChatError {
    match code {
        "ratelimited" | "rate_limited" => ChatError::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER,
        },
        "msg_too_long" => ChatError::TooLong,
        "channel_not_found" | "message_not_found" | "thread_not_found" => {
            ChatError::NotFound(format!("{method}: {code}"))
        }
        "not_in_channel"
        | "missing_scope"
        | "is_archived"
        | "restricted_action"
        | "cant_update_message" => ChatError::Forbidden(format!("{method}: {code}")),
        "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" | "token_expired" => {
            ChatError::Unauthorized(format!(
                "Slack refused the token ({code}): check MOSAIC__SLACK__BOT_TOKEN and MOSAIC__SLACK__APP_TOKEN"
            ))
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            ChatError::Unavailable(format!("Slack: {method}: {code}"))
        }
        _ => ChatError::Rejected {
            code: code.to_owned(),
            message: format!("Slack refused {method}"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_waits_as_long_as_retry_after_says() {
        let mut headers = HeaderMap::new();
        headers.insert("retry-after", "7".parse().unwrap());
        let err = status_error(StatusCode::TOO_MANY_REQUESTS, retry_after(&headers));
        assert_eq!(
            err,
            ChatError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert!(status_error(StatusCode::BAD_GATEWAY, None).is_retryable());
    }

    #[test]
    fn ok_false_codes_map_to_errors_that_say_whether_to_retry() {
        let refused = |code: &str| {
            check_ok(
                "chat.postMessage",
                "C1",
                json!({"ok": false, "error": code}),
            )
        };
        assert!(matches!(
            refused("ratelimited"),
            Err(ChatError::RateLimited { .. })
        ));
        assert_eq!(refused("msg_too_long"), Err(ChatError::TooLong));
        assert!(matches!(
            refused("channel_not_found"),
            Err(ChatError::NotFound(_))
        ));
        assert!(matches!(
            refused("message_not_found"),
            Err(ChatError::NotFound(_))
        ));
        assert!(matches!(
            refused("not_in_channel"),
            Err(ChatError::Forbidden(_))
        ));
        assert!(matches!(
            refused("missing_scope"),
            Err(ChatError::Forbidden(_))
        ));
        assert!(matches!(
            refused("invalid_auth"),
            Err(ChatError::Unauthorized(_))
        ));
        assert!(matches!(
            refused("token_revoked"),
            Err(ChatError::Unauthorized(_))
        ));
        assert!(
            matches!(refused("weird"), Err(ChatError::Rejected { ref code, .. }) if code == "weird")
        );
        assert!(check_ok("auth.test", "", json!({"ok": true, "user_id": "U1"})).is_ok());
        assert!(check_ok("auth.test", "", json!({"nothing": 1})).is_err());
    }
}
