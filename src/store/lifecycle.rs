//! A job's start and end as the store sees them: each the statements of one moment in one
//! transaction, so that a job start or a relay's end costs one commit, not two or three
//! (thousands of jobs starting and ending were most of SQLite's writes under the relay bench).

use mosaic_chat::Platform;

use super::job::kind_name;
use super::jobs::{expect_job, to_bigint};
use super::{FollowedJob, Store, StoreError, now};

impl Store {
    /// [`insert_job`](Store::insert_job) and [`take_lease`](Store::take_lease) in one
    /// transaction (one commit: a job start costs the store one write less); true when the
    /// lease was taken. The job is inserted either way: were the lease not free, its holder
    /// relays the job.
    pub async fn insert_leased_job(
        &self,
        job: &FollowedJob,
        holder: &str,
        instance: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::engine("insert_job"))?;
        let leased =
            super::leases::take_lease(&mut *tx, self.engine, &job.job_id, holder, instance, ttl)
                .await?;
        insert_job(&mut *tx, job).await?;
        tx.commit()
            .await
            .map_err(StoreError::engine("insert_job"))?;
        Ok(leased)
    }

    /// A relay's end, in one transaction (one commit instead of three): records its last
    /// `position` (if it has one not yet recorded), [`finish`](Store::finish)es the job with
    /// `status`, and hands the job's lease back if `holder` holds it.
    pub async fn finish_relay(
        &self,
        job_id: &str,
        status: &str,
        position: Option<&super::Position>,
        holder: &str,
    ) -> Result<(), StoreError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(StoreError::engine("finish"))?;
        if let Some(position) = position {
            super::positions::record_in(&mut tx, self.engine, std::slice::from_ref(&position))
                .await?;
        }
        finish(&mut *tx, job_id, status).await?;
        super::leases::release_lease(&mut *tx, job_id, holder).await?;
        tx.commit().await.map_err(StoreError::engine("finish"))
    }
}

/// The statement of [`Store::insert_job`], on a pool or in a transaction.
pub(super) async fn insert_job<'c, E>(executor: E, job: &FollowedJob) -> Result<(), StoreError>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    let platform = job.thread.platform.name();
    if Platform::known(platform).is_none() {
        return Err(StoreError::UnknownPlatform(platform.to_owned()));
    }
    let number = to_bigint("issue number", job.issue.number())?;
    let seq = to_bigint("event sequence", job.last_event_seq)?;
    let now = now();
    let done = sqlx::query(
        "INSERT INTO followed_jobs (job_id, insertion, platform, channel, thread, \
         command_message_id, requester_id, requester_name, host, owner, repo, number, \
         kind, retry_of, card_message_id, verbosity, last_event_id, last_event_seq, \
         status, ended, created_at, updated_at, workspace) \
         VALUES ($1, (SELECT COALESCE(MAX(insertion), 0) + 1 FROM followed_jobs), \
         $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $20, $21) \
         ON CONFLICT (job_id) DO NOTHING",
    )
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
    .bind(now)
    .bind(&job.workspace)
    .execute(executor)
    .await
    .map_err(StoreError::engine("insert_job"))?;
    if done.rows_affected() == 0 {
        return Err(StoreError::DuplicateJob(job.job_id.clone()));
    }
    Ok(())
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
