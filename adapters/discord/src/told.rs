//! Which missing permissions were told in which channel, kept across
//! restarts in the port's memory (`told:{channel}` → the told permissions'
//! bits), so a restarted bot does not post the same notice again; a
//! permission seen granted again is forgotten, so that losing it later is
//! told anew. Read on each catch-up, which follows every GUILD_CREATE.

use crate::permission::Permission;
use crate::{Discord, lock};

fn key(channel: u64) -> String {
    format!("told:{channel}")
}

impl Discord {
    /// The permissions told missing in `channel`, as kept.
    async fn told_bits(&self, channel: u64) -> u64 {
        let kept = self.recall(&key(channel)).await;
        kept.and_then(|bits| bits.parse().ok()).unwrap_or(0)
    }

    /// Whether `permission` was told missing in `channel` before, in this
    /// process or an earlier one.
    pub(crate) async fn told_before(&self, channel: u64, permission: Permission) -> bool {
        self.told_bits(channel).await & permission.bit() != 0
    }

    /// Keeps that `permission` was told missing in `channel`.
    pub(crate) async fn keep_told(&self, channel: u64, permission: Permission) {
        let bits = self.told_bits(channel).await | permission.bit();
        self.keep(&key(channel), &bits.to_string()).await;
    }

    /// Forgets the notices of `channel` whose permission is granted now.
    pub(crate) async fn forget_granted(&self, channel: u64) {
        let told = self.told_bits(channel).await;
        if told == 0 {
            return;
        }
        let Some(here) = self.computed(channel).await else {
            return;
        };
        let granted: Vec<Permission> = Permission::ALL
            .into_iter()
            .filter(|p| told & p.bit() != 0 && here.allows(*p))
            .collect();
        if granted.is_empty() {
            return;
        }
        let mut bits = told;
        for permission in granted {
            lock(&self.permissions).granted(channel, permission);
            bits &= !permission.bit();
        }
        self.keep(&key(channel), &bits.to_string()).await;
    }
}
