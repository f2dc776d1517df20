//! Discord REST through serenity's `Http` (its rate limiter in production),
//! with raw JSON bodies so every message carries exactly the fields the bot
//! means, `allowed_mentions` first among them. Responses are read as JSON for
//! the one or two fields the adapter needs; errors become [`ChatError`]s.

use std::time::Duration;

use mosaic_chat::ChatError;
use serde_json::{Value, json};
use serenity::http::{HttpError, LightMethod, Request, Route};
use serenity::model::id::{ApplicationId, ChannelId, GuildId, InteractionId, MessageId};

/// The most messages one `GET /channels/{id}/messages` returns.
pub const PAGE: usize = 100;

/// Discord's code for "a thread has already been created for this message".
const THREAD_EXISTS: isize = 160_004;

/// What a posted message may carry besides its content and reply.
#[derive(Debug, Clone, Copy, Default)]
pub struct Extras<'a> {
    /// Message components (the card's buttons).
    pub components: Option<&'a Value>,
    /// A `nonce` sent with `enforce_nonce`: Discord returns the message the
    /// bot made with it in the past few minutes instead of making another
    /// (resources/message, "Create Message").
    pub nonce: Option<&'a str>,
}

/// The REST side of the adapter.
pub struct Rest {
    pub(crate) http: serenity::http::Http,
}

/// What a message body always holds besides its content: no mention in it
/// may ping anyone, whatever the text says.
pub fn message_body(content: &str) -> Value {
    json!({ "content": content, "allowed_mentions": { "parse": [] } })
}

impl Rest {
    pub fn new(http: serenity::http::Http) -> Rest {
        Rest { http }
    }

    pub(crate) async fn call(
        &self,
        route: Route<'_>,
        method: LightMethod,
        body: Option<&Value>,
        place: &str,
    ) -> Result<Value, ChatError> {
        let mut request = Request::new(route, method);
        if let Some(body) = body {
            request = request.body(Some(body.to_string().into_bytes()));
        }
        match self.http.request(request).await {
            Ok(response) => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| ChatError::Unavailable(format!("discord: {e}")))?;
                // 204 and the like have no body: nothing to read.
                Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null))
            }
            Err(e) => Err(self.classify(e, place)),
        }
    }

    fn classify(&self, error: serenity::Error, place: &str) -> ChatError {
        let serenity::Error::Http(HttpError::UnsuccessfulRequest(response)) = error else {
            return ChatError::Unavailable(format!("discord: {error}"));
        };
        let status = response.status_code.as_u16();
        let message = response.error.message.clone();
        match status {
            429 => ChatError::RateLimited {
                retry_after: retry_after(&message),
            },
            401 => ChatError::Unauthorized(format!("discord: {message}")),
            // The adapter tells the channel which permission is missing.
            403 => ChatError::Forbidden(format!("in channel {place}: {message}")),
            404 => ChatError::NotFound(format!("discord: {place}")),
            500..=599 => ChatError::Unavailable(format!("discord: {status} {message}")),
            _ => ChatError::Rejected {
                code: response.error.code.to_string(),
                message,
            },
        }
    }

    /// Posts a message in a channel (or thread channel), as a reply to
    /// `reply_to` when given; returns its id.
    pub async fn send(
        &self,
        channel: u64,
        content: &str,
        reply_to: Option<u64>,
    ) -> Result<String, ChatError> {
        self.send_with(channel, content, reply_to, Extras::default())
            .await
    }

    /// As [`Rest::send`], the message carrying `extras`.
    pub async fn send_with(
        &self,
        channel: u64,
        content: &str,
        reply_to: Option<u64>,
        extras: Extras<'_>,
    ) -> Result<String, ChatError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let mut body = message_body(content);
        if let Some(message) = reply_to {
            // A reply that still posts if its message was deleted meanwhile
            // (resources/message, "Message Reference Structure").
            body["message_reference"] = json!({
                "message_id": message.to_string(),
                "fail_if_not_exists": false,
            });
        }
        if let Some(components) = extras.components {
            body["components"] = components.clone();
        }
        if let Some(nonce) = extras.nonce {
            body["nonce"] = json!(nonce);
            body["enforce_nonce"] = json!(true);
        }
        let reply = self
            .call(route, LightMethod::Post, Some(&body), &channel.to_string())
            .await?;
        id_of(&reply)
    }

    /// Replaces a message's content, and its `components` when given (`[]`
    /// removes them; without, they stay).
    pub async fn edit(
        &self,
        channel: u64,
        message: u64,
        content: &str,
        components: Option<&Value>,
    ) -> Result<(), ChatError> {
        let route = Route::ChannelMessage {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
        };
        let mut body = message_body(content);
        if let Some(components) = components {
            body["components"] = components.clone();
        }
        self.call(route, LightMethod::Patch, Some(&body), &channel.to_string())
            .await
            .map(drop)
    }

    /// Adds the bot's reaction `emoji` to a message.
    pub async fn react(&self, channel: u64, message: u64, emoji: &str) -> Result<(), ChatError> {
        let encoded = percent_encode(emoji);
        let route = Route::ChannelMessageReactionMe {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
            reaction: &encoded,
        };
        self.call(route, LightMethod::Put, None, &channel.to_string())
            .await
            .map(drop)
    }

    /// Starts a public thread on a message; returns the thread's channel id
    /// (Discord gives it the message's id). A thread that already exists is
    /// found, not an error: a restarted bot remembers no threads.
    pub async fn start_thread(
        &self,
        channel: u64,
        message: u64,
        name: &str,
    ) -> Result<u64, ChatError> {
        let route = Route::ChannelMessageThreads {
            channel_id: ChannelId::new(channel),
            message_id: MessageId::new(message),
        };
        let body = json!({ "name": name, "auto_archive_duration": 1440 });
        let mut request = Request::new(route, LightMethod::Post);
        request = request.body(Some(body.to_string().into_bytes()));
        match self.http.request(request).await {
            Ok(response) => {
                let bytes = response
                    .bytes()
                    .await
                    .map_err(|e| ChatError::Unavailable(format!("discord: {e}")))?;
                let reply: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let id = id_of(&reply)?.parse().ok().filter(|&id| id != 0);
                Ok(id.unwrap_or(message))
            }
            Err(serenity::Error::Http(HttpError::UnsuccessfulRequest(r)))
                if r.error.code == THREAD_EXISTS =>
            {
                Ok(message)
            }
            Err(e) => Err(self.classify(e, &channel.to_string())),
        }
    }

    /// Up to [`PAGE`] messages of `channel` written after message `after`,
    /// oldest first (Discord lists them newest first).
    pub async fn messages_after(&self, channel: u64, after: u64) -> Result<Vec<Value>, ChatError> {
        let route = Route::ChannelMessages {
            channel_id: ChannelId::new(channel),
        };
        let request = Request::new(route, LightMethod::Get).params(Some(vec![
            ("after", after.to_string()),
            ("limit", PAGE.to_string()),
        ]));
        let reply = match self.http.request(request).await {
            Ok(response) => response
                .bytes()
                .await
                .map_err(|e| ChatError::Unavailable(format!("discord: {e}")))?,
            Err(e) => return Err(self.classify(e, &channel.to_string())),
        };
        let mut messages: Vec<Value> = serde_json::from_slice(&reply)
            .map_err(|e| ChatError::Unavailable(format!("discord: a message list: {e}")))?;
        messages.reverse();
        Ok(messages)
    }

    /// The parent of `channel` when it is a thread, `None` when it is not.
    pub async fn thread_parent(&self, channel: u64) -> Result<Option<u64>, ChatError> {
        let route = Route::Channel {
            channel_id: ChannelId::new(channel),
        };
        let reply = self
            .call(route, LightMethod::Get, None, &channel.to_string())
            .await?;
        // Types 10, 11 and 12 are the announcement, public and private threads.
        let is_thread = matches!(reply["type"].as_u64(), Some(10..=12));
        Ok(is_thread
            .then(|| {
                reply["parent_id"]
                    .as_str()
                    .and_then(|p| p.parse().ok())
                    .filter(|&p| p != 0)
            })
            .flatten())
    }

    /// Replaces the application's commands (per guild when given, else global).
    pub async fn register_commands(
        &self,
        application: u64,
        guild: Option<u64>,
        commands: &Value,
    ) -> Result<(), ChatError> {
        // Ids are never 0; serenity's id types panic on it.
        let application_id = ApplicationId::new(application.max(1));
        let route = match guild.filter(|&g| g != 0) {
            Some(g) => Route::GuildCommands {
                application_id,
                guild_id: GuildId::new(g),
            },
            None => Route::Commands { application_id },
        };
        self.call(route, LightMethod::Put, Some(commands), "commands")
            .await
            .map(drop)
    }

    /// Acknowledges an interaction with a deferred, ephemeral response
    /// (type 5, flag 64): Discord wants an answer within 3 seconds.
    pub async fn defer(&self, interaction: u64, token: &str) -> Result<(), ChatError> {
        let route = Route::InteractionResponse {
            interaction_id: InteractionId::new(interaction),
            token,
        };
        let body = json!({ "type": 5, "data": { "flags": 64 } });
        self.call(route, LightMethod::Post, Some(&body), "interaction")
            .await
            .map(drop)
    }

    /// Fills the deferred response of an interaction (`first`), or adds an
    /// ephemeral followup to it.
    pub async fn respond(
        &self,
        application: u64,
        token: &str,
        first: bool,
        content: &str,
    ) -> Result<(), ChatError> {
        let application_id = ApplicationId::new(application.max(1));
        let mut body = message_body(content);
        body["flags"] = json!(64);
        let (route, method) = if first {
            let route = Route::WebhookOriginalInteractionResponse {
                application_id,
                token,
            };
            (route, LightMethod::Patch)
        } else {
            let route = Route::WebhookFollowupMessages {
                application_id,
                token,
            };
            (route, LightMethod::Post)
        };
        self.call(route, method, Some(&body), "interaction")
            .await
            .map(drop)
    }
}

fn id_of(reply: &Value) -> Result<String, ChatError> {
    reply["id"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| ChatError::Unavailable("discord: a reply without an id".to_owned()))
}

/// The wait Discord asked for in a 429 body (`"retry_after": 1.5`), else 1 s.
/// Serenity keeps an undecodable body's text in the error message.
fn retry_after(message: &str) -> Duration {
    message
        .split("\"retry_after\"")
        .nth(1)
        .and_then(|rest| {
            let rest = rest.trim_start_matches([':', ' ']);
            let end = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            rest[..end].parse::<f64>().ok()
        })
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map_or(Duration::from_secs(1), Duration::from_secs_f64)
}

/// An emoji as a URL path segment.
fn percent_encode(text: &str) -> String {
    text.bytes().map(|b| format!("%{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_body_disables_mention_parsing() {
        assert_eq!(message_body("hi")["allowed_mentions"], json!({"parse": []}));
    }

    #[test]
    fn retry_after_is_read_from_the_body() {
        let m =
            r#"could not decode: {"message": "slow down", "retry_after": 2.5, "global": false}"#;
        assert_eq!(retry_after(m), Duration::from_millis(2500));
        assert_eq!(retry_after("nothing"), Duration::from_secs(1));
    }

    #[test]
    fn emoji_are_percent_encoded() {
        assert_eq!(percent_encode("👀"), "%F0%9F%91%80");
    }
}
