//! What the adapter keeps across restarts, in the port's [`Memory`] (the
//! bot's store): where threads live, where commands typed inside threads
//! stand, which jobs answer in their channel, and the newest message seen in
//! each channel. Keys:
//! - `thread:{thread}` → its parent channel;
//! - `at:{message}` → the thread the message stands in;
//! - `in_channel:{root}` → `1` when the job of `root` answers in the channel;
//! - `newest:{channel}` → the newest message id seen there.
//!
//! A memory that fails is logged, and the adapter carries on with what it
//! knows in this process.

use std::sync::Arc;

use mosaic_chat::Memory;

use crate::{Discord, PLATFORM};

impl Discord {
    fn memory(&self) -> Option<&Arc<dyn Memory>> {
        self.memory.get()
    }

    /// The value kept under `key`, if any.
    pub(crate) async fn recall(&self, key: &str) -> Option<String> {
        match self.memory()?.recall(PLATFORM, key).await {
            Ok(value) => value,
            Err(e) => {
                tracing::warn!(key, error = %e, "discord: cannot recall what was kept");
                None
            }
        }
    }

    /// A number kept under `key`, if any.
    pub(crate) async fn recall_id(&self, key: &str) -> Option<u64> {
        self.recall(key).await?.parse().ok().filter(|&n| n != 0)
    }

    /// Keeps `value` under `key` across restarts.
    pub(crate) async fn keep(&self, key: &str, value: &str) {
        let Some(memory) = self.memory() else {
            return;
        };
        if let Err(e) = memory.remember(PLATFORM, key, value).await {
            tracing::warn!(key, error = %e, "discord: cannot keep this across a restart");
        }
    }
}
