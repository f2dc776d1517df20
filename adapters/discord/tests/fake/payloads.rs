//! Gateway payloads as Discord sends them, complete enough for serenity to
//! read (`the_fakes_payloads_deserialize_in_serenity` checks each): a
//! payload serenity cannot read would be dropped silently.

use serde_json::{Value, json};

use super::{ALICE, APP_ID, GUILD_ID};

/// A user object.
pub fn user(id: u64, bot: bool) -> Value {
    json!({ "id": id.to_string(), "username": format!("user{id}"), "discriminator": "0",
            "global_name": if id == ALICE { json!("alice") } else { Value::Null },
            "avatar": null, "bot": bot })
}

/// A MESSAGE_CREATE payload as Discord sends it. `roles`: `Some` in the
/// guild, with the author's partial member holding those role ids; `None`
/// in a DM, which has neither guild nor member.
pub fn message_payload(
    id: u64,
    channel: u64,
    author: u64,
    bot: bool,
    text: &str,
    roles: Option<&[u64]>,
) -> Value {
    let mut message = json!({
        "id": id.to_string(), "channel_id": channel.to_string(),
        "author": user(author, bot), "content": text, "timestamp": timestamp_of(id),
        "edited_timestamp": null, "tts": false, "mention_everyone": false,
        "mentions": [], "mention_roles": [], "attachments": [], "embeds": [], "pinned": false,
        "type": 0, "flags": 0, "components": []
    });
    if let Some(roles) = roles {
        message["guild_id"] = json!(GUILD_ID.to_string());
        // Discord's partial member: no `user` (the author is beside it).
        message["member"] = json!({
            "roles": role_strings(roles), "joined_at": "2026-01-01T00:00:00.000000+00:00",
            "deaf": false, "mute": false, "flags": 0, "nick": null, "premium_since": null
        });
    }
    message
}

/// The RFC 3339 instant a snowflake was made (reference, "Snowflakes":
/// a message's `timestamp` is its id's).
pub fn timestamp_of(id: u64) -> String {
    let ms = (id >> 22) + 1_420_070_400_000;
    let at = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
    humantime::format_rfc3339_millis(at).to_string()
}

fn role_strings(roles: &[u64]) -> Vec<String> {
    roles.iter().map(u64::to_string).collect()
}

/// A GUILD_CREATE payload of the guild tests start with, its bot's
/// managed role `role` (see `guild.rs`).
pub fn guild_payload(role: u64) -> Value {
    super::guild::Guild::new(role).payload()
}

/// An INTERACTION_CREATE payload for `/mosaic {sub}` by alice. `roles`:
/// `Some` in the guild, with alice's member holding those role ids; `None`
/// in a DM, where Discord sends `user` and no member.
pub fn interaction_payload(
    id: u64,
    channel: u64,
    sub: &str,
    option: Option<(&str, &str)>,
    roles: Option<&[u64]>,
) -> Value {
    let options: Vec<Value> = option
        .map(|(name, value)| json!({ "name": name, "type": 3, "value": value }))
        .into_iter()
        .collect();
    let mut interaction = json!({
        "id": id.to_string(), "application_id": APP_ID.to_string(), "type": 2,
        "data": { "id": "900", "name": "mosaic", "type": 1,
                  "options": [{ "name": sub, "type": 1, "options": options }] },
        "channel_id": channel.to_string(),
        "token": format!("tok{id}"), "version": 1, "app_permissions": "0", "locale": "en-US",
        "entitlements": [], "attachment_size_limit": 10485760
    });
    match roles {
        Some(roles) => {
            interaction["guild_id"] = json!(GUILD_ID.to_string());
            interaction["guild_locale"] = json!("en-US");
            interaction["channel"] = json!({ "id": channel.to_string(), "type": 0 });
            interaction["member"] = json!({
                "user": user(ALICE, false), "roles": role_strings(roles),
                "joined_at": "2026-01-01T00:00:00.000000+00:00",
                "deaf": false, "mute": false, "flags": 0, "permissions": "0" });
        }
        None => {
            interaction["channel"] = json!({ "id": channel.to_string(), "type": 1 });
            interaction["user"] = user(ALICE, false);
        }
    }
    interaction
}
