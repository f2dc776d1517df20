//! Replicas and relay leases: which replicas live (a heartbeat row each), and which replica
//! relays which job (a lease row each, held while its holder's heartbeat lives, taken over
//! once both have expired).
//!
//! A lease row is written when taken and never renewed: it holds until its own expiry (set at
//! the take) or, after that, as long as the heartbeat of the process that took it (replica id
//! and instance) lives. So renewing every lease of a replica is one heartbeat update, however
//! many jobs it relays. Every decision is one statement whose `WHERE` is the arbiter, so
//! concurrent replicas never both win: a lease is taken only if absent or expired. Times are
//! the database's clock in milliseconds (`clock_timestamp()` on PostgreSQL), never a
//! replica's: replicas' clocks may disagree, the database's is one.

use std::time::Duration;

use sqlx::Row;

use super::writes::{Write, Written};
use super::{Engine, Store, StoreError, Verbosity};

/// The database's "now" in unix epoch milliseconds, as SQL.
pub(super) fn now_ms(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
        Engine::Sqlite => "CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)",
    }
}

/// SQL true when the lease row `lease` has expired: its own expiry passed and the process that
/// took it has no live heartbeat. A lease's own expiry stays the arbiter just after a take:
/// a concurrent claimer whose snapshot predates the taker's registration still sees it held.
pub(super) fn lease_expired(engine: Engine, lease: &str) -> String {
    let now = now_ms(engine);
    format!(
        "({lease}.expires_ms <= {now} AND NOT EXISTS (SELECT 1 FROM replicas r \
         WHERE r.replica_id = {lease}.holder AND r.instance = {lease}.holder_instance \
         AND r.expires_ms > {now}))"
    )
}

/// The statement of [`Store::take_lease`], on a pool or in a transaction.
pub(super) async fn take_lease<'c, E>(
    executor: E,
    engine: Engine,
    job_id: &str,
    holder: &str,
    instance: &str,
    ttl: Duration,
) -> Result<bool, StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let now = now_ms(engine);
    let expired = lease_expired(engine, "relay_leases");
    let sql = format!(
        "INSERT INTO relay_leases (job_id, holder, holder_instance, expires_ms, taken) \
         VALUES ($1, $2, $4, {now} + $3, 1) \
         ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, \
         holder_instance = excluded.holder_instance, \
         expires_ms = excluded.expires_ms, taken = relay_leases.taken + 1 \
         WHERE {expired}"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(job_id)
        .bind(holder)
        .bind(millis(ttl))
        .bind(instance)
        .execute(executor)
        .await
        .map_err(StoreError::engine("take_lease"))?;
    Ok(done.rows_affected() == 1)
}

/// The statement of [`Store::release_lease`], on a pool or in a transaction.
pub(super) async fn release_lease<'c, E>(
    executor: E,
    job_id: &str,
    holder: &str,
) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query("DELETE FROM relay_leases WHERE job_id = $1 AND holder = $2")
        .bind(job_id)
        .bind(holder)
        .execute(executor)
        .await
        .map_err(StoreError::engine("release_lease"))?;
    Ok(())
}

/// A duration in whole milliseconds, as the engines' BIGINT.
pub(super) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// What one renewal found, for the replica to act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renewal {
    /// The unfinished jobs whose lease this replica holds, oldest first, with their thread's
    /// verbosity (it may have been changed through another replica).
    pub held: Vec<(String, Verbosity)>,
    /// Jobs that ended whose lease this replica still holds: their relays are finishing (the
    /// ✅, the last record) and hand the lease back when done; not a lost lease.
    pub finishing: Vec<String>,
    /// Replicas whose heartbeat has not expired, this one included.
    pub live_replicas: u64,
    /// How many relays this replica should hold: for each platform it runs, the platform's
    /// unfinished jobs divided among the live replicas running it (rounded up).
    pub share: u64,
}

/// A lease taken by [`Store::claim_leases`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub job_id: String,
    /// Whether another holder had it before and let it expire.
    pub takeover: bool,
}

impl Store {
    /// Registers replica `id` (this process: `instance`, running `platforms`) as alive for
    /// `ttl`. False when another process with the same id is alive: ids must be unique.
    pub async fn register_replica(
        &self,
        id: &str,
        instance: &str,
        ttl: Duration,
        platforms: &[&str],
    ) -> Result<bool, StoreError> {
        let now = now_ms(self.engine);
        let sql = format!(
            "INSERT INTO replicas (replica_id, instance, platforms, expires_ms) \
             VALUES ($1, $2, $4, {now} + $3) \
             ON CONFLICT (replica_id) DO UPDATE SET instance = excluded.instance, \
             platforms = excluded.platforms, expires_ms = excluded.expires_ms \
             WHERE replicas.instance = excluded.instance OR replicas.expires_ms <= {now}"
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(instance)
            .bind(millis(ttl))
            .bind(format!(",{},", platforms.join(",")))
            .execute(&self.pool)
            .await
            .map_err(StoreError::engine("register_replica"))?;
        Ok(done.rows_affected() == 1)
    }

    /// Forgets every replica and lease: only for a store no other process can use (a SQLite
    /// file held by this one), where whoever held them is dead.
    pub async fn forget_replicas(&self) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::engine("forget_replicas"))?;
        for sql in ["DELETE FROM relay_leases", "DELETE FROM replicas"] {
            sqlx::query(sql)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::engine("forget_replicas"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::engine("forget_replicas"))
    }

    /// The heartbeat of replica `id`, for `ttl` from now, which renews all its leases (one row
    /// written, however many leases), and what it holds, in one transaction; `None` when the
    /// replica's row is no longer this process's (it expired and another process took the
    /// id), in which case nothing was renewed.
    pub async fn renew(
        &self,
        id: &str,
        instance: &str,
        ttl: Duration,
        platforms: &[&str],
    ) -> Result<Option<Renewal>, StoreError> {
        let written = self
            .write(Write::Renew {
                id: id.to_owned(),
                instance: instance.to_owned(),
                ttl,
                platforms: platforms.iter().map(|p| (*p).to_owned()).collect(),
            })
            .await?;
        match written {
            Written::Renewal(renewal) => Ok(renewal),
            other => unreachable!("a renewal answered {other:?}"),
        }
    }

    /// What [`renew`](Store::renew) reports, without renewing: read between renewals, so that
    /// claims and verbosity changes are seen every tick while the heartbeat is written only a
    /// few times per lease.
    pub async fn look(
        &self,
        id: &str,
        instance: &str,
        platforms: &[&str],
    ) -> Result<Renewal, StoreError> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::engine("look"))?;
        super::renewal::look(&mut connection, self.engine, id, instance, platforms).await
    }

    /// Takes the lease of `job_id` for `holder` (process `instance`) for `ttl`, then for as
    /// long as its heartbeat lives, if nobody holds it or its lease expired. True when taken.
    pub async fn take_lease(
        &self,
        job_id: &str,
        holder: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        take_lease(&self.pool, self.engine, job_id, holder, instance, ttl).await
    }

    /// Takes up to `limit` leases of unfinished jobs on `platforms` that nobody holds or whose
    /// lease expired, oldest jobs first, for `holder` (process `instance`) as
    /// [`take_lease`](Store::take_lease) does. Concurrent claimers never take the same one.
    pub async fn claim_leases(
        &self,
        holder: &str,
        instance: &str,
        ttl: Duration,
        limit: u64,
        platforms: &[&str],
    ) -> Result<Vec<Claimed>, StoreError> {
        if limit == 0 || platforms.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_ms(self.engine);
        let on_platforms = (0..platforms.len())
            .map(|i| format!("${}", i + 5))
            .collect::<Vec<_>>()
            .join(", ");
        // SQLite reads `ON` after a join as the join's, unless the SELECT has a WHERE (it has).
        let free = lease_expired(self.engine, "l");
        let expired = lease_expired(self.engine, "relay_leases");
        let sql = format!(
            "INSERT INTO relay_leases (job_id, holder, holder_instance, expires_ms, taken) \
             SELECT f.job_id, $1, $4, {now} + $2, 1 FROM followed_jobs f \
             LEFT JOIN relay_leases l ON l.job_id = f.job_id \
             WHERE f.ended = 0 AND f.platform IN ({on_platforms}) \
             AND (l.job_id IS NULL OR {free}) \
             ORDER BY f.insertion, f.job_id LIMIT $3 \
             ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, \
             holder_instance = excluded.holder_instance, \
             expires_ms = excluded.expires_ms, taken = relay_leases.taken + 1 \
             WHERE {expired} \
             RETURNING job_id, taken"
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(holder)
            .bind(millis(ttl))
            .bind(i64::try_from(limit).unwrap_or(i64::MAX))
            .bind(instance);
        for platform in platforms {
            query = query.bind(*platform);
        }
        let rows = query
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::engine("claim_leases"))?;
        rows.iter()
            .map(|row| {
                let job_id: String = row.try_get(0).map_err(StoreError::engine("claim_leases"))?;
                let taken: i64 = row.try_get(1).map_err(StoreError::engine("claim_leases"))?;
                Ok(Claimed {
                    job_id,
                    takeover: taken > 1,
                })
            })
            .collect()
    }

    /// Hands the lease of `job_id` back, if `holder` holds it.
    pub async fn release_lease(&self, job_id: &str, holder: &str) -> Result<(), StoreError> {
        release_lease(&self.pool, job_id, holder).await
    }

    /// A graceful stop: hands every lease of `id` back and removes its heartbeat, so the
    /// other replicas take its jobs at once and count one replica fewer.
    pub async fn retire_replica(&self, id: &str, instance: &str) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::engine("retire_replica"))?;
        let done = sqlx::query("DELETE FROM replicas WHERE replica_id = $1 AND instance = $2")
            .bind(id)
            .bind(instance)
            .execute(&mut *tx)
            .await
            .map_err(StoreError::engine("retire_replica"))?;
        // A row no longer ours means another process has the id, and the leases with it.
        if done.rows_affected() == 1 {
            sqlx::query("DELETE FROM relay_leases WHERE holder = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::engine("retire_replica"))?;
        }
        tx.commit()
            .await
            .map_err(StoreError::engine("retire_replica"))
    }

    /// Who holds the lease of `job_id` now (expired or not), for tests and diagnostics.
    pub async fn lease_holder(&self, job_id: &str) -> Result<Option<String>, StoreError> {
        let row = sqlx::query("SELECT holder FROM relay_leases WHERE job_id = $1")
            .bind(job_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::engine("lease_holder"))?;
        row.map(|row| row.try_get::<String, _>(0))
            .transpose()
            .map_err(StoreError::engine("lease_holder"))
    }
}
