//! The gateway's shards: each shard this process holds (the core's lease, through
//! [`ShardLeases`]) runs as a serenity client of its own, so that one shard starts and stops
//! without touching the others; a shard connects after its identify turn and closes as soon
//! as its lease goes. The leases are told which shards may still have an open socket, so a
//! shard is handed to another replica only once its connection here is closed.
//!
//! Serenity's `ShardManager` can boot one shard of a running manager only through
//! `restart`, which first waits up to 5 s for a shutdown of a shard that is not running, and
//! `set_shards` stops every shard; a client per shard has neither problem.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{ChatError, Inbound, Press, ShardLeases, ShardSet};
use serenity::all::{ClientBuilder, EventHandler, GatewayError, GatewayIntents, ShardManager};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::{Discord, ability, gateway, http_client, lock};

/// Discord allows `max_concurrency` identifies per 5 seconds (events/gateway, "Session
/// Start Limit Object"); serenity's shard queuer waits as long between two starts. A turn
/// is taken before the client connects, and connecting takes a varying moment before the
/// IDENTIFY goes: half a second more keeps two identifies of one key 5 s apart.
pub(crate) const IDENTIFY_SPACING: Duration = Duration::from_millis(5500);

/// Only unprivileged intents: the content of a message that mentions the bot arrives without
/// MESSAGE_CONTENT; GUILDS brings each guild's roles (among them the bot's managed role),
/// channels with their overwrites and threads, for the bot's permissions; the bot's own
/// GUILD_MEMBER_UPDATE comes without GUILD_MEMBERS (events/gateway, "Caveats").
fn intents() -> GatewayIntents {
    GatewayIntents::GUILD_MESSAGES | GatewayIntents::GUILDS
}

/// How often a shard that does not stop is told again.
const SHUTDOWN_CHECK: Duration = Duration::from_secs(2);

/// Tells every runner of `manager` to close its socket and end.
async fn stop_runners(manager: &ShardManager) {
    for runner in manager.runners.lock().await.values() {
        runner.runner_tx.shutdown_clean();
    }
}

/// Keeps a channel open while serenity holds its handlers: the shard's runner and queuer
/// drop theirs when they end, the runner after closing its socket.
struct Alive(#[allow(dead_code)] mpsc::Sender<()>);

impl EventHandler for Alive {}

/// Where a shard's events go.
#[derive(Clone)]
pub(crate) struct Sinks {
    pub inbox: mpsc::Sender<Inbound>,
    pub presses: Option<mpsc::Sender<Press>>,
}

impl Discord {
    /// Runs the shards `leases` holds, each from its identify turn until its lease goes or
    /// `shutdown`; returns once every shard's socket is closed. A refused token ends it.
    pub(crate) async fn run_shards(
        self: &Arc<Self>,
        leases: Arc<dyn ShardLeases>,
        sinks: Sinks,
        shutdown: CancellationToken,
    ) -> Result<(), ChatError> {
        let total = self.options.shards.max(1);
        let max_concurrency = self.max_concurrency(total).await;
        let mut held = leases.held();
        // Shard → its stop; kept until its task has ended (a stopping shard is not restarted
        // before its socket is closed).
        let mut stops: BTreeMap<u32, CancellationToken> = BTreeMap::new();
        let mut tasks: JoinSet<(u32, Result<(), ChatError>)> = JoinSet::new();
        let mut failure = None;
        let mut watching = true;
        loop {
            let wanted = held.borrow_and_update().clone();
            for (shard, stop) in &stops {
                if !wanted.contains(shard) {
                    stop.cancel();
                }
            }
            if failure.is_none() && !shutdown.is_cancelled() {
                for &shard in wanted.iter().filter(|s| **s < total) {
                    if stops.contains_key(&shard) {
                        continue;
                    }
                    let stop = shutdown.child_token();
                    stops.insert(shard, stop.clone());
                    let discord = Arc::clone(self);
                    let (leases, sinks) = (Arc::clone(&leases), sinks.clone());
                    tasks.spawn(async move {
                        let run = discord.run_shard(shard, max_concurrency, &*leases, sinks, stop);
                        (shard, run.await)
                    });
                }
            }
            leases.report(&stops.keys().copied().collect::<ShardSet>());
            if stops.is_empty() && (failure.is_some() || shutdown.is_cancelled()) {
                return failure.map_or(Ok(()), Err);
            }
            tokio::select! {
                changed = held.changed(), if watching && !shutdown.is_cancelled() => {
                    if changed.is_err() {
                        watching = false;
                        // Nobody holds leases for this adapter any more: nothing may run.
                        failure = Some(ChatError::Unavailable("discord: the shard leases ended".into()));
                    }
                }
                Some(ended) = tasks.join_next() => {
                    let (shard, result) = ended.map_err(|e| ChatError::Unavailable(format!("discord shard: {e}")))?;
                    stops.remove(&shard);
                    if let Err(e) = result {
                        tracing::error!(shard, error = %e, "discord: a shard stopped");
                        failure = Some(e);
                    }
                }
                () = shutdown.cancelled(), if !shutdown.is_cancelled() => {}
                else => return failure.map_or(Ok(()), Err),
            }
            if failure.is_some() || shutdown.is_cancelled() {
                for stop in stops.values() {
                    stop.cancel();
                }
            }
        }
    }

    /// How many shards may identify at once: GET /gateway/bot's `max_concurrency`
    /// (events/gateway, "Get Gateway Bot"); 1 when it cannot be read. Warns when Discord
    /// recommends more shards than `total`.
    async fn max_concurrency(&self, total: u32) -> u32 {
        match self.rest.http.get_bot_gateway().await {
            Ok(gateway) => {
                if gateway.shards > total {
                    tracing::warn!(
                        configured = total,
                        recommended = gateway.shards,
                        "discord: Discord recommends more shards than `discord.shards`"
                    );
                }
                u32::try_from(gateway.session_start_limit.max_concurrency)
                    .unwrap_or(1)
                    .max(1)
            }
            Err(e) => {
                tracing::warn!(error = %e, "discord: cannot read GET /gateway/bot; identifying one shard per 5 s");
                1
            }
        }
    }

    /// One shard, from its identify turn until `stop`; returns once its socket is closed.
    async fn run_shard(
        self: &Arc<Self>,
        shard: u32,
        max_concurrency: u32,
        leases: &dyn ShardLeases,
        sinks: Sinks,
        stop: CancellationToken,
    ) -> Result<(), ChatError> {
        tokio::select! {
            turn = leases.identify_turn(shard, max_concurrency, IDENTIFY_SPACING) => turn?,
            () = stop.cancelled() => return Ok(()),
        }
        let (alive, mut gone) = mpsc::channel::<()>(1);
        let handler = gateway::Handler {
            discord: Arc::clone(self),
            inbox: sinks.inbox,
            presses: sinks.presses,
        };
        let mut client = ClientBuilder::new_with_http(http_client(&self.options), intents())
            .event_handler(handler)
            .event_handler(ability::GuildWatch {
                discord: Arc::clone(self),
            })
            .event_handler(Alive(alive))
            .await
            .map_err(|e| ChatError::Unavailable(format!("discord: {e}")))?;
        if let Some(url) = &self.options.gateway_url {
            // Serenity asked `GET /gateway` while building the client; its answer names
            // Discord's gateway, so it is replaced before the shard connects.
            *client.ws_url.lock().await = url.clone();
        }
        let manager = Arc::clone(&client.shard_manager);
        lock(&self.shard_managers).insert(shard, Arc::clone(&manager));
        tracing::info!(
            shard,
            total = self.options.shards,
            "discord: connecting a shard"
        );
        let total = self.options.shards.max(1);
        let result = tokio::select! {
            started = client.start_shard(shard, total) => started.map_err(|e| match e {
                // A refused token will not be accepted on a retry either.
                serenity::Error::Gateway(GatewayError::InvalidAuthentication) => {
                    ChatError::Unauthorized("discord: the bot token was refused".to_owned())
                }
                e => ChatError::Unavailable(format!("discord gateway: {e}")),
            }),
            () = stop.cancelled() => Ok(()),
        };
        // Told to the runner itself too: after a shard restart, serenity 0.12.5's
        // `shutdown_all` can miss the restarted runner (it takes the restart's spare id on
        // its shutdown channel for this shutdown's answer). Also after an error: the queuer
        // holds the manager, and ends only when told.
        stop_runners(&manager).await;
        manager.shutdown_all().await;
        lock(&self.shard_managers).remove(&shard);
        drop(client);
        // Every sender is gone once serenity's runner (after closing its socket) and queuer
        // have ended; until then the shard counts as running, and its lease is kept.
        while tokio::time::timeout(SHUTDOWN_CHECK, gone.recv())
            .await
            .is_err()
        {
            tracing::warn!(
                shard,
                "discord: a shard's runner has not stopped yet; telling it again"
            );
            stop_runners(&manager).await;
        }
        tracing::info!(shard, "discord: a shard is closed");
        result
    }
}
