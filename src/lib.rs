//! mosaic-bot: relays Mosaic Stack fix jobs into chat threads.

pub mod backend;
pub mod secret;
