//! Relay positions in groups: many jobs' "relayed up to here" written in one transaction, so
//! that thousands of relays cost one commit between them instead of one each (SQLite has a
//! single writer and syncs every commit).

use super::jobs::to_bigint;
use super::writes::Write;
use super::{Engine, Store, StoreError, now};

/// One relay position for [`Store::record_positions`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Position {
    /// The followed job.
    pub job_id: String,
    /// The last event relayed.
    pub event_id: String,
    /// Its sequence number in the job.
    pub seq: u64,
    /// The relay's last post up to this event (`None`: the stored one stays).
    pub post_id: Option<String>,
    /// Whether the relay has stopped gracefully with this record (`posts_settled`).
    pub settled: bool,
}

/// Rows per statement in [`Store::record_positions`]: 5 parameters each, well below the
/// smallest limit of the two engines (SQLite's 32,766 parameters).
const POSITIONS_PER_STATEMENT: usize = 500;

impl Store {
    /// Records many relay positions in one transaction (a group commit): what
    /// [`record_relayed`](Store::record_relayed) does for one, with the same monotonic rule,
    /// at the cost of one commit for all, and with the relay's last post and whether it has
    /// settled. A record of the stored `seq` again is applied (a relay stopping records that
    /// it settled at the position it had). A job named twice keeps its highest `seq`, the
    /// later of two equal ones. Jobs the store does not follow are ignored (the single-row
    /// form reports them).
    pub async fn record_positions(&self, positions: &[Position]) -> Result<(), StoreError> {
        let mut newest: Vec<&Position> = Vec::with_capacity(positions.len());
        {
            let mut at: std::collections::HashMap<&str, usize> =
                std::collections::HashMap::with_capacity(positions.len());
            for position in positions {
                to_bigint("event sequence", position.seq)?;
                match at.get(position.job_id.as_str()) {
                    Some(&i) if newest[i].seq > position.seq => {}
                    Some(&i) => newest[i] = position,
                    None => {
                        at.insert(&position.job_id, newest.len());
                        newest.push(position);
                    }
                }
            }
        }
        if newest.is_empty() {
            return Ok(());
        }
        self.write(Write::Positions(newest.into_iter().cloned().collect()))
            .await
            .map(drop)
    }
}

/// Writes `positions` (one per job, every `seq` in range) on `connection`, in a transaction
/// the caller holds.
pub(super) async fn record_in<P: std::borrow::Borrow<Position>>(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    positions: &[P],
) -> Result<(), StoreError> {
    let now = now();
    for chunk in positions.chunks(POSITIONS_PER_STATEMENT) {
        let sql = positions_statement(chunk.len(), engine);
        // Not kept prepared: the text differs with the number of rows, and would crowd the
        // connection's statement cache out.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .persistent(false)
            .bind(now);
        for position in chunk {
            let position = position.borrow();
            let seq = to_bigint("event sequence", position.seq)?;
            query = query
                .bind(position.job_id.as_str())
                .bind(position.event_id.as_str())
                .bind(seq)
                .bind(position.post_id.as_deref())
                .bind(i64::from(position.settled));
        }
        query
            .execute(&mut *connection)
            .await
            .map_err(StoreError::engine("record_positions"))?;
    }
    Ok(())
}

/// `UPDATE … FROM (VALUES …)` for `rows` positions: portable to both engines, which both name
/// the columns of a `VALUES` list `column1`, `column2`, … (SQLite has no column aliases).
///
/// SQLite gets anonymous `?` parameters: it keeps `$N` as parameter *names*, and binding
/// looks each name up in a list (`sqlite3_bind_parameter_name`), quadratic in the parameters
/// of a statement: 1,501 of them made that lookup the bot's busiest function under the
/// relay bench (perf, 2,000 jobs). `?` are numbered in order, which is the order of binding.
fn positions_statement(rows: usize, engine: Engine) -> String {
    use std::fmt::Write;
    let anonymous = engine == Engine::Sqlite;
    let mut sql = String::from(
        "UPDATE followed_jobs SET last_event_id = v.column2, last_event_seq = v.column3, \
         last_post_id = COALESCE(v.column4, followed_jobs.last_post_id), \
         posts_settled = v.column5, updated_at = ",
    );
    sql.push_str(if anonymous { "?" } else { "$1" });
    sql.push_str(" FROM (VALUES ");
    for row in 0..rows {
        let sep = if row == 0 { "" } else { ", " };
        if anonymous {
            let _ = write!(sql, "{sep}(?, ?, ?, ?, ?)");
        } else {
            let first = 2 + 5 * row;
            let _ = write!(
                sql,
                "{sep}(${first}, ${}, ${}, ${}, ${})",
                first + 1,
                first + 2,
                first + 3,
                first + 4
            );
        }
    }
    sql.push_str(
        ") AS v WHERE followed_jobs.job_id = v.column1 AND followed_jobs.last_event_seq <= v.column3",
    );
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_engine_gets_its_parameters_in_binding_order() {
        let sqlite = positions_statement(2, Engine::Sqlite);
        assert!(
            sqlite.contains("updated_at = ? FROM (VALUES (?, ?, ?, ?, ?), (?, ?, ?, ?, ?)) AS v")
        );
        assert!(!sqlite.contains('$'));
        let postgres = positions_statement(2, Engine::Postgres);
        assert!(postgres.contains(
            "updated_at = $1 FROM (VALUES ($2, $3, $4, $5, $6), ($7, $8, $9, $10, $11)) AS v"
        ));
    }
}
