//! The forges the bot works with, and how their issue links and repository
//! names are read and written.

use std::fmt;
use std::sync::Arc;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::types::{IssueKind, IssueRef};

/// The software a forge runs; it decides the shape of issue links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ForgeKind {
    #[serde(alias = "GitHub")]
    Github,
    #[serde(alias = "GitLab")]
    Gitlab,
    #[serde(alias = "Gitea", alias = "forgejo")]
    Gitea,
}

impl fmt::Display for ForgeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ForgeKind::Github => "github",
            ForgeKind::Gitlab => "gitlab",
            ForgeKind::Gitea => "gitea",
        })
    }
}

/// One allowed forge: its host (lower case, with a port if it has one) and kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forge {
    pub host: Arc<str>,
    pub kind: ForgeKind,
}

/// Why a forge list could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ForgeListError {
    #[error("the list of forges is empty: give at least one, e.g. github.com")]
    Empty,
    #[error("`{0}` is not a host name: give the host alone, like `gitlab.example.com`")]
    BadHost(String),
    #[error("`{0}` is listed twice")]
    Duplicate(String),
}

/// The allowed forges, in order: the first is the default forge that
/// `owner/repo#N` and `#N` refer to. Holds the link patterns, compiled once.
#[derive(Debug, Clone)]
pub struct Forges {
    list: Vec<Forge>,
    github: Regex,
    gitlab: Regex,
    gitea: Regex,
}

/// Owner and repository names: what GitHub, GitLab and Gitea all accept.
const NAME: &str = "[A-Za-z0-9_.-]+";

impl Forges {
    /// Builds the list; hosts are compared in lower case.
    pub fn new(
        forges: impl IntoIterator<Item = (String, ForgeKind)>,
    ) -> Result<Forges, ForgeListError> {
        let mut list: Vec<Forge> = Vec::new();
        for (host, kind) in forges {
            let host = host.trim().to_ascii_lowercase();
            let valid = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'));
            if !valid {
                return Err(ForgeListError::BadHost(host));
            }
            if list.iter().any(|f| *f.host == *host) {
                return Err(ForgeListError::Duplicate(host));
            }
            list.push(Forge {
                host: host.into(),
                kind,
            });
        }
        if list.is_empty() {
            return Err(ForgeListError::Empty);
        }
        // The patterns are fixed strings known to compile; a failure here is a
        // bug in this file, caught by every test that builds a forge list.
        let compile = |pattern: String| Regex::new(&pattern).expect("forge link pattern compiles");
        Ok(Forges {
            list,
            github: compile(format!(
                r"^/({NAME})/({NAME})/(issues|pull)/([^/]*)(?:/.*)?$"
            )),
            gitlab: compile(format!(
                r"^/((?:{NAME}/)*{NAME})/({NAME})/-/(issues|merge_requests)/([^/]*)(?:/.*)?$"
            )),
            gitea: compile(format!(
                r"^/({NAME})/({NAME})/(issues|pulls)/([^/]*)(?:/.*)?$"
            )),
        })
    }

    /// Only `github.com`: the list when none is configured.
    pub fn github_only() -> Forges {
        Forges::new([("github.com".to_owned(), ForgeKind::Github)])
            .expect("github.com is a valid forge list")
    }

    /// The default forge (the first).
    pub fn default_forge(&self) -> &Forge {
        &self.list[0]
    }

    /// Every allowed forge, the default first.
    pub fn iter(&self) -> impl Iterator<Item = &Forge> {
        self.list.iter()
    }

    /// The allowed forge with this host (compared ignoring ASCII case).
    pub fn find(&self, host: &str) -> Option<&Forge> {
        self.list.iter().find(|f| f.host.eq_ignore_ascii_case(host))
    }

    /// The allowed hosts, comma-separated, for messages.
    pub fn hosts(&self) -> String {
        let hosts: Vec<&str> = self.list.iter().map(|f| &*f.host).collect();
        hosts.join(", ")
    }

    /// Reads the path of a link (`/owner/repo/issues/42`, query and fragment
    /// already removed) on a forge of `kind`: owner, repo, the number as
    /// typed, and whether it is an issue or a change request.
    pub(crate) fn match_link<'t>(
        &self,
        kind: ForgeKind,
        path: &'t str,
    ) -> Option<(&'t str, &'t str, &'t str, IssueKind)> {
        let pattern = match kind {
            ForgeKind::Github => &self.github,
            ForgeKind::Gitlab => &self.gitlab,
            ForgeKind::Gitea => &self.gitea,
        };
        let caps = pattern.captures(path)?;
        let kind = match caps.get(3)?.as_str() {
            "issues" => IssueKind::Issue,
            _ => IssueKind::Change,
        };
        Some((
            caps.get(1)?.as_str(),
            caps.get(2)?.as_str(),
            caps.get(4)?.as_str(),
            kind,
        ))
    }

    /// The web address of an issue or change request.
    pub fn issue_url(&self, issue: &IssueRef) -> String {
        let kind = self
            .find(issue.host())
            .map_or(ForgeKind::Github, |f| f.kind);
        let segment = match (kind, issue.kind()) {
            (ForgeKind::Github, IssueKind::Issue) => "issues",
            (ForgeKind::Github, IssueKind::Change) => "pull",
            (ForgeKind::Gitlab, IssueKind::Issue) => "-/issues",
            (ForgeKind::Gitlab, IssueKind::Change) => "-/merge_requests",
            (ForgeKind::Gitea, IssueKind::Issue) => "issues",
            (ForgeKind::Gitea, IssueKind::Change) => "pulls",
        };
        format!(
            "https://{}/{}/{}/{}",
            issue.host(),
            issue.repo_path(),
            segment,
            issue.number()
        )
    }
}

/// Whether `s` is a plausible owner path (`acme`, `group/sub`) when `nested`,
/// or a single name otherwise.
pub(crate) fn valid_names(s: &str, nested: bool) -> bool {
    // One pass over the bytes: this runs for every `owner/repo#N` typed.
    let mut segment = 0usize;
    let mut slashes = 0usize;
    for &b in s.as_bytes() {
        if b == b'/' {
            if segment == 0 {
                return false;
            }
            segment = 0;
            slashes += 1;
        } else if b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-') {
            segment += 1;
        } else {
            return false;
        }
    }
    segment > 0 && (slashes == 0 || nested)
}

/// A repository on a forge: a channel's default repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoRef {
    pub host: Arc<str>,
    pub owner: String,
    pub repo: String,
}

/// Why a repository name could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RepoRefError {
    #[error(
        "`{0}` is not a repository: write `owner/repo`, or `host/owner/repo` for a forge other than the default"
    )]
    Malformed(String),
}

impl RepoRef {
    /// Reads `owner/repo` (on the default forge) or `host/owner/repo` where
    /// `host` is one of `forges`; the owner may hold slashes on GitLab.
    pub fn parse(text: &str, forges: &Forges) -> Result<RepoRef, RepoRefError> {
        let malformed = || RepoRefError::Malformed(text.to_owned());
        let text_trimmed = text.trim().trim_end_matches('/');
        let (forge, path) = match text_trimmed.split_once('/') {
            Some((first, rest)) => match forges.find(first) {
                Some(forge) => (forge, rest),
                None => (forges.default_forge(), text_trimmed),
            },
            None => return Err(malformed()),
        };
        let (owner, repo) = path.rsplit_once('/').ok_or_else(malformed)?;
        let nested = forge.kind == ForgeKind::Gitlab;
        if !valid_names(owner, nested) || !valid_names(repo, false) {
            return Err(malformed());
        }
        Ok(RepoRef {
            host: forge.host.clone(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
        })
    }
}

impl fmt::Display for RepoRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.repo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forges() -> Forges {
        Forges::new([
            ("github.com".into(), ForgeKind::Github),
            ("GitLab.Example.com".into(), ForgeKind::Gitlab),
        ])
        .unwrap()
    }

    #[test]
    fn hosts_are_lower_cased_and_the_first_is_the_default() {
        let f = forges();
        assert_eq!(&*f.default_forge().host, "github.com");
        assert!(f.find("gitlab.example.COM").is_some());
        assert_eq!(f.hosts(), "github.com, gitlab.example.com");
    }

    #[test]
    fn empty_duplicate_and_bad_hosts_are_refused() {
        assert_eq!(Forges::new([]).unwrap_err(), ForgeListError::Empty);
        let dup = Forges::new([
            ("github.com".into(), ForgeKind::Github),
            ("GITHUB.com".into(), ForgeKind::Github),
        ]);
        assert_eq!(
            dup.unwrap_err(),
            ForgeListError::Duplicate("github.com".into())
        );
        let bad = Forges::new([("https://github.com/".into(), ForgeKind::Github)]);
        assert!(matches!(bad.unwrap_err(), ForgeListError::BadHost(_)));
    }

    #[test]
    fn repo_refs_read_owner_repo_and_host_owner_repo() {
        let f = forges();
        let r = RepoRef::parse("acme/web", &f).unwrap();
        assert_eq!(
            (&*r.host, r.owner.as_str(), r.repo.as_str()),
            ("github.com", "acme", "web")
        );
        let r = RepoRef::parse("gitlab.example.com/group/sub/api", &f).unwrap();
        assert_eq!(
            (&*r.host, r.owner.as_str(), r.repo.as_str()),
            ("gitlab.example.com", "group/sub", "api")
        );
        assert!(RepoRef::parse("acme", &f).is_err());
        assert!(
            RepoRef::parse("a/b/c", &f).is_err(),
            "subgroups only on GitLab"
        );
        assert!(RepoRef::parse("acme/we b", &f).is_err());
    }

    #[test]
    fn issue_urls_follow_each_forge_shape() {
        let f = Forges::new([
            ("github.com".into(), ForgeKind::Github),
            ("gitlab.example.com".into(), ForgeKind::Gitlab),
            ("gitea.example.com".into(), ForgeKind::Gitea),
        ])
        .unwrap();
        let url = |host: &str, kind| f.issue_url(&IssueRef::new(host, "a/b", "c", 7, kind));
        assert_eq!(
            url("github.com", IssueKind::Change),
            "https://github.com/a/b/c/pull/7"
        );
        assert_eq!(
            url("gitlab.example.com", IssueKind::Change),
            "https://gitlab.example.com/a/b/c/-/merge_requests/7"
        );
        assert_eq!(
            url("gitea.example.com", IssueKind::Issue),
            "https://gitea.example.com/a/b/c/issues/7"
        );
    }
}
