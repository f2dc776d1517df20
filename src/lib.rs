//! mosaic-bot: a chat-bot daemon that starts Mosaic Stack fix jobs and relays
//! their live events into chat threads.
//!
//! The flow runs one way: a platform adapter (`adapters/*`) turns a chat
//! message into an `Inbound`; the [`dispatch`]er parses it with [`command`],
//! calls the [`backend`], records the job in the [`store`] and hands it to the
//! [`relay`], which shows the job's events in its thread through the adapter.
//!
//! - [`command`]: the parser of what users type (`@mosaic fix #42`);
//! - [`dispatch`]: commands carried out, replies worded in one place;
//! - [`backend`]: the job backend's REST client and exactly-once event stream;
//! - [`relay`]: one task per followed job that shows its events in its chat
//!   thread (progress card, milestones, outcome), exactly once and within
//!   rate limits;
//! - [`store`]: the persistent state (SQLite or PostgreSQL): followed jobs,
//!   relay progress, inbound dedupe keys;
//! - [`daemon`]: platforms, relays, health endpoint and graceful shutdown;
//! - [`shards`]: Discord's gateway shards held by lease among replicas;
//! - [`config`]: typed configuration from a file and `MOSAIC__*` variables;
//! - [`cli`] and `run`: the `mosaic-bot` command line and its edges;
//! - [`secret`]: a string type that never prints its value.

pub mod backend;
mod chat_retry;
pub mod cli;
pub mod command;
pub mod config;
pub mod daemon;
pub mod dispatch;
pub mod metrics;
pub mod relay;
mod run;
pub mod shards;
/// [`Secret`](secret::Secret) lives in the chat port, where adapters can use it too.
pub mod secret {
    pub use mosaic_chat::secret::*;
}
pub mod store;
