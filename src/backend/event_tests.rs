//! Tests of event decoding: typed payloads, tolerance, the text and value paths.

use super::*;

fn event(json: &str) -> JobEvent {
    JobEvent::from_json(json).expect("event decodes")
}

#[test]
fn contract_example_decodes_to_a_typed_step() {
    let e = event(
        r#"{"id": "e-0007", "jobId": "7d6f", "type": "step.started",
            "timestamp": "2026-11-20T10:00:05.120Z", "actor": "coder",
            "payload": {"step": "Run tests", "index": 3, "total": 6}}"#,
    );
    assert_eq!(e.id, EventId::new("e-0007"));
    assert_eq!(e.job_id, JobId::new("7d6f"));
    assert_eq!(e.actor.as_deref(), Some("coder"));
    assert!(e.timestamp.is_some());
    let EventKind::StepStarted(step) = &e.kind else {
        panic!("expected step.started, got {:?}", e.kind);
    };
    assert_eq!(step.step.as_deref(), Some("Run tests"));
    assert_eq!((step.index, step.total), (Some(3), Some(6)));
    assert_eq!(e.type_name(), "step.started");
}

#[test]
fn unknown_type_is_kept_with_its_payload() {
    let e = event(r#"{"id": "e-1", "type": "ai.thought", "payload": {"text": "hmm"}}"#);
    assert_eq!(
        e.kind,
        EventKind::Unknown {
            kind: "ai.thought".into(),
            payload: serde_json::json!({"text": "hmm"}),
        }
    );
    assert_eq!(e.type_name(), "ai.thought");
}

#[test]
fn missing_payload_and_optional_fields_are_tolerated() {
    let e = event(r#"{"id": "e-2", "type": "job.completed"}"#);
    assert_eq!(e.kind, EventKind::JobCompleted(JobCompleted::default()));
    assert_eq!((e.timestamp, e.actor), (None, None));
    assert_eq!(e.job_id, JobId::new(""));
    let e = event(r#"{"id": "e-3", "type": "job.cancelled", "payload": null}"#);
    assert_eq!(
        e.kind,
        EventKind::JobCancelled(JobCancelled { reason: None })
    );
}

#[test]
fn extra_fields_are_ignored_and_numeric_ids_accepted() {
    let e = event(
        r#"{"id": 17, "type": "ai.tokens_used", "traceId": "x",
            "payload": {"input": 1200, "output": "340", "model": "big"}}"#,
    );
    assert_eq!(e.id, EventId::new("17"));
    assert_eq!(
        e.kind,
        EventKind::AiTokensUsed(TokensUsed {
            input: Some(1200),
            output: Some(340),
        })
    );
}

#[test]
fn a_payload_of_the_wrong_shape_becomes_unknown() {
    let e = event(r#"{"id": "e-4", "type": "step.output", "payload": "just text"}"#);
    assert_eq!(
        e.kind,
        EventKind::Unknown {
            kind: "step.output".into(),
            payload: Value::String("just text".into()),
        }
    );
}

#[test]
fn long_output_with_ansi_is_kept_intact() {
    let text = format!("\u{1b}[31m{}\u{1b}[0m @everyone", "x".repeat(100_000));
    let json = serde_json::json!({
        "id": "e-5", "type": "step.output",
        "payload": {"step": "build", "stream": "stderr", "text": text}
    });
    let e = event(&json.to_string());
    let EventKind::StepOutput(out) = e.kind else {
        panic!("expected step.output");
    };
    assert_eq!(out.text.as_deref(), Some(text.as_str()));
    assert_eq!(out.stream.as_deref(), Some("stderr"));
}

#[test]
fn an_event_without_id_is_rejected() {
    assert!(JobEvent::from_json(r#"{"type": "job.created"}"#).is_err());
    assert!(JobEvent::from_json(r#"{"id": "", "type": "job.created"}"#).is_err());
    assert!(JobEvent::from_json("not json").is_err());
}

#[test]
fn the_text_path_decodes_as_deserialize_does() {
    // `from_json` reads the payload from its text; `Deserialize` (any serde input) from
    // a JSON value. Both must give the same event, whatever the payload is.
    let inputs = [
        r#"{"id":"e-1","type":"step.started","payload":{"step":"Build","index":2,"total":5}}"#,
        r#"{"id":"e-2","type":"step.progress","payload":{"step":"T","percent":"40","message":7}}"#,
        r#"{"id":"e-3","type":"job.completed","payload":null,"actor":"coder"}"#,
        r#"{"id":"e-4","type":"job.failed"}"#,
        r#"{"id":"e-5","type":"step.output","payload":"not an object"}"#,
        r#"{"id":"e-6","type":"made.up","payload":{"x":[1,{"y":null}]}}"#,
        r#"{"id":"e-7","type":"made.up"}"#,
        r#"{"id":8,"jobId":"j","type":"gate.failed","timestamp":"2026-11-20T10:00:05.120Z","payload":{"gate":"lint","details":{"n":3}}}"#,
        r#"{"id":"e-9","type":"ai.tokens_used","payload":{"input":"many","output":12.7}}"#,
    ];
    for input in inputs {
        let by_value: JobEvent =
            serde_json::from_value(serde_json::from_str::<Value>(input).unwrap()).unwrap();
        assert_eq!(event(input), by_value, "{input}");
    }
    assert!(matches!(
        event(inputs[4]).kind,
        EventKind::Unknown { ref payload, .. } if payload == "not an object"
    ));
}

#[test]
fn an_event_list_skips_bad_elements() {
    let list = decode_event_list(
        br#"[{"id": "e-1", "type": "job.created"}, {"type": "broken"}, 42,
             {"id": "e-2", "type": "job.queued"}]"#,
    )
    .unwrap();
    let ids: Vec<_> = list.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(ids, ["e-1", "e-2"]);
}
