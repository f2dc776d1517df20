//! A replica that dies between a relay post and its record (the debug build's fault switch
//! exits the process there, as a `kill -9` would leave it): the replica taking its jobs over
//! reads back what was posted after the last record and shows nothing twice.

use std::time::Duration;

use tokio::time::Instant;

use super::cluster::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_dying_between_a_post_and_its_record_has_it_shown_once() {
    let Some(mut cluster) = Cluster::start("crash", 2, 200).await else {
        return;
    };
    let crashing = cluster.add_crashing_replica("r3", 6).await;
    let roots = cluster.post_fixes(12);
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = cluster.exited(crashing) {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the crashing replica never made its 6 relay posts"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let died = Instant::now();
    assert_eq!(status.code(), Some(137), "it died by the fault switch");
    cluster.wait_all_ended(12, Duration::from_secs(120)).await;
    println!("every job ended {:?} after the crash", died.elapsed());
    let jobs = cluster.jobs().await;
    cluster.stop_all().await;
    cluster.assert_each_shown_once(&jobs, &roots);
}
