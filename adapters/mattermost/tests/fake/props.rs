//! A post's `props` as the server stores them: what it removes, adds and refuses when a post
//! is created or patched, beyond the buttons' checks (`actions.rs`). Cited per behaviour from
//! server/public/model/post.go and server/channels/app/post.go.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::BOT_ID;
use super::actions::{invalid, prepare_props};

/// model/post.go `PostPropsMaxRunes`: `IsValid` refuses a post whose props, as JSON, are
/// longer (counted in characters).
const PROPS_MAX_RUNES: usize = 800_000;

/// model/post.go `PreserveIdentityPropsFrom` (v11): the props a patch that replaces the
/// props cannot drop.
const IDENTITY_PROPS: [&str; 5] = [
    "from_bot",
    "from_webhook",
    "from_oauth_app",
    "from_plugin",
    "silent_notification",
];

/// The props of a new post by `user` as stored, or the answer refusing them
/// (boxed: an answer is large):
/// - the buttons' checks and generated action ids (`actions::prepare_props`);
/// - model/post.go `SanitizeProps` (called by app/post.go `CreatePost`) removes
///   `add_channel_member` and `force_notification`;
/// - app/post.go `CreatePost` adds `from_bot: "true"` to a bot's post;
/// - model/post.go `IsValid` refuses props over [`PROPS_MAX_RUNES`] (400).
///
/// The keys reserved for integrations (`from_webhook`, `override_username`, …; model/post.go
/// `ContainsIntegrationsReservedProps`) are refused only in hardened mode and only for a
/// session that is not an integration (api4/post_utils.go `postHardenedModeCheckWithContext`); a bot's
/// token session is one (model/session.go `IsIntegration`), so the bot is never refused.
pub(super) fn on_create(user: &str, props: Option<&Value>) -> Result<Value, Box<Response>> {
    let mut props = prepare_props(props).map_err(|problem| Box::new(invalid(&problem)))?;
    if let Some(map) = props.as_object_mut() {
        map.remove("add_channel_member");
        map.remove("force_notification");
        if user == BOT_ID {
            map.insert("from_bot".into(), json!("true"));
        }
    }
    check_size(&props)?;
    Ok(props)
}

/// The props a patch sends, as stored over `old` (model/post.go `Patch` replaces them whole,
/// then `PreserveIdentityPropsFrom` puts back the identity props `old` had).
pub(super) fn on_patch(old: &Value, new: Option<&Value>) -> Result<Value, Box<Response>> {
    let mut props = prepare_props(new).map_err(|problem| Box::new(invalid(&problem)))?;
    if let Some(map) = props.as_object_mut() {
        for key in IDENTITY_PROPS {
            // A stored JSON null is a nil `any` in Go: `GetProp` gives nil, nothing is kept.
            match old.get(key) {
                Some(value) if !value.is_null() => {
                    map.insert(key.into(), value.clone());
                }
                _ => {}
            }
        }
    }
    check_size(&props)?;
    Ok(props)
}

fn check_size(props: &Value) -> Result<(), Box<Response>> {
    if props.to_string().chars().count() > PROPS_MAX_RUNES {
        let body = json!({"id": "model.post.is_valid.props.app_error", "message": "Invalid props", "status_code": 400});
        return Err(Box::new(
            (StatusCode::BAD_REQUEST, Json(body)).into_response(),
        ));
    }
    Ok(())
}
