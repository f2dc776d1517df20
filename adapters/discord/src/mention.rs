//! The bot's own mentions in a message's text, found and rewritten to
//! `@{bot_name}` so the core's parser sees one grammar on every platform.

/// Who the bot is on Discord: its user id, and its managed roles (one per
/// guild, learnt from the guilds' role lists) so far.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BotIdentity {
    pub user_id: u64,
    pub role_ids: Vec<u64>,
}

/// `text` with every mention of the bot (`<@ID>`, `<@!ID>`, `<@&ROLE>`)
/// rewritten to `@{bot_name}`; `None` when the bot is not mentioned.
pub fn rewrite(text: &str, bot: &BotIdentity, bot_name: &str) -> Option<String> {
    let name = format!("@{bot_name}");
    let mut forms = vec![
        format!("<@{}>", bot.user_id),
        format!("<@!{}>", bot.user_id),
    ];
    forms.extend(bot.role_ids.iter().map(|role| format!("<@&{role}>")));
    let mut out = text.to_owned();
    let mut found = false;
    for form in &forms {
        if out.contains(form.as_str()) {
            found = true;
            out = out.replace(form.as_str(), &name);
        }
    }
    found.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bot() -> BotIdentity {
        BotIdentity {
            user_id: 42,
            role_ids: vec![7],
        }
    }

    #[test]
    fn user_and_nickname_mentions_become_the_name() {
        assert_eq!(
            rewrite("<@42> fix #1", &bot(), "mosaic").as_deref(),
            Some("@mosaic fix #1")
        );
        assert_eq!(
            rewrite("hey <@!42> status", &bot(), "mosaic").as_deref(),
            Some("hey @mosaic status")
        );
    }

    #[test]
    fn the_managed_role_counts_when_known() {
        assert_eq!(
            rewrite("<@&7> help", &bot(), "mosaic").as_deref(),
            Some("@mosaic help")
        );
        let no_role = BotIdentity {
            role_ids: Vec::new(),
            ..bot()
        };
        assert_eq!(rewrite("<@&7> help", &no_role, "mosaic"), None);
    }

    #[test]
    fn other_mentions_are_left_and_do_not_count() {
        assert_eq!(rewrite("<@421> fix #1", &bot(), "mosaic"), None);
        assert_eq!(
            rewrite("<@42> ask <@9>", &bot(), "m").as_deref(),
            Some("@m ask <@9>")
        );
    }
}
