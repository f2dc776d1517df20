//! Neutral rich text: what the bot says, before a platform renders it.
//!
//! The core builds a [`Markup`] of blocks and spans; every adapter renders it
//! through its [`Dialect`] (Discord Markdown, Slack mrkdwn, Mattermost
//! Markdown, the console's plain text). Text that came from users or from a
//! job (`Span::Text`, code) is untrusted: the dialect escapes it so that it
//! shows as written and never pings anyone. [`render`] pages the result into
//! messages that fit the platform's length limit, splitting between blocks
//! first and inside a block only when one block alone is too long.

/// A piece of a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Span {
    /// Untrusted text, escaped by the dialect.
    Text(String),
    /// Untrusted text, shown in bold.
    Bold(String),
    /// Untrusted text, shown as inline code.
    Code(String),
    /// A link; the label is untrusted text.
    Link { label: String, url: String },
    /// A progress bar at this percent (0 to 100), as the dialect draws one.
    Progress(u8),
}

impl Span {
    pub fn text(text: impl Into<String>) -> Span {
        Span::Text(text.into())
    }

    pub fn bold(text: impl Into<String>) -> Span {
        Span::Bold(text.into())
    }

    pub fn code(text: impl Into<String>) -> Span {
        Span::Code(text.into())
    }

    /// A progress bar; percents above 100 are drawn as 100.
    pub fn progress(percent: u32) -> Span {
        Span::Progress(u8::try_from(percent.min(100)).unwrap_or(100))
    }

    pub fn link(label: impl Into<String>, url: impl Into<String>) -> Span {
        Span::Link {
            label: label.into(),
            url: url.into(),
        }
    }
}

/// A block of a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Block {
    /// One line of spans.
    Line(Vec<Span>),
    /// Preformatted text (step output), untrusted.
    CodeBlock(String),
    /// A bulleted list, one line of spans per item.
    List(Vec<Vec<Span>>),
}

/// A message before rendering: blocks, one under the other.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Markup {
    pub blocks: Vec<Block>,
}

impl Markup {
    pub fn new() -> Markup {
        Markup::default()
    }

    /// Adds a line of spans.
    pub fn line(mut self, spans: impl IntoIterator<Item = Span>) -> Markup {
        self.blocks.push(Block::Line(spans.into_iter().collect()));
        self
    }

    /// Adds preformatted text.
    pub fn code_block(mut self, text: impl Into<String>) -> Markup {
        self.blocks.push(Block::CodeBlock(text.into()));
        self
    }

    /// Adds a bulleted list.
    pub fn list(mut self, items: impl IntoIterator<Item = Vec<Span>>) -> Markup {
        self.blocks.push(Block::List(items.into_iter().collect()));
        self
    }

    /// Appends every block of `other`.
    pub fn append(mut self, other: Markup) -> Markup {
        self.blocks.extend(other.blocks);
        self
    }

    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// About how many bytes its text takes rendered: what a page is allocated with, so that
    /// rendering rarely grows it (markers, fences and escapes add a little; a progress bar
    /// takes about 40 bytes).
    fn text_len(&self) -> usize {
        fn spans_len(spans: &[Span]) -> usize {
            spans
                .iter()
                .map(|span| match span {
                    Span::Text(t) | Span::Bold(t) | Span::Code(t) => t.len() + 4,
                    Span::Link { label, url } => label.len() + url.len() + 4,
                    Span::Progress(_) => 40,
                })
                .sum()
        }
        self.blocks
            .iter()
            .map(|block| match block {
                Block::Line(spans) => spans_len(spans),
                Block::CodeBlock(text) => text.len() + 8,
                Block::List(items) => items.iter().map(|item| spans_len(item) + 4).sum(),
            } + 1)
            .sum()
    }
}

/// How one platform writes rich text. Every method appends to `out`; every
/// text argument except `url` is untrusted and must be escaped.
pub trait Dialect: Send + Sync {
    /// Plain text, escaped so it renders as written and mentions nobody.
    fn text(&self, out: &mut String, text: &str);
    fn bold(&self, out: &mut String, text: &str);
    fn code(&self, out: &mut String, text: &str);
    fn link(&self, out: &mut String, label: &str, url: &str);
    /// A preformatted block; `text` may hold any characters, fences included.
    fn code_block(&self, out: &mut String, text: &str);
    /// What starts a list item.
    fn bullet(&self) -> &'static str {
        "• "
    }
    /// A progress bar at `percent` (at most 100): by default
    /// [`PROGRESS_CELLS`] cells, `▰▰▰▱▱▱ 50%`, which every platform shows as
    /// text; a dialect with a better way to show progress overrides it.
    fn progress(&self, out: &mut String, percent: u8) {
        progress_bar(out, percent);
    }
}

/// How many cells the default progress bar has.
pub const PROGRESS_CELLS: usize = 10;

/// `▰▰▰▰▰▱▱▱▱▱ 50%`: a cell is full once its whole share is done, so the bar
/// is full only at 100%.
pub fn progress_bar(out: &mut String, percent: u8) {
    let percent = usize::from(percent.min(100));
    let full = percent * PROGRESS_CELLS / 100;
    out.extend(std::iter::repeat_n('▰', full));
    out.extend(std::iter::repeat_n('▱', PROGRESS_CELLS - full));
    out.push_str(&format!(" {percent}%"));
}

/// Renders one block.
pub fn render_block(block: &Block, dialect: &dyn Dialect) -> String {
    let mut out = String::new();
    render_block_into(&mut out, block, dialect);
    out
}

/// Appends one block to `out`.
fn render_block_into(out: &mut String, block: &Block, dialect: &dyn Dialect) {
    match block {
        Block::Line(spans) => render_spans(out, spans, dialect),
        Block::CodeBlock(text) => dialect.code_block(out, text),
        Block::List(items) => {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push('\n');
                }
                out.push_str(dialect.bullet());
                render_spans(out, item, dialect);
            }
        }
    }
}

fn render_spans(out: &mut String, spans: &[Span], dialect: &dyn Dialect) {
    for span in spans {
        match span {
            Span::Text(t) => dialect.text(out, t),
            Span::Bold(t) => dialect.bold(out, t),
            Span::Code(t) => dialect.code(out, t),
            Span::Link { label, url } => dialect.link(out, label, url),
            Span::Progress(percent) => dialect.progress(out, *percent),
        }
    }
}

/// Renders `markup` into messages of at most `max_chars` characters each.
///
/// Blocks are packed whole while they fit; a block longer than a message is
/// split: a code block by lines (each part a code block of its own, so no
/// fence is left open), any other block at the last line break or space
/// before the limit.
pub fn render(markup: &Markup, dialect: &dyn Dialect, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(16);
    let mut pages: Vec<String> = Vec::new();
    // A block is rendered straight onto the page, its characters counted as they were
    // added; only one longer than a whole message is rendered again in parts. This is the
    // path of every relayed event and card edit: one buffer per page, not a `String` and a
    // `Vec` per block copied into it.
    let mut page = String::with_capacity(markup.text_len().min(max_chars.saturating_mul(4)) + 16);
    let mut page_chars = 0;
    for block in &markup.blocks {
        let start = page.len();
        let sep = usize::from(start > 0);
        if sep == 1 {
            page.push('\n');
        }
        render_block_into(&mut page, block, dialect);
        let chars = page[start + sep..].chars().count();
        if chars <= max_chars {
            if page_chars + sep + chars <= max_chars {
                page_chars += sep + chars;
                continue;
            }
            // It fits a message of its own: it begins the next page.
            let block_text = page.split_off(start + sep);
            page.truncate(start);
            pages.push(std::mem::replace(&mut page, block_text));
            page_chars = chars;
            continue;
        }
        let whole = page.split_off(start + sep);
        page.truncate(start);
        let parts = match block {
            Block::CodeBlock(text) => split_code(text, dialect, max_chars),
            _ => split_text(&whole, max_chars),
        };
        for part in parts {
            place(&mut pages, &mut page, &mut page_chars, &part, max_chars);
        }
    }
    if !page.is_empty() {
        pages.push(page);
    }
    pages
}

/// Adds `part` (at most `max_chars` long) to the page, beginning the next one when the page
/// has no room for it.
fn place(
    pages: &mut Vec<String>,
    page: &mut String,
    page_chars: &mut usize,
    part: &str,
    max_chars: usize,
) {
    let chars = part.chars().count();
    let sep = usize::from(!page.is_empty());
    if *page_chars + sep + chars > max_chars && !page.is_empty() {
        pages.push(std::mem::take(page));
        *page_chars = 0;
    }
    if !page.is_empty() {
        page.push('\n');
        *page_chars += 1;
    }
    page.push_str(part);
    *page_chars += chars;
}

/// Splits preformatted text into code blocks that each fit.
fn split_code(text: &str, dialect: &dyn Dialect, max_chars: usize) -> Vec<String> {
    let mut empty = String::new();
    dialect.code_block(&mut empty, "");
    // Room for the text itself, once fences are written; escaping may grow
    // it, so each part is checked after rendering and halved if needed.
    let room = max_chars.saturating_sub(empty.chars().count()).max(8);
    let mut parts = Vec::new();
    for chunk in split_text(text, room) {
        let mut rendered = String::new();
        dialect.code_block(&mut rendered, &chunk);
        if rendered.chars().count() <= max_chars || chunk.chars().count() <= 8 {
            parts.push(rendered);
        } else {
            parts.extend(split_code(&chunk, dialect, max_chars * 3 / 4));
        }
    }
    parts
}

/// Splits text into pieces of at most `max_chars` characters, at the last
/// line break, else the last space, else exactly at the limit.
fn split_text(text: &str, max_chars: usize) -> Vec<String> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while rest.chars().count() > max_chars {
        let limit = rest
            .char_indices()
            .nth(max_chars)
            .map_or(rest.len(), |(i, _)| i);
        let head = &rest[..limit];
        let cut = head
            .rfind('\n')
            .or_else(|| head.rfind(' '))
            .filter(|&i| i > 0)
            .unwrap_or(limit);
        pieces.push(rest[..cut].to_owned());
        rest = &rest[cut..];
        rest = rest.strip_prefix('\n').unwrap_or(rest);
    }
    if !rest.is_empty() {
        pieces.push(rest.to_owned());
    }
    pieces
}

/// Writes text as is: for logs, tests and terminals, where nothing pings.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainDialect;

impl Dialect for PlainDialect {
    fn text(&self, out: &mut String, text: &str) {
        out.push_str(text);
    }

    fn bold(&self, out: &mut String, text: &str) {
        out.push_str(text);
    }

    fn code(&self, out: &mut String, text: &str) {
        out.push('`');
        out.push_str(text);
        out.push('`');
    }

    fn link(&self, out: &mut String, label: &str, url: &str) {
        if label == url {
            out.push_str(url);
        } else {
            out.push_str(label);
            out.push_str(" (");
            out.push_str(url);
            out.push(')');
        }
    }

    fn code_block(&self, out: &mut String, text: &str) {
        out.push_str(text);
    }

    fn bullet(&self) -> &'static str {
        "- "
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A dialect with visible fences, to see where code blocks split.
    struct Fenced;

    impl Dialect for Fenced {
        fn text(&self, out: &mut String, text: &str) {
            out.push_str(&text.replace('@', "@\u{200b}"));
        }
        fn bold(&self, out: &mut String, text: &str) {
            out.push('*');
            self.text(out, text);
            out.push('*');
        }
        fn code(&self, out: &mut String, text: &str) {
            out.push('`');
            out.push_str(text);
            out.push('`');
        }
        fn link(&self, out: &mut String, label: &str, url: &str) {
            out.push_str(&format!("[{label}]({url})"));
        }
        fn code_block(&self, out: &mut String, text: &str) {
            out.push_str("```\n");
            out.push_str(text);
            out.push_str("\n```");
        }
    }

    #[test]
    fn blocks_render_through_the_dialect() {
        let m = Markup::new()
            .line([
                Span::bold("Done"),
                Span::text(" by @everyone "),
                Span::link("PR", "https://x/1"),
            ])
            .list([vec![Span::code("a")], vec![Span::text("b")]]);
        assert_eq!(
            render(&m, &Fenced, 1000),
            ["*Done* by @\u{200b}everyone [PR](https://x/1)\n• `a`\n• b"]
        );
    }

    #[test]
    fn blocks_are_packed_whole_into_pages() {
        let m = Markup::new()
            .line([Span::text("a".repeat(10))])
            .line([Span::text("b".repeat(10))])
            .line([Span::text("c".repeat(10))]);
        let pages = render(&m, &PlainDialect, 21);
        assert_eq!(
            pages,
            [
                format!("{}\n{}", "a".repeat(10), "b".repeat(10)),
                "c".repeat(10)
            ]
        );
    }

    #[test]
    fn a_long_code_block_becomes_several_closed_blocks() {
        let text: Vec<String> = (0..50).map(|i| format!("line {i:02}")).collect();
        let m = Markup::new().code_block(text.join("\n"));
        let pages = render(&m, &Fenced, 100);
        assert!(pages.len() > 1);
        for page in &pages {
            assert!(page.chars().count() <= 100, "{page}");
            assert_eq!(
                page.matches("```").count() % 2,
                0,
                "fences stay closed: {page}"
            );
        }
        let joined: String = pages.join("\n");
        for line in &text {
            assert!(joined.contains(line.as_str()), "nothing is lost: {line}");
        }
    }

    #[test]
    fn a_long_line_without_spaces_is_cut_at_the_limit_on_a_char_boundary() {
        let m = Markup::new().line([Span::text("é".repeat(45))]);
        let pages = render(&m, &PlainDialect, 20);
        assert_eq!(
            pages.iter().map(|p| p.chars().count()).collect::<Vec<_>>(),
            [20, 20, 5]
        );
    }

    #[test]
    fn a_progress_bar_fills_a_cell_per_tenth_done() {
        let bar = |p| render(&Markup::new().line([Span::progress(p)]), &PlainDialect, 100);
        assert_eq!(bar(0), ["▱▱▱▱▱▱▱▱▱▱ 0%"]);
        assert_eq!(bar(50), ["▰▰▰▰▰▱▱▱▱▱ 50%"]);
        assert_eq!(bar(99), ["▰▰▰▰▰▰▰▰▰▱ 99%"]);
        assert_eq!(bar(100), ["▰▰▰▰▰▰▰▰▰▰ 100%"]);
        assert_eq!(bar(250), bar(100), "over 100 is drawn as 100");
    }

    #[test]
    fn an_empty_markup_renders_nothing() {
        assert!(render(&Markup::new(), &PlainDialect, 100).is_empty());
    }
}
