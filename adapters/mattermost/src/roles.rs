//! The roles of a message's author, for [`mosaic_chat::Inbound::roles`]:
//! their system roles (`GET /users/{id}`) and, where they wrote in a team,
//! their roles in that team (`GET /teams/{team}/members/{user}`). Kept per
//! (team, user) for a while, in a bounded cache. A lookup that fails or is
//! slow gives the roles the other one found; the message goes on either way.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use mosaic_chat::ChatError;
use tokio::time::Instant;

use crate::rest::Rest;

/// How many (team, user) entries are kept; beyond it the oldest go.
const REMEMBERED: usize = 10_000;

/// What one (team, user) was found to have, and when.
struct Entry {
    roles: Vec<String>,
    fetched: Instant,
}

/// The cached roles of authors, looked up over REST.
pub struct Roles {
    rest: Rest,
    max_age: Duration,
    /// (team id, user id) → roles: only complete answers, so that a failed
    /// lookup is tried again with the author's next message.
    cache: Mutex<HashMap<(String, String), Entry>>,
}

impl Roles {
    /// An empty cache whose entries are looked up again after `max_age`.
    pub fn new(rest: Rest, max_age: Duration) -> Roles {
        Roles {
            rest,
            max_age,
            cache: Mutex::default(),
        }
    }

    /// `user`'s system roles, then their roles in `team` (none when `team`
    /// is empty: a direct message). Each lookup gets `within`.
    pub async fn of(&self, team: &str, user: &str, within: Duration) -> Vec<String> {
        let key = (team.to_owned(), user.to_owned());
        if let Some(entry) = self.cache().get(&key)
            && entry.fetched.elapsed() < self.max_age
        {
            return entry.roles.clone();
        }
        let system = answer(within, "system roles", user, async {
            self.rest.user(user).await.map(|found| found.roles)
        });
        let in_team = async {
            if team.is_empty() {
                return Some(String::new());
            }
            answer(within, "team roles", user, async {
                self.rest.team_member(team, user).await.map(|m| m.roles)
            })
            .await
        };
        let (system, in_team) = tokio::join!(system, in_team);
        let roles = role_names([system.as_deref(), in_team.as_deref()]);
        if system.is_some() && in_team.is_some() {
            self.remember(key, roles.clone());
        }
        roles
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        // Nothing panics while holding it; a poisoned map is still whole.
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn remember(&self, key: (String, String), roles: Vec<String>) {
        let now = Instant::now();
        let mut cache = self.cache();
        cache.insert(
            key,
            Entry {
                roles,
                fetched: now,
            },
        );
        if cache.len() > REMEMBERED {
            let max_age = self.max_age;
            cache.retain(|_, e| now.duration_since(e.fetched) < max_age);
        }
        while cache.len() > REMEMBERED {
            let Some(oldest) = cache
                .iter()
                .min_by_key(|(_, e)| e.fetched)
                .map(|(k, _)| k.clone())
            else {
                break;
            };
            cache.remove(&oldest);
        }
    }
}

/// What `lookup` answers within `wait`; `None`, logged, when it fails or is late.
async fn answer<T>(
    wait: Duration,
    what: &str,
    user: &str,
    lookup: impl Future<Output = Result<T, ChatError>>,
) -> Option<T> {
    match tokio::time::timeout(wait, lookup).await {
        Ok(Ok(found)) => Some(found),
        Ok(Err(e)) => {
            tracing::warn!(user, error = %e, "cannot look up a Mattermost user's {what}");
            None
        }
        Err(_) => {
            tracing::warn!(
                user,
                ?wait,
                "Mattermost did not tell a user's {what} in time"
            );
            None
        }
    }
}

/// The role names in Mattermost's space-separated lists, in order, each once.
fn role_names<'a>(lists: impl IntoIterator<Item = Option<&'a str>>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for name in lists.into_iter().flatten().flat_map(str::split_whitespace) {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_lists_are_split_on_spaces_kept_in_order_and_deduplicated() {
        assert_eq!(
            role_names([
                Some(" system_user  system_admin"),
                None,
                Some("team_user team_admin system_user"),
            ]),
            ["system_user", "system_admin", "team_user", "team_admin"]
        );
        assert!(role_names([Some(""), None]).is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_cache_keeps_the_newest_entries_within_its_bound() {
        let rest =
            Rest::new("http://127.0.0.1:9", mosaic_chat::Secret::new("t")).expect("a client");
        let roles = Roles::new(rest, Duration::from_secs(3600));
        for i in 0..=REMEMBERED {
            // Each entry a little younger than the one before, all fresh.
            tokio::time::advance(Duration::from_millis(1)).await;
            roles.remember(("t".into(), format!("u{i}")), vec![format!("r{i}")]);
        }
        let cache = roles.cache();
        assert_eq!(cache.len(), REMEMBERED);
        assert!(
            !cache.contains_key(&("t".to_owned(), "u0".to_owned())),
            "the oldest went"
        );
        assert!(cache.contains_key(&("t".to_owned(), format!("u{REMEMBERED}"))));
    }
}
