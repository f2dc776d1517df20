//! How fast the command parser is, next to a straightforward regex-based
//! parser of the same grammar (the baseline the hand-written one must beat).
//!
//! Run: `cargo bench --bench parse`.
//!
//! Instruction counts, free of the machine's noise: with `PARSE_COUNT=N` the
//! binary parses each sample message N times and exits without criterion, so
//! `valgrind --tool=callgrind` run at two values of N gives the instructions
//! per parse as the difference divided by the difference of N (the binary is
//! `cargo bench --bench parse --no-run`'s executable; pass
//! `PARSE_COUNT_MESSAGE=valid|none|long` to pick one message, and
//! `PARSE_COUNT_PARSER=regex` to count the baseline instead).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group};
use mosaic_bot::command::{
    Command, ForgeKind, Forges, IssueKind, IssueRef, ParseContext, RepoRef, parse_message,
};
use regex::Regex;

const VALID: &str = "@mosaic fix acme/web#42";
const NO_COMMAND: &str = "looks good to me, merging after lunch";

/// About 4 KB of chat, with one command deep inside.
fn long_message() -> String {
    let filler = "We looked at the flaky test again today and it still fails on Tuesdays.\n";
    let mut text = filler.repeat(30);
    text.push_str("@mosaic fix acme/web#42\n");
    text.push_str(&filler.repeat(26));
    text
}

/// The baseline: what one would write first with regular expressions.
struct RegexParser {
    line: Regex,
    short: Regex,
    full: Regex,
    host: Arc<str>,
    default: RepoRef,
}

impl RegexParser {
    fn new(forges: &Forges, default: RepoRef) -> RegexParser {
        RegexParser {
            line: Regex::new(
                r"(?im)(?:^|[^\w.@/-])@mosaic(?:[^\w.@-]|$)[\s,:;]*(\S+)?\s*(\S+)?\s*(\S+)?",
            )
            .unwrap(),
            short: Regex::new(r"^#(\d+)$").unwrap(),
            full: Regex::new(r"^([\w.-]+)/([\w.-]+)#(\d+)$").unwrap(),
            host: forges.default_forge().host.clone(),
            default,
        }
    }

    fn parse(&self, text: &str) -> Vec<Result<Command, String>> {
        let issue = |word: &str| -> Result<IssueRef, String> {
            let word = word.trim_end_matches(['.', '!', '?', ',', ')']);
            if let Some(c) = self.short.captures(word) {
                let n: u64 = c[1].parse().map_err(|_| "too big".to_owned())?;
                return Ok(IssueRef::new(
                    &self.host,
                    &self.default.owner,
                    &self.default.repo,
                    n,
                    IssueKind::Issue,
                ));
            }
            let c = self.full.captures(word).ok_or("invalid")?;
            let n: u64 = c[3].parse().map_err(|_| "too big".to_owned())?;
            Ok(IssueRef::new(&self.host, &c[1], &c[2], n, IssueKind::Issue))
        };
        self.line
            .captures_iter(text)
            .map(|c| {
                let action = c.get(1).map_or("help", |m| m.as_str()).to_lowercase();
                let arg = c.get(2).map(|m| m.as_str());
                match (action.as_str(), arg) {
                    ("fix", Some(a)) => issue(a).map(Command::Fix),
                    ("fix", None) => Err("missing".into()),
                    ("status", a) => a.map(issue).transpose().map(Command::Status),
                    ("help", _) => Ok(Command::Help(None)),
                    _ => Err("unknown".into()),
                }
            })
            .collect()
    }
}

/// GitHub alone, with `acme/web` as the channel's repository.
fn forges_and_default() -> (Forges, RepoRef) {
    let forges = Forges::new([("github.com".to_owned(), ForgeKind::Github)]).unwrap();
    let default = RepoRef::parse("acme/web", &forges).unwrap();
    (forges, default)
}

fn context<'a>(forges: &'a Forges, default: &'a RepoRef) -> ParseContext<'a> {
    ParseContext {
        bot_name: "mosaic",
        default_repo: Some(default),
        forges,
    }
}

fn parser(c: &mut Criterion) {
    let (forges, default) = forges_and_default();
    let ctx = context(&forges, &default);
    let long = long_message();
    let baseline = RegexParser::new(&forges, default.clone());
    assert_eq!(baseline.parse(VALID).len(), 1);
    assert_eq!(parse_message(&long, &ctx).count(), 1);

    let mut group = c.benchmark_group("parse");
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(3));
    group.bench_function("valid_command", |b| {
        b.iter(|| parse_message(black_box(VALID), &ctx).for_each(|p| drop(black_box(p))))
    });
    group.bench_function("no_command", |b| {
        b.iter(|| parse_message(black_box(NO_COMMAND), &ctx).for_each(|p| drop(black_box(p))))
    });
    group.bench_function("long_message_4kb", |b| {
        b.iter(|| parse_message(black_box(&long), &ctx).for_each(|p| drop(black_box(p))))
    });
    group.bench_function("baseline_regex/valid_command", |b| {
        b.iter(|| black_box(baseline.parse(black_box(VALID))))
    });
    group.bench_function("baseline_regex/no_command", |b| {
        b.iter(|| black_box(baseline.parse(black_box(NO_COMMAND))))
    });
    group.bench_function("baseline_regex/long_message_4kb", |b| {
        b.iter(|| black_box(baseline.parse(black_box(&long))))
    });
    group.finish();
}

/// Parses one sample message `count` times, outside criterion (see the module
/// doc), with the regex baseline when `regex` is set.
fn count_only(count: usize, which: &str, regex: bool) {
    let (forges, default) = forges_and_default();
    let ctx = context(&forges, &default);
    let long = long_message();
    let text = match which {
        "none" => NO_COMMAND,
        "long" => &long,
        _ => VALID,
    };
    if regex {
        let baseline = RegexParser::new(&forges, default.clone());
        for _ in 0..count {
            black_box(baseline.parse(black_box(text)));
        }
        return;
    }
    for _ in 0..count {
        parse_message(black_box(text), &ctx).for_each(|p| drop(black_box(p)));
    }
}

criterion_group!(benches, parser);

fn main() {
    if let Ok(count) = std::env::var("PARSE_COUNT") {
        let count = count.parse().expect("PARSE_COUNT is a number");
        let which = std::env::var("PARSE_COUNT_MESSAGE").unwrap_or_default();
        let regex = std::env::var("PARSE_COUNT_PARSER").is_ok_and(|p| p == "regex");
        count_only(count, &which, regex);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
