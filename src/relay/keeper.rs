//! The lease keeper: the task that renews this replica's heartbeat and leases together every
//! tick, and from the same renewal:
//! - starts a relay for each lease held and not relayed (taken by a claim, or regained);
//! - stops, at once, a relay whose lease is no longer this replica's;
//! - claims leases nobody holds (new jobs of a replica that died before relaying them,
//!   expired leases of a dead replica) up to its share, `ceil(unfinished / live replicas)`,
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
}

impl Keeper {
    pub(super) fn new(hub: RelayHub) -> Keeper {
        Keeper {
            hub,
            last_renewed: Instant::now(),
        }
    }

    pub(super) async fn run(mut self, stop: CancellationToken) {
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

    /// One renewal, and what follows from it.
    pub(super) async fn renew(&mut self) {
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
                hub.leases_failing.store(false, Ordering::Relaxed);
                hub.leases_held.store(renewal.held.len(), Ordering::Relaxed);
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
        } else if held > share + (share / 4).max(2) && renewal.live_replicas > 1 {
            // The margin keeps relays from moving as jobs end unevenly across replicas.
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
            tracing::info!(
                takeovers,
                "took over relays whose holder let the lease expire"
            );
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
                super::lease::unknown_workspace(chat.as_ref(), &job).await;
            }
            park(hub, &job.job_id);
            return;
        }
        self.hub.follow(job);
    }
}
