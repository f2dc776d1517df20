//! `conversations.replies` as Slack answers it
//! (<https://docs.slack.dev/reference/methods/conversations.replies>; arguments and errors
//! also in `slackapi/slack-api-specs`, `web-api/slack_web_openapi_v2.json`):
//!
//! - a read: its arguments come as query parameters, the bot token required;
//! - `ts` names the thread's parent; the thread is the parent and its replies, oldest
//!   first; an unknown `ts` is `thread_not_found`, an unknown channel `channel_not_found`;
//! - `oldest` / `latest` are timestamps ("Only messages after / before this Unix
//!   timestamp"), exclusive unless `inclusive` ("Include messages with `oldest` or
//!   `latest` timestamps in results. Ignored unless either timestamp is specified"); one
//!   that is not a timestamp is `invalid_ts_oldest` / `invalid_ts_latest`;
//! - the parent comes first on the first page whatever `oldest` says, and continuation
//!   pages omit it (reported, not documented: <https://github.com/simstudioai/sim/pull/4934>);
//! - `limit` (default 1,000) caps a page, and Slack may answer fewer ("Fewer than the
//!   requested number of items may be returned"; 15 at most for some apps since
//!   2025-05-29, <https://docs.slack.dev/apis/web-api/rate-limits>): the test sets how
//!   many; `has_more` and `response_metadata.next_cursor` lead to the next page
//!   (<https://docs.slack.dev/apis/web-api/pagination>), an unknown cursor is
//!   `invalid_cursor`;
//! - a message's `metadata` is returned only with `include_all_metadata` ("Return all
//!   metadata associated with this message", default false);
//! - Tier 3, a 429 with `Retry-After` when the test asks for one
//!   (<https://docs.slack.dev/apis/web-api/rate-limits>).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::web::{has_token, log, refused};
use super::{BOT_TOKEN, FakeSlack, Shared, Stored};

/// Slack's default and largest `limit`.
const MAX_LIMIT: usize = 1000;

/// A `ts` ("1700000000.000123") as seconds and microseconds, to order by.
fn ts_key(ts: &str) -> Option<(u64, u64)> {
    let (secs, frac) = ts.split_once('.').unwrap_or((ts, ""));
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let micros = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<6}").parse().ok()?
    };
    Some((secs.parse().ok()?, micros))
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    matches!(query.get(name).map(String::as_str), Some("true" | "1"))
}

/// An opaque cursor naming the first message of the next page.
fn cursor_of(ts: &str) -> String {
    format!("next_ts:{ts}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn position_of(cursor: &str) -> Option<(u64, u64)> {
    let bytes: Option<Vec<u8>> = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(cursor.get(i..i + 2)?, 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    ts_key(text.strip_prefix("next_ts:")?)
}

/// A message as `conversations.replies` shows it.
fn shown(message: &Stored, parent: &Stored, thread: &[&Stored], with_metadata: bool) -> Value {
    let mut shown = json!({
        "type": "message", "user": message.user, "text": message.text, "ts": message.ts,
        "thread_ts": parent.ts, "blocks": message.blocks, "team": "T1",
    });
    if let Some(bot_id) = &message.bot_id {
        shown["bot_id"] = json!(bot_id);
        shown["app_id"] = json!(if bot_id == super::BOT_ID {
            "A1"
        } else {
            "A0OTHER"
        });
    }
    if message.ts == parent.ts {
        let replies = &thread[1..];
        let mut users: Vec<&str> = replies.iter().map(|m| m.user.as_str()).collect();
        users.dedup();
        shown["reply_count"] = json!(replies.len());
        shown["reply_users_count"] = json!(users.len());
        shown["reply_users"] = json!(users);
        shown["latest_reply"] = json!(replies.last().map_or(&parent.ts, |m| &m.ts));
        shown["subscribed"] = json!(false);
    } else {
        shown["parent_user_id"] = json!(parent.user);
    }
    if with_metadata && let Some(metadata) = &message.metadata {
        shown["metadata"] = metadata.clone();
    }
    shown
}

/// https://docs.slack.dev/reference/methods/conversations.replies
pub(super) async fn replies(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    log(&s, "conversations.replies", &verb, &headers, json!(query));
    if !has_token(&headers, BOT_TOKEN) {
        return refused("invalid_auth");
    }
    {
        let mut world = s.world();
        if world.rate_limit_reads > 0 {
            world.rate_limit_reads -= 1;
            world.rate_limited += 1;
            drop(world);
            s.notify();
            return (StatusCode::TOO_MANY_REQUESTS, [("Retry-After", "3")], "").into_response();
        }
    }
    match page(&s, &query) {
        Ok(answer) => Json(answer).into_response(),
        Err(code) => refused(code),
    }
}

/// The page `query` asks for, or Slack's `ok:false` code.
fn page(s: &Shared, query: &HashMap<String, String>) -> Result<Value, &'static str> {
    let bound = |name: &str, error: &'static str| match query.get(name) {
        None => Ok(None),
        Some(ts) => ts_key(ts).map(Some).ok_or(error),
    };
    let oldest = bound("oldest", "invalid_ts_oldest")?;
    let latest = bound("latest", "invalid_ts_latest")?;
    let inclusive = flag(query, "inclusive");
    let position = match query.get("cursor").filter(|c| !c.is_empty()) {
        None => None,
        Some(cursor) => Some(position_of(cursor).ok_or("invalid_cursor")?),
    };
    let world = s.world();
    let limit = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(MAX_LIMIT)
        .min(MAX_LIMIT)
        .min(world.replies_page_max.unwrap_or(MAX_LIMIT));
    let channel = query.get("channel").ok_or("channel_not_found")?;
    if !world.messages.iter().any(|m| &m.channel == channel) {
        return Err("channel_not_found");
    }
    let root = query.get("ts").ok_or("thread_not_found")?;
    let parent = world
        .messages
        .iter()
        .find(|m| &m.channel == channel && &m.ts == root)
        .ok_or("thread_not_found")?;
    let mut thread: Vec<&Stored> = world
        .messages
        .iter()
        .filter(|m| &m.channel == channel && m.thread_ts.as_ref() == Some(root))
        .collect();
    thread.sort_by_key(|m| ts_key(&m.ts));
    thread.insert(0, parent);
    let in_range = |m: &&&Stored| {
        let key = ts_key(&m.ts);
        let after = oldest.is_none_or(|o| {
            if inclusive {
                key >= Some(o)
            } else {
                key > Some(o)
            }
        });
        let before = latest.is_none_or(|l| {
            if inclusive {
                key <= Some(l)
            } else {
                key < Some(l)
            }
        });
        after && before && position.is_none_or(|p| key >= Some(p))
    };
    let mut listed: Vec<&Stored> = thread[1..].iter().filter(in_range).copied().collect();
    if position.is_none() {
        listed.insert(0, parent);
    }
    let rest = listed.split_off(limit.min(listed.len()));
    let with_metadata = flag(query, "include_all_metadata");
    let messages: Vec<Value> = listed
        .iter()
        .map(|m| shown(m, parent, &thread, with_metadata))
        .collect();
    let mut answer = json!({"ok": true, "messages": messages, "has_more": !rest.is_empty()});
    if let Some(next) = rest.first() {
        answer["response_metadata"] = json!({"next_cursor": cursor_of(&next.ts)});
    }
    Ok(answer)
}

impl FakeSlack {
    /// From now on a `conversations.replies` page holds at most `max` messages, whatever
    /// `limit` asks.
    pub fn replies_page_max(&self, max: usize) {
        self.shared.world().replies_page_max = Some(max);
    }

    /// The next `n` reads (`conversations.replies`) answer HTTP 429 with `Retry-After: 3`.
    pub fn rate_limit_reads_next(&self, n: usize) {
        self.shared.world().rate_limit_reads = n;
    }

    /// The `metadata` Slack keeps with the message `ts`, if any.
    pub fn metadata_of(&self, ts: &str) -> Option<Value> {
        let world = self.shared.world();
        world.messages.iter().find(|m| m.ts == ts)?.metadata.clone()
    }
}
