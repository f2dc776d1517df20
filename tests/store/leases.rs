//! Replicas and relay leases: taken once, held while their holder's heartbeat lives, claimed
//! when free or expired (counted as takeovers then), handed back on a graceful stop; a replica
//! id held by a live process refused to another.

use std::time::Duration;

use mosaic_bot::store::{Store, Verbosity};

use crate::support::{Db, issue, job, thread};

/// A lease that cannot expire during a test, and one that is over at once.
const LONG: Duration = Duration::from_secs(3600);
const GONE: Duration = Duration::ZERO;
/// The platform of the jobs `support::job` makes.
const CONSOLE: &[&str] = &["console"];

/// Registers replica `id` (process `instance`) on the console platform.
async fn register(store: &Store, id: &str, instance: &str, ttl: Duration) -> bool {
    store
        .register_replica(id, instance, ttl, CONSOLE)
        .await
        .expect("registers")
}

/// Follows a console job per `(id, issue number)`.
async fn insert(store: &Store, jobs: &[(&str, u64)]) {
    for (id, n) in jobs {
        store
            .insert_job(&job(id, thread("c", id), issue(*n)))
            .await
            .expect("inserted");
    }
}

pub async fn a_lease_is_taken_once_until_it_expires(db: &Db) {
    let store = db.open().await;
    assert!(
        store
            .take_lease("j1", "r1", "i1", LONG)
            .await
            .expect("takes")
    );
    assert!(
        !store
            .take_lease("j1", "r2", "i2", LONG)
            .await
            .expect("asks")
    );
    assert_eq!(
        store.lease_holder("j1").await.expect("reads").as_deref(),
        Some("r1")
    );
    assert!(
        store
            .take_lease("j2", "r1", "i1", GONE)
            .await
            .expect("takes")
    );
    assert!(
        store
            .take_lease("j2", "r2", "i2", LONG)
            .await
            .expect("takes over")
    );
    assert_eq!(
        store.lease_holder("j2").await.expect("reads").as_deref(),
        Some("r2")
    );
}

pub async fn renewals_count_replicas_and_find_held_unfinished_jobs(db: &Db) {
    let store = db.open().await;
    insert(&store, &[("j1", 1), ("j2", 2), ("j3", 3)]).await;
    assert!(register(&store, "r1", "i1", LONG).await, "registers");
    assert!(register(&store, "r2", "i2", LONG).await, "registers");
    assert!(register(&store, "dead", "i3", GONE).await, "registers");
    assert!(
        store
            .take_lease("j1", "r1", "i1", LONG)
            .await
            .expect("takes")
    );
    assert!(
        store
            .take_lease("j2", "r2", "i2", LONG)
            .await
            .expect("takes")
    );
    store.finish("j2", "COMPLETED").await.expect("finished");
    let renewal = store
        .renew("r1", "i1", LONG, CONSOLE)
        .await
        .expect("renews")
        .expect("ours");
    let held: Vec<&str> = renewal.held.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(held, ["j1"]);
    assert_eq!(renewal.held[0].1, Verbosity::Milestones);
    // A look between renewals reports the same, and sees a verbosity changed meanwhile.
    store
        .set_verbosity(&thread("c", "j1"), Verbosity::Verbose)
        .await
        .expect("set");
    let look = store.look("r1", "i1", CONSOLE).await.expect("reads");
    assert_eq!(look.held, [("j1".to_owned(), Verbosity::Verbose)]);
    // Two unfinished jobs on the console, two live replicas running it: one each.
    assert_eq!((look.live_replicas, look.share), (2, 1));
    assert_eq!(renewal.live_replicas, 2, "the expired one does not count");
    assert_eq!(renewal.share, 1);
    // A replica running another platform alone has no share of these jobs.
    assert!(
        store
            .register_replica("slack-only", "i5", LONG, &["slack"])
            .await
            .expect("registers")
    );
    let other = store
        .look("slack-only", "i5", &["slack"])
        .await
        .expect("reads");
    assert_eq!((other.live_replicas, other.share), (3, 0));
    // Another process under the same id renews nothing.
    assert_eq!(
        store
            .renew("r1", "other", LONG, CONSOLE)
            .await
            .expect("asks"),
        None
    );
}

pub async fn a_live_replica_id_is_refused_to_another_process(db: &Db) {
    let store = db.open().await;
    assert!(register(&store, "r1", "i1", LONG).await, "registers");
    assert!(register(&store, "r1", "i1", LONG).await, "again");
    assert!(!register(&store, "r1", "i2", LONG).await, "refused");
    assert!(register(&store, "r2", "i3", GONE).await, "registers");
    assert!(register(&store, "r2", "i4", LONG).await, "expired: taken");
}

pub async fn claims_take_free_and_expired_leases_once(db: &Db) {
    let store = db.open().await;
    insert(&store, &[("j1", 1), ("j2", 2), ("j3", 3), ("j4", 4)]).await;
    assert!(
        store
            .take_lease("j1", "r1", "i1", LONG)
            .await
            .expect("takes")
    );
    assert!(
        store
            .take_lease("j2", "dead", "i3", GONE)
            .await
            .expect("takes")
    );
    store.finish("j4", "COMPLETED").await.expect("finished");
    let first = store
        .claim_leases("r2", "i2", LONG, 1, CONSOLE)
        .await
        .expect("claims");
    assert_eq!(first.len(), 1, "{first:?}");
    assert_eq!(first[0].job_id, "j2");
    assert!(first[0].takeover, "an expired lease is taken over");
    // Nothing is claimed for a platform the claimer does not run.
    assert!(
        store
            .claim_leases("r9", "i9", LONG, 10, &["slack"])
            .await
            .expect("claims")
            .is_empty()
    );
    let rest = store
        .claim_leases("r3", "i3", LONG, 10, CONSOLE)
        .await
        .expect("claims");
    assert_eq!(rest.len(), 1, "only j3 is free: {rest:?}");
    assert_eq!(rest[0].job_id, "j3");
    assert!(!rest[0].takeover);
    assert!(
        store
            .claim_leases("r3", "i3", LONG, 10, CONSOLE)
            .await
            .expect("claims")
            .is_empty()
    );
    // Concurrent claimers never share a lease.
    let more: Vec<(String, u64)> = (10..30).map(|n| (format!("k{n}"), n)).collect();
    let more: Vec<(&str, u64)> = more.iter().map(|(id, n)| (id.as_str(), *n)).collect();
    insert(&store, &more).await;
    let claims = (0..4).map(|i| {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .claim_leases(&format!("c{i}"), &format!("i{i}"), LONG, 20, CONSOLE)
                .await
        })
    });
    let mut all = Vec::new();
    for claim in claims {
        all.extend(claim.await.expect("joins").expect("claims"));
    }
    let mut ids: Vec<String> = all.into_iter().map(|c| c.job_id).collect();
    ids.sort();
    let before = ids.len();
    ids.dedup();
    assert_eq!((before, ids.len()), (20, 20), "each of the 20 claimed once");
}

pub async fn a_retired_replica_hands_every_lease_back(db: &Db) {
    let store = db.open().await;
    assert!(register(&store, "r1", "i1", LONG).await, "registers");
    assert!(
        store
            .take_lease("j1", "r1", "i1", LONG)
            .await
            .expect("takes")
    );
    assert!(
        store
            .take_lease("j2", "r2", "i2", LONG)
            .await
            .expect("takes")
    );
    store
        .release_lease("j2", "r1")
        .await
        .expect("not its lease: kept");
    assert_eq!(
        store.lease_holder("j2").await.expect("reads").as_deref(),
        Some("r2")
    );
    store.retire_replica("r1", "i1").await.expect("retires");
    assert_eq!(store.lease_holder("j1").await.expect("reads"), None);
    assert!(register(&store, "r1", "i9", LONG).await, "the id is free");
}

pub async fn a_lease_lives_as_long_as_its_holders_heartbeat(db: &Db) {
    let store = db.open().await;
    insert(&store, &[("j1", 1), ("j2", 2)]).await;
    assert!(register(&store, "r1", "i1", LONG).await, "registers");
    assert!(register(&store, "r2", "i2", LONG).await, "registers");
    // Their own expiry passes at once: the heartbeat alone holds them.
    assert!(
        store
            .take_lease("j1", "r1", "i1", GONE)
            .await
            .expect("takes")
    );
    assert!(
        !store
            .take_lease("j1", "r2", "i2", LONG)
            .await
            .expect("asks")
    );
    let claimed = store
        .claim_leases("r2", "i2", GONE, 10, CONSOLE)
        .await
        .expect("claims");
    let claimed: Vec<&str> = claimed.iter().map(|c| c.job_id.as_str()).collect();
    assert_eq!(claimed, ["j2"], "j1 is held by r1's heartbeat");
    let look = store.look("r1", "i1", CONSOLE).await.expect("reads");
    assert_eq!(look.held, [("j1".to_owned(), Verbosity::Milestones)]);
    // The heartbeat expires: the lease with it.
    store
        .renew("r1", "i1", GONE, CONSOLE)
        .await
        .expect("renews")
        .expect("ours");
    let taken = store
        .claim_leases("r2", "i2", GONE, 10, CONSOLE)
        .await
        .expect("claims");
    assert_eq!(taken.len(), 1, "{taken:?}");
    assert_eq!(taken[0].job_id, "j1");
    assert!(taken[0].takeover);
    // A later process under r2's id does not inherit the leases of the one that died.
    store
        .renew("r2", "i2", GONE, CONSOLE)
        .await
        .expect("renews")
        .expect("ours");
    assert!(register(&store, "r2", "i9", LONG).await, "expired: taken");
    let look = store.look("r2", "i9", CONSOLE).await.expect("reads");
    assert!(look.held.is_empty(), "{:?}", look.held);
    let again = store
        .claim_leases("r2", "i9", LONG, 10, CONSOLE)
        .await
        .expect("claims");
    assert_eq!(again.len(), 2, "{again:?}");
    assert!(again.iter().all(|c| c.takeover), "{again:?}");
    assert_eq!(
        store.lease_holder("j2").await.expect("reads").as_deref(),
        Some("r2")
    );
}

pub async fn a_job_is_inserted_with_its_lease_in_one_transaction(db: &Db) {
    let store = db.open().await;
    let new = |id: &str, n| job(id, thread("c", id), issue(n));
    assert!(
        store
            .insert_leased_job(&new("j1", 1), "r1", "i1", LONG)
            .await
            .expect("inserts")
            .leased
    );
    assert_eq!(
        store.lease_holder("j1").await.expect("reads").as_deref(),
        Some("r1")
    );
    assert!(store.job("j1").await.expect("reads").is_some());
    // Someone else's lease: the job is still followed, by that holder.
    assert!(
        store
            .take_lease("j2", "r2", "i2", LONG)
            .await
            .expect("takes")
    );
    assert!(
        !store
            .insert_leased_job(&new("j2", 2), "r1", "i1", LONG)
            .await
            .expect("inserts")
            .leased
    );
    assert_eq!(
        store.lease_holder("j2").await.expect("reads").as_deref(),
        Some("r2")
    );
    assert!(store.job("j2").await.expect("reads").is_some());
    // A job followed already: refused, and its lease is not taken either.
    insert(&store, &[("j3", 3)]).await;
    let refused = store
        .insert_leased_job(&new("j3", 3), "r1", "i1", LONG)
        .await;
    assert!(
        matches!(refused, Err(mosaic_bot::store::StoreError::DuplicateJob(ref id)) if id == "j3"),
        "{refused:?}"
    );
    assert_eq!(store.lease_holder("j3").await.expect("reads"), None);
}

pub async fn a_relay_ends_its_job_in_one_transaction(db: &Db) {
    let store = db.open().await;
    for (id, n) in [("j1", 1), ("j2", 2)] {
        assert!(
            store
                .insert_leased_job(&job(id, thread("c", id), issue(n)), "r1", "i1", LONG)
                .await
                .expect("inserts")
                .leased
        );
    }
    let at = |id: &str, seq| mosaic_bot::store::Position {
        job_id: id.to_owned(),
        event_id: format!("{id}-e{seq}"),
        seq,
        post_id: Some(format!("{id}-p{seq}")),
        settled: true,
    };
    store
        .record_positions(&[at("j1", 7)])
        .await
        .expect("records");
    // Its last position (behind the stored one here: it stays), final status, lease back.
    store
        .finish_relay("j1", "COMPLETED", Some(&at("j1", 5)), "r1")
        .await
        .expect("finishes");
    let j1 = store.job("j1").await.expect("reads").expect("kept");
    assert!(j1.ended);
    assert_eq!(j1.status, "COMPLETED");
    assert_eq!(
        (j1.last_event_seq, j1.last_post_id.as_deref()),
        (7, Some("j1-p7"))
    );
    assert_eq!(store.lease_holder("j1").await.expect("reads"), None);
    // Another holder's end hands nothing back; a position ahead is recorded.
    store
        .finish_relay("j2", "FAILED", Some(&at("j2", 4)), "r2")
        .await
        .expect("finishes");
    let j2 = store.job("j2").await.expect("reads").expect("kept");
    assert_eq!((j2.status.as_str(), j2.last_event_seq), ("FAILED", 4));
    assert_eq!(
        store.lease_holder("j2").await.expect("reads").as_deref(),
        Some("r1")
    );
    // A job the store does not follow: refused, and nothing is written.
    assert!(
        store
            .take_lease("ghost", "r1", "i1", LONG)
            .await
            .expect("takes")
    );
    let unknown = store.finish_relay("ghost", "COMPLETED", None, "r1").await;
    assert!(
        matches!(unknown, Err(mosaic_bot::store::StoreError::UnknownJob(_))),
        "{unknown:?}"
    );
    assert_eq!(
        store.lease_holder("ghost").await.expect("reads").as_deref(),
        Some("r1")
    );
}

/// The job `held_job` gives `holder` (process `instance`) for `job_id`, by its id.
async fn held(store: &Store, job_id: &str, holder: &str, instance: &str) -> Option<String> {
    let job = store.held_job(job_id, holder, instance).await;
    job.expect("reads").map(|j| j.job_id)
}

pub async fn a_held_job_is_read_only_by_its_lease_holder(db: &Db) {
    let store = db.open().await;
    insert(&store, &[("j1", 1), ("j2", 2)]).await;
    assert!(register(&store, "r1", "i1", LONG).await, "registers");
    assert!(register(&store, "r2", "i2", LONG).await, "registers");
    let taken = store.take_lease("j1", "r1", "i1", LONG).await;
    assert!(taken.expect("takes"));
    assert_eq!(held(&store, "j1", "r1", "i1").await.as_deref(), Some("j1"));
    // Another replica, another process with the same id, an unleased job: none.
    assert_eq!(held(&store, "j1", "r2", "i2").await, None);
    assert_eq!(held(&store, "j1", "r1", "i9").await, None);
    assert_eq!(held(&store, "j2", "r1", "i1").await, None);
    // Handed back (a renewal read before the release still names it): none for the old
    // holder, the job for the replica that takes it.
    store.release_lease("j1", "r1").await.expect("releases");
    assert_eq!(held(&store, "j1", "r1", "i1").await, None);
    let taken = store.take_lease("j1", "r2", "i2", LONG).await;
    assert!(taken.expect("takes"));
    assert_eq!(held(&store, "j1", "r1", "i1").await, None);
    assert_eq!(held(&store, "j1", "r2", "i2").await.as_deref(), Some("j1"));
}
