//! A tiny HTTP/1.1 server answering from a script, for what the simulator does not do on
//! purpose (429 with `Retry-After`, a 500 with a body, an answer that never comes). It records
//! every request head so tests can count attempts and read headers.

use std::sync::{Arc, Mutex, PoisonError};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// One scripted answer.
#[derive(Clone, Debug)]
pub enum Answer {
    /// Status, extra header lines (`"Retry-After: 1"`), JSON body.
    Json(u16, Vec<&'static str>, String),
    /// Like `Json`, after a pause.
    Slow(std::time::Duration, u16, String),
    /// Read the request, then say nothing and keep the connection open.
    Hang,
}

/// A request as received: the head (request line and headers, lower-cased names kept as sent).
#[derive(Clone, Debug)]
pub struct Seen {
    pub head: String,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().skip(1).find_map(|line| {
            let (key, value) = line.split_once(':')?;
            key.trim()
                .eq_ignore_ascii_case(name)
                .then(|| value.trim().to_owned())
        })
    }

    pub fn request_line(&self) -> &str {
        self.head.lines().next().unwrap_or("")
    }
}

/// A running canned server; answers are used in order, the last one repeats.
pub struct Canned {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    load: Arc<Mutex<Load>>,
}

/// Requests being answered now, and the most there ever were.
#[derive(Default)]
struct Load {
    now: usize,
    peak: usize,
}

impl Canned {
    pub async fn start(answers: Vec<Answer>) -> Canned {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base_url = format!("http://{}", listener.local_addr().expect("addr"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let load = Arc::new(Mutex::new(Load::default()));
        let (log, gauge) = (Arc::clone(&seen), Arc::clone(&load));
        tokio::spawn(async move {
            let mut next = 0usize;
            while let Ok((socket, _)) = listener.accept().await {
                let answer = answers[next.min(answers.len() - 1)].clone();
                next += 1;
                tokio::spawn(serve(socket, answer, Arc::clone(&log), Arc::clone(&gauge)));
            }
        });
        Canned {
            base_url,
            seen,
            load,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The most requests this server was answering at the same time.
    pub fn peak_load(&self) -> usize {
        self.load
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .peak
    }
}

fn adjust(load: &Mutex<Load>, delta: isize) {
    let mut load = load.lock().unwrap_or_else(PoisonError::into_inner);
    load.now = load.now.saturating_add_signed(delta);
    load.peak = load.peak.max(load.now);
}

/// Answers one request on `socket` and closes it (`Connection: close` keeps attempts and
/// connections one to one).
async fn serve(
    mut socket: TcpStream,
    answer: Answer,
    seen: Arc<Mutex<Vec<Seen>>>,
    load: Arc<Mutex<Load>>,
) {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at;
        }
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let record = Seen { head };
    let length: usize = record
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    while buffer.len() < head_end + 4 + length {
        match socket.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
    seen.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(record);
    adjust(&load, 1);
    let answer = match answer {
        Answer::Slow(pause, status, body) => {
            tokio::time::sleep(pause).await;
            Answer::Json(status, Vec::new(), body)
        }
        other => other,
    };
    match answer {
        Answer::Hang => {
            // Hold the socket until the client gives up.
            let _ = socket.read(&mut chunk).await;
        }
        Answer::Json(status, headers, body) => {
            let mut response = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                 content-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            for header in headers {
                response.push_str(header);
                response.push_str("\r\n");
            }
            response.push_str("\r\n");
            response.push_str(&body);
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        }
        Answer::Slow(..) => unreachable!("turned into Json above"),
    }
    adjust(&load, -1);
}

/// A NestJS error body.
pub fn nest_error(status: u16, message: &str, error: &str) -> String {
    serde_json::json!({"statusCode": status, "message": message, "error": error}).to_string()
}

/// A minimal `RunnerJob`.
pub fn job_json(id: &str, status: &str) -> String {
    serde_json::json!({"id": id, "type": "fix", "status": status}).to_string()
}
