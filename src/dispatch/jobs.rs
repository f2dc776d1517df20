//! The job-facing actions: fix, status, cancel, retry, verbose and quiet.

use std::sync::Arc;
use std::time::SystemTime;

use mosaic_chat::{ChatPlatform, Inbound, Markup, Span, ThreadRef};

use super::{Admission, Ask, Dispatcher, Failure};
use crate::backend::{
    self, BackendClient, CreateJob, EventKind, JobId, JobOrigin, JobStatus, RunnerJob,
};
use crate::command::{Action, IssueRef};
use crate::store::{FollowedJob, Verbosity};

/// The job a command is about.
enum Target {
    /// A job this bot follows (or followed) in a thread.
    Followed(Box<FollowedJob>),
    /// A job only the backend knows (started elsewhere).
    Remote(Box<RunnerJob>),
}

impl Target {
    fn job_id(&self) -> JobId {
        match self {
            Target::Followed(job) => JobId::new(job.job_id.clone()),
            Target::Remote(job) => job.id.clone(),
        }
    }
}

impl Dispatcher {
    /// `fix ISSUE`: starts a job, unless one for the issue still runs.
    pub(super) async fn fix(
        &self,
        ask: &Ask<'_>,
        platform: &Arc<dyn ChatPlatform>,
        issue: IssueRef,
    ) -> Result<Option<Markup>, Failure> {
        let (inbound, action) = (ask.inbound, ask.action);
        let store_failed = |error| Failure::Store { action, error };
        let backend_failed = |error| Failure::Backend { action, error };
        self.check_repo(inbound, action, &issue)?;
        let (workspace, backend) = self.channel_workspace(inbound, action)?;
        // Where the bot may not post, no job starts: its card, progress and
        // outcome would reach nobody.
        platform
            .can_answer(&inbound.channel, inbound.thread.as_deref())
            .await
            .map_err(|error| Failure::CannotAnswer { action, error })?;
        if let Some(job) = self
            .inner
            .store
            .job_for_issue(&workspace.id, &issue, true)
            .await
            .map_err(store_failed)?
        {
            // The stored status is the job's at its start; the backend
            // knows where it is now.
            let status = match backend.job(&JobId::new(job.job_id.clone())).await {
                Ok(current) => current.status.as_str().to_owned(),
                Err(error) => {
                    tracing::warn!(%error, job = %job.job_id, "cannot read the job's state; saying the stored one");
                    job.status.clone()
                }
            };
            let link = self.thread_link(&job.thread).await;
            return Ok(Some(already_running(
                &issue,
                &status,
                Some((&job.thread, link)),
            )));
        }
        let newest = backend
            .jobs_for_issue(issue.owner(), issue.repo(), issue.number(), 1)
            .await
            .map_err(backend_failed)?;
        if let Some(job) = newest.data.first().filter(|j| !j.status.is_final()) {
            return Ok(Some(already_running(&issue, job.status.as_str(), None)));
        }
        // A slash command typed at a channel's top level has no thread to
        // answer in: the job gets a new one. Typed in a thread (Mattermost
        // sends its root), the job runs in that thread, as a mention would.
        let new_thread = inbound.slash && inbound.thread.is_none();
        let thread = if new_thread {
            let text = format!(
                "Starting a fix for {issue}, asked by {}.",
                inbound.user.name
            );
            platform
                .start_thread(&inbound.channel, &text)
                .await
                .map_err(|error| Failure::Platform { action, error })?
        } else {
            inbound.reply_thread()
        };
        let request = CreateJob::fix(
            backend::IssueRef {
                owner: issue.owner().to_owned(),
                repo: issue.repo().to_owned(),
                number: issue.number(),
                url: Some(self.inner.config.forges.issue_url(&issue)),
            },
            JobOrigin {
                platform: inbound.platform.name().to_owned(),
                channel_id: inbound.channel.clone(),
                thread_id: Some(thread.thread.clone()),
                user_id: inbound.user.id.clone(),
                user_name: inbound.user.name.clone(),
                message_url: None,
            },
        );
        let job = backend.create_job(&request).await.map_err(backend_failed)?;
        tracing::info!(job = %job.id, workspace = %workspace.name, "started a fix job");
        // A slash command's author is answered privately with the new thread
        // the job went to; in a thread, the card there is the answer.
        let started = if new_thread {
            let link = self.thread_link(&thread).await;
            Some(started_elsewhere(&issue, link))
        } else {
            None
        };
        let placed = Placement {
            thread,
            command_message_id: (!inbound.slash).then(|| inbound.message_id.clone()),
            issue,
            // A thread that has jobs gives the new one its verbosity, in the insert.
            verbosity: Verbosity::Milestones,
            retry_of: None,
        };
        self.relay_new(&job, backend, inbound, placed, action)
            .await?;
        Ok(started)
    }

    /// A link to `thread` from its platform, if it gives one.
    async fn thread_link(&self, thread: &ThreadRef) -> Option<String> {
        let platform = self.inner.platforms.get(&thread.platform)?;
        match platform.thread_link(thread).await {
            Ok(link) => link,
            Err(error) => {
                tracing::warn!(%error, %thread, "cannot get a link to the thread");
                None
            }
        }
    }

    /// `status [ISSUE]`: the job's state, progress, elapsed time and links.
    pub(super) async fn status(
        &self,
        ask: &Ask<'_>,
        issue: Option<IssueRef>,
    ) -> Result<Markup, Failure> {
        let action = ask.action;
        let (target, backend) = self.resolve(ask, issue.as_ref()).await?;
        let job = match target {
            Target::Remote(job) => *job,
            Target::Followed(followed) => backend
                .job(&JobId::new(followed.job_id.clone()))
                .await
                .map_err(|error| Failure::Backend { action, error })?,
        };
        // The job resource has no current step: the newest `step.started`
        // event says it. Without it the status still answers.
        let step = match backend.events_after(&job.id, None).await {
            Ok(events) => current_step(&events),
            Err(error) => {
                tracing::warn!(%error, "cannot read the job's events for its current step");
                None
            }
        };
        Ok(status_card(&job, issue.as_ref(), step.as_deref()))
    }

    /// `cancel [ISSUE]`: asks the backend to cancel; the relay shows the end.
    pub(super) async fn cancel(
        &self,
        ask: &Ask<'_>,
        issue: Option<IssueRef>,
    ) -> Result<Markup, Failure> {
        let (inbound, action) = (ask.inbound, ask.action);
        let (target, backend) = self.resolve(ask, issue.as_ref()).await?;
        let reason = format!("cancelled by {} on {}", inbound.user.name, inbound.platform);
        let job = backend
            .cancel(&target.job_id(), Some(&reason))
            .await
            .map_err(|error| Failure::Backend { action, error })?;
        tracing::info!(job = %job.id, "cancelled a job");
        if let Target::Followed(followed) = &target {
            self.inner.relays.cancel_requested(&followed.job_id);
        }
        Ok(Markup::new().line([Span::text(format!(
            "Cancelling job {} ({}).",
            job.id,
            job.status.as_str()
        ))]))
    }

    /// `retry [ISSUE]`: starts the job again, relayed in the same thread.
    pub(super) async fn retry(
        &self,
        ask: &Ask<'_>,
        issue: Option<IssueRef>,
    ) -> Result<Markup, Failure> {
        let (inbound, action) = (ask.inbound, ask.action);
        if let Some(issue) = &issue {
            self.check_repo(inbound, action, issue)?;
        }
        let (target, backend) = self.resolve(ask, issue.as_ref()).await?;
        if let Target::Followed(old) = &target {
            self.check_repo(inbound, action, &old.issue)?;
        }
        let job = backend
            .retry(&target.job_id())
            .await
            .map_err(|error| Failure::Backend { action, error })?;
        let retried = target.job_id();
        tracing::info!(job = %job.id, retry_of = %retried, "retried a job");
        let (thread, verbosity, issue, command_message) = match target {
            Target::Followed(old) => (old.thread, old.verbosity, old.issue, old.command_message_id),
            Target::Remote(_) => {
                let issue = issue.ok_or(Failure::NoJobInThread { action })?;
                (inbound.reply_thread(), Verbosity::Milestones, issue, None)
            }
        };
        let here = thread == inbound.reply_thread();
        let placed = Placement {
            thread,
            command_message_id: command_message,
            issue,
            verbosity,
            retry_of: Some(retried.as_str().to_owned()),
        };
        self.relay_new(&job, &backend, inbound, placed, action)
            .await?;
        let where_ = if here { "here" } else { "in its thread" };
        Ok(Markup::new().line([Span::text(format!(
            "Retrying as job {}; following it {where_}.",
            job.id
        ))]))
    }

    /// `verbose` / `quiet`: what the job's thread shows from now on.
    pub(super) async fn set_verbosity(
        &self,
        ask: &Ask<'_>,
        issue: Option<IssueRef>,
        verbosity: Verbosity,
    ) -> Result<Markup, Failure> {
        let (inbound, action) = (ask.inbound, ask.action);
        let here = inbound.reply_thread();
        // The setting is the thread's: of the thread's job, the command needs only that there
        // is one, which a relay running here for it tells without the store's read (that read
        // was one of every job's statements, `verbose` being typed as a job starts). A
        // requester must still be matched against the stored job.
        let known_here = issue.is_none()
            && ask.job.is_none()
            && ask.admission == Admission::Admitted
            && self.inner.relays.runs_in_thread(&here);
        let thread = if known_here {
            here
        } else {
            match self.resolve(ask, issue.as_ref()).await?.0 {
                Target::Followed(job) => job.thread,
                Target::Remote(_) => {
                    return Err(Failure::NotFollowed {
                        action,
                        issue: issue.map(|i| i.to_string()).unwrap_or_default(),
                    });
                }
            }
        };
        self.inner
            .store
            .set_verbosity(&thread, verbosity)
            .await
            .map_err(|error| Failure::Store { action, error })?;
        self.inner.relays.verbosity_changed(&thread, verbosity);
        let what = match verbosity {
            Verbosity::Verbose => "every event of the job, step output included",
            Verbosity::Quiet => "only the start and the outcome of the job",
            Verbosity::Milestones => "the job's milestones",
        };
        let where_ = if thread == inbound.reply_thread() {
            "This thread"
        } else {
            "The job's thread"
        };
        Ok(Markup::new().line([Span::text(format!("{where_} now shows {what}."))]))
    }

    /// The job a command names (the thread's, or the newest for the issue in
    /// the channel's workspace) and the client of its workspace. A command
    /// admitted only for the requester is decided from the store alone, so a
    /// refused one never reaches the backend.
    async fn resolve(
        &self,
        ask: &Ask<'_>,
        issue: Option<&IssueRef>,
    ) -> Result<(Target, BackendClient), Failure> {
        let (inbound, action) = (ask.inbound, ask.action);
        let store = &self.inner.store;
        let store_failed = |error| Failure::Store { action, error };
        let requester_only = ask.admission == Admission::IfRequester;
        if let Some(job) = ask.job {
            if requester_only {
                self.check_requester(inbound, action, &job.issue, Some(job))?;
            }
            let backend = self.backend_of(&job.workspace, action)?.clone();
            return Ok((Target::Followed(Box::new(job.clone())), backend));
        }
        let Some(issue) = issue else {
            let job = store
                .job_for_thread(&inbound.reply_thread())
                .await
                .map_err(store_failed)?
                .ok_or(Failure::NoJobInThread { action })?;
            if requester_only {
                self.check_requester(inbound, action, &job.issue, Some(&job))?;
            }
            let backend = self.backend_of(&job.workspace, action)?.clone();
            return Ok((Target::Followed(Box::new(job)), backend));
        };
        let (workspace, backend) = self.channel_workspace(inbound, action)?;
        let followed = store
            .job_for_issue(&workspace.id, issue, false)
            .await
            .map_err(store_failed)?;
        if requester_only {
            self.check_requester(inbound, action, issue, followed.as_ref())?;
        }
        if let Some(job) = followed {
            return Ok((Target::Followed(Box::new(job)), backend.clone()));
        }
        let list = backend
            .jobs_for_issue(issue.owner(), issue.repo(), issue.number(), 1)
            .await
            .map_err(|error| Failure::Backend { action, error })?;
        let job = list
            .data
            .into_iter()
            .next()
            .ok_or_else(|| Failure::NoJobForIssue {
                action,
                issue: issue.to_string(),
            })?;
        Ok((Target::Remote(Box::new(job)), backend.clone()))
    }
}

/// Where a new job is relayed, and how.
struct Placement {
    thread: ThreadRef,
    /// The user's message that the outcome reaction goes on.
    command_message_id: Option<String>,
    issue: IssueRef,
    verbosity: Verbosity,
    /// The job this one retries, when the backend does not say.
    retry_of: Option<String>,
}

impl Dispatcher {
    /// Records a job the backend just created and starts its relay, which
    /// posts the card: the reply to the command.
    async fn relay_new(
        &self,
        job: &RunnerJob,
        backend: &BackendClient,
        inbound: &Inbound,
        placed: Placement,
        action: Action,
    ) -> Result<(), Failure> {
        let followed = FollowedJob {
            job_id: job.id.as_str().to_owned(),
            workspace: backend.workspace().to_owned(),
            thread: placed.thread,
            command_message_id: placed.command_message_id,
            requester_id: inbound.user.id.clone(),
            requester_name: inbound.user.name.clone(),
            issue: placed.issue,
            retry_of: job
                .retry_of
                .as_ref()
                .map(|id| id.as_str().to_owned())
                .or(placed.retry_of),
            card_message_id: None,
            verbosity: placed.verbosity,
            last_event_id: None,
            last_event_seq: 0,
            last_post_id: None,
            posts_settled: false,
            status: job.status.as_str().to_owned(),
            ended: false,
            // The store sets both when it inserts the row.
            created_at: 0,
            updated_at: 0,
        };
        // With its lease, in one transaction: no other replica may claim the job between its
        // insert and its relay's start. A brand-new job's lease is free; were it not, its
        // holder relays it.
        let inserted = self
            .inner
            .relays
            .insert_leased(&followed)
            .await
            .map_err(|error| Failure::Store { action, error })?;
        if inserted.leased {
            let followed = FollowedJob {
                verbosity: inserted.verbosity,
                ..followed
            };
            self.inner.relays.follow_created(followed, job.clone());
        }
        Ok(())
    }
}

/// The reply to a second `fix` while the first still runs: where to follow
/// it (a link when its platform gives one).
fn already_running(
    issue: &IssueRef,
    status: &str,
    thread: Option<(&ThreadRef, Option<String>)>,
) -> Markup {
    let mut line = vec![Span::text(format!(
        "A fix for {issue} is already under way ({status}): "
    ))];
    match thread {
        Some((_, Some(url))) => {
            line.push(Span::text("follow it in "));
            line.push(Span::link("its thread", url));
        }
        Some((t, None)) => line.push(Span::text(format!("follow it in its thread ({t})"))),
        None => line.push(Span::text("it was started outside this chat")),
    }
    line.push(Span::text(". I did not start a second one."));
    Markup::new().line(line)
}

/// The private answer to a slash `fix`: the job runs in a new thread.
fn started_elsewhere(issue: &IssueRef, link: Option<String>) -> Markup {
    let line = match link {
        Some(url) => vec![
            Span::text(format!("Started a fix for {issue}: follow it in ")),
            Span::link("its thread", url),
            Span::text("."),
        ],
        None => vec![Span::text(format!(
            "Started a fix for {issue} in a new thread in this channel."
        ))],
    };
    Markup::new().line(line)
}

/// `Step 3/6: Run tests`, from the newest `step.started` event.
fn current_step(events: &[crate::backend::JobEvent]) -> Option<String> {
    events.iter().rev().find_map(|event| match &event.kind {
        EventKind::StepStarted(step) => {
            let name = step.step.as_deref().unwrap_or("a step");
            Some(match (step.index, step.total) {
                (Some(i), Some(n)) => format!("Step {i}/{n}: {name}"),
                _ => format!("Step: {name}"),
            })
        }
        _ => None,
    })
}

/// What `status` shows.
fn status_card(job: &RunnerJob, issue: Option<&IssueRef>, step: Option<&str>) -> Markup {
    let emoji = match job.status {
        JobStatus::Completed => "✅",
        JobStatus::Failed => "❌",
        JobStatus::Cancelled => "🛑",
        JobStatus::Running => "🔧",
        _ => "⏳",
    };
    let mut head = vec![
        Span::text(format!("{emoji} ")),
        Span::bold(job.status.as_str()),
    ];
    if let Some(p) = job.progress_percent {
        head.push(Span::text(format!(" · {p}%")));
    }
    if let Some(start) = job.started_at.or(job.created_at) {
        let end = job.completed_at.unwrap_or_else(SystemTime::now);
        if let Ok(elapsed) = end.duration_since(start) {
            let whole = std::time::Duration::from_secs(elapsed.as_secs());
            head.push(Span::text(format!(
                " · {}",
                humantime::format_duration(whole)
            )));
        }
    }
    let mut markup = Markup::new().line(head);
    let mut links = Vec::new();
    if let Some(step) = step.filter(|_| !job.status.is_final()) {
        links.push(vec![Span::text(step)]);
    }
    let name = issue.map(|i| i.to_string()).or_else(|| {
        job.issue
            .as_ref()
            .map(|i| format!("{}/{}#{}", i.owner, i.repo, i.number))
    });
    match (name, job.issue.as_ref().and_then(|i| i.url.clone())) {
        (Some(name), Some(url)) => links.push(vec![Span::text("Issue: "), Span::link(name, url)]),
        (Some(name), None) => links.push(vec![Span::text(format!("Issue: {name}"))]),
        _ => {}
    }
    if let Some(pr) = job.result.as_ref().and_then(|r| r.pr_url.clone()) {
        links.push(vec![
            Span::text("Pull request: "),
            Span::link(pr.clone(), pr),
        ]);
    }
    if let Some(error) = &job.error {
        links.push(vec![Span::text(format!("Error: {error}"))]);
    }
    links.push(vec![Span::text(format!("Job: {}", job.id))]);
    markup = markup.list(links);
    markup
}
