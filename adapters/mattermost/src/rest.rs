//! The REST v4 calls the adapter makes, and the HTTP statuses they can meet
//! turned into [`ChatError`]s (429 with its reset headers, 401, 403, 404, 5xx).

use std::time::Duration;

use mosaic_chat::{ChatError, Secret};
use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, Response, StatusCode};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::events::Post;

/// How long one REST call may take before the platform counts as unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// When a 429 names no wait: long enough not to hammer the server.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// A Mattermost user, as far as the bot needs one.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    pub id: String,
    pub username: String,
    /// System roles, space-separated (`system_user system_admin`).
    #[serde(default)]
    pub roles: String,
}

/// A user's membership of a team.
#[derive(Debug, Clone, Deserialize)]
pub struct TeamMember {
    /// Team roles, space-separated (`team_user team_admin`).
    #[serde(default)]
    pub roles: String,
}

/// A channel, as far as the bot needs one.
#[derive(Debug, Clone, Deserialize)]
pub struct Channel {
    /// Empty for direct and group messages, which belong to no team.
    #[serde(default)]
    pub team_id: String,
}

#[derive(Deserialize)]
struct Created {
    id: String,
}

#[derive(Deserialize)]
struct ChannelId {
    id: String,
}

/// `GET /channels/{id}/posts`: posts by id, and their order (newest first).
#[derive(Deserialize)]
struct PostList {
    #[serde(default)]
    order: Vec<String>,
    #[serde(default)]
    posts: std::collections::HashMap<String, Post>,
}

/// A REST v4 client for one server and one bot token.
#[derive(Clone)]
pub struct Rest {
    http: reqwest::Client,
    /// `https://chat.example.com`, without a trailing slash.
    base: String,
    token: Secret,
}

impl Rest {
    /// A client for `base` (the server's URL) authenticating with `token`.
    pub fn new(base: &str, token: Secret) -> Result<Rest, ChatError> {
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|e| ChatError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Rest {
            http,
            base: base.trim_end_matches('/').to_owned(),
            token,
        })
    }

    fn url(&self, path: &str) -> String {
        format!("{}/api/v4{path}", self.base)
    }

    fn authed(&self, request: RequestBuilder) -> RequestBuilder {
        request.bearer_auth(self.token.expose())
    }

    /// The bot's own account.
    pub async fn me(&self) -> Result<User, ChatError> {
        self.get_json("/users/me").await
    }

    /// Any user, by id (for the name of a post's author).
    pub async fn user(&self, id: &str) -> Result<User, ChatError> {
        self.get_json(&format!("/users/{id}")).await
    }

    /// `user_id`'s membership of `team_id`, with their roles there.
    pub async fn team_member(&self, team_id: &str, user_id: &str) -> Result<TeamMember, ChatError> {
        self.get_json(&format!("/teams/{team_id}/members/{user_id}"))
            .await
    }

    /// A channel, by id (for the team of a post fetched over REST).
    pub async fn channel(&self, id: &str) -> Result<Channel, ChatError> {
        self.get_json(&format!("/channels/{id}")).await
    }

    /// Creates a post; `root_id` puts it in that thread, `props` (the card's
    /// buttons) go with it. Returns its id.
    pub async fn create_post(
        &self,
        channel_id: &str,
        root_id: Option<&str>,
        message: &str,
        props: Option<&Value>,
    ) -> Result<String, ChatError> {
        let mut body = json!({
            "channel_id": channel_id,
            "root_id": root_id.unwrap_or(""),
            "message": message,
        });
        if let Some(props) = props {
            body["props"] = props.clone();
        }
        let request = self.authed(self.http.post(self.url("/posts")).json(&body));
        let created: Created = read_json(send(request).await?).await?;
        Ok(created.id)
    }

    /// Replaces the text of a post and, when `props` are given, all its
    /// props (a patch's props replace the post's whole; without them the
    /// post keeps its own, buttons included).
    pub async fn patch_post(
        &self,
        post_id: &str,
        message: &str,
        props: Option<&Value>,
    ) -> Result<(), ChatError> {
        let url = self.url(&format!("/posts/{post_id}/patch"));
        let mut body = json!({ "message": message });
        if let Some(props) = props {
            body["props"] = props.clone();
        }
        let request = self.authed(self.http.put(url).json(&body));
        send(request).await.map(drop)
    }

    /// One post, by id (its props come without their actions' integrations).
    pub async fn post(&self, post_id: &str) -> Result<Post, ChatError> {
        self.get_json(&format!("/posts/{post_id}")).await
    }

    /// Posts `message` in `channel_id` (thread `root_id`) seen by `user_id`
    /// alone. Needs `create_post_ephemeral`, which Mattermost gives system
    /// admins only: a bot without it gets [`ChatError::Forbidden`].
    pub async fn create_ephemeral(
        &self,
        user_id: &str,
        channel_id: &str,
        root_id: &str,
        message: &str,
    ) -> Result<(), ChatError> {
        let body = json!({
            "user_id": user_id,
            "post": { "channel_id": channel_id, "root_id": root_id, "message": message },
        });
        let url = self.url("/posts/ephemeral");
        send(self.authed(self.http.post(url).json(&body)))
            .await
            .map(drop)
    }

    /// Puts the emoji `emoji_name` on a post, as `user_id` (the bot).
    pub async fn react(
        &self,
        user_id: &str,
        post_id: &str,
        emoji_name: &str,
    ) -> Result<(), ChatError> {
        let body = json!({ "user_id": user_id, "post_id": post_id, "emoji_name": emoji_name });
        let request = self.authed(self.http.post(self.url("/reactions")).json(&body));
        send(request).await.map(drop)
    }

    /// The channels the bot is a member of, on every team.
    pub async fn my_channels(&self) -> Result<Vec<String>, ChatError> {
        let channels: Vec<ChannelId> = self.get_json("/users/me/channels").await?;
        Ok(channels.into_iter().map(|c| c.id).collect())
    }

    /// Posts of a channel created or changed since `since_ms`, oldest first.
    pub async fn posts_since(
        &self,
        channel_id: &str,
        since_ms: i64,
    ) -> Result<Vec<Post>, ChatError> {
        let list: PostList = self
            .get_json(&format!("/channels/{channel_id}/posts?since={since_ms}"))
            .await?;
        let mut posts: Vec<Post> = list
            .order
            .iter()
            .filter_map(|id| list.posts.get(id).cloned())
            .collect();
        posts.sort_by_key(|p| p.create_at);
        Ok(posts)
    }

    /// Answers a slash command through its `response_url`, seen only by the
    /// user who typed it. The URL is Mattermost's own and takes no token.
    pub async fn respond_ephemeral(&self, response_url: &str, text: &str) -> Result<(), ChatError> {
        let body = json!({ "response_type": "ephemeral", "text": text });
        send(self.http.post(response_url).json(&body))
            .await
            .map(drop)
    }

    /// `GET /api/v4{path}`, its answer read as `T`.
    pub(crate) async fn get_json<T: DeserializeOwned>(&self, path: &str) -> Result<T, ChatError> {
        read_json(send(self.authed(self.http.get(self.url(path)))).await?).await
    }
}

/// Sends a request; any status but success becomes the matching error.
async fn send(request: RequestBuilder) -> Result<Response, ChatError> {
    let response = request
        .send()
        .await
        .map_err(|e| ChatError::Unavailable(format!("cannot reach Mattermost: {e}")))?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let retry_after = retry_after(response.headers());
    let body = response.text().await.unwrap_or_default();
    Err(status_error(status, retry_after, &body))
}

async fn read_json<T: DeserializeOwned>(response: Response) -> Result<T, ChatError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| ChatError::Unavailable(format!("reading Mattermost's answer: {e}")))?;
    serde_json::from_slice(&bytes).map_err(|e| ChatError::Rejected {
        code: "bad_response".to_owned(),
        message: format!("Mattermost answered something unexpected: {e}"),
    })
}

/// How long a 429 asks to wait: `Retry-After` (seconds until the next
/// request is allowed), else `X-RateLimit-Reset` (seconds until the whole
/// burst has refilled: ~10 s with the default settings, far longer than one
/// request needs). Both come from server/channels/app/ratelimit.go.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    ["retry-after", "x-ratelimit-reset"]
        .iter()
        .find_map(|name| {
            let value = headers
                .get(*name)?
                .to_str()
                .ok()?
                .trim()
                .parse::<f64>()
                .ok()?;
            (value.is_finite() && value >= 0.0).then(|| Duration::from_secs_f64(value.min(3600.0)))
        })
}

/// The error for an unsuccessful status; `body` is Mattermost's error JSON
/// (`{"id": "…", "message": "…"}`), quoted in the error when present.
pub fn status_error(status: StatusCode, retry_after: Option<Duration>, body: &str) -> ChatError {
    #[derive(Deserialize, Default)]
    struct AppError {
        #[serde(default)]
        id: String,
        #[serde(default)]
        message: String,
    }
    let app: AppError = serde_json::from_str(body).unwrap_or_default();
    let message = if app.message.is_empty() {
        status.to_string()
    } else {
        app.message.clone()
    };
    match status {
        StatusCode::TOO_MANY_REQUESTS => ChatError::RateLimited {
            retry_after: retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        StatusCode::UNAUTHORIZED => ChatError::Unauthorized(format!(
            "Mattermost refused the bot token ({message}): check MOSAIC__MATTERMOST__TOKEN"
        )),
        StatusCode::FORBIDDEN => ChatError::Forbidden(message),
        StatusCode::NOT_FOUND => ChatError::NotFound(message),
        StatusCode::PAYLOAD_TOO_LARGE => ChatError::TooLong,
        s if s.is_server_error() => ChatError::Unavailable(format!("Mattermost: {message}")),
        s => ChatError::Rejected {
            code: if app.id.is_empty() {
                s.as_u16().to_string()
            } else {
                app.id
            },
            message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_429_waits_for_retry_after_not_the_bursts_reset() {
        let mut headers = HeaderMap::new();
        headers.insert("x-ratelimit-reset", "10".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(10)));
        headers.insert("retry-after", "1".parse().unwrap());
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(1)));
        let err = status_error(StatusCode::TOO_MANY_REQUESTS, retry_after(&headers), "");
        assert_eq!(
            err,
            ChatError::RateLimited {
                retry_after: Duration::from_secs(1)
            }
        );
    }

    #[test]
    fn statuses_map_to_errors_that_say_whether_to_retry() {
        let body = r#"{"id":"api.context.session_expired.app_error","message":"Invalid or expired session"}"#;
        let err = status_error(StatusCode::UNAUTHORIZED, None, body);
        assert!(
            matches!(err, ChatError::Unauthorized(ref m) if m.contains("expired")),
            "{err}"
        );
        assert!(status_error(StatusCode::BAD_GATEWAY, None, "").is_retryable());
        assert_eq!(
            status_error(StatusCode::NOT_FOUND, None, "{}"),
            ChatError::NotFound("404 Not Found".into())
        );
        assert!(matches!(
            status_error(StatusCode::BAD_REQUEST, None, body),
            ChatError::Rejected { ref code, .. } if code.starts_with("api.context")
        ));
    }
}
