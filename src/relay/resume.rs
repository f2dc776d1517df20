//! What a resumed relay already showed: after a crash (or a replica's death) between a post and
//! its record, the relay resumes from the last recorded event, and the events after it that
//! were posted would be shown twice. Before posting, a resumed relay reads the bot's own posts
//! after the last one recorded (`ChatPlatform::own_posts_after`) and takes in the events they
//! showed without posting them again:
//!
//! - a post carrying a mark (Slack's metadata, Mattermost's props) that completes its batch
//!   says every event up to its `last_seq` was shown;
//! - the posts after the last such one (a batch cut between its pages, or every post on a
//!   platform that keeps no mark: Discord) are matched by their text: an event whose message,
//!   rendered as it would be now, is the next text in them was shown. Posts that are not the
//!   relay's (a reply to `status`) are passed over at their start; the first message that does
//!   not match ends the matching, and what follows is posted (shown again rather than lost).
//!
//! A relay that stopped gracefully recorded everything and said so (`posts_settled`): its
//! successor reads nothing back, so a graceful restart of thousands of jobs costs no platform
//! reads. Such a successor marks the job unsettled before it posts anything.

use std::time::Duration;

use backon::ExponentialBuilder;
use mosaic_chat::{OwnPost, ThreadRef};

use super::send::{Outbox, SendError};
use super::task::Relay;
use crate::store::Position;

/// What the posts read back showed, for the events that come again.
#[derive(Debug, Default)]
pub(crate) struct Shown {
    /// Every event up to this sequence number was shown (a complete marked batch).
    through: u64,
    /// The texts of the posts after the last complete marked batch, oldest first.
    texts: Vec<String>,
    /// Where matching goes on: a post of `texts`, and a byte offset in it.
    post: usize,
    offset: usize,
    /// Matching ended (a message did not match); later messages are posted.
    stopped: bool,
}

impl Shown {
    /// What `posts` (the bot's own, oldest first) showed of job `job_id`'s events.
    pub(crate) fn from_posts(job_id: &str, posts: Vec<OwnPost>) -> Shown {
        let mut shown = Shown::default();
        for post in posts {
            match &post.mark {
                Some(mark) if mark.job_id != job_id => {}
                Some(mark) if mark.completes_batch() => {
                    shown.through = shown.through.max(mark.last_seq);
                    // Everything before a complete batch is covered by its sequence numbers.
                    shown.texts.clear();
                }
                _ => shown.texts.push(post.text),
            }
        }
        shown
    }

    /// Whether anything is left to tell: past `through`, with no text to match, the relay
    /// posts as usual.
    pub(crate) fn is_spent(&self, seq: u64) -> bool {
        seq > self.through && (self.stopped || self.post >= self.texts.len())
    }

    /// Whether event `seq`, whose message reads `text()`, was shown already. Called in the
    /// events' order, once for each event that has a message.
    pub(crate) fn was_shown(&mut self, seq: u64, text: impl FnOnce() -> String) -> bool {
        if seq <= self.through {
            return true;
        }
        if self.is_spent(seq) {
            return false;
        }
        let text = text();
        loop {
            if self.post >= self.texts.len() {
                self.stopped = true;
                return false;
            }
            if let Some(end) = self.match_at(&text) {
                (self.post, self.offset) = end;
                return true;
            }
            if self.offset > 0 {
                // A message of the relay's ends mid-post and this one is not next: whatever
                // came after was not this relay's, and matching further would guess.
                self.stopped = true;
                return false;
            }
            // A post that does not begin with this message is not the relay's (a reply).
            self.post += 1;
        }
    }

    /// Where `text` ends if it is next (posts join as the pages of one batch: with a line
    /// break), as the post and offset after it and its line break; `None` if it is not next.
    fn match_at(&self, mut text: &str) -> Option<(usize, usize)> {
        let (mut post, mut offset) = (self.post, self.offset);
        loop {
            let rest = self.texts.get(post)?.get(offset..)?;
            if let Some(after) = rest.strip_prefix(text) {
                return Some(match after.strip_prefix('\n') {
                    Some(_) => (post, offset + text.len() + 1),
                    None if after.is_empty() => (post + 1, 0),
                    None => return None,
                });
            }
            // The message may go on in the next post: a batch's page break.
            text = text.strip_prefix(rest)?.strip_prefix('\n')?;
            (post, offset) = (post + 1, 0);
        }
    }
}

/// Tries to read the posts back for about half a minute: a resumed relay waits for it before
/// posting, and a platform that stays down would hold the job back longer than showing a few
/// lines again costs.
fn read_backoff() -> ExponentialBuilder {
    ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(8))
        .with_jitter()
        .with_max_times(5)
}

impl Outbox {
    /// The bot's own posts in the thread after `after`; `None` where the platform cannot tell.
    async fn own_posts_after(
        &self,
        thread: &ThreadRef,
        after: &str,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Result<Option<Vec<OwnPost>>, SendError> {
        tokio::select! {
            biased;
            () = stop.cancelled() => Err(SendError::Interrupted),
            read = crate::chat_retry::retry_later(
                "read own posts",
                read_backoff(),
                || self.chat.own_posts_after(thread, after),
                |error| if let Some(metrics) = &self.metrics {
                    metrics.platform_error(thread.platform.name(), error.kind());
                },
            ) => read.map_err(SendError::Refused),
        }
    }
}

impl Relay {
    /// Before a resumed relay posts: learns what its predecessor posted without recording
    /// (when it did not stop gracefully), or marks the job unsettled (when it did). Returns
    /// false if the relay was stopped meanwhile.
    pub(crate) async fn prepare_resume(&mut self) -> bool {
        if self.job.posts_settled {
            self.unsettle().await;
            return !self.stop.is_cancelled();
        }
        let Some(after) = self
            .job
            .last_post_id
            .clone()
            .or_else(|| self.job.card_message_id.clone())
        else {
            return true;
        };
        let thread = self.out.thread.clone();
        match self.out.own_posts_after(&thread, &after, &self.stop).await {
            Ok(Some(posts)) => {
                let shown = Shown::from_posts(&self.job.job_id, posts);
                tracing::info!(
                    through = shown.through,
                    unmarked = shown.texts.len(),
                    "resuming: read back what was posted after the last record"
                );
                self.shown = Some(shown);
                true
            }
            Ok(None) => true,
            Err(SendError::Interrupted) => false,
            Err(SendError::Refused(error)) => {
                tracing::warn!(
                    %error,
                    "could not read back the posts after the last record; events posted but not recorded before the restart may show again"
                );
                true
            }
        }
    }

    /// Records that this relay may post without recording: until it settles, a crash leaves
    /// posts its successor must read back.
    async fn unsettle(&mut self) {
        let Some(event_id) = self.job.last_event_id.clone() else {
            return;
        };
        let position = Position {
            job_id: self.job.job_id.clone(),
            event_id,
            seq: self.job.last_event_seq,
            post_id: None,
            settled: false,
        };
        let recording = self.hub.positions().submit(position);
        if let Err(error) = recording.committed().await {
            tracing::error!(%error, "could not mark the job's posts unsettled");
        }
    }

    /// Records the position as settled: this relay stops with every post recorded. Nothing
    /// if a post's fate is unknown or a message still waits.
    pub(crate) fn record_settled(&mut self) {
        if let Some(position) = self.position_now(true) {
            self.recording = Some(self.hub.positions().submit(position));
        }
    }
}

#[cfg(test)]
mod tests {
    use mosaic_chat::PostMark;

    use super::*;

    fn post(text: &str, mark: Option<(u64, u64, u32, u32)>) -> OwnPost {
        OwnPost {
            id: text.to_owned(),
            text: text.to_owned(),
            mark: mark.map(|(first_seq, last_seq, page, pages)| PostMark {
                job_id: "j".into(),
                first_seq,
                last_seq,
                page,
                pages,
            }),
        }
    }

    #[test]
    fn a_complete_marked_batch_covers_its_events() {
        let mut shown = Shown::from_posts(
            "j",
            vec![
                post("a\nb", Some((3, 5, 0, 1))),
                post("c", Some((6, 7, 0, 1))),
            ],
        );
        for seq in 3..=7 {
            assert!(shown.was_shown(seq, || unreachable!("no text needed")));
        }
        assert!(!shown.was_shown(8, || "d".into()));
        assert!(shown.is_spent(9));
    }

    #[test]
    fn another_jobs_marks_cover_nothing() {
        let mut other = post("x", Some((1, 9, 0, 1)));
        other.mark.as_mut().expect("marked").job_id = "earlier".into();
        let mut shown = Shown::from_posts("j", vec![other]);
        assert!(!shown.was_shown(1, || "x".into()));
    }

    #[test]
    fn a_batch_cut_between_pages_is_matched_by_text_across_the_page_break() {
        // Events 4..6 in one batch of two pages, only the first posted; event 5's message
        // was split by the page break.
        let mut shown = Shown::from_posts(
            "j",
            vec![
                post("a", Some((1, 3, 0, 1))),
                post("d\ne1", Some((4, 6, 0, 2))),
            ],
        );
        assert!(shown.was_shown(4, || "d".into()));
        assert!(!shown.was_shown(5, || "e1\ne2".into()));
        assert!(!shown.was_shown(6, || "f".into()));
        let mut shown = Shown::from_posts(
            "j",
            vec![post("d\ne1", Some((4, 6, 0, 2))), post("e2\nf", None)],
        );
        assert!(shown.was_shown(4, || "d".into()));
        assert!(shown.was_shown(5, || "e1\ne2".into()));
        assert!(shown.was_shown(6, || "f".into()));
        assert!(shown.is_spent(7));
    }

    #[test]
    fn unmarked_posts_are_matched_in_order_passing_over_replies() {
        let mut shown = Shown::from_posts(
            "j",
            vec![
                post("🔧 step one\n✅ tests", None),
                post("status: running", None),
                post("🔧 step two", None),
            ],
        );
        assert!(shown.was_shown(1, || "🔧 step one".into()));
        assert!(shown.was_shown(2, || "✅ tests".into()));
        assert!(shown.was_shown(3, || "🔧 step two".into()));
        assert!(!shown.was_shown(4, || "🔧 step three".into()));
    }

    #[test]
    fn a_message_that_does_not_match_mid_post_ends_the_matching() {
        let mut shown = Shown::from_posts("j", vec![post("one\ntwo", None), post("three", None)]);
        assert!(shown.was_shown(1, || "one".into()));
        assert!(!shown.was_shown(2, || "deux".into()));
        // Nothing after is taken for shown, even a later match.
        assert!(!shown.was_shown(3, || "three".into()));
        // A message is matched whole, never as a prefix of a line.
        let mut shown = Shown::from_posts("j", vec![post("one two", None)]);
        assert!(!shown.was_shown(1, || "one".into()));
    }

    #[test]
    fn posts_of_the_last_recorded_ones_instant_written_before_it_repeat_nothing() {
        // Mattermost gives back the posts of the recorded post's millisecond whether written
        // before or after it: here the first page of the recorded batch (events 1..=3), then
        // the first page of batch 4..=5, cut by a crash. The relay resumes after event 3.
        let mut shown = Shown::from_posts(
            "j",
            vec![
                post("one\ntwo", Some((1, 3, 0, 2))),
                post("four", Some((4, 5, 0, 2))),
            ],
        );
        assert!(shown.was_shown(4, || "four".into()));
        assert!(!shown.was_shown(5, || "five".into()));
        assert!(shown.is_spent(6));
    }
}
