//! The relays running in this process, by job and by thread: a thread's verbosity change
//! reaches its relays without a scan of every relay (one `verbose` among 5,000 followed jobs
//! compared 5,000 threads, under the lock every relay start and end takes).

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use mosaic_chat::ThreadRef;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::buttons;
use crate::store::Verbosity;

/// A relay that runs.
pub(super) struct Running {
    /// Tells this entry from a later relay of the same job.
    pub(super) generation: u64,
    pub(super) thread: ThreadRef,
    pub(super) verbosity: watch::Sender<Verbosity>,
    /// What its card carries.
    pub(super) card: Arc<buttons::CardShared>,
    /// Taken by `shutdown` to wait for the task.
    pub(super) task: Option<JoinHandle<()>>,
    /// Stops this relay alone (a child of the hub's shutdown).
    pub(super) stop: CancellationToken,
    /// Cancelled with `stop` when the lease is lost: the relay posts nothing more.
    pub(super) lost: CancellationToken,
    /// When the relay started: a renewal read before it cannot know its lease.
    pub(super) started: tokio::time::Instant,
    /// When its verbosity was last set here (or it started): a store read sent before then
    /// may hold the verbosity it replaced, and must not put it back.
    pub(super) verbosity_set: tokio::time::Instant,
}

/// The running relays by job id, with the jobs of each thread. Read through `Deref`; every
/// change of membership goes through [`insert`](Relays::insert) and
/// [`remove`](Relays::remove), which keep the two in step.
#[derive(Default)]
pub(super) struct Relays {
    by_job: HashMap<String, Running>,
    /// The jobs running in each thread (most threads have one).
    by_thread: HashMap<ThreadRef, Vec<String>>,
}

impl Relays {
    pub(super) fn insert(&mut self, job_id: String, running: Running) {
        let jobs = self.by_thread.entry(running.thread.clone()).or_default();
        if !jobs.contains(&job_id) {
            jobs.push(job_id.clone());
        }
        if let Some(replaced) = self.by_job.insert(job_id.clone(), running) {
            self.unindex(&job_id, &replaced.thread);
        }
    }

    pub(super) fn remove(&mut self, job_id: &str) -> Option<Running> {
        let running = self.by_job.remove(job_id)?;
        self.unindex(job_id, &running.thread);
        Some(running)
    }

    /// Removes `job_id` from `thread`'s jobs, unless its relay now runs in that thread.
    fn unindex(&mut self, job_id: &str, thread: &ThreadRef) {
        if self.by_job.get(job_id).is_some_and(|r| &r.thread == thread) {
            return;
        }
        if let Some(jobs) = self.by_thread.get_mut(thread) {
            jobs.retain(|j| j != job_id);
            if jobs.is_empty() {
                self.by_thread.remove(thread);
            }
        }
    }

    pub(super) fn get_mut(&mut self, job_id: &str) -> Option<&mut Running> {
        self.by_job.get_mut(job_id)
    }

    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut Running> {
        self.by_job.values_mut()
    }

    /// Whether a relay of a job in `thread` runs.
    pub(super) fn in_thread(&self, thread: &ThreadRef) -> bool {
        self.by_thread.contains_key(thread)
    }

    /// Applies `f` to each relay running in `thread`.
    pub(super) fn for_each_in_thread(
        &mut self,
        thread: &ThreadRef,
        mut f: impl FnMut(&mut Running),
    ) {
        let Some(jobs) = self.by_thread.get(thread) else {
            return;
        };
        for job_id in jobs {
            if let Some(running) = self.by_job.get_mut(job_id) {
                f(running);
            }
        }
    }
}

impl Deref for Relays {
    type Target = HashMap<String, Running>;

    fn deref(&self) -> &Self::Target {
        &self.by_job
    }
}

#[cfg(test)]
mod tests {
    use mosaic_chat::Platform;

    use super::*;

    fn thread(name: &str) -> ThreadRef {
        ThreadRef {
            platform: Platform::new("console"),
            channel: "c".to_owned(),
            thread: name.to_owned(),
        }
    }

    fn running(thread: ThreadRef) -> Running {
        Running {
            generation: 0,
            thread,
            verbosity: watch::channel(Verbosity::Milestones).0,
            card: Arc::new(buttons::CardShared::new()),
            task: None,
            stop: CancellationToken::new(),
            lost: CancellationToken::new(),
            started: tokio::time::Instant::now(),
            verbosity_set: tokio::time::Instant::now(),
        }
    }

    fn in_thread(relays: &mut Relays, name: &str) -> usize {
        let mut n = 0;
        relays.for_each_in_thread(&thread(name), |_| n += 1);
        n
    }

    #[test]
    fn a_thread_finds_exactly_the_relays_running_in_it() {
        let mut relays = Relays::default();
        relays.insert("j1".to_owned(), running(thread("a")));
        relays.insert("j2".to_owned(), running(thread("a")));
        relays.insert("j3".to_owned(), running(thread("b")));
        assert_eq!(
            (in_thread(&mut relays, "a"), in_thread(&mut relays, "b")),
            (2, 1)
        );
        assert!(relays.in_thread(&thread("a")) && !relays.in_thread(&thread("c")));
        assert!(relays.remove("j1").is_some());
        assert!(relays.remove("j1").is_none());
        assert_eq!(in_thread(&mut relays, "a"), 1);
        // A later relay of j2 elsewhere replaces the entry, and its place in thread a.
        relays.insert("j2".to_owned(), running(thread("b")));
        assert_eq!(
            (in_thread(&mut relays, "a"), in_thread(&mut relays, "b")),
            (0, 2)
        );
        // Re-inserted in the same thread: counted once.
        relays.insert("j3".to_owned(), running(thread("b")));
        assert_eq!(in_thread(&mut relays, "b"), 2);
        assert!(
            !relays.in_thread(&thread("a")),
            "thread a has no relay left"
        );
        assert!(relays.remove("j2").is_some() && relays.remove("j3").is_some());
        assert!(relays.by_thread.is_empty(), "no thread left behind");
        assert_eq!(relays.len(), 0);
    }
}
