//! Mattermost's published API description, as far as the bot uses it: a table
//! of the methods, paths, query parameters and required body fields, written
//! from `api/v4/source/*.yaml` in mattermost/mattermost (each row names its
//! file and operation), and the check that holds every request the fake
//! recorded against it. The whole-flow tests hand their recordings here when
//! the bot stops, so a request the real server would not take fails a test.

use serde_json::Value;

use super::record::Recorded;

/// How a request must authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    /// `Authorization: Bearer <token>` (api/v4/source/introduction.yaml,
    /// "Authentication").
    Bearer,
    /// The WebSocket: by the `authentication_challenge` frame or by the
    /// same header (introduction.yaml, "WebSocket", "Authentication").
    Challenge,
    /// None: a slash command's `response_url` is a one-off hook URL
    /// (server/channels/app/command.go builds it from the site URL).
    Nothing,
}

/// One operation the bot may call.
struct Route {
    method: &'static str,
    /// `{name}` stands for one path segment (an id; `me` for `{user_id}`,
    /// introduction.yaml "schema": `me` can stand in place of the user id).
    path: &'static str,
    /// Where the row comes from.
    source: &'static str,
    /// The query parameters the operation declares.
    query: &'static [&'static str],
    /// The JSON body: `None` when the operation takes none; else the fields
    /// it requires, and those (required or not) that must be strings.
    body: Option<(&'static [&'static str], &'static [&'static str])>,
    auth: Auth,
}

const ROUTES: &[Route] = &[
    Route {
        method: "GET",
        path: "/api/v4/users/{user_id}",
        source: "users.yaml GetUser",
        query: &[],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/users/{user_id}/channels",
        source: "channels.yaml GetChannelsForUser",
        query: &["last_delete_at", "include_deleted"],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/channels/{channel_id}",
        source: "channels.yaml GetChannel",
        query: &[],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/channels/{channel_id}/posts",
        source: "posts.yaml GetPostsForChannel",
        query: &[
            "page",
            "per_page",
            "since",
            "before",
            "after",
            "include_deleted",
            "type",
        ],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/teams/{team_id}/members/{user_id}",
        source: "teams.yaml GetTeamMember",
        query: &[],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "POST",
        path: "/api/v4/posts",
        source: "posts.yaml CreatePost (required: channel_id, message)",
        query: &["set_online"],
        body: Some((
            &["channel_id", "message"],
            &["channel_id", "message", "root_id"],
        )),
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/posts/{post_id}",
        source: "posts.yaml GetPost",
        query: &["include_deleted"],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/posts/{post_id}/thread",
        source: "posts.yaml GetPostThread",
        query: &[
            "perPage",
            "fromPost",
            "fromCreateAt",
            "fromUpdateAt",
            "direction",
            "skipFetchThreads",
            "collapsedThreads",
            "collapsedThreadsExtended",
            "updatesOnly",
        ],
        body: None,
        auth: Auth::Bearer,
    },
    Route {
        method: "POST",
        path: "/api/v4/posts/ephemeral",
        source: "posts.yaml CreatePostEphemeral (required: user_id, post)",
        query: &[],
        body: Some((&["user_id", "post"], &["user_id"])),
        auth: Auth::Bearer,
    },
    Route {
        method: "PUT",
        path: "/api/v4/posts/{post_id}/patch",
        source: "posts.yaml PatchPost",
        query: &[],
        body: Some((&[], &["message"])),
        auth: Auth::Bearer,
    },
    Route {
        method: "POST",
        path: "/api/v4/reactions",
        source: "reactions.yaml SaveReaction (post_id, user_id and emoji_name set)",
        query: &[],
        body: Some((
            &["user_id", "post_id", "emoji_name"],
            &["user_id", "post_id", "emoji_name"],
        )),
        auth: Auth::Bearer,
    },
    Route {
        method: "GET",
        path: "/api/v4/websocket",
        source: "introduction.yaml WebSocket",
        query: &[],
        body: None,
        auth: Auth::Challenge,
    },
    Route {
        method: "POST",
        path: "/hooks/commands/{hook_id}",
        source: "command.go response_url; developers.mattermost.com slash command response (text, response_type)",
        query: &[],
        body: Some((&["text"], &["text", "response_type"])),
        auth: Auth::Nothing,
    },
];

/// Whether `path` matches the row's `pattern`, segment by segment.
fn path_matches(pattern: &str, path: &str) -> bool {
    let (pattern, path): (Vec<&str>, Vec<&str>) =
        (pattern.split('/').collect(), path.split('/').collect());
    pattern.len() == path.len()
        && pattern.iter().zip(&path).all(|(want, got)| {
            if want.starts_with('{') {
                !got.is_empty() && got.chars().all(|c| c.is_ascii_alphanumeric())
            } else {
                want == got
            }
        })
}

/// What is wrong with `request` by the table; empty when nothing is.
pub fn violations(request: &Recorded) -> Vec<String> {
    let Some(route) = ROUTES
        .iter()
        .find(|r| r.method == request.method && path_matches(r.path, &request.path))
    else {
        return vec![format!(
            "{} {}: no such operation in api/v4/source",
            request.method, request.path
        )];
    };
    let mut wrong = Vec::new();
    let mut say = |what: String| {
        wrong.push(format!(
            "{} {} ({}): {what}",
            request.method, request.path, route.source
        ))
    };
    for (key, value) in &request.query {
        if !route.query.contains(&key.as_str()) {
            say(format!("undeclared query parameter `{key}`"));
        }
        if key == "since" && value.parse::<i64>().map_or(true, |t| t <= 0) {
            say(format!(
                "`since` must be a non-zero Unix time in ms, not `{value}`"
            ));
        }
    }
    // posts.yaml: "`since` must not be used with any of `before`, `after`,
    // `page`, and `per_page`".
    let has = |k: &str| request.query.iter().any(|(key, _)| key == k);
    if has("since")
        && ["before", "after", "page", "per_page"]
            .iter()
            .any(|k| has(k))
    {
        say("`since` combined with before/after/page/per_page".into());
    }
    for problem in body_problems(route.body, request.body.as_ref()) {
        say(problem);
    }
    let auth = request.authorization.as_deref();
    match route.auth {
        Auth::Bearer if !auth.is_some_and(|a| a.starts_with("Bearer ") && a.len() > 7) => {
            say("no `Authorization: Bearer` token".into())
        }
        Auth::Nothing if auth.is_some() => say("a token sent where none belongs".into()),
        _ => {}
    }
    wrong
}

/// What is wrong with a body, given the row's (required, string) fields.
fn body_problems(want: Option<(&[&str], &[&str])>, body: Option<&Value>) -> Vec<String> {
    let (required, strings) = match (want, body) {
        (None, None) => return Vec::new(),
        (None, Some(_)) => return vec!["a body the operation does not take".into()],
        (Some(_), None) => return vec!["no body, one is required".into()],
        (Some(fields), Some(_)) => fields,
    };
    let Some(object) = body.and_then(Value::as_object) else {
        return vec!["the body is not a JSON object".into()];
    };
    let mut wrong = Vec::new();
    for field in required {
        match object.get(*field) {
            None => wrong.push(format!("required field `{field}` is missing")),
            // An id left empty names nothing; a message may be empty text.
            Some(Value::String(s)) if s.is_empty() && field.ends_with("_id") => {
                wrong.push(format!("required field `{field}` is empty"))
            }
            _ => {}
        }
    }
    for field in strings {
        if object.get(*field).is_some_and(|v| !v.is_string()) {
            wrong.push(format!("`{field}` is not a string"));
        }
    }
    wrong
}

/// Panics listing every request that breaks the table.
pub fn assert_conforms(requests: &[Recorded]) {
    let wrong: Vec<String> = requests.iter().flat_map(violations).collect();
    assert!(
        wrong.is_empty(),
        "requests Mattermost's API does not describe:\n{}",
        wrong.join("\n")
    );
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn request(method: &str, path: &str, body: Option<Value>) -> Recorded {
        Recorded {
            method: method.into(),
            path: path.into(),
            query: Vec::new(),
            body,
            authorization: Some("Bearer t".into()),
        }
    }

    #[test]
    fn the_table_refuses_what_the_api_does_not_describe() {
        let good = request(
            "POST",
            "/api/v4/posts",
            Some(json!({"channel_id": "c1", "root_id": "", "message": "hi"})),
        );
        assert_eq!(violations(&good), Vec::<String>::new());
        let no_message = request("POST", "/api/v4/posts", Some(json!({"channel_id": "c1"})));
        assert!(violations(&no_message)[0].contains("`message` is missing"));
        let no_token = Recorded {
            authorization: None,
            ..good.clone()
        };
        assert!(violations(&no_token)[0].contains("Bearer"));
        let unknown = request("DELETE", "/api/v4/posts/p1", None);
        assert!(violations(&unknown)[0].contains("no such operation"));
        let mut since = request("GET", "/api/v4/channels/c1/posts", None);
        since.query = vec![("since".into(), "5".into()), ("page".into(), "0".into())];
        assert!(violations(&since)[0].contains("combined"));
        since.query = vec![("since".into(), "0".into())];
        assert!(violations(&since)[0].contains("non-zero"));
        let reaction = request("POST", "/api/v4/reactions", Some(json!({"post_id": "p1"})));
        assert_eq!(
            violations(&reaction).len(),
            2,
            "{:?}",
            violations(&reaction)
        );
    }
}
