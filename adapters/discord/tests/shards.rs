//! The adapter's shards as Discord has them: each shard its own connection identifying
//! `[shard_id, num_shards]`, spaced by the identify limit; a guild's events on its shard
//! only; a shard the core no longer holds closed, and one it holds again connected; too
//! few shards for the guilds refused (4011) and never reported connected.

mod common;
mod fake;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fake::*;
use mosaic_chat::{ChatPlatform, Connection, HeldShards, RunContext, ShardLeases, ShardSet};
use mosaic_discord::Discord;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// A second guild, on shard 1 of 2 ((id >> 22) % 2 = 1), and its channel.
const SECOND_GUILD: u64 = (1 << 22) | 301;
const SECOND_CHANNEL: u64 = 410;

/// Waits until each guild's channel was read once (the catch-up after its shard's
/// READY): what is said from then on comes through the gateway only.
async fn caught_up(fake: &FakeDiscord, channels: &[u64]) {
    for channel in channels {
        let path = format!("/channels/{channel}/messages");
        fake.expect("a catch-up read", 0, |c| {
            c.method == "GET" && c.path == path
        })
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_shard_connects_once_spaced_by_the_identify_limit_and_gets_its_guilds_events() {
    let fake = FakeDiscord::start().await;
    fake.add_guild(SECOND_GUILD, SECOND_CHANNEL);
    let mut options = options(&fake, "mosaic");
    options.shards = 2;
    // No RunContext shards: one process holds every shard.
    let mut c = start_with(options, fake);
    c.fake
        .wait_open("both shards", |open| open.len() == 2)
        .await;
    let connections = c.fake.connections();
    assert_eq!(connections.len(), 2, "{connections:?}");
    assert!(connections.iter().all(|x| x.num_shards == 2));
    // max_concurrency 1: one identify per 5 s (events/gateway, "Session Start Limit Object").
    let gap = connections[1].opened - connections[0].opened;
    assert!(
        gap >= Duration::from_millis(4900),
        "identifies {gap:?} apart"
    );
    assert_eq!(c.fake.identifies_too_soon(), 0, "no identify refused");
    caught_up(&c.fake, &[CHANNEL, SECOND_CHANNEL]).await;
    for channel in [CHANNEL, SECOND_CHANNEL] {
        let id = c.fake.say(channel, &format!("<@{BOT_ID}> status #1"));
        let inbound = next(&mut c.inbox).await;
        assert_eq!(inbound.message_id, id.to_string());
        assert_eq!(inbound.channel, channel.to_string());
    }
    assert!(c.fake.open_shards().values().all(|n| *n == 1));
    c.fake.assert_never_twice();
    c.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_no_longer_held_is_closed_before_it_is_reported_stopped_and_reconnects_when_held() {
    let fake = FakeDiscord::start().await;
    fake.add_guild(SECOND_GUILD, SECOND_CHANNEL);
    fake.set_max_concurrency(2);
    let mut options = options(&fake, "mosaic");
    options.shards = 2;
    let held = Arc::new(HeldShards::new(ShardSet::from([1])));
    let discord = Arc::new(Discord::new(options));
    let (tx, mut inbox) = mpsc::channel(16);
    let stop = CancellationToken::new();
    let ctx =
        RunContext::new(tx, stop.clone()).with_shards(Arc::clone(&held) as Arc<dyn ShardLeases>);
    let task = tokio::spawn(Arc::clone(&discord).run(ctx));
    fake.wait_open("shard 1 alone", |open| open.keys().eq([&1]))
        .await;
    caught_up(&fake, &[SECOND_CHANNEL]).await;
    // Shard 0 (the first guild's) is not this process's: its events reach nobody here.
    let missed = fake.say(CHANNEL, &format!("<@{BOT_ID}> status #1"));
    let id = fake.say(SECOND_CHANNEL, &format!("<@{BOT_ID}> status #2"));
    let inbound = next(&mut inbox).await;
    assert_eq!(inbound.message_id, id.to_string());
    // Held: shard 0 instead of 1.
    let mut running = held.running();
    held.publish(ShardSet::from([0]));
    tokio::time::timeout(PATIENCE, running.wait_for(|r| !r.contains(&1)))
        .await
        .expect("shard 1 reported stopped")
        .expect("the adapter runs");
    // Reported stopped only once its socket is closed.
    assert!(
        !fake.open_shards().contains_key(&1),
        "{:?}",
        fake.connections()
    );
    fake.wait_open("shard 0 alone", |open| open.keys().eq([&0]))
        .await;
    // The catch-up after shard 0's READY brings what was said while nobody here held it.
    assert_eq!(next(&mut inbox).await.message_id, missed.to_string());
    caught_up(&fake, &[CHANNEL]).await;
    let id = fake.say(CHANNEL, &format!("<@{BOT_ID}> status #3"));
    assert_eq!(next(&mut inbox).await.message_id, id.to_string());
    let deadline = Instant::now() + PATIENCE;
    while discord.connection() != Connection::Connected {
        assert!(Instant::now() < deadline, "never connected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await.expect("the adapter ends").expect("cleanly");
    assert_eq!(
        *held.running().borrow(),
        ShardSet::new(),
        "every shard reported closed"
    );
    assert!(fake.open_shards().is_empty());
    assert!(inbox.try_recv().is_err(), "nothing more was delivered");
    fake.assert_never_twice();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_few_shards_for_the_guilds_are_refused_and_never_connected() {
    let fake = FakeDiscord::start().await;
    fake.add_guild(SECOND_GUILD, SECOND_CHANNEL);
    // Two guilds, one allowed per shard: a single shard is refused with 4011
    // (topics/opcodes-and-status-codes, "Sharding required").
    fake.set_max_guilds_per_shard(1);
    let c = start(fake);
    let deadline = Instant::now() + PATIENCE;
    while c.fake.refusals().len() < 2 {
        assert!(Instant::now() < deadline, "never refused twice");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Serenity tries again (the close is not fatal to it); Discord refuses again.
    assert!(c.fake.refusals().iter().all(|code| *code == 4011));
    assert!(
        c.fake.connections().is_empty(),
        "{:?}",
        c.fake.connections()
    );
    assert_eq!(c.fake.sessions(), (0, 0));
    assert_eq!(c.discord.connection(), Connection::Connecting);
    c.stop.cancel();
}
