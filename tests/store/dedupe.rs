//! Inbound dedupe on both engines: first sight, expiry, purge, one first
//! sight among concurrent callers, whether a message was acted on; and what
//! adapters remember across restarts.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::HOUR;
use crate::support::Db;

pub(crate) async fn a_key_is_new_the_first_time_only(db: &Db) {
    let store = db.open().await;
    assert!(store.first_sight("slack:E1", HOUR).await.expect("first"));
    assert!(!store.first_sight("slack:E1", HOUR).await.expect("second"));
    assert!(
        store
            .first_sight("slack:E2", HOUR)
            .await
            .expect("other key")
    );
    assert_eq!(store.purge_expired().await.expect("purge"), 0);
}

pub(crate) async fn concurrent_sightings_of_one_key_agree_on_one_first(db: &Db) {
    let store = db.open().await;
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                store.first_sight("discord:m1", HOUR).await
            })
        })
        .collect();
    let mut firsts = 0;
    for task in tasks {
        firsts += usize::from(task.await.expect("task").expect("first_sight"));
    }
    assert_eq!(firsts, 1);
}

pub(crate) async fn an_expired_key_is_new_again_before_any_purge(db: &Db) {
    let store = db.open().await;
    let ttl = Duration::from_secs(1);
    let seen_at = Instant::now();
    assert!(store.first_sight("k", ttl).await.expect("first"));
    assert!(!store.first_sight("k", ttl).await.expect("while recorded"));
    // Await the expiry itself, polling, rather than sleeping a fixed time.
    let new_again = async {
        while !store.first_sight("k", ttl).await.expect("poll") {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), new_again)
        .await
        .expect("the key expires within 5 s");
    assert!(
        seen_at.elapsed() >= ttl,
        "expired early: {:?}",
        seen_at.elapsed()
    );
    assert!(!store.first_sight("k", ttl).await.expect("recorded again"));
}

pub(crate) async fn purge_deletes_expired_keys_only(db: &Db) {
    let store = db.open().await;
    assert!(
        store
            .first_sight("short", Duration::from_secs(1))
            .await
            .expect("short")
    );
    assert!(store.first_sight("long", HOUR).await.expect("long"));
    let mut purged = 0;
    let expired = async {
        while purged == 0 {
            purged = store.purge_expired().await.expect("purge");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), expired)
        .await
        .expect("the short key expires within 5 s");
    assert_eq!(purged, 1);
    assert!(!store.first_sight("long", HOUR).await.expect("long kept"));
    assert!(store.first_sight("short", HOUR).await.expect("short gone"));
    assert_eq!(store.purge_expired().await.expect("purge again"), 0);
}

pub(crate) async fn a_message_is_acted_on_only_once_marked(db: &Db) {
    let store = db.open().await;
    assert!(
        store
            .first_sight("slack:C1:1.1", HOUR)
            .await
            .expect("first")
    );
    assert!(!store.acted("slack:C1:1.1").await.expect("seen only"));
    store.mark_acted("slack:C1:1.1").await.expect("mark");
    assert!(store.acted("slack:C1:1.1").await.expect("acted"));
    assert!(!store.acted("slack:C1:2.2").await.expect("other key"));
    // A key never seen is not created by marking it.
    store.mark_acted("slack:C1:3.3").await.expect("mark unseen");
    assert!(!store.acted("slack:C1:3.3").await.expect("unseen"));
    assert!(
        store
            .first_sight("slack:C1:3.3", HOUR)
            .await
            .expect("still new")
    );
}

pub(crate) async fn adapters_remember_per_platform_across_a_reopen(db: &Db) {
    let store = db.open().await;
    assert_eq!(
        store
            .recall("discord", "last_seen:9")
            .await
            .expect("recall"),
        None
    );
    store
        .remember("discord", "last_seen:9", "100")
        .await
        .expect("remember");
    store
        .remember("discord", "last_seen:9", "200")
        .await
        .expect("replace");
    store
        .remember("slack", "last_seen:9", "x")
        .await
        .expect("other platform");
    store.close().await;
    let store = db.open().await;
    assert_eq!(
        store
            .recall("discord", "last_seen:9")
            .await
            .expect("recall"),
        Some("200".to_owned())
    );
    assert_eq!(
        store.recall("slack", "last_seen:9").await.expect("recall"),
        Some("x".to_owned())
    );
    // The port's view of the same rows.
    let memory: &dyn mosaic_chat::Memory = &store;
    assert_eq!(
        memory
            .recall(mosaic_chat::Platform::new("discord"), "last_seen:9")
            .await,
        Ok(Some("200".to_owned()))
    );
}

pub(crate) async fn a_command_is_recorded_acted_on_with_its_first_sight(db: &Db) {
    let store = db.open().await;
    let first = |key: &'static str, ttl| {
        let store = store.clone();
        async move { store.first_sight_acted(key, ttl).await.expect("sight") }
    };
    assert!(first("slack:C1:1.1", HOUR).await);
    assert!(store.acted("slack:C1:1.1").await.expect("acted"));
    // Again: not new, and still acted on.
    assert!(!first("slack:C1:1.1", HOUR).await);
    assert!(store.acted("slack:C1:1.1").await.expect("acted"));
    // A plain sighting of a key whose time is up is a new one: nothing of the old is kept.
    assert!(first("slack:C1:2.2", Duration::ZERO).await);
    let taken_over = async {
        while !store.first_sight("slack:C1:2.2", HOUR).await.expect("poll") {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), taken_over)
        .await
        .expect("the key expires within 5 s");
    assert!(!store.acted("slack:C1:2.2").await.expect("a new sighting"));
}
