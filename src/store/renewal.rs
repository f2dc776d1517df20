//! What a replica's renewal writes and reads: its heartbeat ([`Store::renew`](super::Store::renew)) and
//! what it holds ([`Store::look`](super::Store::look)), on one connection (the group commit's on SQLite, `batch.rs`).

use std::time::Duration;

use sqlx::Row;

use super::leases::{Renewal, millis, now_ms};
use super::{Engine, StoreError};

/// The statements of [`Store::renew`](super::Store::renew) on `connection`, in a transaction the caller holds: the
/// heartbeat, then (if it was this process's) what the replica holds.
pub(super) async fn renew(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    id: &str,
    instance: &str,
    ttl: Duration,
    platforms: &[&str],
) -> Result<Option<Renewal>, StoreError> {
    let now = now_ms(engine);
    let beat = format!(
        "UPDATE replicas SET expires_ms = {now} + $3 WHERE replica_id = $1 AND instance = $2"
    );
    let done = sqlx::query(sqlx::AssertSqlSafe(beat))
        .bind(id)
        .bind(instance)
        .bind(millis(ttl))
        .execute(&mut *connection)
        .await
        .map_err(StoreError::engine("renew"))?;
    if done.rows_affected() != 1 {
        return Ok(None);
    }
    look(connection, engine, id, instance, platforms)
        .await
        .map(Some)
}

/// The leases `id` (process `instance`) holds and its share, read on `connection`. Leases
/// another process took under the same id are not this one's: they expire with that process.
pub(super) async fn look(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    id: &str,
    instance: &str,
    platforms: &[&str],
) -> Result<Renewal, StoreError> {
    let failed = || StoreError::engine("look");
    let rows = sqlx::query(
        "SELECT job_id, verbosity, ended FROM followed_jobs WHERE job_id IN \
         (SELECT job_id FROM relay_leases WHERE holder = $1 AND holder_instance = $2) \
         ORDER BY insertion, job_id",
    )
    .bind(id)
    .bind(instance)
    .fetch_all(&mut *connection)
    .await
    .map_err(failed())?;
    let mut held = Vec::with_capacity(rows.len());
    let mut finishing = Vec::new();
    for row in &rows {
        let job_id: String = row.try_get(0).map_err(failed())?;
        let ended: i64 = row.try_get(2).map_err(failed())?;
        if ended != 0 {
            finishing.push(job_id);
            continue;
        }
        let verbosity: String = row.try_get(1).map_err(failed())?;
        let verbosity = verbosity.parse().map_err(|_| StoreError::Corrupt {
            job_id: job_id.clone(),
            column: "verbosity",
            value: verbosity.clone(),
        })?;
        held.push((job_id, verbosity));
    }
    let unfinished = sqlx::query(
        "SELECT platform, COUNT(*) FROM followed_jobs WHERE ended = 0 GROUP BY platform",
    )
    .fetch_all(&mut *connection)
    .await
    .map_err(failed())?;
    let live = format!(
        "SELECT platforms FROM replicas WHERE expires_ms > {}",
        now_ms(engine)
    );
    let live: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(live))
        .fetch_all(&mut *connection)
        .await
        .map_err(failed())?
        .iter()
        .map(|row| row.try_get(0))
        .collect::<Result<_, _>>()
        .map_err(failed())?;
    let mut share = 0;
    for row in &unfinished {
        let platform: String = row.try_get(0).map_err(failed())?;
        let jobs: i64 = row.try_get(1).map_err(failed())?;
        if !platforms.contains(&platform.as_str()) {
            continue;
        }
        let mark = format!(",{platform},");
        // This replica counts even if its heartbeat is late.
        let running = live.iter().filter(|p| p.contains(&mark)).count().max(1) as u64;
        share += u64::try_from(jobs).unwrap_or(0).div_ceil(running);
    }
    Ok(Renewal {
        held,
        finishing,
        live_replicas: (live.len() as u64).max(1),
        share,
    })
}
