//! Tests of the progress card: its state through a job's life, and how it reads.

use std::time::{Duration, SystemTime};

use mosaic_chat::markup::{PlainDialect, render};
use mosaic_chat::{Block, Span};
use serde_json::json;

use super::*;
use crate::command::IssueKind;

fn t(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs)
}

fn stamp(secs: u64) -> String {
    humantime::format_rfc3339_millis(t(secs)).to_string()
}

fn event(kind: &str, at: u64, payload: serde_json::Value) -> JobEvent {
    let json = json!({"id": "e", "type": kind, "timestamp": stamp(at), "payload": payload});
    JobEvent::from_json(&json.to_string()).expect("event decodes")
}

fn card() -> ProgressCard {
    ProgressCard::new(&IssueRef::new(
        "github.com",
        "acme",
        "web",
        42,
        IssueKind::Issue,
    ))
}

fn plain(card: &ProgressCard, now: u64) -> String {
    render(&card.render(t(now)), &PlainDialect, 2000).join("\n")
}

#[test]
fn a_new_card_is_queued_and_links_the_issue() {
    let card = card();
    assert_eq!(card.state(), CardState::Queued);
    let markup = card.render(t(0));
    assert_eq!(
        markup.blocks,
        [Block::Line(vec![
            Span::text("⏳ "),
            Span::bold("Queued"),
            Span::text(" · "),
            Span::link("acme/web#42", "https://github.com/acme/web/issues/42"),
        ])]
    );
}

#[test]
fn a_running_card_shows_step_percent_and_elapsed_time() {
    let mut card = card();
    assert!(card.apply(&event("job.started", 0, json!({}))));
    assert!(card.apply(&event(
        "step.started",
        5,
        json!({"step": "Run tests", "index": 3, "total": 6})
    )));
    assert!(card.apply(&event(
        "step.progress",
        6,
        json!({"step": "Run tests", "percent": 50})
    )));
    assert_eq!(card.state(), CardState::Running);
    assert_eq!(
        plain(&card, 65),
        "🔧 Running · acme/web#42 (https://github.com/acme/web/issues/42)\n\
         Step 3/6: Run tests · ▰▰▰▰▱▱▱▱▱▱ 41% · 1m 5s elapsed"
    );
}

#[test]
fn an_event_that_shows_nothing_new_is_no_change_and_a_renamed_step_is_one() {
    let mut card = card();
    let started = |name: &str| {
        event(
            "step.started",
            5,
            json!({"step": name, "index": 2, "total": 6}),
        )
    };
    assert!(card.apply(&started("Build")));
    let before = card.clone();
    assert!(!card.apply(&started("Build")), "the same step again");
    assert_eq!(card, before);
    assert!(card.apply(&started("Build again")), "same place, new name");
    assert!(plain(&card, 6).contains("Step 2/6: Build again"));
    let pr = json!({"summary": "done", "prUrl": "https://github.com/acme/web/pull/7"});
    assert!(card.apply(&event("job.completed", 9, pr)));
    assert!(plain(&card, 9).contains("https://github.com/acme/web/pull/7"));
}

#[test]
fn output_never_reaches_the_card() {
    let mut card = card();
    card.apply(&event("job.started", 0, json!({})));
    let before = card.clone();
    assert!(!card.apply(&event(
        "step.output",
        1,
        json!({"step": "build", "text": "secret output"})
    )));
    assert_eq!(card, before);
    assert!(!plain(&card, 1).contains("secret output"));
}

#[test]
fn a_completed_card_shows_the_pull_request_and_the_final_duration() {
    let mut card = card();
    card.apply(&event("job.started", 0, json!({})));
    card.apply(&event(
        "job.completed",
        90,
        json!({"summary": "s", "prUrl": "https://github.com/acme/web/pull/57"}),
    ));
    assert_eq!(card.state(), CardState::Completed);
    // Long after the end, the card still says how long the job took.
    assert_eq!(
        plain(&card, 10_000),
        "✅ Completed · acme/web#42 (https://github.com/acme/web/issues/42)\n\
         ▰▰▰▰▰▰▰▰▰▰ 100% · 1m 30s elapsed\n\
         Pull request: https://github.com/acme/web/pull/57"
    );
}

#[test]
fn failed_cancelled_and_deleted_cards_say_so() {
    let mut failed = card();
    failed.apply(&event("job.failed", 3, json!({"error": "boom"})));
    assert!(plain(&failed, 3).starts_with("❌ Failed · acme/web#42"));
    assert!(
        !plain(&failed, 3).contains("boom"),
        "errors go to the outcome message"
    );

    let mut cancelled = card();
    cancelled.apply(&event("job.cancelled", 3, json!({})));
    assert!(plain(&cancelled, 3).starts_with("🛑 Cancelled · "));

    let mut deleted = card();
    deleted.finish(CardState::Deleted, Some(t(3)));
    assert!(plain(&deleted, 3).starts_with("🗑️ Deleted on the backend · "));
}

#[test]
fn a_final_card_ignores_later_events() {
    let mut card = card();
    card.apply(&event("job.completed", 3, json!({})));
    assert!(!card.apply(&event("job.started", 4, json!({}))));
    assert_eq!(card.state(), CardState::Completed);
}

#[test]
fn the_fetched_job_fills_in_status_times_and_links() {
    let job: RunnerJob = serde_json::from_value(json!({
        "id": "j", "status": "running", "progressPercent": 40,
        "issue": {"owner": "acme", "repo": "web", "number": 42,
                  "url": "https://git.example/acme/web/issues/42"},
        "createdAt": stamp(0), "startedAt": stamp(2)
    }))
    .expect("job decodes");
    let mut card = card();
    card.apply_job(&job);
    assert_eq!(card.state(), CardState::Running);
    assert_eq!(card.started_at(), Some(t(2)));
    assert_eq!(
        plain(&card, 12),
        "🔧 Running · acme/web#42 (https://git.example/acme/web/issues/42)\n▰▰▰▰▱▱▱▱▱▱ 40% · 10s elapsed"
    );
}
