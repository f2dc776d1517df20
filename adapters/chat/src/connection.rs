//! How a platform's connection to its servers stands: what `/readyz`
//! reports. An adapter keeps a [`ConnectionState`] and sets it as its
//! socket comes and goes; the core only reads it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

/// The state of a platform's connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Connection {
    /// Not connected yet since the adapter started.
    Connecting,
    /// Receiving messages.
    Connected,
    /// Lost, and being re-established: messages wait on the platform's side.
    Reconnecting,
}

impl Connection {
    /// Its name in `/readyz`.
    pub fn as_str(self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Connected => "connected",
            Connection::Reconnecting => "reconnecting",
        }
    }

    fn from_u8(value: u8) -> Connection {
        match value {
            1 => Connection::Connected,
            2 => Connection::Reconnecting,
            _ => Connection::Connecting,
        }
    }

    fn to_u8(self) -> u8 {
        match self {
            Connection::Connecting => 0,
            Connection::Connected => 1,
            Connection::Reconnecting => 2,
        }
    }
}

/// Where an adapter keeps its [`Connection`]; clones share it.
#[derive(Debug, Clone, Default)]
pub struct ConnectionState(Arc<AtomicU8>);

impl ConnectionState {
    /// A state that starts as [`Connection::Connecting`].
    pub fn new() -> ConnectionState {
        ConnectionState::default()
    }

    pub fn set(&self, connection: Connection) {
        self.0.store(connection.to_u8(), Ordering::Relaxed);
    }

    pub fn get(&self) -> Connection {
        Connection::from_u8(self.0.load(Ordering::Relaxed))
    }

    /// Marks a lost connection: `Reconnecting` once it had been connected,
    /// else it stays `Connecting`.
    pub fn lost(&self) {
        // Only Connected moves to Reconnecting; a failed first connect stays Connecting.
        let _ = self.0.compare_exchange(
            Connection::Connected.to_u8(),
            Connection::Reconnecting.to_u8(),
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_moves_as_its_connection_does() {
        let state = ConnectionState::new();
        assert_eq!(state.get(), Connection::Connecting);
        state.lost();
        assert_eq!(state.get(), Connection::Connecting, "never connected yet");
        state.set(Connection::Connected);
        let shared = state.clone();
        shared.lost();
        assert_eq!(state.get(), Connection::Reconnecting);
        assert_eq!(state.get().as_str(), "reconnecting");
        state.set(Connection::Connected);
        assert_eq!(shared.get(), Connection::Connected);
    }
}
