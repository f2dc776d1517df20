//! Where things are on Discord, as far as the adapter has learnt: which
//! channels are threads of which parent, which message stands in which
//! channel, which jobs answer in their channel because no thread could be
//! made, which channels belong to which guild, the bot's managed roles, and
//! the newest message seen in each channel.
//! Pure bookkeeping behind one lock; the adapter keeps what must survive a
//! restart in the port's memory besides.

use std::collections::{HashMap, HashSet};

/// How many entries of each kind are kept before the oldest are forgotten.
const REMEMBERED: usize = 10_000;

/// A map that forgets everything when it grows past [`REMEMBERED`]: what
/// it forgets is looked up again (or recalled from memory).
#[derive(Debug, Default)]
struct Bounded<K, V>(HashMap<K, V>);

impl<K: std::hash::Hash + Eq, V> Bounded<K, V> {
    fn insert(&mut self, key: K, value: V) {
        if self.0.len() >= REMEMBERED {
            self.0.clear();
        }
        self.0.insert(key, value);
    }
}

/// The adapter's knowledge of places.
#[derive(Debug, Default)]
pub struct Places {
    /// Thread channel → its parent.
    threads: Bounded<u64, u64>,
    /// Channels known not to be threads.
    top_level: HashSet<u64>,
    /// Message → the thread it stands in, for messages not where their
    /// thread reference says (commands typed inside threads).
    locations: Bounded<u64, u64>,
    /// Root messages whose job answers in the channel: no thread could be
    /// made on them.
    in_channel: HashSet<u64>,
    /// Channel → its guild.
    guilds: Bounded<u64, u64>,
    /// Managed roles of bots: (role, the bot's user id), by guild, learnt
    /// whether or not the bot's own id is known yet.
    managed_roles: HashMap<u64, Vec<(u64, u64)>>,
    /// Channel → the newest message id seen there.
    newest: Bounded<u64, u64>,
}

impl Places {
    pub fn thread_parent(&self, thread: u64) -> Option<u64> {
        self.threads.0.get(&thread).copied()
    }

    pub fn is_top_level(&self, channel: u64) -> bool {
        self.top_level.contains(&channel)
    }

    pub fn learn_thread(&mut self, thread: u64, parent: u64) {
        self.threads.insert(thread, parent);
    }

    pub fn learn_top_level(&mut self, channel: u64) {
        if self.top_level.len() >= REMEMBERED {
            self.top_level.clear();
        }
        self.top_level.insert(channel);
    }

    pub fn location(&self, message: u64) -> Option<u64> {
        self.locations.0.get(&message).copied()
    }

    pub fn learn_location(&mut self, message: u64, channel: u64) {
        self.locations.insert(message, channel);
    }

    pub fn answers_in_channel(&self, root: u64) -> bool {
        self.in_channel.contains(&root)
    }

    pub fn answer_in_channel(&mut self, root: u64) {
        if self.in_channel.len() >= REMEMBERED {
            self.in_channel.clear();
        }
        self.in_channel.insert(root);
    }

    pub fn guild_of(&self, channel: u64) -> Option<u64> {
        self.guilds.0.get(&channel).copied()
    }

    pub fn learn_guild(&mut self, guild: u64, channels: impl IntoIterator<Item = u64>) {
        for channel in channels {
            self.guilds.insert(channel, guild);
        }
    }

    /// A guild as GUILD_CREATE tells it: its text channels and managed roles.
    pub fn learn_guild_contents(
        &mut self,
        guild: u64,
        text_channels: Vec<u64>,
        managed_roles: Vec<(u64, u64)>,
    ) {
        self.learn_guild(guild, text_channels);
        self.managed_roles.insert(guild, managed_roles);
    }

    /// Notes message `id` seen in `channel`.
    pub fn saw(&mut self, channel: u64, id: u64) {
        if self.newest(channel).is_none_or(|newest| newest < id) {
            self.newest.insert(channel, id);
        }
    }

    /// The newest message seen in `channel`.
    pub fn newest(&self, channel: u64) -> Option<u64> {
        self.newest.0.get(&channel).copied()
    }

    /// The managed roles of bot `user`, in every guild.
    pub fn roles_of_bot(&self, user: u64) -> Vec<u64> {
        self.managed_roles
            .values()
            .flatten()
            .filter(|(_, bot)| *bot == user)
            .map(|(role, _)| *role)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_roles_are_found_whenever_the_bots_id_is_learnt() {
        let mut places = Places::default();
        // GUILD_CREATE handled before READY: the roles wait for the id.
        places.learn_guild_contents(1, vec![10, 11], vec![(7, 42), (8, 43)]);
        assert_eq!(places.roles_of_bot(42), [7]);
        assert_eq!(places.guild_of(11), Some(1));
    }
}
