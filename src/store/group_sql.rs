//! The SQL of grouped small writes (`pg_group.rs`): one statement per kind of write and per
//! group size, the rows of the group in one `VALUES` list, for each engine.

use std::sync::OnceLock;

use super::Engine;

/// The statements for groups are kept prepared per size: a group is padded up to the next power
/// of two with rows of no key (which match nothing), so that nine texts per kind serve every
/// size up to this many.
pub(super) const MAX_ROWS: usize = 256;

/// The kinds of write decided together, each by one statement; numbered for tables by kind.
#[derive(Clone, Copy)]
pub(super) enum Kind {
    Sight = 0,
    Card = 1,
    Verbosity = 2,
}

/// The statement deciding `rows` writes of `kind` (a power of two up to [`MAX_ROWS`]): `$1` is
/// now, then the columns of each row; a row without its first column is padding. Each keeps
/// the rule of its single statement: a dedupe key is inserted, or taken over when its time is
/// up (`dedupe.rs`), and `RETURNING` names the keys for which that happened; a card names the
/// jobs it was set for.
///
/// SQLite gets anonymous `?` parameters, in the order of the text (see `positions.rs` on why
/// not `$N` there): now comes last in a dedupe key's statement, first in the others'.
pub(super) fn statement(kind: Kind, rows: usize, engine: Engine) -> &'static str {
    static STATEMENTS: [[[OnceLock<String>; 9]; 3]; 2] =
        [const { [const { [const { OnceLock::new() }; 9] }; 3] }; 2];
    let (columns, head, tail) = match kind {
        Kind::Sight => (
            3,
            "INSERT INTO inbound_seen (key, expires_at, acted) \
             SELECT v.column1, v.column2, v.column3 FROM (VALUES ",
            ") AS v WHERE v.column1 IS NOT NULL \
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at, \
             acted = excluded.acted WHERE inbound_seen.expires_at <= $1 \
             RETURNING inbound_seen.key",
        ),
        Kind::Card => (
            2,
            "UPDATE followed_jobs SET card_message_id = v.column2, updated_at = $1 FROM (VALUES ",
            ") AS v WHERE followed_jobs.job_id = v.column1 RETURNING followed_jobs.job_id",
        ),
        Kind::Verbosity => (
            4,
            "UPDATE followed_jobs SET verbosity = v.column4, updated_at = $1 FROM (VALUES ",
            ") AS v WHERE followed_jobs.platform = v.column1 \
             AND followed_jobs.channel = v.column2 AND followed_jobs.thread = v.column3",
        ),
    };
    let anonymous = engine == Engine::Sqlite;
    STATEMENTS[usize::from(anonymous)][kind as usize][rows.trailing_zeros() as usize].get_or_init(
        || {
            use std::fmt::Write as _;
            let mut sql = String::from(head);
            let mut parameter = 1;
            for row in 0..rows {
                sql.push_str(if row == 0 { "(" } else { ", (" });
                for column in 0..columns {
                    parameter += 1;
                    let sep = if column == 0 { "" } else { ", " };
                    if anonymous {
                        let _ = write!(sql, "{sep}?");
                    } else {
                        let _ = write!(sql, "{sep}${parameter}");
                    }
                }
                sql.push(')');
            }
            sql.push_str(tail);
            if anonymous {
                sql = sql.replace("$1", "?");
            }
            sql
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_group_size_has_its_statement() {
        for (kind, columns) in [(Kind::Sight, 3), (Kind::Card, 2), (Kind::Verbosity, 4)] {
            for rows in [1, 2, 4, 8, 16, 32, 64, 128, 256] {
                let sql = statement(kind, rows, Engine::Postgres);
                let last = 1 + columns * rows;
                assert!(sql.contains(&format!("${last})) AS v")), "{rows}: {sql}");
                assert!(!sql.contains(&format!("${}", last + 1)), "{rows}: {sql}");
                let sqlite = statement(kind, rows, Engine::Sqlite);
                assert_eq!(sqlite.matches('?').count(), last, "{rows}: {sqlite}");
                assert!(!sqlite.contains('$'), "{rows}: {sqlite}");
            }
        }
        assert_eq!(
            statement(Kind::Card, 2, Engine::Postgres)
                .matches("($")
                .count(),
            2
        );
        // Where now goes among SQLite's anonymous parameters: its binding order.
        assert!(
            statement(Kind::Sight, 1, Engine::Sqlite).ends_with("<= ? RETURNING inbound_seen.key")
        );
        assert!(
            statement(Kind::Card, 1, Engine::Sqlite)
                .contains("updated_at = ? FROM (VALUES (?, ?))")
        );
        assert_eq!(MAX_ROWS.trailing_zeros(), 8);
    }
}
