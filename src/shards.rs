//! Discord's gateway shards among replicas on one PostgreSQL store: a shard may be connected
//! once, so each is held by a lease row (`store/shard_leases.rs`) and the Discord adapter
//! connects only the shards this replica holds ([`ShardLeases`], handed to it in its
//! `RunContext`).
//!
//! The [`ShardKeeper`] task, every tick:
//! - renews this replica's shard leases every third of a lease;
//! - takes its share, `ceil(shards / live replicas running Discord)`, from the shards nobody
//!   holds or whose lease expired (a dead replica's, once expired: they move within the lease
//!   and a tick, then the shard's identify wait);
//! - hands back what it holds beyond its share (a replica that joins gets shards): the shard
//!   is closed first, and its lease released once the adapter reports its socket closed;
//! - stops every shard when its leases have not been renewed for two thirds of a lease, so
//!   that a shard is closed here before another replica can take its expired lease.
//!
//! A graceful stop closes every shard and hands the leases back at once. A single process
//! (SQLite) has no keeper: it holds every shard ([`mosaic_chat::HeldShards`]).

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{HeldShards, ShardSet};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::relay::Replica;
use crate::store::{ShardView, Store};

/// The platform whose gateway is sharded.
const PLATFORM: &str = "discord";

/// The longest pause between two ticks: an expired shard is taken within its lease and this.
const MAX_TICK: Duration = Duration::from_secs(1);

/// How long a graceful stop waits for the adapter to close its shards before handing their
/// leases back anyway (the daemon's shutdown deadline is longer).
const CLOSE_WAIT: Duration = Duration::from_secs(6);

/// How many shards each of `replicas` live replicas holds: all of them divided, rounded up.
pub fn share(shards: u32, replicas: u64) -> u32 {
    let replicas = u32::try_from(replicas.max(1)).unwrap_or(u32::MAX);
    shards.div_ceil(replicas)
}

/// What to do with the leases read: the shards to take (in order, until the share is held)
/// and those to hand back. `mine`: the shards this replica holds (live).
pub fn plan(total: u32, view: &ShardView, me: &str) -> (Vec<u32>, Vec<u32>) {
    let share = share(total, view.replicas) as usize;
    let mine: BTreeSet<u32> = view
        .leases
        .iter()
        .filter(|l| l.live && l.holder == me && l.shard < total)
        .map(|l| l.shard)
        .collect();
    let taken: BTreeSet<u32> = view
        .leases
        .iter()
        .filter(|l| l.live)
        .map(|l| l.shard)
        .collect();
    let free = (0..total).filter(|s| !taken.contains(s));
    let take = free.take(share.saturating_sub(mine.len())).collect();
    // The highest shards go first, so that the lowest stay where they are.
    let give = mine
        .iter()
        .rev()
        .take(mine.len().saturating_sub(share))
        .copied()
        .collect();
    (take, give)
}

/// This replica's shard leases, and what the adapter is told of them.
pub struct ShardKeeper {
    store: Store,
    replica: String,
    /// This process among those that may have used the replica's id: leases are renewed and
    /// taken only while the id's heartbeat row is this process's.
    instance: String,
    lease: Duration,
    total: u32,
    /// What the adapter is told and reports back.
    shards: Arc<HeldShards>,
}

impl ShardKeeper {
    /// The keeper of `total` shards for `replica`; nothing is held until [`spawn`](Self::spawn).
    pub fn new(store: Store, replica: Replica, total: u32) -> Arc<ShardKeeper> {
        Arc::new(ShardKeeper {
            store,
            replica: replica.id,
            instance: replica.instance,
            lease: replica.lease,
            total: total.max(1),
            shards: Arc::new(HeldShards::new(ShardSet::new())),
        })
    }

    /// What the Discord adapter is handed: the shards this keeper holds.
    pub fn shards(&self) -> Arc<HeldShards> {
        Arc::clone(&self.shards)
    }

    /// Runs the keeper until `stop`, then closes every shard and hands its leases back.
    /// Started once the replica's heartbeat is registered, so that its id is its own.
    pub fn spawn(self: &Arc<Self>, stop: CancellationToken) -> JoinHandle<()> {
        tokio::spawn(Arc::clone(self).run(stop))
    }

    async fn run(self: Arc<Self>, stop: CancellationToken) {
        let tick = (self.lease / 3).min(MAX_TICK);
        let renew_every = self.lease / 3;
        let mut last_renewed = Instant::now();
        let mut last_attempt: Option<Instant> = None;
        // Shards being handed back: closed, released once the adapter reports them closed.
        let mut giving: BTreeSet<u32> = BTreeSet::new();
        loop {
            let danger = last_renewed + self.lease * 2 / 3;
            if last_attempt.is_none_or(|at| at + renew_every <= Instant::now() + tick / 2) {
                let sent = Instant::now();
                last_attempt = Some(sent);
                match self
                    .bounded(
                        danger,
                        tick,
                        self.store
                            .renew_shard_leases(&self.replica, &self.instance, self.lease),
                    )
                    .await
                {
                    Some(Ok(_)) => last_renewed = sent,
                    Some(Err(error)) => tracing::warn!(%error, "could not renew the shard leases"),
                    None => tracing::warn!("renewing the shard leases timed out"),
                }
            }
            let danger = last_renewed + self.lease * 2 / 3;
            if Instant::now() >= danger {
                if !self.shards.holds_none() {
                    tracing::error!(
                        "the shard leases could not be renewed in time; closing every shard"
                    );
                }
                self.publish(ShardSet::new());
            } else {
                self.reconcile(&mut giving, danger, tick).await;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
        }
        self.hand_back_all().await;
    }

    /// Runs `op` until the danger point (or a tick, once that has passed); `None` if it did
    /// not end by then.
    async fn bounded<T>(
        &self,
        danger: Instant,
        tick: Duration,
        op: impl Future<Output = T>,
    ) -> Option<T> {
        let limit = danger.max(Instant::now() + tick);
        tokio::time::timeout_at(limit, op).await.ok()
    }

    /// Takes this replica's share, hands back what is beyond it, tells the adapter.
    async fn reconcile(&self, giving: &mut BTreeSet<u32>, danger: Instant, tick: Duration) {
        let view = match self
            .bounded(danger, tick, self.store.shard_view(PLATFORM, &self.replica))
            .await
        {
            Some(Ok(view)) => view,
            Some(Err(error)) => {
                tracing::warn!(%error, "could not read the shard leases");
                return;
            }
            None => return,
        };
        let (take, give) = plan(self.total, &view, &self.replica);
        let mut mine: ShardSet = view
            .leases
            .iter()
            .filter(|l| l.live && l.holder == self.replica && l.shard < self.total)
            .map(|l| l.shard)
            .collect();
        for shard in take {
            let (replica, instance) = (&self.replica, &self.instance);
            let take = self
                .store
                .take_shard_lease(shard, self.total, replica, instance, self.lease);
            match take.await {
                Ok(Some(takeover)) => {
                    tracing::info!(shard, takeover, "took a Discord shard's lease");
                    mine.insert(shard);
                }
                // Another replica was quicker.
                Ok(None) => {}
                Err(error) => tracing::warn!(%error, shard, "could not take a shard's lease"),
            }
        }
        giving.extend(give);
        giving.retain(|s| mine.contains(s));
        let wanted: ShardSet = mine.difference(giving).copied().collect();
        self.publish(wanted);
        let running = self.shards.running().borrow().clone();
        let closed: Vec<u32> = giving
            .iter()
            .filter(|s| !running.contains(s))
            .copied()
            .collect();
        for shard in closed {
            match self.store.release_shard_lease(shard, &self.replica).await {
                Ok(()) => {
                    tracing::info!(
                        shard,
                        "handed a Discord shard back: this replica held more than its share"
                    );
                    giving.remove(&shard);
                }
                Err(error) => tracing::warn!(%error, shard, "could not hand a shard back"),
            }
        }
    }

    fn publish(&self, wanted: ShardSet) {
        self.shards.publish(wanted);
    }

    /// A graceful stop: every shard closed, then every lease handed back.
    async fn hand_back_all(&self) {
        self.publish(ShardSet::new());
        let mut running = self.shards.running();
        if tokio::time::timeout(CLOSE_WAIT, running.wait_for(ShardSet::is_empty))
            .await
            .is_err()
        {
            tracing::warn!("the Discord shards did not close in time; their leases expire instead");
            return;
        }
        match self.store.release_shard_leases(&self.replica).await {
            Ok(()) => tracing::info!(replica = %self.replica, "handed every shard lease back"),
            Err(error) => {
                tracing::warn!(%error, "could not hand the shard leases back; they expire instead")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::ShardLease;

    fn view(replicas: u64, leases: &[(u32, &str, bool)]) -> ShardView {
        ShardView {
            leases: leases
                .iter()
                .map(|&(shard, holder, live)| ShardLease {
                    shard,
                    holder: holder.to_owned(),
                    live,
                })
                .collect(),
            replicas,
        }
    }

    #[test]
    fn each_replica_holds_the_shards_divided_among_them_rounded_up() {
        assert_eq!(share(1, 1), 1);
        assert_eq!(share(2, 2), 1);
        assert_eq!(share(3, 2), 2);
        assert_eq!(share(2, 3), 1);
        assert_eq!(share(16, 3), 6);
        assert_eq!(share(4, 0), 4, "no heartbeat read: this replica alone");
    }

    #[test]
    fn free_and_expired_shards_are_taken_up_to_the_share_lowest_first() {
        // Alone: every shard.
        assert_eq!(plan(3, &view(1, &[]), "a"), (vec![0, 1, 2], vec![]));
        // Two replicas, b holds 0: a takes 1.
        assert_eq!(plan(2, &view(2, &[(0, "b", true)]), "a"), (vec![1], vec![]));
        // b died: its expired shard 0 is a's once b's heartbeat is gone too.
        let died = view(1, &[(0, "b", false), (1, "a", true)]);
        assert_eq!(plan(2, &died, "a"), (vec![0], vec![]));
        // Every shard held by others: nothing to take, though under the share.
        assert_eq!(
            plan(2, &view(3, &[(0, "b", true), (1, "c", true)]), "a"),
            (vec![], vec![])
        );
    }

    #[test]
    fn shards_beyond_the_share_are_handed_back_highest_first() {
        // A second replica joined: a held all three, its share is two.
        let joined = view(2, &[(0, "a", true), (1, "a", true), (2, "a", true)]);
        assert_eq!(plan(3, &joined, "a"), (vec![], vec![2]));
        // A shard beyond a smaller shard count is neither held nor counted.
        assert_eq!(
            plan(1, &view(1, &[(0, "a", true), (1, "a", true)]), "a"),
            (vec![], vec![])
        );
    }
}
