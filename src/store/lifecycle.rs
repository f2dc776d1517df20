//! A job's start and end as the store sees them: each the statements of one moment in one
//! transaction, so that a job start or a relay's end costs one commit, not two or three
//! (thousands of jobs starting and ending were most of SQLite's writes under the relay bench).

use mosaic_chat::Platform;
use sqlx::Row;

use super::job::kind_name;
use super::jobs::{expect_job, to_bigint};
use super::writes::{Write, Written};
use super::{Engine, FollowedJob, Position, Store, StoreError, Verbosity, now};

/// What [`Store::insert_leased_job`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inserted {
    /// Whether this holder took the job's lease (otherwise its holder relays the job).
    pub leased: bool,
    /// The verbosity the job was stored with: its thread's, when the thread has jobs.
    pub verbosity: Verbosity,
}

impl Store {
    /// [`insert_job`](Store::insert_job) and [`take_lease`](Store::take_lease) in one
    /// transaction (one commit: a job start costs the store one write less). The job is
    /// inserted either way: were the lease not free, its holder relays the job.
    ///
    /// Verbosity is a setting of the thread: a job inserted into a thread that has jobs takes
    /// the newest one's verbosity, read in the insert itself (so a `verbose` that lands just
    /// before is never lost); `job.verbosity` serves a thread without jobs.
    pub async fn insert_leased_job(
        &self,
        job: &FollowedJob,
        holder: &str,
        instance: &str,
        ttl: std::time::Duration,
    ) -> Result<Inserted, StoreError> {
        let written = self
            .write(Write::InsertLeased {
                job: Box::new(job.clone()),
                holder: holder.to_owned(),
                instance: instance.to_owned(),
                ttl,
            })
            .await?;
        match written {
            Written::Inserted(inserted) => Ok(inserted),
            other => unreachable!("an insert answered {other:?}"),
        }
    }

    /// A relay's end, in one transaction (one commit instead of three): records its last
    /// `position` (if it has one not yet recorded), [`finish`](Store::finish)es the job with
    /// `status`, and hands the job's lease back if `holder` holds it.
    pub async fn finish_relay(
        &self,
        job_id: &str,
        status: &str,
        position: Option<&Position>,
        holder: &str,
    ) -> Result<(), StoreError> {
        self.write(Write::FinishRelay {
            job_id: job_id.to_owned(),
            status: status.to_owned(),
            position: position.cloned(),
            holder: holder.to_owned(),
        })
        .await
        .map(drop)
    }
}

/// The statements of [`Store::insert_leased_job`] on `connection`. On SQLite two, in a
/// transaction the caller holds: the insert goes first, so a duplicate job writes nothing and
/// the lease is not taken. On PostgreSQL one statement does both (a data-modifying `WITH`):
/// no `BEGIN` and `COMMIT` round trips.
pub(super) async fn insert_leased(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    job: &FollowedJob,
    holder: &str,
    instance: &str,
    ttl: std::time::Duration,
) -> Result<Inserted, StoreError> {
    if engine == Engine::Postgres {
        return insert_leased_postgres(connection, job, holder, instance, ttl).await;
    }
    let verbosity = insert(&mut *connection, job, true).await?;
    let leased =
        super::leases::take_lease(&mut *connection, engine, &job.job_id, holder, instance, ttl)
            .await?;
    Ok(Inserted { leased, verbosity })
}

/// The job's end and its last position, as one `UPDATE`: a position whose `seq` is below the
/// stored one changes nothing (as [`Store::record_positions`]); `$5` = -1 for none.
macro_rules! finish_statement {
    () => {
        "UPDATE followed_jobs SET status = $2, ended = 1, updated_at = $3, \
         last_event_id = CASE WHEN last_event_seq <= $5 THEN $4 ELSE last_event_id END, \
         last_post_id = CASE WHEN last_event_seq <= $5 THEN COALESCE($6, last_post_id) \
         ELSE last_post_id END, \
         posts_settled = CASE WHEN last_event_seq <= $5 THEN $7 ELSE posts_settled END, \
         last_event_seq = CASE WHEN last_event_seq <= $5 THEN $5 ELSE last_event_seq END \
         WHERE job_id = $1"
    };
}

/// The statements of [`Store::finish_relay`] on `connection`: the job's end with its last
/// position, then the lease back. On SQLite two, in a transaction the caller holds (an unknown
/// job writes nothing and stops before the release); on PostgreSQL one (a `WITH`).
pub(super) async fn finish_relay(
    connection: &mut sqlx::AnyConnection,
    engine: Engine,
    job_id: &str,
    status: &str,
    position: Option<&Position>,
    holder: &str,
) -> Result<(), StoreError> {
    if let Some(other) = position.filter(|p| p.job_id != job_id) {
        // Not a caller's case (a relay ends its own job), but kept correct: recorded apart.
        super::positions::record_in(&mut *connection, engine, &[other]).await?;
    }
    let position = position.filter(|p| p.job_id == job_id);
    let seq = match position {
        Some(position) => to_bigint("event sequence", position.seq)?,
        None => -1,
    };
    let sql = match engine {
        Engine::Sqlite => finish_statement!(),
        Engine::Postgres => concat!(
            "WITH done AS (",
            finish_statement!(),
            " RETURNING job_id), gone AS (DELETE FROM relay_leases WHERE job_id = $1 \
             AND holder = $8 AND EXISTS (SELECT 1 FROM done)) SELECT COUNT(*) FROM done"
        ),
    };
    let query = sqlx::query(sql)
        .bind(job_id)
        .bind(status)
        .bind(now())
        .bind(position.map_or("", |p| p.event_id.as_str()))
        .bind(seq)
        .bind(position.and_then(|p| p.post_id.as_deref()))
        .bind(i64::from(position.is_some_and(|p| p.settled)));
    let finished = match engine {
        Engine::Sqlite => query
            .execute(&mut *connection)
            .await
            .map_err(StoreError::engine("finish"))?
            .rows_affected(),
        Engine::Postgres => {
            let row = query
                .bind(holder)
                .fetch_one(&mut *connection)
                .await
                .map_err(StoreError::engine("finish"))?;
            let count: i64 = row.try_get(0).map_err(StoreError::engine("finish"))?;
            u64::try_from(count).unwrap_or(0)
        }
    };
    expect_job(finished, job_id)?;
    if engine == Engine::Sqlite {
        super::leases::release_lease(&mut *connection, job_id, holder).await?;
    }
    Ok(())
}

/// The columns and values of a job's insert; the verbosity (`$15`) is spliced in by the
/// callers of [`insert_statement!`].
macro_rules! insert_statement {
    ($($verbosity:tt)*) => {
        concat!(
            "INSERT INTO followed_jobs (job_id, insertion, platform, channel, thread, \
             command_message_id, requester_id, requester_name, host, owner, repo, number, \
             kind, retry_of, card_message_id, verbosity, last_event_id, last_event_seq, \
             status, ended, created_at, updated_at, workspace) \
             VALUES ($1, (SELECT COALESCE(MAX(insertion), 0) + 1 FROM followed_jobs), \
             $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, ",
            $($verbosity)*,
            ", $16, $17, $18, $19, $20, $20, $21) \
             ON CONFLICT (job_id) DO NOTHING RETURNING verbosity"
        )
    };
}

/// The verbosity of a job's insert into a thread: the thread's newest job's, else `$15`.
macro_rules! thread_verbosity {
    () => {
        "COALESCE((SELECT t.verbosity FROM followed_jobs t WHERE t.platform = $2 \
         AND t.channel = $3 AND t.thread = $4 ORDER BY t.insertion DESC, t.job_id DESC \
         LIMIT 1), $15)"
    };
}

/// [`insert_leased`] on PostgreSQL: the insert and the lease in one statement. The lease is
/// taken only for a row the insert made (`FROM job`), as `take_lease` takes it.
async fn insert_leased_postgres(
    connection: &mut sqlx::AnyConnection,
    job: &FollowedJob,
    holder: &str,
    instance: &str,
    ttl: std::time::Duration,
) -> Result<Inserted, StoreError> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let now = super::leases::now_ms(Engine::Postgres);
        let expired = super::leases::lease_expired(Engine::Postgres, "relay_leases");
        format!(
            "WITH job AS ({}), lease AS (\
             INSERT INTO relay_leases (job_id, holder, holder_instance, expires_ms, taken) \
             SELECT $1, $22, $23, {now} + $24, 1 FROM job \
             ON CONFLICT (job_id) DO UPDATE SET holder = excluded.holder, \
             holder_instance = excluded.holder_instance, \
             expires_ms = excluded.expires_ms, taken = relay_leases.taken + 1 \
             WHERE {expired} RETURNING 1) \
             SELECT verbosity, (SELECT COUNT(*) FROM lease) FROM job",
            insert_statement!(thread_verbosity!())
        )
    });
    let sql: &'static str = SQL.as_str();
    let row = bind_job(sqlx::query(sql), job)?
        .bind(holder)
        .bind(instance)
        .bind(super::leases::millis(ttl))
        .fetch_optional(connection)
        .await
        .map_err(StoreError::engine("insert_job"))?;
    let Some(row) = row else {
        return Err(StoreError::DuplicateJob(job.job_id.clone()));
    };
    let leased: i64 = row.try_get(1).map_err(StoreError::engine("insert_job"))?;
    Ok(Inserted {
        leased: leased == 1,
        verbosity: read_verbosity(&row, job)?,
    })
}

/// The statement of [`Store::insert_job`], on a connection.
pub(super) async fn insert_job(
    connection: &mut sqlx::AnyConnection,
    job: &FollowedJob,
) -> Result<(), StoreError> {
    insert(connection, job, false).await.map(drop)
}

/// Inserts `job`, with its thread's verbosity when `thread_verbosity` and the thread has jobs;
/// returns the verbosity stored.
async fn insert(
    connection: &mut sqlx::AnyConnection,
    job: &FollowedJob,
    thread_verbosity: bool,
) -> Result<Verbosity, StoreError> {
    let sql = if thread_verbosity {
        insert_statement!(thread_verbosity!())
    } else {
        insert_statement!("$15")
    };
    let row = bind_job(sqlx::query(sql), job)?
        .fetch_optional(connection)
        .await
        .map_err(StoreError::engine("insert_job"))?;
    let Some(row) = row else {
        return Err(StoreError::DuplicateJob(job.job_id.clone()));
    };
    read_verbosity(&row, job)
}

/// A query of [`insert_statement!`] with `job` bound to `$1`…`$21`; refuses a platform outside
/// the known list (it could not be read back) and numbers beyond BIGINT.
fn bind_job<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    job: &'q FollowedJob,
) -> Result<sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>, StoreError> {
    let platform = job.thread.platform.name();
    if Platform::known(platform).is_none() {
        return Err(StoreError::UnknownPlatform(platform.to_owned()));
    }
    let number = to_bigint("issue number", job.issue.number())?;
    let seq = to_bigint("event sequence", job.last_event_seq)?;
    Ok(query
        .bind(&job.job_id)
        .bind(platform)
        .bind(&job.thread.channel)
        .bind(&job.thread.thread)
        .bind(job.command_message_id.as_deref())
        .bind(&job.requester_id)
        .bind(&job.requester_name)
        .bind(job.issue.host())
        .bind(job.issue.owner())
        .bind(job.issue.repo())
        .bind(number)
        .bind(kind_name(job.issue.kind()))
        .bind(job.retry_of.as_deref())
        .bind(job.card_message_id.as_deref())
        .bind(job.verbosity.as_str())
        .bind(job.last_event_id.as_deref())
        .bind(seq)
        .bind(&job.status)
        .bind(i64::from(job.ended))
        .bind(now())
        .bind(&job.workspace))
}

/// The verbosity a job's insert returned (its first column).
fn read_verbosity(row: &sqlx::any::AnyRow, job: &FollowedJob) -> Result<Verbosity, StoreError> {
    let verbosity: String = row.try_get(0).map_err(StoreError::engine("insert_job"))?;
    verbosity.parse().map_err(|_| StoreError::Corrupt {
        job_id: job.job_id.clone(),
        column: "verbosity",
        value: verbosity,
    })
}

/// The statement of [`Store::finish`], on a pool or in a transaction.
pub(super) async fn finish<'c, E>(executor: E, job_id: &str, status: &str) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let done = sqlx::query(
        "UPDATE followed_jobs SET status = $2, ended = 1, updated_at = $3 WHERE job_id = $1",
    )
    .bind(job_id)
    .bind(status)
    .bind(now())
    .execute(executor)
    .await
    .map_err(StoreError::engine("finish"))?;
    expect_job(done.rows_affected(), job_id)
}
