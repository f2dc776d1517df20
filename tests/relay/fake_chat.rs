//! A recording chat platform for the relay's tests: every post, edit and reaction is kept in
//! order, with the instant it happened, so a test can read the thread's transcript, prove the
//! rate limits were kept, and end by asserting nothing unexpected was sent. Faults can be
//! injected (rate limits, refusals). Its dialect escapes like a real platform, so mention
//! safety can be checked in what it "shows".

#![allow(dead_code)] // the console tests use only its types

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mosaic_chat::{
    ChatError, ChatFuture, ChatPlatform, Dialect, Inbound, Limits, Platform, Reaction, ThreadRef,
};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// One thing the bot did on the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    Post {
        thread: ThreadRef,
        id: String,
        text: String,
    },
    Edit {
        thread: ThreadRef,
        id: String,
        text: String,
    },
    React {
        channel: String,
        id: String,
        reaction: Reaction,
    },
}

#[derive(Default)]
struct State {
    ops: Vec<(Instant, Op)>,
    next_id: u64,
    /// Answers for the next posts (instead of success), in order.
    post_faults: VecDeque<ChatError>,
    /// Answers for the next edits (instead of success), in order.
    edit_faults: VecDeque<ChatError>,
}

/// The fake platform (named `console`, a platform the store knows).
pub struct FakeChat {
    limits: Limits,
    state: Mutex<State>,
    changed: watch::Sender<usize>,
}

/// Escapes like Slack (`<`, `>`, `&`) and breaks `@` mentions with a zero-width space, as
/// Mattermost needs: nothing it renders can ping.
pub struct EscapingDialect;

fn escape(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '@' => out.push_str("@\u{200b}"),
            c => out.push(c),
        }
    }
}

impl Dialect for EscapingDialect {
    fn text(&self, out: &mut String, text: &str) {
        escape(out, text);
    }
    fn bold(&self, out: &mut String, text: &str) {
        escape(out, text);
    }
    fn code(&self, out: &mut String, text: &str) {
        out.push('`');
        escape(out, text);
        out.push('`');
    }
    fn link(&self, out: &mut String, label: &str, url: &str) {
        if label == url {
            out.push_str(url);
        } else {
            escape(out, label);
            out.push_str(" (");
            out.push_str(url);
            out.push(')');
        }
    }
    fn code_block(&self, out: &mut String, text: &str) {
        escape(out, text);
    }
}

pub const PLATFORM: Platform = Platform::new("console");

impl FakeChat {
    pub fn new(limits: Limits) -> Arc<FakeChat> {
        Arc::new(FakeChat {
            limits,
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
        })
    }

    /// Fast limits for tests: posts 20 ms apart per channel, edits 20 ms apart.
    pub fn fast() -> Arc<FakeChat> {
        FakeChat::new(Limits {
            max_message_chars: 2000,
            post_interval: Duration::from_millis(20),
            edit_interval: Duration::from_millis(20),
        })
    }

    pub fn fail_next_posts(&self, errors: impl IntoIterator<Item = ChatError>) {
        self.state.lock().unwrap().post_faults.extend(errors);
    }

    pub fn fail_next_edits(&self, errors: impl IntoIterator<Item = ChatError>) {
        self.state.lock().unwrap().edit_faults.extend(errors);
    }

    /// Everything done so far, in order.
    pub fn ops(&self) -> Vec<Op> {
        self.state
            .lock()
            .unwrap()
            .ops
            .iter()
            .map(|(_, op)| op.clone())
            .collect()
    }

    /// Everything done so far, with when.
    pub fn timed_ops(&self) -> Vec<(Instant, Op)> {
        self.state.lock().unwrap().ops.clone()
    }

    /// Waits (at most 20 s) until `done` holds for the ops.
    pub async fn wait_until(&self, done: impl Fn(&[Op]) -> bool) {
        let mut changed = self.changed.subscribe();
        let wait = async {
            loop {
                if done(&self.ops()) {
                    return;
                }
                changed.changed().await.expect("fake alive");
            }
        };
        tokio::time::timeout(Duration::from_secs(20), wait)
            .await
            .unwrap_or_else(|_| panic!("timed out waiting; ops so far: {:#?}", self.ops()));
    }

    fn record(&self, op: Op) {
        let mut state = self.state.lock().unwrap();
        state.ops.push((Instant::now(), op));
        self.changed.send_replace(state.ops.len());
    }
}

impl ChatPlatform for FakeChat {
    fn platform(&self) -> Platform {
        PLATFORM
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn dialect(&self) -> &dyn Dialect {
        &EscapingDialect
    }

    fn run(
        self: Arc<Self>,
        _inbox: mpsc::Sender<Inbound>,
        shutdown: CancellationToken,
    ) -> ChatFuture<'static, ()> {
        Box::pin(async move {
            shutdown.cancelled().await;
            Ok(())
        })
    }

    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String> {
        Box::pin(async move {
            assert!(
                text.chars().count() <= self.limits.max_message_chars,
                "too long"
            );
            let fault = self.state.lock().unwrap().post_faults.pop_front();
            if let Some(error) = fault {
                return Err(error);
            }
            let id = {
                let mut state = self.state.lock().unwrap();
                state.next_id += 1;
                format!("b{}", state.next_id)
            };
            self.record(Op::Post {
                thread: thread.clone(),
                id: id.clone(),
                text: text.into(),
            });
            Ok(id)
        })
    }

    fn start_thread<'a>(&'a self, _channel: &'a str, _text: &'a str) -> ChatFuture<'a, ThreadRef> {
        Box::pin(async { panic!("the relay never starts a thread") })
    }

    fn edit<'a>(&'a self, thread: &'a ThreadRef, id: &'a str, text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            let fault = self.state.lock().unwrap().edit_faults.pop_front();
            if let Some(error) = fault {
                return Err(error);
            }
            self.record(Op::Edit {
                thread: thread.clone(),
                id: id.into(),
                text: text.into(),
            });
            Ok(())
        })
    }

    fn react<'a>(
        &'a self,
        channel: &'a str,
        id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.record(Op::React {
                channel: channel.into(),
                id: id.into(),
                reaction,
            });
            Ok(())
        })
    }

    fn reply_private<'a>(&'a self, _to: &'a Inbound, _text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async { panic!("the relay never replies privately") })
    }
}
