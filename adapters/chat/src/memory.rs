//! [`Memory`]: what an adapter must keep across a restart (the newest
//! message it saw in a channel, where a thread lives), kept by the core in
//! the bot's store so that adapters need no database of their own, and
//! [`InMemory`], the same for tests and for a bot with nothing to keep.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::Platform;
use crate::platform::ChatFuture;

/// A small key-value store per platform that survives restarts.
///
/// Keys are the adapter's own (`last_seen:1234`); values are short strings.
/// A failure is reported as [`ChatError::Unavailable`](crate::ChatError):
/// the adapter carries on without what it could not keep or read.
pub trait Memory: Send + Sync + 'static {
    /// The value stored under `key` for `platform`, if any.
    fn recall<'a>(&'a self, platform: Platform, key: &'a str) -> ChatFuture<'a, Option<String>>;

    /// Stores `value` under `key` for `platform`, replacing any earlier one.
    fn remember<'a>(
        &'a self,
        platform: Platform,
        key: &'a str,
        value: &'a str,
    ) -> ChatFuture<'a, ()>;
}

/// A [`Memory`] that lives as long as the process.
#[derive(Debug, Default)]
pub struct InMemory {
    values: Mutex<HashMap<(Platform, String), String>>,
}

impl Memory for InMemory {
    fn recall<'a>(&'a self, platform: Platform, key: &'a str) -> ChatFuture<'a, Option<String>> {
        // A poisoned lock only means a panic elsewhere; the map is still whole.
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        let value = values.get(&(platform, key.to_owned())).cloned();
        Box::pin(async move { Ok(value) })
    }

    fn remember<'a>(
        &'a self,
        platform: Platform,
        key: &'a str,
        value: &'a str,
    ) -> ChatFuture<'a, ()> {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values.insert((platform, key.to_owned()), value.to_owned());
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn values_are_kept_per_platform_and_replaced() {
        let memory = InMemory::default();
        let slack = Platform::new("slack");
        let discord = Platform::new("discord");
        assert_eq!(memory.recall(slack, "k").await, Ok(None));
        memory.remember(slack, "k", "1").await.unwrap();
        memory.remember(slack, "k", "2").await.unwrap();
        assert_eq!(memory.recall(slack, "k").await, Ok(Some("2".into())));
        assert_eq!(memory.recall(discord, "k").await, Ok(None));
    }
}
