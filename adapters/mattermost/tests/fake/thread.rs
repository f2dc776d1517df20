//! `GET /api/v4/posts/{post_id}/thread` as the server answers it (api/v4/source/posts.yaml
//! GetPostThread; server/channels/api4/post.go `getPostThread`, its parameters checked;
//! server/channels/store/sqlstore/post_store.go `Get`, its query), and the test's ways to
//! write posts with props at a given instant or to rate limit reads.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::actions::client_view;
use super::rest::{check_token, too_many_requests};
use super::{FakeMattermost, Shared};

/// `web.PerPageMaximum` (server/channels/web/params.go): a larger `perPage` is answered 400.
const PER_PAGE_MAXIMUM: i64 = 200;

/// `c.SetInvalidParam(name)`'s answer.
fn invalid_param(name: &str) -> Response {
    let body = json!({"id": "api.context.invalid_param.app_error", "message": format!("Invalid or missing {name} parameter in request URL."), "status_code": 400});
    (StatusCode::BAD_REQUEST, Json(body)).into_response()
}

/// What the fake does not model is refused loudly rather than answered wrongly.
fn not_modelled(what: &str) -> Response {
    let body = json!({"id": "fake.not_modelled", "message": format!("the fake does not model {what}"), "status_code": 501});
    (StatusCode::NOT_IMPLEMENTED, Json(body)).into_response()
}

/// The query as `getPostThread` reads it.
struct ThreadQuery {
    per_page: i64,
    from_post: String,
    from_create_at: i64,
    direction: String,
}

impl ThreadQuery {
    fn parse(query: &HashMap<String, String>) -> Result<ThreadQuery, Box<Response>> {
        let get = |k: &str| query.get(k).map(String::as_str).unwrap_or("");
        // `perPage`: 0 (all) unless given; not a number or over the maximum: 400.
        let per_page = match get("perPage") {
            "" => 0,
            n => n
                .parse::<i64>()
                .ok()
                .filter(|n| *n <= PER_PAGE_MAXIMUM)
                .ok_or_else(|| Box::new(invalid_param("perPage")))?,
        };
        let from_create_at = match get("fromCreateAt") {
            "" => 0,
            t => t
                .parse()
                .map_err(|_| Box::new(invalid_param("fromCreateAt")))?,
        };
        // "Either only fromCreateAt must be set, or both fromPost and fromCreateAt".
        let from_post = get("fromPost").to_owned();
        if !from_post.is_empty() && from_create_at == 0 {
            return Err(Box::new(invalid_param(
                "if fromPost is set, then fromCreateAt must also be set",
            )));
        }
        let direction = get("direction").to_owned();
        if !matches!(direction.as_str(), "" | "up" | "down") {
            return Err(Box::new(invalid_param("direction")));
        }
        for flag in ["fromUpdateAt", "updatesOnly", "collapsedThreads"] {
            if !matches!(get(flag), "" | "0" | "false") {
                return Err(Box::new(not_modelled(flag)));
            }
        }
        Ok(ThreadQuery {
            per_page,
            from_post,
            from_create_at,
            direction,
        })
    }

    /// post_store.go `Get`: with `fromCreateAt`, "down" keeps the posts after the pair
    /// (`CreateAt > T OR (CreateAt = T AND Id > fromPost)`), anything else those before it.
    fn keeps(&self, post: &Value) -> bool {
        if self.from_create_at == 0 {
            return true;
        }
        let key = (created(post), id(post));
        let from = (self.from_create_at, self.from_post.as_str());
        let ordering = if self.from_post.is_empty() {
            key.0.cmp(&from.0)
        } else {
            key.cmp(&from)
        };
        match self.direction.as_str() {
            "down" => ordering.is_gt(),
            _ => ordering.is_lt(),
        }
    }
}

fn created(post: &Value) -> i64 {
    post["create_at"].as_i64().unwrap_or(0)
}

fn id(post: &Value) -> &str {
    post["id"].as_str().unwrap_or("")
}

pub(super) async fn get_thread(
    State(s): State<Shared>,
    headers: HeaderMap,
    Path(post_id): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(r) = check_token(&s, &headers) {
        return r;
    }
    {
        let mut world = s.world();
        if world.rate_limit_reads_next > 0 {
            world.rate_limit_reads_next -= 1;
            world.rate_limited += 1;
            drop(world);
            s.changed.notify_waiters();
            return too_many_requests();
        }
    }
    let query = match ThreadQuery::parse(&query) {
        Ok(query) => query,
        Err(refused) => return *refused,
    };
    let world = s.world();
    let live = |p: &&Value| p["delete_at"] == 0;
    // The post asked for, not deleted: else 404 (store `Get`: `p.DeleteAt = 0`).
    let Some(asked) = world.posts.iter().filter(live).find(|p| id(p) == post_id) else {
        let body = json!({"id": "app.post.get.app_error", "message": "Unable to get the post.", "status_code": 404});
        return (StatusCode::NOT_FOUND, Json(body)).into_response();
    };
    let root = match asked["root_id"].as_str().unwrap_or("") {
        "" => post_id.as_str(),
        root => root,
    };
    // The root and its replies, none deleted (pre-edit copies are deleted).
    let mut thread: Vec<&Value> = world
        .posts
        .iter()
        .filter(live)
        .filter(|p| id(p) == root || p["root_id"] == root)
        .filter(|p| query.keeps(p))
        .collect();
    // `ORDER BY CreateAt, Id` ASC for "down", DESC for "up"; without a direction the query
    // has no ORDER BY and the database's order is unspecified: newest stored first here, so a
    // client that leans on an order it did not ask for is caught.
    thread.sort_by(|a, b| (created(a), id(a)).cmp(&(created(b), id(b))));
    if query.direction != "down" {
        thread.reverse();
    }
    // `LIMIT perPage+1`: one more than asked tells whether a next page exists.
    let mut has_next = false;
    if query.per_page > 0 && thread.len() > query.per_page as usize {
        thread.truncate(query.per_page as usize);
        has_next = true;
    }
    // The post asked for comes first, whatever the page; the others follow, it once only.
    let mut order = vec![post_id.clone()];
    let mut posts = serde_json::Map::new();
    posts.insert(post_id.clone(), client_view(asked));
    for post in thread.into_iter().filter(|p| id(p) != post_id) {
        order.push(id(post).to_owned());
        posts.insert(id(post).to_owned(), client_view(post));
    }
    Json(json!({
        "order": order, "posts": posts, "next_post_id": "", "prev_post_id": "",
        "has_next": has_next, "first_inaccessible_post_time": 0,
    }))
    .into_response()
}

impl FakeMattermost {
    /// `user` posts `text` with `props` (as given: no server rules) in `channel`, thread
    /// `root_id`, written at `create_at` (server ms; `None`: now). No socket hears of it.
    /// Returns its id.
    pub fn post_written(
        &self,
        user: &str,
        channel: &str,
        root_id: &str,
        text: &str,
        props: Value,
        create_at: Option<i64>,
    ) -> String {
        let mut world = self.shared.world();
        let now = super::history::tick(&mut world);
        let sockets = std::mem::take(&mut world.sockets);
        let written = create_at.unwrap_or(now);
        let id =
            super::history::insert_post(&mut world, user, channel, root_id, text, written, props);
        world.sockets = sockets;
        drop(world);
        self.shared.changed.notify_waiters();
        id
    }

    /// When post `id` was written (server ms).
    pub fn create_at(&self, id: &str) -> i64 {
        created(&self.stored_post(id))
    }

    /// The next `n` thread reads answer 429, as the server's rate limiter does any request.
    pub fn rate_limit_reads_next(&self, n: usize) {
        self.shared.world().rate_limit_reads_next = n;
    }
}
