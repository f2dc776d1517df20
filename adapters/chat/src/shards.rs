//! Which gateway shards an adapter may connect, for a platform whose gateway is sharded
//! (Discord): the core holds each shard by a lease in its store, so that among replicas
//! sharing it a shard is connected once, and tells the adapter through [`ShardLeases`]. The
//! adapter connects exactly the shards held, reports those whose connection may still be
//! open, and takes its turn before each identify, all through [`HeldShards`]; a single
//! process holds every shard, identifies spaced in this process alone.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::platform::ChatFuture;

/// A set of shard ids (`0..total`).
pub type ShardSet = BTreeSet<u32>;

/// What the core tells a sharded adapter, and what it hears back.
pub trait ShardLeases: Send + Sync + 'static {
    /// The shards this process may connect now. It changes as leases are taken, handed back
    /// or lost: the adapter connects a shard that appears, and closes one that disappears
    /// at once.
    fn held(&self) -> watch::Receiver<ShardSet>;

    /// The adapter's report of the shards whose connection may be open (from before it
    /// connects until its socket is closed): a lease is handed back only once its shard is
    /// out of this set.
    fn report(&self, running: &ShardSet);

    /// Waits until shard `shard` may identify: the gateway allows `max_concurrency`
    /// identifies per `spacing` (one per rate-limit key, `shard % max_concurrency`).
    fn identify_turn(
        &self,
        shard: u32,
        max_concurrency: u32,
        spacing: Duration,
    ) -> ChatFuture<'_, ()>;
}

/// When each rate-limit key may next identify, in this process.
#[derive(Debug, Default)]
pub struct IdentifyTurns {
    next: Mutex<HashMap<u32, Instant>>,
}

impl IdentifyTurns {
    /// Takes the next turn of `shard`'s rate-limit key and returns when it comes.
    pub fn take(&self, shard: u32, max_concurrency: u32, spacing: Duration) -> Instant {
        let key = shard % max_concurrency.max(1);
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let turn = next.get(&key).copied().filter(|t| *t > now).unwrap_or(now);
        next.insert(key, turn + spacing);
        turn
    }

    /// Takes the next turn of `shard`'s rate-limit key and waits for it: what
    /// [`ShardLeases::identify_turn`] does in one process.
    pub fn wait(&self, shard: u32, max_concurrency: u32, spacing: Duration) -> ChatFuture<'_, ()> {
        let turn = self.take(shard, max_concurrency, spacing);
        Box::pin(async move {
            tokio::time::sleep_until(turn).await;
            Ok(())
        })
    }
}

/// The shards held now, as a watch the adapter follows, what it reports running, and the
/// identify turns of this process: the one [`ShardLeases`] the core hands an adapter. The
/// core's lease keeper publishes what its leases hold; a single process (SQLite, or tests)
/// holds every shard ([`HeldShards::all`]) and shares its gateway with nobody.
#[derive(Debug)]
pub struct HeldShards {
    held: watch::Sender<ShardSet>,
    running: watch::Sender<ShardSet>,
    turns: IdentifyTurns,
}

impl HeldShards {
    /// `held` held from the start.
    pub fn new(held: ShardSet) -> HeldShards {
        HeldShards {
            held: watch::channel(held).0,
            running: watch::channel(ShardSet::new()).0,
            turns: IdentifyTurns::default(),
        }
    }

    /// Shards `0..total`, all held.
    pub fn all(total: u32) -> HeldShards {
        HeldShards::new((0..total.max(1)).collect())
    }

    /// Holds `wanted` from now on; true if that changed what is held.
    pub fn publish(&self, wanted: ShardSet) -> bool {
        self.held.send_if_modified(|held| {
            let changed = *held != wanted;
            *held = wanted;
            changed
        })
    }

    /// Whether no shard is held now.
    pub fn holds_none(&self) -> bool {
        self.held.borrow().is_empty()
    }

    /// What the adapter last reported running.
    pub fn running(&self) -> watch::Receiver<ShardSet> {
        self.running.subscribe()
    }
}

impl ShardLeases for HeldShards {
    fn held(&self) -> watch::Receiver<ShardSet> {
        self.held.subscribe()
    }

    fn report(&self, running: &ShardSet) {
        self.running.send_replace(running.clone());
    }

    fn identify_turn(
        &self,
        shard: u32,
        max_concurrency: u32,
        spacing: Duration,
    ) -> ChatFuture<'_, ()> {
        self.turns.wait(shard, max_concurrency, spacing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn identifies_of_one_rate_limit_key_are_spaced_others_are_not() {
        let turns = IdentifyTurns::default();
        let spacing = Duration::from_millis(200);
        let start = Instant::now();
        // max_concurrency 2: shards 0 and 2 share key 0, shard 1 has key 1.
        let first = turns.take(0, 2, spacing);
        assert!(first - start < spacing / 4);
        assert!(turns.take(1, 2, spacing) - start < spacing / 4);
        assert_eq!(turns.take(2, 2, spacing), first + spacing);
        assert_eq!(turns.take(4, 2, spacing), first + spacing * 2);
        tokio::time::sleep(spacing * 3).await;
        let now = Instant::now();
        let again = turns.take(0, 2, spacing);
        assert!(
            again >= now && again - now < spacing / 4,
            "a past turn is not waited for"
        );
    }

    #[tokio::test]
    async fn all_shards_are_held_and_reports_are_kept() {
        let all = HeldShards::all(3);
        assert_eq!(*all.held().borrow(), ShardSet::from([0, 1, 2]));
        all.report(&ShardSet::from([1]));
        assert_eq!(*all.running().borrow(), ShardSet::from([1]));
        assert_eq!(*HeldShards::all(0).held().borrow(), ShardSet::from([0]));
    }
}
