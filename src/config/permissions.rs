//! `[permissions]`: who may use each action, and where, validated into one
//! [`Rule`] per action. The dispatcher applies them (`dispatch/access.rs`);
//! this module only reads and checks what the operator wrote.
//!
//! Users, roles and channels are written `platform:id` (`slack:U0123`,
//! `discord:112233445566778899`, `mattermost:team_admin`), so one list serves
//! every platform and an id can never match on the wrong one. A platform may
//! also have rules of its own (`[permissions.discord.fix]`), which replace
//! the keys they give of the general rule on that platform.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use mosaic_chat::Platform;
use serde::Deserialize;

use super::ConfigError;
use crate::command::Action;

/// `[permissions]` as written.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PermissionsSection {
    /// Users and roles that pass every rule's "who" (not its channels).
    #[serde(default)]
    pub admins: WhoSection,
    pub fix: Option<RuleSection>,
    pub status: Option<RuleSection>,
    pub cancel: Option<RuleSection>,
    pub retry: Option<RuleSection>,
    pub verbose: Option<RuleSection>,
    pub quiet: Option<RuleSection>,
    pub help: Option<RuleSection>,
    /// Rules of one platform, by action word: `[permissions.discord.fix]`.
    pub discord: Option<BTreeMap<String, RuleSection>>,
    pub slack: Option<BTreeMap<String, RuleSection>>,
    pub mattermost: Option<BTreeMap<String, RuleSection>>,
    pub console: Option<BTreeMap<String, RuleSection>>,
}

/// `users` and `roles`, each `platform:id`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WhoSection {
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub roles: Vec<String>,
}

/// `[permissions.ACTION]`: every key optional; what is left out keeps the
/// action's default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSection {
    /// Anyone may. Defaults to the action's default, or to `false` once
    /// `users` or `roles` are given (a list would mean nothing otherwise).
    pub everyone: Option<bool>,
    /// The requester of the job the command is about may.
    pub requester: Option<bool>,
    pub users: Option<Vec<String>>,
    pub roles: Option<Vec<String>>,
    /// Where the action may be used: `platform:channel-id` entries. Left
    /// out, the action's default (`fix`: channels with a workspace).
    pub channels: Option<Vec<String>>,
}

/// A user, role or channel on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub platform: Platform,
    pub id: String,
}

impl Principal {
    /// Whether this names `id` on `platform`.
    pub fn is(&self, platform: Platform, id: &str) -> bool {
        self.platform == platform && self.id == id
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.platform, self.id)
    }
}

/// Who, by id or role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Who {
    pub users: Vec<Principal>,
    pub roles: Vec<Principal>,
}

/// Where an action may be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channels {
    Anywhere,
    /// Channels whose jobs have a workspace to go to.
    WithWorkspace,
    Only(Vec<Principal>),
}

/// Who may use one action, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub everyone: bool,
    pub requester: bool,
    pub who: Who,
    pub channels: Channels,
}

/// Every action's rule, and the admins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Permissions {
    pub admins: Who,
    /// In the order of [`Action::ALL`].
    rules: [Rule; 7],
    /// Rules that differ on one platform: (platform, action, rule).
    by_platform: Vec<(Platform, Action, Rule)>,
}

impl Permissions {
    /// The rule of `action` on every platform without a rule of its own.
    pub fn rule(&self, action: Action) -> &Rule {
        &self.rules[index(action)]
    }

    /// The configuration key of the rule `rule_on` gives, for messages.
    pub fn key_on(&self, platform: Platform, action: Action) -> String {
        if self
            .by_platform
            .iter()
            .any(|(p, a, _)| *p == platform && *a == action)
        {
            format!("permissions.{platform}.{action}")
        } else {
            format!("permissions.{action}")
        }
    }

    /// The rule of `action` on `platform`.
    pub fn rule_on(&self, platform: Platform, action: Action) -> &Rule {
        self.by_platform
            .iter()
            .find(|(p, a, _)| *p == platform && *a == action)
            .map_or_else(|| self.rule(action), |(_, _, rule)| rule)
    }

    /// Each rule, one line a rule (`check-config`).
    pub fn describe(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "permissions.admins = users [{}] roles [{}]",
            join(&self.admins.users),
            join(&self.admins.roles)
        );
        let general = Action::ALL.map(|a| (None, a, self.rule(a)));
        let special = self.by_platform.iter().map(|(p, a, r)| (Some(*p), *a, r));
        for (platform, action, rule) in general.into_iter().chain(special) {
            let mut who = Vec::new();
            if rule.everyone {
                who.push("everyone".to_owned());
            }
            if rule.requester {
                who.push("the requester".to_owned());
            }
            if !rule.who.users.is_empty() {
                who.push(format!("users [{}]", join(&rule.who.users)));
            }
            if !rule.who.roles.is_empty() {
                who.push(format!("roles [{}]", join(&rule.who.roles)));
            }
            who.push("admins".to_owned());
            let channels = match &rule.channels {
                Channels::Anywhere => "any channel".to_owned(),
                Channels::WithWorkspace => "channels with a workspace".to_owned(),
                Channels::Only(list) => format!("channels [{}]", join(list)),
            };
            let scope = platform.map_or(String::new(), |p| format!("{p}."));
            let _ = writeln!(
                out,
                "permissions.{scope}{} = {} in {channels}",
                action.word(),
                who.join(", ")
            );
        }
    }
}

impl Default for Permissions {
    fn default() -> Self {
        Permissions {
            admins: Who::default(),
            rules: Action::ALL.map(default_rule),
            by_platform: Vec::new(),
        }
    }
}

fn join(list: &[Principal]) -> String {
    list.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// The rule an action has when the configuration says nothing of it:
/// everyone may ask for help and status or change a thread's verbosity; `fix`
/// only where a workspace is mapped; `cancel` and `retry` only the job's
/// requester (and admins).
fn default_rule(action: Action) -> Rule {
    let (everyone, requester, channels) = match action {
        Action::Fix => (true, false, Channels::WithWorkspace),
        Action::Cancel | Action::Retry => (false, true, Channels::Anywhere),
        Action::Status | Action::Verbose | Action::Quiet | Action::Help => {
            (true, false, Channels::Anywhere)
        }
    };
    Rule {
        everyone,
        requester,
        who: Who::default(),
        channels,
    }
}

pub(super) fn validate_permissions(
    section: PermissionsSection,
) -> Result<Permissions, ConfigError> {
    let admins = Who {
        users: principals("permissions.admins.users", &section.admins.users)?,
        roles: principals("permissions.admins.roles", &section.admins.roles)?,
    };
    let sections = [
        section.fix,
        section.status,
        section.cancel,
        section.retry,
        section.verbose,
        section.quiet,
        section.help,
    ];
    let mut rules = Permissions::default().rules;
    for (rule, (action, given)) in rules.iter_mut().zip(Action::ALL.into_iter().zip(sections)) {
        if let Some(given) = given {
            *rule = apply(rule, &given, &format!("permissions.{action}"))?;
        }
    }
    let mut by_platform = Vec::new();
    let platform_tables = [
        ("discord", section.discord),
        ("slack", section.slack),
        ("mattermost", section.mattermost),
        ("console", section.console),
    ];
    for (name, table) in platform_tables {
        let Some(platform) = Platform::known(name) else {
            continue;
        };
        for (word, given) in table.unwrap_or_default() {
            let key = format!("permissions.{name}.{word}");
            let action = Action::from_word(&word).ok_or_else(|| ConfigError::Key {
                key: key.clone(),
                problem: format!(
                    "`{word}` is not an action: write fix, status, cancel, retry, verbose, quiet or help"
                ),
            })?;
            let rule = apply(&rules[index(action)], &given, &key)?;
            by_platform.push((platform, action, rule));
        }
    }
    Ok(Permissions {
        admins,
        rules,
        by_platform,
    })
}

fn index(action: Action) -> usize {
    Action::ALL
        .iter()
        .position(|a| *a == action)
        .unwrap_or_default()
}

/// `base` with the keys `given` sets replaced; `key` names the table.
fn apply(base: &Rule, given: &RuleSection, key: &str) -> Result<Rule, ConfigError> {
    let field = |name: &str| format!("{key}.{name}");
    let lists_given = given.users.is_some() || given.roles.is_some();
    let mut rule = base.clone();
    if let Some(users) = &given.users {
        rule.who.users = principals(&field("users"), users)?;
    }
    if let Some(roles) = &given.roles {
        rule.who.roles = principals(&field("roles"), roles)?;
    }
    rule.everyone = given.everyone.unwrap_or(base.everyone && !lists_given);
    rule.requester = given.requester.unwrap_or(base.requester);
    if let Some(channels) = &given.channels {
        rule.channels = Channels::Only(principals(&field("channels"), channels)?);
    }
    Ok(rule)
}

/// Reads `platform:id` entries, naming the key of a bad one.
fn principals(key: &str, entries: &[String]) -> Result<Vec<Principal>, ConfigError> {
    entries
        .iter()
        .map(|entry| {
            let problem = |what: String| ConfigError::Key {
                key: key.to_owned(),
                problem: what,
            };
            let (platform, id) = entry.split_once(':').ok_or_else(|| {
                problem(format!(
                    "`{entry}` names no platform: write `platform:id`, like `slack:U0123ABC`"
                ))
            })?;
            let platform = Platform::known(platform.trim()).ok_or_else(|| {
                problem(format!(
                    "`{entry}`: `{platform}` is not a platform (discord, slack, mattermost or console)"
                ))
            })?;
            let id = id.trim();
            if id.is_empty() {
                return Err(problem(format!("`{entry}` has no id after the platform")));
            }
            Ok(Principal {
                platform,
                id: id.to_owned(),
            })
        })
        .collect()
}
