//! Reading a thread back (`conversations.replies`) and message metadata, as Slack does them:
//! the metadata a message is posted with is checked and kept, and returned only to a read
//! that asks for it with `include_all_metadata`.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{ALICE, CHANNEL, FakeSlack, Shared, Stored};

/// `chat.postMessage` and `chat.update` refuse metadata that is not an object with a string
/// `event_type` and an object `event_payload`
/// (<https://docs.slack.dev/messaging/message-metadata>: both fields are required;
/// <https://docs.slack.dev/reference/methods/chat.postMessage#errors>:
/// `invalid_metadata_format`). slack-morphism sends it as an object in the JSON body.
pub(super) fn invalid_metadata(body: &Value) -> Option<Response> {
    let metadata = body.get("metadata")?;
    let well_formed = metadata.get("event_type").is_some_and(Value::is_string)
        && metadata.get("event_payload").is_some_and(Value::is_object);
    (!well_formed)
        .then(|| Json(json!({"ok": false, "error": "invalid_metadata_format"})).into_response())
}

/// Whether `ts` lies after (or at, when `inclusive`) `oldest`, and before (or at) `latest`:
/// message timestamps compared as numbers.
fn in_range(ts: &str, query: &HashMap<String, String>) -> bool {
    let n = |t: &str| t.parse::<f64>().unwrap_or(0.0);
    let inclusive = query
        .get("inclusive")
        .is_some_and(|v| v == "true" || v == "1");
    let after_oldest = query.get("oldest").is_none_or(|o| {
        if inclusive {
            n(ts) >= n(o)
        } else {
            n(ts) > n(o)
        }
    });
    let before_latest = query.get("latest").is_none_or(|l| {
        if inclusive {
            n(ts) <= n(l)
        } else {
            n(ts) < n(l)
        }
    });
    after_oldest && before_latest
}

/// A message as `conversations.replies` shows it (with `metadata` only when asked).
fn shown(message: &Stored, with_metadata: bool) -> Value {
    let mut shown = json!({
        "type": "message", "user": message.user, "text": message.text, "ts": message.ts,
        "thread_ts": message.thread_ts.clone().unwrap_or_else(|| message.ts.clone()),
    });
    if message.user == super::BOT_USER {
        shown["bot_id"] = json!("B1");
    }
    if let (true, Some(metadata)) = (with_metadata, &message.metadata) {
        shown["metadata"] = metadata.clone();
    }
    shown
}

/// <https://docs.slack.dev/reference/methods/conversations.replies>: the thread of the
/// message `ts` in `channel`, the parent first then its replies oldest first, within
/// `oldest`/`latest` (exclusive unless `inclusive`; the parent is returned whatever they
/// say), at most `limit` (default 1,000) a page, maybe fewer; `has_more` and
/// `response_metadata.next_cursor` page on. `thread_not_found` for a `ts` that is no message.
/// Metadata only with `include_all_metadata=true`.
pub(super) async fn replies(
    State(s): State<Shared>,
    verb: Method,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    super::web::log(&s, "conversations.replies", &verb, &headers, json!(query));
    if !super::web::has_token(&headers, super::BOT_TOKEN) {
        return refused("invalid_auth");
    }
    {
        // Tier 3 (https://docs.slack.dev/reference/methods/conversations.replies): a 429 with
        // its wait in `Retry-After`, while the test asks for it.
        let mut world = s.world();
        if world.rate_limit_next > 0 {
            world.rate_limit_next -= 1;
            world.rate_limited += 1;
            return (
                axum::http::StatusCode::TOO_MANY_REQUESTS,
                [("Retry-After", "1")],
                "",
            )
                .into_response();
        }
    }
    let (Some(channel), Some(root)) = (query.get("channel"), query.get("ts")) else {
        return refused("invalid_arguments");
    };
    let limit = match query.get("limit").map(|l| l.parse::<usize>()) {
        None => 1000,
        Some(Ok(l)) if (1..=1000).contains(&l) => l,
        Some(_) => return refused("invalid_limit"),
    };
    let offset = match query.get("cursor").filter(|c| !c.is_empty()) {
        None => 0,
        Some(cursor) => match cursor.strip_prefix("next:").and_then(|o| o.parse().ok()) {
            Some(offset) => offset,
            None => return refused("invalid_cursor"),
        },
    };
    let with_metadata = query
        .get("include_all_metadata")
        .is_some_and(|v| v == "true" || v == "1");
    let world = s.world();
    let Some(parent) = world
        .messages
        .iter()
        .find(|m| &m.channel == channel && &m.ts == root)
    else {
        return refused("thread_not_found");
    };
    let mut thread: Vec<&Stored> = world
        .messages
        .iter()
        .filter(|m| {
            &m.channel == channel
                && m.thread_ts.as_deref() == Some(root.as_str())
                && m.ts != *root
                && in_range(&m.ts, &query)
        })
        .collect();
    thread.sort_by(|a, b| {
        let n = |t: &str| t.parse::<f64>().unwrap_or(0.0);
        n(&a.ts).total_cmp(&n(&b.ts))
    });
    let page = limit.min(world.replies_page_cap.unwrap_or(usize::MAX));
    let end = (offset + page).min(thread.len());
    let mut messages = Vec::new();
    if offset == 0 {
        messages.push(shown(parent, with_metadata));
    }
    messages.extend(
        thread
            .get(offset..end)
            .unwrap_or_default()
            .iter()
            .map(|m| shown(m, with_metadata)),
    );
    let has_more = end < thread.len();
    let next = if has_more {
        format!("next:{end}")
    } else {
        String::new()
    };
    Json(json!({
        "ok": true, "messages": messages, "has_more": has_more,
        "response_metadata": {"next_cursor": next},
    }))
    .into_response()
}

fn refused(code: &str) -> Response {
    Json(json!({"ok": false, "error": code})).into_response()
}

impl Shared {
    /// Keeps a user's message, so a thread read shows it.
    pub(super) fn keep_message(&self, ts: &str, thread_ts: Option<&str>, user: &str, text: &str) {
        self.world().messages.push(Stored {
            channel: CHANNEL.to_owned(),
            ts: ts.to_owned(),
            user: user.to_owned(),
            thread_ts: thread_ts.map(str::to_owned),
            metadata: None,
            text: json!(text),
            blocks: json!([]),
            shown: Vec::new(),
        });
    }
}

impl FakeSlack {
    /// Keeps Alice's message `ts` (sent as an event by the caller).
    pub(super) fn keep_user_message(&self, ts: &str, thread_ts: Option<&str>, text: &str) {
        self.shared.keep_message(ts, thread_ts, ALICE, text);
    }

    /// `user` writes `text` in the thread `thread_ts` without mentioning the bot (no event the
    /// bot subscribes to, but a thread read shows it), with `metadata` if given (another
    /// app's, or a forged mark). Returns its `ts`.
    pub fn thread_message(
        &self,
        thread_ts: &str,
        user: &str,
        text: &str,
        metadata: Option<Value>,
    ) -> String {
        let ts = self.shared.next_ts();
        self.shared.keep_message(&ts, Some(thread_ts), user, text);
        if let Some(kept) = self.shared.world().messages.last_mut() {
            kept.metadata = metadata;
        }
        ts
    }

    /// At most `n` messages a page from `conversations.replies` from now on, whatever the
    /// `limit` (Slack: "fewer than the requested number of items may be returned").
    pub fn cap_replies_pages(&self, n: usize) {
        self.shared.world().replies_page_cap = Some(n);
    }
}
