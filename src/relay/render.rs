//! What a thread shows for each job event: a pure renderer from (event, verbosity) to the
//! [`Markup`] of a thread message, or nothing.
//!
//! Every piece of user or job text goes into `Span::Text`, `Span::Code` or a code block: it is
//! untrusted, and the platform's dialect escapes it, so that `@everyone` in a step's output is
//! shown and pings nobody. Nothing here builds mention-looking text of its own.

use std::time::Duration;

use mosaic_chat::{Markup, Span};

use crate::backend::{EventKind, JobEvent, Step, StepOutput};
use crate::store::Verbosity;

/// The most lines of one `step.output` shown; the rest is counted, not shown.
pub const MAX_OUTPUT_LINES: usize = 40;

/// The most characters of one output line shown: a 100 KB line without a break must not turn
/// into dozens of messages.
pub const MAX_OUTPUT_LINE_CHARS: usize = 300;

/// What an outcome message needs besides its event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OutcomeContext {
    /// The bot's name, for the `@{bot} retry` hint.
    pub bot_name: String,
    /// How long the job ran, when known.
    pub duration: Option<Duration>,
}

/// Whether `event` is shown in a thread at `verbosity`.
pub fn is_shown(event: &EventKind, verbosity: Verbosity) -> bool {
    let milestone = matches!(
        event,
        EventKind::StepStarted(_)
            | EventKind::StepFailed(_)
            | EventKind::GatePassed(_)
            | EventKind::GateFailed(_)
    );
    let always = matches!(
        event,
        EventKind::JobStarted
            | EventKind::JobCompleted(_)
            | EventKind::JobFailed(_)
            | EventKind::JobCancelled(_)
    );
    match verbosity {
        Verbosity::Quiet => always,
        Verbosity::Milestones => always || milestone,
        Verbosity::Verbose => true,
    }
}

/// The thread message for `event` at `verbosity`; `None` when the thread does not show it.
pub fn render_event(
    event: &JobEvent,
    verbosity: Verbosity,
    outcome: &OutcomeContext,
) -> Option<Markup> {
    if !is_shown(&event.kind, verbosity) {
        return None;
    }
    let markup = match &event.kind {
        EventKind::JobCreated => line("🆕 ", "Job created"),
        EventKind::JobQueued => line("⏳ ", "Job queued, waiting for a runner"),
        EventKind::JobStarted => line("🚀 ", "Job started"),
        EventKind::JobCompleted(done) => {
            completed(done.summary.as_deref(), done.pr_url.as_deref(), outcome)
        }
        EventKind::JobFailed(failed) => self::failed(failed.error.as_deref(), outcome),
        EventKind::JobCancelled(cancelled) => self::cancelled(cancelled.reason.as_deref()),
        EventKind::StepStarted(step) => step_line("▶️ ", step, ""),
        EventKind::StepCompleted(step) => step_line("☑️ ", step, " done"),
        EventKind::StepFailed(step) => {
            let markup = step_line("⚠️ ", step, " failed");
            match &step.error {
                Some(error) => markup.line([Span::text(error.clone())]),
                None => markup,
            }
        }
        EventKind::StepProgress(progress) => {
            let mut spans = vec![Span::text("⏩ ")];
            spans.push(Span::text(progress.step.clone().unwrap_or_default()));
            if let Some(percent) = progress.percent {
                spans.push(Span::text(format!(" {percent}%")));
            }
            if let Some(message) = &progress.message {
                spans.push(Span::text(format!(" · {message}")));
            }
            Markup::new().line(spans)
        }
        EventKind::StepOutput(output) => step_output(output),
        EventKind::AiToolCalled(call) => {
            let mut spans = vec![Span::text("🛠️ "), Span::code(or_unknown(&call.tool))];
            if let Some(input) = &call.input {
                spans.push(Span::text(format!(" {input}")));
            }
            Markup::new().line(spans)
        }
        EventKind::AiTokensUsed(tokens) => {
            let count = |n: Option<u64>| n.map_or_else(|| "?".to_owned(), |n| n.to_string());
            line(
                "🧮 ",
                &format!(
                    "Tokens used: {} in, {} out",
                    count(tokens.input),
                    count(tokens.output)
                ),
            )
        }
        EventKind::AiArtifactCreated(artifact) => {
            let name = or_unknown(&artifact.name);
            let mut spans = vec![Span::text("📦 ")];
            if let Some(kind) = &artifact.kind {
                spans.push(Span::text(format!("{kind}: ")));
            }
            spans.push(match &artifact.url {
                Some(url) if is_web_url(url) => Span::link(name, url.clone()),
                _ => Span::text(name),
            });
            Markup::new().line(spans)
        }
        EventKind::GateStarted(gate) => gate_line("🚦 Gate ", gate, " started"),
        EventKind::GatePassed(gate) => gate_line("✅ Gate ", gate, " passed"),
        EventKind::GateFailed(gate) => gate_line("❌ Gate ", gate, " failed"),
        EventKind::Unknown { kind, .. } => {
            Markup::new().line([Span::text("ℹ️ Event "), Span::code(or_unknown_str(kind))])
        }
    };
    Some(markup)
}

/// The outcome of a completed job: summary, pull request, duration.
pub fn completed(summary: Option<&str>, pr_url: Option<&str>, ctx: &OutcomeContext) -> Markup {
    let mut markup = Markup::new().line([
        Span::text("✅ "),
        Span::bold("Done"),
        Span::text(format!(": {}", summary.unwrap_or("the job completed"))),
    ]);
    if let Some(url) = pr_url.filter(|url| is_web_url(url)) {
        markup = markup.line([Span::text("Pull request: "), Span::link(url, url)]);
    }
    if let Some(duration) = ctx.duration {
        markup = markup.line([Span::text(format!("Took {}", format_elapsed(duration)))]);
    }
    markup
}

/// The outcome of a failed job: the error and what to type next.
pub fn failed(error: Option<&str>, ctx: &OutcomeContext) -> Markup {
    Markup::new()
        .line([
            Span::text("❌ "),
            Span::bold("Failed"),
            Span::text(format!(": {}", error.unwrap_or("the job failed"))),
        ])
        // In a code span, so the bot's name is never read as a mention by any platform.
        .line([
            Span::code(format!("@{} retry", ctx.bot_name)),
            Span::text(" to try again."),
        ])
}

/// The outcome of a cancelled job, with the reason when given.
pub fn cancelled(reason: Option<&str>) -> Markup {
    let mut spans = vec![Span::text("🛑 "), Span::bold("Cancelled")];
    if let Some(reason) = reason {
        spans.push(Span::text(format!(": {reason}")));
    }
    Markup::new().line(spans)
}

/// `3m 12s`: a duration in whole seconds, as humans read it.
pub fn format_elapsed(duration: Duration) -> String {
    humantime::format_duration(Duration::from_secs(duration.as_secs())).to_string()
}

/// Step output without ANSI codes, cut to [`MAX_OUTPUT_LINES`] lines of at most
/// [`MAX_OUTPUT_LINE_CHARS`] characters; returns the text and how many lines were left out.
pub fn clean_output(text: &str) -> (String, usize) {
    let text = text.trim_end_matches(['\n', '\r']);
    let lines: Vec<&str> = text.split('\n').collect();
    let hidden = lines.len().saturating_sub(MAX_OUTPUT_LINES);
    let kept: Vec<String> = lines
        .iter()
        .take(MAX_OUTPUT_LINES)
        .map(|line| {
            // A carriage return redraws a terminal line (progress bars): keep the last drawing.
            // Done before stripping, which would drop the `\r` and glue the drawings together.
            let drawn = line
                .trim_end_matches('\r')
                .rsplit('\r')
                .next()
                .unwrap_or("");
            let line = strip_ansi_escapes::strip_str(drawn);
            if line.chars().count() > MAX_OUTPUT_LINE_CHARS {
                let cut: String = line.chars().take(MAX_OUTPUT_LINE_CHARS).collect();
                format!("{cut}…")
            } else {
                line.to_owned()
            }
        })
        .collect();
    (kept.join("\n"), hidden)
}

fn step_output(output: &StepOutput) -> Markup {
    let stream = output.stream.as_deref().unwrap_or("output");
    let head = Markup::new().line([
        Span::text("📄 "),
        Span::text(or_unknown(&output.step)),
        Span::text(format!(" ({stream})")),
    ]);
    let (text, hidden) = clean_output(output.text.as_deref().unwrap_or(""));
    let mut markup = if text.trim().is_empty() {
        head
    } else {
        head.code_block(text)
    };
    if hidden > 0 {
        let s = if hidden == 1 { "" } else { "s" };
        markup = markup.line([Span::text(format!("… {hidden} more line{s} not shown"))]);
    }
    markup
}

fn step_line(icon: &str, step: &Step, verb: &str) -> Markup {
    let mut spans = vec![
        Span::text(icon),
        Span::bold(format!("Step{}", position(step))),
    ];
    spans.push(Span::text(format!("{verb}: {}", or_unknown(&step.step))));
    Markup::new().line(spans)
}

fn gate_line(prefix: &str, gate: &crate::backend::Gate, verb: &str) -> Markup {
    let mut spans = vec![
        Span::text(prefix),
        Span::code(or_unknown(&gate.gate)),
        Span::text(verb),
    ];
    if let Some(details) = gate.details.as_deref().filter(|d| !d.is_empty()) {
        spans.push(Span::text(format!(": {details}")));
    }
    Markup::new().line(spans)
}

/// ` 3/6`, ` 3`, or nothing.
fn position(step: &Step) -> String {
    match (step.index, step.total) {
        (Some(index), Some(total)) => format!(" {index}/{total}"),
        (Some(index), None) => format!(" {index}"),
        _ => String::new(),
    }
}

fn line(icon: &str, text: &str) -> Markup {
    Markup::new().line([Span::text(icon), Span::text(text)])
}

fn or_unknown(text: &Option<String>) -> String {
    or_unknown_str(text.as_deref().unwrap_or(""))
}

fn or_unknown_str(text: &str) -> String {
    if text.is_empty() {
        "(unnamed)".to_owned()
    } else {
        text.to_owned()
    }
}

/// Only http(s) addresses become links: a `javascript:` or `<!channel>` "URL" from a job is
/// shown as text, escaped by the dialect.
pub fn is_web_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && !url
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '<' | '>' | '|'))
}

#[cfg(test)]
#[path = "render_tests.rs"]
mod tests;
