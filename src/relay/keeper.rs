//! The lease keeper: the task that renews this replica's heartbeat (which keeps every lease
//! it took: one row written, however many) every third of a lease, reads its leases (on a
//! shared store) every tick in between, and from what it reads:
//! - starts a relay for each lease held and not relayed (taken by a claim, or regained);
//! - stops, at once, a relay whose lease is no longer this replica's;
//! - claims leases nobody holds (new jobs of a replica that died before relaying them,
//!   expired leases of a dead replica) on the platforms it runs, up to its share (per
//!   platform, `ceil(unfinished jobs / live replicas running the platform)`),
//!   and hands relays back (gracefully) when it holds more than its share and a margin (a
//!   quarter of it, at least 2), so that a new replica gets work;
//! - applies a verbosity changed through another replica to the relays it runs.
//!
//! Never two relays of one job: a replica that has not renewed for two thirds of the lease
//! stops every relay without posting more, and aborts what still runs at five sixths, before
//! the lease (counted from the renewal's start, by the database's clock, which can only be
//! later) expires and another replica may take it.

use std::collections::HashSet;
use std::sync::PoisonError;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::RelayHub;
use super::lease::park;
use crate::store::{FollowedJob, Renewal};

/// The longest pause between two ticks of the keeper: a dead replica's jobs are claimed
/// within its lease and this.
pub(super) const MAX_TICK: Duration = Duration::from_secs(1);

/// The keeper task's state.
pub(super) struct Keeper {
    hub: RelayHub,
    /// When the last successful renewal was sent.
    last_renewed: Instant,
    /// When the last renewal was tried.
    last_attempt: Instant,
    /// No other replica can share the store (SQLite): nothing to claim between renewals.
    exclusive: bool,
}

impl Keeper {
    pub(super) fn new(hub: RelayHub, exclusive: bool) -> Keeper {
        Keeper {
            hub,
            last_renewed: Instant::now(),
            last_attempt: Instant::now(),
            exclusive,
        }
    }

    pub(super) async fn run(mut self, stop: CancellationToken) {
        let replica = self.hub.hub.replica.clone();
        // The heartbeat is written every third of a lease; between renewals a shared store is
        // read every tick, for claims and verbosity changes.
        let renew_every = replica.lease / 3;
        let tick = if self.exclusive {
            renew_every
        } else {
            replica.tick()
        };
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
            if self.last_attempt + renew_every <= Instant::now() + tick / 2 {
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
            } else {
                let _ = tokio::time::timeout_at(limit, self.look()).await;
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
        self.hub.hub.leases_failing.store(true, Ordering::Relaxed);
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

    /// Reads what a renewal would report, without renewing, and acts on it.
    async fn look(&mut self) {
        let hub = &self.hub.hub;
        let sent = Instant::now();
        match hub
            .store
            .look(
                &hub.replica.id,
                &hub.replica.instance,
                &self.hub.platform_names(),
            )
            .await
        {
            Ok(renewal) => self.reconcile(renewal, sent).await,
            Err(error) => tracing::warn!(%error, "could not read the relay leases"),
        }
    }

    /// One renewal, and what follows from it.
    pub(super) async fn renew(&mut self) {
        let hub = &self.hub.hub;
        let replica = &hub.replica;
        let sent = Instant::now();
        self.last_attempt = sent;
        let metrics = hub.metrics.get();
        match hub
            .store
            .renew(
                &replica.id,
                &replica.instance,
                replica.lease,
                &self.hub.platform_names(),
            )
            .await
        {
            Ok(Some(renewal)) => {
                self.last_renewed = sent;
                hub.leases_failing.store(false, Ordering::Relaxed);
                self.reconcile(renewal, sent).await;
            }
            Ok(None) => {
                if let Some(metrics) = metrics {
                    metrics.lease_renew_failed();
                }
                tracing::error!(replica = %replica.id, "another process took this replica's id; stopping every relay");
                self.last_renewed = sent.checked_sub(replica.lease).unwrap_or(self.last_renewed);
                self.lose_all();
                // Taken back once the other process is gone; until then, nothing is held.
                let _ = hub
                    .store
                    .register_replica(
                        &replica.id,
                        &replica.instance,
                        replica.lease,
                        &self.hub.platform_names(),
                    )
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
        hub.leases_held.store(renewal.held.len(), Ordering::Relaxed);
        if let Some(metrics) = hub.metrics.get() {
            metrics.set_leases_held(renewal.held.len());
        }
        if hub.leases_failing.load(Ordering::Relaxed) {
            // Nothing starts until a renewal succeeds again.
            return;
        }
        // A relay whose job just ended still holds its lease while it finishes.
        let held: HashSet<&str> = renewal
            .held
            .iter()
            .map(|(id, _)| id.as_str())
            .chain(renewal.finishing.iter().map(String::as_str))
            .collect();
        for (job_id, started) in self.hub.running_since() {
            // A relay started after the renewal was read may hold a lease it could not see.
            if started < sent && !held.contains(job_id.as_str()) {
                self.hub.lose(&job_id, Instant::now());
            }
        }
        if hub.shutdown.is_cancelled() {
            // Relays stopping for the shutdown are not restarted; nothing more is claimed.
            return;
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
        for (job_id, verbosity) in &renewal.held {
            if running.contains(job_id) {
                self.hub.sync_verbosity(job_id, *verbosity, sent);
            } else if !parked.contains(job_id) {
                self.start_held(job_id).await;
            }
        }
        let share = renewal.share;
        let held = renewal.held.len() as u64;
        if held < share {
            self.claim(share - held).await;
        } else if held > share + (share / 4).max(2) && renewal.live_replicas > 1 {
            // The margin keeps relays from moving as jobs end unevenly across replicas.
            self.shed(held - share, &running);
        }
    }

    /// Starts the relay of a job whose lease is held, reading it from the store. The renewal
    /// that named the lease may predate a hand-back that has released it since: the store is
    /// asked for the job only while this process holds its lease, or the relay would run
    /// beside the one of the replica that took it (both posting every line).
    async fn start_held(&self, job_id: &str) {
        let hub = &self.hub.hub;
        let replica = &hub.replica;
        match hub
            .store
            .held_job(job_id, &replica.id, &replica.instance)
            .await
        {
            Ok(Some(job)) if !job.ended => self.start(job).await,
            Ok(_) => {}
            // Tried again at the next tick.
            Err(error) => tracing::warn!(%error, job = %job_id, "could not read a held job"),
        }
    }

    /// Claims up to `n` unheld leases and starts their relays.
    async fn claim(&mut self, n: u64) {
        let hub = &self.hub.hub;
        let replica = &hub.replica;
        let platforms = self.hub.platform_names();
        let claimed = match hub
            .store
            .claim_leases(&replica.id, &replica.instance, replica.lease, n, &platforms)
            .await
        {
            Ok(claimed) => claimed,
            Err(error) => {
                tracing::warn!(%error, "could not claim relay leases");
                return;
            }
        };
        let takeovers = claimed.iter().filter(|c| c.takeover).count() as u64;
        if takeovers > 0 {
            tracing::info!(
                takeovers,
                "took over relays whose holder let the lease expire"
            );
            if let Some(metrics) = hub.metrics.get() {
                metrics.lease_takeovers(takeovers);
            }
        }
        for claim in claimed {
            self.start_held(&claim.job_id).await;
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
                super::lease::unknown_workspace(chat.as_ref(), &job).await;
            }
            park(hub, &job.job_id);
            return;
        }
        self.hub.follow(job);
    }
}
