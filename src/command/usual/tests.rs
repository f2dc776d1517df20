//! The usual reader held to the general one: whatever it answers, the general
//! reader answers too, and the usual forms do take the one-pass way.

use proptest::prelude::*;

use super::super::forge::{ForgeKind, Forges, RepoRef};
use super::super::parse_words;
use super::*;

/// Command texts made of the pieces that matter to both readers: actions
/// in any case, references valid and not, punctuation, other white space.
fn text() -> impl Strategy<Value = String> {
    let pieces = [
        "fix",
        "FiX",
        "status",
        "cancel",
        "retry",
        "verbose",
        "quiet",
        "help",
        "fxi",
        " ",
        "  ",
        "\t",
        "\u{a0}",
        "#42",
        "#0",
        "#",
        "#-1",
        "acme/web#7",
        "a/b/c#1",
        "acme/web#",
        "/web#1",
        "acme/#1",
        "acme#1",
        "a.b-c_/w.e-b_#3",
        "#99999999999999999999",
        "42",
        ".",
        ",",
        ")",
        "(",
        "*",
        "`",
        "<",
        ">",
        "|",
        "é",
        "https://github.com/acme/web/issues/9",
    ];
    proptest::collection::vec(proptest::sample::select(pieces.to_vec()), 0..7)
        .prop_map(|parts| parts.concat())
}

fn contexts() -> Vec<(Forges, Option<RepoRef>)> {
    let github = Forges::github_only();
    let gitlab = Forges::new([("gitlab.example.com".to_owned(), ForgeKind::Gitlab)]).unwrap();
    let default = RepoRef::parse("acme/web", &github).unwrap();
    vec![
        (github.clone(), Some(default)),
        (github, None),
        (gitlab, None),
    ]
}

proptest! {
    // More cases than the default: few of the random texts have the usual shape.
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// Whatever the one-pass reader answers, the general reader answers too.
    #[test]
    fn the_usual_reader_agrees_with_the_general_one(text in text()) {
        for (forges, default) in contexts() {
            let ctx = ParseContext { bot_name: "mosaic", default_repo: default.as_ref(), forges: &forges };
            if let Some(command) = command(&text, &ctx) {
                prop_assert_eq!(Ok(command), parse_words(&text, &ctx), "{:?}", text);
            }
        }
    }
}

#[test]
fn every_action_is_read_from_its_packed_word_in_any_case() {
    for action in Action::ALL {
        let word = action.word();
        for typed in [word.to_owned(), word.to_ascii_uppercase()] {
            let lower = typed.to_ascii_lowercase();
            assert_eq!(super::action(packed(&lower)), Some(action), "{typed}");
        }
    }
    assert_eq!(super::action(packed("fixx")), None);
    assert_eq!(super::action(packed("fi")), None);
}

/// Up to 19 digits the number is read here; beyond, the general reader
/// decides (a 20-digit number may still fit in 64 bits).
#[test]
fn long_numbers_are_read_here_up_to_nineteen_digits() {
    let (forges, default) = contexts().swap_remove(0);
    let ctx = ParseContext {
        bot_name: "mosaic",
        default_repo: default.as_ref(),
        forges: &forges,
    };
    let nineteen = "fix #9999999999999999999";
    assert_eq!(
        command(nineteen, &ctx).map(Ok),
        Some(parse_words(nineteen, &ctx))
    );
    for text in [
        "fix #18446744073709551615",
        "fix #18446744073709551616",
        "fix #00",
    ] {
        assert_eq!(command(text, &ctx), None, "{text}");
    }
    assert!(parse_words("fix #18446744073709551615", &ctx).is_ok());
    assert_eq!(
        command("fix #007", &ctx).map(Ok),
        Some(parse_words("fix #007", &ctx))
    );
}

#[test]
fn the_name_table_holds_what_forges_accept() {
    for b in 0..=255u8 {
        let name = b.is_ascii_alphanumeric() || b"_.-".contains(&b);
        assert_eq!(NAME[b as usize], name, "{b}");
    }
}

/// The usual forms do take the one-pass way (else it would be dead weight).
#[test]
fn the_usual_forms_are_read_in_one_pass() {
    for (forges, default) in contexts().into_iter().take(1) {
        let ctx = ParseContext {
            bot_name: "mosaic",
            default_repo: default.as_ref(),
            forges: &forges,
        };
        for text in [
            "",
            " fix acme/web#42",
            "FIX #7 ",
            "status",
            "quiet  #3",
            "verbose a.b-c_/w.e-b_#3",
        ] {
            assert_eq!(
                command(text, &ctx).map(Ok),
                Some(parse_words(text, &ctx)),
                "{text:?}"
            );
        }
        for text in [
            "fix",
            "fix #0",
            "help",
            "fix #4)",
            "fix a/b/c#1",
            "fix #1 now",
        ] {
            assert_eq!(command(text, &ctx), None, "{text:?}");
        }
    }
}
