//! mosaic-bot: a chat-bot daemon that starts Mosaic Stack fix jobs and relays
//! their live events into chat threads.
//!
//! - [`command`]: the parser of what users type (`@mosaic fix #42`);
//! - [`config`]: typed configuration from a file and `MOSAIC__*` variables;
//! - [`cli`]: the `mosaic-bot` command line;
//! - [`store`]: the persistent state (SQLite or PostgreSQL): followed jobs,
//!   relay progress, inbound dedupe keys;
//! - [`backend`]: the job-backend client (REST calls and exactly-once event streams);
//! - [`relay`]: one task per followed job that shows its events in its chat thread
//!   (progress card, milestones, outcome), exactly once and within rate limits;
//! - [`secret`]: credentials that never show in logs.

pub mod backend;
pub mod cli;
pub mod command;
pub mod config;
pub mod relay;
pub mod secret;
pub mod store;
