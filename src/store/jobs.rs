//! Followed jobs: which thread each job answers in, and how far its relay
//! has got. Every update is one statement, so it is atomic on both engines; the writes go
//! through `Store::write` (a group commit on SQLite, `writes.rs`).

use sqlx::Row;
use sqlx::any::AnyRow;

use mosaic_chat::{Platform, ThreadRef};

use super::job::{kind_from_name, kind_name};
use super::writes::Write;
use super::{FollowedJob, Store, StoreError, Verbosity, now};
use crate::command::IssueRef;

/// The columns a [`FollowedJob`] is read from, in `SELECT`s.
macro_rules! job_columns {
    () => {
        "job_id, platform, channel, thread, command_message_id, requester_id, \
         requester_name, host, owner, repo, number, kind, retry_of, card_message_id, \
         verbosity, last_event_id, last_event_seq, status, ended, created_at, updated_at, \
         workspace, last_post_id, posts_settled"
    };
}
pub(super) use job_columns;

impl Store {
    /// Starts following `job`. The store stamps `created_at` and
    /// `updated_at` with the current time; every other field is kept as
    /// given. A job id that is already followed is
    /// [`StoreError::DuplicateJob`]; a platform outside
    /// [`Platform::KNOWN`] is refused, because it
    /// could not be read back.
    ///
    /// Verbosity is a thread setting: a job inserted into a thread that has
    /// jobs already should carry their verbosity (the dispatcher copies it
    /// from [`job_for_thread`](Store::job_for_thread)).
    pub async fn insert_job(&self, job: &FollowedJob) -> Result<(), StoreError> {
        let mut connection = self
            .pool
            .acquire()
            .await
            .map_err(StoreError::engine("insert_job"))?;
        super::lifecycle::insert_job(&mut connection, job).await
    }

    /// The followed job `job_id`, if the store has it.
    pub async fn job(&self, job_id: &str) -> Result<Option<FollowedJob>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM followed_jobs WHERE job_id = $1"
        ))
        .bind(job_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::engine("job"))?;
        row.map(|row| decode(&row, "job")).transpose()
    }

    /// The followed job `job_id` if process `instance` of replica `holder` holds its relay
    /// lease now. A keeper acting on a renewal read a moment ago checks here before it starts
    /// a relay: the lease may have been handed back since (a hand-back ends with the release),
    /// and another replica may already relay the job.
    pub async fn held_job(
        &self,
        job_id: &str,
        holder: &str,
        instance: &str,
    ) -> Result<Option<FollowedJob>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM followed_jobs WHERE job_id = $1 AND EXISTS (SELECT 1 FROM relay_leases l \
             WHERE l.job_id = $1 AND l.holder = $2 AND l.holder_instance = $3)"
        ))
        .bind(job_id)
        .bind(holder)
        .bind(instance)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::engine("held_job"))?;
        row.map(|row| decode(&row, "held_job")).transpose()
    }

    /// The newest job relayed in `thread`, finished or not.
    pub async fn job_for_thread(
        &self,
        thread: &ThreadRef,
    ) -> Result<Option<FollowedJob>, StoreError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM followed_jobs WHERE platform = $1 AND channel = $2 AND thread = $3 \
             ORDER BY insertion DESC, job_id DESC LIMIT 1"
        ))
        .bind(thread.platform.name())
        .bind(&thread.channel)
        .bind(&thread.thread)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::engine("job_for_thread"))?;
        row.map(|row| decode(&row, "job_for_thread")).transpose()
    }

    /// The newest job for `issue`: same host, owner, repository, number and
    /// kind (an issue and a merge request with the same number are different
    /// things on GitLab), in `workspace` only: another workspace's jobs are
    /// not this channel's to see. Owner and repository match in any case, as
    /// forges treat them (`Acme/Web` is `acme/web`). With `unfinished_only`,
    /// only jobs whose relay has not ended.
    pub async fn job_for_issue(
        &self,
        workspace: &str,
        issue: &IssueRef,
        unfinished_only: bool,
    ) -> Result<Option<FollowedJob>, StoreError> {
        let number = to_bigint("issue number", issue.number())?;
        let row = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM followed_jobs WHERE host = $1 AND LOWER(owner) = LOWER($2) \
             AND LOWER(repo) = LOWER($3) AND number = $4 AND kind = $5 AND ended <= $6 \
             AND workspace = $7 ORDER BY insertion DESC, job_id DESC LIMIT 1"
        ))
        .bind(issue.host())
        .bind(issue.owner())
        .bind(issue.repo())
        .bind(number)
        .bind(kind_name(issue.kind()))
        // `ended <= 0` keeps unfinished jobs only, `ended <= 1` every job.
        .bind(i64::from(!unfinished_only))
        .bind(workspace)
        .fetch_optional(&self.pool)
        .await
        .map_err(StoreError::engine("job_for_issue"))?;
        row.map(|row| decode(&row, "job_for_issue")).transpose()
    }

    /// Gives every job stored before jobs had a workspace (an empty one) to
    /// `workspace`: the only one the bot could have used then. Returns how
    /// many it changed.
    pub async fn adopt_jobs_without_workspace(&self, workspace: &str) -> Result<u64, StoreError> {
        let done = sqlx::query("UPDATE followed_jobs SET workspace = $1 WHERE workspace = ''")
            .bind(workspace)
            .execute(&self.pool)
            .await
            .map_err(StoreError::engine("adopt_jobs_without_workspace"))?;
        Ok(done.rows_affected())
    }

    /// Every job whose relay has not ended, oldest first: what a restarted
    /// bot resumes.
    pub async fn unfinished(&self) -> Result<Vec<FollowedJob>, StoreError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            job_columns!(),
            " FROM followed_jobs WHERE ended = 0 ORDER BY insertion, job_id"
        ))
        .fetch_all(&self.pool)
        .await
        .map_err(StoreError::engine("unfinished"))?;
        rows.iter().map(|row| decode(row, "unfinished")).collect()
    }

    /// Remembers the progress card's message, so a restarted relay edits
    /// the same card instead of posting a second one.
    pub async fn set_card(&self, job_id: &str, card_message_id: &str) -> Result<(), StoreError> {
        self.write(Write::SetCard {
            job_id: job_id.to_owned(),
            card_message_id: card_message_id.to_owned(),
        })
        .await
        .map(drop)
    }

    /// Sets the verbosity of every job of `thread`: it is a setting of the
    /// thread, which a retry in the same thread keeps. A thread without jobs
    /// is left as it is.
    pub async fn set_verbosity(
        &self,
        thread: &ThreadRef,
        verbosity: Verbosity,
    ) -> Result<(), StoreError> {
        self.write(Write::SetVerbosity {
            thread: thread.clone(),
            verbosity,
        })
        .await
        .map(drop)
    }

    /// Records that event `event_id`, the relay's `seq`-th, was shown in the
    /// job's thread. Monotonic: an update whose `seq` is not above the stored
    /// one is ignored, so a late writer (a replayed stream, a slow task)
    /// never moves the resume point back.
    pub async fn record_relayed(
        &self,
        job_id: &str,
        event_id: &str,
        seq: u64,
    ) -> Result<(), StoreError> {
        let seq = to_bigint("event sequence", seq)?;
        let done = sqlx::query(
            "UPDATE followed_jobs SET last_event_id = $2, last_event_seq = $3, updated_at = $4 \
             WHERE job_id = $1 AND last_event_seq < $3",
        )
        .bind(job_id)
        .bind(event_id)
        .bind(seq)
        .bind(now())
        .execute(&self.pool)
        .await
        .map_err(StoreError::engine("record_relayed"))?;
        if done.rows_affected() == 0 {
            // Either a stale sequence (fine, ignored) or no such job (a bug
            // in the caller): only the rare no-op path pays for telling.
            let known = sqlx::query("SELECT 1 FROM followed_jobs WHERE job_id = $1")
                .bind(job_id)
                .fetch_optional(&self.pool)
                .await
                .map_err(StoreError::engine("record_relayed"))?;
            if known.is_none() {
                return Err(StoreError::UnknownJob(job_id.to_owned()));
            }
        }
        Ok(())
    }

    /// Ends the job's relay (job final, deleted, or given up) with `status`,
    /// the final status text. An ended job is no longer
    /// [`unfinished`](Store::unfinished).
    pub async fn finish(&self, job_id: &str, status: &str) -> Result<(), StoreError> {
        super::lifecycle::finish(&self.pool, job_id, status).await
    }
}

/// The statement of [`Store::set_card`], on `connection`.
pub(super) async fn set_card(
    connection: &mut sqlx::AnyConnection,
    job_id: &str,
    card_message_id: &str,
) -> Result<(), StoreError> {
    let done = sqlx::query(
        "UPDATE followed_jobs SET card_message_id = $2, updated_at = $3 WHERE job_id = $1",
    )
    .bind(job_id)
    .bind(card_message_id)
    .bind(now())
    .execute(connection)
    .await
    .map_err(StoreError::engine("set_card"))?;
    expect_job(done.rows_affected(), job_id)
}

/// The statement of [`Store::set_verbosity`], on `connection`.
pub(super) async fn set_verbosity(
    connection: &mut sqlx::AnyConnection,
    thread: &ThreadRef,
    verbosity: Verbosity,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE followed_jobs SET verbosity = $4, updated_at = $5 \
         WHERE platform = $1 AND channel = $2 AND thread = $3",
    )
    .bind(thread.platform.name())
    .bind(&thread.channel)
    .bind(&thread.thread)
    .bind(verbosity.as_str())
    .bind(now())
    .execute(connection)
    .await
    .map_err(StoreError::engine("set_verbosity"))?;
    Ok(())
}

/// An update that touched no row named a job the store does not follow.
pub(super) fn expect_job(rows: u64, job_id: &str) -> Result<(), StoreError> {
    if rows == 0 {
        return Err(StoreError::UnknownJob(job_id.to_owned()));
    }
    Ok(())
}

/// `value` as the engines' BIGINT.
pub(super) fn to_bigint(what: &'static str, value: u64) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| StoreError::OutOfRange { what, value })
}

/// Reads a [`FollowedJob`] from a row of [`job_columns!`].
pub(super) fn decode(row: &AnyRow, operation: &'static str) -> Result<FollowedJob, StoreError> {
    let text = |column: &str| row.try_get::<String, _>(column);
    let optional = |column: &str| row.try_get::<Option<String>, _>(column);
    let int = |column: &str| row.try_get::<i64, _>(column);
    let read = || -> Result<_, sqlx::Error> {
        Ok(StoredJob {
            job_id: text("job_id")?,
            platform: text("platform")?,
            channel: text("channel")?,
            thread: text("thread")?,
            command_message_id: optional("command_message_id")?,
            requester_id: text("requester_id")?,
            requester_name: text("requester_name")?,
            host: text("host")?,
            owner: text("owner")?,
            repo: text("repo")?,
            number: int("number")?,
            kind: text("kind")?,
            retry_of: optional("retry_of")?,
            card_message_id: optional("card_message_id")?,
            verbosity: text("verbosity")?,
            last_event_id: optional("last_event_id")?,
            last_event_seq: int("last_event_seq")?,
            status: text("status")?,
            ended: int("ended")?,
            created_at: int("created_at")?,
            updated_at: int("updated_at")?,
            workspace: text("workspace")?,
            last_post_id: optional("last_post_id")?,
            posts_settled: int("posts_settled")?,
        })
    };
    read().map_err(StoreError::engine(operation))?.into_job()
}

/// A row as the engine returns it, before its values are checked.
struct StoredJob {
    job_id: String,
    platform: String,
    channel: String,
    thread: String,
    command_message_id: Option<String>,
    requester_id: String,
    requester_name: String,
    host: String,
    owner: String,
    repo: String,
    number: i64,
    kind: String,
    retry_of: Option<String>,
    card_message_id: Option<String>,
    verbosity: String,
    last_event_id: Option<String>,
    last_event_seq: i64,
    status: String,
    ended: i64,
    created_at: i64,
    updated_at: i64,
    workspace: String,
    last_post_id: Option<String>,
    posts_settled: i64,
}

impl StoredJob {
    fn into_job(self) -> Result<FollowedJob, StoreError> {
        let corrupt = |column: &'static str, value: String| StoreError::Corrupt {
            job_id: self.job_id.clone(),
            column,
            value,
        };
        let platform = Platform::known(&self.platform)
            .ok_or_else(|| StoreError::UnknownPlatform(self.platform.clone()))?;
        let kind = kind_from_name(&self.kind).ok_or_else(|| corrupt("kind", self.kind.clone()))?;
        let number = u64::try_from(self.number)
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| corrupt("number", self.number.to_string()))?;
        let verbosity = self
            .verbosity
            .parse()
            .map_err(|_| corrupt("verbosity", self.verbosity.clone()))?;
        let last_event_seq = u64::try_from(self.last_event_seq)
            .map_err(|_| corrupt("last_event_seq", self.last_event_seq.to_string()))?;
        let ended = match self.ended {
            0 => false,
            1 => true,
            other => return Err(corrupt("ended", other.to_string())),
        };
        Ok(FollowedJob {
            issue: IssueRef::new(&self.host, &self.owner, &self.repo, number, kind),
            thread: ThreadRef {
                platform,
                channel: self.channel,
                thread: self.thread,
            },
            job_id: self.job_id,
            workspace: self.workspace,
            command_message_id: self.command_message_id,
            requester_id: self.requester_id,
            requester_name: self.requester_name,
            retry_of: self.retry_of,
            card_message_id: self.card_message_id,
            verbosity,
            last_event_id: self.last_event_id,
            last_event_seq,
            last_post_id: self.last_post_id,
            posts_settled: self.posts_settled == 1,
            status: self.status,
            ended,
            created_at: self.created_at,
            updated_at: self.updated_at,
        })
    }
}
