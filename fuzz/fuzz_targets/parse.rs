//! Fuzzes the command parser: any bytes that are UTF-8, as a chat message and
//! as a slash command's text, must parse without a panic, and whatever parses
//! must print back to a command that parses to itself.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mosaic_bot::command::{
    canonical, parse_message, parse_slash, ForgeKind, Forges, ParseContext, RepoRef,
};

/// Built once: compiling the forge link patterns per input would make the
/// fuzzer measure regex compilation instead of the parser.
fn setup() -> &'static (Forges, RepoRef) {
    static SETUP: OnceLock<(Forges, RepoRef)> = OnceLock::new();
    SETUP.get_or_init(|| {
        let forges = Forges::new([
            ("github.com".to_owned(), ForgeKind::Github),
            ("gitlab.example.com".to_owned(), ForgeKind::Gitlab),
            ("gitea.example.com".to_owned(), ForgeKind::Gitea),
        ])
        .expect("valid forges");
        let repo = RepoRef::parse("acme/web", &forges).expect("valid repo");
        (forges, repo)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (forges, repo) = setup();
    let ctx = ParseContext {
        bot_name: "mosaic",
        default_repo: Some(repo),
        forges,
    };
    for parsed in parse_message(text, &ctx).chain(parse_slash(text, &ctx)) {
        assert!(parsed.line >= 1);
        if let Ok(command) = parsed.result {
            let again = format!("@mosaic {}", canonical(&command, forges));
            let back: Vec<_> = parse_message(&again, &ctx).collect();
            assert_eq!(back.len(), 1, "{again:?}");
            assert_eq!(back[0].result.as_ref(), Ok(&command), "{again:?}");
        } else if let Err(e) = parsed.result {
            assert!(!e.to_string().is_empty());
        }
    }
});
