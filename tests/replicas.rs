//! Several replicas of `mosaic-bot serve` (the real binary) on one PostgreSQL database: each
//! command acted on by exactly one, each job relayed by exactly one, a killed replica's jobs
//! taken over within its lease + 2 s, a rolling restart losing and repeating nothing; and a
//! second process on one SQLite file refused.
//!
//! The PostgreSQL tests need `MOSAIC_TEST_POSTGRES_URL` (`eval "$(.ci/postgres | tail -n 1)"`);
//! without it each says it is skipped.

#[path = "replicas/cluster.rs"]
mod cluster;
#[path = "replicas/crash.rs"]
mod crash;
#[path = "support/daemon_on.rs"]
#[allow(dead_code)]
mod daemon_on;
#[path = "../adapters/mattermost/tests/fake/mod.rs"]
mod fake;
#[path = "replicas/proxy.rs"]
mod proxy;
#[path = "store/support.rs"]
#[allow(dead_code)]
mod support;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use cluster::{Cluster, LEASE_SECS};
use daemon_on::{free_addr, sim_config};
use fake::{BOT_TOKEN, CHANNEL, FakeMattermost, Sent};
use tokio::time::Instant;

/// The most a job may wait for its relay after its replica is killed: the lease and 2 s.
const TAKEOVER_BOUND: Duration = Duration::from_secs(LEASE_SECS + 2);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_commands_on_three_replicas_make_fifty_jobs_each_shown_once() {
    let Some(mut cluster) = Cluster::start("fifty", 3, 100).await else {
        return;
    };
    let roots = cluster.post_fixes(50);
    // Relays spread: every replica holds some lease while the jobs run (a replica over its
    // share hands relays back, so one winning every command does not keep them all).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen: HashSet<String> = HashSet::new();
    let mut most_held = HashMap::new();
    while seen.len() < 3 {
        let holders = cluster.holders().await;
        let mut per: HashMap<String, usize> = HashMap::new();
        for holder in holders.values() {
            *per.entry(holder.clone()).or_default() += 1;
        }
        for (holder, n) in per {
            let most = most_held.entry(holder.clone()).or_insert(0);
            *most = n.max(*most);
            seen.insert(holder);
        }
        assert!(
            Instant::now() < deadline,
            "relays never spread over the three replicas: {most_held:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("most leases held at once per replica: {most_held:?}");
    cluster.wait_all_ended(50, Duration::from_secs(120)).await;
    let jobs = cluster.jobs().await;
    cluster.stop_all().await;
    cluster.assert_each_shown_once(&jobs, &roots);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replicas_jobs_are_taken_over_within_the_lease_and_shown_once() {
    let Some(mut cluster) = Cluster::start("kill9", 3, 200).await else {
        return;
    };
    let roots = cluster.post_fixes(12);
    wait_cards(&cluster, 12).await;
    // The victim: the replica holding the most relays now.
    let (victim, victim_jobs, killed_at) = kill_in_a_quiet_moment(&mut cluster).await;
    let jobs = cluster.jobs().await;
    let threads: HashMap<&str, &str> = victim_jobs
        .iter()
        .map(|job| (jobs[job].as_str(), job.as_str()))
        .collect();
    // Each of its jobs: the first thing shown in its thread after the kill is the new holder's.
    let mut taken_over: HashMap<&str, Duration> = HashMap::new();
    let deadline = killed_at + TAKEOVER_BOUND + Duration::from_secs(5);
    while taken_over.len() < threads.len() && Instant::now() < deadline {
        let all = cluster.fake.sent();
        for (at, sent) in cluster.fake.sent_timed() {
            if at <= killed_at {
                continue;
            }
            let thread = match &sent {
                Sent::Post { root_id, .. } => Some(root_id.as_str()),
                Sent::Patch { id, .. } => thread_of_card(&all, id),
                _ => None,
            };
            if let Some(job) = thread.and_then(|t| threads.get(t)) {
                taken_over.entry(*job).or_insert(at - killed_at);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut times: Vec<Duration> = taken_over.values().copied().collect();
    times.sort();
    println!(
        "kill -9 of {victim} holding {} jobs: taken over after {times:?} (lease {LEASE_SECS} s)",
        threads.len()
    );
    assert_eq!(
        taken_over.len(),
        threads.len(),
        "every job of the killed replica moves on: {taken_over:?}"
    );
    assert!(
        times.iter().all(|t| *t <= TAKEOVER_BOUND),
        "taken over within the lease + 2 s: {times:?}"
    );
    // No lease can expire sooner than a lease less one renewal tick (1 s) after the kill: what
    // reached the threads earlier was the dead replica's, on the wire as it died.
    let earliest = Duration::from_secs(LEASE_SECS - 1);
    assert!(
        times.iter().all(|t| *t >= earliest),
        "nothing of the killed replica arrived after its death: {times:?}"
    );
    let holders = cluster.holders().await;
    for job in &victim_jobs {
        assert_ne!(
            holders.get(job),
            Some(&victim),
            "{job} is held by a live replica"
        );
    }
    let mut takeovers = 0.0;
    for i in 0..cluster.replicas.len() {
        if cluster.replicas[i].is_some() {
            takeovers += cluster
                .metric(i, "mosaic_relay_lease_takeovers_total")
                .await;
        }
    }
    assert!(
        takeovers >= threads.len() as f64,
        "takeovers counted: {takeovers}"
    );
    cluster.wait_all_ended(12, Duration::from_secs(120)).await;
    cluster.stop_all().await;
    cluster.assert_each_shown_once(&jobs, &roots);
}

/// Kills (`kill -9`) the replica holding the most unfinished jobs, once the relays have
/// settled (every card recorded, no lease moving: a hand-back under way would move a job
/// before its lease expires) and at a moment when nothing has been shown in any of its
/// threads for 400 ms: a post's position is recorded within
/// milliseconds of it (one group commit), so no post of the victim can be waiting for its
/// record, and what the test then sees repeated would be the bot's fault, not the crash
/// window between a post and its record that platform-side idempotency is to close. It
/// checks afterwards that nothing reached those threads until the takeover (no post was
/// on the wire). Returns the victim, its jobs and when it died.
async fn kill_in_a_quiet_moment(cluster: &mut Cluster) -> (String, Vec<String>, Instant) {
    let quiet = Duration::from_millis(400);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut settled = cluster.settled().await;
    loop {
        assert!(Instant::now() < deadline, "no quiet moment to kill in");
        let holders = cluster.holders().await;
        if holders != settled {
            // A job ended, or a relay moved: settle again.
            settled = cluster.settled().await;
            continue;
        }
        let mut per: HashMap<&str, Vec<String>> = HashMap::new();
        for (job, holder) in &holders {
            per.entry(holder.as_str()).or_default().push(job.clone());
        }
        let Some((victim, victim_jobs)) = per.into_iter().max_by_key(|(_, jobs)| jobs.len()) else {
            panic!("no job is held: the jobs ended before the kill");
        };
        let victim = victim.to_owned();
        let index = (0..cluster.replicas.len())
            .find(|&i| cluster.replicas[i].as_ref().is_some_and(|r| r.id == victim))
            .expect("the holder runs");
        let jobs = cluster.jobs().await;
        let roots: HashSet<&str> = victim_jobs.iter().map(|j| jobs[j].as_str()).collect();
        let now = Instant::now();
        let busy = cluster.fake.sent_timed().iter().any(|(at, sent)| {
            matches!(sent, Sent::Post { root_id, .. } if roots.contains(root_id.as_str()))
                && now.duration_since(*at) < quiet
        });
        if busy {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        }
        cluster.kill(index).await;
        let killed_at = Instant::now();
        return (victim, victim_jobs, killed_at);
    }
}

/// Waits until `n` jobs have their card.
async fn wait_cards(cluster: &Cluster, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while cards(&cluster.fake.sent()) < n {
        assert!(Instant::now() < deadline, "every job gets its card");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// How many cards (a thread's first post) were posted.
fn cards(sent: &[Sent]) -> usize {
    let mut roots = HashSet::new();
    for s in sent {
        if let Sent::Post { root_id, .. } = s {
            roots.insert(root_id.clone());
        }
    }
    roots.len()
}

/// The thread of the card `id` (a patched post).
fn thread_of_card<'a>(sent: &'a [Sent], id: &str) -> Option<&'a str> {
    sent.iter().find_map(|s| match s {
        Sent::Post {
            id: post, root_id, ..
        } if post == id => Some(root_id.as_str()),
        _ => None,
    })
}

/// A replica cut off from the database (its statements hang) stops every relay two thirds
/// into its lease, before the lease can expire; the other replica takes the jobs over once
/// it has, so two relays of one job never run together. What the cut-off replica posted in
/// the meantime could not be recorded: the taker reads those posts back (their marks) and
/// shows nothing again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_cut_off_from_the_database_stops_relaying_before_its_lease_expires() {
    let Some(mut cluster) = Cluster::start("cutoff", 1, 200).await else {
        return;
    };
    let proxy = proxy::Proxy::start(cluster.db_server()).await;
    let cut = cluster.add_replica("cut", proxy.addr).await;
    let roots = cluster.post_fixes(8);
    let until = Instant::now() + Duration::from_secs(60);
    // Both hold relays (a replica over its share hands some back), settled: every card
    // recorded (a card posted and not yet recorded would be posted again by the taker), no
    // lease moving.
    let cut_jobs = loop {
        let holders = cluster.settled().await;
        let cut_jobs: HashSet<String> = holders
            .iter()
            .filter(|(_, h)| *h == "cut")
            .map(|(j, _)| j.clone())
            .collect();
        if !cut_jobs.is_empty() && holders.len() == 8 {
            break cut_jobs;
        }
        assert!(Instant::now() < until, "both replicas relay: {holders:?}");
    };
    assert!(cluster.metric(cut, "mosaic_jobs_followed").await >= 1.0);
    proxy.pause(true);
    let paused_at = Instant::now();
    // Its relays stop before its lease (at most a lease after the pause) can expire.
    loop {
        if cluster.metric(cut, "mosaic_jobs_followed").await == 0.0 {
            break;
        }
        assert!(
            paused_at.elapsed() < Duration::from_secs(LEASE_SECS),
            "the cut-off replica still relays when its lease may expire"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stopped = paused_at.elapsed();
    assert!(
        cluster
            .metric(cut, "mosaic_relay_lease_renew_failures_total")
            .await
            >= 1.0
    );
    // The other replica takes each job over once the lease has expired, not before.
    let jobs = cluster.jobs().await;
    let threads: HashSet<&str> = cut_jobs.iter().map(|j| jobs[j].as_str()).collect();
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        let holders = cluster.holders().await;
        if cut_jobs
            .iter()
            .all(|j| holders.get(j).is_none_or(|h| h == "r1"))
        {
            break;
        }
        assert!(
            Instant::now() < until,
            "r1 takes the jobs over: {holders:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = cluster.fake.sent();
    let first_after_stop = cluster
        .fake
        .sent_timed()
        .into_iter()
        .filter(|(at, _)| at.duration_since(paused_at) >= stopped)
        .filter(|(_, s)| {
            let thread = match s {
                Sent::Post { root_id, .. } => Some(root_id.as_str()),
                Sent::Patch { id, .. } => thread_of_card(&all, id),
                _ => None,
            };
            thread.is_some_and(|t| threads.contains(t))
        })
        .map(|(at, _)| at.duration_since(paused_at))
        .min();
    println!(
        "cut off: relays stopped {stopped:?} after the pause; first sign of the taker {first_after_stop:?} (lease {LEASE_SECS} s)"
    );
    if let Some(first) = first_after_stop {
        assert!(
            first >= Duration::from_secs(LEASE_SECS) - Duration::from_secs(1),
            "nothing reaches the cut-off replica's threads between its stop and the takeover"
        );
    }
    proxy.pause(false);
    cluster.wait_all_ended(8, Duration::from_secs(120)).await;
    cluster.stop_all().await;
    cluster.assert_each_shown_once(&jobs, &roots);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_mid_job_loses_and_repeats_nothing() {
    let Some(mut cluster) = Cluster::start("rolling", 3, 250).await else {
        return;
    };
    let roots = cluster.post_fixes(12);
    wait_cards(&cluster, 12).await;
    for i in 0..3 {
        let running = cluster.unfinished().await;
        assert!(running > 0, "restart {i} comes mid-job");
        cluster.restart(i).await;
        println!("replica r{} restarted with {running} jobs running", i + 1);
    }
    cluster.wait_all_ended(12, Duration::from_secs(120)).await;
    let jobs = cluster.jobs().await;
    cluster.stop_all().await;
    cluster.assert_each_shown_once(&jobs, &roots);
}

/// Commands per second through one replica and through three (printed, not asserted: the
/// machine is shared), each command acted on by exactly one replica: one 👀, one answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_per_second_on_one_replica_and_on_three() {
    let n = 150;
    let mut rates = Vec::new();
    for replicas in [1, 3] {
        let Some(mut cluster) = Cluster::start(&format!("rate{replicas}"), replicas, 100).await
        else {
            return;
        };
        let started = Instant::now();
        let posts: Vec<String> = (0..n)
            .map(|_| cluster.fake.user_post(CHANNEL, None, "@mosaic-bot help"))
            .collect();
        let deadline = started + Duration::from_secs(120);
        loop {
            let sent = cluster.fake.sent();
            let answered = posts
                .iter()
                .filter(|p| {
                    sent.iter()
                        .any(|s| matches!(s, Sent::Post { root_id, .. } if root_id == *p))
                })
                .count();
            if answered == n {
                break;
            }
            assert!(Instant::now() < deadline, "{answered} of {n} answered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let took = started.elapsed();
        let rate = n as f64 / took.as_secs_f64();
        println!("{replicas} replica(s): {n} commands in {took:?}, {rate:.0} commands/s");
        rates.push((replicas, rate));
        cluster.stop_all().await;
        let sent = cluster.fake.sent();
        for post in &posts {
            let eyes = sent
                .iter()
                .filter(|s| matches!(s, Sent::Reaction { post_id, emoji, .. } if post_id == post && emoji == "eyes"))
                .count();
            let answers = sent
                .iter()
                .filter(|s| matches!(s, Sent::Post { root_id, .. } if root_id == post))
                .count();
            assert_eq!((eyes, answers), (1, 1), "one replica acts on {post}");
        }
        assert_eq!(sent.len(), 2 * n, "nothing else was sent: {sent:#?}");
    }
    println!("commands per second (replicas, rate): {rates:?}");
}

/// A second `serve` on the SQLite file another one uses exits at once, naming PostgreSQL.
#[tokio::test]
async fn a_second_process_on_one_sqlite_file_is_refused() {
    let fake = FakeMattermost::start().await;
    let sim = mosaic_sim::Sim::start(sim_config(5)).await.expect("sim");
    let dir = tempfile::tempdir().expect("a directory");
    let store = format!("sqlite://{}", dir.path().join("bot.db").display());
    let serve = |http: std::net::SocketAddr| {
        let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_mosaic-bot"));
        cmd.arg("serve")
            .current_dir(dir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("MOSAIC__")) {
            cmd.env_remove(key);
        }
        cmd.envs([
            ("MOSAIC__BACKEND__URL", sim.base_url()),
            ("MOSAIC__BACKEND__TOKEN", sim.token().to_owned()),
            ("MOSAIC__BACKEND__WORKSPACE", sim.workspace().to_owned()),
            ("MOSAIC__STORE__URL", store.clone()),
            ("MOSAIC__MATTERMOST__URL", fake.url()),
            ("MOSAIC__MATTERMOST__TOKEN", BOT_TOKEN.to_owned()),
            ("MOSAIC__HTTP__LISTEN", http.to_string()),
        ]);
        cmd.spawn().expect("the bot starts")
    };
    let mut first = serve(free_addr());
    fake.wait_authenticated(1).await;
    let second = serve(free_addr());
    let out = tokio::time::timeout(Duration::from_secs(30), second.wait_with_output())
        .await
        .expect("the second one exits at once")
        .expect("its output");
    let said = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("is in use by another running mosaic-bot") && said.contains("PostgreSQL"),
        "{said}"
    );
    assert!(
        first.try_wait().expect("status").is_none(),
        "the first runs on"
    );
    assert_eq!(fake.authenticated(), 1, "the second never connected");
    first.kill().await.expect("stopped");
    // Once the first is gone (even killed), the file is free again.
    let mut third = serve(free_addr());
    fake.wait_authenticated(2).await;
    third.kill().await.expect("stopped");
}
