//! Tests of the renderer: what each event becomes at each verbosity.

use mosaic_chat::markup::{PlainDialect, render};
use mosaic_chat::{Block, Span};
use serde_json::json;

use super::*;

fn event(kind: &str, payload: serde_json::Value) -> JobEvent {
    JobEvent::from_json(&json!({"id": "e-1", "type": kind, "payload": payload}).to_string())
        .expect("event decodes")
}

fn ctx() -> OutcomeContext {
    OutcomeContext {
        bot_name: "mosaic".into(),
        duration: Some(Duration::from_millis(65_900)),
    }
}

fn plain(event: &JobEvent, verbosity: Verbosity) -> Option<String> {
    render_event(event, verbosity, &ctx()).map(|m| render(&m, &PlainDialect, 10_000).join("\n"))
}

/// Every event type of backend-api.md, and an unknown one, with a typical payload.
fn all_events() -> Vec<JobEvent> {
    vec![
        event("job.created", json!({})),
        event("job.queued", json!({})),
        event("job.started", json!({})),
        event(
            "step.started",
            json!({"step": "Run tests", "index": 3, "total": 6}),
        ),
        event(
            "step.progress",
            json!({"step": "Run tests", "percent": 40, "message": "Running"}),
        ),
        event(
            "step.output",
            json!({"step": "Run tests", "stream": "stdout", "text": "ok"}),
        ),
        event(
            "ai.tool_called",
            json!({"tool": "shell.run", "input": "npm test"}),
        ),
        event("ai.tokens_used", json!({"input": 1200, "output": 340})),
        event(
            "ai.artifact_created",
            json!({"kind": "patch", "name": "fix.diff", "url": "https://x/a"}),
        ),
        event(
            "step.completed",
            json!({"step": "Run tests", "index": 3, "total": 6}),
        ),
        event(
            "step.failed",
            json!({"step": "Run tests", "index": 3, "total": 6, "error": "3 failed"}),
        ),
        event("gate.started", json!({"gate": "lint", "details": ""})),
        event(
            "gate.passed",
            json!({"gate": "lint", "details": "0 problems"}),
        ),
        event(
            "gate.failed",
            json!({"gate": "test", "details": "3 failed"}),
        ),
        event(
            "job.completed",
            json!({"summary": "Fixed it", "prUrl": "https://github.com/a/b/pull/5"}),
        ),
        event("job.failed", json!({"error": "tests failed"})),
        event("job.cancelled", json!({"reason": "asked to"})),
        event("ai.thought", json!({"text": "hmm"})),
    ]
}

fn shown_types(verbosity: Verbosity) -> Vec<String> {
    all_events()
        .iter()
        .filter(|e| render_event(e, verbosity, &ctx()).is_some())
        .map(|e| e.type_name().to_owned())
        .collect()
}

#[test]
fn quiet_shows_only_the_start_and_the_outcome() {
    assert_eq!(
        shown_types(Verbosity::Quiet),
        [
            "job.started",
            "job.completed",
            "job.failed",
            "job.cancelled"
        ]
    );
}

#[test]
fn milestones_show_steps_gates_and_the_outcome() {
    assert_eq!(
        shown_types(Verbosity::Milestones),
        [
            "job.started",
            "step.started",
            "step.failed",
            "gate.passed",
            "gate.failed",
            "job.completed",
            "job.failed",
            "job.cancelled"
        ]
    );
}

#[test]
fn verbose_shows_every_event_unknown_ones_included() {
    assert_eq!(shown_types(Verbosity::Verbose).len(), all_events().len());
}

#[test]
fn each_event_reads_as_expected() {
    let cases = [
        ("job.created", "🆕 Job created"),
        ("job.queued", "⏳ Job queued, waiting for a runner"),
        ("job.started", "🚀 Job started"),
        ("step.started", "▶️ Step 3/6: Run tests"),
        ("step.progress", "⏩ Run tests 40% · Running"),
        ("step.output", "📄 Run tests (stdout)\nok"),
        ("ai.tool_called", "🛠️ `shell.run` npm test"),
        ("ai.tokens_used", "🧮 Tokens used: 1200 in, 340 out"),
        ("ai.artifact_created", "📦 patch: fix.diff (https://x/a)"),
        ("step.completed", "☑️ Step 3/6 done: Run tests"),
        ("step.failed", "⚠️ Step 3/6 failed: Run tests\n3 failed"),
        ("gate.started", "🚦 Gate `lint` started"),
        ("gate.passed", "✅ Gate `lint` passed: 0 problems"),
        ("gate.failed", "❌ Gate `test` failed: 3 failed"),
        (
            "job.completed",
            "✅ Done: Fixed it\nPull request: https://github.com/a/b/pull/5\nTook 1m 5s",
        ),
        (
            "job.failed",
            "❌ Failed: tests failed\n`@mosaic retry` to try again.",
        ),
        ("job.cancelled", "🛑 Cancelled: asked to"),
        ("ai.thought", "ℹ️ Event `ai.thought`"),
    ];
    let events = all_events();
    assert_eq!(events.len(), cases.len());
    for (event, (kind, expected)) in events.iter().zip(cases) {
        assert_eq!(event.type_name(), kind);
        assert_eq!(
            plain(event, Verbosity::Verbose).as_deref(),
            Some(expected),
            "{kind}"
        );
    }
}

#[test]
fn job_text_stays_in_untrusted_spans() {
    let e = event("job.failed", json!({"error": "@everyone <!channel>"}));
    let markup = render_event(&e, Verbosity::Quiet, &ctx()).expect("shown");
    let Block::Line(spans) = &markup.blocks[0] else {
        panic!("a line");
    };
    assert_eq!(spans[2], Span::text(": @everyone <!channel>"));
    // The hint names the bot in a code span, which no platform reads as a mention.
    let Block::Line(hint) = &markup.blocks[1] else {
        panic!("a line");
    };
    assert_eq!(hint[0], Span::code("@mosaic retry"));
}

#[test]
fn links_are_only_web_addresses() {
    let e = event(
        "job.completed",
        json!({"summary": "s", "prUrl": "javascript:alert(1)"}),
    );
    let text = plain(&e, Verbosity::Quiet).expect("shown");
    assert!(!text.contains("javascript"), "{text}");
    assert!(!is_web_url("https://x/<!channel>"));
    assert!(is_web_url("https://github.com/a/b/pull/5"));
}

#[test]
fn missing_fields_still_render() {
    let e = event("step.started", json!({}));
    assert_eq!(
        plain(&e, Verbosity::Milestones).as_deref(),
        Some("▶️ Step: (unnamed)")
    );
    let e = event("job.completed", json!({}));
    let ctx = OutcomeContext::default();
    let m = render_event(&e, Verbosity::Quiet, &ctx).expect("shown");
    assert_eq!(
        render(&m, &PlainDialect, 1000),
        ["✅ Done: the job completed"]
    );
}

#[test]
fn ansi_codes_are_stripped_from_output() {
    let (text, hidden) = clean_output("\u{1b}[31mred\u{1b}[0m and \u{1b}[1;32mgreen\u{1b}[0m\n");
    assert_eq!((text.as_str(), hidden), ("red and green", 0));
}

#[test]
fn long_output_is_cut_to_forty_lines_and_says_how_many_are_hidden() {
    let long: Vec<String> = (1..=100).map(|i| format!("line {i}")).collect();
    let (text, hidden) = clean_output(&long.join("\n"));
    assert_eq!(text.lines().count(), MAX_OUTPUT_LINES);
    assert_eq!(hidden, 60);
    assert!(text.ends_with("line 40"));
    let e = event(
        "step.output",
        json!({"step": "build", "text": long.join("\n")}),
    );
    let shown = plain(&e, Verbosity::Verbose).expect("shown");
    assert!(shown.ends_with("… 60 more lines not shown"), "{shown}");
    assert!(!shown.contains("line 41"));
}

#[test]
fn one_huge_line_is_shortened() {
    let (text, hidden) = clean_output(&"x".repeat(100_000));
    assert_eq!(hidden, 0);
    assert_eq!(text.chars().count(), MAX_OUTPUT_LINE_CHARS + 1);
    assert!(text.ends_with('…'));
}

#[test]
fn a_terminal_redraw_keeps_its_last_drawing() {
    assert_eq!(clean_output("10%\r50%\r100%").0, "100%");
}

#[test]
fn elapsed_time_is_in_whole_seconds() {
    assert_eq!(format_elapsed(Duration::from_millis(3_999)), "3s");
    assert_eq!(format_elapsed(Duration::from_secs(3_725)), "1h 2m 5s");
}
