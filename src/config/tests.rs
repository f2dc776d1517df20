//! The configuration's loading, layering, validation and masking.

use super::*;
use std::io::Write;

pub(super) fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

pub(super) fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_without_a_file() {
    let config = Config::load_from(Some(file("").path()), no_env()).unwrap();
    assert_eq!(config.bot_name, "mosaic");
    assert_eq!(config.forges.hosts(), "github.com");
    assert!(config.channels.is_empty());
    assert_eq!(config.catch_up, Duration::from_secs(600));
}

#[test]
fn the_catch_up_window_is_read_and_bounded() {
    let env = vec![("MOSAIC__BOT__CATCH_UP_SECS".to_owned(), "90".to_owned())];
    let config = Config::load_from(Some(file("").path()), env).unwrap();
    assert_eq!(config.catch_up, Duration::from_secs(90));
    assert!(config.describe().contains("bot.catch_up_secs = 90\n"));
    for bad in ["0", "43201"] {
        let f = file(&format!("[bot]\ncatch_up_secs = {bad}\n"));
        let err = Config::load_from(Some(f.path()), no_env()).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("bot.catch_up_secs") && err.contains("1 to 43200"),
            "{err}"
        );
    }
}

#[test]
fn file_values_then_environment_over_them() {
    let f = file(
        r#"
        [bot]
        name = "fixer"
        [[forges]]
        host = "gitlab.example.com"
        kind = "gitlab"
        [[channels]]
        platform = "slack"
        id = "C1"
        default_repo = "group/sub/api"
        "#,
    );
    let env = vec![("MOSAIC__BOT__NAME".to_owned(), "mender".to_owned())];
    let config = Config::load_from(Some(f.path()), env).unwrap();
    assert_eq!(config.bot_name, "mender");
    assert_eq!(config.forges.hosts(), "gitlab.example.com");
    let repo = config
        .channel("slack", "C1")
        .unwrap()
        .default_repo
        .as_ref()
        .unwrap();
    assert_eq!(
        (repo.owner.as_str(), repo.repo.as_str()),
        ("group/sub", "api")
    );
    assert!(config.channel("slack", "C2").is_none());
}

#[test]
fn problems_name_the_key() {
    let bad_repo =
        file("[[channels]]\nplatform = \"slack\"\nid = \"C1\"\ndefault_repo = \"acme\"\n");
    let err = Config::load_from(Some(bad_repo.path()), no_env()).unwrap_err();
    assert!(
        err.to_string().contains("channels[0].default_repo"),
        "{err}"
    );

    let bad_name = file("[bot]\nname = \"two words\"\n");
    let err = Config::load_from(Some(bad_name.path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("bot.name"), "{err}");

    let typo = file("[bot]\nnmae = \"x\"\n");
    let err = Config::load_from(Some(typo.path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("nmae"), "{err}");

    let bad_kind = file("[[forges]]\nhost = \"x.org\"\nkind = \"svn\"\n");
    let err = Config::load_from(Some(bad_kind.path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("svn"), "{err}");
}

#[test]
fn backend_token_from_environment_or_file_and_never_printed() {
    let f = file("[backend]\nurl = \"http://127.0.0.1:3001/\"\nworkspace = \"ws-1\"\n");
    let env = vec![(
        "MOSAIC__BACKEND__TOKEN".to_owned(),
        "tok-SECRET-1".to_owned(),
    )];
    let config = Config::load_from(Some(f.path()), env).unwrap();
    let backend = config.backend.as_ref().unwrap();
    assert_eq!(backend.url, "http://127.0.0.1:3001");
    assert_eq!(
        backend.default_workspace().map(|w| w.token.expose()),
        Some("tok-SECRET-1")
    );
    let shown = format!("{}{config:?}", config.describe());
    assert!(!shown.contains("tok-SECRET-1"), "{shown}");
    assert!(
        shown.contains("workspace default = \"ws-1\" token ***"),
        "{shown}"
    );

    let token = file("tok-SECRET-2\n");
    let f = file(&format!(
        "[backend]\nurl = \"http://x\"\nworkspace = \"w\"\ntoken_file = {:?}\n",
        token.path()
    ));
    let config = Config::load_from(Some(f.path()), no_env()).unwrap();
    let backend = config.backend.unwrap();
    assert_eq!(
        backend.default_workspace().map(|w| w.token.expose()),
        Some("tok-SECRET-2")
    );

    let f = file("[backend]\nurl = \"http://x\"\nworkspace = \"w\"\n");
    let err = Config::load_from(Some(f.path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("backend.token"), "{err}");
}

#[test]
fn store_passwords_are_masked() {
    let env = vec![(
        "MOSAIC__STORE__URL".to_owned(),
        "postgres://bot:pw-SECRET@db:5432/mosaic".to_owned(),
    )];
    let config = Config::load_from(Some(file("").path()), env).unwrap();
    let shown = config.describe();
    assert!(
        shown.contains("store.url = postgres://bot:***@db:5432/mosaic"),
        "{shown}"
    );
    assert!(!shown.contains("pw-SECRET"));
}

#[test]
fn bad_listen_addresses_name_the_key() {
    let err = Config::load_from(
        Some(file("[http]\nlisten = \"nowhere\"\n").path()),
        no_env(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("http.listen"), "{err}");
}

#[test]
fn a_missing_file_given_explicitly_is_an_error() {
    let err = Config::load_from(Some(Path::new("/nonexistent/mosaic.toml")), no_env()).unwrap_err();
    assert!(
        err.to_string().contains("/nonexistent/mosaic.toml"),
        "{err}"
    );
}

const TWO_WORKSPACES: &str = r#"
[backend]
url = "http://127.0.0.1:3001"
workspace = "ws-default"
[workspaces.ops]
id = "ws-ops"
[[channels]]
platform = "slack"
id = "C-OPS"
workspace = "ops"
repos = ["acme/ops", "tools/*"]
default_repo = "acme/ops"
[[channels]]
platform = "slack"
id = "C-WEB"
default_repo = "acme/web"
"#;

pub(super) fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn channels_map_to_workspaces_each_with_its_own_token() {
    let tokens = env(&[
        ("MOSAIC__BACKEND__TOKEN", "tok-DEFAULT"),
        ("MOSAIC__WORKSPACES__OPS__TOKEN", "tok-OPS"),
    ]);
    let config = Config::load_from(Some(file(TWO_WORKSPACES).path()), tokens).unwrap();
    let of = |channel: &str| {
        config
            .workspace_for("slack", channel)
            .map(|w| (w.id.as_str(), w.token.expose()))
    };
    assert_eq!(of("C-OPS"), Some(("ws-ops", "tok-OPS")));
    assert_eq!(of("C-WEB"), Some(("ws-default", "tok-DEFAULT")));
    // A channel no entry names takes [backend]'s workspace.
    assert_eq!(of("C-OTHER"), Some(("ws-default", "tok-DEFAULT")));
    assert_eq!(
        config
            .workspace_for("discord", "C-OPS")
            .map(|w| w.name.as_str()),
        Some("default")
    );
    let shown = config.describe();
    assert!(
        shown.contains("workspace ops = \"ws-ops\" token ***"),
        "{shown}"
    );
    assert!(!shown.contains("tok-OPS") && !shown.contains("tok-DEFAULT"));
}

#[test]
fn a_workspace_token_may_come_from_a_file_named_in_the_environment() {
    let token = file("tok-FROM-FILE\n");
    let tokens = env(&[
        ("MOSAIC__BACKEND__TOKEN", "tok-DEFAULT"),
        (
            "MOSAIC__WORKSPACES__OPS__TOKEN_FILE",
            token.path().to_str().unwrap(),
        ),
    ]);
    let config = Config::load_from(Some(file(TWO_WORKSPACES).path()), tokens).unwrap();
    let ops = config.workspace_for("slack", "C-OPS").unwrap();
    assert_eq!(ops.token.expose(), "tok-FROM-FILE");
}

#[test]
fn without_a_default_workspace_unlisted_channels_have_none() {
    let text = TWO_WORKSPACES.replace("workspace = \"ws-default\"\n", "");
    let tokens = env(&[("MOSAIC__WORKSPACES__OPS__TOKEN", "tok-OPS")]);
    let config = Config::load_from(Some(file(&text).path()), tokens).unwrap();
    assert!(config.workspace_for("slack", "C-OPS").is_some());
    assert!(config.workspace_for("slack", "C-WEB").is_none());
    assert!(config.workspace_for("slack", "C-OTHER").is_none());
    assert!(
        config
            .describe()
            .contains("channels without a workspace are refused")
    );
}

#[test]
fn workspace_problems_name_the_key() {
    type Env = Vec<(String, String)>;
    let cases: [(&str, Env, &str); 6] = [
        // A workspace's token is required.
        (
            TWO_WORKSPACES,
            env(&[("MOSAIC__BACKEND__TOKEN", "t")]),
            "workspaces.ops.token",
        ),
        // A channel names a workspace that is not declared.
        (
            "[backend]\nurl = \"http://x\"\nworkspace = \"w\"\n[[channels]]\nplatform = \"slack\"\nid = \"C1\"\nworkspace = \"nope\"\n",
            env(&[("MOSAIC__BACKEND__TOKEN", "t")]),
            "channels[0].workspace",
        ),
        // Workspaces without a backend URL.
        (
            "[workspaces.ops]\nid = \"x\"\ntoken = \"t\"\n",
            no_env(),
            "workspaces.ops",
        ),
        // No workspace at all.
        (
            "[backend]\nurl = \"http://x\"\n",
            no_env(),
            "backend.workspace",
        ),
        // A token with no workspace to belong to.
        (
            "[backend]\nurl = \"http://x\"\ntoken = \"t\"\n",
            no_env(),
            "backend.token",
        ),
        // Two names for one workspace id.
        (
            "[backend]\nurl = \"http://x\"\nworkspace = \"w\"\ntoken = \"t\"\n[workspaces.b]\nid = \"w\"\ntoken = \"u\"\n",
            no_env(),
            "workspaces.b.id",
        ),
    ];
    for (text, env, key) in cases {
        let err = Config::load_from(Some(file(text).path()), env).unwrap_err();
        assert!(err.to_string().contains(key), "{key}: {err}");
    }
}

#[test]
fn repository_lists_match_repos_and_owners_in_any_case() {
    let tokens = env(&[
        ("MOSAIC__BACKEND__TOKEN", "t"),
        ("MOSAIC__WORKSPACES__OPS__TOKEN", "u"),
    ]);
    let config = Config::load_from(Some(file(TWO_WORKSPACES).path()), tokens).unwrap();
    let ops = config.channel("slack", "C-OPS").unwrap();
    let issue = |owner: &str, repo: &str| {
        crate::command::IssueRef::new(
            "github.com",
            owner,
            repo,
            1,
            crate::command::IssueKind::Issue,
        )
    };
    assert!(ops.allows(&issue("acme", "ops")));
    assert!(ops.allows(&issue("ACME", "Ops")));
    assert!(ops.allows(&issue("tools", "anything")));
    assert!(!ops.allows(&issue("acme", "web")));
    assert!(!ops.allows(&issue("other", "ops")));
    let web = config.channel("slack", "C-WEB").unwrap();
    assert!(
        web.allows(&issue("other", "repo")),
        "no list: any repository"
    );
    assert!(config.describe().contains("repos=acme/ops, tools/*"));
}

#[test]
fn a_default_repository_outside_the_list_is_refused() {
    let text = "[[channels]]\nplatform = \"slack\"\nid = \"C1\"\ndefault_repo = \"acme/web\"\nrepos = [\"acme/api\"]\n";
    let err = Config::load_from(Some(file(text).path()), no_env()).unwrap_err();
    assert!(
        err.to_string().contains("channels[0].default_repo"),
        "{err}"
    );
    let text = "[[channels]]\nplatform = \"slack\"\nid = \"C1\"\nrepos = [\"acme\"]\n";
    let err = Config::load_from(Some(file(text).path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("channels[0].repos"), "{err}");
    let text = "[[channels]]\nplatform = \"irc\"\nid = \"C1\"\n";
    let err = Config::load_from(Some(file(text).path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("channels[0].platform"), "{err}");
}

#[test]
fn permissions_default_to_the_documented_rules() {
    use crate::command::Action;
    let config = Config::load_from(Some(file("").path()), no_env()).unwrap();
    let p = &config.permissions;
    for action in [Action::Help, Action::Status, Action::Verbose, Action::Quiet] {
        let rule = p.rule(action);
        assert!(
            rule.everyone && rule.channels == Channels::Anywhere,
            "{action}"
        );
    }
    let fix = p.rule(Action::Fix);
    assert!(fix.everyone && fix.channels == Channels::WithWorkspace);
    for action in [Action::Cancel, Action::Retry] {
        let rule = p.rule(action);
        assert!(!rule.everyone && rule.requester, "{action}");
    }
}

#[test]
fn permissions_are_read_per_action() {
    use crate::command::Action;
    let text = r#"
        [permissions.admins]
        users = ["slack:UADMIN"]
        roles = ["discord:42", "mattermost:system_admin"]
        [permissions.fix]
        roles = ["slack:S-DEVS"]
        channels = ["slack:C1", "console:console"]
        [permissions.cancel]
        users = ["discord:7"]
        [permissions.status]
        everyone = false
        requester = true
    "#;
    let config = Config::load_from(Some(file(text).path()), no_env()).unwrap();
    let p = &config.permissions;
    assert_eq!(p.admins.users[0].to_string(), "slack:UADMIN");
    assert_eq!(p.admins.roles.len(), 2);
    let fix = p.rule(Action::Fix);
    // A list of roles means only them: `everyone` turns off unless set.
    assert!(!fix.everyone);
    assert_eq!(fix.who.roles[0].to_string(), "slack:S-DEVS");
    assert!(matches!(&fix.channels, Channels::Only(list) if list.len() == 2));
    let cancel = p.rule(Action::Cancel);
    assert!(
        cancel.requester && !cancel.everyone,
        "the requester keeps their right"
    );
    assert_eq!(cancel.who.users[0].to_string(), "discord:7");
    let status = p.rule(Action::Status);
    assert!(!status.everyone && status.requester);
    let shown = config.describe();
    assert!(
        shown.contains(
            "permissions.fix = roles [slack:S-DEVS], admins in channels [slack:C1, console:console]"
        ),
        "{shown}"
    );
}

#[test]
fn permission_entries_must_name_a_known_platform_and_an_id() {
    for (entry, problem) in [
        ("U123", "names no platform"),
        ("irc:U123", "is not a platform"),
        ("slack:", "has no id"),
    ] {
        let text = format!("[permissions.fix]\nusers = [{entry:?}]\n");
        let err = Config::load_from(Some(file(&text).path()), no_env()).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("permissions.fix.users") && err.contains(problem),
            "{err}"
        );
    }
    let text = "[permissions.deploy]\neveryone = true\n";
    let err = Config::load_from(Some(file(text).path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("deploy"), "{err}");
}

#[test]
fn a_platform_may_have_rules_of_its_own() {
    use crate::command::Action;
    use mosaic_chat::Platform;
    let text = r#"
        [permissions.fix]
        channels = ["slack:C1", "discord:9"]
        [permissions.discord.fix]
        roles = ["discord:42"]
        [permissions.slack.cancel]
        everyone = true
    "#;
    let config = Config::load_from(Some(file(text).path()), no_env()).unwrap();
    let p = &config.permissions;
    let discord = Platform::known("discord").unwrap();
    let slack = Platform::known("slack").unwrap();
    // Discord's fix: its own roles, the general rule's channels.
    let fix = p.rule_on(discord, Action::Fix);
    assert!(!fix.everyone);
    assert_eq!(fix.who.roles[0].to_string(), "discord:42");
    assert!(matches!(&fix.channels, Channels::Only(list) if list.len() == 2));
    // Elsewhere the general rule.
    assert!(p.rule_on(slack, Action::Fix).everyone);
    assert!(p.rule_on(slack, Action::Cancel).everyone);
    assert!(!p.rule_on(discord, Action::Cancel).everyone);
    let shown = config.describe();
    assert!(
        shown.contains("permissions.discord.fix = roles [discord:42], admins in channels"),
        "{shown}"
    );

    let typo = "[permissions.slack.fxi]\neveryone = true\n";
    let err = Config::load_from(Some(file(typo).path()), no_env()).unwrap_err();
    assert!(err.to_string().contains("permissions.slack.fxi"), "{err}");
}
