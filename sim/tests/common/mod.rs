//! Test helpers: a REST client bearing the simulator's credentials, and an
//! SSE reader over the raw response body that splits frames itself (so the
//! tests see exactly the bytes the simulator wrote).

#![allow(dead_code)] // each test binary uses a different part of this

use std::time::Duration;

use mosaic_sim::{Sim, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Long enough for a loaded 2-core machine, short enough to fail fast.
pub const WITHIN: Duration = Duration::from_secs(5);

/// A simulator with `SimConfig::fast()` adjusted by `tune`.
pub async fn start(tune: impl FnOnce(&mut SimConfig)) -> Sim {
    let mut cfg = SimConfig::fast();
    tune(&mut cfg);
    Sim::start(cfg).await.expect("simulator starts")
}

/// The body of `POST /runner-jobs` for `owner/repo#number`.
pub fn fix_body(owner: &str, repo: &str, number: u64) -> Value {
    json!({
        "type": "fix",
        "issue": {"owner": owner, "repo": repo, "number": number,
                  "url": format!("https://github.com/{owner}/{repo}/issues/{number}")},
        "origin": {"platform": "console", "channelId": "c1", "threadId": "t1",
                   "userId": "u1", "userName": "alice", "messageUrl": null}
    })
}

/// A client of one simulator, with chosen credentials.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    workspace: Option<String>,
}

impl Client {
    /// With the simulator's token and first workspace.
    pub fn new(sim: &Sim) -> Self {
        Self::with(sim, Some(sim.token()), Some(sim.workspace()))
    }

    /// With the given credentials (`None` leaves the header out).
    pub fn with(sim: &Sim, token: Option<&str>, workspace: Option<&str>) -> Self {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client builds");
        Self {
            http,
            base: sim.base_url(),
            token: token.map(str::to_owned),
            workspace: workspace.map(str::to_owned),
        }
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(workspace) = &self.workspace {
            request = request.header("X-Workspace-Id", workspace);
        }
        request
    }

    /// GET → (status, JSON body or Null).
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        answer(self.request(reqwest::Method::GET, path)).await
    }

    /// POST with a JSON body, or none.
    pub async fn post(&self, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.request(reqwest::Method::POST, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        answer(request).await
    }

    /// POST with a raw body.
    pub async fn post_raw(&self, path: &str, body: &'static str) -> (StatusCode, Value) {
        let request = self
            .request(reqwest::Method::POST, path)
            .header("content-type", "application/json")
            .body(body);
        answer(request).await
    }

    /// Creates a fix job; panics unless 201.
    pub async fn create(&self, owner: &str, repo: &str, number: u64) -> Value {
        let (status, job) = self
            .post("/runner-jobs", Some(fix_body(owner, repo, number)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{job}");
        job
    }

    /// Opens a job's event stream, with `Last-Event-ID` if given.
    pub async fn stream(&self, job_id: &str, last_event_id: Option<&str>) -> reqwest::Response {
        let mut request = self.request(
            reqwest::Method::GET,
            &format!("/runner-jobs/{job_id}/events/stream"),
        );
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        tokio::time::timeout(WITHIN, request.send())
            .await
            .expect("stream answers in time")
            .expect("stream request goes through")
    }

    /// Opens a stream and expects 200 `text/event-stream`.
    pub async fn sse(&self, job_id: &str, last_event_id: Option<&str>) -> SseReader {
        let response = self.stream(job_id, last_event_id).await;
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        assert_eq!(content_type, Some("text/event-stream"));
        SseReader::new(response)
    }
}

async fn answer(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = tokio::time::timeout(WITHIN, request.send())
        .await
        .expect("answer in time")
        .expect("request goes through");
    let status = response.status();
    let text = response.text().await.expect("body reads");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// One SSE block (the lines up to a blank line), as written.
#[derive(Clone, Debug)]
pub struct Frame {
    pub raw: String,
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl Frame {
    fn parse(raw: &str) -> Self {
        let mut frame = Frame {
            raw: raw.to_owned(),
            id: None,
            event: None,
            data: None,
            comment: None,
        };
        for line in raw.lines() {
            if let Some(rest) = line.strip_prefix(':') {
                frame.comment = Some(rest.trim().to_owned());
            } else if let Some((field, value)) = line.split_once(": ") {
                match field {
                    "id" => frame.id = Some(value.to_owned()),
                    "event" => frame.event = Some(value.to_owned()),
                    "data" => frame.data = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        frame
    }

    /// The `data:` as JSON, if it is.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(self.data.as_deref()?).ok()
    }

    /// A `JobEvent` frame: `data` is JSON with an `id` and `jobId`.
    pub fn job_event(&self) -> Option<Value> {
        self.json()
            .filter(|v| v.get("id").is_some() && v.get("jobId").is_some())
    }
}

/// How a read ended.
#[derive(Debug)]
pub enum Read {
    Frame(Frame),
    /// The body ended cleanly.
    End,
    /// The body was cut off (reset or aborted).
    Cut(String),
    /// Nothing came within the time given.
    Silent,
}

/// Reads SSE frames from a streaming response.
pub struct SseReader {
    response: reqwest::Response,
    buffer: String,
    /// Everything received so far, for assertions on raw bytes.
    pub raw: String,
}

impl SseReader {
    pub fn new(response: reqwest::Response) -> Self {
        Self {
            response,
            buffer: String::new(),
            raw: String::new(),
        }
    }

    /// The next frame, or how the stream ended, or `Silent` after `within`.
    pub async fn next(&mut self, within: Duration) -> Read {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Read::Frame(Frame::parse(&block[..end]));
            }
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return Read::Silent,
                Ok(Ok(Some(chunk))) => {
                    let text = String::from_utf8_lossy(&chunk);
                    self.raw.push_str(&text);
                    self.buffer.push_str(&text);
                }
                Ok(Ok(None)) => return Read::End,
                Ok(Err(error)) => return Read::Cut(format!("{error:?}")),
            }
        }
    }

    /// Frames until the stream ends (or is cut); panics if it stays silent
    /// for `WITHIN`.
    pub async fn until_end(&mut self) -> (Vec<Frame>, Read) {
        let mut frames = Vec::new();
        loop {
            match self.next(WITHIN).await {
                Read::Frame(frame) => frames.push(frame),
                Read::Silent => panic!("stream silent; so far: {frames:?}"),
                end => return (frames, end),
            }
        }
    }

    /// The next frame; panics on anything else.
    pub async fn frame(&mut self) -> Frame {
        match self.next(WITHIN).await {
            Read::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }
}

/// The `JobEvent`s among frames, in order.
pub fn job_events(frames: &[Frame]) -> Vec<Value> {
    frames.iter().filter_map(Frame::job_event).collect()
}

/// The ids of events.
pub fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}
