//! Which relays this replica runs, when several replicas share one PostgreSQL store.
//!
//! Each followed job is relayed by the replica holding its lease row (`Store::take_lease`).
//! The keeper task here renews this replica's heartbeat and leases together every tick, and
//! from the same renewal:
//! - starts a relay for each lease held and not relayed (taken by a claim, or regained);
//! - stops, at once, a relay whose lease is no longer this replica's;
//! - claims leases nobody holds (new jobs of a replica that died before relaying them,
//!   expired leases of a dead replica) up to its share, `ceil(unfinished / live replicas)`,
//!   and hands relays back (gracefully) when it holds well over its share, so a new replica
//!   gets work;
//! - applies a verbosity changed on another replica to the relays it runs.
//!
//! Never two relays of one job: a replica that has not renewed for two thirds of the lease
//! stops every relay without posting more, and aborts what still runs at five sixths, before
//! the lease (counted from the renewal's start, by the database's clock, which can only be
//! later) expires and another replica may take it. On SQLite a single process holds the file
//! (`daemon.rs` locks it), so the same code runs with one replica.

use std::collections::HashSet;
use std::hash::{BuildHasher, Hasher};
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Hub, RelayEnd, RelayHub};
use crate::store::{FollowedJob, Renewal, StoreError};

/// The longest pause between two ticks of the keeper: a dead replica's jobs are claimed
/// within its lease and this.
const MAX_TICK: Duration = Duration::from_secs(1);

/// This replica as its leases name it.
#[derive(Clone, Debug)]
pub struct Replica {
    /// The configured (or made-up) id, unique among live replicas.
    pub id: String,
    /// Random per process: a second process started with the same id is refused.
    pub instance: String,
    /// How long a lease lasts without renewal.
    pub lease: Duration,
}

impl Replica {
    /// Replica `id` with leases of `lease`, for this process.
    pub fn new(id: &str, lease: Duration) -> Replica {
        // Randomly seeded by std; with the time and the process id, unique per process.
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos(),
        );
        hasher.write_u32(std::process::id());
        Replica {
            id: id.to_owned(),
            instance: format!("{:016x}", hasher.finish()),
            lease,
        }
    }

    /// How often the keeper renews and claims.
    fn tick(&self) -> Duration {
        (self.lease / 3).min(MAX_TICK)
    }
}

/// Why this replica could not start its leases.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    #[error(
        "replica id {id:?} is in use by another live mosaic-bot on this store: give each replica its own `replicas.id` (or leave it out)"
    )]
    IdInUse { id: String },
    #[error("cannot register this replica in the store: {0}")]
    Store(#[from] StoreError),
}

impl RelayHub {
    /// This replica's lease of a new job, taken before the job is stored, so that no other
    /// replica claims it before its relay starts. False when someone else holds it.
    pub async fn take_lease(&self, job_id: &str) -> Result<bool, StoreError> {
        let replica = &self.hub.replica;
        self.hub
            .store
            .take_lease(job_id, &replica.id, replica.lease)
            .await
    }

    /// Registers this replica and starts the relays of the leases it gets now (on a store only
    /// this process uses, `exclusive`, every unfinished job); then keeps its leases until
    /// `stop`. Returns the keeper task, which hands every lease back when it ends.
    pub async fn start_leases(
        &self,
        exclusive: bool,
        stop: CancellationToken,
    ) -> Result<JoinHandle<()>, LeaseError> {
        let store = &self.hub.store;
        let replica = &self.hub.replica;
        if exclusive {
            store.forget_replicas().await?;
        }
        // A process that died with this id keeps it until its heartbeat expires.
        let give_up = Instant::now() + replica.lease + MAX_TICK;
        while !store
            .register_replica(&replica.id, &replica.instance, replica.lease)
            .await?
        {
            if Instant::now() >= give_up {
                return Err(LeaseError::IdInUse {
                    id: replica.id.clone(),
                });
            }
            tracing::warn!(replica = %replica.id, "this replica id is held by another process; waiting for it to expire");
            tokio::time::sleep(replica.tick()).await;
        }
        let mut keeper = Keeper {
            hub: self.clone(),
            last_renewed: Instant::now(),
        };
        keeper.renew().await;
        tracing::info!(replica = %replica.id, relays = self.running(), lease = ?replica.lease, "holding relay leases");
        Ok(tokio::spawn(keeper.run(stop)))
    }

    /// Stops the relay of `job_id` at once, posting nothing more, and aborts it at `abort_at`
    /// if it still runs (an answer awaited on the wire).
    fn lose(&self, job_id: &str, abort_at: Instant) {
        let relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(running) = relays.get(job_id) else {
            return;
        };
        tracing::warn!(job = %job_id, "this replica's lease of the job is lost; stopping its relay");
        running.lost.cancel();
        running.stop.cancel();
        let (hub, job_id, generation) = (Arc::clone(&self.hub), job_id.to_owned(), running.generation);
        tokio::spawn(async move {
            tokio::time::sleep_until(abort_at).await;
            let relays = hub.relays.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(task) = relays
                .get(&job_id)
                .filter(|r| r.generation == generation)
                .and_then(|r| r.task.as_ref())
            {
                task.abort();
            }
        });
    }

    /// Stops the relay of `job_id` as a shutdown would (posting what waits, recording), then
    /// hands its lease back for another replica to take.
    async fn hand_back(&self, job_id: &str) {
        // Parked meanwhile, so that the keeper does not restart it before the lease is back.
        park(&self.hub, job_id);
        let task = {
            let mut relays = self
                .hub
                .relays
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            let Some(running) = relays.get_mut(job_id) else {
                return;
            };
            running.stop.cancel();
            running.task.take()
        };
        if let Some(task) = task {
            let _ = task.await;
        }
        let replica = &self.hub.replica;
        if let Err(error) = self.hub.store.release_lease(job_id, &replica.id).await {
            tracing::warn!(%error, job = %job_id, "could not hand the lease back; it expires instead");
        }
        self.hub
            .parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(job_id);
    }

    /// The jobs whose relays run now, with when each started.
    fn running_since(&self) -> Vec<(String, Instant)> {
        let relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        relays
            .iter()
            .map(|(id, r)| (id.clone(), r.started))
            .collect()
    }

    /// Applies the stored verbosity of a job whose relay runs here (it may have been changed
    /// through another replica).
    fn sync_verbosity(&self, job: &FollowedJob) {
        let relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = relays.get(&job.job_id) {
            running.verbosity.send_if_modified(|v| {
                let changed = *v != job.verbosity;
                *v = job.verbosity;
                changed
            });
        }
    }
}

/// What happens to a lease once its relay ends by itself.
pub(super) async fn relay_ended(hub: &Arc<Hub>, job_id: &str, end: &RelayEnd) {
    match end {
        RelayEnd::Finished(_) | RelayEnd::JobDeleted | RelayEnd::Unauthorized => {
            if let Err(error) = hub.store.release_lease(job_id, &hub.replica.id).await {
                tracing::warn!(%error, "could not hand back the lease of an ended job; it expires instead");
            }
        }
        // Kept, as one process used to keep it until a restart: another replica taking it at
        // once would meet the same unreachable backend.
        RelayEnd::GaveUp => {
            park(hub, job_id);
        }
        RelayEnd::Shutdown | RelayEnd::LeaseLost => {}
    }
}

fn park(hub: &Hub, job_id: &str) {
    hub.parked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(job_id.to_owned());
}

/// The keeper task's state.
struct Keeper {
    hub: RelayHub,
    /// When the last successful renewal was sent.
    last_renewed: Instant,
}

impl Keeper {
    async fn run(mut self, stop: CancellationToken) {
        let replica = self.hub.hub.replica.clone();
        let tick = replica.tick();
        loop {
            tokio::select! {
                biased;
                () = stop.cancelled() => break,
                () = tokio::time::sleep(tick) => {}
            }
            let danger = self.last_renewed + replica.lease * 2 / 3;
            // A renewal may hang (the database unreachable): it is given until the danger
            // point, or a tick once that has passed.
            let limit = danger.max(Instant::now() + tick);
            let renewed = tokio::select! {
                () = self.renew() => true,
                () = tokio::time::sleep_until(limit) => false,
            };
            if !renewed {
                tracing::warn!("renewing the relay leases timed out");
                if let Some(metrics) = self.hub.hub.metrics.get() {
                    metrics.lease_renew_failed();
                }
            }
            if Instant::now() >= self.last_renewed + replica.lease * 2 / 3 {
                self.lose_all();
            }
        }
        let store = &self.hub.hub.store;
        match store.retire_replica(&replica.id, &replica.instance).await {
            Ok(()) => tracing::info!(replica = %replica.id, "handed every relay lease back"),
            Err(error) => {
                tracing::warn!(%error, "could not hand the relay leases back; they expire instead");
            }
        }
    }

    /// No renewal for too long: every relay stops before its lease can expire.
    fn lose_all(&self) {
        let replica = &self.hub.hub.replica;
        let abort_at = self.last_renewed + replica.lease * 5 / 6;
        let running = self.hub.running_since();
        if !running.is_empty() {
            tracing::error!(
                relays = running.len(),
                "the relay leases could not be renewed in time; stopping every relay"
            );
        }
        for (job_id, _) in running {
            self.hub.lose(&job_id, abort_at);
        }
    }

    /// One renewal, and what follows from it.
    async fn renew(&mut self) {
        let hub = &self.hub.hub;
        let replica = &hub.replica;
        let sent = Instant::now();
        let metrics = hub.metrics.get();
        match hub
            .store
            .renew(&replica.id, &replica.instance, replica.lease)
            .await
        {
            Ok(Some(renewal)) => {
                self.last_renewed = sent;
                self.reconcile(renewal, sent).await;
            }
            Ok(None) => {
                if let Some(metrics) = metrics {
                    metrics.lease_renew_failed();
                }
                tracing::error!(replica = %replica.id, "another process took this replica's id; stopping every relay");
                self.last_renewed = sent - replica.lease;
                self.lose_all();
                // Taken back once the other process is gone; until then, nothing is held.
                let _ = hub
                    .store
                    .register_replica(&replica.id, &replica.instance, replica.lease)
                    .await;
            }
            Err(error) => {
                if let Some(metrics) = metrics {
                    metrics.lease_renew_failed();
                }
                tracing::warn!(%error, "could not renew the relay leases");
            }
        }
    }

    /// Brings the relays running here in line with the leases held.
    async fn reconcile(&mut self, renewal: Renewal, sent: Instant) {
        let hub = &self.hub.hub;
        let held: HashSet<&str> = renewal.held.iter().map(|j| j.job_id.as_str()).collect();
        for (job_id, started) in self.hub.running_since() {
            // A relay started after the renewal was read may hold a lease it could not see.
            if started < sent && !held.contains(job_id.as_str()) {
                self.hub.lose(&job_id, Instant::now());
            }
        }
        let running: HashSet<String> = self
            .hub
            .running_since()
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        let parked = hub
            .parked
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        for job in &renewal.held {
            if running.contains(&job.job_id) {
                self.hub.sync_verbosity(job);
            } else if !parked.contains(&job.job_id) {
                self.start(job.clone()).await;
            }
        }
        if let Some(metrics) = hub.metrics.get() {
            metrics.set_leases_held(renewal.held.len());
        }
        if hub.shutdown.is_cancelled() {
            return;
        }
        let share = renewal.unfinished.div_ceil(renewal.live_replicas);
        let held = renewal.held.len() as u64;
        if held < share {
            self.claim(share - held).await;
        } else if held > share + 1 && renewal.live_replicas > 1 {
            self.shed(held - share, &running);
        }
    }

    /// Claims up to `n` unheld leases and starts their relays.
    async fn claim(&mut self, n: u64) {
        let hub = &self.hub.hub;
        let replica = &hub.replica;
        let claimed = match hub.store.claim_leases(&replica.id, replica.lease, n).await {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not claim relay leases");
                return;
            }
        };
        let takeovers = claimed.iter().filter(|c| c.takeover).count() as u64;
        if takeovers > 0 {
            tracing::info!(takeovers, "took over relays whose holder let the lease expire");
            if let Some(metrics) = hub.metrics.get() {
                metrics.lease_takeovers(takeovers);
            }
        }
        for claim in claimed {
            match hub.store.job(&claim.job_id).await {
                Ok(Some(job)) if !job.ended => self.start(job).await,
                Ok(_) => {}
                Err(error) => {
                    // The lease is renewed with the others and the relay started next tick.
                    tracing::warn!(%error, job = %claim.job_id, "could not read a claimed job");
                }
            }
        }
    }

    /// Hands `n` relays back, the newest first, for replicas under their share to take.
    fn shed(&self, n: u64, running: &HashSet<String>) {
        let mut newest: Vec<(String, Instant)> = self
            .hub
            .running_since()
            .into_iter()
            .filter(|(id, _)| running.contains(id))
            .collect();
        newest.sort_by_key(|(_, started)| std::cmp::Reverse(*started));
        for (job_id, _) in newest.into_iter().take(usize::try_from(n).unwrap_or(0)) {
            tracing::info!(job = %job_id, "handing a relay back: this replica holds more than its share");
            let hub = self.hub.clone();
            tokio::spawn(async move { hub.hand_back(&job_id).await });
        }
    }

    /// Starts the relay of a held job; one that cannot run here (its workspace is not
    /// configured) is said so in its thread and parked.
    async fn start(&self, job: FollowedJob) {
        let hub = &self.hub.hub;
        if hub.backends.get(&job.workspace).is_none() {
            if let Some(chat) = hub.platforms.get(&job.thread.platform) {
                super::unknown_workspace(chat.as_ref(), &job).await;
            }
            park(hub, &job.job_id);
            return;
        }
        self.hub.follow(job);
    }
}
