//! Prometheus metrics, served at `/metrics`: what a team watches to know the
//! bot is healthy. One [`Metrics`] per daemon, handed to the dispatcher, the
//! relays and the backend client; no global registry.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabels {
    platform: String,
    action: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformLabels {
    /// A platform's name is static: the per-event counters look their series up without
    /// allocating a label.
    platform: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PlatformErrorLabels {
    platform: String,
    kind: String,
}

/// How a command ended, for `mosaic_commands_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Carried out.
    Ok,
    /// Refused with a reply the user can act on (bad input, no job…).
    Refused,
    /// Failed on the bot's side or the backend's.
    Failed,
}

impl CommandOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Ok => "ok",
            CommandOutcome::Refused => "refused",
            CommandOutcome::Failed => "failed",
        }
    }
}

/// Every metric the bot exports.
pub struct Metrics {
    registry: Registry,
    commands: Family<CommandLabels, Counter>,
    jobs_followed: Gauge,
    events_relayed: Family<PlatformLabels, Counter>,
    stream_reconnects: Family<ReasonLabels, Counter>,
    platform_errors: Family<PlatformErrorLabels, Counter>,
    relay_lag: Family<PlatformLabels, Histogram>,
    leases_held: Gauge,
    lease_takeovers: Counter,
    lease_renew_failures: Counter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with every metric at zero.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::with_prefix("mosaic");
        let commands = Family::<CommandLabels, Counter>::default();
        registry.register(
            "commands",
            "Commands handled, by platform, action and outcome",
            commands.clone(),
        );
        let jobs_followed = Gauge::default();
        registry.register(
            "jobs_followed",
            "Jobs whose events are being relayed now",
            jobs_followed.clone(),
        );
        let events_relayed = Family::<PlatformLabels, Counter>::default();
        registry.register(
            "events_relayed",
            "Job events taken in by the relays, by platform",
            events_relayed.clone(),
        );
        let stream_reconnects = Family::<ReasonLabels, Counter>::default();
        registry.register(
            "stream_reconnects",
            "Event stream connections lost or refused, by reason",
            stream_reconnects.clone(),
        );
        let platform_errors = Family::<PlatformErrorLabels, Counter>::default();
        registry.register(
            "platform_errors",
            "Chat platform API errors, by platform and kind (rate_limited is a 429)",
            platform_errors.clone(),
        );
        // Seconds from an event's timestamp to the post that shows it: 5 ms
        // to about 80 s, doubling.
        let relay_lag = Family::<PlatformLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(prometheus_client::metrics::histogram::exponential_buckets(
                0.005, 2.0, 15,
            ))
        });
        registry.register(
            "relay_lag_seconds",
            "Time from a job event to the chat message that shows it",
            relay_lag.clone(),
        );
        let leases_held = Gauge::default();
        registry.register(
            "relay_leases_held",
            "Jobs whose relay lease this replica holds",
            leases_held.clone(),
        );
        let lease_takeovers = Counter::default();
        registry.register(
            "relay_lease_takeovers",
            "Relay leases this replica took over after another holder let them expire",
            lease_takeovers.clone(),
        );
        let lease_renew_failures = Counter::default();
        registry.register(
            "relay_lease_renew_failures",
            "Renewals of this replica's heartbeat and leases that failed or timed out",
            lease_renew_failures.clone(),
        );
        Arc::new(Metrics {
            registry,
            leases_held,
            lease_takeovers,
            lease_renew_failures,
            commands,
            jobs_followed,
            events_relayed,
            stream_reconnects,
            platform_errors,
            relay_lag,
        })
    }

    /// One command handled.
    pub fn command(&self, platform: &str, action: &str, outcome: CommandOutcome) {
        self.commands
            .get_or_create(&CommandLabels {
                platform: platform.to_owned(),
                action: action.to_owned(),
                outcome: outcome.as_str().to_owned(),
            })
            .inc();
    }

    /// How many relays run now.
    pub fn set_jobs_followed(&self, running: usize) {
        self.jobs_followed
            .set(i64::try_from(running).unwrap_or(i64::MAX));
    }

    /// How many relay leases this replica holds now.
    pub fn set_leases_held(&self, held: usize) {
        self.leases_held
            .set(i64::try_from(held).unwrap_or(i64::MAX));
    }

    /// Relay leases taken over from a holder that let them expire.
    pub fn lease_takeovers(&self, n: u64) {
        self.lease_takeovers.inc_by(n);
    }

    /// A renewal of the heartbeat and leases failed.
    pub fn lease_renew_failed(&self) {
        self.lease_renew_failures.inc();
    }

    /// One event taken in by a relay.
    pub fn event_relayed(&self, platform: &'static str) {
        self.events_relayed
            .get_or_create(&PlatformLabels { platform })
            .inc();
    }

    /// An event shown in a chat message `lag` after it happened.
    pub fn relay_lag(&self, platform: &'static str, lag: Duration) {
        self.relay_lag
            .get_or_create(&PlatformLabels { platform })
            .observe(lag.as_secs_f64());
    }

    /// An event stream connection lost or refused.
    pub fn stream_reconnect(&self, reason: &str) {
        self.stream_reconnects
            .get_or_create(&ReasonLabels {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// A chat platform API error.
    pub fn platform_error(&self, platform: &str, kind: &str) {
        self.platform_errors
            .get_or_create(&PlatformErrorLabels {
                platform: platform.to_owned(),
                kind: kind.to_owned(),
            })
            .inc();
    }

    /// The Prometheus text format of every metric.
    pub fn render(&self) -> String {
        let mut out = String::new();
        // Encoding into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_render_in_the_text_format_with_their_labels() {
        let m = Metrics::new();
        m.command("slack", "fix", CommandOutcome::Ok);
        m.command("slack", "fix", CommandOutcome::Ok);
        m.stream_reconnect("stalled");
        m.set_jobs_followed(3);
        m.set_leases_held(2);
        m.lease_takeovers(2);
        m.lease_renew_failed();
        m.relay_lag("slack", Duration::from_millis(20));
        let text = m.render();
        assert!(
            text.contains(r#"mosaic_commands_total{platform="slack",action="fix",outcome="ok"} 2"#),
            "{text}"
        );
        assert!(
            text.contains(r#"mosaic_stream_reconnects_total{reason="stalled"} 1"#),
            "{text}"
        );
        assert!(text.contains("mosaic_jobs_followed 3"), "{text}");
        assert!(text.contains("mosaic_relay_leases_held 2"), "{text}");
        assert!(
            text.contains("mosaic_relay_lease_takeovers_total 2"),
            "{text}"
        );
        assert!(
            text.contains("mosaic_relay_lease_renew_failures_total 1"),
            "{text}"
        );
        assert!(
            text.contains(r#"mosaic_relay_lag_seconds_count{platform="slack"} 1"#),
            "{text}"
        );
    }
}
