//! Grouped small writes: the frequent one-row writes of commands and relays (inbound dedupe
//! keys, a job's card, a thread's verbosity) that wait together for the store's writer task
//! (`batch.rs`) are decided by one statement per kind. On PostgreSQL they run on one connection
//! that the writer holds while writes keep coming, each statement committing on its own; on
//! SQLite inside the writer's group transaction ([`decide_in_transaction`]), beside the group's
//! other writes.
//!
//! Each write through the pool cost two round trips to the server: the statement, and the ping
//! sqlx sends on every connection handed back (it cannot be turned off), plus the hand-off of a
//! connection between tasks. On the writer's connection a write costs its statement's round
//! trip only, and a group of writes of one kind one round trip between them.
//!
//! On PostgreSQL, every statement here commits on its own (no transaction spans a group): each
//! write is as atomic as it was alone, and a replica's group holds its row locks for one
//! statement only.
//! A group's rows go in key order, so two replicas' groups of dedupe keys lock shared keys in
//! the same order and cannot deadlock each other (an `UPDATE`'s order is the plan's, but a
//! job's card is written by the replica that relays it only). Should the statement fail
//! anyway (a deadlock with another writer, a serialization failure, a lost connection), each
//! of its writes runs again alone, and gets the answer it would have got alone.
//!
//! On PostgreSQL a job's start and a relay's end (one statement each, `lifecycle.rs`) run on
//! the writer's connection too, one by one after the group's small writes: on the pool each
//! cost a second round trip for the ping as its connection went back (a 200-job relay bench:
//! 3.2 pings per job, three of them from these two writes and the command's job read).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sqlx::Row;

use super::batch::Waiting;
use super::group_sql::{Kind, MAX_ROWS, statement};
use super::writes::{Write, Written, apply_alone};
use super::{Engine, StoreError, now, since_epoch};

/// Whether `write` goes to PostgreSQL's writer task (the others run on the pool).
pub(super) fn grouped(write: &Write) -> bool {
    matches!(
        write,
        Write::Sight { .. }
            | Write::SetCard { .. }
            | Write::SetVerbosity { .. }
            | Write::InsertLeased { .. }
            | Write::FinishRelay { .. }
    )
}

/// Every kind, in the order of their numbers (`Kind as usize`).
const KINDS: [Kind; 3] = [Kind::Sight, Kind::Card, Kind::Verbosity];

/// The kind of `write` when it is one decided together with others of its kind.
fn kind_of(write: &Write) -> Option<Kind> {
    match write {
        Write::Sight { .. } => Some(Kind::Sight),
        Write::SetCard { .. } => Some(Kind::Card),
        Write::SetVerbosity { .. } => Some(Kind::Verbosity),
        _ => None,
    }
}

/// Runs `group` (emptied) on `connection` and answers each of its writes. False when a write
/// failed in the engine: the connection may be broken, and is not kept for the next group.
pub(super) async fn run_group(
    connection: &mut sqlx::AnyConnection,
    group: &mut Vec<Waiting>,
) -> bool {
    let mut kinds: [Vec<Waiting>; 3] = Default::default();
    let mut others = Vec::new();
    for waiting in group.drain(..) {
        match kind_of(&waiting.write) {
            Some(kind) => kinds[kind as usize].push(waiting),
            None => others.push(waiting),
        }
    }
    let mut healthy = true;
    for (kind, writes) in KINDS.into_iter().zip(kinds) {
        healthy &= if writes.len() > 1 {
            together(connection, kind, writes).await
        } else {
            alone(connection, writes).await
        };
    }
    healthy &= alone(connection, others).await;
    healthy
}

/// Runs each of `writes` by itself, in order; false when one failed in the engine.
async fn alone(connection: &mut sqlx::AnyConnection, writes: Vec<Waiting>) -> bool {
    let mut healthy = true;
    for Waiting { write, done } in writes {
        let answer = apply_alone(connection, Engine::Postgres, &write).await;
        healthy &= !matches!(answer, Err(StoreError::Engine { .. }));
        let _ = done.send(answer);
    }
    healthy
}

/// Decides `writes` (every one of `kind`) with one statement per [`MAX_ROWS`] rows; false when
/// that failed in the engine and a write run alone afterwards failed too.
async fn together(connection: &mut sqlx::AnyConnection, kind: Kind, writes: Vec<Waiting>) -> bool {
    let refs: Vec<&Write> = writes.iter().map(|w| &w.write).collect();
    let decided = decide(connection, Engine::Postgres, kind, &refs).await;
    match decided {
        Ok(answers) => {
            tracing::debug!(writes = writes.len(), "a group of small writes committed");
            for (Waiting { done, .. }, answer) in writes.into_iter().zip(answers) {
                let _ = done.send(answer);
            }
            true
        }
        Err(error) => {
            tracing::debug!(%error, "a group of small writes failed; each runs again alone");
            alone(connection, writes).await
        }
    }
}

/// Decides `writes`, every one of `kind`, by one statement per [`MAX_ROWS`] rows.
async fn decide(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    kind: Kind,
    writes: &[&Write],
) -> Result<Answers, StoreError> {
    match kind {
        Kind::Sight => first_sights(connection, engine, writes).await,
        Kind::Card => cards(connection, engine, writes).await,
        Kind::Verbosity => verbosities(connection, engine, writes).await,
    }
}

/// SQLite: the answers to `group`'s writes, in order, run on `connection` inside the group's
/// transaction (`batch.rs`). The small writes of a kind that waits more than once are decided
/// by one statement, as on PostgreSQL; every other write runs by itself, in order. Under the
/// relay bench (5,000 jobs) a group held ~100 writes, each a statement and two hand-overs to
/// SQLite's thread; four of a job's ten statements are of these kinds. The first failure (an
/// engine error, or a write answered with an error, as a card for no job) ends it: the caller
/// rolls the group back and runs each write alone, which answers each as it would alone.
pub(super) async fn decide_in_transaction(
    connection: &mut sqlx::AnyConnection,
    group: &[Waiting],
) -> Result<Vec<Written>, StoreError> {
    let mut answers: Vec<Option<Written>> = (0..group.len()).map(|_| None).collect();
    let mut kinds: [Vec<usize>; 3] = Default::default();
    let mut others = Vec::new();
    for (at, waiting) in group.iter().enumerate() {
        match kind_of(&waiting.write) {
            Some(kind) => kinds[kind as usize].push(at),
            None => others.push(at),
        }
    }
    for (kind, ats) in KINDS.into_iter().zip(kinds) {
        if ats.len() < 2 {
            others.extend(ats);
            continue;
        }
        let writes: Vec<&Write> = ats.iter().map(|&at| &group[at].write).collect();
        let decided = decide(connection, Engine::Sqlite, kind, &writes).await?;
        for (at, answer) in ats.into_iter().zip(decided) {
            answers[at] = Some(answer?);
        }
    }
    others.sort_unstable();
    for at in others {
        answers[at] =
            Some(super::writes::apply(connection, Engine::Sqlite, &group[at].write).await?);
    }
    Ok(answers.into_iter().flatten().collect())
}

/// What the writes of one group answer, in their order.
type Answers = Vec<Result<Written, StoreError>>;

/// Whether each of `sights` is the first sighting of its key, as if they ran one after the
/// other in their order: only the first write of a key in the group can be (a later one sees
/// the key recorded); those first writes are decided by one statement.
async fn first_sights(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    sights: &[&Write],
) -> Result<Answers, StoreError> {
    let (now, _) = since_epoch(Duration::ZERO);
    let mut keys: HashMap<&str, (i64, i64)> = HashMap::with_capacity(sights.len());
    let mut firsts = Vec::with_capacity(sights.len());
    for write in sights {
        let Write::Sight { key, ttl, acted } = write else {
            unreachable!("a group holds one kind of write");
        };
        let first = !keys.contains_key(key.as_str());
        if first {
            keys.insert(key, (since_epoch(*ttl).1, i64::from(*acted)));
        }
        firsts.push((key.as_str(), first));
    }
    // In key order, so that two replicas' groups take shared keys' locks in one order.
    let mut rows: Vec<(&str, (i64, i64))> = keys.into_iter().collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    let mut taken = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_ROWS) {
        let size = chunk.len().next_power_of_two();
        let mut query = sqlx::query(statement(Kind::Sight, size, engine));
        if engine == Engine::Postgres {
            query = query.bind(now);
        }
        for (key, (expires_at, acted)) in chunk {
            query = query
                .bind(Some(*key))
                .bind(Some(*expires_at))
                .bind(Some(*acted));
        }
        for _ in chunk.len()..size {
            query = query.bind(None::<&str>).bind(None::<i64>).bind(None::<i64>);
        }
        if engine == Engine::Sqlite {
            query = query.bind(now);
        }
        returned(connection, query, &mut taken, "first_sight").await?;
    }
    Ok(firsts
        .into_iter()
        .map(|(key, first)| Ok(Written::Sight(first && taken.contains(key))))
        .collect())
}

/// Sets the cards of `writes` (each a [`Write::SetCard`]): one `UPDATE` for the group, where a
/// job named twice gets its later card, as one after the other; a job not followed is
/// [`StoreError::UnknownJob`] for each write naming it.
async fn cards(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    writes: &[&Write],
) -> Result<Answers, StoreError> {
    let mut last: HashMap<&str, &str> = HashMap::with_capacity(writes.len());
    for write in writes {
        let Write::SetCard {
            job_id,
            card_message_id,
        } = write
        else {
            unreachable!("a group holds one kind of write");
        };
        last.insert(job_id, card_message_id);
    }
    let mut rows: Vec<(&str, &str)> = last.into_iter().collect();
    rows.sort_unstable();
    let mut found = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_ROWS) {
        let size = chunk.len().next_power_of_two();
        let mut query = sqlx::query(statement(Kind::Card, size, engine)).bind(now());
        for (job_id, card) in chunk {
            query = query.bind(Some(*job_id)).bind(Some(*card));
        }
        for _ in chunk.len()..size {
            query = query.bind(None::<&str>).bind(None::<&str>);
        }
        returned(connection, query, &mut found, "set_card").await?;
    }
    Ok(writes
        .iter()
        .map(|write| match write {
            Write::SetCard { job_id, .. } if found.contains(job_id.as_str()) => Ok(Written::Done),
            Write::SetCard { job_id, .. } => Err(StoreError::UnknownJob(job_id.clone())),
            _ => unreachable!("a group holds one kind of write"),
        })
        .collect())
}

/// Sets the verbosity of the threads of `writes` (each a [`Write::SetVerbosity`]): one
/// `UPDATE` for the group, where a thread named twice gets its later verbosity.
async fn verbosities(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    writes: &[&Write],
) -> Result<Answers, StoreError> {
    let mut last: HashMap<(&str, &str, &str), &str> = HashMap::with_capacity(writes.len());
    for write in writes {
        let Write::SetVerbosity { thread, verbosity } = write else {
            unreachable!("a group holds one kind of write");
        };
        let at = (thread.platform.name(), &*thread.channel, &*thread.thread);
        last.insert(at, verbosity.as_str());
    }
    let mut rows: Vec<((&str, &str, &str), &str)> = last.into_iter().collect();
    rows.sort_unstable();
    for chunk in rows.chunks(MAX_ROWS) {
        let size = chunk.len().next_power_of_two();
        let mut query = sqlx::query(statement(Kind::Verbosity, size, engine)).bind(now());
        for ((platform, channel, thread), verbosity) in chunk {
            query = query
                .bind(Some(*platform))
                .bind(Some(*channel))
                .bind(Some(*thread))
                .bind(Some(*verbosity));
        }
        for _ in chunk.len()..size {
            query = query
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(None::<&str>)
                .bind(None::<&str>);
        }
        query
            .execute(&mut *connection)
            .await
            .map_err(StoreError::engine("set_verbosity"))?;
    }
    Ok(writes.iter().map(|_| Ok(Written::Done)).collect())
}

/// Runs `query` and adds the text of the first column of each row it returns to `into`.
async fn returned<'q>(
    connection: &mut sqlx::AnyConnection,
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    into: &mut HashSet<String>,
    operation: &'static str,
) -> Result<(), StoreError> {
    let rows = query
        .fetch_all(&mut *connection)
        .await
        .map_err(StoreError::engine(operation))?;
    for row in rows {
        into.insert(row.try_get(0).map_err(StoreError::engine(operation))?);
    }
    Ok(())
}
