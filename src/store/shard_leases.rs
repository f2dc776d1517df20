//! Discord's gateway shards held by lease: which replica connects which shard (a row each
//! in `shard_leases`, renewed while the shard runs, taken over once expired), and how many
//! live replicas run Discord (their heartbeats in `replicas`, kept by the relay keeper), so
//! that each takes its share.
//!
//! As for relay leases, every decision is one statement whose `WHERE` is the arbiter (a
//! shard is taken only if absent or expired, renewed only by its holder), and times are the
//! database's clock in milliseconds.

use std::time::Duration;

use sqlx::Row;

use super::leases::{millis, now_ms};
use super::{Store, StoreError};

/// One shard's lease as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardLease {
    pub shard: u32,
    pub holder: String,
    /// Not expired, by the database's clock.
    pub live: bool,
}

/// What a replica reads each tick to decide which shards to hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardView {
    /// Every shard lease row, by shard.
    pub leases: Vec<ShardLease>,
    /// Live replicas running the platform, the reader counted even if its heartbeat is late
    /// or not yet written.
    pub replicas: u64,
}

/// Whether replica `$1`'s heartbeat row is process `$3`'s.
const OURS: &str =
    "EXISTS (SELECT 1 FROM replicas WHERE replicas.replica_id = $1 AND replicas.instance = $3)";
/// The same with the replica `$3` and the process `$5`.
const OURS_5: &str =
    "EXISTS (SELECT 1 FROM replicas WHERE replicas.replica_id = $3 AND replicas.instance = $5)";

impl Store {
    /// Renews every shard lease `holder` holds, for `ttl` from now, while its heartbeat row
    /// is process `instance`'s (another process with the same id takes none); returns the
    /// shards renewed.
    pub async fn renew_shard_leases(
        &self,
        holder: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Vec<u32>, StoreError> {
        let now = now_ms(self.engine);
        let sql = format!(
            "UPDATE shard_leases SET expires_ms = {now} + $2 WHERE holder = $1 AND {OURS} \
             RETURNING shard_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(holder)
            .bind(millis(ttl))
            .bind(instance)
            .fetch_all(&self.pool)
            .await
            .map_err(StoreError::engine("renew_shard_leases"))?;
        rows.iter().map(|row| shard_id(row, 0)).collect()
    }

    /// Every shard lease, and the live replicas running `platform` (`me` counted).
    pub async fn shard_view(&self, platform: &str, me: &str) -> Result<ShardView, StoreError> {
        let failed = || StoreError::engine("shard_view");
        let now = now_ms(self.engine);
        let sql = format!(
            "SELECT shard_id, holder, CASE WHEN expires_ms > {now} THEN 1 ELSE 0 END \
             FROM shard_leases ORDER BY shard_id"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await
            .map_err(failed())?;
        let leases = rows
            .iter()
            .map(|row| {
                let live: i64 = row.try_get(2).map_err(failed())?;
                Ok(ShardLease {
                    shard: shard_id(row, 0)?,
                    holder: row.try_get(1).map_err(failed())?,
                    live: live != 0,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let sql = format!(
            "SELECT replica_id FROM replicas WHERE expires_ms > {now} AND platforms LIKE $1"
        );
        let live: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(format!("%,{platform},%"))
            .fetch_all(&self.pool)
            .await
            .map_err(failed())?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(failed())?;
        let others = live.iter().filter(|id| *id != me).count() as u64;
        Ok(ShardView {
            leases,
            replicas: others + 1,
        })
    }

    /// Takes the lease of shard `shard` (of `num_shards`) for `holder` (process
    /// `instance`, as for renewals) for `ttl`, if nobody holds it or its lease expired.
    /// `Some(takeover)` when taken: whether another holder had it before and let it expire.
    pub async fn take_shard_lease(
        &self,
        shard: u32,
        num_shards: u32,
        holder: &str,
        instance: &str,
        ttl: Duration,
    ) -> Result<Option<bool>, StoreError> {
        let now = now_ms(self.engine);
        // SQLite reads `ON` after a SELECT's FROM as a join's, unless the SELECT has a WHERE.
        let sql = format!(
            "INSERT INTO shard_leases (shard_id, num_shards, holder, expires_ms, taken) \
             SELECT $1, $2, $3, {now} + $4, 1 WHERE {OURS_5} \
             ON CONFLICT (shard_id) DO UPDATE SET num_shards = excluded.num_shards, \
             holder = excluded.holder, expires_ms = excluded.expires_ms, \
             taken = shard_leases.taken + 1 \
             WHERE shard_leases.expires_ms <= {now} \
             RETURNING taken"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(i64::from(shard))
            .bind(i64::from(num_shards))
            .bind(holder)
            .bind(millis(ttl))
            .bind(instance)
            .fetch_optional(&self.pool)
            .await
            .map_err(StoreError::engine("take_shard_lease"))?;
        row.map(|row| row.try_get::<i64, _>(0).map(|taken| taken > 1))
            .transpose()
            .map_err(StoreError::engine("take_shard_lease"))
    }

    /// Hands the lease of `shard` back, if `holder` holds it.
    pub async fn release_shard_lease(&self, shard: u32, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM shard_leases WHERE shard_id = $1 AND holder = $2")
            .bind(i64::from(shard))
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(StoreError::engine("release_shard_lease"))?;
        Ok(())
    }

    /// Hands back every shard lease of `holder` (a graceful stop).
    pub async fn release_shard_leases(&self, holder: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM shard_leases WHERE holder = $1")
            .bind(holder)
            .execute(&self.pool)
            .await
            .map_err(StoreError::engine("release_shard_leases"))?;
        Ok(())
    }
}

fn shard_id(row: &sqlx::any::AnyRow, at: usize) -> Result<u32, StoreError> {
    let id: i64 = row.try_get(at).map_err(StoreError::engine("shard_id"))?;
    u32::try_from(id).map_err(|_| StoreError::Corrupt {
        job_id: String::new(),
        column: "shard_id",
        value: id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    /// A store with live replicas `ids`, each process `i`, running Discord.
    async fn store(ids: &[&str]) -> Store {
        let store = Store::open("sqlite::memory:").await.expect("a store");
        for id in ids {
            let registered = store.register_replica(id, "i", LONG, &["discord"]).await;
            assert!(registered.expect("registered"));
        }
        store
    }

    async fn take(store: &Store, shard: u32, holder: &str, ttl: Duration) -> Option<bool> {
        let taken = store.take_shard_lease(shard, 2, holder, "i", ttl).await;
        taken.expect("the store")
    }

    async fn renew(store: &Store, holder: &str, instance: &str) -> Vec<u32> {
        let renewed = store.renew_shard_leases(holder, instance, LONG).await;
        renewed.expect("the store")
    }

    #[tokio::test]
    async fn a_shard_is_taken_once_until_it_expires_then_taken_over() {
        let store = store(&["a", "b"]).await;
        assert_eq!(take(&store, 0, "a", LONG).await, Some(false));
        assert_eq!(take(&store, 0, "b", LONG).await, None, "held by a");
        assert_eq!(take(&store, 1, "b", Duration::ZERO).await, Some(false));
        // b's lease of shard 1 has expired: a takes it over.
        assert_eq!(take(&store, 1, "a", LONG).await, Some(true));
        assert_eq!(renew(&store, "a", "i").await, vec![0, 1]);
        assert_eq!(
            renew(&store, "b", "i").await,
            Vec::<u32>::new(),
            "b holds nothing"
        );
        let view = store.shard_view("discord", "a").await.expect("a view");
        let holders: Vec<(u32, &str, bool)> = view
            .leases
            .iter()
            .map(|l| (l.shard, l.holder.as_str(), l.live))
            .collect();
        assert_eq!(holders, [(0, "a", true), (1, "a", true)]);
        assert_eq!(view.replicas, 2);
    }

    #[tokio::test]
    async fn another_process_with_the_replicas_id_neither_renews_nor_takes() {
        let store = store(&["a"]).await;
        assert_eq!(take(&store, 0, "a", LONG).await, Some(false));
        assert_eq!(renew(&store, "a", "impostor").await, Vec::<u32>::new());
        let taken = store.take_shard_lease(1, 2, "a", "impostor", LONG).await;
        assert_eq!(taken.expect("the store"), None);
        assert_eq!(
            take(&store, 1, "nobody", LONG).await,
            None,
            "no heartbeat, no shard"
        );
        assert_eq!(renew(&store, "a", "i").await, vec![0]);
    }

    #[tokio::test]
    async fn only_the_holder_hands_a_shard_back_and_live_replicas_of_the_platform_count() {
        let store = store(&["a", "b"]).await;
        take(&store, 0, "a", LONG).await.expect("taken");
        take(&store, 1, "a", LONG).await.expect("taken");
        store.release_shard_lease(0, "b").await.expect("not b's");
        assert_eq!(renew(&store, "a", "i").await, vec![0, 1]);
        store.release_shard_lease(0, "a").await.expect("released");
        assert_eq!(renew(&store, "a", "i").await, vec![1]);
        store.release_shard_leases("a").await.expect("released");
        assert_eq!(renew(&store, "a", "i").await, Vec::<u32>::new());
        let slack = store.register_replica("c", "i", LONG, &["slack"]).await;
        assert!(slack.expect("registered"));
        let expired = store
            .register_replica("d", "i", Duration::ZERO, &["discord"])
            .await;
        assert!(expired.expect("registered"));
        let view = store.shard_view("discord", "a").await.expect("a view");
        assert_eq!(view.replicas, 2, "a and b; c runs no Discord, d expired");
        assert_eq!(
            store
                .shard_view("discord", "e")
                .await
                .expect("a view")
                .replicas,
            3
        );
    }
}
