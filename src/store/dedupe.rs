//! Inbound dedupe: a platform may deliver the same message twice (Slack
//! retries an event it thinks was not acknowledged; a gateway replays after
//! a reconnect), and the bot must act on it once, even with several replicas.
//! A key also says whether its message was acted on, which decides what an
//! edit of the message does.

use std::time::Duration;

use sqlx::Row;

use super::writes::{Write, Written};
use super::{Store, StoreError, now, since_epoch};

impl Store {
    /// True the first time `key` is seen, and records it for `ttl`; false
    /// while it is recorded. After `ttl` the key counts as unseen again.
    ///
    /// One statement decides, so concurrent callers (tasks or replicas) get
    /// exactly one `true`: the primary key makes the insert the arbiter, and
    /// an expired row is taken over in the same statement, never by a read
    /// followed by a write. Times have second resolution; a key is kept at
    /// least `ttl`, at most a second longer.
    pub async fn first_sight(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.sight(key, ttl, false).await
    }

    /// [`first_sight`](Store::first_sight) of a message a command of which is about to run:
    /// when it is the first, it is recorded as [acted on](Store::mark_acted) in the same
    /// statement (one write per command instead of two).
    pub async fn first_sight_acted(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        self.sight(key, ttl, true).await
    }

    async fn sight(&self, key: &str, ttl: Duration, acted: bool) -> Result<bool, StoreError> {
        let written = self
            .write(Write::Sight {
                key: key.to_owned(),
                ttl,
                acted,
            })
            .await?;
        Ok(matches!(written, Written::Sight(true)))
    }

    /// Records that the message of `key` was acted on (a command of it ran),
    /// so that an edit of it is never read again. A key not recorded by
    /// [`first_sight`](Store::first_sight) is left alone.
    pub async fn mark_acted(&self, key: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE inbound_seen SET acted = 1 WHERE key = $1")
            .bind(key)
            .execute(&self.pool)
            .await
            .map_err(StoreError::engine("mark_acted"))?;
        Ok(())
    }

    /// Whether the message of `key`, still remembered, was acted on.
    pub async fn acted(&self, key: &str) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT acted FROM inbound_seen WHERE key = $1 AND expires_at > $2")
            .bind(key)
            .bind(now())
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::engine("acted"))?;
        let acted = row
            .map(|row| row.try_get::<i64, _>(0))
            .transpose()
            .map_err(StoreError::engine("acted"))?;
        Ok(acted == Some(1))
    }

    /// Deletes the dedupe keys whose time is up; returns how many. Call it
    /// now and then: [`first_sight`](Store::first_sight) does not need it to
    /// be correct, only the table's size does.
    pub async fn purge_expired(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM inbound_seen WHERE expires_at <= $1")
            .bind(now())
            .execute(&self.pool)
            .await
            .map_err(StoreError::engine("purge_expired"))?;
        Ok(done.rows_affected())
    }
}

/// The statement of [`Store::first_sight`] (and `_acted`), on `connection`.
pub(super) async fn sight(
    connection: &mut sqlx::AnyConnection,
    key: &str,
    ttl: Duration,
    acted: bool,
) -> Result<bool, StoreError> {
    let (now, expires_at) = since_epoch(ttl);
    // A row taken over after its time is up is a new sighting: it keeps nothing of the
    // old one, `acted` included.
    let done = sqlx::query(
        "INSERT INTO inbound_seen (key, expires_at, acted) VALUES ($1, $2, $4) \
         ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, \
         acted = excluded.acted WHERE inbound_seen.expires_at <= $3",
    )
    .bind(key)
    .bind(expires_at)
    .bind(now)
    .bind(i64::from(acted))
    .execute(connection)
    .await
    .map_err(StoreError::engine("first_sight"))?;
    // Both engines count an inserted or taken-over row as 1, and a
    // conflict whose update was refused by the WHERE as 0.
    Ok(done.rows_affected() == 1)
}
