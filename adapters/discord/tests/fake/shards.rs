//! The fake gateway's shards as Discord has them (events/gateway, "Sharding"): sessions
//! identified with `[shard_id, num_shards]`, the sharding formula routing each guild's
//! events, the identify limit per rate-limit key, the bot's other guilds; and the record
//! of every shard connection, to prove none was open twice at once.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::{FakeDiscord, Outgoing, PATIENCE, guild};

/// One gateway session (from IDENTIFY), which a connection may resume.
pub(super) struct Session {
    /// `[shard_id, num_shards]` as identified.
    pub(super) shard: (u32, u32),
    /// The connection attached now: its number and its outgoing frames.
    pub(super) conn: Option<(u64, mpsc::UnboundedSender<Outgoing>)>,
    pub(super) seq: u64,
    /// Every dispatch with its sequence number, to replay on resume.
    pub(super) sent: Vec<(u64, Value)>,
}

/// One connection of a shard: from its READY or RESUMED until its socket closed.
#[derive(Debug, Clone, Copy)]
pub struct ShardConnection {
    pub shard: u32,
    pub num_shards: u32,
    pub opened: tokio::time::Instant,
    pub closed: Option<tokio::time::Instant>,
}

pub(super) struct Gateway {
    /// By session id.
    pub(super) sessions: BTreeMap<String, Session>,
    /// Every event dispatched (whichever sessions it went to), in order: its type and data.
    pub(super) dispatched: Vec<(String, Value)>,
    /// Every connection that identified or resumed, in order.
    pub(super) connections: Vec<ShardConnection>,
    /// When each rate-limit key last identified.
    pub(super) identified: HashMap<u32, tokio::time::Instant>,
    /// Identifies answered Invalid Session for exceeding `max_concurrency`.
    pub(super) too_soon: usize,
    /// The close codes identifies were refused with (4010, 4011).
    pub(super) refusals: Vec<u16>,
    /// events/gateway, "Session Start Limit Object": identifies allowed per 5 s.
    pub(super) max_concurrency: u32,
    /// events/gateway, "Sharding": "Each shard can only support a maximum of 2500 guilds".
    pub(super) max_guilds_per_shard: usize,
}

impl Default for Gateway {
    fn default() -> Gateway {
        Gateway {
            sessions: BTreeMap::new(),
            dispatched: Vec::new(),
            connections: Vec::new(),
            identified: HashMap::new(),
            too_soon: 0,
            refusals: Vec::new(),
            max_concurrency: 1,
            max_guilds_per_shard: 2500,
        }
    }
}

/// The shard that gets events of guild `guild` among `num_shards` (events/gateway,
/// "Sharding Formula"); events without a guild go to shard 0.
pub fn shard_of(guild: Option<u64>, num_shards: u32) -> u32 {
    guild.map_or(0, |g| ((g >> 22) % u64::from(num_shards.max(1))) as u32)
}

impl FakeDiscord {
    /// Another guild of the bot, `guild`, with one text channel `channel`: its events go to
    /// the shard the sharding formula names.
    pub fn add_guild(&self, guild: u64, channel: u64) {
        let more = guild::Guild::another(guild, channel);
        self.inner.more_guilds.lock().expect("guilds").push(more);
    }

    /// Identifies allowed per 5 s (1 unless set, as for most bots).
    pub fn set_max_concurrency(&self, n: u32) {
        self.inner.gateway.lock().expect("gateway").max_concurrency = n;
    }

    /// The most guilds a shard may hold (Discord's 2,500 unless set).
    pub fn set_max_guilds_per_shard(&self, n: usize) {
        self.inner
            .gateway
            .lock()
            .expect("gateway")
            .max_guilds_per_shard = n;
    }

    /// How many identifies came too soon after another of their rate-limit key.
    pub fn identifies_too_soon(&self) -> usize {
        self.inner.gateway.lock().expect("gateway").too_soon
    }

    /// The close codes identifies were refused with so far.
    pub fn refusals(&self) -> Vec<u16> {
        self.inner.gateway.lock().expect("gateway").refusals.clone()
    }

    /// Every shard connection so far, in the order they opened.
    pub fn connections(&self) -> Vec<ShardConnection> {
        self.inner
            .gateway
            .lock()
            .expect("gateway")
            .connections
            .clone()
    }

    /// The shards connected now, each with how many connections it has open.
    pub fn open_shards(&self) -> BTreeMap<u32, usize> {
        let mut open = BTreeMap::new();
        for c in self.connections().iter().filter(|c| c.closed.is_none()) {
            *open.entry(c.shard).or_insert(0) += 1;
        }
        open
    }

    /// Fails if a shard was ever connected twice at once.
    pub fn assert_never_twice(&self) {
        let connections = self.connections();
        for (i, a) in connections.iter().enumerate() {
            for b in &connections[i + 1..] {
                let overlap = a.shard == b.shard
                    && a.closed.is_none_or(|end| end > b.opened)
                    && b.closed.is_none_or(|end| end > a.opened);
                assert!(
                    !overlap,
                    "shard {} connected twice at once: {a:?} and {b:?}",
                    a.shard
                );
            }
        }
    }

    /// Waits until `want` holds for the shards open now (see [`open_shards`]).
    pub async fn wait_open(&self, what: &str, want: impl Fn(&BTreeMap<u32, usize>) -> bool) {
        let mut rx = self.inner.sessions.subscribe();
        let waited = tokio::time::timeout(PATIENCE, async {
            loop {
                if want(&self.open_shards()) {
                    return;
                }
                // Closes are not announced: looked at again at least every 50 ms.
                let _ = tokio::time::timeout(Duration::from_millis(50), rx.changed()).await;
            }
        })
        .await;
        assert!(
            waited.is_ok(),
            "timed out waiting for {what}: {:?}",
            self.connections()
        );
    }
}
