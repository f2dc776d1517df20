//! The daemon: starts the platforms, the relay hub and the health endpoint,
//! feeds every inbound message to the dispatcher, and shuts down gracefully.
//!
//! One [`CancellationToken`] is the shutdown signal: SIGINT or SIGTERM
//! cancels it, and every platform and relay task watches a child of it. On
//! shutdown the bot stops taking commands, lets the relays persist where they
//! are, and exits within [`SHUTDOWN_DEADLINE`] (orchestrators kill after 10 s).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use mosaic_chat::{ChatPlatform, Connection, Platform, RunContext, ShardLeases};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::backend::{BackendClient, BackendConfig, BackendError, Backends};
use crate::config::Config;
use crate::dispatch::{Dispatcher, Lanes};
use crate::metrics::Metrics;
use crate::relay::{LeaseError, Platforms, RelayHub, Replica};
use crate::shards::ShardKeeper;
use crate::store::{Engine, Store, StoreError};

/// How long relays get to persist and stop once shutdown begins.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(8);

/// Why the daemon could not run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error(
        "no chat platform is enabled: configure [discord], [slack] or [mattermost], or run `mosaic-bot console`"
    )]
    NoPlatform,
    #[error(
        "the configuration has no [backend] section: set backend.url, backend.workspace and MOSAIC__BACKEND__TOKEN"
    )]
    NoBackend,
    #[error("cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("cannot set up the backend client: {0}")]
    Backend(#[from] BackendError),
    #[error("cannot serve health checks on {addr}: {source}")]
    Http {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("every chat platform stopped")]
    PlatformsStopped,
    #[error(transparent)]
    SqliteLock(#[from] crate::store::LockError),
    #[error(transparent)]
    Lease(#[from] LeaseError),
}

/// How a run of the daemon behaves.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Serve `/healthz` and `/readyz` here.
    pub http_listen: Option<SocketAddr>,
    /// The console: when every platform's input has ended, wait for the
    /// relays to finish, then exit successfully.
    pub exit_when_input_ends: bool,
}

/// One backend client per workspace of `config`.
pub fn backend_clients(config: &Config) -> Result<Backends, DaemonError> {
    let backend = config.backend.as_ref().ok_or(DaemonError::NoBackend)?;
    let clients = backend
        .workspaces
        .iter()
        .map(|workspace| {
            let mut settings =
                BackendConfig::new(&backend.url, workspace.token.clone(), &workspace.id);
            settings.stream.stall_timeout = backend.stall_timeout;
            BackendClient::new(settings)
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Backends::new(clients))
}

/// Jobs stored before jobs had a workspace were all started in the one the
/// configuration had then, which is `[backend]`'s.
async fn adopt_old_jobs(config: &Config, store: &Store) -> Result<(), DaemonError> {
    let Some(default) = config.backend.as_ref().and_then(|b| b.default_workspace()) else {
        return Ok(());
    };
    let adopted = store.adopt_jobs_without_workspace(&default.id).await?;
    if adopted > 0 {
        tracing::info!(adopted, workspace = %default.id, "jobs stored without a workspace now belong to the default one");
    }
    Ok(())
}

/// Runs the bot on `platforms` until shutdown (or, for the console, until
/// its input ends and every relay has finished).
pub async fn run(
    config: Arc<Config>,
    backends: Backends,
    platforms: Vec<Arc<dyn ChatPlatform>>,
    options: RunOptions,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    if platforms.is_empty() {
        return Err(DaemonError::NoPlatform);
    }
    let store = Store::open(config.store_url.expose()).await?;
    // Held until this function returns; the OS lets go of it if the process dies.
    let _sqlite_lock = store.lock_for_this_process()?;
    adopt_old_jobs(&config, &store).await?;
    let by_name: Platforms = platforms
        .iter()
        .map(|p| (p.platform(), Arc::clone(p)))
        .collect();
    let metrics = Metrics::new();
    for backend in backends.iter() {
        backend.attach_metrics(Arc::clone(&metrics));
    }
    let replica = Replica::new(&config.replicas.id, config.replicas.lease);
    let hub = RelayHub::for_replica(
        store.clone(),
        backends.clone(),
        by_name.clone(),
        config.bot_name.clone(),
        shutdown.child_token(),
        replica.clone(),
    );
    hub.attach_metrics(Arc::clone(&metrics));
    let dispatcher = Dispatcher::new(
        Arc::clone(&config),
        store.clone(),
        backends,
        hub.clone(),
        by_name,
        Arc::clone(&metrics),
    );
    let states = PlatformStates::default();
    if let Some(addr) = options.http_listen {
        let health = Health {
            store: store.clone(),
            platforms: states.clone(),
            metrics,
            relays: hub.clone(),
        };
        serve_health(addr, health, shutdown.child_token()).await?;
    }

    let (inbox, mut inbound) = mpsc::channel(256);
    let (presses_to, mut presses) = mpsc::channel(256);
    // On a shared store, Discord's shards are held by lease (`shards.rs`); a store only this
    // process uses (SQLite) leaves every shard to it.
    // The keeper starts once this replica's heartbeat is registered (its id proven its own).
    let shard_keeper = match &config.discord {
        Some(discord) if store.engine() != Engine::Sqlite => {
            Some(ShardKeeper::new(store.clone(), replica, discord.shards))
        }
        _ => None,
    };
    for platform in platforms {
        let name = platform.platform();
        states.add(Arc::clone(&platform));
        platform.accept_presses(presses_to.clone());
        let mut ctx = RunContext::new(inbox.clone(), shutdown.child_token())
            .with_memory(Arc::new(store.clone()))
            .with_catch_up(config.catch_up);
        if let Some(keeper) = shard_keeper.as_ref().filter(|_| name.name() == "discord") {
            ctx = ctx.with_shards(keeper.shards() as Arc<dyn ShardLeases>);
        }
        let task = platform.run(ctx);
        let states = states.clone();
        tokio::spawn(async move {
            match task.await {
                Ok(()) => states.ended(name, "stopped"),
                Err(e) => {
                    tracing::error!(platform = %name, error = %e, "the platform stopped");
                    states.ended(name, "failed");
                }
            }
        });
    }
    // Every platform task holds a sender: the inbox ends when they all stop.
    // (A platform that takes presses holds that sender while it runs.)
    drop(inbox);
    drop(presses_to);

    // A store only this process can use (SQLite) has no other replica: every unfinished job
    // is this one's at once. The keeper outlives the relays' shutdown, renewing their leases
    // while they persist.
    let keeper_stop = CancellationToken::new();
    let exclusive = store.engine() == Engine::Sqlite;
    let keeper = match hub.start_leases(exclusive, keeper_stop.clone()).await {
        Ok(keeper) => keeper,
        Err(e) => {
            shutdown.cancel();
            hub.shutdown(SHUTDOWN_DEADLINE).await;
            store.close().await;
            return Err(e.into());
        }
    };

    let shard_keeper = shard_keeper.map(|keeper| keeper.spawn(shutdown.child_token()));

    let lanes = Lanes::new(dispatcher, shutdown.child_token());
    let mut result = Ok(());
    let mut presses_open = true;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            // Messages before presses: a press read after a message is queued after it.
            message = inbound.recv() => match message {
                Some(message) => tokio::select! {
                    () = lanes.submit(message) => {}
                    () = shutdown.cancelled() => break,
                },
                None if options.exit_when_input_ends => {
                    tokio::select! {
                        () = async {
                            // Presses read before the input ended are still handled.
                            while let Ok(press) = presses.try_recv() {
                                lanes.submit_press(press).await;
                            }
                            lanes.drain().await;
                            hub.idle().await;
                        } => {}
                        () = shutdown.cancelled() => {}
                    }
                    break;
                }
                None => {
                    result = Err(DaemonError::PlatformsStopped);
                    break;
                }
            },
            press = presses.recv(), if presses_open => match press {
                Some(press) => tokio::select! {
                    () = lanes.submit_press(press) => {}
                    () = shutdown.cancelled() => break,
                },
                None => presses_open = false,
            },
        }
    }
    tracing::info!("shutting down");
    shutdown.cancel();
    hub.shutdown(SHUTDOWN_DEADLINE).await;
    keeper_stop.cancel();
    if let Err(e) = keeper.await {
        tracing::error!(error = %e, "the relay lease keeper failed");
    }
    if let Some(shards) = shard_keeper
        && let Err(e) = shards.await
    {
        tracing::error!(error = %e, "the shard lease keeper failed");
    }
    store.close().await;
    result
}

/// Cancels `token` on SIGINT or SIGTERM.
pub fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let interrupt = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot listen for SIGTERM");
                        let _ = interrupt.await;
                        token.cancel();
                        return;
                    }
                };
            tokio::select! {
                _ = interrupt => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        let _ = interrupt.await;
        tracing::info!("signal received");
        token.cancel();
    });
}

/// A platform, and how its task ended if it did.
type PlatformEntry = (Arc<dyn ChatPlatform>, Option<&'static str>);

/// Each platform and its state, for `/readyz`.
#[derive(Clone, Default)]
struct PlatformStates(Arc<Mutex<HashMap<Platform, PlatformEntry>>>);

impl PlatformStates {
    fn add(&self, platform: Arc<dyn ChatPlatform>) {
        // A poisoned lock only means a panic elsewhere; the map is still usable.
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        map.insert(platform.platform(), (platform, None));
    }

    /// The platform's task ended: `stopped` or `failed`.
    fn ended(&self, platform: Platform, how: &'static str) {
        let mut map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(entry) = map.get_mut(&platform) {
            entry.1 = Some(how);
        }
    }

    /// Each platform's state: how its task ended, else its connection's.
    fn snapshot(&self) -> Vec<(Platform, &'static str)> {
        let map = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = map
            .iter()
            .map(|(p, (chat, ended))| (*p, ended.unwrap_or_else(|| chat.connection().as_str())))
            .collect();
        all.sort();
        all
    }
}

#[derive(Clone)]
struct Health {
    store: Store,
    platforms: PlatformStates,
    metrics: Arc<Metrics>,
    relays: RelayHub,
}

/// Binds `addr` and serves `/healthz`, `/readyz` and `/metrics` until `shutdown`.
async fn serve_health(
    addr: SocketAddr,
    health: Health,
    shutdown: CancellationToken,
) -> Result<(), DaemonError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| DaemonError::Http { addr, source })?;
    let bound = listener.local_addr().unwrap_or(addr);
    tracing::info!(addr = %bound, "serving /healthz, /readyz and /metrics");
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/metrics", get(metrics))
        .with_state(health);
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.cancelled_owned())
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "the health endpoint stopped");
        }
    });
    Ok(())
}

/// The Prometheus text format; the followed-jobs gauge is read at scrape time.
async fn metrics(State(health): State<Health>) -> impl IntoResponse {
    health.metrics.set_jobs_followed(health.relays.running());
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        health.metrics.render(),
    )
}

/// 200 when the store answers, every platform is connected and the relay leases are renewed;
/// 503 otherwise. The body says which part is not ready, and what this replica holds.
async fn ready(State(health): State<Health>) -> impl IntoResponse {
    let store = match health.store.ping().await {
        Ok(()) => "ok".to_owned(),
        Err(e) => format!("failing: {e}"),
    };
    let platforms = health.platforms.snapshot();
    let connected = Connection::Connected.as_str();
    let all_connected = !platforms.is_empty() && platforms.iter().all(|(_, s)| *s == connected);
    let relays = &health.relays;
    // A replica that cannot renew its leases has stopped relaying: not ready.
    let leases_ok = !relays.leases_failing();
    let replica = serde_json::json!({
        "id": relays.replica_id(),
        "leases": if leases_ok { "renewed" } else { "failing" },
        "leases_held": relays.leases_held(),
        "relays": relays.running(),
    });
    let status = if store == "ok" && all_connected && leases_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let platforms: serde_json::Map<String, serde_json::Value> = platforms
        .into_iter()
        .map(|(p, s)| (p.name().to_owned(), s.into()))
        .collect();
    let body = serde_json::json!({ "store": store, "platforms": platforms, "replica": replica });
    (status, axum::Json(body))
}
