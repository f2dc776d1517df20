//! PostgreSQL's grouped small writes: the frequent one-row writes of commands and relays
//! (inbound dedupe keys, a job's card, a thread's verbosity) run on one connection that the
//! store's writer task (`batch.rs`) holds while writes keep coming, and the dedupe keys that
//! wait together are decided by one statement.
//!
//! Each write through the pool cost two round trips to the server: the statement, and the ping
//! sqlx sends on every connection handed back (it cannot be turned off), plus the hand-off of a
//! connection between tasks. On the writer's connection a write costs its statement's round
//! trip only, and a group of dedupe keys one round trip between them.
//!
//! Every statement here commits on its own (no transaction spans a group): each write is as
//! atomic as it was alone, and a replica's group holds its row locks for one statement only.
//! The keys of a group's statement are inserted in key order, so two replicas' groups lock
//! shared keys in the same order and cannot deadlock each other. Should the statement fail
//! anyway (a deadlock with another writer, a serialization failure, a lost connection), each
//! of its writes runs again alone, and gets the answer it would have got alone.
//!
//! A job's start and a relay's end stay on the pool: they are larger statements that replicas
//! and relays run side by side, and one connection would queue them behind each other.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;
use std::time::Duration;

use sqlx::Row;

use super::batch::Waiting;
use super::writes::{Write, Written, apply_alone};
use super::{Engine, StoreError, since_epoch};

/// Whether `write` goes to PostgreSQL's writer task (the others run on the pool).
pub(super) fn grouped(write: &Write) -> bool {
    matches!(
        write,
        Write::Sight { .. } | Write::SetCard { .. } | Write::SetVerbosity { .. }
    )
}

/// The statements for groups of dedupe keys are kept prepared per size: a group is padded up
/// to the next power of two with rows of no key, so that nine texts serve every size up to
/// this many.
const MAX_KEYS: usize = 256;

/// Runs `group` (emptied) on `connection` and answers each of its writes. False when a write
/// failed in the engine: the connection may be broken, and is not kept for the next group.
pub(super) async fn run_group(
    connection: &mut sqlx::AnyConnection,
    group: &mut Vec<Waiting>,
) -> bool {
    let (sights, others): (Vec<_>, Vec<_>) = group
        .drain(..)
        .partition(|w| matches!(w.write, Write::Sight { .. }));
    let mut healthy = true;
    if sights.len() > 1 {
        healthy &= sights_together(connection, sights).await;
    } else {
        healthy &= alone(connection, sights).await;
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

/// Decides `sights` (every one a [`Write::Sight`]) with one statement per [`MAX_KEYS`] keys;
/// false when that failed in the engine and a write run alone afterwards failed too.
async fn sights_together(connection: &mut sqlx::AnyConnection, sights: Vec<Waiting>) -> bool {
    match first_sights(connection, &sights).await {
        Ok(answers) => {
            tracing::debug!(writes = sights.len(), "a group of dedupe keys committed");
            for (Waiting { done, .. }, first) in sights.into_iter().zip(answers) {
                let _ = done.send(Ok(Written::Sight(first)));
            }
            true
        }
        Err(error) => {
            tracing::debug!(%error, "a group of dedupe keys failed; each runs again alone");
            alone(connection, sights).await
        }
    }
}

/// Whether each of `sights` is the first sighting of its key, as if they ran one after the
/// other in their order: only the first write of a key in the group can be (a later one sees
/// the key recorded); those first writes are decided by one statement.
async fn first_sights(
    connection: &mut sqlx::AnyConnection,
    sights: &[Waiting],
) -> Result<Vec<bool>, StoreError> {
    let (now, _) = since_epoch(Duration::ZERO);
    let mut keys: HashMap<&str, (i64, i64)> = HashMap::with_capacity(sights.len());
    let mut firsts = Vec::with_capacity(sights.len());
    for Waiting { write, .. } in sights {
        let Write::Sight { key, ttl, acted } = write else {
            unreachable!("only dedupe keys are decided together");
        };
        let first = !keys.contains_key(key.as_str());
        if first {
            keys.insert(key, (since_epoch(*ttl).1, i64::from(*acted)));
        }
        firsts.push(first);
    }
    // In key order, so that two replicas' groups take shared keys' locks in one order.
    let mut rows: Vec<(&str, (i64, i64))> = keys.into_iter().collect();
    rows.sort_unstable_by_key(|(key, _)| *key);
    let mut seen_first: HashSet<String> = HashSet::with_capacity(rows.len());
    for chunk in rows.chunks(MAX_KEYS) {
        let size = chunk.len().next_power_of_two();
        let mut query = sqlx::query(sights_statement(size)).bind(now);
        for (key, (expires_at, acted)) in chunk {
            query = query
                .bind(Some(*key))
                .bind(Some(*expires_at))
                .bind(Some(*acted));
        }
        for _ in chunk.len()..size {
            query = query.bind(None::<&str>).bind(None::<i64>).bind(None::<i64>);
        }
        let inserted = query
            .fetch_all(&mut *connection)
            .await
            .map_err(StoreError::engine("first_sight"))?;
        for row in inserted {
            let key: String = row.try_get(0).map_err(StoreError::engine("first_sight"))?;
            seen_first.insert(key);
        }
    }
    Ok(sights
        .iter()
        .zip(firsts)
        .map(|(Waiting { write, .. }, first)| match write {
            Write::Sight { key, .. } => first && seen_first.contains(key),
            _ => false,
        })
        .collect())
}

/// The statement deciding `rows` dedupe keys (a power of two up to [`MAX_KEYS`]): `$1` is now,
/// then key, expiry and acted mark per row; a row without a key is padding. Its rule is the
/// single key's (`dedupe.rs`): a key is inserted, or taken over when its time is up, and
/// `RETURNING` names the keys for which that happened.
fn sights_statement(rows: usize) -> &'static str {
    static STATEMENTS: [OnceLock<String>; 9] = [const { OnceLock::new() }; 9];
    let slot = rows.trailing_zeros() as usize;
    STATEMENTS[slot].get_or_init(|| {
        use std::fmt::Write as _;
        let mut sql = String::from(
            "INSERT INTO inbound_seen (key, expires_at, acted) \
             SELECT v.column1, v.column2, v.column3 FROM (VALUES ",
        );
        for row in 0..rows {
            let first = 2 + 3 * row;
            let sep = if row == 0 { "" } else { ", " };
            let _ = write!(sql, "{sep}(${first}, ${}, ${})", first + 1, first + 2);
        }
        sql.push_str(
            ") AS v WHERE v.column1 IS NOT NULL \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, \
             acted = excluded.acted WHERE inbound_seen.expires_at <= $1 \
             RETURNING inbound_seen.key",
        );
        sql
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_size_has_its_statement() {
        for rows in [1, 2, 4, 8, 16, 32, 64, 128, 256] {
            let sql = sights_statement(rows);
            let last = 1 + 3 * rows;
            assert!(sql.contains(&format!("${last})")), "{rows}: {sql}");
            assert!(!sql.contains(&format!("${}", last + 1)), "{rows}: {sql}");
        }
        assert_eq!(MAX_KEYS.trailing_zeros(), 8);
    }
}
