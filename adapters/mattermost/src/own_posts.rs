//! The relay's marks on Mattermost: a relayed post carries its [`PostMark`] in its `props`
//! (under [`MARK_PROP`]), which the server keeps with the post, returns with it on every read
//! and keeps through edits that send no props; and the bot's own posts in a thread after a
//! given one, read back with their marks after a restart.
//!
//! The read-back asks `GET /api/v4/posts/{root}/thread` (api/v4/source/posts.yaml
//! GetPostThread) for the posts from the given one's millisecond on, paged with `fromPost`,
//! `fromCreateAt`, `direction=down` and `perPage`. The server (server/channels/store/sqlstore/
//! post_store.go `Get`) orders them by `(CreateAt, Id)` and keeps those after `fromCreateAt`
//! (or, with `fromPost`, strictly after the pair), so pages neither lose nor repeat posts of
//! one millisecond; deleted posts (and the pre-edit copies an edit leaves, which are deleted)
//! are not among them. The post asked for comes first in `order` whatever the page; it is
//! skipped here. The channel's `posts?after=` would page through every thread of the channel
//! instead of this one.
//!
//! The first page starts a millisecond before the given post, not after its `(CreateAt, Id)`:
//! ids are random (model/utils.go `NewId`), so a post written just after it in the same
//! millisecond may sort before it, and would be left out (a resumed relay would then show its
//! events again). Posts of that millisecond written before it come back too; the relay's marks
//! say which events they showed (`Shown::from_posts` in the bot), so they repeat nothing.

use mosaic_chat::marks::MAX_OWN_POSTS;
use mosaic_chat::{ChatError, OwnPost, PostMark};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::rest::Rest;

/// The props key a relayed post's mark is written under.
pub const MARK_PROP: &str = "mosaic_relay";

/// Posts asked for per page: the most the thread endpoint takes (`web.PerPageMaximum`,
/// server/channels/web/params.go; more is answered 400).
const PAGE: usize = 200;

/// The props that carry `mark`.
pub(crate) fn mark_props(mark: &PostMark) -> Value {
    json!({ MARK_PROP: mark.to_string() })
}

/// A post of a thread, as far as the read-back needs one.
#[derive(Deserialize)]
struct ThreadPost {
    id: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    message: String,
    #[serde(default)]
    create_at: i64,
    #[serde(default)]
    props: Option<Map<String, Value>>,
}

impl ThreadPost {
    fn mark(&self) -> Option<PostMark> {
        let written = self.props.as_ref()?.get(MARK_PROP)?.as_str()?;
        match written.parse() {
            Ok(mark) => Some(mark),
            Err(error) => {
                // The bot's own post with a prop it did not write as a mark: read as unmarked
                // (matched by its text), never as a mark it is not.
                tracing::warn!(post = %self.id, %error, "a post of the bot's carries a malformed mark");
                None
            }
        }
    }
}

/// One page of `GET /posts/{id}/thread` (model/post_list.go `PostList`).
#[derive(Deserialize)]
struct ThreadPage {
    #[serde(default)]
    order: Vec<String>,
    #[serde(default)]
    posts: std::collections::HashMap<String, ThreadPost>,
    /// Whether more posts follow this page (set when `perPage` is).
    #[serde(default)]
    has_next: Option<bool>,
}

/// The posts of user `me` in the thread rooted at `root` written after post `after` (and any
/// of its millisecond written before it), oldest first, at most [`MAX_OWN_POSTS`]. A deleted
/// `after` is [`ChatError::NotFound`].
pub(crate) async fn own_posts_after(
    rest: &Rest,
    me: &str,
    root: &str,
    after: &str,
) -> Result<Vec<OwnPost>, ChatError> {
    let anchor = rest.post(after).await?;
    // `fromCreateAt` alone keeps `CreateAt > T`: the whole of the anchor's millisecond. Zero
    // would mean "not given" (every post), which is a superset too.
    let mut path = format!(
        "/posts/{root}/thread?fromCreateAt={}&direction=down&perPage={PAGE}",
        anchor.create_at.saturating_sub(1).max(0)
    );
    let mut own = Vec::new();
    loop {
        let mut page: ThreadPage = rest.get_json(&path).await?;
        let mut last = None;
        for id in page.order.iter().filter(|id| id.as_str() != root) {
            let Some(post) = page.posts.remove(id) else {
                continue;
            };
            last = Some((post.id.clone(), post.create_at));
            if post.user_id != me || post.id == anchor.id {
                continue;
            }
            own.push((
                post.create_at,
                OwnPost {
                    mark: post.mark(),
                    id: post.id,
                    text: post.message,
                },
            ));
            if own.len() == MAX_OWN_POSTS {
                return Ok(in_written_order(own));
            }
        }
        match last {
            Some((id, create_at)) if page.has_next == Some(true) => {
                path = format!(
                    "/posts/{root}/thread?fromPost={id}&fromCreateAt={create_at}\
                     &direction=down&perPage={PAGE}"
                );
            }
            _ => return Ok(in_written_order(own)),
        }
    }
}

/// `posts` (with their `create_at`, in the server's order) in the order they were written, as
/// far as it can be told: the server orders the posts of one millisecond by their random ids,
/// so within a millisecond the relay's marked posts go by their events and pages (one relay
/// posts in that order); posts without a mark go first (stable sort), as their place cannot be
/// told.
fn in_written_order(mut posts: Vec<(i64, OwnPost)>) -> Vec<OwnPost> {
    posts.sort_by_key(|(create_at, post)| {
        let place = post.mark.as_ref().map(|m| (m.first_seq, m.page));
        (*create_at, place)
    });
    posts.into_iter().map(|(_, post)| post).collect()
}
