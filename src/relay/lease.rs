//! Which relays this replica runs, when several replicas share one PostgreSQL store: this
//! replica's identity, its leases taken for new jobs, and how a relay stops when its lease is
//! lost (at once, posting nothing more) or handed back (as a shutdown would, then released).
//! The keeper task that renews and claims leases is `keeper.rs`.
//!
//! On SQLite a single process holds the file (`daemon.rs` locks it), so the same code runs
//! with one replica.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::keeper::{Keeper, MAX_TICK};
use super::{Hub, RelayEnd, RelayHub};
use crate::store::{FollowedJob, Inserted, StoreError};

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
    pub(super) fn tick(&self) -> Duration {
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
    /// Stores a new job with this replica's lease of it, in one transaction, so that no other
    /// replica claims it before its relay starts. Says whether this replica took the lease
    /// (otherwise its holder relays the job) and the verbosity the job got (its thread's).
    pub async fn insert_leased(&self, job: &FollowedJob) -> Result<Inserted, StoreError> {
        let replica = &self.hub.replica;
        self.hub
            .store
            .insert_leased_job(job, &replica.id, &replica.instance, replica.lease)
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
            .register_replica(
                &replica.id,
                &replica.instance,
                replica.lease,
                &self.platform_names(),
            )
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
        let mut keeper = Keeper::new(self.clone(), exclusive);
        keeper.renew().await;
        tracing::info!(replica = %replica.id, relays = self.running(), lease = ?replica.lease, "holding relay leases");
        Ok(tokio::spawn(keeper.run(stop)))
    }

    /// The names of the platforms this replica runs: the jobs it may relay.
    pub(super) fn platform_names(&self) -> Vec<&'static str> {
        let mut names: Vec<&'static str> = self.hub.platforms.keys().map(|p| p.name()).collect();
        names.sort_unstable();
        names
    }

    /// This replica's id.
    pub fn replica_id(&self) -> &str {
        &self.hub.replica.id
    }

    /// How many leases this replica held at its last renewal.
    pub fn leases_held(&self) -> usize {
        self.hub.leases_held.load(Ordering::Relaxed)
    }

    /// Whether renewals have failed long enough that every relay was stopped (until one
    /// succeeds).
    pub fn leases_failing(&self) -> bool {
        self.hub.leases_failing.load(Ordering::Relaxed)
    }

    /// Stops the relay of `job_id` at once, posting nothing more, and aborts it at `abort_at`
    /// if it still runs (an answer awaited on the wire).
    pub(super) fn lose(&self, job_id: &str, abort_at: Instant) {
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
        let (hub, job_id, generation) =
            (Arc::clone(&self.hub), job_id.to_owned(), running.generation);
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
    pub(super) async fn hand_back(&self, job_id: &str) {
        let task = {
            let mut relays = self
                .hub
                .relays
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            // A relay that ended meanwhile has settled its lease itself (`relay_ended`).
            let Some(running) = relays.get_mut(job_id) else {
                return;
            };
            // Parked meanwhile, so that the keeper does not restart it before the lease is
            // back.
            park(&self.hub, job_id);
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
    pub(super) fn running_since(&self) -> Vec<(String, Instant)> {
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
    /// through another replica), as read by a query sent at `read_sent`. A read sent before
    /// the verbosity was last set here may predate that change: it is not applied, or a
    /// `verbose` typed a moment ago would be undone until the next read (the relay bench lost
    /// events to it).
    pub(super) fn sync_verbosity(
        &self,
        job_id: &str,
        verbosity: crate::store::Verbosity,
        read_sent: tokio::time::Instant,
    ) {
        let relays = self
            .hub
            .relays
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(running) = relays.get(job_id)
            && running.verbosity_set < read_sent
        {
            running.verbosity.send_if_modified(|v| {
                let changed = *v != verbosity;
                *v = verbosity;
                changed
            });
        }
    }
}

/// What happens to a lease once its relay ends by itself. A job that ended had its lease
/// handed back with its end (`Store::finish_relay`, one transaction; kept if that failed, for
/// the keeper to start the relay again). One whose backend was unreachable keeps it, as one
/// process used to keep it until a restart: another replica taking it at once would meet the
/// same unreachable backend.
pub(super) fn relay_ended(hub: &Hub, job_id: &str, end: &RelayEnd) {
    if matches!(end, RelayEnd::GaveUp) {
        park(hub, job_id);
    }
}

pub(super) fn park(hub: &Hub, job_id: &str) {
    hub.parked
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(job_id.to_owned());
}

/// A job whose workspace the configuration no longer has cannot be followed (no token for
/// it). It stays unfinished in the store, so that a restart with the workspace configured
/// again resumes it; until then the thread and the log say why nothing moves.
pub(crate) async fn unknown_workspace(chat: &dyn mosaic_chat::ChatPlatform, job: &FollowedJob) {
    tracing::error!(
        job = %job.job_id,
        workspace = %job.workspace,
        "the job's backend workspace is not configured; cannot relay this job"
    );
    let text = format!(
        "I cannot follow job {} any more: its backend workspace ({}) is not in my configuration. \
         An admin can add it back under [workspaces]; I resume from where I stopped.",
        job.job_id,
        if job.workspace.is_empty() {
            "none recorded"
        } else {
            &job.workspace
        }
    );
    if let Err(error) = chat.post(&job.thread, &text).await {
        tracing::error!(%error, "cannot say in the thread why the job is not followed");
    }
}
