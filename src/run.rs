//! The binary's edges for `serve` and `console`: logging, the runtime, the
//! demo's in-process backend, and errors turned into exit statuses.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use mosaic_chat::ChatPlatform;
use mosaic_console::{Console, ConsoleOptions};
use mosaic_discord::{Discord, DiscordOptions};
use mosaic_mattermost::{ActionOptions, Mattermost, MattermostOptions, SlashOptions};
use mosaic_slack::{HttpOptions, Slack, SlackOptions};
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

use crate::cli::{ConsoleArgs, LogFormat};
use crate::command::RepoRef;
use crate::config::{Backend, Channel, Config, DEFAULT_WORKSPACE, MattermostConfig, SlackConfig};
use crate::daemon::{self, RunOptions};
use crate::secret::Secret;

/// Where `serve` answers health checks unless `http.listen` says otherwise.
const DEFAULT_HTTP: &str = "127.0.0.1:8080";

/// `mosaic-bot serve`.
pub fn serve(config_path: Option<PathBuf>, log_format: LogFormat) -> ExitCode {
    init_logging("info", log_format);
    let Some(config) = load(config_path) else {
        return ExitCode::FAILURE;
    };
    let http = config
        .http_listen
        .or_else(|| DEFAULT_HTTP.parse::<SocketAddr>().ok());
    let platforms = match chat_platforms(&config) {
        Ok(platforms) => platforms,
        Err(e) => {
            eprintln!("mosaic-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    let options = RunOptions {
        http_listen: http,
        exit_when_input_ends: false,
    };
    match runtime() {
        Ok(rt) => rt.block_on(run_daemon(config, platforms, options)),
        Err(code) => code,
    }
}

/// The chat platforms `config` enables; none is an error `daemon::run` reports.
fn chat_platforms(config: &Config) -> Result<Vec<Arc<dyn ChatPlatform>>, String> {
    let mut platforms: Vec<Arc<dyn ChatPlatform>> = Vec::new();
    if let Some(mm) = &config.mattermost {
        platforms.push(Arc::new(mattermost(mm, &config.bot_name)?));
    }
    if let Some(discord) = &config.discord {
        let mut options = DiscordOptions::new(
            discord.token.clone(),
            discord.application_id,
            &config.bot_name,
        );
        options.guild_id = discord.guild_id;
        options.api_url.clone_from(&discord.api_url);
        options.gateway_url.clone_from(&discord.gateway_url);
        options.shards = discord.shards;
        platforms.push(Arc::new(Discord::new(options)));
    }
    if let Some(slack_config) = &config.slack {
        platforms.push(Arc::new(slack(slack_config, &config.bot_name)?));
    }
    Ok(platforms)
}

/// The Mattermost platform of a validated `[mattermost]` section.
fn mattermost(config: &MattermostConfig, bot_name: &str) -> Result<Mattermost, String> {
    let mut options = MattermostOptions::new(&config.url, config.token.clone(), bot_name);
    options.slash = config.slash.as_ref().map(|(listen, tokens)| SlashOptions {
        listen: *listen,
        tokens: tokens.clone(),
    });
    options.actions = config.actions.as_ref().map(|(url, secret)| ActionOptions {
        url: url.clone(),
        secret: secret.clone(),
    });
    Mattermost::new(options).map_err(|e| format!("cannot set up Mattermost: {e}"))
}

/// The Slack platform of a validated `[slack]` section.
fn slack(config: &SlackConfig, bot_name: &str) -> Result<Slack, String> {
    let mut options = SlackOptions::new(config.bot_token.clone(), bot_name);
    if let Some(url) = &config.api_url {
        options.api_url.clone_from(url);
    }
    options.app_token.clone_from(&config.app_token);
    options.http = config.http.as_ref().map(|(listen, secret)| HttpOptions {
        listen: *listen,
        signing_secret: secret.clone(),
    });
    Slack::new(options).map_err(|e| format!("cannot set up Slack: {e}"))
}

/// `mosaic-bot console`.
pub fn console(config_path: Option<PathBuf>, args: ConsoleArgs, log_format: LogFormat) -> ExitCode {
    init_logging("warn", log_format);
    let env = std::env::vars().chain(backend_flags(&args));
    let mut config = match Config::load_from(config_path.as_deref(), env) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("mosaic-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(url) = args.backend {
        // The flags describe one workspace, which every console channel uses.
        let existing = config.backend.take();
        let default = existing.as_ref().and_then(|b| b.default_workspace());
        let token = args
            .token
            .map(Secret::new)
            .or_else(|| default.map(|w| w.token.clone()))
            .unwrap_or_default();
        let workspace = args
            .workspace
            .or_else(|| default.map(|w| w.id.clone()))
            .unwrap_or_default();
        if token.is_empty() || workspace.trim().is_empty() {
            eprintln!(
                "mosaic-bot: console --backend needs --token T and --workspace ID (or a [backend] section with them)"
            );
            return ExitCode::from(2);
        }
        let mut backend = Backend::single(&url, &workspace, token);
        if let Some(existing) = existing {
            // The configuration's other workspaces stay; only the default is replaced.
            backend.stall_timeout = existing.stall_timeout;
            backend.workspaces.extend(
                existing
                    .workspaces
                    .into_iter()
                    .filter(|w| w.name != DEFAULT_WORKSPACE && w.id != workspace),
            );
        }
        config.backend = Some(backend);
    }
    if config.backend.is_none() && !args.demo {
        eprintln!(
            "mosaic-bot: console needs a backend: --backend URL --token T --workspace ID, a [backend] section, or --demo"
        );
        return ExitCode::from(2);
    }
    let mut options = if args.json {
        ConsoleOptions::json()
    } else {
        ConsoleOptions::plain()
    };
    options.bot_name = config.bot_name.clone();
    let run_options = RunOptions {
        http_listen: config.http_listen,
        exit_when_input_ends: true,
    };
    let demo = args.demo;
    let json = args.json;
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let _sim = if demo {
            match start_demo(&mut config, json).await {
                Ok(sim) => Some(sim),
                Err(e) => {
                    eprintln!("mosaic-bot: cannot start the demo backend: {e}");
                    return ExitCode::FAILURE;
                }
            }
        } else {
            None
        };
        let console: Arc<dyn ChatPlatform> = Arc::new(Console::stdio(options));
        run_daemon(config, vec![console], run_options).await
    })
}

/// The console's backend flags as the settings they stand for, read after
/// the environment so that they win over it and fill in what it leaves out
/// (a lone `MOSAIC__BACKEND__STALL_TIMEOUT_SECS` is a `[backend]` section
/// without a url). Without such a variable, and without both a token and a
/// workspace, the flags are left to the check below, which names the flag
/// to add.
fn backend_flags(args: &ConsoleArgs) -> Vec<(String, String)> {
    let Some(url) = &args.backend else {
        return Vec::new();
    };
    let mut flags = Vec::new();
    if let (Some(token), Some(workspace)) = (&args.token, &args.workspace) {
        flags.push(("MOSAIC__BACKEND__TOKEN".to_owned(), token.clone()));
        flags.push(("MOSAIC__BACKEND__WORKSPACE".to_owned(), workspace.clone()));
    }
    let env_has_backend = std::env::vars().any(|(key, _)| key.starts_with("MOSAIC__BACKEND__"));
    if env_has_backend || !flags.is_empty() {
        flags.push(("MOSAIC__BACKEND__URL".to_owned(), url.clone()));
    }
    flags
}

/// Starts the simulated backend and points the configuration at it: an
/// in-memory store, and `acme/web` as the console's default repository so
/// `@mosaic fix #42` works as typed.
async fn start_demo(config: &mut Config, json: bool) -> std::io::Result<mosaic_sim::Sim> {
    let sim = mosaic_sim::Sim::start(mosaic_sim::SimConfig::demo()).await?;
    config.backend = Some(Backend::single(
        &sim.base_url(),
        sim.workspace(),
        Secret::new(sim.token()),
    ));
    config.store_url = Secret::new("sqlite::memory:");
    if config.channel("console", "console").is_none() {
        let repo = RepoRef::parse("acme/web", &config.forges).ok();
        config
            .channels
            .push(Channel::with_default_repo("console", "console", repo));
    }
    if !json {
        eprintln!(
            "mosaic-bot demo: a simulated job backend runs in this process.\n\
             Type `@{name} fix #42`, then `@{name} status #42`, `@{name} verbose #42` or `@{name} help`.\n\
             Ctrl-D ends the input; the bot exits once the job has ended.",
            name = config.bot_name
        );
    }
    Ok(sim)
}

async fn run_daemon(
    config: Config,
    platforms: Vec<Arc<dyn ChatPlatform>>,
    options: RunOptions,
) -> ExitCode {
    let backends = match daemon::backend_clients(&config) {
        Ok(backends) => backends,
        Err(e) => {
            eprintln!("mosaic-bot: {e}");
            return ExitCode::FAILURE;
        }
    };
    let shutdown = CancellationToken::new();
    daemon::cancel_on_signals(shutdown.clone());
    match daemon::run(Arc::new(config), backends, platforms, options, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("mosaic-bot: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(config_path: Option<PathBuf>) -> Option<Config> {
    match Config::load(config_path.as_deref()) {
        Ok(config) => Some(config),
        Err(e) => {
            eprintln!("mosaic-bot: {e}");
            None
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| {
            eprintln!("mosaic-bot: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        })
}

/// Logs go to standard error, so the console's standard output stays clean;
/// `RUST_LOG` overrides the default level.
fn init_logging(default: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second subscriber cannot be installed; the first one stays, harmlessly.
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .try_init(),
    };
}
