//! The fake's custom slash commands: one `/mosaic` per team, each with its
//! own server-generated token, executed as Mattermost's server does when a
//! user types the command (`tryExecuteCustomCommand` and `DoCommandRequest`
//! in server/channels/app/command.go): a form POST to the command's URL with
//! the token, team, channel, user, text, trigger id, the thread's `root_id`,
//! and a `response_url` built from `ServiceSettings.SiteURL`, which the
//! server requires (`api.command.execute_command.site_url_required`).

use super::{ALICE, FakeMattermost};

/// What typing a slash command came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Executed {
    /// The command's URL answered with this status.
    Answered(u16),
    /// The server refused before calling the command, with this error id
    /// (what the user sees as an error under the message box).
    Refused(&'static str),
}

/// The token Mattermost generated for `/mosaic` in `team` (in the server a
/// `model.NewId()`: 26 lowercase letters and digits, one per command).
pub fn command_token(team: &str) -> String {
    // Team ids are ASCII: the cut is on a character boundary.
    format!("cmdtoken{}", &team[team.len().saturating_sub(18)..])
}

impl FakeMattermost {
    /// Unsets `ServiceSettings.SiteURL` (`None`), or sets it.
    pub fn set_site_url(&self, url: Option<String>) {
        self.shared.world().site_url = url;
    }

    /// Alice types `/mosaic TEXT` in `channel` of `team` (in the thread
    /// `root_id`, if given); the server calls `command_url` as command.go
    /// does, with the token of that team's command.
    pub async fn slash_command(
        &self,
        command_url: &str,
        team: &str,
        channel: &str,
        root_id: Option<&str>,
        text: &str,
    ) -> Executed {
        let (site_url, hook, trigger) = {
            let mut world = self.shared.world();
            world.next_id += 1;
            (
                world.site_url.clone(),
                format!("hook{:022}", world.next_id),
                format!("trigger{:019}", world.next_id),
            )
        };
        // command.go: `if siteURL == "" { return … site_url_required … }`,
        // before the command's URL is called.
        let Some(site_url) = site_url.filter(|u| !u.is_empty()) else {
            return Executed::Refused("api.command.execute_command.site_url_required.app_error");
        };
        let token = command_token(team);
        let form = [
            ("token", token.as_str()),
            ("team_id", team),
            ("team_domain", "acme"),
            ("channel_id", channel),
            ("channel_name", "town-square"),
            ("user_id", ALICE),
            ("user_name", "alice"),
            ("command", "/mosaic"),
            ("text", text),
            ("trigger_id", &trigger),
            // `p.Set("root_id", args.RootId)`: empty outside a thread.
            ("root_id", root_id.unwrap_or("")),
            ("response_url", &format!("{site_url}/hooks/commands/{hook}")),
        ];
        let answer = reqwest::Client::new()
            .post(command_url)
            .header("Accept", "application/json")
            // DoCommandRequest: `req.Header.Set("Authorization", "Token "+cmd.Token)`.
            .header("Authorization", format!("Token {token}"))
            .form(&form)
            .send()
            .await;
        match answer {
            Ok(response) => Executed::Answered(response.status().as_u16()),
            Err(_) => Executed::Refused("api.command.execute_command.failed.app_error"),
        }
    }
}
