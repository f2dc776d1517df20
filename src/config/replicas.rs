//! The `[replicas]` section: who this replica is among several sharing one PostgreSQL store,
//! and how long it holds a job's relay without renewing (the lease).

use std::fmt::Write as _;
use std::time::Duration;

use serde::Deserialize;

use super::ConfigError;

/// The default lease: a dead replica's jobs move within this (+ a second).
pub const DEFAULT_LEASE_SECS: u64 = 15;
/// The shortest lease: renewals run every third of it, and a busy machine must still make them.
pub const MIN_LEASE_SECS: u64 = 2;
/// The longest lease: a dead replica's jobs would stand still that long.
pub const MAX_LEASE_SECS: u64 = 600;

/// `[replicas]`, as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicasSection {
    /// This replica's name, unique among those sharing the store. Default: the host's name
    /// and the process id.
    pub id: Option<String>,
    /// Seconds a replica holds a job's relay without renewing. Default: 15.
    pub lease_secs: Option<u64>,
}

/// The validated `[replicas]` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicasConfig {
    pub id: String,
    /// Whether `id` was configured (else it was made up from the host and process).
    pub id_given: bool,
    pub lease: Duration,
}

impl Default for ReplicasConfig {
    fn default() -> Self {
        ReplicasConfig {
            id: default_id(),
            id_given: false,
            lease: Duration::from_secs(DEFAULT_LEASE_SECS),
        }
    }
}

impl ReplicasConfig {
    /// Its settings, one a line (`check-config`).
    pub fn describe(&self, out: &mut String) {
        let how = if self.id_given {
            ""
        } else {
            " (default: host and process id)"
        };
        // Writing to a String cannot fail.
        let _ = writeln!(out, "replicas.id = {:?}{how}", self.id);
        let _ = writeln!(out, "replicas.lease_secs = {}", self.lease.as_secs());
    }
}

/// Checks `[replicas]`.
pub(super) fn validate_replicas(section: ReplicasSection) -> Result<ReplicasConfig, ConfigError> {
    let lease_secs = section.lease_secs.unwrap_or(DEFAULT_LEASE_SECS);
    if !(MIN_LEASE_SECS..=MAX_LEASE_SECS).contains(&lease_secs) {
        return Err(ConfigError::Key {
            key: "replicas.lease_secs".into(),
            problem: format!(
                "{lease_secs} is not a lease the replicas can keep: give {MIN_LEASE_SECS} to \
                 {MAX_LEASE_SECS} seconds (default {DEFAULT_LEASE_SECS})"
            ),
        });
    }
    let (id, id_given) = match section.id {
        Some(id) => {
            let good =
                !id.is_empty() && id.len() <= 100 && id.chars().all(|c| c.is_ascii_graphic());
            if !good {
                return Err(ConfigError::Key {
                    key: "replicas.id".into(),
                    problem: format!(
                        "{id:?} is not a replica id: use 1 to 100 visible ASCII characters \
                         without spaces, unique per replica, like `bot-1`; or leave it out \
                         for the host's name and the process id"
                    ),
                });
            }
            (id, true)
        }
        None => (default_id(), false),
    };
    Ok(ReplicasConfig {
        id,
        id_given,
        lease: Duration::from_secs(lease_secs),
    })
}

/// The host's name and this process's id: unique on one host, and across containers (each has
/// a host name of its own).
fn default_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_graphic()))
        .unwrap_or_else(|| "mosaic".to_owned());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_a_fifteen_second_lease_and_a_host_based_id() {
        let config = validate_replicas(ReplicasSection::default()).expect("valid");
        assert_eq!(config.lease, Duration::from_secs(15));
        assert!(!config.id_given);
        assert!(
            config.id.ends_with(&format!("-{}", std::process::id())),
            "{}",
            config.id
        );
    }

    #[test]
    fn bad_leases_and_ids_name_their_key_and_the_right_form() {
        for secs in [0, 1, 601] {
            let error = validate_replicas(ReplicasSection {
                id: None,
                lease_secs: Some(secs),
            })
            .expect_err("refused")
            .to_string();
            assert!(error.contains("replicas.lease_secs"), "{error}");
            assert!(error.contains("2 to 600 seconds"), "{error}");
        }
        for id in ["", "bot 1", "bøt"] {
            let error = validate_replicas(ReplicasSection {
                id: Some(id.to_owned()),
                lease_secs: None,
            })
            .expect_err("refused")
            .to_string();
            assert!(error.contains("replicas.id"), "{error}");
            assert!(error.contains("like `bot-1`"), "{error}");
        }
        let good = validate_replicas(ReplicasSection {
            id: Some("bot-1".into()),
            lease_secs: Some(4),
        })
        .expect("valid");
        assert_eq!(good.id, "bot-1");
        assert_eq!(good.lease, Duration::from_secs(4));
    }
}
