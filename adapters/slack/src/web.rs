//! The Web API calls the adapter makes, through slack-morphism's client and
//! request/response types over our connector, and what they can answer
//! turned into [`ChatError`]s: HTTP 429 with `Retry-After`, and Slack's own
//! failures, which come as `{"ok": false, "error": "…"}` inside an HTTP 200.

use std::time::Duration;

use mosaic_chat::{Button, ChatError, PostMark, Secret};
use reqwest::StatusCode;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;
use url::Url;

use crate::blocks::blocks_with_buttons;
use crate::budget::{Budget, Window};
use crate::connector::ReqwestConnector;

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

/// A Web API client for one bot token in one workspace.
pub struct WebApi {
    client: SlackClient<ReqwestConnector>,
    /// The same connector, for `response_url`s (Slack's own URLs, no token).
    connector: ReqwestConnector,
    token: SlackApiToken,
    /// Every `chat.update` of the workspace draws on it.
    updates: Window,
}

fn token_of(secret: &Secret) -> SlackApiToken {
    SlackApiToken::new(SlackApiTokenValue::new(secret.expose().to_owned()))
}

/// The message content the bot sends: the blocks (with `buttons` under the
/// text), and the text as the notification fallback. Links are not unfurled
/// (the bot's links are pull requests and issues, which need no preview
/// cards).
fn content(text: &str, buttons: &[Button]) -> SlackMessageContent {
    let blocks = blocks_with_buttons(text, buttons);
    let content = SlackMessageContent::new().with_text(text.to_owned());
    if blocks.is_empty() {
        content
    } else {
        content.with_blocks(blocks)
    }
}

/// An answer through a `response_url` seen by the presser (or the slash
/// command's author) alone, which never replaces the message the button is
/// under: without `replace_original: false` an answer to a press could
/// take the card's place
/// (<https://api.slack.com/interactivity/handling#message_responses>).
/// slack-morphism's webhook request has `replace_original` but no
/// `response_type`, hence this wrapper.
#[derive(serde::Serialize)]
struct EphemeralAnswer {
    #[serde(flatten)]
    request: SlackApiPostWebhookMessageRequest,
    response_type: SlackMessageResponseType,
}

impl WebApi {
    /// A client for `base` authenticating with the bot token; `updates` is
    /// the workspace's `chat.update` budget.
    pub fn new(base: &str, token: &Secret, updates: Budget) -> Result<WebApi, ChatError> {
        let connector = ReqwestConnector::new(base).map_err(ChatError::Unavailable)?;
        Ok(WebApi {
            client: SlackClient::new(connector.clone()),
            connector,
            token: token_of(token),
            updates: Window::new(updates),
        })
    }

    pub(crate) fn session(&self) -> SlackClientSession<'_, ReqwestConnector> {
        self.client.open_session(&self.token)
    }

    /// `auth.test`: the bot's own user id.
    pub async fn auth_test(&self) -> Result<String, ChatError> {
        let answer = self.session().auth_test().await;
        let me = answer.map_err(|e| chat_error("auth.test", "", e))?;
        Ok(me.user_id.0)
    }

    /// `apps.connections.open` with the app-level token: a Socket Mode URL.
    pub async fn open_connection(&self, app_token: &Secret) -> Result<Url, ChatError> {
        let token = token_of(app_token);
        let answer = self
            .client
            .open_session(&token)
            .apps_connections_open(&SlackApiAppsConnectionOpenRequest::new())
            .await;
        let opened = answer.map_err(|e| chat_error("apps.connections.open", "", e))?;
        Ok(opened.url.0)
    }

    /// `chat.postMessage` with `buttons` under the text and `mark` as its
    /// metadata (`own_posts.rs`); `thread_ts` puts it in that thread. Returns
    /// its `ts`.
    pub async fn post_message(
        &self,
        channel: &str,
        thread_ts: Option<&str>,
        text: &str,
        buttons: &[Button],
        mark: Option<&PostMark>,
    ) -> Result<String, ChatError> {
        let content = content(text, buttons).opt_metadata(mark.map(crate::own_posts::metadata_of));
        let request = SlackApiChatPostMessageRequest::new(channel.into(), content)
            .opt_thread_ts(thread_ts.map(SlackTs::from))
            .with_unfurl_links(false)
            .with_unfurl_media(false);
        let answer = self.session().chat_post_message(&request).await;
        let posted = answer.map_err(|e| chat_error("chat.postMessage", channel, e))?;
        Ok(posted.ts.0)
    }

    /// `chat.update`: replaces the message `ts` and its buttons with
    /// `buttons`, when the workspace's budget has room for it (an edit for
    /// the buttons alone draws on it like any other).
    pub async fn update(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        buttons: &[Button],
    ) -> Result<(), ChatError> {
        self.updates.acquire().await;
        let mut content = content(text, buttons);
        // `chat.update` keeps a message's blocks when none are sent
        // (<https://api.slack.com/methods/chat.update>, `blocks`): an empty
        // list removes them, buttons included.
        if content.blocks.is_none() {
            content = content.with_blocks(Vec::new());
        }
        let request = SlackApiChatUpdateRequest::new(channel.into(), content, ts.into());
        let answer = self.session().chat_update(&request).await;
        answer
            .map(drop)
            .map_err(|e| chat_error("chat.update", channel, e))
    }

    /// `reactions.add`; a reaction already there counts as added.
    pub async fn react(&self, channel: &str, ts: &str, name: &str) -> Result<(), ChatError> {
        let request = SlackApiReactionsAddRequest::new(channel.into(), name.into(), ts.into());
        match self.session().reactions_add(&request).await {
            Err(SlackClientError::ApiError(e)) if e.code == "already_reacted" => Ok(()),
            other => other
                .map(drop)
                .map_err(|e| chat_error("reactions.add", channel, e)),
        }
    }

    /// `usergroups.list` with `include_users`: each enabled user group's id
    /// and its members.
    pub async fn user_groups(&self) -> Result<Vec<(String, Vec<String>)>, UserGroupsError> {
        const METHOD: &str = "usergroups.list";
        let request = SlackApiUserGroupsListRequest::new().with_include_users(true);
        match self.session().usergroups_list(&request).await {
            Ok(list) => Ok(list
                .usergroups
                .into_iter()
                .map(|g| {
                    let users = g.users.unwrap_or_default();
                    (g.id.0, users.into_iter().map(|u| u.0).collect())
                })
                .collect()),
            Err(SlackClientError::ApiError(e))
                if GROUPS_REFUSED_FOR_GOOD.contains(&e.code.as_str()) =>
            {
                Err(UserGroupsError::Refused(e.code))
            }
            Err(e) => Err(UserGroupsError::Failed(chat_error(METHOD, "", e))),
        }
    }

    /// `chat.getPermalink`: a URL that opens the message `ts` (a thread's
    /// root opens the thread).
    pub async fn permalink(&self, channel: &str, ts: &str) -> Result<String, ChatError> {
        let request = SlackApiChatGetPermalinkRequest::new(channel.into(), ts.into());
        let answer = self.session().chat_get_permalink(&request).await;
        let link = answer.map_err(|e| chat_error("chat.getPermalink", channel, e))?;
        Ok(link.permalink.into())
    }

    /// Answers a slash command or a button press through its
    /// `response_url`, seen only by its author. The URL is Slack's own and
    /// takes no token.
    pub async fn respond_ephemeral(&self, response_url: &str, text: &str) -> Result<(), ChatError> {
        let url = Url::parse(response_url).map_err(|e| ChatError::Rejected {
            code: "bad_response_url".to_owned(),
            message: format!("the response_url is not a URL: {e}"),
        })?;
        let body = EphemeralAnswer {
            request: SlackApiPostWebhookMessageRequest::new(content(text, &[]))
                .with_replace_original(false),
            response_type: SlackMessageResponseType::Ephemeral,
        };
        let span = tracing::Span::current();
        let context = SlackClientApiCallContext {
            rate_control_params: None,
            token: None,
            tracing_span: &span,
            is_sensitive_url: true,
        };
        let answer: ClientResult<SlackApiPostWebhookMessageResponse> =
            self.connector.http_post_uri(url, &body, context).await;
        answer
            .map(drop)
            .map_err(|e| chat_error("response_url", "", e))
    }
}

/// A slack-morphism error as a [`ChatError`]. A missing permission is
/// logged with the channel, as the fix is in Slack's settings, not the bot.
pub fn chat_error(method: &str, channel: &str, error: SlackClientError) -> ChatError {
    match error {
        SlackClientError::ApiError(e) => {
            let error = ok_false_error(method, &e.code);
            if let ChatError::Forbidden(_) = &error {
                tracing::warn!(%method, %channel, code = %e.code, "Slack refused the bot: invite it to the channel or grant the scope");
            }
            error
        }
        SlackClientError::RateLimitError(e) => ChatError::RateLimited {
            retry_after: e.retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
        },
        SlackClientError::HttpError(e) => status_error(e.status_code),
        SlackClientError::ProtocolError(e) => ChatError::Rejected {
            code: "bad_response".to_owned(),
            message: format!(
                "Slack answered {method} with something unexpected: {}",
                e.json_error
            ),
        },
        other => ChatError::Unavailable(format!("cannot reach Slack ({method}): {other}")),
    }
}

/// The error for an unsuccessful HTTP status (a 429 comes as a rate limit error).
pub fn status_error(status: StatusCode) -> ChatError {
    match status {
        StatusCode::TOO_MANY_REQUESTS => ChatError::RateLimited {
            retry_after: DEFAULT_RETRY_AFTER,
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
    use slack_morphism::errors::{SlackClientApiError, SlackRateLimitError};

    fn refused(code: &str) -> ChatError {
        chat_error(
            "chat.postMessage",
            "C1",
            SlackClientError::ApiError(SlackClientApiError::new(code.to_owned())),
        )
    }

    #[test]
    fn a_429_waits_as_long_as_retry_after_says() {
        let limited = SlackRateLimitError::new().with_retry_after(Duration::from_secs(7));
        assert_eq!(
            chat_error(
                "chat.update",
                "C1",
                SlackClientError::RateLimitError(limited)
            ),
            ChatError::RateLimited {
                retry_after: Duration::from_secs(7)
            }
        );
        assert!(status_error(StatusCode::BAD_GATEWAY).is_retryable());
    }

    #[test]
    fn ok_false_codes_map_to_errors_that_say_whether_to_retry() {
        assert!(matches!(
            refused("ratelimited"),
            ChatError::RateLimited { .. }
        ));
        assert_eq!(refused("msg_too_long"), ChatError::TooLong);
        assert!(matches!(
            refused("channel_not_found"),
            ChatError::NotFound(_)
        ));
        assert!(matches!(
            refused("message_not_found"),
            ChatError::NotFound(_)
        ));
        assert!(matches!(refused("not_in_channel"), ChatError::Forbidden(_)));
        assert!(matches!(refused("missing_scope"), ChatError::Forbidden(_)));
        assert!(matches!(
            refused("invalid_auth"),
            ChatError::Unauthorized(_)
        ));
        assert!(matches!(
            refused("token_revoked"),
            ChatError::Unauthorized(_)
        ));
        assert!(
            matches!(refused("weird"), ChatError::Rejected { ref code, .. } if code == "weird")
        );
    }
}
