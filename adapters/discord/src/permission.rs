//! The permissions the bot needs, by the action that needs them, and which
//! refusals have been told in which channel (each once per channel and
//! permission until it is granted again: a channel where the bot may not
//! react would otherwise get a notice for every command). What was told is
//! also kept across restarts (`told.rs`).

use std::collections::{HashMap, HashSet};

/// A permission the bot uses, with its bit (the documentation's
/// topics/permissions, "Bitwise Permission Flags").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Without it the bot sees nothing of a channel, and may do nothing there.
    ViewChannel,
    /// Reacting needs it, and Read Message History.
    AddReactions,
    /// Reading what was written while the bot was away, and reacting.
    /// Discord answers a history read without it with no messages, not an
    /// error (resources/message, "Get Channel Messages").
    ReadMessageHistory,
    SendMessages,
    /// Threads inherit every permission from their parent but this one
    /// (topics/permissions, "Inherited Permissions (Threads)").
    SendMessagesInThreads,
    CreatePublicThreads,
}

impl Permission {
    /// Every permission the bot uses.
    pub const ALL: [Permission; 6] = [
        Permission::ViewChannel,
        Permission::AddReactions,
        Permission::ReadMessageHistory,
        Permission::SendMessages,
        Permission::SendMessagesInThreads,
        Permission::CreatePublicThreads,
    ];

    /// The bit in a permission set.
    pub fn bit(self) -> u64 {
        match self {
            Permission::AddReactions => 1 << 6,
            Permission::ViewChannel => 1 << 10,
            Permission::SendMessages => 1 << 11,
            Permission::ReadMessageHistory => 1 << 16,
            Permission::CreatePublicThreads => 1 << 35,
            Permission::SendMessagesInThreads => 1 << 38,
        }
    }

    /// The name Discord's server settings show.
    pub fn label(self) -> &'static str {
        match self {
            Permission::ViewChannel => "View Channel",
            Permission::AddReactions => "Add Reactions",
            Permission::ReadMessageHistory => "Read Message History",
            Permission::SendMessages => "Send Messages",
            Permission::SendMessagesInThreads => "Send Messages in Threads",
            Permission::CreatePublicThreads => "Create Public Threads",
        }
    }

    /// What the bot could not do without it, for the notice.
    fn doing(self) -> &'static str {
        match self {
            Permission::ViewChannel => "see this channel",
            Permission::AddReactions => "react to commands (👀, ✅, ❌)",
            Permission::ReadMessageHistory => {
                "read commands written while I was away, nor react to commands"
            }
            Permission::SendMessages => "answer in this channel",
            Permission::SendMessagesInThreads => "answer in threads of this channel",
            Permission::CreatePublicThreads => {
                "start a thread for each job, so I answer in the channel instead"
            }
        }
    }
}

/// The notice posted in a channel where `permission` is missing.
pub fn notice(permission: Permission) -> String {
    let also = match permission {
        Permission::AddReactions => " (and **Read Message History**)",
        _ => "",
    };
    format!(
        "I am missing the **{}** permission{also} in this channel, so I cannot {}. \
         A server admin can grant it to my role in the channel's settings \
         (Permissions).",
        permission.label(),
        permission.doing(),
    )
}

/// How many channels' permissions are kept before the oldest are forgotten.
const REMEMBERED: usize = 10_000;

/// What the bot knows of its permissions, and what it has told.
#[derive(Debug, Default)]
pub struct Permissions {
    /// Channel → the bot's permissions there, as the last interaction in it
    /// said (`app_permissions`): asked only for a channel whose permissions
    /// cannot be computed (its guild not told yet).
    known: HashMap<u64, u64>,
    /// (channel, permission) pairs already told.
    told: HashSet<(u64, Permission)>,
}

impl Permissions {
    /// Records the bot's permissions in `channel`.
    pub fn learn(&mut self, channel: u64, bits: u64) {
        if self.known.len() >= REMEMBERED {
            self.known.clear();
        }
        self.known.insert(channel, bits);
    }

    /// Whether the bot is known to lack `permission` in `channel`.
    pub fn lacks(&self, channel: u64, permission: Permission) -> bool {
        self.known
            .get(&channel)
            .is_some_and(|bits| bits & permission.bit() == 0)
    }

    /// Records that `permission` is missing in `channel`; true the first
    /// time, when it is to be told.
    pub fn first_refusal(&mut self, channel: u64, permission: Permission) -> bool {
        if let Some(bits) = self.known.get_mut(&channel) {
            *bits &= !permission.bit();
        }
        if self.told.len() >= REMEMBERED {
            self.told.clear();
        }
        self.told.insert((channel, permission))
    }

    /// Records that `permission` is granted in `channel` again: a later
    /// refusal is told anew.
    pub fn granted(&mut self, channel: u64, permission: Permission) {
        self.told.remove(&(channel, permission));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_told_once_per_channel_and_permission() {
        let mut p = Permissions::default();
        assert!(p.first_refusal(1, Permission::AddReactions));
        assert!(!p.first_refusal(1, Permission::AddReactions));
        assert!(p.first_refusal(1, Permission::CreatePublicThreads));
        assert!(p.first_refusal(2, Permission::AddReactions));
    }

    #[test]
    fn known_permissions_say_what_is_missing() {
        let mut p = Permissions::default();
        assert!(
            !p.lacks(1, Permission::CreatePublicThreads),
            "unknown is not lacking"
        );
        p.learn(1, Permission::SendMessages.bit());
        assert!(p.lacks(1, Permission::CreatePublicThreads));
        assert!(!p.lacks(1, Permission::SendMessages));
        assert!(notice(Permission::CreatePublicThreads).contains("**Create Public Threads**"));
    }
}
