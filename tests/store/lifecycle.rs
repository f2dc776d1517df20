//! Job starts and relay ends of two replicas at once, as thousands of jobs starting and
//! ending make them: on SQLite through the group commit, on PostgreSQL through each store's
//! writer connection. Each write gets the answer it would get alone, a job and its lease are
//! never seen apart, and a thread's verbosity reaches the jobs started in it.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use mosaic_bot::store::{Position, StoreError, Verbosity};

use super::support::{Db, issue, job, thread};

const LONG: Duration = Duration::from_secs(3600);

/// Two replicas start the same jobs at once (a race no caller makes on purpose, but one the
/// store must decide): each job is inserted once, with the winner's lease, and the loser hears
/// `DuplicateJob`. A third replica claiming free leases all the while never finds a job
/// without its lease. Then the winners end every relay at once, beside ends of jobs nobody
/// follows: each job ends with its own status and position, its lease handed back.
pub(crate) async fn job_starts_and_relay_ends_at_once_each_land(db: &Db) {
    const JOBS: usize = 48;
    let (one, other, claimer) = (db.open().await, db.open().await, db.open().await);
    // A thread with a job set to verbose: the jobs started there at once take its verbosity.
    let mut first = job("v0", thread("c", "shared"), issue(1000));
    first.verbosity = Verbosity::Verbose;
    one.insert_job(&first).await.expect("inserts");
    let at = |k: usize| {
        if k.is_multiple_of(4) {
            thread("c", "shared")
        } else {
            thread("c", &format!("t{k}"))
        }
    };
    let starting = Arc::new(AtomicBool::new(true));
    let claims = {
        let starting = starting.clone();
        tokio::spawn(async move {
            let mut claimed = Vec::new();
            while starting.load(Ordering::Relaxed) {
                let taken = claimer
                    .claim_leases("r3", "i3", LONG, 100, &["console"])
                    .await
                    .expect("claims");
                claimed.extend(taken.into_iter().map(|c| c.job_id));
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            claimed
        })
    };
    let start = Arc::new(tokio::sync::Barrier::new(2 * JOBS));
    let mut starts = Vec::new();
    for k in 0..JOBS {
        for (replica, store) in [&one, &other].into_iter().enumerate() {
            let (store, start, thread) = (store.clone(), start.clone(), at(k));
            starts.push(tokio::spawn(async move {
                start.wait().await;
                let started = job(&format!("j{k}"), thread, issue(k as u64 + 1));
                let (holder, instance) = (format!("r{}", replica + 1), format!("i{replica}"));
                let inserted = store
                    .insert_leased_job(&started, &holder, &instance, LONG)
                    .await;
                (k, holder, inserted)
            }));
        }
    }
    let mut winners: Vec<Option<String>> = vec![None; JOBS];
    for task in starts {
        let (k, holder, inserted) = task.await.expect("task");
        match inserted {
            Ok(inserted) => {
                assert!(inserted.leased, "j{k}");
                let expected = if k.is_multiple_of(4) {
                    Verbosity::Verbose
                } else {
                    Verbosity::Milestones
                };
                assert_eq!(inserted.verbosity, expected, "j{k}");
                assert_eq!(winners[k].replace(holder), None, "j{k} inserted twice");
            }
            Err(StoreError::DuplicateJob(id)) => assert_eq!(id, format!("j{k}")),
            Err(error) => panic!("j{k}: {error}"),
        }
    }
    starting.store(false, Ordering::Relaxed);
    let claimed = claims.await.expect("task");
    assert_eq!(claimed, ["v0"], "only the job started without a lease");
    let winners: Vec<String> = winners
        .into_iter()
        .enumerate()
        .map(|(k, w)| w.unwrap_or_else(|| panic!("j{k} inserted by nobody")))
        .collect();
    for (k, holder) in winners.iter().enumerate() {
        let id = format!("j{k}");
        let stored = one.job(&id).await.expect("reads").expect("kept");
        assert_eq!(stored.issue.number(), k as u64 + 1);
        assert_eq!(
            one.lease_holder(&id).await.expect("reads").as_deref(),
            Some(holder.as_str())
        );
    }

    let end = Arc::new(tokio::sync::Barrier::new(2 * JOBS));
    let mut ends = Vec::new();
    for (k, holder) in winners.iter().enumerate() {
        let (store, go, holder) = (
            if holder == "r1" { &one } else { &other }.clone(),
            end.clone(),
            holder.clone(),
        );
        ends.push(tokio::spawn(async move {
            go.wait().await;
            let id = format!("j{k}");
            let position = Position {
                job_id: id.clone(),
                event_id: format!("e{k}"),
                seq: k as u64 + 1,
                post_id: Some(format!("p{k}")),
                settled: k.is_multiple_of(2),
            };
            let ended = store
                .finish_relay(&id, &format!("DONE-{k}"), Some(&position), &holder)
                .await;
            (id, ended)
        }));
        let (store, go) = (
            if k.is_multiple_of(2) { &one } else { &other }.clone(),
            end.clone(),
        );
        ends.push(tokio::spawn(async move {
            go.wait().await;
            let id = format!("ghost{k}");
            let ended = store.finish_relay(&id, "DONE", None, "r1").await;
            (id, ended)
        }));
    }
    for task in ends {
        let (id, ended) = task.await.expect("task");
        if id.starts_with("ghost") {
            assert!(
                matches!(ended, Err(StoreError::UnknownJob(ref unknown)) if *unknown == id),
                "{id}: {ended:?}"
            );
        } else {
            ended.unwrap_or_else(|error| panic!("{id}: {error}"));
        }
    }
    for k in 0..JOBS {
        let id = format!("j{k}");
        let stored = other.job(&id).await.expect("reads").expect("kept");
        assert!(stored.ended, "{id}");
        assert_eq!(stored.status, format!("DONE-{k}"));
        assert_eq!(
            (
                stored.last_event_id.as_deref(),
                stored.last_event_seq,
                stored.last_post_id.as_deref(),
                stored.posts_settled,
            ),
            (
                Some(format!("e{k}").as_str()),
                k as u64 + 1,
                Some(format!("p{k}").as_str()),
                k.is_multiple_of(2)
            ),
            "{id}"
        );
        assert_eq!(other.lease_holder(&id).await.expect("reads"), None, "{id}");
    }
    let open: Vec<String> = other
        .unfinished()
        .await
        .expect("reads")
        .into_iter()
        .map(|j| j.job_id)
        .collect();
    assert_eq!(open, ["v0"], "every other job ended");
    assert_eq!(other.job("ghost0").await.expect("reads"), None);
}
