//! Relay posts' marks on Slack, and the bot's own posts read back (the port's `post_marked`
//! and `own_posts_after`, for exactly once across a crash).
//!
//! A mark travels as the message's `metadata`: `{"event_type": "mosaic_relay_post",
//! "event_payload": {"mark": "mosaic:v1:…"}}` (<https://docs.slack.dev/messaging/message-metadata>).
//! One string, the port's own `Display` of [`PostMark`], rather than one field per part:
//! slack-morphism's [`SlackMessageMetadata`] holds string values only, and one string keeps a
//! single parser (the port's) for every platform. Posting metadata needs no scope beyond
//! `chat:write`.
//!
//! A thread is read with slack-morphism's client (its session's `http_get`) but not its
//! models: 2.31's `conversations.replies` request has no `include_all_metadata` (without
//! which Slack returns no metadata at all,
//! <https://docs.slack.dev/reference/methods/conversations.replies>), and its message model
//! takes metadata payloads of strings only, so another app's message in the thread carrying
//! a number in its metadata would fail the whole page. [`ThreadPage`] reads only what the
//! bot needs and keeps metadata as JSON.
//!
//! The read needs the history scope of the conversation's kind (`channels:history`,
//! `groups:history`); without it Slack answers `missing_scope`, which the core logs before
//! showing those events again. It is rate limited per workspace (Tier 3 for internal and
//! Marketplace apps, far lower for other distributed apps), so the core reads only after a
//! crash.

use std::collections::HashMap;

use mosaic_chat::marks::MAX_OWN_POSTS;
use mosaic_chat::{ChatError, OwnPost, PostMark};
use serde::Deserialize;
use serde_json::Value;
use slack_morphism::prelude::SlackMessageMetadata;

use crate::events::ts_instant;
use crate::web::{WebApi, chat_error};

/// The `event_type` of a relay post's metadata (letters, digits and underscores, as Slack
/// requires of an event type).
pub const EVENT_TYPE: &str = "mosaic_relay_post";

/// The payload key holding the mark.
const MARK_KEY: &str = "mark";

/// Messages asked for per page: Slack recommends no more than 200
/// (<https://docs.slack.dev/apis/web-api/pagination>), and may answer fewer (15 for
/// commercially distributed apps outside the Marketplace since 2025-05-29,
/// <https://docs.slack.dev/apis/web-api/rate-limits>): every page's cursor is followed.
const PAGE_LIMIT: &str = "200";

/// The most pages read for one resume: a thread with more than this many pages of other
/// people's messages after the bot's last recorded post is read only this far.
const MAX_PAGES: usize = 50;

/// The metadata that carries `mark`.
pub fn metadata_of(mark: &PostMark) -> SlackMessageMetadata {
    let payload = HashMap::from([(MARK_KEY.to_owned(), mark.to_string())]);
    SlackMessageMetadata::new(EVENT_TYPE.to_owned()).with_event_payload(payload)
}

/// The mark a message's `metadata` carries: `None` when it has none, or it is another
/// app's event, or its mark does not parse.
pub fn mark_of(metadata: &Value) -> Option<PostMark> {
    if metadata.get("event_type")?.as_str()? != EVENT_TYPE {
        return None;
    }
    metadata
        .get("event_payload")?
        .get(MARK_KEY)?
        .as_str()?
        .parse()
        .ok()
}

/// One message of a `conversations.replies` page, as far as the bot reads it.
#[derive(Debug, Deserialize)]
pub struct ThreadMessage {
    pub ts: String,
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub text: Option<String>,
    #[serde(default)]
    pub metadata: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

/// A `conversations.replies` page (<https://docs.slack.dev/reference/methods/conversations.replies>).
#[derive(Debug, Deserialize)]
pub struct ThreadPage {
    pub messages: Vec<ThreadMessage>,
    #[serde(default)]
    has_more: bool,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

impl ThreadPage {
    /// The cursor of the next page, while there is one.
    fn next_cursor(&self) -> Option<&str> {
        let cursor = self.response_metadata.as_ref()?.next_cursor.as_deref()?;
        (self.has_more && !cursor.is_empty()).then_some(cursor)
    }
}

/// The messages of `messages` that `bot_user` wrote after `after`, as [`OwnPost`]s. Slack
/// puts the thread's first message on the first page whatever `oldest` says, and `oldest`
/// is a time, not a message: the order is checked here too.
pub fn own_posts(messages: Vec<ThreadMessage>, bot_user: &str, after: &str) -> Vec<OwnPost> {
    let after = ts_instant(after);
    messages
        .into_iter()
        .filter(|m| m.user.as_deref() == Some(bot_user))
        .filter(|m| after.is_none_or(|after| ts_instant(&m.ts).is_some_and(|ts| ts > after)))
        .map(|m| OwnPost {
            mark: m.metadata.as_ref().and_then(mark_of),
            id: m.ts,
            text: m.text.unwrap_or_default(),
        })
        .collect()
}

impl WebApi {
    /// `conversations.replies` of the thread `root` in `channel` from after `after`, with
    /// every message's metadata: the posts of `bot_user` among them, oldest first, at most
    /// [`MAX_OWN_POSTS`].
    pub async fn own_posts_after(
        &self,
        channel: &str,
        root: &str,
        after: &str,
        bot_user: &str,
    ) -> Result<Vec<OwnPost>, ChatError> {
        const METHOD: &str = "conversations.replies";
        let mut posts = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let params = [
                ("channel", Some(channel)),
                ("ts", Some(root)),
                ("oldest", Some(after)),
                ("inclusive", Some("false")),
                ("include_all_metadata", Some("true")),
                ("limit", Some(PAGE_LIMIT)),
                ("cursor", cursor.as_deref()),
            ];
            let session = self.session();
            let answer = session
                .http_session_api
                .http_get(METHOD, &params, None)
                .await;
            let page: ThreadPage = answer.map_err(|e| chat_error(METHOD, channel, e))?;
            let next = page.next_cursor().map(str::to_owned);
            posts.extend(own_posts(page.messages, bot_user, after));
            if posts.len() >= MAX_OWN_POSTS {
                posts.truncate(MAX_OWN_POSTS);
                return Ok(posts);
            }
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(posts),
            }
        }
        tracing::warn!(%channel, thread = %root, pages = MAX_PAGES, "read only the first pages of a long thread for the bot's posts");
        Ok(posts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mark() -> PostMark {
        PostMark {
            job_id: "job-1".into(),
            first_seq: 4,
            last_seq: 6,
            page: 0,
            pages: 1,
        }
    }

    #[test]
    fn a_mark_goes_as_one_string_and_reads_back() {
        let metadata = serde_json::to_value(metadata_of(&mark())).expect("serializes");
        assert_eq!(
            metadata,
            json!({"event_type": "mosaic_relay_post", "event_payload": {"mark": "mosaic:v1:4-6:0/1:job-1"}})
        );
        assert_eq!(mark_of(&metadata), Some(mark()));
    }

    #[test]
    fn other_apps_events_and_broken_marks_are_no_marks() {
        for other in [
            json!({"event_type": "task_created", "event_payload": {"mark": "mosaic:v1:4-6:0/1:job-1"}}),
            json!({"event_type": "mosaic_relay_post", "event_payload": {"mark": "mosaic:v1:6-4:0/1:j"}}),
            json!({"event_type": "mosaic_relay_post", "event_payload": {"mark": 7}}),
            json!({"event_type": "mosaic_relay_post"}),
            json!({}),
        ] {
            assert_eq!(mark_of(&other), None, "{other}");
        }
    }
}
