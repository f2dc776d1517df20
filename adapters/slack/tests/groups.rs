//! The adapter's user groups against the fake Slack: each message's author's
//! groups read with `usergroups.list`, cached, kept through a failed refresh,
//! and given up on (roles empty, messages still delivered) when Slack refuses
//! for good.

mod fake;
mod support;

use std::time::Duration;

use fake::{ALICE, CHANNEL, FakeSlack};
use mosaic_slack::COMMANDS_PATH;
use support::*;

/// Bob, a second user, and the user groups the tests give the workspace.
const BOB: &str = "UBOB0001";
const GROUPS: [(&str, &[&str]); 3] = [
    ("S0MAINT", &[ALICE, BOB]),
    ("S0OPS", &[BOB]),
    ("S0TRIAGE", &[ALICE]),
];

/// A `/mosaic` slash command's fields by `user`.
fn slash_fields(fake: &FakeSlack, user: &str, trigger: &str) -> Vec<(&'static str, String)> {
    vec![
        ("command", "/mosaic".into()),
        ("text", "status #1".into()),
        ("team_id", "T1".into()),
        ("channel_id", CHANNEL.into()),
        ("user_id", user.into()),
        ("trigger_id", trigger.into()),
        ("response_url", fake.response_url()),
    ]
}

#[tokio::test]
async fn mentions_and_slash_commands_carry_their_authors_user_groups_read_once() {
    let fake = FakeSlack::start().await;
    fake.set_user_groups(&GROUPS);
    let mut bot = start(options(&fake, true, true));
    let addr = bot.slack.http_addr().await.expect("the endpoint listens");
    fake.wait_connected(1).await;

    let ts = fake.mention(None, "<@UBOT0001> status #1");
    let mention = bot.next().await;
    assert_eq!(mention.message_id, ts);
    assert_eq!(mention.roles, ["S0MAINT", "S0TRIAGE"]);

    let over_socket: serde_json::Map<String, serde_json::Value> =
        slash_fields(&fake, ALICE, "trig-a")
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.into()))
            .collect();
    fake.envelope("slash_commands", over_socket.into());
    let slash = bot.next().await;
    assert!(slash.slash);
    assert_eq!(
        (slash.user.id.as_str(), slash.roles.clone()),
        (ALICE, vec!["S0MAINT".to_owned(), "S0TRIAGE".to_owned()])
    );

    let fields = slash_fields(&fake, BOB, "trig-b");
    let fields: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let form = serde_urlencoded_form(&fields);
    assert_eq!(
        signed(addr, COMMANDS_PATH, &form, SIGNING_SECRET, 0, false)
            .await
            .0,
        200
    );
    let over_http = bot.next().await;
    assert_eq!(
        (over_http.user.id.as_str(), over_http.roles.clone()),
        (BOB, vec!["S0MAINT".to_owned(), "S0OPS".to_owned()])
    );

    // Three messages within five minutes: one `usergroups.list`.
    assert_eq!(fake.user_groups_calls(), 1);
    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}

#[tokio::test]
async fn without_usergroups_read_roles_stay_empty_and_messages_still_arrive() {
    // No scope, a user token of the wrong type, a plan without user groups.
    for code in [
        "missing_scope",
        "not_allowed_token_type",
        "paid_teams_only",
        "plan_upgrade_required",
    ] {
        let fake = FakeSlack::start().await;
        fake.set_user_groups(&GROUPS);
        fake.refuse_user_groups(Some(code));
        let mut options = options(&fake, true, false);
        // Stale at once: only the refusal keeps the bot from asking again.
        options.user_groups_max_age = Duration::ZERO;
        let mut bot = start(options);
        fake.wait_connected(1).await;
        for text in ["<@UBOT0001> status #1", "<@UBOT0001> status #2"] {
            let ts = fake.mention(None, text);
            let inbound = bot.next().await;
            assert_eq!(inbound.message_id, ts, "{code}");
            assert!(inbound.roles.is_empty(), "{code}: {:?}", inbound.roles);
        }
        assert_eq!(
            fake.user_groups_calls(),
            1,
            "{code}: refused for good, asked once"
        );
        fake.wait_all_acked().await;
        bot.stop().await;
        assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
    }
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_groups_known_until_one_succeeds() {
    let fake = FakeSlack::start().await;
    fake.set_user_groups(&GROUPS);
    let mut options = options(&fake, true, false);
    options.user_groups_max_age = Duration::ZERO;
    let mut bot = start(options);
    fake.wait_connected(1).await;

    fake.mention(None, "<@UBOT0001> status #1");
    assert_eq!(bot.next().await.roles, ["S0MAINT", "S0TRIAGE"]);

    fake.refuse_user_groups(Some("internal_error"));
    fake.mention(None, "<@UBOT0001> status #2");
    assert_eq!(bot.next().await.roles, ["S0MAINT", "S0TRIAGE"]);

    fake.refuse_user_groups(None);
    fake.set_user_groups(&[("S0OPS", &[ALICE])]);
    fake.mention(None, "<@UBOT0001> status #3");
    assert_eq!(bot.next().await.roles, ["S0OPS"]);

    assert_eq!(fake.user_groups_calls(), 3);
    fake.wait_all_acked().await;
    bot.stop().await;
    assert!(fake.sent().is_empty(), "{:#?}", fake.sent());
}
