//! The fake Slack's message `metadata` and thread reads held to Slack's documented
//! behaviour, over raw HTTP: what the adapter's own-posts tests rely on (metadata checked,
//! kept by an update, shown only when asked for; `oldest`/`latest`/`inclusive`, pages and
//! cursors, and the refusals of `conversations.replies`).

mod fake;

use fake::{BOB, CHANNEL, FakeSlack};
use serde_json::{Value, json};

/// Calls the fake's Web API `method` with the bot token: JSON `body` for a write, the
/// query `params` for a read.
async fn call(
    fake: &FakeSlack,
    method: &str,
    body: Option<Value>,
    params: &[(&str, &str)],
) -> Value {
    let client = reqwest::Client::new();
    let url = format!("{}/{method}", fake.api_url());
    let request = match body {
        Some(body) => client.post(url).json(&body),
        None => client.get(url).query(params),
    };
    let response = request
        .bearer_auth(fake::BOT_TOKEN)
        .send()
        .await
        .expect("the fake answers");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn the_fake_checks_keeps_and_shows_metadata_as_slack_does() {
    let fake = FakeSlack::start().await;
    let root = fake.mention(None, "<@UBOT0001> fix #1");
    let post = |metadata: Value| json!({"channel": CHANNEL, "thread_ts": root, "text": "t", "metadata": metadata});
    for (metadata, code) in [
        (json!("{not json"), "invalid_metadata_format"),
        (json!([1, 2]), "invalid_metadata_format"),
        (json!({"event_type": "job_done"}), "invalid_metadata_schema"),
        (json!({"event_payload": {}}), "invalid_metadata_schema"),
    ] {
        let answer = call(&fake, "chat.postMessage", Some(post(metadata.clone())), &[]).await;
        assert_eq!(answer, json!({"ok": false, "error": code}), "{metadata}");
    }
    // An event type with a period: posted, the metadata ignored, with a warning.
    let dotted = json!({"event_type": "job.done", "event_payload": {"id": 1}});
    let answer = call(&fake, "chat.postMessage", Some(post(dotted)), &[]).await;
    assert_eq!(
        (&answer["ok"], &answer["warning"]),
        (&json!(true), &json!("invalid_metadata_schema"))
    );
    let ignored = answer["ts"].as_str().expect("a ts").to_owned();
    assert_eq!(fake.metadata_of(&ignored), None);
    // A JSON string (the form-encoded way) is read as the object it holds.
    let kept = json!({"event_type": "job_done", "event_payload": {"id": 1}});
    let answer = call(
        &fake,
        "chat.postMessage",
        Some(post(json!(kept.to_string()))),
        &[],
    )
    .await;
    let ts = answer["ts"].as_str().expect("a ts").to_owned();
    assert_eq!(fake.metadata_of(&ts), Some(kept.clone()));

    // `chat.update` keeps the metadata unless given; an empty object removes it.
    let update = json!({"channel": CHANNEL, "ts": ts, "text": "t2"});
    assert_eq!(
        call(&fake, "chat.update", Some(update.clone()), &[]).await["ok"],
        json!(true)
    );
    assert_eq!(fake.metadata_of(&ts), Some(kept.clone()));

    // Read back only when asked for.
    let read = |all: bool| {
        let mut params = vec![("channel", CHANNEL), ("ts", root.as_str())];
        if all {
            params.push(("include_all_metadata", "true"));
        }
        params
    };
    let without = call(&fake, "conversations.replies", None, &read(false)).await;
    assert!(
        without["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .all(|m| m.get("metadata").is_none()),
        "{without}"
    );
    let with = call(&fake, "conversations.replies", None, &read(true)).await;
    assert_eq!(with["messages"][2]["metadata"], kept);

    let mut remove = update;
    remove["metadata"] = json!({});
    assert_eq!(
        call(&fake, "chat.update", Some(remove), &[]).await["ok"],
        json!(true)
    );
    assert_eq!(fake.metadata_of(&ts), None);
    // Two posts and two updates: the refused posts left nothing.
    assert_eq!(fake.sent().len(), 4, "{:#?}", fake.sent());
}

#[tokio::test]
async fn the_fake_reads_a_thread_by_time_and_by_page_as_slack_does() {
    let fake = FakeSlack::start().await;
    let root = fake.mention(None, "<@UBOT0001> fix #1");
    let replies: Vec<String> = (1..=4)
        .map(|n| fake.write_in_thread(BOB, None, &root, &format!("reply {n}"), None))
        .collect();
    let texts = |answer: &Value| -> Vec<String> {
        let messages = answer["messages"].as_array().cloned().unwrap_or_default();
        messages
            .iter()
            .map(|m| m["text"].as_str().unwrap_or("").to_owned())
            .collect()
    };
    let read = |extra: Vec<(&'static str, String)>| {
        let mut params = vec![("channel", CHANNEL.to_owned()), ("ts", root.clone())];
        params.extend(extra);
        params
    };
    let ask = |params: Vec<(&'static str, String)>| {
        let fake = &fake;
        async move {
            let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
            call(fake, "conversations.replies", None, &params).await
        }
    };
    let root_text = "<@UBOT0001> fix #1".to_owned();
    let window = vec![
        ("oldest", replies[0].clone()),
        ("latest", replies[2].clone()),
    ];
    assert_eq!(
        texts(&ask(read(window.clone())).await),
        [root_text.clone(), "reply 2".into()]
    );
    let mut inclusive = window;
    inclusive.push(("inclusive", "true".into()));
    assert_eq!(
        texts(&ask(read(inclusive)).await),
        [
            root_text.clone(),
            "reply 1".into(),
            "reply 2".into(),
            "reply 3".into()
        ]
    );

    let first = ask(read(vec![("limit", "2".into())])).await;
    assert_eq!(
        (texts(&first), &first["has_more"]),
        (vec![root_text, "reply 1".into()], &json!(true))
    );
    let cursor = first["response_metadata"]["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let second = ask(read(vec![("limit", "2".into()), ("cursor", cursor)])).await;
    assert_eq!(
        texts(&second),
        ["reply 2", "reply 3"],
        "no parent on a later page"
    );
    let cursor = second["response_metadata"]["next_cursor"]
        .as_str()
        .expect("a cursor")
        .to_owned();
    let last = ask(read(vec![("limit", "2".into()), ("cursor", cursor)])).await;
    assert_eq!(
        (texts(&last), &last["has_more"]),
        (vec!["reply 4".to_owned()], &json!(false))
    );
    assert!(last.get("response_metadata").is_none());

    for (name, value, code) in [
        ("cursor", "bogus", "invalid_cursor"),
        ("oldest", "yesterday", "invalid_ts_oldest"),
        ("latest", "1.2.3", "invalid_ts_latest"),
        ("ts", "1700000000.000009", "thread_not_found"),
    ] {
        let mut params = read(Vec::new());
        params.retain(|(k, _)| *k != name);
        params.push((name, value.to_owned()));
        assert_eq!(
            ask(params).await,
            json!({"ok": false, "error": code}),
            "{name}"
        );
    }
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}
