//! Relay posts' marks on Slack, and the bot's own posts read back (the port's `post_marked`
//! and `own_posts_after`, for exactly once across a crash).
//!
//! A mark travels as the message's `metadata`
//! (<https://docs.slack.dev/messaging/message-metadata>): `event_type` names it ours,
//! `event_payload.mark` holds it as one string. Posting metadata needs no scope beyond
//! `chat:write`. Slack returns a message's metadata only to a read that asks with
//! `include_all_metadata=true`
//! (<https://docs.slack.dev/reference/methods/conversations.replies>), which slack-morphism's
//! `conversations.replies` request does not carry: the call goes through its session's
//! `http_get` with our parameters, still parsed into its response types.
//!
//! The read needs the history scope of the conversation's kind (`channels:history`,
//! `groups:history`, `im:history`, `mpim:history`); without it Slack answers
//! `missing_scope`, which the core logs before showing those events again. It is rate
//! limited per workspace (Tier 3 for internal and Marketplace apps, far lower for other
//! distributed apps), so the core reads only after a crash.

use std::collections::HashMap;

use mosaic_chat::marks::MAX_OWN_POSTS;
use mosaic_chat::{ChatError, OwnPost, PostMark};
use slack_morphism::prelude::*;

use crate::web::{WebApi, chat_error};

/// The metadata `event_type` of a relay post's mark.
pub(crate) const MARK_EVENT: &str = "mosaic_relay_post";

/// Messages per page asked of `conversations.replies` (Slack's documented maximum is 1,000;
/// a resumed relay expects a few).
const PAGE: &str = "200";

/// `mark` as a message's metadata.
pub(crate) fn metadata_of(mark: &PostMark) -> SlackMessageMetadata {
    SlackMessageMetadata {
        event_type: MARK_EVENT.to_owned(),
        event_payload: Some(HashMap::from([("mark".to_owned(), mark.to_string())])),
    }
}

/// The mark a message's metadata carries, if it is ours and well formed.
fn mark_of(metadata: Option<&SlackMessageMetadata>) -> Option<PostMark> {
    let metadata = metadata.filter(|m| m.event_type == MARK_EVENT)?;
    let written = metadata.event_payload.as_ref()?.get("mark")?;
    match written.parse() {
        Ok(mark) => Some(mark),
        Err(error) => {
            tracing::warn!(%error, "a message of the bot carries a relay mark that does not read");
            None
        }
    }
}

impl WebApi {
    /// The messages of `me` (the bot's user id) in the thread rooted at `root` of `channel`,
    /// written after `after` (exclusive), oldest first, at most [`MAX_OWN_POSTS`].
    pub async fn own_posts_after(
        &self,
        channel: &str,
        root: &str,
        after: &str,
        me: &str,
    ) -> Result<Vec<OwnPost>, ChatError> {
        let mut posts = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let params = [
                ("channel", Some(channel)),
                ("ts", Some(root)),
                ("oldest", Some(after)),
                ("inclusive", Some("false")),
                ("include_all_metadata", Some("true")),
                ("limit", Some(PAGE)),
                ("cursor", cursor.as_deref()),
            ];
            let page: SlackApiConversationsRepliesResponse = self
                .session()
                .http_session_api
                .http_get("conversations.replies", &params, None)
                .await
                .map_err(|e| chat_error("conversations.replies", channel, e))?;
            for message in page.messages {
                let ts = message.origin.ts.0;
                // The thread's parent comes first in every answer, whatever `oldest` says.
                let ours = message.sender.user.as_ref().is_some_and(|u| u.0 == me);
                if !ours || ts == root || !later(&ts, after) {
                    continue;
                }
                posts.push(OwnPost {
                    mark: mark_of(message.content.metadata.as_ref()),
                    text: message.content.text.unwrap_or_default(),
                    id: ts,
                });
                if posts.len() == MAX_OWN_POSTS {
                    return Ok(posts);
                }
            }
            cursor = page
                .response_metadata
                .and_then(|m| m.next_cursor)
                .map(|c| c.0)
                .filter(|c| !c.is_empty());
            if cursor.is_none() || page.has_more == Some(false) {
                return Ok(posts);
            }
        }
    }
}

/// Whether message timestamp `ts` comes after `than` (`seconds.micros`, compared as numbers:
/// the seconds may one day grow a digit).
fn later(ts: &str, than: &str) -> bool {
    let split = |t: &str| -> (u64, u64) {
        let (s, f) = t.split_once('.').unwrap_or((t, "0"));
        (s.parse().unwrap_or(0), f.parse().unwrap_or(0))
    };
    split(ts) > split(than)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_goes_out_as_metadata_and_reads_back() {
        let mark = PostMark {
            job_id: "j-1".into(),
            first_seq: 2,
            last_seq: 4,
            page: 0,
            pages: 1,
        };
        let metadata = metadata_of(&mark);
        assert_eq!(metadata.event_type, MARK_EVENT);
        assert_eq!(mark_of(Some(&metadata)), Some(mark));
        let other = SlackMessageMetadata {
            event_type: "task_created".into(),
            event_payload: metadata.event_payload.clone(),
        };
        assert_eq!(mark_of(Some(&other)), None, "another app's metadata");
        assert_eq!(mark_of(None), None);
    }

    #[test]
    fn timestamps_compare_as_numbers() {
        assert!(later("1700000000.000200", "1700000000.000100"));
        assert!(!later("1700000000.000100", "1700000000.000100"));
        assert!(later("10000000000.000001", "9999999999.999999"));
    }
}
