//! The `/mosaic` application command: its definition, registered at start,
//! and an invocation read back as the text the core's slash parser takes
//! (`"{subcommand} {issue}"`).

use serde_json::{Value, json};

/// The subcommands, with what each does, as Discord shows them.
const SUBCOMMANDS: [(&str, &str); 7] = [
    ("fix", "Start a fix job for an issue"),
    ("status", "Show the job of this thread or of an issue"),
    ("cancel", "Cancel the job of this thread or of an issue"),
    ("retry", "Run the job of this thread or of an issue again"),
    ("verbose", "Relay every step's output"),
    ("quiet", "Relay milestones only"),
    ("help", "How to use the bot"),
];

/// Discord's option types: a subcommand, a string.
const SUB_COMMAND: u8 = 1;
const STRING: u8 = 3;

/// The command list for a bulk overwrite (`PUT …/commands`): `/{name}`
/// (lowercase, as Discord requires), described with the bot's `bot_name`.
pub fn definitions(name: &str, bot_name: &str) -> Value {
    let options: Vec<Value> = SUBCOMMANDS
        .iter()
        .map(|(name, description)| {
            let option = if *name == "help" {
                json!({ "type": STRING, "name": "command", "description": "The command to explain", "required": false })
            } else {
                json!({
                    "type": STRING,
                    "name": "issue",
                    "description": "The issue, like #42 or owner/repo#42",
                    "required": *name == "fix",
                })
            };
            json!({ "type": SUB_COMMAND, "name": name, "description": description, "options": [option] })
        })
        .collect();
    json!([{
        "type": 1,
        "name": name,
        "description": format!("Ask {bot_name} to fix an issue, or about its jobs"),
        "options": options,
    }])
}

/// The text of an invocation: the subcommand, then its argument if given.
pub fn invocation_text(subcommand: &str, argument: Option<&str>) -> String {
    match argument.map(str::trim).filter(|a| !a.is_empty()) {
        Some(arg) => format!("{subcommand} {arg}"),
        None => subcommand.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_subcommand_is_defined_with_its_option() {
        let defs = definitions("mosaic", "Mosaic");
        let options = defs[0]["options"].as_array().expect("options");
        let names: Vec<_> = options.iter().filter_map(|o| o["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "fix", "status", "cancel", "retry", "verbose", "quiet", "help"
            ]
        );
        assert_eq!(options[0]["options"][0]["required"], true);
        assert_eq!(options[6]["options"][0]["name"], "command");
    }

    #[test]
    fn invocations_read_as_slash_text() {
        assert_eq!(invocation_text("fix", Some("#42")), "fix #42");
        assert_eq!(invocation_text("status", None), "status");
        assert_eq!(invocation_text("help", Some("  ")), "help");
    }
}
