//! Which user groups each Slack user is in. Slack's events and slash
//! commands name no groups, so the adapter reads them all with
//! `usergroups.list` and keeps the map a while: asked again, lazily, when a
//! message arrives and the map is older than its maximum age, and never for
//! longer than [`LOOKUP_WAIT`]. A failed call keeps the old map; a refusal
//! no retry will change (no `usergroups:read` scope, a plan without user
//! groups) is logged once and never asked again, so group permissions
//! simply match no one.

use std::collections::HashMap;
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::web::{UserGroupsError, WebApi};

/// A user group's id and its members' ids.
type UserGroup = (String, Vec<String>);

/// The longest a message waits for `usergroups.list` before it is handed on
/// with the old map (envelopes are acked before, whatever it takes).
pub const LOOKUP_WAIT: Duration = Duration::from_secs(2);

/// The user → group ids map and when it was last asked for.
#[derive(Default)]
struct Map {
    groups_of: HashMap<String, Vec<String>>,
    /// When `usergroups.list` was last asked, whatever it answered: a
    /// failing Slack is asked no more often than a working one.
    asked: Option<Instant>,
    /// Slack refused for good: never asked again.
    refused: bool,
}

/// The cached user groups of a workspace.
pub struct UserGroups {
    max_age: Duration,
    /// A tokio lock, held across the call: messages arriving together wait
    /// for one call rather than each making its own.
    map: Mutex<Map>,
}

impl UserGroups {
    /// An empty cache whose map is asked for again after `max_age`.
    pub fn new(max_age: Duration) -> UserGroups {
        UserGroups {
            max_age,
            map: Mutex::default(),
        }
    }

    /// The ids of the groups `user` is in, the map refreshed first when it
    /// is older than the maximum age.
    pub async fn of(&self, web: &WebApi, user: &str) -> Vec<String> {
        let mut map = self.map.lock().await;
        let stale = map.asked.is_none_or(|at| at.elapsed() >= self.max_age);
        if stale && !map.refused {
            map.asked = Some(Instant::now());
            match tokio::time::timeout(LOOKUP_WAIT, web.user_groups()).await {
                Ok(Ok(groups)) => map.groups_of = members_by_user(&groups),
                Ok(Err(UserGroupsError::Refused(code))) => {
                    map.refused = true;
                    map.groups_of.clear();
                    tracing::warn!(
                        %code,
                        "Slack user groups cannot be read (grant the app `usergroups:read`, on a plan with user groups): group permissions will not match"
                    );
                }
                Ok(Err(UserGroupsError::Failed(e))) => {
                    tracing::warn!(error = %e, "cannot read Slack's user groups; keeping the ones known");
                }
                Err(_) => {
                    tracing::warn!(wait = ?LOOKUP_WAIT, "Slack did not list its user groups in time; keeping the ones known");
                }
            }
        }
        map.groups_of.get(user).cloned().unwrap_or_default()
    }
}

/// Each user's group ids, in the order Slack lists the groups.
fn members_by_user(groups: &[UserGroup]) -> HashMap<String, Vec<String>> {
    let mut by_user: HashMap<String, Vec<String>> = HashMap::new();
    for (id, users) in groups {
        for user in users {
            let ids = by_user.entry(user.clone()).or_default();
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
    }
    by_user
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(id: &str, users: &[&str]) -> UserGroup {
        (
            id.to_owned(),
            users.iter().map(|u| (*u).to_owned()).collect(),
        )
    }

    #[test]
    fn each_user_gets_the_groups_that_list_them() {
        let by_user = members_by_user(&[
            group("S1", &["U1", "U2"]),
            group("S2", &["U2", "U2"]),
            group("S3", &[]),
        ]);
        assert_eq!(by_user["U1"], ["S1"]);
        assert_eq!(by_user["U2"], ["S1", "S2"]);
        assert_eq!(by_user.len(), 2);
    }
}
