//! Markdown as the words a reader sees: for excerpts, titles and search
//! snippets, where `**`, code fences, heading marks, link targets and list
//! bullets would show as clutter.

use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

/// Plain text, and where each of its bytes came from in the markdown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plain {
    /// The words: blocks on lines of their own, a soft line break as a
    /// space; no marks.
    pub text: String,
    /// For each byte of `text`, the byte of the markdown it stands for.
    pub source: Vec<usize>,
}

impl Plain {
    /// The bytes of `text` whose source lies in `start..end` of the
    /// markdown, as a range of `text` (`None` if none does).
    pub fn range_of(&self, start: usize, end: usize) -> Option<[usize; 2]> {
        let first = self.source.iter().position(|&s| s >= start && s < end)?;
        let last = self.source.iter().rposition(|&s| s >= start && s < end)?;
        // Whole characters: widen to the character boundaries.
        let mut last = last + 1;
        while !self.text.is_char_boundary(last) {
            last += 1;
        }
        Some([first, last])
    }

    fn push(&mut self, text: &str, at: usize, exact: bool) {
        for (i, _) in text.char_indices() {
            let next = text[i..].chars().next().map_or(1, char::len_utf8);
            let from = if exact { at + i } else { at };
            self.source.extend(std::iter::repeat_n(from, next));
        }
        self.text.push_str(text);
    }

    fn separate(&mut self, with: char, at: usize) {
        match self.text.chars().last() {
            None => {}
            Some('\n') => {}
            Some(' ') if with == ' ' => {}
            Some(' ') => {
                self.text.pop();
                self.source.pop();
                self.push("\n", at, false);
            }
            Some(_) => self.push(&with.to_string(), at, false),
        }
    }
}

/// `markdown` as plain text (see [`Plain`]). Wiki links (`[[Page]]`) keep
/// their page name.
pub fn plain(markdown: &str) -> Plain {
    let mut out = Plain {
        text: String::new(),
        source: Vec::new(),
    };
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    for (event, range) in Parser::new_ext(markdown, options).into_offset_iter() {
        match event {
            Event::Text(t) | Event::Code(t) => {
                let src = &markdown[range.clone()];
                let t = t.as_ref();
                match src.find(t) {
                    Some(i) => out.push(t, range.start + i, true),
                    None => out.push(t, range.start, false),
                }
            }
            Event::SoftBreak => out.separate(' ', range.start),
            Event::HardBreak => out.separate('\n', range.start),
            Event::Start(Tag::Item | Tag::TableCell) => out.separate(' ', range.start),
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Heading(_)
                | TagEnd::CodeBlock
                | TagEnd::Item
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::BlockQuote(_),
            ) => out.separate('\n', range.end.saturating_sub(1)),
            _ => {}
        }
    }
    while out.text.ends_with(['\n', ' ']) {
        out.text.pop();
        out.source.pop();
    }
    unwiki(&mut out);
    out
}

/// `[[Page]]` → `Page` (the parser leaves wiki links as text).
fn unwiki(out: &mut Plain) {
    while let Some(open) = out.text.find("[[") {
        let Some(close) = out.text[open..].find("]]").map(|c| open + c) else {
            break;
        };
        for cut in [close..close + 2, open..open + 2] {
            out.text.replace_range(cut.clone(), "");
            out.source.drain(cut);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_go_and_words_stay() {
        let md = "# Backups\n\nRun **`kith bundle`** nightly, see [the guide](http://x/y) and [[Trip plan]].\n\n```sh\nkith up\n```\n\n- [x] tent\n- stove\n";
        let p = plain(md);
        assert_eq!(
            p.text,
            "Backups\nRun kith bundle nightly, see the guide and Trip plan.\nkith up\ntent\nstove"
        );
        assert_eq!(p.text.len(), p.source.len());
        // Every byte maps back to the same character in the markdown.
        let word = p.text.find("nightly").unwrap();
        assert_eq!(&md[p.source[word]..p.source[word] + 7], "nightly");
        let code = p.text.find("kith bundle").unwrap();
        assert_eq!(&md[p.source[code]..p.source[code] + 11], "kith bundle");
        let at = md.find("nightly").unwrap();
        assert_eq!(p.range_of(at, at + 7), Some([word, word + 7]));
    }

    #[test]
    fn plain_text_stays_as_it_is() {
        for text in ["just words", "naïve café — ok", "a_b snake_case x*y"] {
            let p = plain(text);
            assert_eq!(p.text, text);
            // Each byte of a character stands for where the character begins.
            let starts: Vec<usize> = text
                .char_indices()
                .flat_map(|(i, c)| std::iter::repeat_n(i, c.len_utf8()))
                .collect();
            assert_eq!(p.source, starts);
        }
    }
}
