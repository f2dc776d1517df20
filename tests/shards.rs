//! Discord's gateway shards among replicas of `mosaic-bot serve` (the real binary) on one
//! PostgreSQL database: each shard connected exactly once and the shards spread over the
//! replicas, a mention in a guild of each shard answered once, a killed replica's shards
//! connected by another within the lease and the gateway's identify wait, a stopped
//! replica's handed over at once. The fake Discord routes each guild's events to the shard
//! Discord's formula names, and records every shard connection.
//!
//! The tests need `MOSAIC_TEST_POSTGRES_URL` (`eval "$(.ci/postgres | tail -n 1)"`); without
//! it each says it is skipped.

#[path = "shards/cluster.rs"]
mod cluster;
#[path = "support/daemon_on.rs"]
#[allow(dead_code)]
mod daemon_on;
#[path = "../adapters/discord/tests/fake/mod.rs"]
mod fake;
#[path = "store/support.rs"]
#[allow(dead_code)]
mod support;

use std::time::Duration;

use cluster::{LEASE_SECS, ShardCluster};
use daemon_on::{free_addr, sim_config};
use fake::{BOT_ID, CHANNEL, FakeDiscord, shard_of};
use tokio::time::Instant;

/// A second guild, whose events go to shard 1 of 2 ((id >> 22) % 2 = 1), and its channel.
const SECOND_GUILD: u64 = (1 << 22) | 301;
const SECOND_CHANNEL: u64 = 410;

/// Discord allows one identify per 5 s (`max_concurrency` 1: events/gateway, "Session Start
/// Limit Object"); a takeover may wait that long for its turn.
const IDENTIFY_WAIT: Duration = Duration::from_secs(5);

/// The most a killed replica's shard may stay unconnected: the lease, a keeper tick, the
/// identify wait, and a second for the connection itself.
const TAKEOVER_BOUND: Duration = Duration::from_secs(LEASE_SECS + 1 + 5 + 1);

/// Alice mentions the bot with `help` in `channel`; waits for the answer in the thread on
/// her message, then proves it came once: one thread made, one post in it.
async fn answered_once(fake: &FakeDiscord, channel: u64) {
    let from = fake.calls().len();
    let id = fake.say(channel, &format!("<@{BOT_ID}> help"));
    let in_thread = format!("/channels/{id}/messages");
    fake.expect("the answer to help", from, |c| {
        c.method == "POST" && c.path == in_thread
    })
    .await;
    // Room for a second answer, were there one.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let calls = fake.calls();
    let count = |path: &str| {
        calls[from..]
            .iter()
            .filter(|c| c.method == "POST" && c.path == path)
            .count()
    };
    assert_eq!(
        count(&format!("/channels/{channel}/messages/{id}/threads")),
        1
    );
    assert_eq!(count(&in_thread), 1, "answered once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_shard_is_connected_once_and_a_killed_replicas_shards_move_within_the_bound() {
    assert_eq!(shard_of(Some(fake::GUILD_ID), 2), 0);
    assert_eq!(shard_of(Some(SECOND_GUILD), 2), 1);
    let guilds = [(SECOND_GUILD, SECOND_CHANNEL)];
    let Some(mut cluster) = ShardCluster::start("shards_kill", 2, 2, &guilds).await else {
        return;
    };
    let holders = cluster.wait_spread().await;
    assert_ne!(
        holders[&0], holders[&1],
        "the shards spread over the replicas"
    );
    // Replicas take their identify turns each for itself: two starting together may
    // identify within 5 s, and Discord refuses the second (serenity identifies again).
    println!(
        "identifies refused as too soon while starting: {}",
        cluster.fake.identifies_too_soon()
    );
    for channel in [CHANNEL, SECOND_CHANNEL] {
        answered_once(&cluster.fake, channel).await;
    }
    // kill -9 of the replica holding shard 0 (the first guild's).
    let victim = cluster.index_of(&holders[&0]);
    let killed_at = Instant::now();
    cluster.kill(victim).await;
    let opened = cluster.wait_reconnected(0, killed_at).await;
    let took = opened - killed_at;
    println!(
        "kill -9 → shard 0 connected by another replica after {:.2} s (lease {LEASE_SECS} s)",
        took.as_secs_f64()
    );
    assert!(took <= TAKEOVER_BOUND, "took {took:?}");
    // The lease runs from the last renewal, at most a third of a lease before the kill.
    assert!(
        took >= Duration::from_secs(LEASE_SECS) * 2 / 3,
        "taken before the lease could expire: {took:?}"
    );
    let survivor = 1 - victim;
    let holders = cluster.wait_spread().await;
    assert!(holders.values().all(|h| *h == cluster.replica(survivor).id));
    // The taker answers in the first guild, once.
    answered_once(&cluster.fake, CHANNEL).await;
    cluster.fake.assert_never_twice();
    cluster.stop_all().await;
    assert!(cluster.fake.open_shards().is_empty(), "every shard closed");
    cluster.fake.assert_never_twice();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_replica_hands_its_shards_over_at_once() {
    let guilds = [(SECOND_GUILD, SECOND_CHANNEL)];
    let Some(mut cluster) = ShardCluster::start("shards_stop", 2, 2, &guilds).await else {
        return;
    };
    let holders = cluster.wait_spread().await;
    assert_ne!(
        holders[&0], holders[&1],
        "the shards spread over the replicas"
    );
    // Past the identify window of the last connection, so that the hand-over is not
    // refused an identify.
    let last = cluster
        .fake
        .connections()
        .iter()
        .map(|c| c.opened)
        .max()
        .expect("connections");
    tokio::time::sleep_until(last + IDENTIFY_WAIT).await;
    let victim = cluster.index_of(&holders[&0]);
    let stopped_at = Instant::now();
    cluster.stop(victim).await;
    let opened = cluster.wait_reconnected(0, stopped_at).await;
    let took = opened - stopped_at;
    println!(
        "SIGTERM → shard 0 connected by the other replica after {:.2} s (lease {LEASE_SECS} s)",
        took.as_secs_f64()
    );
    assert!(
        took < Duration::from_secs(LEASE_SECS),
        "handed over before its lease could expire, not after: {took:?}"
    );
    answered_once(&cluster.fake, CHANNEL).await;
    cluster.fake.assert_never_twice();
    cluster.stop_all().await;
    assert!(cluster.fake.open_shards().is_empty(), "every shard closed");
}
