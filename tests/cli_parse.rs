//! `mosaic-bot parse` as a user runs it: the binary, its output lines and exit
//! status, exactly as `../shared/cli.md` specifies.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bot() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
    // Run where no config/mosaic.toml exists, with no MOSAIC__* variables, so
    // each test sees only the configuration it gives.
    cmd.current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC__")) {
        cmd.env_remove(key);
    }
    cmd
}

fn run(args: &[&str]) -> Output {
    bot().args(args).output().expect("the binary runs")
}

fn run_stdin(args: &[&str], input: &str) -> Output {
    let mut child = bot()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

#[test]
fn the_examples_of_cli_md() {
    let message = "@mosaic fix acme/web#42\n@mosaic status\n@mosaic help fix\n@mosaic fxi #42";
    let out = run_stdin(&["parse", "-"], message);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        concat!(
            r#"{"line":1,"action":"fix","issue":{"host":"github.com","owner":"acme","repo":"web","number":42}}"#,
            "\n",
            r#"{"line":2,"action":"status","issue":null}"#,
            "\n",
            r#"{"line":3,"action":"help","topic":"fix"}"#,
            "\n",
            r#"{"line":4,"error":"unknown_action","message":"Unknown command `fxi`. Did you mean `fix`? Try `@mosaic help`.","suggestion":"fix"}"#,
            "\n",
        )
    );
}

#[test]
fn arguments_are_joined_with_a_space() {
    let out = run(&[
        "parse",
        "--default-repo",
        "acme/web",
        "@mosaic",
        "fix",
        "#7",
    ]);
    assert_eq!(
        stdout(&out),
        "{\"line\":1,\"action\":\"fix\",\"issue\":{\"host\":\"github.com\",\"owner\":\"acme\",\"repo\":\"web\",\"number\":7}}\n"
    );
}

#[test]
fn no_command_prints_nothing_and_exits_zero() {
    let out = run(&["parse", "just chatting"]);
    assert!(out.status.success());
    assert_eq!(stdout(&out), "");
}

#[test]
fn a_bare_mention_is_help_with_a_null_topic() {
    assert_eq!(
        stdout(&run(&["parse", "@mosaic"])),
        "{\"line\":1,\"action\":\"help\",\"topic\":null}\n"
    );
}

#[test]
fn errors_other_than_unknown_action_have_no_suggestion_field() {
    let out = run(&["parse", "@mosaic fix #42"]);
    assert!(out.status.success());
    assert_eq!(
        stdout(&out),
        "{\"line\":1,\"error\":\"ambiguous_issue\",\"message\":\"This channel has no default repository, so `#42` is ambiguous. Use `owner/repo#42`.\"}\n"
    );
    let out = run(&["parse", "@mosaic thanks"]);
    assert!(
        stdout(&out).ends_with(",\"suggestion\":null}\n"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn slash_mode_needs_no_mention_and_names_the_slash_command() {
    let out = run(&["parse", "--slash", "cancle"]);
    assert_eq!(
        stdout(&out),
        "{\"line\":1,\"error\":\"unknown_action\",\"message\":\"Unknown command `cancle`. Did you mean `cancel`? Try `/mosaic help`.\",\"suggestion\":\"cancel\"}\n"
    );
}

#[test]
fn the_name_flag_changes_the_mention() {
    let out = run(&["parse", "--name", "fixer", "@mosaic status\n@Fixer status"]);
    assert_eq!(
        stdout(&out),
        "{\"line\":2,\"action\":\"status\",\"issue\":null}\n"
    );
}

#[test]
fn forges_and_name_come_from_the_configuration_file_and_environment() {
    let mut file = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    writeln!(
        file,
        "[bot]\nname = \"fixer\"\n[[forges]]\nhost = \"gitlab.example.com\"\nkind = \"gitlab\""
    )
    .unwrap();
    let path = file.path().to_str().unwrap();
    let out = run(&[
        "parse",
        "--config",
        path,
        "@fixer fix https://gitlab.example.com/g/s/r/-/issues/3",
    ]);
    assert_eq!(
        stdout(&out),
        "{\"line\":1,\"action\":\"fix\",\"issue\":{\"host\":\"gitlab.example.com\",\"owner\":\"g/s\",\"repo\":\"r\",\"number\":3}}\n"
    );
    let out = bot()
        .args(["--config", path, "parse", "@otto status"])
        .env("MOSAIC__BOT__NAME", "otto")
        .output()
        .unwrap();
    assert_eq!(
        stdout(&out),
        "{\"line\":1,\"action\":\"status\",\"issue\":null}\n"
    );
    let out = run(&[
        "parse",
        "--config",
        path,
        "@fixer fix https://github.com/a/b/issues/1",
    ]);
    assert!(
        stdout(&out).contains("\"error\":\"unknown_forge\""),
        "{}",
        stdout(&out)
    );
}

#[test]
fn bad_invocations_exit_two_with_a_message() {
    for args in [
        &["parse"][..],
        &["parse", "--default-repo", "nope", "x"],
        &["parse", "--config", "/nonexistent/m.toml", "x"],
        &["parse", "--bogus", "x"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty(), "{args:?} says why");
        assert_eq!(stdout(&out), "", "{args:?}");
    }
}
