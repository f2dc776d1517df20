//! Marks on relayed posts: which events of which job a post shows, written with the post
//! where the platform keeps such data, and the bot's own posts read back after a restart.
//!
//! A relay records how far it got only after a post has succeeded, so a crash (or a replica
//! cut off) between the two showed that post's events again after the resume. On resume the
//! relay reads its own posts after the last one recorded ([`OwnPost`]); a post that carries a
//! [`PostMark`] says exactly which events it showed, and a post without one (a platform that
//! keeps no data beside the text) is matched by its text. What was shown is recorded instead
//! of posted again.

use std::fmt;
use std::str::FromStr;

/// Which events of a job a relayed post shows, and which page of its batch it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PostMark {
    /// The backend's id of the job.
    pub job_id: String,
    /// The sequence number (1 for the job's first event) of the first event of the batch.
    pub first_seq: u64,
    /// The sequence number of the last event of the batch.
    pub last_seq: u64,
    /// This post's page of the batch, from 0.
    pub page: u32,
    /// How many pages the batch has.
    pub pages: u32,
}

impl PostMark {
    /// Whether this post is the batch's last page: every event up to `last_seq` was shown.
    pub fn completes_batch(&self) -> bool {
        self.page + 1 >= self.pages
    }
}

/// `mosaic:v1:{first}-{last}:{page}/{pages}:{job}` — one string, for platforms whose
/// metadata is a string (the job id comes last: it may contain any character but a newline).
impl fmt::Display for PostMark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "mosaic:v1:{}-{}:{}/{}:{}",
            self.first_seq, self.last_seq, self.page, self.pages, self.job_id
        )
    }
}

/// A string that is not a [`PostMark`] as written by [`PostMark`]'s `Display`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a relay post mark: {0:?}")]
pub struct NotAMark(pub String);

impl FromStr for PostMark {
    type Err = NotAMark;

    fn from_str(s: &str) -> Result<PostMark, NotAMark> {
        let bad = || NotAMark(s.chars().take(80).collect());
        let rest = s.strip_prefix("mosaic:v1:").ok_or_else(bad)?;
        let (seqs, rest) = rest.split_once(':').ok_or_else(bad)?;
        let (pages, job_id) = rest.split_once(':').ok_or_else(bad)?;
        let (first, last) = seqs.split_once('-').ok_or_else(bad)?;
        let (page, count) = pages.split_once('/').ok_or_else(bad)?;
        let mark = PostMark {
            job_id: job_id.to_owned(),
            first_seq: first.parse().map_err(|_| bad())?,
            last_seq: last.parse().map_err(|_| bad())?,
            page: page.parse().map_err(|_| bad())?,
            pages: count.parse().map_err(|_| bad())?,
        };
        if mark.job_id.is_empty()
            || mark.first_seq > mark.last_seq
            || mark.page >= mark.pages
            || mark.job_id.contains('\n')
        {
            return Err(bad());
        }
        Ok(mark)
    }
}

/// One of the bot's own posts, read back from the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnPost {
    /// The message's id, as [`post`](crate::ChatPlatform::post) returned it.
    pub id: String,
    /// Its text as the platform keeps it (what the bot sent).
    pub text: String,
    /// Its mark, where the platform keeps one and the post carries it.
    pub mark: Option<PostMark>,
}

/// The most posts [`own_posts_after`](crate::ChatPlatform::own_posts_after) returns: what a
/// relay can have posted without recording it is a few batches, never this many.
pub const MAX_OWN_POSTS: usize = 100;

#[cfg(test)]
mod tests {
    use super::*;

    fn mark() -> PostMark {
        PostMark {
            job_id: "job-7:x".into(),
            first_seq: 3,
            last_seq: 9,
            page: 1,
            pages: 2,
        }
    }

    #[test]
    fn a_mark_reads_back_as_written() {
        let written = mark().to_string();
        assert_eq!(written, "mosaic:v1:3-9:1/2:job-7:x");
        assert_eq!(written.parse::<PostMark>(), Ok(mark()));
        assert!(mark().completes_batch());
    }

    #[test]
    fn what_is_not_a_mark_is_refused() {
        for bad in [
            "",
            "mosaic:v2:3-9:1/2:j",
            "mosaic:v1:9-3:0/1:j",
            "mosaic:v1:3-9:2/2:j",
            "mosaic:v1:3-9:0/1:",
            "mosaic:v1:a-9:0/1:j",
            "mosaic:v1:3-9:0:j",
        ] {
            assert!(
                bad.parse::<PostMark>().is_err(),
                "{bad:?} was taken for a mark"
            );
        }
    }
}
