//! Turns a `Script` into the exact sequence of events a job will emit after
//! `job.created`, with what each one does to the job (status, progress,
//! result). Pure: the timeline runner plays the plan, one event per tick.

use serde_json::{Value, json};

use crate::faults;
use crate::model::Issue;
use crate::script::{Outcome, Script};

/// One event of a job's future.
#[derive(Clone, Debug)]
pub(crate) struct Planned {
    pub(crate) kind: String,
    pub(crate) actor: Option<&'static str>,
    pub(crate) payload: Value,
    pub(crate) effect: Effect,
}

/// What an event does to its job when emitted.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Effect {
    None,
    Queued,
    Started,
    /// The job's overall `progressPercent`.
    Progress(u8),
    Completed {
        summary: String,
        pr_url: Option<String>,
    },
    Failed {
        error: String,
    },
}

/// Steps take the job's progress to 90 %; the gates take it on to 99 %;
/// `job.completed` makes it 100 %.
const STEPS_SHARE: usize = 90;

/// The events of `script` for `issue`, in order, after `job.created`.
/// `weird` adds the odd events of `Faults::weird_payloads`.
pub(crate) fn plan(script: &Script, issue: &Issue, weird: bool) -> Vec<Planned> {
    let mut out = vec![
        planned("job.queued", "system", json!({}), Effect::Queued),
        planned("job.started", "system", json!({}), Effect::Started),
    ];
    let total = script.steps.len();
    let overall = |done_steps: usize, step_percent: u8| {
        let hundredths = done_steps * 100 + usize::from(step_percent.min(100));
        Effect::Progress((hundredths * STEPS_SHARE / (total.max(1) * 100)) as u8)
    };
    let failure = match &script.outcome {
        Outcome::Failed { error } => Some(error.as_str()),
        Outcome::Completed { .. } => None,
    };
    for (i, step) in script.steps.iter().enumerate() {
        let name = step.name.as_str();
        let place = json!({"step": name, "index": i + 1, "total": total});
        out.push(planned(
            "step.started",
            "coder",
            place.clone(),
            overall(i, 0),
        ));
        if weird && i == 0 {
            out.extend(faults::weird_events(name));
        }
        for (percent, message) in &step.progress {
            let payload = json!({"step": name, "percent": percent, "message": message});
            out.push(planned(
                "step.progress",
                "coder",
                payload,
                overall(i, *percent),
            ));
        }
        for (stream, text) in &step.output {
            let payload = json!({"step": name, "stream": stream.as_str(), "text": text});
            out.push(planned("step.output", "coder", payload, Effect::None));
        }
        for (tool, input) in &step.tool_calls {
            let payload = json!({"tool": tool, "input": input});
            out.push(planned("ai.tool_called", "coder", payload, Effect::None));
        }
        let tokens = json!({"input": 1200 * (i + 1), "output": 350 * (i + 1)});
        out.push(planned("ai.tokens_used", "coder", tokens, Effect::None));
        if let (Some(error), true) = (failure, i + 1 == total) {
            let mut failed = place;
            failed["error"] = json!(error);
            out.push(planned("step.failed", "coder", failed, Effect::None));
            break;
        }
        out.push(planned("step.completed", "coder", place, overall(i + 1, 0)));
    }
    match &script.outcome {
        Outcome::Failed { error } => {
            let effect = Effect::Failed {
                error: error.clone(),
            };
            out.push(planned(
                "job.failed",
                "system",
                json!({"error": error}),
                effect,
            ));
        }
        Outcome::Completed { summary, pr_url } => {
            let gates = script.gates.len().max(1);
            for (i, gate) in script.gates.iter().enumerate() {
                let started =
                    json!({"gate": gate.name, "details": format!("Running {}", gate.name)});
                out.push(planned("gate.started", "gate", started, Effect::None));
                let verdict = if gate.passes {
                    "gate.passed"
                } else {
                    "gate.failed"
                };
                let details = json!({"gate": gate.name, "details": gate.details});
                let progress = Effect::Progress((STEPS_SHARE + 9 * (i + 1) / gates) as u8);
                out.push(planned(verdict, "gate", details, progress));
            }
            let artifact = match pr_url {
                Some(url) => json!({"kind": "pull_request", "name": "Pull request", "url": url}),
                None => json!({"kind": "patch", "name": "fix.patch"}),
            };
            out.push(planned(
                "ai.artifact_created",
                "coder",
                artifact,
                Effect::None,
            ));
            let payload = match pr_url {
                Some(url) => json!({"summary": summary, "prUrl": url}),
                None => json!({"summary": summary}),
            };
            let effect = Effect::Completed {
                summary: summary.clone(),
                pr_url: pr_url.clone(),
            };
            out.push(planned("job.completed", "system", payload, effect));
        }
    }
    for event in &mut out {
        fill_placeholders(event, issue);
    }
    out
}

fn planned(kind: &str, actor: &'static str, payload: Value, effect: Effect) -> Planned {
    Planned {
        kind: kind.to_owned(),
        actor: Some(actor),
        payload,
        effect,
    }
}

/// Replaces `{owner}`, `{repo}`, `{number}` and `{pr}` in every text of the
/// event and its effect.
fn fill_placeholders(event: &mut Planned, issue: &Issue) {
    let fill = |text: &str| {
        text.replace("{owner}", &issue.owner)
            .replace("{repo}", &issue.repo)
            .replace("{number}", &issue.number.to_string())
            // A plausible pull-request number: a little after the issue.
            .replace("{pr}", &(issue.number + 15).to_string())
    };
    fill_value(&mut event.payload, &fill);
    match &mut event.effect {
        Effect::Completed { summary, pr_url } => {
            *summary = fill(summary);
            if let Some(url) = pr_url {
                *url = fill(url);
            }
        }
        Effect::Failed { error } => *error = fill(error),
        _ => {}
    }
}

fn fill_value(value: &mut Value, fill: &impl Fn(&str) -> String) {
    match value {
        // Only texts that hold a placeholder are rewritten: the 100 KB output
        // of mode 5 is not copied for nothing.
        Value::String(text) if text.contains('{') => *text = fill(text),
        Value::Array(items) => items.iter_mut().for_each(|v| fill_value(v, fill)),
        Value::Object(map) => map.values_mut().for_each(|v| fill_value(v, fill)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issue() -> Issue {
        Issue::on_github("acme", "web", 42)
    }

    fn kinds(plan: &[Planned]) -> Vec<&str> {
        plan.iter().map(|p| p.kind.as_str()).collect()
    }

    #[test]
    fn tiny_script_is_the_whole_lifecycle_in_order() {
        let plan = plan(&Script::tiny(), &issue(), false);
        assert_eq!(
            kinds(&plan),
            [
                "job.queued",
                "job.started",
                "step.started",
                "step.progress",
                "step.output",
                "ai.tool_called",
                "ai.tokens_used",
                "step.completed",
                "ai.artifact_created",
                "job.completed",
            ]
        );
        assert_eq!(
            plan[2].payload,
            json!({"step": "Apply fix", "index": 1, "total": 1})
        );
        assert_eq!(
            plan[9].effect,
            Effect::Completed {
                summary: "Fixed issue #42".to_owned(),
                pr_url: Some("https://github.com/acme/web/pull/57".to_owned()),
            }
        );
    }

    #[test]
    fn bench_script_is_22_events_with_created() {
        let plan = plan(&Script::bench(), &issue(), false);
        // `job.created` is emitted at creation, not planned.
        assert_eq!(plan.len() + 1, 22);
        assert_eq!(plan.last().map(|p| p.kind.as_str()), Some("job.completed"));
        assert_eq!(plan[1].kind, "job.started");
        assert_eq!(
            plan[plan.len() - 1].payload["summary"],
            "bench-summary acme/web#42"
        );
    }

    #[test]
    fn failing_script_fails_its_last_step_without_gates() {
        let plan = plan(&Script::failing(), &issue(), false);
        let tail: Vec<&str> = kinds(&plan).into_iter().rev().take(2).collect();
        assert_eq!(tail, ["job.failed", "step.failed"]);
        let step_failed = &plan[plan.len() - 2].payload;
        assert_eq!(step_failed["step"], "Run tests");
        assert_eq!(step_failed["index"], 5);
        assert!(
            step_failed["error"]
                .as_str()
                .is_some_and(|e| e.contains("3 of 128"))
        );
        assert!(!kinds(&plan).iter().any(|k| k.starts_with("gate.")));
    }

    #[test]
    fn standard_progress_only_grows_and_stays_below_100() {
        let plan = plan(&Script::standard(), &issue(), false);
        let progress: Vec<u8> = plan
            .iter()
            .filter_map(|p| match p.effect {
                Effect::Progress(n) => Some(n),
                _ => None,
            })
            .collect();
        assert!(progress.windows(2).all(|w| w[0] <= w[1]), "{progress:?}");
        assert_eq!(progress.last(), Some(&99));
        let gates = plan.iter().filter(|p| p.kind == "gate.passed").count();
        assert_eq!(gates, 4);
    }

    #[test]
    fn weird_events_follow_the_first_step_start() {
        let plan = plan(&Script::tiny(), &issue(), true);
        assert_eq!(plan[2].kind, "step.started");
        assert_eq!(plan[3].kind, "ai.thinking");
        assert!(kinds(&plan).contains(&"runner.heartbeat"));
    }
}
