//! Whole-flow tests of `/mosaic` as Mattermost's server sends it (the fake's
//! `slash_command`, built after server/channels/app/command.go): typed in a
//! job's thread (`root_id`), in several teams each with its own token.

use crate::fake::{CHANNEL, CHANNEL2, Executed, Sent, TEAM, TEAM2, command_token};
use crate::harness::*;
use mosaic_mattermost::SLASH_PATH;

/// The bot's slash command URL, as the admin enters it.
async fn command_url(bot: &Bot) -> String {
    format!(
        "http://{}{SLASH_PATH}",
        bot.mm.slash_addr().await.expect("listening")
    )
}

fn ephemerals(sent: &[Sent]) -> Vec<&str> {
    sent.iter()
        .filter_map(|s| match s {
            Sent::Ephemeral { text } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_slash_status_in_a_jobs_thread_answers_for_that_job() {
    let (fake, sim) = world(40).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    let root = fake.user_post(CHANNEL, None, "@mosaic-bot fix acme/web#42");
    wait_card(&fake, &root).await;
    let url = command_url(&bot).await;
    let typed = fake
        .slash_command(&url, TEAM, CHANNEL, Some(&root), "status")
        .await;
    assert_eq!(typed, Executed::Answered(200));
    let answer = fake
        .expect("the private status", |s| {
            matches!(s, Sent::Ephemeral { .. })
        })
        .await;
    assert!(
        message(&answer).contains("- Job: ") && message(&answer).contains("acme/web#42"),
        "the status of the thread's job: {answer:#?}"
    );
    fake.expect("✅ on the command", |s| {
        is_reaction(s, &root, "white_check_mark")
    })
    .await;
    bot.stop().await.expect("a clean stop");
    let mut sent = fake.sent();
    assert_eq!(ephemerals(&sent).len(), 1, "{sent:#?}");
    sent.retain(|s| !matches!(s, Sent::Ephemeral { .. }));
    assert_one_relayed_job(&sent, &root);
}

#[tokio::test]
async fn a_slash_fix_in_a_thread_runs_the_job_in_that_thread() {
    let (fake, sim) = world(5).await;
    let bot = start(&fake, &sim);
    fake.wait_authenticated(1).await;
    // A discussion that does not call the bot, then `/mosaic fix` in it.
    let root = fake.user_post(CHANNEL, None, "the login page breaks, see acme/web#42");
    let url = command_url(&bot).await;
    let typed = fake
        .slash_command(&url, TEAM, CHANNEL, Some(&root), "fix acme/web#42")
        .await;
    assert_eq!(typed, Executed::Answered(200));
    fake.expect("the outcome", |s| message(s).contains("pull/57"))
        .await;
    sim.wait_final(JOB_1).await;
    bot.stop().await.expect("a clean stop");

    let sent = fake.sent();
    let posts = posts(&sent);
    assert!(
        posts.iter().all(|(_, r, _)| *r == root),
        "everything in the thread it was typed in, no new thread: {sent:#?}"
    );
    assert!(
        ephemerals(&sent).is_empty(),
        "no private pointer to a thread the user is in: {sent:#?}"
    );
    assert!(
        !sent.iter().any(|s| matches!(s, Sent::Reaction { .. })),
        "a slash command has no post to react to: {sent:#?}"
    );
    assert!(
        sent.iter().any(
            |s| matches!(s, Sent::Patch { message, .. } if message.starts_with("✅ **Completed**"))
        ),
        "the card in the thread ends completed: {sent:#?}"
    );
    assert_eq!(
        sim.requests().iter().filter(|r| r.method == "POST").count(),
        1,
        "one job"
    );
}

#[tokio::test]
async fn each_team_s_command_is_taken_with_that_team_s_token() {
    let (fake, sim) = world(5).await;
    let bot = start_with_tokens(&fake, &sim, &[command_token(TEAM), command_token(TEAM2)]);
    let url = command_url(&bot).await;
    for (team, channel) in [(TEAM, CHANNEL), (TEAM2, CHANNEL2)] {
        let typed = fake.slash_command(&url, team, channel, None, "help").await;
        assert_eq!(typed, Executed::Answered(200), "the command of {team}");
    }
    let third = "teamid000000000000000000003";
    let typed = fake.slash_command(&url, third, CHANNEL, None, "help").await;
    assert_eq!(
        typed,
        Executed::Answered(401),
        "a team whose token was not given"
    );
    fake.wait_sent(2).await;
    bot.stop().await.expect("a clean stop");
    let sent = fake.sent();
    let help = ephemerals(&sent);
    assert_eq!(help.len(), 2, "one help per accepted command: {sent:#?}");
    assert!(help.iter().all(|h| h.contains("fix ISSUE")), "{sent:#?}");
    assert_eq!(sent.len(), 2, "nothing else: {sent:#?}");
}
