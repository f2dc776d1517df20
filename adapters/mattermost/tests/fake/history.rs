//! The fake's posts as Mattermost keeps them: created, replied to, reacted
//! to, edited and deleted, each change stamping the post's `update_at`, and
//! what `GET /channels/{id}/posts?since=` makes of that. Cited per behaviour
//! from server/channels/store/sqlstore/post_store.go and reaction_store.go.

use serde_json::{Value, json};

use super::actions::client_view;
use super::{
    ALICE, BOT_ID, BOT_USERNAME, CHANNEL2, DM_CHANNEL, FakeMattermost, TEAM, TEAM2, World,
    broadcast,
};

/// A new post's id as the server makes one (server/public/model/utils.go `NewId`): 16 random
/// bytes in base32 with the alphabet `ybndrfg8ejkmcpqxot1uwisza345h769`, cut to 26
/// characters. Ids are random, so the order of two posts of one millisecond
/// (`ORDER BY CreateAt, Id`) says nothing about which was written first.
pub(super) fn new_id() -> String {
    const ALPHABET: &[u8; 32] = b"ybndrfg8ejkmcpqxot1uwisza345h769";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the system's random source");
    let bits = u128::from_be_bytes(bytes);
    // 26 characters of 5 bits: the first 130 bits of the base32 text, whose last 2 are the
    // padding zeros base32 adds after the 128 bits.
    (0..26)
        .map(|i| {
            let shift = 128i32 - 5 * (i + 1);
            let index = if shift >= 0 {
                (bits >> shift) & 31
            } else {
                (bits << -shift) & 31
            };
            char::from(ALPHABET[index as usize])
        })
        .collect()
}

/// The server's clock in ms, never the same instant twice. The server's own can be: a post's
/// `CreateAt` is `model.GetMillis()` when it is saved (server/public/model/post.go `PreSave`,
/// utils.go `GetMillis`), so posts written within one millisecond share it. Tests that need
/// such a tie write their posts at an explicit instant (`post_written`); giving ties here
/// makes other tests' expected orders depend on random ids, which they do not all allow for.
pub(super) fn tick(world: &mut World) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    world.clock = now.max(world.clock + 1);
    world.clock
}

pub(super) fn team_of(channel: &str) -> &'static str {
    match channel {
        DM_CHANNEL => "",
        CHANNEL2 => TEAM2,
        _ => TEAM,
    }
}

/// Stores a post created at `create_at` with `props` (kept whole, action
/// integrations included) and tells the connected sockets (`posted`, the
/// post as a JSON string, integrations stripped). Returns its id.
pub(super) fn insert_post(
    world: &mut World,
    user: &str,
    channel: &str,
    root_id: &str,
    text: &str,
    create_at: i64,
    props: Value,
) -> String {
    world.next_id += 1;
    let id = new_id();
    let post = json!({
        "id": id, "channel_id": channel, "root_id": root_id, "user_id": user,
        "message": text, "create_at": create_at, "update_at": create_at,
        "edit_at": 0, "delete_at": 0, "original_id": "", "type": "",
        "props": props,
    });
    // post_store.go SaveMultiple: a reply sets its root's UpdateAt
    // (`UPDATE Posts SET UpdateAt = ? WHERE Id = ?RootId`).
    if !root_id.is_empty() {
        touch(world, root_id, create_at);
    }
    let mentions: Vec<&str> = if text.contains(&format!("@{BOT_USERNAME}")) {
        vec![BOT_ID]
    } else {
        vec![]
    };
    let event = json!({
        "event": "posted",
        "data": {
            // model/post.go `ToJSON`: the post is sent with
            // `StripActionIntegrations()` applied.
            "post": client_view(&post).to_string(),
            "mentions": serde_json::to_string(&mentions).unwrap_or_default(),
            "channel_type": if channel == DM_CHANNEL { "D" } else { "O" },
            "team_id": team_of(channel),
            "sender_name": if user == ALICE { "@alice" } else { "@mosaic-bot" },
        },
        "broadcast": { "channel_id": channel },
        "seq": world.next_id,
    });
    world.posts.push(post);
    broadcast(world, &event);
    id
}

/// Sets a post's `update_at` to `at`.
fn touch(world: &mut World, id: &str, at: i64) {
    if let Some(post) = world.posts.iter_mut().find(|p| p["id"] == id) {
        post["update_at"] = json!(at);
    }
}

/// Edits a post as `SqlPostStore.Update` does: the post keeps its id and
/// gets the new text, `edit_at` and `update_at`; its old version is saved as
/// a new post (new id, old text) with `delete_at` and `update_at` set and
/// `original_id` naming the post. The sockets get `post_edited`
/// (app/post.go UpdatePost). `props`, when given, replace the post's whole
/// props (model/post.go `Patch`: `if patch.Props != nil { o.Props = *patch.Props }`);
/// otherwise they stay. Returns the edited post, if there is one.
pub(super) fn edit_post(
    world: &mut World,
    id: &str,
    text: &str,
    props: Option<Value>,
) -> Option<Value> {
    let now = tick(world);
    let index = world
        .posts
        .iter()
        .position(|p| p["id"] == id && p["delete_at"] == 0)?;
    world.next_id += 1;
    let mut old = world.posts[index].clone();
    old["original_id"] = json!(id);
    old["id"] = json!(new_id());
    old["delete_at"] = json!(now);
    old["update_at"] = json!(now);
    let post = &mut world.posts[index];
    post["message"] = json!(text);
    if let Some(props) = props {
        post["props"] = props;
    }
    post["edit_at"] = json!(now);
    post["update_at"] = json!(now);
    let edited = post.clone();
    world.posts.push(old);
    let event = json!({
        "event": "post_edited",
        "data": { "post": client_view(&edited).to_string() },
        "broadcast": { "channel_id": edited["channel_id"] },
        "seq": world.next_id,
    });
    broadcast(world, &event);
    Some(edited)
}

/// A reaction on a post sets its `update_at` (reaction_store.go
/// `updatePostForReactionsOnInsert`: `UPDATE Posts SET UpdateAt = ?,
/// HasReactions = true`); the sockets get `reaction_added`.
pub(super) fn react(world: &mut World, post_id: &str, user: &str, emoji: &str) {
    let now = tick(world);
    touch(world, post_id, now);
    let reaction =
        json!({"user_id": user, "post_id": post_id, "emoji_name": emoji, "create_at": now});
    let event = json!({
        "event": "reaction_added",
        "data": { "reaction": reaction.to_string() },
        "broadcast": {},
        "seq": 0,
    });
    broadcast(world, &event);
}

/// `GET /channels/{id}/posts?since=T` as post_store.go `GetPostsSince`
/// answers it: every post of the channel with `UpdateAt > T`, deleted ones
/// and pre-edit copies included (the query has no `DeleteAt` condition),
/// ordered by `CreateAt` (newest first); the roots of those posts come in
/// `posts` too, but only posts modified since T are in `order`.
pub(super) fn posts_since(world: &World, channel: &str, since: i64) -> Value {
    let modified =
        |p: &&Value| p["channel_id"] == channel && p["update_at"].as_i64().unwrap_or(0) > since;
    let mut changed: Vec<&Value> = world.posts.iter().filter(modified).collect();
    changed.sort_by_key(|p| std::cmp::Reverse(p["create_at"].as_i64().unwrap_or(0)));
    let order: Vec<&Value> = changed.iter().map(|p| &p["id"]).collect();
    let mut by_id = serde_json::Map::new();
    // A post list is encoded with its posts' integrations stripped
    // (model/post_list.go `EncodeJSON`).
    for post in &changed {
        by_id.insert(id_of(post), client_view(post));
        let root = post["root_id"].as_str().unwrap_or("");
        if let Some(root) = world
            .posts
            .iter()
            .find(|p| !root.is_empty() && p["id"] == root)
        {
            by_id.insert(id_of(root), client_view(root));
        }
    }
    json!({"order": order, "posts": by_id})
}

fn id_of(post: &Value) -> String {
    post["id"].as_str().unwrap_or("").to_owned()
}

impl FakeMattermost {
    /// Alice's post in `channel`, written `age` ago (its `create_at`), as if
    /// typed while the bot was away: no socket hears of it. Returns its id.
    pub fn user_post_written(
        &self,
        channel: &str,
        root_id: Option<&str>,
        text: &str,
        age: std::time::Duration,
    ) -> String {
        let now = tick(&mut self.shared.world());
        let written = now - age.as_millis() as i64;
        let root_id = root_id.unwrap_or("");
        self.post_written(ALICE, channel, root_id, text, json!({}), Some(written))
    }

    /// Alice edits her post `id` to `text`.
    pub fn user_edit(&self, id: &str, text: &str) {
        let edited = edit_post(&mut self.shared.world(), id, text, None);
        assert!(edited.is_some(), "no post {id} to edit");
        self.shared.changed.notify_waiters();
    }

    /// Alice reacts to post `id` with `emoji`.
    pub fn user_react(&self, id: &str, emoji: &str) {
        react(&mut self.shared.world(), id, ALICE, emoji);
        self.shared.changed.notify_waiters();
    }

    /// Deletes post `id` (`DeleteAt` and `UpdateAt` set, post_store.go
    /// `Delete`); the sockets get `post_deleted`.
    pub fn user_delete(&self, id: &str) {
        let mut world = self.shared.world();
        let now = tick(&mut world);
        let Some(post) = world.posts.iter_mut().find(|p| p["id"] == id) else {
            panic!("no post {id} to delete");
        };
        post["delete_at"] = json!(now);
        post["update_at"] = json!(now);
        let event = json!({
            "event": "post_deleted",
            "data": { "post": client_view(post).to_string() },
            "broadcast": { "channel_id": post["channel_id"] },
            "seq": 0,
        });
        broadcast(&mut world, &event);
        drop(world);
        self.shared.changed.notify_waiters();
    }
}
