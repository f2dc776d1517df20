//! The store's frequent writes as values: each job start, card, verbosity change, relay end,
//! group of relay positions and inbound dedupe key is a [`Write`], run by [`Store::write`].
//!
//! On PostgreSQL the frequent writes of commands and relays (dedupe keys, cards, verbosity, a
//! job's start and a relay's end) run on the writer task's held connection (`pg_group.rs`), the
//! others on a connection of the pool, as one statement or, when they have several, one
//! transaction: replicas and tasks write side by side. On SQLite, which has one
//! writer, every write goes to one task (`batch.rs`) that runs whatever waits as one
//! transaction: a group commit. Thousands of jobs starting cost SQLite one commit per group
//! instead of one per write, and the writes no longer queue on the file's lock.

use std::time::Duration;

use mosaic_chat::ThreadRef;

use super::leases::Renewal;
use super::lifecycle::Inserted;
use super::{Engine, FollowedJob, Position, Store, StoreError, Verbosity};

/// One write of the store, owning what it writes.
#[derive(Debug)]
pub(super) enum Write {
    /// [`Store::first_sight`] / [`Store::first_sight_acted`].
    Sight {
        key: String,
        ttl: Duration,
        acted: bool,
    },
    /// [`Store::set_card`].
    SetCard {
        job_id: String,
        card_message_id: String,
    },
    /// [`Store::set_verbosity`].
    SetVerbosity {
        thread: ThreadRef,
        verbosity: Verbosity,
    },
    /// [`Store::insert_leased_job`].
    InsertLeased {
        job: Box<FollowedJob>,
        holder: String,
        instance: String,
        ttl: Duration,
    },
    /// [`Store::finish_relay`].
    FinishRelay {
        job_id: String,
        status: String,
        position: Option<Position>,
        holder: String,
    },
    /// [`Store::record_positions`]: one per job.
    Positions(Vec<Position>),
    /// [`Store::renew`]: a replica's heartbeat and what it holds. Through the group commit on
    /// SQLite so that the heartbeat never waits for the file's lock behind a storm of writes
    /// (SQLite's busy handler sleeps and retries; a writer that keeps the lock busy would
    /// starve it).
    Renew {
        id: String,
        instance: String,
        ttl: Duration,
        platforms: Vec<String>,
    },
    /// [`Store::remember`], for the same reason.
    Remember {
        platform: String,
        key: String,
        value: String,
    },
}

/// What a [`Write`] answers.
#[derive(Debug)]
pub(super) enum Written {
    /// Whether the key was seen for the first time.
    Sight(bool),
    Inserted(Inserted),
    Renewal(Option<Renewal>),
    Done,
}

impl Write {
    /// The operation named in errors.
    pub(super) fn operation(&self) -> &'static str {
        match self {
            Write::Sight { .. } => "first_sight",
            Write::SetCard { .. } => "set_card",
            Write::SetVerbosity { .. } => "set_verbosity",
            Write::InsertLeased { .. } => "insert_job",
            Write::FinishRelay { .. } => "finish",
            Write::Positions(_) => "record_positions",
            Write::Renew { .. } => "renew",
            Write::Remember { .. } => "remember",
        }
    }

    /// Whether the write is more than one statement on `engine`, so needs a transaction of its
    /// own when it runs alone (on PostgreSQL a job's start and a relay's end are one each).
    fn several_statements(&self, engine: Engine) -> bool {
        match self {
            Write::InsertLeased { .. } | Write::FinishRelay { .. } => engine == Engine::Sqlite,
            Write::Positions(_) | Write::Renew { .. } => true,
            _ => false,
        }
    }
}

impl Store {
    /// Runs `write`: through the group commit on SQLite; on PostgreSQL through the writer's
    /// connection when it is a small frequent one (`pg_group.rs`), else on a pooled connection.
    pub(super) async fn write(&self, write: Write) -> Result<Written, StoreError> {
        if let Some(batcher) = &self.batcher
            && (self.engine == Engine::Sqlite || super::pg_group::grouped(&write))
        {
            return batcher.submit(&self.pool, self.engine, write).await;
        }
        let operation = write.operation();
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::engine(operation))?;
        apply_alone(&mut connection, self.engine, &write).await
    }
}

/// Runs `write` on `connection` by itself: in a transaction of its own when it is several
/// statements, so that it is all or nothing.
pub(super) async fn apply_alone(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    write: &Write,
) -> Result<Written, StoreError> {
    if !write.several_statements(engine) {
        return apply(connection, engine, write).await;
    }
    let operation = write.operation();
    let mut tx = sqlx::Connection::begin(connection)
        .await
        .map_err(StoreError::engine(operation))?;
    // On an error the transaction is rolled back as it drops.
    let written = apply(&mut tx, engine, write).await?;
    tx.commit().await.map_err(StoreError::engine(operation))?;
    Ok(written)
}

/// Runs the statements of `write` on `connection`, in whatever transaction is open there. A
/// write that fails has written nothing that its transaction would keep: the multi-statement
/// ones stop at their first statement that changes no row (a duplicate job, an unknown one).
pub(super) async fn apply(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    write: &Write,
) -> Result<Written, StoreError> {
    match write {
        Write::Sight { key, ttl, acted } => super::dedupe::sight(connection, key, *ttl, *acted)
            .await
            .map(Written::Sight),
        Write::SetCard {
            job_id,
            card_message_id,
        } => super::jobs::set_card(connection, job_id, card_message_id)
            .await
            .map(|()| Written::Done),
        Write::SetVerbosity { thread, verbosity } => {
            super::jobs::set_verbosity(connection, thread, *verbosity)
                .await
                .map(|()| Written::Done)
        }
        Write::InsertLeased {
            job,
            holder,
            instance,
            ttl,
        } => super::lifecycle::insert_leased(connection, engine, job, holder, instance, *ttl)
            .await
            .map(Written::Inserted),
        Write::FinishRelay {
            job_id,
            status,
            position,
            holder,
        } => super::lifecycle::finish_relay(
            connection,
            engine,
            job_id,
            status,
            position.as_ref(),
            holder,
        )
        .await
        .map(|()| Written::Done),
        Write::Positions(positions) => super::positions::record_in(connection, engine, positions)
            .await
            .map(|()| Written::Done),
        Write::Renew {
            id,
            instance,
            ttl,
            platforms,
        } => {
            let platforms: Vec<&str> = platforms.iter().map(String::as_str).collect();
            super::renewal::renew(connection, engine, id, instance, *ttl, &platforms)
                .await
                .map(Written::Renewal)
        }
        Write::Remember {
            platform,
            key,
            value,
        } => super::memory::remember(connection, platform, key, value)
            .await
            .map(|()| Written::Done),
    }
}
