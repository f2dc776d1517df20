//! Who may run a command and where its jobs go: the permission rules of
//! `[permissions]`, the channel → workspace mapping, and the channel's
//! repository allow-list. Every check here runs before the backend is called,
//! so a refused command never reaches it.

use mosaic_chat::Inbound;

use super::Dispatcher;
use super::failure::{Denial, Failure};
use crate::backend::BackendClient;
use crate::command::{Action, IssueRef};
use crate::config::{Channels, Config, Who, Workspace};
use crate::store::FollowedJob;

/// What the rule of an action lets a command do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Admission {
    Admitted,
    /// Only if the user requested the job the command is about.
    IfRequester,
}

impl Dispatcher {
    /// Checks the rule of `action` for this message: its channel, then its
    /// author (admins pass every "who").
    pub(super) fn admit(&self, inbound: &Inbound, action: Action) -> Result<Admission, Failure> {
        let config = &self.inner.config;
        let rule = config.permissions.rule_on(inbound.platform, action);
        let here = match &rule.channels {
            Channels::Anywhere => true,
            Channels::WithWorkspace => {
                if config
                    .workspace_for(inbound.platform.name(), &inbound.channel)
                    .is_none()
                {
                    // The mapping is what is missing, not a permission: say so.
                    return Err(Failure::NoWorkspace { action });
                }
                true
            }
            Channels::Only(list) => list
                .iter()
                .any(|c| c.is(inbound.platform, &inbound.channel)),
        };
        if !here {
            return Err(self.denied(inbound, action, Denial::Channel));
        }
        if rule.everyone
            || matches(&rule.who, inbound)
            || matches(&config.permissions.admins, inbound)
        {
            return Ok(Admission::Admitted);
        }
        if rule.requester {
            return Ok(Admission::IfRequester);
        }
        Err(self.denied(inbound, action, Denial::Who))
    }

    /// A refusal naming the rule that refused.
    pub(super) fn denied(&self, inbound: &Inbound, action: Action, why: Denial) -> Failure {
        Failure::Denied {
            action,
            why,
            permission: self
                .inner
                .config
                .permissions
                .key_on(inbound.platform, action),
        }
    }

    /// For an action admitted only for the requester: whether this user
    /// requested `job`, the followed job of `issue` (`None`: no job for it
    /// was started from chat, so there is no requester to match).
    pub(super) fn check_requester(
        &self,
        inbound: &Inbound,
        action: Action,
        issue: &dyn std::fmt::Display,
        job: Option<&FollowedJob>,
    ) -> Result<(), Failure> {
        match job {
            Some(job)
                if job.thread.platform == inbound.platform
                    && job.requester_id == inbound.user.id =>
            {
                Ok(())
            }
            job => Err(self.denied(
                inbound,
                action,
                Denial::NotRequester {
                    requester: job.map(|j| j.requester_name.clone()),
                    issue: issue.to_string(),
                },
            )),
        }
    }

    /// The workspace this channel's jobs go to, and its client.
    pub(super) fn channel_workspace(
        &self,
        inbound: &Inbound,
        action: Action,
    ) -> Result<(&Workspace, &BackendClient), Failure> {
        let workspace = self
            .inner
            .config
            .workspace_for(inbound.platform.name(), &inbound.channel)
            .ok_or(Failure::NoWorkspace { action })?;
        let client = self.backend_of(&workspace.id, action)?;
        Ok((workspace, client))
    }

    /// The client of workspace `id` (a followed job's).
    pub(super) fn backend_of(&self, id: &str, action: Action) -> Result<&BackendClient, Failure> {
        self.inner
            .backends
            .get(id)
            .ok_or_else(|| Failure::WorkspaceGone {
                action,
                workspace: id.to_owned(),
            })
    }

    /// Refuses a job on `issue` when the channel limits its repositories and
    /// this is not one of them.
    pub(super) fn check_repo(
        &self,
        inbound: &Inbound,
        action: Action,
        issue: &IssueRef,
    ) -> Result<(), Failure> {
        let config: &Config = &self.inner.config;
        let Some(channel) = config.channel(inbound.platform.name(), &inbound.channel) else {
            return Ok(());
        };
        match &channel.repos {
            Some(allowed) if !channel.allows(issue) => Err(Failure::RepoNotAllowed {
                action,
                issue: issue.to_string(),
                allowed: allowed
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
            _ => Ok(()),
        }
    }
}

/// Whether the message's author is one of `who`, by id or by role.
fn matches(who: &Who, inbound: &Inbound) -> bool {
    who.users
        .iter()
        .any(|u| u.is(inbound.platform, &inbound.user.id))
        || who
            .roles
            .iter()
            .any(|r| r.platform == inbound.platform && inbound.roles.contains(&r.id))
}
