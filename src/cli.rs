//! The `mosaic-bot` command line (`../shared/cli.md`): its arguments, and the
//! `parse` subcommand's output.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use serde::Serialize;

use crate::command::{self, Command, ParseContext, Parsed, RepoRef};
use crate::config::Config;

/// Exit status for a bad invocation (clap uses the same).
const USAGE: u8 = 2;

/// mosaic-bot: starts Mosaic Stack fix jobs from chat and relays their events.
#[derive(Debug, Parser)]
#[command(name = "mosaic-bot", version, about)]
pub struct Cli {
    /// Configuration file (default: config/mosaic.toml when present).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// How `serve` and `console` write their logs (to standard error).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Subcommands,
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, span fields included, for log collectors.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Subcommands {
    /// The daemon: every platform enabled in the configuration, the relay,
    /// health and metrics.
    Serve,
    /// The daemon with a terminal as its platform: type commands, see replies.
    Console(ConsoleArgs),
    /// Run the command parser alone on TEXT and print what it understood.
    Parse(ParseArgs),
    /// Load and validate the configuration, print it with secrets masked.
    CheckConfig,
}

/// `mosaic-bot console [--json] [--backend URL] [--token T] [--workspace ID] [--demo]`
#[derive(Debug, Args)]
pub struct ConsoleArgs {
    /// JSON lines in and out, for scripts and tests.
    #[arg(long)]
    pub json: bool,
    /// The job backend's base URL (default: the configuration's).
    #[arg(long, value_name = "URL")]
    pub backend: Option<String>,
    /// The backend API token (default: the configuration's).
    #[arg(long, value_name = "T")]
    pub token: Option<String>,
    /// The backend workspace id (default: the configuration's).
    #[arg(long, value_name = "ID")]
    pub workspace: Option<String>,
    /// Run a simulated backend in this process, at human pace: nothing else
    /// needs to run.
    #[arg(long, conflicts_with_all = ["backend", "token", "workspace"])]
    pub demo: bool,
}

/// `mosaic-bot parse [--name mosaic] [--default-repo OWNER/REPO] [--slash] TEXT…`
#[derive(Debug, Args)]
pub struct ParseArgs {
    /// The bot's name (default: the configuration's, else `mosaic`).
    #[arg(long)]
    pub name: Option<String>,
    /// The repository `#N` refers to.
    #[arg(long, value_name = "OWNER/REPO")]
    pub default_repo: Option<String>,
    /// Parse TEXT as the text after a slash command (no mention needed).
    #[arg(long)]
    pub slash: bool,
    /// The message; several arguments are joined with a space; `-` reads it
    /// from standard input.
    #[arg(required = true, value_name = "TEXT")]
    pub text: Vec<String>,
}

/// Runs the command line; returns the process's exit status.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Subcommands::Parse(args) => parse(cli.config, args),
        Subcommands::CheckConfig => check_config(cli.config),
        Subcommands::Serve => crate::run::serve(cli.config, cli.log_format),
        Subcommands::Console(args) => crate::run::console(cli.config, args, cli.log_format),
    }
}

fn check_config(config_path: Option<PathBuf>) -> ExitCode {
    let config = match Config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mosaic-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    print!("{}", config.describe());
    if config.backend.is_none() {
        eprintln!(
            "mosaic-bot: configuration key `backend`: missing; set backend.url, backend.workspace and MOSAIC__BACKEND__TOKEN"
        );
        return ExitCode::FAILURE;
    }
    let platforms: Vec<&str> = [
        ("discord", config.discord.is_some()),
        ("mattermost", config.mattermost.is_some()),
        ("slack", config.slack.is_some()),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    if platforms.is_empty() {
        eprintln!(
            "note: no chat platform is enabled: `serve` needs [discord], [mattermost] or [slack]; `console` needs none"
        );
    } else {
        eprintln!("platforms `serve` starts: {}", platforms.join(", "));
    }
    ExitCode::SUCCESS
}

fn parse(config_path: Option<PathBuf>, args: ParseArgs) -> ExitCode {
    let config = match Config::load(config_path.as_deref()) {
        Ok(config) => config,
        Err(e) => return usage_error(&e.to_string()),
    };
    let name = args.name.unwrap_or(config.bot_name);
    let default_repo = match args
        .default_repo
        .as_deref()
        .map(|r| RepoRef::parse(r, &config.forges))
    {
        None => None,
        Some(Ok(repo)) => Some(repo),
        Some(Err(e)) => return usage_error(&format!("--default-repo: {e}")),
    };
    let text = if args.text.len() == 1 && args.text[0] == "-" {
        let mut text = String::new();
        if let Err(e) = io::stdin().read_to_string(&mut text) {
            return usage_error(&format!("cannot read the message from standard input: {e}"));
        }
        text
    } else {
        args.text.join(" ")
    };
    let ctx = ParseContext {
        bot_name: &name,
        default_repo: default_repo.as_ref(),
        forges: &config.forges,
    };
    let found = if args.slash {
        command::parse_slash(&text, &ctx)
    } else {
        command::parse_message(&text, &ctx)
    };
    let mut out = io::stdout().lock();
    for parsed in found {
        let line = serde_json::to_string(&ParseLine::from(&parsed))
            .expect("parse output is plain JSON data");
        if writeln!(out, "{line}").is_err() {
            // The reader went away (`| head`): nothing more to say to anyone.
            break;
        }
    }
    ExitCode::SUCCESS
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("mosaic-bot: {message}");
    ExitCode::from(USAGE)
}

/// One line of `parse` output, in the field order of cli.md.
#[derive(Serialize)]
#[serde(untagged)]
enum ParseLine<'a> {
    Issue {
        line: usize,
        action: &'static str,
        issue: Option<IssueJson<'a>>,
    },
    Help {
        line: usize,
        action: &'static str,
        topic: Option<&'static str>,
    },
    Error {
        line: usize,
        error: &'static str,
        message: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        suggestion: Option<Option<&'static str>>,
    },
}

#[derive(Serialize)]
struct IssueJson<'a> {
    host: &'a str,
    owner: &'a str,
    repo: &'a str,
    number: u64,
}

impl<'a> From<&'a Parsed> for ParseLine<'a> {
    fn from(parsed: &'a Parsed) -> Self {
        let line = parsed.line;
        match &parsed.result {
            Ok(Command::Help(topic)) => ParseLine::Help {
                line,
                action: "help",
                topic: topic.map(|a| a.word()),
            },
            Ok(command) => ParseLine::Issue {
                line,
                action: command.action().word(),
                issue: command.issue().map(|i| IssueJson {
                    host: i.host(),
                    owner: i.owner(),
                    repo: i.repo(),
                    number: i.number(),
                }),
            },
            Err(e) => ParseLine::Error {
                line,
                error: e.problem.code(),
                message: e.to_string(),
                // Present (possibly null) on unknown actions only, as cli.md says.
                suggestion: matches!(e.problem, command::Problem::UnknownAction { .. })
                    .then(|| e.suggestion().map(|a| a.word())),
            },
        }
    }
}
