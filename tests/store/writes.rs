//! Writes made at the same time, as thousands of jobs starting make them: on SQLite they run
//! in group commits, on PostgreSQL the small ones on the writer's connection (dedupe keys
//! decided together) and the others side by side; either way each gets its own answer, and a
//! failing one takes nothing of the others with it. And a job's start taking its thread's
//! verbosity in the insert itself.

use std::sync::Arc;
use std::time::Duration;

use mosaic_bot::store::{Engine, Inserted, StoreError, Verbosity};

use super::HOUR;
use super::support::{Db, issue, job, thread};

const LONG: Duration = Duration::from_secs(3600);

pub(crate) async fn a_new_job_takes_its_threads_verbosity_in_its_insert(db: &Db) {
    let store = db.open().await;
    let mut first = job("j1", thread("c", "t"), issue(1));
    first.verbosity = Verbosity::Verbose;
    // A thread without jobs: the verbosity given.
    let inserted = store
        .insert_leased_job(&first, "r1", "i1", LONG)
        .await
        .expect("inserts");
    assert_eq!(
        inserted,
        Inserted {
            leased: true,
            verbosity: Verbosity::Verbose
        }
    );
    store
        .set_verbosity(&thread("c", "t"), Verbosity::Quiet)
        .await
        .expect("sets");
    // The thread's jobs say quiet: the next job there is quiet, whatever it was given.
    let inserted = store
        .insert_leased_job(&job("j2", thread("c", "t"), issue(2)), "r1", "i1", LONG)
        .await
        .expect("inserts");
    assert_eq!(inserted.verbosity, Verbosity::Quiet);
    let j2 = store.job("j2").await.expect("reads").expect("kept");
    assert_eq!(j2.verbosity, Verbosity::Quiet);
    // Another thread of the channel, and the same thread id in another channel, are not it.
    for (id, n, at) in [("j3", 3, thread("c", "u")), ("j4", 4, thread("d", "t"))] {
        let inserted = store
            .insert_leased_job(&job(id, at, issue(n)), "r1", "i1", LONG)
            .await
            .expect("inserts");
        assert_eq!(inserted.verbosity, Verbosity::Milestones, "{id}");
        let stored = store.job(id).await.expect("reads").expect("kept");
        assert_eq!(stored.verbosity, Verbosity::Milestones, "{id}");
    }
    // A plain insert keeps the verbosity it is given.
    store
        .insert_job(&job("j5", thread("c", "t"), issue(5)))
        .await
        .expect("inserts");
    let j5 = store.job("j5").await.expect("reads").expect("kept");
    assert_eq!(j5.verbosity, Verbosity::Milestones);
}

pub(crate) async fn writes_at_once_each_get_their_own_answer(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("dup", thread("c", "dup"), issue(999)))
        .await
        .expect("inserts");
    const JOBS: usize = 40;
    let start = Arc::new(tokio::sync::Barrier::new(3 * JOBS + 2));
    let mut inserts = Vec::new();
    let mut sightings = Vec::new();
    for i in 0..JOBS {
        let (writer, begin) = (store.clone(), start.clone());
        inserts.push(tokio::spawn(async move {
            let (store, start) = (writer, begin);
            let id = format!("j{i}");
            start.wait().await;
            let at = thread("c", &id);
            let inserted = store
                .insert_leased_job(&job(&id, at, issue(i as u64 + 1)), "r1", "i1", LONG)
                .await?;
            store.set_card(&id, &format!("card-{i}")).await?;
            Ok::<Inserted, StoreError>(inserted)
        }));
        // Each message delivered twice at once: one first sight between them.
        for _ in 0..2 {
            let (store, start) = (store.clone(), start.clone());
            sightings.push(tokio::spawn(async move {
                start.wait().await;
                (i, store.first_sight_acted(&format!("m{i}"), HOUR).await)
            }));
        }
    }
    // Two writes that fail, among the others: a job followed already, a card of no job.
    let duplicate = {
        let (store, start) = (store.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            store
                .insert_leased_job(&job("dup", thread("c", "x"), issue(998)), "r1", "i1", LONG)
                .await
        })
    };
    let ghost = ghost_card(&store, &start);
    for insert in inserts {
        let inserted = insert
            .await
            .expect("task")
            .expect("inserts and sets the card");
        assert!(inserted.leased);
    }
    let mut firsts = [0; JOBS];
    for sighting in sightings {
        let (i, first) = sighting.await.expect("task");
        firsts[i] += usize::from(first.expect("first_sight"));
    }
    assert_eq!(firsts, [1; JOBS]);
    let duplicate = duplicate.await.expect("task");
    assert!(
        matches!(duplicate, Err(StoreError::DuplicateJob(ref id)) if id == "dup"),
        "{duplicate:?}"
    );
    let ghost = ghost.await.expect("task");
    assert!(
        matches!(ghost, Err(StoreError::UnknownJob(ref id)) if id == "ghost"),
        "{ghost:?}"
    );
    // Everything the successful writes wrote is there; nothing of the failed ones.
    for i in 0..JOBS {
        let id = format!("j{i}");
        let stored = store.job(&id).await.expect("reads").expect("kept");
        assert_eq!(stored.card_message_id, Some(format!("card-{i}")));
        assert_eq!(
            store.lease_holder(&id).await.expect("reads").as_deref(),
            Some("r1")
        );
        assert!(store.acted(&format!("m{i}")).await.expect("reads"));
    }
    let dup = store.job("dup").await.expect("reads").expect("kept");
    assert_eq!(dup.issue.number(), 999, "the first insert stays");
    assert_eq!(store.lease_holder("dup").await.expect("reads"), None);
    assert_eq!(store.job("ghost").await.expect("reads"), None);
}

pub(crate) async fn a_relay_end_without_a_position_keeps_the_stored_one(db: &Db) {
    let store = db.open().await;
    for (id, n) in [("j1", 1), ("j2", 2)] {
        store
            .insert_leased_job(&job(id, thread("c", id), issue(n)), "r1", "i1", LONG)
            .await
            .expect("inserts");
    }
    let at = |seq| mosaic_bot::store::Position {
        job_id: "j1".to_owned(),
        event_id: format!("e{seq}"),
        seq,
        post_id: None,
        settled: false,
    };
    store.record_positions(&[at(6)]).await.expect("records");
    store
        .finish_relay("j1", "CANCELLED", None, "r1")
        .await
        .expect("finishes");
    let j1 = store.job("j1").await.expect("reads").expect("kept");
    assert_eq!(
        (j1.status.as_str(), j1.ended, j1.last_event_seq),
        ("CANCELLED", true, 6)
    );
    assert_eq!(j1.last_event_id.as_deref(), Some("e6"));
    assert_eq!(store.lease_holder("j1").await.expect("reads"), None);
    // The same position again settles the relay, and its post id is kept when none is given.
    let settled = mosaic_bot::store::Position {
        post_id: Some("p9".to_owned()),
        settled: true,
        ..at(6)
    };
    store
        .finish_relay("j1", "CANCELLED", Some(&settled), "r1")
        .await
        .expect("finishes again");
    let j1 = store.job("j1").await.expect("reads").expect("kept");
    assert_eq!(
        (j1.last_post_id.as_deref(), j1.posts_settled),
        (Some("p9"), true)
    );
    // The other job is untouched by either.
    let j2 = store.job("j2").await.expect("reads").expect("kept");
    assert_eq!((j2.ended, j2.last_event_seq), (false, 0));
    assert_eq!(
        store.lease_holder("j2").await.expect("reads").as_deref(),
        Some("r1")
    );
}

/// Two replicas (two stores on one database) deciding the same dedupe keys at once, in opposite
/// orders and in groups, some keys expired and taken over: each key has one first sighting
/// between them, and its acted mark is the one that sighting asked for.
pub(crate) async fn replicas_deciding_shared_keys_at_once_agree_on_one_first(db: &Db) {
    const KEYS: usize = 64;
    let (one, other) = (db.open().await, db.open().await);
    // Every other key was seen already, acted on, and its time is up: it is new again.
    let short = Duration::from_secs(1);
    for k in (0..KEYS).step_by(2) {
        assert!(
            one.first_sight_acted(&format!("k{k}"), short)
                .await
                .expect("seen")
        );
    }
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let start = Arc::new(tokio::sync::Barrier::new(4 * KEYS));
    let mut tasks = Vec::new();
    for (replica, store) in [&one, &other].into_iter().enumerate() {
        for n in 0..2 * KEYS {
            let (store, start) = (store.clone(), start.clone());
            // The first replica goes up the keys, the second down: opposite orders.
            let k = if replica == 0 {
                n / 2
            } else {
                KEYS - 1 - n / 2
            };
            let acted = (n + replica) % 2 == 0;
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                let key = format!("k{k}");
                let first = if acted {
                    store.first_sight_acted(&key, HOUR).await
                } else {
                    store.first_sight(&key, HOUR).await
                };
                (k, acted, first)
            }));
        }
    }
    let mut firsts = [0; KEYS];
    let mut acted_by_first = [false; KEYS];
    for task in tasks {
        let (k, acted, first) = task.await.expect("task");
        if first.expect("first_sight") {
            firsts[k] += 1;
            acted_by_first[k] = acted;
        }
    }
    assert_eq!(firsts, [1; KEYS]);
    for (k, acted) in acted_by_first.into_iter().enumerate() {
        let key = format!("k{k}");
        assert_eq!(one.acted(&key).await.expect("reads"), acted, "{key}");
        assert!(!other.first_sight(&key, HOUR).await.expect("seen"), "{key}");
    }
}

/// Cards and verbosity changes of many jobs and threads at once (in groups): each job gets its
/// card and its thread's verbosity, a thread nobody named keeps its own, a thread without jobs
/// is left as it is, and a card of no job is refused without taking the others with it.
pub(crate) async fn cards_and_verbosity_changes_at_once_each_land(db: &Db) {
    cards_and_verbosity_changes_at_once(db, true).await;
}

/// The same without a card of no job: on SQLite the group's writes of each kind are decided
/// together and commit as they were decided, with no write run again alone.
pub(crate) async fn cards_and_verbosity_changes_of_one_group_land_as_decided(db: &Db) {
    cards_and_verbosity_changes_at_once(db, false).await;
}

async fn cards_and_verbosity_changes_at_once(db: &Db, with_ghost: bool) {
    const THREADS: usize = 32;
    let store = db.open().await;
    for t in 0..=THREADS {
        for j in 0..2 {
            let id = format!("t{t}j{j}");
            store
                .insert_job(&job(
                    &id,
                    thread("c", &format!("t{t}")),
                    issue(t as u64 + 1),
                ))
                .await
                .expect("inserts");
        }
    }
    let wanted = |t: usize| {
        if t.is_multiple_of(2) {
            Verbosity::Quiet
        } else {
            Verbosity::Verbose
        }
    };
    store
        .insert_job(&job("blocker", thread("c", "b"), issue(99)))
        .await
        .expect("inserts");
    // Another connection holds the blocker's row (SQLite: the file) while the writes queue up
    // behind a write of it, so that they reach the writer together, as under load.
    let mut holder = hold_job_row(db, "blocker").await;
    let blocked = {
        let store = store.clone();
        tokio::spawn(async move { store.set_card("blocker", "card-b").await })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let start = Arc::new(tokio::sync::Barrier::new(
        3 * THREADS + 2 + usize::from(with_ghost),
    ));
    let mut tasks = Vec::new();
    for t in 0..THREADS {
        let (writer, begin) = (store.clone(), start.clone());
        tasks.push(tokio::spawn(async move {
            begin.wait().await;
            writer
                .set_verbosity(&thread("c", &format!("t{t}")), wanted(t))
                .await
        }));
        for j in 0..2 {
            let (store, start) = (store.clone(), start.clone());
            tasks.push(tokio::spawn(async move {
                start.wait().await;
                store
                    .set_card(&format!("t{t}j{j}"), &format!("card-{t}-{j}"))
                    .await
            }));
        }
    }
    let empty = {
        let (store, start) = (store.clone(), start.clone());
        tokio::spawn(async move {
            start.wait().await;
            store
                .set_verbosity(&thread("c", "empty"), Verbosity::Verbose)
                .await
        })
    };
    let ghost = with_ghost.then(|| ghost_card(&store, &start));
    start.wait().await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    sqlx::query("COMMIT")
        .execute(&mut holder)
        .await
        .expect("lets go");
    blocked.await.expect("task").expect("written");
    for task in tasks {
        task.await.expect("task").expect("written");
    }
    empty
        .await
        .expect("task")
        .expect("a thread without jobs is no error");
    if let Some(ghost) = ghost {
        let ghost = ghost.await.expect("task");
        assert!(
            matches!(ghost, Err(StoreError::UnknownJob(ref id)) if id == "ghost"),
            "{ghost:?}"
        );
    }
    for t in 0..=THREADS {
        for j in 0..2 {
            let stored = store
                .job(&format!("t{t}j{j}"))
                .await
                .expect("reads")
                .expect("kept");
            if t == THREADS {
                assert_eq!(stored.verbosity, Verbosity::Milestones, "untouched thread");
                assert_eq!(stored.card_message_id, None);
            } else {
                assert_eq!(stored.verbosity, wanted(t), "t{t}j{j}");
                assert_eq!(stored.card_message_id, Some(format!("card-{t}-{j}")));
            }
        }
    }
    assert_eq!(store.job("ghost").await.expect("reads"), None);
    assert_eq!(
        store
            .job_for_thread(&thread("c", "empty"))
            .await
            .expect("reads"),
        None
    );
}

/// A connection of its own to `db` in a transaction that holds the row of `job_id` (on SQLite,
/// the file's write lock): a write of that row waits until the transaction ends.
async fn hold_job_row(db: &Db, job_id: &str) -> sqlx::AnyConnection {
    use sqlx::Connection;
    let mut connection = sqlx::AnyConnection::connect(&db.url)
        .await
        .expect("connects");
    let (begin, lock) = match db.engine {
        Engine::Sqlite => (
            "BEGIN IMMEDIATE",
            "UPDATE followed_jobs SET updated_at = updated_at WHERE job_id = $1",
        ),
        Engine::Postgres => (
            "BEGIN",
            "SELECT 1 FROM followed_jobs WHERE job_id = $1 FOR UPDATE",
        ),
    };
    sqlx::query(begin)
        .execute(&mut connection)
        .await
        .expect("begins");
    sqlx::query(lock)
        .bind(job_id)
        .execute(&mut connection)
        .await
        .expect("holds the row");
    connection
}

/// A card of no job, set once `start` lets every writer go.
fn ghost_card(
    store: &mosaic_bot::store::Store,
    start: &Arc<tokio::sync::Barrier>,
) -> tokio::task::JoinHandle<Result<(), StoreError>> {
    let (store, start) = (store.clone(), start.clone());
    tokio::spawn(async move {
        start.wait().await;
        store.set_card("ghost", "card").await
    })
}
