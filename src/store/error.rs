//! The store's one error type: which operation failed, and why.

use sqlx::migrate::MigrateError;

/// A failure of the persistent store.
///
/// Engine failures keep the operation they happened in (`"record_relayed"`)
/// next to sqlx's error, so a log line says what the bot was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The URL names no engine the store speaks (`sqlite:` or `postgres:`).
    #[error(
        "unsupported store URL {url:?}: expected sqlite://PATH, sqlite::memory: or postgres://…"
    )]
    UnsupportedUrl {
        /// The URL, password hidden.
        url: String,
    },
    /// The SQLite file's directory could not be created.
    #[error("could not create the store's directory {path}: {source}")]
    CreateDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// Connecting to the database failed.
    #[error("could not open the store at {url}: {source}")]
    Open {
        /// The URL, password hidden.
        url: String,
        #[source]
        source: sqlx::Error,
    },
    /// The schema could not be brought up to date.
    #[error("could not migrate the store: {0}")]
    Migrate(#[from] MigrateError),
    /// A statement failed in the engine.
    #[error("store: {operation} failed: {source}")]
    Engine {
        /// The [`Store`](super::Store) method that failed.
        operation: &'static str,
        #[source]
        source: sqlx::Error,
    },
    /// `insert_job` of a job id that is already followed.
    #[error("job {0} is already followed")]
    DuplicateJob(String),
    /// An update named a job the store does not follow.
    #[error("no followed job {0}")]
    UnknownJob(String),
    /// A platform name the store cannot turn back into a
    /// [`Platform`](mosaic_chat::Platform); see [`Platform::known`](mosaic_chat::Platform::known).
    #[error("unknown platform {0:?}")]
    UnknownPlatform(String),
    /// A stored value that this version of the bot cannot read.
    #[error("job {job_id}: column {column} holds {value:?}, which is not valid")]
    Corrupt {
        job_id: String,
        column: &'static str,
        value: String,
    },
    /// The group commit that carried this write failed, so the write was undone with the
    /// others of its group (one engine error, told to each of them).
    #[error("store: {operation} failed: its group commit failed: {message}")]
    GroupCommit {
        operation: &'static str,
        message: String,
    },
    /// A number above what the engines' BIGINT holds (2^63 - 1).
    #[error("{what} {value} is too large to store")]
    OutOfRange { what: &'static str, value: u64 },
}

impl StoreError {
    /// Wraps an engine error with the operation it interrupted.
    pub(super) fn engine(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |source| StoreError::Engine { operation, source }
    }
}
