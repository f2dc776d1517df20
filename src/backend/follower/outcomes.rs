//! What a [`Follower`](super::Follower)'s steps lead to: reading one item, losing a
//! connection, failing to connect.

use std::time::Duration;

use super::StreamEnd;
use crate::backend::model::JobStatus;

/// What reading one item from the connection led to.
pub(super) enum Read {
    Continue,
    Complete(Option<JobStatus>),
    Lost(Loss),
}

/// Why a connection was lost.
pub(super) enum Loss {
    /// Nothing arrived, not even a keep-alive, for this long.
    Stalled(Duration),
    Closed,
    /// A line the SSE parser cannot go past.
    Malformed(String),
    /// The backend sent an `error` event.
    ServerError(String),
    Transport(String),
}

impl Loss {
    /// Its `reason` label in the reconnect metric.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Loss::Stalled(_) => "stalled",
            Loss::Closed => "closed",
            Loss::Malformed(_) => "malformed",
            Loss::ServerError(_) => "server_error",
            Loss::Transport(_) => "transport",
        }
    }
}

impl std::fmt::Display for Loss {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Loss::Stalled(silence) => write!(f, "stalled: nothing for {silence:?}"),
            Loss::Closed => f.write_str("closed by the server"),
            Loss::Malformed(error) => write!(f, "malformed: {error}"),
            Loss::ServerError(message) => write!(f, "server error: {message}"),
            Loss::Transport(error) => f.write_str(error),
        }
    }
}

/// Why a connect attempt did not give a usable connection.
pub(super) enum ConnectFailure {
    /// No connection to the server at all: REST would not get through either.
    Unreachable(String),
    /// The server is there but gave no usable stream (503, reset, silence, failed backfill).
    Refused(String),
    End(StreamEnd),
}
