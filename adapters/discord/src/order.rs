//! Per-channel order for what the gateway delivers. Serenity 0.12 runs
//! every event handler in a task of its own (`client/dispatch.rs`,
//! `dispatch_model`), and tokio may start the later of two tasks first
//! (its LIFO slot), so two quick messages in one channel can reach the
//! handlers reversed, and one handler awaiting a REST lookup lets the next
//! overtake it. Discord's ids are snowflakes that grow with time (the
//! documentation's reference, "Snowflakes"), and within a channel they are
//! its order; so each message takes a place by its id as soon as its
//! handler starts, and goes to the inbox only when every earlier place of
//! its channel has gone. A short hold lets a handler that was started late
//! take its place first.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mosaic_chat::Inbound;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long a message waits for an earlier one whose handler started late.
/// Handlers start within microseconds of each other; this is far more, and
/// far less than a person notices.
const HOLD: Duration = Duration::from_millis(30);

/// A place taken in a channel's line.
#[derive(Debug)]
pub struct Ticket {
    channel: u64,
    /// The message's id, and a count that tells its deliveries apart (a
    /// message and its edit may be in flight together).
    place: (u64, u64),
    taken: Instant,
}

enum Place {
    Waiting,
    /// Done: the message to hand on, or `None` when it is not for the bot.
    Done(Option<Box<Inbound>>),
}

#[derive(Default)]
struct Line {
    places: BTreeMap<(u64, u64), Place>,
    /// Held while handing messages on, so they go in the order taken out.
    sending: Arc<tokio::sync::Mutex<()>>,
}

/// The lines of every channel.
#[derive(Default)]
pub struct Order {
    lines: Mutex<HashMap<u64, Line>>,
    taken: std::sync::atomic::AtomicU64,
}

impl Order {
    fn lines(&self) -> MutexGuard<'_, HashMap<u64, Line>> {
        // Nothing panics while holding it; a poisoned map is still whole.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes message `id`'s place in `channel`'s line; call it before the
    /// handler awaits anything.
    pub fn take(&self, channel: u64, id: u64) -> Ticket {
        let count = self
            .taken
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let place = (id, count);
        self.lines()
            .entry(channel)
            .or_default()
            .places
            .insert(place, Place::Waiting);
        Ticket {
            channel,
            place,
            taken: Instant::now(),
        }
    }

    /// Fills `ticket`'s place with what to hand on (`None`: nothing), then
    /// hands on, in id order, every done message of the channel not behind
    /// a waiting one.
    pub async fn deliver(
        &self,
        ticket: Ticket,
        inbound: Option<Inbound>,
        inbox: &mpsc::Sender<Inbound>,
    ) {
        tokio::time::sleep_until(ticket.taken + HOLD).await;
        let sending = {
            let mut lines = self.lines();
            let line = lines.entry(ticket.channel).or_default();
            line.places
                .insert(ticket.place, Place::Done(inbound.map(Box::new)));
            Arc::clone(&line.sending)
        };
        let _sending = sending.lock().await;
        let ready = {
            let mut lines = self.lines();
            let Some(line) = lines.get_mut(&ticket.channel) else {
                return;
            };
            let mut ready = Vec::new();
            while let Some(entry) = line.places.first_entry() {
                if matches!(entry.get(), Place::Waiting) {
                    break;
                }
                if let Place::Done(inbound) = entry.remove() {
                    ready.extend(inbound.map(|b| *b));
                }
            }
            if line.places.is_empty() {
                lines.remove(&ticket.channel);
            }
            ready
        };
        for inbound in ready {
            // The core stopped listening: shutting down, nothing to do.
            let _ = inbox.send(inbound).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mosaic_chat::{Platform, UserRef};

    fn inbound(id: u64) -> Inbound {
        Inbound {
            platform: Platform::new("discord"),
            channel: "1".into(),
            message_id: id.to_string(),
            thread: None,
            user: UserRef {
                id: "u".into(),
                name: "u".into(),
            },
            roles: Vec::new(),
            text: "@m help".into(),
            slash: false,
            reply_handle: None,
            dedupe_key: format!("discord:{id}"),
            created_at: std::time::SystemTime::UNIX_EPOCH,
            edit: None,
        }
    }

    #[tokio::test]
    async fn a_later_message_waits_for_an_earlier_one_of_its_channel_only() {
        let order = Order::default();
        let (tx, mut rx) = mpsc::channel(8);
        let first = order.take(1, 10);
        let second = order.take(1, 11);
        let elsewhere = order.take(2, 12);
        order.deliver(second, Some(inbound(11)), &tx).await;
        order.deliver(elsewhere, Some(inbound(12)), &tx).await;
        assert_eq!(rx.try_recv().map(|i| i.message_id), Ok("12".to_owned()));
        order.deliver(first, None, &tx).await;
        assert_eq!(rx.try_recv().map(|i| i.message_id), Ok("11".to_owned()));
        assert!(rx.try_recv().is_err());
        assert!(order.lines().is_empty(), "lines are dropped once empty");
    }
}
