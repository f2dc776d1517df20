//! Relay positions written in groups (`Store::record_positions`): the same
//! forward-only rule as one at a time, for many jobs in one commit.

use mosaic_bot::store::Position;

use crate::support::{Db, issue, job, thread};

fn at(job_id: &str, seq: u64) -> Position {
    Position {
        job_id: job_id.to_owned(),
        event_id: format!("{job_id}-e{seq}"),
        seq,
        post_id: None,
        settled: false,
    }
}

async fn position(store: &mosaic_bot::store::Store, job_id: &str) -> (Option<String>, u64) {
    let job = store.job(job_id).await.expect("read").expect("kept");
    (job.last_event_id, job.last_event_seq)
}

pub(crate) async fn a_group_records_every_job_forward_only(db: &Db) {
    let store = db.open().await;
    for (i, id) in ["j1", "j2", "j3"].into_iter().enumerate() {
        store
            .insert_job(&job(id, thread("c1", id), issue(i as u64 + 1)))
            .await
            .expect("insert");
    }
    store
        .record_positions(&[at("j3", 5)])
        .await
        .expect("j3 first");
    // j1 twice (the higher wins whatever the order), j3 behind its record, a job the store
    // does not follow (ignored), j2 untouched.
    store
        .record_positions(&[at("j1", 4), at("ghost", 9), at("j1", 2), at("j3", 3)])
        .await
        .expect("group");
    assert_eq!(position(&store, "j1").await, (Some("j1-e4".into()), 4));
    assert_eq!(position(&store, "j2").await, (None, 0));
    assert_eq!(position(&store, "j3").await, (Some("j3-e5".into()), 5));
    assert!(store.job("ghost").await.expect("read").is_none());
}

pub(crate) async fn a_group_larger_than_one_statement_is_written_whole(db: &Db) {
    let store = db.open().await;
    let ids: Vec<String> = (1..=1203).map(|i| format!("j{i}")).collect();
    for (i, id) in ids.iter().enumerate() {
        store
            .insert_job(&job(id, thread("c1", id), issue(i as u64 + 1)))
            .await
            .expect("insert");
    }
    let group: Vec<Position> = ids.iter().map(|id| at(id, 7)).collect();
    store.record_positions(&group).await.expect("group");
    store.record_positions(&[]).await.expect("an empty group");
    for id in [&ids[0], &ids[499], &ids[500], &ids[1202]] {
        assert_eq!(position(&store, id).await, (Some(format!("{id}-e7")), 7));
    }
    let unfinished = store.unfinished().await.expect("read");
    assert_eq!(unfinished.len(), ids.len());
    assert!(unfinished.iter().all(|j| j.last_event_seq == 7));
}

pub(crate) async fn a_group_with_a_sequence_beyond_bigint_is_refused_whole(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    let refused = store
        .record_positions(&[at("j1", 3), at("j1", u64::MAX)])
        .await;
    assert!(
        matches!(
            refused,
            Err(mosaic_bot::store::StoreError::OutOfRange { .. })
        ),
        "{refused:?}"
    );
    assert_eq!(position(&store, "j1").await, (None, 0));
}

pub(crate) async fn a_group_keeps_the_last_post_and_whether_the_relay_settled(db: &Db) {
    let store = db.open().await;
    store
        .insert_job(&job("j1", thread("c1", "t1"), issue(1)))
        .await
        .expect("insert");
    let fresh = store.job("j1").await.expect("read").expect("kept");
    assert_eq!((fresh.last_post_id, fresh.posts_settled), (None, false));
    let posted = |seq, post: Option<&str>, settled| Position {
        post_id: post.map(str::to_owned),
        settled,
        ..at("j1", seq)
    };
    store
        .record_positions(&[posted(2, Some("p2"), false)])
        .await
        .expect("a post");
    // An event shown nowhere: recorded without a post, the last post stays.
    store
        .record_positions(&[posted(3, None, false)])
        .await
        .expect("no post");
    let read = store.job("j1").await.expect("read").expect("kept");
    assert_eq!(
        (read.last_post_id.as_deref(), read.last_event_seq),
        (Some("p2"), 3)
    );
    assert!(!read.posts_settled);
    // A graceful stop records that it settled at the position it had; the same position
    // recorded twice in one group keeps the later record.
    store
        .record_positions(&[posted(3, None, false), posted(3, None, true)])
        .await
        .expect("settled");
    let read = store.job("j1").await.expect("read").expect("kept");
    assert!(read.posts_settled);
    assert_eq!(
        (read.last_post_id.as_deref(), read.last_event_seq),
        (Some("p2"), 3)
    );
    // A resumed relay unsettles before it posts; a record behind the stored one is ignored.
    store
        .record_positions(&[posted(3, None, false)])
        .await
        .expect("unsettled");
    store
        .record_positions(&[posted(1, Some("old"), true)])
        .await
        .expect("behind");
    let read = store.job("j1").await.expect("read").expect("kept");
    assert!(!read.posts_settled);
    assert_eq!(
        (read.last_post_id.as_deref(), read.last_event_seq),
        (Some("p2"), 3)
    );
}
