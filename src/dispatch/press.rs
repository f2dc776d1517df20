//! A button pressed under a progress card: found in the store by the card's message (so the
//! buttons of a card a restarted bot resumed work too), checked against the buttons the card
//! carries now, then run as the command it stands for, typed in the card's thread by the
//! presser: the same permissions, dedupe and replies. What does not apply (a button the card
//! does not carry, or no longer: Cancel on a finished job) is answered privately and never
//! reaches the backend; so is a refusal, naming its rule.

use std::sync::Arc;
use std::time::SystemTime;

use mosaic_chat::{Button, ChatPlatform, Inbound, Markup, Press, Span};
use tracing::Instrument;

use super::delivery::too_old;
use super::{DEDUPE_TTL, Dispatcher, Failure};
use crate::command::{Action, Command};
use crate::metrics::CommandOutcome;
use crate::relay::{RETRY, button_action, button_label, stored_buttons};
use crate::store::FollowedJob;

impl Dispatcher {
    /// Handles one press of a button.
    pub async fn handle_press(&self, press: Press) {
        let span = tracing::info_span!(
            "press",
            platform = %press.platform,
            channel = %press.channel,
            message = %press.message_id,
            button = %press.button,
            user = %press.user.id,
            thread = tracing::field::Empty,
            job = tracing::field::Empty,
        );
        self.press_inner(press).instrument(span).await;
    }

    async fn press_inner(&self, press: Press) {
        let Some(platform) = self.inner.platforms.get(&press.platform).cloned() else {
            tracing::error!("a press arrived from a platform that is not running");
            return;
        };
        let window = self.inner.config.catch_up;
        if too_old(press.created_at, SystemTime::now(), window).is_some() {
            tracing::debug!("a press from before the catch-up window is not acted on");
            return;
        }
        let store = &self.inner.store;
        match store.first_sight(&press.dedupe_key, DEDUPE_TTL).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(key = %press.dedupe_key, "pressed again; acted on once already");
                return;
            }
            // As for messages: rather risk acting twice than drop a press;
            // the card's buttons still stop a second cancel or retry.
            Err(e) => {
                tracing::error!(error = %e, "cannot check the press against earlier deliveries")
            }
        }
        let action = button_action(&press.button);
        let job = match store
            .job_for_card(press.platform, &press.channel, &press.message_id)
            .await
        {
            Ok(job) => job,
            Err(error) => {
                let failure = Failure::Store {
                    action: action.unwrap_or(Action::Status),
                    error,
                };
                let inbound = press.as_command(None, "");
                let me = self.invoker(&inbound).to_string();
                self.answer_press(&inbound, platform.as_ref(), action, &failure.words(&me))
                    .await;
                return;
            }
        };
        let Some(job) = job else {
            let inbound = press.as_command(None, "");
            self.answer_press(&inbound, platform.as_ref(), action, &not_a_card())
                .await;
            return;
        };
        let span = tracing::Span::current();
        span.record("thread", job.thread.thread.as_str());
        span.record("job", job.job_id.as_str());
        let word = match action {
            Some(action) => action.word(),
            None => press.button.as_str(),
        };
        let inbound = press.as_command(
            Some(&job.thread.thread),
            &format!("@{} {word}", self.inner.config.bot_name),
        );
        let mut job = job;
        let carried = self.carried(&mut job).await;
        let (Some(action), true) = (action, carried.iter().any(|b| b.id == press.button)) else {
            let retried = self.retried(&job, action).await;
            let answer = not_carried(&press.button, action, &job, &carried, retried);
            self.answer_press(&inbound, platform.as_ref(), action, &answer)
                .await;
            return;
        };
        self.run_press(&inbound, &platform, action, &job).await;
    }

    /// Runs the command a carried button stands for, and answers as the typed command would
    /// (a refusal privately).
    async fn run_press(
        &self,
        inbound: &Inbound,
        platform: &Arc<dyn ChatPlatform>,
        action: Action,
        job: &FollowedJob,
    ) {
        let command = match action {
            Action::Cancel => Command::Cancel(None),
            Action::Retry => Command::Retry(None),
            Action::Verbose => Command::Verbose(None),
            Action::Quiet => Command::Quiet(None),
            // No card carries another button (`button_action`).
            Action::Fix | Action::Status | Action::Help => return,
        };
        self.acted_on(inbound).await;
        let me = self.invoker(inbound).to_string();
        let (reply, private, counted) = match self.run(inbound, platform, command, Some(job)).await
        {
            Ok(reply) => (reply, false, CommandOutcome::Ok),
            Err(failure) => {
                tracing::info!(?action, ?failure, "press refused or failed");
                let counted = match failure {
                    Failure::Backend { .. } | Failure::Store { .. } => CommandOutcome::Failed,
                    _ => CommandOutcome::Refused,
                };
                (Some(failure.words(&me)), true, counted)
            }
        };
        self.inner
            .metrics
            .command(inbound.platform.name(), action.word(), counted);
        if let Some(reply) = reply {
            self.reply(inbound, platform.as_ref(), &reply, private)
                .await;
        }
    }

    /// The buttons the card of `job` carries now: its running relay's, else the store's as
    /// they stand now. A relay records its job's end before it leaves, so a relay that ended
    /// since `job` was read (a press as the job ends) has left it stale: `job` is read again.
    async fn carried(&self, job: &mut FollowedJob) -> Vec<Button> {
        let running = self.inner.relays.card_buttons(&job.job_id);
        let mut buttons = match running {
            Some(buttons) => buttons,
            None => {
                match self.inner.store.job(&job.job_id).await {
                    Ok(Some(now)) => *job = now,
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!(error = %e, "cannot read the job again; judging the press by what was read")
                    }
                }
                stored_buttons(job)
            }
        };
        if self.retried(job, Some(Action::Retry)).await.is_some() {
            // Its retry runs (or ran) already: a second press must not start another.
            buttons.retain(|b| b.id != RETRY);
        }
        buttons
    }

    /// The job that retries `job`, when the question is a retry and there is one.
    async fn retried(&self, job: &FollowedJob, action: Option<Action>) -> Option<String> {
        if action != Some(Action::Retry) {
            return None;
        }
        match self.inner.store.retried_as(&job.job_id).await {
            Ok(retry) => retry,
            Err(e) => {
                tracing::error!(error = %e, "cannot tell whether the job was retried already");
                None
            }
        }
    }

    /// Answers a press that is not acted on, privately where the platform can.
    async fn answer_press(
        &self,
        inbound: &Inbound,
        platform: &dyn ChatPlatform,
        action: Option<Action>,
        answer: &Markup,
    ) {
        let name = action.map_or("invalid", Action::word);
        self.inner
            .metrics
            .command(inbound.platform.name(), name, CommandOutcome::Refused);
        self.reply(inbound, platform, answer, true).await;
    }
}

/// The answer to a press under a message that is no job's card.
fn not_a_card() -> Markup {
    Markup::new().line([Span::text(
        "That message is not the progress card of a job I follow, so its buttons do nothing. \
         Type the command in the job's thread instead.",
    )])
}

/// The answer to a press of a button the card does not carry (any more).
fn not_carried(
    button: &str,
    action: Option<Action>,
    job: &FollowedJob,
    carried: &[Button],
    retried: Option<String>,
) -> Markup {
    let mut line = match action {
        None => vec![
            Span::text("The card of job "),
            Span::code(job.job_id.clone()),
            Span::text(" has no "),
            Span::code(button),
            Span::text(" button"),
        ],
        Some(action) => vec![
            Span::text(format!(
                "{} no longer applies to job ",
                button_label(action)
            )),
            Span::code(job.job_id.clone()),
            Span::text(format!(
                " ({})",
                match (action, retried) {
                    (Action::Retry, Some(retry)) =>
                        format!("it was retried already, as job {retry}"),
                    (Action::Retry, None) =>
                        "only a failed or cancelled job can be retried".to_owned(),
                    (Action::Cancel, _) => "it has ended, or a cancel was asked already".to_owned(),
                    _ => "this thread shows that already, or the job has ended".to_owned(),
                }
            )),
        ],
    };
    line.push(Span::text(", so I did nothing. "));
    if carried.is_empty() {
        line.push(Span::text("Its card has no buttons now."));
    } else {
        let labels: Vec<&str> = carried.iter().map(|b| b.label.as_str()).collect();
        line.push(Span::text(format!(
            "Its card offers: {}.",
            labels.join(", ")
        )));
    }
    Markup::new().line(line)
}
