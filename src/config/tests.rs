//! The configuration's loading, layering, validation and masking.

use super::*;
use std::io::Write;

fn file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

fn no_env() -> Vec<(String, String)> {
    Vec::new()
}

#[test]
fn defaults_without_a_file() {
    let config = Config::load_from(Some(file("").path()), no_env()).unwrap();
    assert_eq!(config.bot_name, "mosaic");
    assert_eq!(config.forges.hosts(), "github.com");
    assert!(config.channels.is_empty());
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
    assert_eq!(backend.token.expose(), "tok-SECRET-1");
    let shown = format!("{}{config:?}", config.describe());
    assert!(!shown.contains("tok-SECRET-1"), "{shown}");
    assert!(shown.contains("backend.token = ***"), "{shown}");

    let token = file("tok-SECRET-2\n");
    let f = file(&format!(
        "[backend]\nurl = \"http://x\"\nworkspace = \"w\"\ntoken_file = {:?}\n",
        token.path()
    ));
    let config = Config::load_from(Some(f.path()), no_env()).unwrap();
    assert_eq!(config.backend.unwrap().token.expose(), "tok-SECRET-2");

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
