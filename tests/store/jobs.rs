//! Followed jobs on both engines: what is stored reads back, lookups find
//! the newest job, relay progress only moves forward, and a restarted store
//! finds everything.

use mosaic_bot::command::{IssueKind, IssueRef};
use mosaic_bot::store::{FollowedJob, StoreError, Verbosity};
use mosaic_chat::Platform;

use crate::HOUR;
use crate::support::{Db, WORKSPACE, ids, issue, job, thread};

pub(crate) async fn an_inserted_job_reads_back_as_given(db: &Db) {
    let store = db.open().await;
    let mut given = job("j1", thread("c1", "t1"), issue(42));
    given.retry_of = Some("j0".into());
    given.card_message_id = Some("card-1".into());
    given.verbosity = Verbosity::Verbose;
    given.last_event_id = Some("e-0003".into());
    given.last_event_seq = 3;
    given.status = "RUNNING".into();
    given.issue = IssueRef::new(
        "gitlab.example.com",
        "group/sub",
        "app",
        7,
        IssueKind::Change,
    );
    let before = epoch_seconds();
    store.insert_job(&given).await.expect("insert");
    let after = epoch_seconds();

    let stored = store.job("j1").await.expect("read").expect("stored");
    assert!(
        (before..=after).contains(&stored.created_at),
        "{}",
        stored.created_at
    );
    assert_eq!(stored.updated_at, stored.created_at);
    let stamped = FollowedJob {
        created_at: stored.created_at,
        updated_at: stored.updated_at,
        ..given
    };
    assert_eq!(stored, stamped);
}

pub(crate) async fn a_job_id_is_followed_once(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    let again = store
        .insert_job(&job("j1", thread("c2", "t2"), issue(2)))
        .await;
    assert!(
        matches!(again, Err(StoreError::DuplicateJob(ref id)) if id == "j1"),
        "{again:?}"
    );
    let kept = store.job("j1").await.expect("read").expect("kept");
    assert_eq!(kept.thread, thread("c1", "t1"));
    assert_eq!(ids(&store.unfinished().await.expect("unfinished")), ["j1"]);
}

pub(crate) async fn an_unknown_job_is_none(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    assert_eq!(store.job("j2").await.expect("read"), None);
    assert_eq!(
        store
            .job_for_thread(&thread("c1", "t2"))
            .await
            .expect("thread"),
        None
    );
    assert_eq!(
        store
            .job_for_issue(WORKSPACE, &issue(2), false)
            .await
            .expect("issue"),
        None
    );
}

pub(crate) async fn a_thread_finds_its_newest_job(db: &Db) {
    let store = db.open().await;
    // Inserted within one second, so only the insertion order tells them apart.
    store
        .insert_job(&job("b-first", thread("c1", "t1"), issue(1)))
        .await
        .expect("first");
    let mut retry = job("a-retry", thread("c1", "t1"), issue(1));
    retry.retry_of = Some("b-first".into());
    store.insert_job(&retry).await.expect("retry");
    store
        .insert_job(&job("c-other", thread("c1", "t2"), issue(1)))
        .await
        .expect("other");

    let newest = store
        .job_for_thread(&thread("c1", "t1"))
        .await
        .expect("read");
    assert_eq!(newest.map(|job| job.job_id), Some("a-retry".into()));
    let other = store
        .job_for_thread(&thread("c1", "t2"))
        .await
        .expect("read");
    assert_eq!(other.map(|job| job.job_id), Some("c-other".into()));
}

pub(crate) async fn an_issue_finds_its_newest_job(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("b-old", thread("c1", "t1"), issue(42)))
        .await
        .expect("old");
    store
        .insert_job(&job("a-new", thread("c1", "t2"), issue(42)))
        .await
        .expect("new");
    store
        .insert_job(&job("c-else", thread("c1", "t3"), issue(43)))
        .await
        .expect("else");
    store.finish("a-new", "FAILED").await.expect("finish");

    let newest = store
        .job_for_issue(WORKSPACE, &issue(42), false)
        .await
        .expect("read");
    assert_eq!(newest.map(|job| job.job_id), Some("a-new".into()));
}

pub(crate) async fn an_issue_matches_owner_and_repo_in_any_case(db: &Db) {
    let store = db.open().await;
    let typed = IssueRef::new("github.com", "Acme", "Web", 42, IssueKind::Issue);
    store
        .insert_job(&job("j-1", thread("c1", "t1"), typed))
        .await
        .expect("insert");
    let found = store
        .job_for_issue(WORKSPACE, &issue(42), true)
        .await
        .expect("read");
    assert_eq!(found.map(|job| job.job_id), Some("j-1".into()));
    let other = IssueRef::new("github.com", "acme", "webx", 42, IssueKind::Issue);
    assert_eq!(
        store
            .job_for_issue(WORKSPACE, &other, false)
            .await
            .expect("read"),
        None
    );
}

pub(crate) async fn an_issue_finds_its_newest_unfinished_job(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("b-old", thread("c1", "t1"), issue(42)))
        .await
        .expect("old");
    store
        .insert_job(&job("a-new", thread("c1", "t2"), issue(42)))
        .await
        .expect("new");
    store.finish("a-new", "FAILED").await.expect("finish new");

    let open = store
        .job_for_issue(WORKSPACE, &issue(42), true)
        .await
        .expect("read");
    assert_eq!(open.map(|job| job.job_id), Some("b-old".into()));
    store
        .finish("b-old", "CANCELLED")
        .await
        .expect("finish old");
    assert_eq!(
        store
            .job_for_issue(WORKSPACE, &issue(42), true)
            .await
            .expect("read"),
        None
    );
}

pub(crate) async fn issues_and_changes_with_one_number_are_apart(db: &Db) {
    let store = db.open().await;
    let gitlab = |kind| IssueRef::new("gitlab.example.com", "g/s", "r", 5, kind);
    store
        .insert_job(&job(
            "issue-5",
            thread("c1", "t1"),
            gitlab(IssueKind::Issue),
        ))
        .await
        .expect("insert");
    let change = store
        .job_for_issue(WORKSPACE, &gitlab(IssueKind::Change), false)
        .await;
    assert_eq!(change.expect("read"), None);
    let found = store
        .job_for_issue(WORKSPACE, &gitlab(IssueKind::Issue), false)
        .await;
    assert_eq!(
        found.expect("read").map(|job| job.job_id),
        Some("issue-5".into())
    );
}

pub(crate) async fn an_issue_is_found_in_its_workspace_only(db: &Db) {
    let store = db.open().await;
    let elsewhere = FollowedJob {
        workspace: "ws-b".into(),
        ..job("b-1", thread("c9", "t1"), issue(42))
    };
    store.insert_job(&elsewhere).await.expect("insert");
    for unfinished_only in [true, false] {
        let mine = store
            .job_for_issue(WORKSPACE, &issue(42), unfinished_only)
            .await;
        assert_eq!(mine.expect("read"), None);
    }
    let theirs = store.job_for_issue("ws-b", &issue(42), true).await;
    assert_eq!(
        theirs.expect("read").map(|job| (job.job_id, job.workspace)),
        Some(("b-1".into(), "ws-b".into()))
    );
}

pub(crate) async fn jobs_without_a_workspace_are_adopted(db: &Db) {
    let store = db.open().await;
    let old = FollowedJob {
        workspace: String::new(),
        ..job("old-1", thread("c1", "t1"), issue(7))
    };
    store.insert_job(&old).await.expect("insert old");
    store
        .insert_job(&job("new-1", thread("c1", "t2"), issue(8)))
        .await
        .expect("insert new");
    let adopted = store.adopt_jobs_without_workspace("ws-default").await;
    assert_eq!(adopted.expect("adopt"), 1);
    let read = |id: &'static str| {
        let store = store.clone();
        async move {
            store
                .job(id)
                .await
                .expect("read")
                .expect("stored")
                .workspace
        }
    };
    assert_eq!(read("old-1").await, "ws-default");
    assert_eq!(read("new-1").await, WORKSPACE);
    assert_eq!(
        store
            .adopt_jobs_without_workspace("ws-x")
            .await
            .expect("again"),
        0
    );
}

pub(crate) async fn unfinished_lists_open_relays_oldest_first(db: &Db) {
    let store = db.open().await;
    for id in ["z1", "y2", "x3", "w4"] {
        store
            .insert_job(&job(id, thread("c1", id), issue(1)))
            .await
            .expect("insert");
    }
    store.finish("y2", "COMPLETED").await.expect("finish");
    assert_eq!(
        ids(&store.unfinished().await.expect("read")),
        ["z1", "x3", "w4"]
    );
}

pub(crate) async fn a_finished_job_keeps_its_final_status(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    store.finish("j1", "COMPLETED").await.expect("finish");
    let done = store.job("j1").await.expect("read").expect("kept");
    assert!(done.ended);
    assert_eq!(done.status, "COMPLETED");
    assert!(store.unfinished().await.expect("unfinished").is_empty());
}

pub(crate) async fn the_card_is_remembered(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    store.set_card("j1", "card-9").await.expect("set_card");
    let job = store.job("j1").await.expect("read").expect("kept");
    assert_eq!(job.card_message_id.as_deref(), Some("card-9"));
}

pub(crate) async fn verbosity_applies_to_every_job_of_the_thread(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("j1");
    store
        .insert_job(&job("j2", thread("c1", "t1"), issue(1)))
        .await
        .expect("j2");
    store
        .insert_job(&job("j3", thread("c1", "t2"), issue(1)))
        .await
        .expect("j3");
    store
        .set_verbosity(&thread("c1", "t1"), Verbosity::Quiet)
        .await
        .expect("set");

    let mut verbosities = Vec::new();
    for id in ["j1", "j2", "j3"] {
        verbosities.push(store.job(id).await.expect("read").expect("kept").verbosity);
    }
    assert_eq!(
        verbosities,
        [Verbosity::Quiet, Verbosity::Quiet, Verbosity::Milestones]
    );
}

pub(crate) async fn relayed_events_move_forward_only(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    store.record_relayed("j1", "e-0001", 1).await.expect("1");
    store.record_relayed("j1", "e-0003", 3).await.expect("3");
    store
        .record_relayed("j1", "e-0002", 2)
        .await
        .expect("late 2");
    store
        .record_relayed("j1", "e-0003-again", 3)
        .await
        .expect("repeated 3");

    let job = store.job("j1").await.expect("read").expect("kept");
    assert_eq!(job.last_event_id.as_deref(), Some("e-0003"));
    assert_eq!(job.last_event_seq, 3);
}

pub(crate) async fn concurrent_relayed_records_keep_the_highest(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    let tasks: Vec<_> = (1..=20u64)
        .rev()
        .map(|seq| {
            let store = store.clone();
            tokio::spawn(async move { store.record_relayed("j1", &format!("e-{seq}"), seq).await })
        })
        .collect();
    for task in tasks {
        task.await.expect("task").expect("record_relayed");
    }
    let job = store.job("j1").await.expect("read").expect("kept");
    assert_eq!(
        (job.last_event_id.as_deref(), job.last_event_seq),
        (Some("e-20"), 20)
    );
}

pub(crate) async fn updates_to_unknown_jobs_are_errors(db: &Db) {
    let store = db.open().await;
    let unknown = |result: Result<(), StoreError>| matches!(result, Err(StoreError::UnknownJob(ref id)) if id == "ghost");
    assert!(unknown(store.set_card("ghost", "card").await));
    assert!(unknown(store.record_relayed("ghost", "e-1", 1).await));
    assert!(unknown(store.finish("ghost", "COMPLETED").await));
    assert!(store.unfinished().await.expect("read").is_empty());
}

pub(crate) async fn platforms_outside_the_known_list_are_refused(db: &Db) {
    let store = db.open().await;
    let mut irc = job("j1", thread("c1", "t1"), issue(1));
    irc.thread.platform = Platform::new("irc");
    let refused = store.insert_job(&irc).await;
    assert!(matches!(refused, Err(StoreError::UnknownPlatform(ref name)) if name == "irc"));
    assert_eq!(store.job("j1").await.expect("read"), None);
}

pub(crate) async fn sequences_beyond_bigint_are_refused(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    store.record_relayed("j1", "e-1", 1).await.expect("1");
    let huge = store.record_relayed("j1", "e-huge", u64::MAX).await;
    assert!(
        matches!(
            huge,
            Err(StoreError::OutOfRange {
                value: u64::MAX,
                ..
            })
        ),
        "{huge:?}"
    );
    let job = store.job("j1").await.expect("read").expect("kept");
    assert_eq!(
        (job.last_event_id.as_deref(), job.last_event_seq),
        (Some("e-1"), 1)
    );
}

pub(crate) async fn a_reopened_store_finds_everything(db: &Db) {
    let before = db.open().await;
    before
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("j1");
    before
        .insert_job(&job("j2", thread("c1", "t2"), issue(2)))
        .await
        .expect("j2");
    before.set_card("j1", "card-1").await.expect("card");
    before
        .record_relayed("j1", "e-0005", 5)
        .await
        .expect("relayed");
    before.finish("j2", "COMPLETED").await.expect("finish");
    assert!(before.first_sight("slack:E1", HOUR).await.expect("seen"));
    before.close().await;

    // A restarted bot: a new store on the same database, migrations again.
    let after = db.open().await;
    let resumed = after.unfinished().await.expect("unfinished");
    assert_eq!(ids(&resumed), ["j1"]);
    assert_eq!(resumed[0].card_message_id.as_deref(), Some("card-1"));
    assert_eq!(resumed[0].last_event_id.as_deref(), Some("e-0005"));
    assert_eq!(resumed[0].last_event_seq, 5);
    assert!(after.job("j2").await.expect("read").expect("kept").ended);
    assert!(
        !after
            .first_sight("slack:E1", HOUR)
            .await
            .expect("still seen")
    );
}

/// Now, in unix epoch seconds.
fn epoch_seconds() -> i64 {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    now.expect("a clock after 1970").as_secs() as i64
}
