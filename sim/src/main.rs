//! `mosaic-sim`: runs the simulator on a port beside a bot, for a person to
//! watch the bot relay jobs (or misbehave on purpose with `--fault`).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use clap::Parser;
use mosaic_sim::{Faults, Sim, SimConfig};

/// A simulator of the Mosaic Stack runner-jobs API (backend-api.md).
#[derive(Parser, Debug)]
#[command(name = "mosaic-sim", version)]
struct Args {
    /// Port on 127.0.0.1 to listen on.
    #[arg(long, default_value_t = 3001)]
    port: u16,
    /// API token accepted in `Authorization: Bearer …`.
    #[arg(long)]
    token: Option<String>,
    /// Accepted `X-Workspace-Id`; repeat for several (default: one fixed id).
    #[arg(long = "workspace", value_name = "ID")]
    workspaces: Vec<String>,
    /// A workspace with a token of its own, `ID=TOKEN`; repeatable.
    #[arg(long = "workspace-token", value_name = "ID=TOKEN")]
    workspace_tokens: Vec<String>,
    /// Milliseconds between two events of a job.
    #[arg(long, default_value_t = 700)]
    tick_ms: u64,
    /// Seconds of silence before a stream writes `: keep-alive`.
    #[arg(long, default_value_t = 15)]
    keepalive_secs: u64,
    /// The script every job plays: standard, failing, tiny, or bench (22
    /// events, each with a distinct text).
    #[arg(long, default_value = "standard")]
    script: String,
    /// Event timestamps with microseconds.
    #[arg(long)]
    precise_timestamps: bool,
    /// A failure mode for every job, NAME or NAME=K; repeatable. Names:
    /// drop-after=K, reset-on-drop, ignore-last-event-id, stall-after=K,
    /// stall-connections=N, unavailable-connects=N, weird-payloads,
    /// malformed-lines, error-event-after=K, live-only-no-ids.
    #[arg(long = "fault", value_name = "NAME[=K]")]
    faults: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let mut cfg = SimConfig {
        tick: Duration::from_millis(args.tick_ms),
        keepalive: Duration::from_secs(args.keepalive_secs),
        precise_timestamps: args.precise_timestamps,
        ..SimConfig::demo()
    };
    cfg.default_script = mosaic_sim::Script::named(&args.script).ok_or_else(|| {
        anyhow::anyhow!(
            "--script {}: write standard, failing, tiny or bench",
            args.script
        )
    })?;
    if let Some(token) = args.token {
        cfg.token = token;
    }
    if !args.workspaces.is_empty() {
        cfg.workspaces = args.workspaces;
    }
    for pair in &args.workspace_tokens {
        let (id, token) = pair
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--workspace-token {pair}: write ID=TOKEN"))?;
        cfg.workspace_tokens.push((id.to_owned(), token.to_owned()));
    }
    for spec in &args.faults {
        set_fault(&mut cfg.faults, spec).map_err(anyhow::Error::msg)?;
    }
    let sim = Sim::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)), cfg).await?;
    println!("{}", sim.base_url());
    tracing::info!(
        token = sim.token(),
        workspace = sim.workspace(),
        "ready; Ctrl-C stops"
    );
    stop_requested().await?;
    tracing::info!("stopping");
    sim.shutdown().await;
    Ok(())
}

/// Ctrl-C, or SIGTERM (how a supervisor or `docker stop` asks).
async fn stop_requested() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = signal(SignalKind::terminate())?;
        tokio::select! {
            result = tokio::signal::ctrl_c() => result,
            _ = term.recv() => Ok(()),
        }
    }
    #[cfg(not(unix))]
    tokio::signal::ctrl_c().await
}

/// Applies one `--fault NAME[=K]` (snake_case names are accepted too).
fn set_fault(faults: &mut Faults, spec: &str) -> Result<(), String> {
    let (name, value) = match spec.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (spec, None),
    };
    let count = || -> Result<usize, String> {
        let value = value.ok_or_else(|| format!("--fault {name} needs a number: {name}=K"))?;
        value
            .parse()
            .map_err(|_| format!("--fault {name}: `{value}` is not a number"))
    };
    let flag = || match value {
        None => Ok(true),
        Some(_) => Err(format!("--fault {name} takes no value")),
    };
    match name.replace('_', "-").as_str() {
        "drop-after" => faults.drop_after = Some(count()?),
        "reset-on-drop" => faults.reset_on_drop = flag()?,
        "ignore-last-event-id" => faults.ignore_last_event_id = flag()?,
        "stall-after" => {
            faults.stall_after = Some(count()?);
            // A stall with no stalling connection would do nothing.
            faults.stall_connections = faults.stall_connections.max(1);
        }
        "stall-connections" => faults.stall_connections = count()?,
        "unavailable-connects" => faults.unavailable_connects = count()?,
        "weird-payloads" => faults.weird_payloads = flag()?,
        "malformed-lines" => faults.malformed_lines = flag()?,
        "error-event-after" => faults.error_event_after = Some(count()?),
        "live-only-no-ids" => faults.live_only_no_ids = flag()?,
        other => return Err(format!("unknown --fault `{other}`")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_fault_specs() {
        let mut faults = Faults::default();
        for spec in [
            "drop-after=3",
            "reset_on_drop",
            "stall-after=2",
            "live-only-no-ids",
        ] {
            assert_eq!(set_fault(&mut faults, spec), Ok(()));
        }
        assert_eq!(faults.drop_after, Some(3));
        assert!(faults.reset_on_drop);
        assert_eq!((faults.stall_after, faults.stall_connections), (Some(2), 1));
        assert!(faults.live_only_no_ids);
    }

    #[test]
    fn rejects_bad_fault_specs() {
        let mut faults = Faults::default();
        assert!(set_fault(&mut faults, "drop-after").is_err());
        assert!(set_fault(&mut faults, "drop-after=x").is_err());
        assert!(set_fault(&mut faults, "weird-payloads=1").is_err());
        assert!(set_fault(&mut faults, "explode").is_err());
    }
}
