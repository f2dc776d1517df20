//! The schema's migrations, embedded in the binary so a deployed bot needs
//! no `migrations/` directory beside it.
//!
//! sqlx's `migrate!` macro would do the embedding, but it needs sqlx's
//! `macros` feature (a proc-macro crate and its build time) for one list;
//! this list is checked against the directory by a test instead.

use std::borrow::Cow;

use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

/// Every migration in `migrations/`: version, description, SQL. Versions
/// match the file names (`0001_store.sql`); a new file adds a line here.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "store", include_str!("../../migrations/0001_store.sql")),
    (
        2,
        "workspace",
        include_str!("../../migrations/0002_workspace.sql"),
    ),
    (
        3,
        "catch_up",
        include_str!("../../migrations/0003_catch_up.sql"),
    ),
    (
        4,
        "replicas",
        include_str!("../../migrations/0004_replicas.sql"),
    ),
    (
        5,
        "post_marks",
        include_str!("../../migrations/0005_post_marks.sql"),
    ),
    (
        6,
        "shard_leases",
        include_str!("../../migrations/0006_shard_leases.sql"),
    ),
    (
        7,
        "lease_heartbeat",
        include_str!("../../migrations/0007_lease_heartbeat.sql"),
    ),
];

/// A migrator over [`MIGRATIONS`].
pub(super) fn migrator() -> Migrator {
    Migrator::with_migrations(
        MIGRATIONS
            .iter()
            .map(|&(version, description, sql)| {
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    sql.into_sql_str(),
                    false,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_migration_file_is_embedded() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .expect("migrations/ is readable")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| name.ends_with(".sql"))
            .collect();
        files.sort();
        let embedded: Vec<String> = MIGRATIONS
            .iter()
            .map(|(version, description, _)| format!("{version:04}_{description}.sql"))
            .collect();
        assert_eq!(files, embedded);
    }

    #[test]
    fn migrations_use_no_engine_specific_types() {
        for (_, _, sql) in MIGRATIONS {
            let upper = sql.to_uppercase();
            for word in [
                "SERIAL",
                "TIMESTAMP",
                "JSONB",
                "BOOLEAN",
                "AUTOINCREMENT",
                "BYTEA",
            ] {
                assert!(!upper.contains(word), "a migration uses {word}");
            }
        }
    }
}
