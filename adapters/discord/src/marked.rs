//! Relay posts that show once across a lost answer or a crash, and the bot's own posts read
//! back when a relay resumes.
//!
//! Posting: a relay post carries a `nonce` made from its whole [`PostMark`] (job, events,
//! page) and `enforce_nonce: true`: "If another message was created by the same author with
//! the same nonce, that message will be returned and no new message will be created", within
//! "the past few minutes" (resources/message, "Create Message"). A post whose answer was lost
//! (a 502, a connection cut after Discord made the message) and that is sent again, by the
//! core's retry or by a resumed relay soon after a crash, gets the first message back.
//!
//! Reading back: Discord keeps no mark with a message. The nonce "will appear in the Message
//! Create event" only (same page); a message read later has none. So the bot's posts are
//! read with `GET /channels/{id}/messages?after=` (resources/message, "Get Channel
//! Messages") and returned by their text, for the core to match.

use std::fmt::Write as _;
use std::time::Duration;

use mosaic_chat::marks::MAX_OWN_POSTS;
use mosaic_chat::{ChatError, OwnPost, PostMark, ThreadRef};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::rest::PAGE;
use crate::{Discord, parse_id};

/// Bytes of the mark's digest in a nonce: 12 bytes are 24 hex characters, within Discord's
/// 25, and 96 bits make two marks' nonces practically never the same (one would get the
/// other's message back: a post lost).
const NONCE_BYTES: usize = 12;

/// How long a read waits for READY to name the bot (a relay may resume before it comes).
const READY_WAIT: Duration = Duration::from_secs(10);

/// The most pages one read goes through: what a relay posted without recording it stands
/// right after its last recorded post, unless the thread is busy beyond reason.
const MAX_PAGES: usize = 10;

/// The nonce of the post marked `mark`: the same for the same mark, in every process.
pub(crate) fn nonce_of(mark: &PostMark) -> String {
    let digest = Sha256::digest(format!("mosaic-bot discord post\n{mark}").as_bytes());
    let mut nonce = String::with_capacity(2 * NONCE_BYTES);
    for byte in digest.iter().take(NONCE_BYTES) {
        // Writing to a String cannot fail.
        let _ = write!(nonce, "{byte:02x}");
    }
    nonce
}

impl Discord {
    /// The bot's own messages in `thread` after message `after`, oldest first; `None` when
    /// the bot may not read the thread's history, where Discord would answer "no messages"
    /// (resources/message, "Get Channel Messages": "If the current user is missing the
    /// READ_MESSAGE_HISTORY permission in the channel, then no messages will be returned").
    pub(crate) async fn own_posts_in(
        &self,
        thread: &ThreadRef,
        after: &str,
    ) -> Result<Option<Vec<OwnPost>>, ChatError> {
        let channel = parse_id("channel", &thread.channel)?;
        let root = parse_id("message", &thread.thread)?;
        let after = parse_id("message", after)?;
        // A job answered in its channel (no thread could be made) replies to its command:
        // the channel's other messages, the bot's answers to other jobs among them, are not
        // this thread's.
        let in_channel = self.answers_in_channel(root).await;
        let (place, replies_to) = if in_channel {
            (channel, Some(root))
        } else {
            (root, None)
        };
        if self.history_refused(place, channel).await {
            return Ok(None);
        }
        let bot = self.bot_id().await.ok_or_else(|| {
            ChatError::Unavailable("discord: the bot's user is not known yet (no READY)".into())
        })?;
        let mut own = Vec::new();
        let mut from = after;
        for _ in 0..MAX_PAGES {
            let page = self.rest.messages_after(place, from).await?;
            let full = page.len() >= PAGE;
            for message in &page {
                from = from.max(id_of(message).unwrap_or(0));
                own.extend(own_post(message, bot, replies_to));
            }
            if !full || own.len() >= MAX_OWN_POSTS {
                return Ok(Some(oldest_first(own)));
            }
        }
        tracing::warn!(
            platform = "discord",
            channel,
            thread = root,
            pages = MAX_PAGES,
            "discord: the bot's posts read back from the first pages only"
        );
        Ok(Some(oldest_first(own)))
    }

    /// The bot's user id once READY named it, waiting a little for it.
    async fn bot_id(&self) -> Option<u64> {
        let mut user = self.bot_user.subscribe();
        let named = tokio::time::timeout(READY_WAIT, user.wait_for(Option::is_some)).await;
        named.ok()?.ok().and_then(|id| *id)
    }
}

fn id_of(message: &Value) -> Option<u64> {
    message["id"].as_str()?.parse().ok()
}

/// `message` as one of the bot's posts: written by `bot`, and a reply to `replies_to` when
/// given.
fn own_post(message: &Value, bot: u64, replies_to: Option<u64>) -> Option<OwnPost> {
    let author = message["author"]["id"].as_str()?.parse::<u64>().ok()?;
    if author != bot {
        return None;
    }
    if let Some(root) = replies_to {
        let to = message["message_reference"]["message_id"].as_str()?;
        if to.parse::<u64>().ok()? != root {
            return None;
        }
    }
    Some(OwnPost {
        id: id_of(message)?.to_string(),
        text: message["content"].as_str()?.to_owned(),
        mark: None,
    })
}

/// Sorted by id (a snowflake grows with time), whatever order the pages came in; at most
/// [`MAX_OWN_POSTS`].
fn oldest_first(mut own: Vec<OwnPost>) -> Vec<OwnPost> {
    own.sort_by_key(|p| p.id.parse::<u64>().unwrap_or(0));
    own.dedup_by(|a, b| a.id == b.id);
    own.truncate(MAX_OWN_POSTS);
    own
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn mark(job: &str, first: u64, last: u64, page: u32, pages: u32) -> PostMark {
        PostMark {
            job_id: job.into(),
            first_seq: first,
            last_seq: last,
            page,
            pages,
        }
    }

    #[test]
    fn a_nonce_fits_discord_and_is_the_same_for_the_same_mark() {
        let nonce = nonce_of(&mark("job-1", 3, 9, 0, 2));
        assert!(nonce.chars().count() <= 25, "{nonce}");
        assert_eq!(nonce, nonce_of(&mark("job-1", 3, 9, 0, 2)));
        // Written down once, so that a change of the derivation (which would let a post
        // retried across an upgrade land twice) is seen.
        assert_eq!(nonce, "9295deac4f88c1d43ba010d9");
    }

    #[test]
    fn every_part_of_the_mark_changes_the_nonce() {
        let marks = [
            mark("job-1", 3, 9, 0, 2),
            mark("job-2", 3, 9, 0, 2),
            mark("job-1", 4, 9, 0, 2),
            mark("job-1", 3, 8, 0, 2),
            mark("job-1", 3, 9, 1, 2),
            mark("job-1", 3, 9, 0, 3),
        ];
        let mut nonces: Vec<String> = marks.iter().map(nonce_of).collect();
        nonces.sort_unstable();
        nonces.dedup();
        assert_eq!(nonces.len(), marks.len(), "{nonces:?}");
    }

    #[test]
    fn only_the_bots_posts_and_in_a_channel_only_its_replies_to_the_command() {
        let message = |id: u64, author: u64, reply: Option<u64>| {
            let mut m = json!({ "id": id.to_string(), "author": { "id": author.to_string() },
                                "content": format!("m{id}") });
            if let Some(to) = reply {
                m["message_reference"] = json!({ "message_id": to.to_string() });
            }
            m
        };
        let post = own_post(&message(5, 100, None), 100, None).expect("the bot's");
        assert_eq!((post.id.as_str(), post.text.as_str()), ("5", "m5"));
        assert_eq!(post.mark, None);
        assert_eq!(own_post(&message(6, 501, None), 100, None), None);
        assert!(own_post(&message(7, 100, Some(3)), 100, Some(3)).is_some());
        assert_eq!(own_post(&message(8, 100, Some(4)), 100, Some(3)), None);
        assert_eq!(own_post(&message(9, 100, None), 100, Some(3)), None);
    }

    #[test]
    fn posts_come_oldest_first_and_at_most_the_ports_limit() {
        let post = |id: u64| OwnPost {
            id: id.to_string(),
            text: String::new(),
            mark: None,
        };
        let many: Vec<OwnPost> = (1..=150).rev().map(post).collect();
        let kept = oldest_first(many);
        assert_eq!(kept.len(), MAX_OWN_POSTS);
        assert_eq!(kept[0].id, "1");
        assert_eq!(kept[MAX_OWN_POSTS - 1].id, "100");
    }
}
