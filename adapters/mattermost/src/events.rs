//! What the WebSocket says, read (pure): events and replies, `posted` events
//! with their post (a JSON string inside the JSON) and mentions (a
//! JSON-encoded array), and a post turned into an [`Inbound`] when it
//! addresses the bot.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mosaic_chat::{Inbound, Platform, UserRef};
use serde::Deserialize;
use serde_json::Value;

/// A Mattermost post, as far as the bot reads one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Post {
    pub id: String,
    pub channel_id: String,
    #[serde(default)]
    pub root_id: String,
    #[serde(default)]
    pub user_id: String,
    #[serde(default)]
    pub message: String,
    /// When it was written (server time, ms since the epoch).
    #[serde(default)]
    pub create_at: i64,
    /// When it last changed: written, edited, replied to, reacted to, deleted.
    #[serde(default)]
    pub update_at: i64,
    /// When its text was last edited; 0 if never.
    #[serde(default)]
    pub edit_at: i64,
    /// When it was deleted; 0 while it stands.
    #[serde(default)]
    pub delete_at: i64,
    /// Set on the copy of a post's text before an edit (the copy has its own
    /// id and is deleted at once): names the post that was edited.
    #[serde(default)]
    pub original_id: String,
    /// Empty for a user's post; `system_join_channel` and the like otherwise.
    #[serde(default, rename = "type")]
    pub kind: String,
}

/// One frame of the WebSocket, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// The server greets an authenticated connection.
    Hello,
    /// The reply to the authentication challenge.
    AuthReply { ok: bool, error: String },
    /// A new post, with the ids of the users it mentions and the team of
    /// its channel (`Some("")` in a direct message; `None` if not told).
    Posted {
        post: Post,
        mentions: Vec<String>,
        sender_name: Option<String>,
        team_id: Option<String>,
    },
    /// A post whose text was edited (`post_edited`), as it reads now.
    Edited { post: Post },
    /// Anything else (typing, status changes, other replies).
    Other,
}

/// Reads one text frame; `None` when it is not JSON or a `posted` event is
/// malformed (logged by the caller, never fatal).
pub fn parse_event(text: &str) -> Option<SocketEvent> {
    let frame: Value = serde_json::from_str(text).ok()?;
    if frame.get("seq_reply").and_then(Value::as_i64) == Some(1) {
        let ok = frame.get("status").and_then(Value::as_str) == Some("OK");
        let error = frame
            .pointer("/error/message")
            .or_else(|| frame.pointer("/error/id"))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        return Some(SocketEvent::AuthReply { ok, error });
    }
    match frame.get("event").and_then(Value::as_str) {
        Some("hello") => Some(SocketEvent::Hello),
        Some("posted") => {
            let data = frame.get("data")?;
            // `post` is JSON inside a JSON string: parsed a second time.
            let post: Post = serde_json::from_str(data.get("post")?.as_str()?).ok()?;
            let mentions = data
                .get("mentions")
                .and_then(Value::as_str)
                .and_then(|m| serde_json::from_str::<Vec<String>>(m).ok())
                .unwrap_or_default();
            let sender_name = data
                .get("sender_name")
                .and_then(Value::as_str)
                .map(|n| n.trim_start_matches('@').to_owned())
                .filter(|n| !n.is_empty());
            let team_id = data
                .get("team_id")
                .and_then(Value::as_str)
                .map(str::to_owned);
            Some(SocketEvent::Posted {
                post,
                mentions,
                sender_name,
                team_id,
            })
        }
        Some("post_edited") => {
            let post = frame.get("data")?.get("post")?.as_str()?;
            Some(SocketEvent::Edited {
                post: serde_json::from_str(post).ok()?,
            })
        }
        _ => Some(SocketEvent::Other),
    }
}

impl Post {
    /// Whether the post is gone or is the pre-edit copy of another: a
    /// `posts?since=` answer holds both, and neither is a message anyone
    /// wrote now (post_store.go `GetPostsSince` has no `DeleteAt` condition).
    pub fn is_history(&self) -> bool {
        self.delete_at != 0 || !self.original_id.is_empty()
    }

    /// The revision this post is: `None` as written, `Some(edit_at)` once
    /// edited, so each edit is read apart from the post as written.
    pub fn revision(&self) -> Option<String> {
        (self.edit_at > 0).then(|| self.edit_at.to_string())
    }

    /// When the server says the post was written.
    pub fn written(&self) -> SystemTime {
        let ms = u64::try_from(self.create_at).unwrap_or(0);
        UNIX_EPOCH + Duration::from_millis(ms)
    }
}

/// Whether a username character (Mattermost: letters, digits, `.`, `-`, `_`).
fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// The byte ranges of `@username` in `text` as whole words, case-insensitively.
fn mention_spans(text: &str, username: &str) -> Vec<(usize, usize)> {
    let needle = format!("@{username}");
    let lower = text.to_ascii_lowercase();
    let needle = needle.to_ascii_lowercase();
    let mut spans = Vec::new();
    let mut from = 0;
    while let Some(at) = lower[from..].find(&needle).map(|i| i + from) {
        let end = at + needle.len();
        let before_ok = text[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !is_name_char(c));
        // A trailing dot ends a sentence, not the name (`@bot.`).
        let after = text[end..].chars().next();
        let after_ok = match after {
            None => true,
            Some('.') => text[end + 1..]
                .chars()
                .next()
                .is_none_or(|c| !is_name_char(c)),
            Some(c) => !is_name_char(c),
        };
        if before_ok && after_ok {
            spans.push((at, end));
        }
        from = end;
    }
    spans
}

/// `text` with every `@username` (the bot's Mattermost account) written as
/// `@bot_name`, the name the command parser expects.
pub fn rewrite_mention(text: &str, username: &str, bot_name: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (start, end) in mention_spans(text, username) {
        out.push_str(&text[last..start]);
        out.push('@');
        out.push_str(bot_name);
        last = end;
    }
    out.push_str(&text[last..]);
    out
}

/// Who the bot is on this server, and what the parser calls it.
#[derive(Debug, Clone)]
pub struct BotIdentity {
    pub user_id: String,
    pub username: String,
    pub bot_name: String,
}

/// Whether `post` is addressed to the bot by someone else: a user's post
/// (not the bot's own, not a system message) whose mentions hold the bot's
/// id, or whose text names `@username`.
pub fn addresses_bot(post: &Post, mentions: &[String], bot: &BotIdentity) -> bool {
    post.user_id != bot.user_id
        && post.kind.is_empty()
        && (mentions.contains(&bot.user_id)
            || !mention_spans(&post.message, &bot.username).is_empty())
}

/// The [`Inbound`] of a post that addresses the bot, by `author` with `roles`.
pub fn inbound(
    platform: Platform,
    post: &Post,
    author: String,
    roles: Vec<String>,
    bot: &BotIdentity,
) -> Inbound {
    Inbound {
        platform,
        channel: post.channel_id.clone(),
        message_id: post.id.clone(),
        thread: (!post.root_id.is_empty()).then(|| post.root_id.clone()),
        user: UserRef {
            id: post.user_id.clone(),
            name: author,
        },
        roles,
        text: rewrite_mention(&post.message, &bot.username, &bot.bot_name),
        slash: false,
        reply_handle: None,
        dedupe_key: format!("mattermost:{}", post.id),
        created_at: post.written(),
        edit: post.revision(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> BotIdentity {
        BotIdentity {
            user_id: "bot1".into(),
            username: "mosaic-bot".into(),
            bot_name: "mosaic".into(),
        }
    }

    fn post(user: &str, message: &str) -> Post {
        Post {
            id: "p1".into(),
            channel_id: "c1".into(),
            root_id: String::new(),
            user_id: user.into(),
            message: message.into(),
            create_at: 1,
            update_at: 1,
            edit_at: 0,
            delete_at: 0,
            original_id: String::new(),
            kind: String::new(),
        }
    }

    #[test]
    fn a_posted_event_is_parsed_twice() {
        let inner = r#"{"id":"p9","channel_id":"c1","root_id":"r1","user_id":"u1","message":"hi","create_at":5}"#;
        let frame = serde_json::json!({
            "event": "posted",
            "data": {"post": inner, "mentions": "[\"bot1\"]", "sender_name": "@alice", "team_id": "t1"},
            "seq": 3
        });
        let Some(SocketEvent::Posted {
            post,
            mentions,
            sender_name,
            team_id,
        }) = parse_event(&frame.to_string())
        else {
            panic!("not a posted event");
        };
        assert_eq!(
            (post.id.as_str(), post.root_id.as_str(), post.create_at),
            ("p9", "r1", 5)
        );
        assert_eq!(mentions, ["bot1"]);
        assert_eq!(sender_name.as_deref(), Some("alice"));
        assert_eq!(team_id.as_deref(), Some("t1"));
    }

    #[test]
    fn malformed_frames_are_skipped_not_fatal() {
        assert_eq!(parse_event("not json"), None);
        assert_eq!(
            parse_event(r#"{"event":"posted","data":{"post":"{broken"}}"#),
            None
        );
        assert_eq!(
            parse_event(r#"{"event":"typing","data":{}}"#),
            Some(SocketEvent::Other)
        );
        assert_eq!(
            parse_event(r#"{"status":"FAIL","seq_reply":1,"error":{"message":"bad token"}}"#),
            Some(SocketEvent::AuthReply {
                ok: false,
                error: "bad token".into()
            })
        );
    }

    #[test]
    fn the_accounts_mention_is_rewritten_to_the_bot_name() {
        assert_eq!(
            rewrite_mention("@mosaic-bot fix #42", "mosaic-bot", "mosaic"),
            "@mosaic fix #42"
        );
        assert_eq!(
            rewrite_mention("hey @Mosaic-Bot. status", "mosaic-bot", "mosaic"),
            "hey @mosaic. status"
        );
        assert_eq!(
            rewrite_mention("@mosaic-bots fix", "mosaic-bot", "mosaic"),
            "@mosaic-bots fix"
        );
        assert_eq!(
            rewrite_mention("a@mosaic-bot", "mosaic-bot", "mosaic"),
            "a@mosaic-bot"
        );
    }

    #[test]
    fn only_others_posts_that_mention_the_bot_address_it() {
        assert!(addresses_bot(
            &post("u1", "@mosaic-bot fix #1"),
            &[],
            &bot()
        ));
        assert!(addresses_bot(
            &post("u1", "fix it"),
            &["bot1".into()],
            &bot()
        ));
        assert!(!addresses_bot(&post("u1", "@mosaic fix #1"), &[], &bot()));
        assert!(!addresses_bot(
            &post("bot1", "@mosaic-bot fix #1"),
            &["bot1".into()],
            &bot()
        ));
        let system = Post {
            kind: "system_join_channel".into(),
            ..post("u1", "@mosaic-bot joined")
        };
        assert!(!addresses_bot(&system, &[], &bot()));
    }

    #[test]
    fn an_inbound_names_its_thread_and_dedupe_key() {
        let mut p = post("u1", "@mosaic-bot fix #1");
        let roles = vec!["system_user".to_owned()];
        let top = inbound(
            Platform::new("mattermost"),
            &p,
            "alice".into(),
            roles.clone(),
            &bot(),
        );
        assert_eq!(top.roles, roles);
        assert_eq!(
            (top.thread.as_deref(), top.dedupe_key.as_str()),
            (None, "mattermost:p1")
        );
        assert_eq!(top.reply_thread().thread, "p1");
        assert_eq!(top.text, "@mosaic fix #1");
        p.root_id = "r1".into();
        let reply = inbound(
            Platform::new("mattermost"),
            &p,
            "alice".into(),
            Vec::new(),
            &bot(),
        );
        assert_eq!(reply.reply_thread().thread, "r1");
        assert_eq!(reply.created_at, UNIX_EPOCH + Duration::from_millis(1));
        assert_eq!(reply.edit, None);
        p.edit_at = 1_700_000_000_123;
        let edited = inbound(
            Platform::new("mattermost"),
            &p,
            "alice".into(),
            Vec::new(),
            &bot(),
        );
        assert_eq!(edited.edit.as_deref(), Some("1700000000123"));
        assert_eq!(
            edited.dedupe_key, reply.dedupe_key,
            "an edit keeps its message's key"
        );
    }

    #[test]
    fn deleted_posts_and_pre_edit_copies_are_history() {
        let mut p = post("u1", "@mosaic-bot fix #1");
        assert!(!p.is_history());
        p.original_id = "p0".into();
        assert!(p.is_history());
        p.original_id.clear();
        p.delete_at = 5;
        assert!(p.is_history());
        let frame = serde_json::json!({
            "event": "post_edited",
            "data": {"post": r#"{"id":"p9","channel_id":"c1","message":"new","create_at":5,"edit_at":9}"#},
        });
        let Some(SocketEvent::Edited { post }) = parse_event(&frame.to_string()) else {
            panic!("not an edit");
        };
        assert_eq!((post.message.as_str(), post.edit_at), ("new", 9));
    }
}
