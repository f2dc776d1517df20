//! One process per SQLite file: a lock on `FILE.lock` held while the bot runs. SQLite cannot
//! share the bot's work between processes (one writer, no leases across hosts), so a second
//! `serve` on the same file is refused, naming PostgreSQL; the operating system lets go of the
//! lock when the process ends, even killed, so a restart is never refused.

use std::fs::{File, OpenOptions, TryLockError};

use super::Store;

/// Why the store could not be locked for this process.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "the SQLite store {path} is in use by another running mosaic-bot (it holds {path}.lock): a SQLite file serves one process; to run several replicas, share a PostgreSQL database (store.url = \"postgres://…\")"
    )]
    InUse { path: String },
    #[error("cannot lock the SQLite store {path} for this process ({path}.lock): {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Store {
    /// Locks a SQLite file store for this process until the returned file is dropped; `None`
    /// for stores other processes may share (PostgreSQL) or cannot reach (in memory).
    pub fn lock_for_this_process(&self) -> Result<Option<File>, LockError> {
        let Some(file) = self.sqlite_file() else {
            return Ok(None);
        };
        let path = file.display().to_string();
        let mut lock_path = file.as_os_str().to_owned();
        lock_path.push(".lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| LockError::Io {
                path: path.clone(),
                source,
            })?;
        match lock.try_lock() {
            Ok(()) => Ok(Some(lock)),
            Err(TryLockError::WouldBlock) => Err(LockError::InUse { path }),
            Err(TryLockError::Error(source)) => Err(LockError::Io { path, source }),
        }
    }
}
