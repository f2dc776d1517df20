//! The harness of the console's tests: a [`Console`] over real byte pipes
//! (`tokio::io::duplex`), the test holding the other ends: it types into the
//! input and reads the output, every wait bounded by a timeout.

#![allow(dead_code)] // each test file uses a part of it

use std::sync::Arc;
use std::time::Duration;

use mosaic_chat::{ChatError, Inbound, Press};
use mosaic_console::{Console, ConsoleOptions};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Long enough for a slow CI machine, short enough to fail a hung test.
pub const WAIT: Duration = Duration::from_secs(5);

/// A console, the ends of its pipes, and (once started) its reading task.
pub struct Harness {
    pub console: Arc<Console>,
    /// What the test types; drop it for end of input.
    pub input: Option<DuplexStream>,
    pub output: BufReader<DuplexStream>,
    pub inbox: mpsc::Receiver<Inbound>,
    /// The presses the console read (once started).
    pub presses: mpsc::Receiver<Press>,
    pub shutdown: CancellationToken,
    pub run: Option<JoinHandle<Result<(), ChatError>>>,
}

impl Harness {
    /// A console whose output pipe holds `capacity` bytes before a write
    /// must wait for the reader.
    pub fn with_capacity(options: ConsoleOptions, capacity: usize) -> Harness {
        let (input, console_input) = tokio::io::duplex(64 * 1024);
        let (console_output, output) = tokio::io::duplex(capacity);
        let console = Arc::new(Console::new(
            BufReader::new(console_input),
            console_output,
            options,
        ));
        let (_, inbox) = mpsc::channel(1);
        let (_, presses) = mpsc::channel(1);
        Harness {
            console,
            input: Some(input),
            output: BufReader::new(output),
            inbox,
            presses,
            shutdown: CancellationToken::new(),
            run: None,
        }
    }

    pub fn new(options: ConsoleOptions) -> Harness {
        Harness::with_capacity(options, 64 * 1024)
    }

    /// Starts the console's reading task.
    pub fn start(options: ConsoleOptions) -> Harness {
        let mut h = Harness::new(options);
        let (tx, inbox) = mpsc::channel(16);
        h.inbox = inbox;
        let (presses_tx, presses) = mpsc::channel(16);
        h.presses = presses;
        let console = Arc::clone(&h.console);
        let shutdown = h.shutdown.clone();
        mosaic_chat::ChatPlatform::accept_presses(console.as_ref(), presses_tx);
        h.run = Some(tokio::spawn(async move {
            let ctx = mosaic_chat::RunContext::new(tx, shutdown);
            mosaic_chat::ChatPlatform::run(console, ctx).await
        }));
        h
    }

    /// Starts the console's reading task with `memory` as what it keeps across restarts. The
    /// console is running when this returns: a post made next waits for the numbering that
    /// `memory` holds.
    pub fn start_with_memory(
        options: ConsoleOptions,
        memory: Arc<dyn mosaic_chat::Memory>,
        capacity: usize,
    ) -> Harness {
        let mut h = Harness::with_capacity(options, capacity);
        let (tx, inbox) = mpsc::channel(16);
        h.inbox = inbox;
        let ctx = mosaic_chat::RunContext::new(tx, h.shutdown.clone()).with_memory(memory);
        // Called here rather than in the task: the call is what makes posts wait for the
        // numbering to be restored.
        let run = mosaic_chat::ChatPlatform::run(Arc::clone(&h.console), ctx);
        h.run = Some(tokio::spawn(run));
        h
    }

    /// Types `text` (lines and their breaks included) into the input.
    pub async fn type_in(&mut self, text: &str) {
        let input = self.input.as_mut().expect("input still open");
        tokio::time::timeout(WAIT, input.write_all(text.as_bytes()))
            .await
            .expect("input accepted in time")
            .expect("input open");
    }

    /// The next message the console read.
    pub async fn next_inbound(&mut self) -> Inbound {
        tokio::time::timeout(WAIT, self.inbox.recv())
            .await
            .expect("a message in time")
            .expect("the console still running")
    }

    /// The next press the console read.
    pub async fn next_press(&mut self) -> Press {
        tokio::time::timeout(WAIT, self.presses.recv())
            .await
            .expect("a press in time")
            .expect("the console still running")
    }

    /// The next output line, line break included.
    pub async fn next_line(&mut self) -> String {
        let mut line = String::new();
        let read = tokio::time::timeout(WAIT, self.output.read_line(&mut line))
            .await
            .expect("an output line in time")
            .expect("output readable");
        assert!(read > 0, "output ended");
        line
    }

    /// Ends the input and waits for the reading task to return.
    pub async fn end_input(&mut self) -> Result<(), ChatError> {
        self.input = None;
        self.join().await
    }

    /// Waits for the reading task to return.
    pub async fn join(&mut self) -> Result<(), ChatError> {
        let run = self.run.take().expect("started");
        tokio::time::timeout(WAIT, run)
            .await
            .expect("run returned in time")
            .expect("run did not panic")
    }

    /// Proves the console wrote nothing more and read no other message:
    /// drops the console (closing its output) and reads to the end.
    pub async fn assert_nothing_more(mut self) {
        if self.run.is_some() {
            self.shutdown.cancel();
            self.join().await.expect("run ended cleanly");
        }
        assert_eq!(self.inbox.try_recv().ok(), None, "no message left over");
        assert_eq!(self.presses.try_recv().ok(), None, "no press left over");
        drop(self.console);
        let mut rest = String::new();
        tokio::time::timeout(WAIT, self.output.read_to_string(&mut rest))
            .await
            .expect("output closed in time")
            .expect("output readable");
        assert_eq!(rest, "", "no output left over");
    }
}
