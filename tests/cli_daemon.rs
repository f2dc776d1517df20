//! `check-config` and `serve` as an operator runs them.

use std::io::Write;
use std::process::{Command, Output};

fn bot(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
    cmd.args(args).current_dir(std::env::temp_dir());
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC__")) {
        cmd.env_remove(key);
    }
    cmd.envs(env.iter().copied());
    cmd.output().expect("the binary runs")
}

fn config(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

const BACKEND: &str = "[backend]\nurl = \"http://127.0.0.1:9\"\nworkspace = \"ws-1\"\n";

#[test]
fn check_config_prints_everything_with_secrets_masked() {
    let file = config(&format!("{BACKEND}[workspaces.ops]\nid = \"ws-ops\"\n"));
    let out = bot(
        &["--config", file.path().to_str().unwrap(), "check-config"],
        &[
            ("MOSAIC__BACKEND__TOKEN", "tok-VERY-SECRET"),
            ("MOSAIC__WORKSPACES__OPS__TOKEN", "ops-VERY-SECRET"),
            (
                "MOSAIC__STORE__URL",
                "postgres://bot:pw-VERY-SECRET@db/mosaic",
            ),
        ],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("workspace default = \"ws-1\" token ***"),
        "{stdout}"
    );
    assert!(
        stdout.contains("workspace ops = \"ws-ops\" token ***"),
        "{stdout}"
    );
    assert!(stdout.contains("permissions.cancel = the requester, admins in any channel"));
    assert!(
        stdout.contains("store.url = postgres://bot:***@db/mosaic"),
        "{stdout}"
    );
    assert!(!stdout.contains("VERY-SECRET") && !stderr.contains("VERY-SECRET"));
    assert!(
        stdout.contains("replicas.id = \"") && stdout.contains("(default: host and process id)"),
        "{stdout}"
    );
    assert!(stdout.contains("replicas.lease_secs = 15"), "{stdout}");
}

#[test]
fn check_config_shows_the_replica_and_refuses_a_bad_lease() {
    let file = config(&format!(
        "{BACKEND}[replicas]\nid = \"bot-2\"\nlease_secs = 5\n"
    ));
    let out = bot(
        &["--config", file.path().to_str().unwrap(), "check-config"],
        &[("MOSAIC__BACKEND__TOKEN", "t")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("replicas.id = \"bot-2\"\n"), "{stdout}");
    assert!(stdout.contains("replicas.lease_secs = 5"), "{stdout}");

    let out = bot(
        &["--config", file.path().to_str().unwrap(), "check-config"],
        &[
            ("MOSAIC__BACKEND__TOKEN", "t"),
            ("MOSAIC__REPLICAS__LEASE_SECS", "1"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("replicas.lease_secs") && stderr.contains("2 to 600 seconds"),
        "{stderr}"
    );
}

#[test]
fn check_config_exits_one_naming_the_key() {
    let out = bot(&["check-config"], &[("MOSAIC__BOT__NAME", "two words")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bot.name"));

    let out = bot(&["check-config"], &[]);
    assert_eq!(out.status.code(), Some(1), "no backend is a problem");
    assert!(String::from_utf8_lossy(&out.stderr).contains("`backend`"));

    let file = config("[backend]\nurl = \"ftp://x\"\nworkspace = \"w\"\ntoken = \"t\"\n");
    let out = bot(
        &["--config", file.path().to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("backend.url"));
}

#[test]
fn serve_without_a_platform_says_so_and_exits_one() {
    let file = config(BACKEND);
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}/bot.db", dir.path().display());
    let out = bot(
        &["--config", file.path().to_str().unwrap(), "serve"],
        &[
            ("MOSAIC__BACKEND__TOKEN", "t"),
            ("MOSAIC__STORE__URL", &db),
            ("MOSAIC__HTTP__LISTEN", "127.0.0.1:0"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no chat platform is enabled"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_demo_runs_with_no_configuration_at_all() {
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_mosaic-bot"))
        .args(["console", "--demo", "--json"])
        .current_dir(tempfile::tempdir().unwrap().path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // `#42` means acme/web in the demo, and the in-process backend answers.
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"@mosaic status #42\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].contains("\"op\":\"react\""), "{stdout}");
    assert!(
        lines[1].contains("I know of no job for acme/web#42."),
        "{stdout}"
    );
}

#[test]
fn the_example_configuration_is_valid() {
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/config/mosaic.example.toml");
    let out = bot(
        &["--config", example, "check-config"],
        &[
            ("MOSAIC__BACKEND__TOKEN", "t"),
            ("MOSAIC__WORKSPACES__PLATFORM__TOKEN", "u"),
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("forges[1] = gitlab.example.com (gitlab)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("channels[1] = slack:C0PLATFORM1 workspace=platform"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "permissions.cancel = the requester, roles [slack:S0ONCALL01], admins in any channel"
        ),
        "{stdout}"
    );
}

#[test]
fn console_with_a_backend_but_no_workspace_says_what_is_missing() {
    let out = bot(
        &[
            "console",
            "--json",
            "--backend",
            "http://127.0.0.1:9",
            "--token",
            "t",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--workspace ID"), "{stderr}");
}
