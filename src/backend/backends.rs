//! `Backends`: one client per backend workspace the bot uses, found by the
//! workspace id. Each workspace has its own token, and a token is sent only
//! with its own workspace, so a client is bound to one of them.

use std::collections::HashMap;
use std::sync::Arc;

use super::BackendClient;

/// The clients of every workspace, by workspace id. Cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct Backends {
    by_workspace: Arc<HashMap<String, BackendClient>>,
}

impl Backends {
    /// The clients, each under the workspace it was built for.
    pub fn new(clients: impl IntoIterator<Item = BackendClient>) -> Backends {
        Backends {
            by_workspace: Arc::new(
                clients
                    .into_iter()
                    .map(|client| (client.workspace().to_owned(), client))
                    .collect(),
            ),
        }
    }

    /// The client of workspace `id`.
    pub fn get(&self, id: &str) -> Option<&BackendClient> {
        self.by_workspace.get(id)
    }

    /// Every client.
    pub fn iter(&self) -> impl Iterator<Item = &BackendClient> {
        self.by_workspace.values()
    }
}
