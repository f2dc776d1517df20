//! The console platform of mosaic-bot: chat through standard input and
//! output. For a person, plain lines with the progress card redrawn in
//! place; with `--json`, one JSON object per line in and out, for scripts
//! and tests (the format is `console` in `shared/cli.md`).
//!
//! - this file: [`Console`], its options, and the [`ChatPlatform`] it is;
//! - `input.rs`: one input line read as a message (pure);
//! - `press.rs`: one input line read as a button press (pure);
//! - `ids.rs`: message ids, numbered without ever naming two messages;
//! - `output.rs`: the lines written, and the memory edits need;
//! - `edit.rs`: which message an edit may change, and its record;
//! - `posted.rs`: where each bot message was posted, kept compactly;
//! - `dialect.rs`: [`ConsoleDialect`], plain text with mentions neutralized;
//! - `stdio.rs`: standard input read on a thread that never blocks exit.

mod dialect;
mod edit;
mod ids;
mod input;
mod output;
mod posted;
mod press;
mod stdio;

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use mosaic_chat::{
    Button, ChatError, ChatFuture, ChatPlatform, Dialect, Inbound, Limits, Memory, Platform, Press,
    Reaction, RunContext, ThreadRef, UserRef,
};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, BufReader};
use tokio::sync::{mpsc, watch};

pub use dialect::{ConsoleDialect, neutralize_mentions};

use ids::{ID_BLOCK, IdRegistry, Numbered};
use input::{InputError, Line};
use output::{JsonOp, LastShown, Output, Sink};

/// The console's platform name, in thread references and dedupe keys.
pub const PLATFORM: Platform = Platform::new("console");

/// How the console talks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsoleOptions {
    /// JSON lines (for scripts) rather than plain text (for a person).
    pub json: bool,
    /// What the relay must stay within.
    pub limits: Limits,
    /// The bot's name, shown before its messages in plain mode.
    pub bot_name: String,
    /// Plain mode only: redraw an edited message in place with terminal
    /// escapes when it is the last thing on screen. Only right when the
    /// output is a terminal; [`Console::stdio`] sets it from that.
    pub redraw_in_place: bool,
}

impl ConsoleOptions {
    /// For scripts and tests: JSON lines, and no pacing, so that every post
    /// and every edit shows.
    pub fn json() -> ConsoleOptions {
        ConsoleOptions {
            json: true,
            limits: Limits {
                max_message_chars: 4000,
                post_interval: Duration::ZERO,
                edit_interval: Duration::ZERO,
            },
            bot_name: "mosaic".to_owned(),
            redraw_in_place: false,
        }
    }

    /// For a person: plain text, and card edits at most four a second, as
    /// fast as anyone reads.
    pub fn plain() -> ConsoleOptions {
        ConsoleOptions {
            json: false,
            limits: Limits {
                edit_interval: Duration::from_millis(250),
                ..ConsoleOptions::json().limits
            },
            ..ConsoleOptions::json()
        }
    }
}

type Input = Box<dyn AsyncBufRead + Send + Unpin>;

/// The console as a chat platform: messages in from a byte stream, the
/// bot's posts, edits and reactions out to another.
pub struct Console {
    options: ConsoleOptions,
    /// Taken by [`ChatPlatform::run`]: one reader per console.
    input: Mutex<Option<Input>>,
    /// What was written or queued; records are queued under it in the
    /// order their ids were minted, so bot ids appear in order.
    output: Mutex<Output>,
    /// Writes the queued records, many at a time under load.
    sink: tokio::sync::Mutex<Sink>,
    /// Held by a post from reserving its id to queueing its record.
    minting: tokio::sync::Mutex<()>,
    /// Shared with the task that records a block ahead of need.
    ids: Arc<Mutex<IdRegistry>>,
    /// Where the blocks of numbered ids are recorded; set by `run`.
    memory: OnceLock<Arc<dyn Memory>>,
    /// Whether `run` is restoring the numbering of earlier runs: a post
    /// waits while it is (a relay resumed at start may post that early).
    ids_restored: watch::Sender<Restore>,
    /// Input lines read so far (see `LastShown::input_lines`).
    input_lines: AtomicU64,
    /// Where press lines go; taken by `run`, so the core's channel closes when it ends.
    presses: Mutex<Option<mpsc::Sender<Press>>>,
}

/// Where restoring the numbering of earlier runs stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restore {
    /// `run` was not called: nothing to wait for (a console used only to post).
    NotAsked,
    /// `run` was called and is reading the store.
    Underway,
    Done,
}

/// Records `until` as the end of `kind`'s block in `memory`, then lets numbers up to it be
/// used in `ids`.
async fn record_block(
    memory: Option<&Arc<dyn Memory>>,
    ids: &Mutex<IdRegistry>,
    kind: Numbered,
    until: u64,
) {
    if let Some(memory) = memory
        && let Err(e) = memory
            .remember(PLATFORM, kind.key(), &until.to_string())
            .await
    {
        tracing::warn!(error = %e, "console: cannot record the next ids; a restart may repeat them");
    }
    ids.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .reserve(kind, until);
}

/// How long a post waits for the numbering to be restored before it numbers
/// without it (a store that does not answer).
const RESTORE_WAIT: Duration = Duration::from_secs(5);

impl Console {
    /// A console reading `input` and writing `output`.
    pub fn new(
        input: impl AsyncBufRead + Send + Unpin + 'static,
        output: impl AsyncWrite + Send + Unpin + 'static,
        options: ConsoleOptions,
    ) -> Console {
        Console {
            options,
            input: Mutex::new(Some(Box::new(input))),
            output: Mutex::new(Output::new()),
            sink: tokio::sync::Mutex::new(Sink::new(Box::new(output))),
            minting: tokio::sync::Mutex::new(()),
            ids: Arc::new(Mutex::new(IdRegistry::default())),
            memory: OnceLock::new(),
            ids_restored: watch::Sender::new(Restore::NotAsked),
            input_lines: AtomicU64::new(0),
            presses: Mutex::new(None),
        }
    }

    /// A console on the process's standard input and output; redraws in
    /// place exactly when standard output is a terminal.
    pub fn stdio(mut options: ConsoleOptions) -> Console {
        options.redraw_in_place = std::io::stdout().is_terminal();
        let output: Box<dyn AsyncWrite + Send + Unpin> = match stdio::ThreadedStdout::spawn() {
            Ok(threaded) => Box::new(threaded),
            Err(error) => {
                tracing::warn!(%error, "no thread for the console's output; writing through Tokio's");
                Box::new(tokio::io::stdout())
            }
        };
        Console::new(
            BufReader::new(stdio::ThreadedStdin::spawn()),
            output,
            options,
        )
    }

    /// The options this console was built with.
    pub fn options(&self) -> &ConsoleOptions {
        &self.options
    }

    fn output(&self) -> std::sync::MutexGuard<'_, Output> {
        // Never held across an await, and nothing panics while holding it.
        self.output.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Returns once record `number` (and every one before it) is written.
    async fn written(&self, number: u64) -> Result<(), ChatError> {
        self.sink
            .lock()
            .await
            .write_through(number, &self.output)
            .await
    }

    fn ids(&self) -> std::sync::MutexGuard<'_, IdRegistry> {
        // Nothing panics while holding it; a poisoned registry is still whole.
        self.ids.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// What input line `line_no` delivers, or `None` (logged) to skip it.
    fn read(&self, line_no: u64, line: &str) -> Option<Delivered> {
        let incoming = input::read_line(line).and_then(|incoming| {
            let incoming = match incoming {
                None => return Ok(None),
                Some(Line::Press(press)) => return Ok(Some(Err(press))),
                Some(Line::Message(incoming)) => incoming,
            };
            let mut ids = self.ids();
            let id = match &incoming.id {
                // An edit names a message that is already known, whoever numbered it.
                Some(id) if incoming.edit.is_some() && ids.is_known(id) => id.clone(),
                Some(id) => ids
                    .claim(id)
                    .map(|()| id.clone())
                    .map_err(|taken| InputError::IdTaken(taken.0))?,
                None => ids.mint_message(),
            };
            Ok(Some(Ok((id, incoming))))
        });
        let (id, m) = match incoming {
            Ok(Some(Ok(message))) => message,
            Ok(Some(Err(press))) => return Some(Delivered::Press(self.press(press))),
            Ok(None) => return None,
            Err(e) => {
                tracing::warn!("console input line {line_no} skipped: {e}");
                return None;
            }
        };
        Some(Delivered::Message(Inbound {
            platform: PLATFORM,
            dedupe_key: format!("console:{}:{id}", m.channel),
            // A console line is typed as it is read, unless it says otherwise.
            created_at: m.written.unwrap_or_else(std::time::SystemTime::now),
            edit: m.edit,
            channel: m.channel,
            message_id: id,
            thread: m.thread,
            user: UserRef {
                id: m.user.clone(),
                name: m.user,
            },
            roles: m.roles,
            text: m.text,
            slash: false,
            reply_handle: None,
        }))
    }

    /// A press line as the core takes it. Its key is its `id`, so a line
    /// given twice is one press delivered twice; a press without one is
    /// numbered like a message, never twice the same across runs.
    fn press(&self, p: press::IncomingPress) -> Press {
        let id = p.id.unwrap_or_else(|| self.ids().mint_message());
        Press {
            platform: PLATFORM,
            dedupe_key: format!("console:{}:press:{id}", p.channel),
            channel: p.channel,
            message_id: p.message,
            button: p.button,
            user: UserRef {
                id: p.user.clone(),
                name: p.user,
            },
            roles: p.roles,
            reply_handle: None,
            created_at: p.written.unwrap_or_else(std::time::SystemTime::now),
        }
    }

    /// Continues the numbering of earlier runs recorded in `memory`, and
    /// records this run's first blocks before any of their ids is used.
    async fn restore_ids(&self, memory: Arc<dyn Memory>) {
        for kind in [Numbered::Message, Numbered::Bot] {
            let from = match memory.recall(PLATFORM, kind.key()).await {
                Ok(value) => value.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0),
                Err(e) => {
                    tracing::warn!(error = %e, "console: cannot read earlier runs' ids; numbering from 1");
                    0
                }
            };
            let until = from + ID_BLOCK;
            match memory
                .remember(PLATFORM, kind.key(), &until.to_string())
                .await
            {
                Ok(()) => self.ids().restore(kind, from, until),
                Err(e) => {
                    tracing::warn!(error = %e, "console: cannot record this run's ids; a restart may repeat them")
                }
            }
        }
        let _ = self.memory.set(memory);
        self.ids_restored.send_replace(Restore::Done);
    }

    /// Records the next block of `kind` when the current one is used up.
    /// Callers mint one at a time: bot ids under `minting`, message ids in
    /// the one input loop.
    async fn reserve_ids(&self, kind: Numbered) {
        let Some(until) = self.ids().reservation_needed(kind) else {
            return;
        };
        record_block(self.memory.get(), &self.ids, kind, until).await;
    }

    fn check_length(&self, text: &str) -> Result<(), ChatError> {
        // The relay pages its messages to the limit; a longer one is its bug,
        // refused here as a real platform would.
        if text.chars().count() > self.options.limits.max_message_chars {
            return Err(ChatError::TooLong);
        }
        Ok(())
    }

    /// Posts a new bot message in `thread` (`None`: the channel's top level).
    async fn post_message(
        &self,
        channel: &str,
        thread: Option<&str>,
        text: &str,
        buttons: &[Button],
    ) -> Result<String, ChatError> {
        self.check_length(text)?;
        // Restoring happens once, at start: every later post only reads the state.
        if *self.ids_restored.borrow() == Restore::Underway {
            let mut restored = self.ids_restored.subscribe();
            let settled = restored.wait_for(|state| *state != Restore::Underway);
            if tokio::time::timeout(RESTORE_WAIT, settled).await.is_err() {
                tracing::warn!("console: posting before its ids were restored");
            }
        }
        // One post at a time from here to the queue: a new block of ids is
        // recorded before its first id is used, and ids appear in order.
        let minting = self.minting.lock().await;
        self.reserve_ids(Numbered::Bot).await;
        let due = self.ids().reservation_due(std::time::Instant::now());
        let (id, queued) = {
            let mut out = self.output();
            let (id, number) = self.ids().mint_bot_numbered();
            let (queued, lines) = if self.options.json {
                let op = JsonOp::Post {
                    channel,
                    thread,
                    id: &id,
                    text,
                    buttons: output::JsonButtons(buttons),
                };
                // A JSON line holds no other line break (text's are escaped).
                (out.queue_json(&op)?, 1)
            } else {
                let record =
                    output::plain_message(channel, thread, &self.options.bot_name, text, false)
                        + &output::plain_buttons(buttons);
                (out.queue(&record), record.matches('\n').count())
            };
            out.posted.insert_numbered(number, channel, thread);
            // Only plain mode redraws in place (`edit.rs`).
            if !self.options.json {
                out.last_shown = Some(LastShown {
                    id: id.clone(),
                    lines,
                    input_lines: self.input_lines.load(Ordering::SeqCst),
                });
            }
            (id, queued)
        };
        drop(minting);
        if let Some(until) = due {
            // Ahead of need and beside the post, so that no post waits for it (see
            // `reservation_due`): awaited here, it held this relay's post back by a store
            // write, tens of milliseconds when the store is busy.
            let memory = self.memory.get().cloned();
            let ids = Arc::clone(&self.ids);
            tokio::spawn(async move {
                record_block(memory.as_ref(), &ids, Numbered::Bot, until).await;
            });
        }
        self.written(queued).await?;
        Ok(id)
    }
}

/// What an input line hands the core.
enum Delivered {
    Message(Inbound),
    Press(Press),
}

/// Reads one line into `buf`; `Ok(false)` at end of input.
async fn read_line(input: &mut Input, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    buf.clear();
    // Bytes, not `String`: a line that is not UTF-8 is read lossily rather
    // than ending the console.
    Ok(input.read_until(b'\n', buf).await? > 0)
}

impl ChatPlatform for Console {
    fn platform(&self) -> Platform {
        PLATFORM
    }

    fn limits(&self) -> Limits {
        self.options.limits
    }

    fn dialect(&self) -> &dyn Dialect {
        &ConsoleDialect
    }

    /// Reads the input until its end or `shutdown`, one message a line. At
    /// the end of the input it returns: whether to wait for running relays
    /// is the caller's decision.
    fn run(self: Arc<Self>, ctx: RunContext) -> ChatFuture<'static, ()> {
        let RunContext {
            inbox,
            shutdown,
            memory,
            ..
        } = ctx;
        let presses = self
            .presses
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        // Now, not when the task first runs: the daemon resumes relays right
        // after this call, and their posts must wait for the numbering.
        self.ids_restored.send_if_modified(|state| {
            let asked = *state == Restore::NotAsked;
            if asked {
                *state = Restore::Underway;
            }
            asked
        });
        Box::pin(async move {
            let taken = self.input.lock().ok().and_then(|mut input| input.take());
            let Some(mut input) = taken else {
                return Err(ChatError::Unavailable(
                    "the console's input is already being read".to_owned(),
                ));
            };
            self.restore_ids(memory).await;
            let mut buf = Vec::new();
            let mut line_no = 0;
            loop {
                let read = tokio::select! {
                    biased;
                    () = shutdown.cancelled() => return Ok(()),
                    read = read_line(&mut input, &mut buf) => read,
                };
                match read {
                    Ok(true) => {}
                    Ok(false) => return Ok(()),
                    Err(e) => return Err(ChatError::Unavailable(format!("console input: {e}"))),
                }
                line_no += 1;
                self.input_lines.fetch_add(1, Ordering::SeqCst);
                let line = String::from_utf8_lossy(&buf);
                let line = line.strip_suffix('\n').unwrap_or(&line);
                let line = line.strip_suffix('\r').unwrap_or(line);
                self.reserve_ids(Numbered::Message).await;
                let sent = match self.read(line_no, line) {
                    None => continue,
                    Some(Delivered::Message(inbound)) => tokio::select! {
                        biased;
                        () = shutdown.cancelled() => return Ok(()),
                        sent = inbox.send(inbound) => sent.is_ok(),
                    },
                    Some(Delivered::Press(press)) => {
                        let Some(presses) = &presses else {
                            tracing::warn!(
                                "console input line {line_no} skipped: a press, and nothing takes presses"
                            );
                            continue;
                        };
                        tokio::select! {
                            biased;
                            () = shutdown.cancelled() => return Ok(()),
                            sent = presses.send(press) => sent.is_ok(),
                        }
                    }
                };
                if !sent {
                    // The core stopped listening: nothing left to read for.
                    return Ok(());
                }
            }
        })
    }

    fn accept_presses(&self, presses: mpsc::Sender<Press>) {
        *self.presses.lock().unwrap_or_else(PoisonError::into_inner) = Some(presses);
    }

    fn renders_buttons(&self) -> bool {
        true
    }

    fn post<'a>(&'a self, thread: &'a ThreadRef, text: &'a str) -> ChatFuture<'a, String> {
        self.post_with_buttons(thread, text, &[])
    }

    fn post_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, String> {
        Box::pin(self.post_message(&thread.channel, Some(&thread.thread), text, buttons))
    }

    fn start_thread<'a>(&'a self, channel: &'a str, text: &'a str) -> ChatFuture<'a, ThreadRef> {
        Box::pin(async move {
            let id = self.post_message(channel, None, text, &[]).await?;
            Ok(ThreadRef {
                platform: PLATFORM,
                channel: channel.to_owned(),
                thread: id,
            })
        })
    }

    /// An edit without buttons: the message keeps none (cli.md).
    fn edit<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
    ) -> ChatFuture<'a, ()> {
        self.edit_with_buttons(thread, message_id, text, &[])
    }

    fn edit_with_buttons<'a>(
        &'a self,
        thread: &'a ThreadRef,
        message_id: &'a str,
        text: &'a str,
        buttons: &'a [Button],
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            self.check_length(text)?;
            let number = self.queue_edit(thread, message_id, text, buttons)?;
            self.written(number).await
        })
    }

    fn react<'a>(
        &'a self,
        channel: &'a str,
        message_id: &'a str,
        reaction: Reaction,
    ) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            let number = {
                let mut out = self.output();
                // A message this run never saw is one from before a restart (the
                // command a resumed job answers): mark it as taken, and react.
                if !self.ids().is_known(message_id) && self.ids().claim(message_id).is_err() {
                    return Err(ChatError::NotFound(format!("message {message_id}")));
                }
                let number = if self.options.json {
                    out.queue_json(&JsonOp::React {
                        channel,
                        id: message_id,
                        emoji: reaction.short_name(),
                    })?
                } else {
                    out.queue(&output::plain_reaction(
                        channel,
                        message_id,
                        reaction.unicode(),
                    ))
                };
                // Anything printed below a message means it is no longer last.
                out.last_shown = None;
                number
            };
            self.written(number).await
        })
    }

    /// A console has no private replies: the answer goes in the message's
    /// thread, like a reply to a mention.
    fn reply_private<'a>(&'a self, to: &'a Inbound, text: &'a str) -> ChatFuture<'a, ()> {
        Box::pin(async move {
            let thread = to.reply_thread();
            self.post_message(&thread.channel, Some(&thread.thread), text, &[])
                .await
                .map(drop)
        })
    }
}
