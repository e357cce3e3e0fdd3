//! What a search matches, and the snippet shown for each hit.
//!
//! A search matches the words typed (through tantivy's query parser, so
//! quotes, `+` and `-` keep their meaning), and, ranked below those, the
//! indexed words that the last typed word begins (`merg` → `merge`,
//! `merging`: the word still being typed) and the indexed words one typo
//! away from a typed word the index holds in fewer than
//! [`TYPO_UNLESS_IN`] documents (`protocl` → `protocol`; a word many posts
//! contain is taken as typed, as Lucene's spell checker does by default).
//! The expansions are read from the index's own term dictionaries with
//! tantivy's Levenshtein automata, so the snippet can highlight them too.
//!
//! Those two limits halve a three-word search at a million entries: the
//! walks of the term dictionaries and the unions of up to 32 expansions per
//! word were most of its time (docs/BENCHMARKS.md, "Expansions where they
//! help").

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use tantivy::query::{BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, Searcher, Term};

use super::{Fields, Result, io};

/// Shortest typed word whose prefixes are searched.
const PREFIX_MIN_CHARS: usize = 2;
/// Shortest typed word searched with one typo.
const TYPO_MIN_CHARS: usize = 4;
/// A typed word is also searched with one typo unless at least this many
/// documents (posts and pages) hold it as typed.
pub(super) const TYPO_UNLESS_IN: u64 = 5;
/// Most expansions kept per typed word (the most frequent ones).
const EXPANSIONS_PER_WORD: usize = 32;
/// How much an exact hit outweighs an expansion.
const EXACT_BOOST: f32 = 4.0;
/// Most typed words expanded.
const MAX_WORDS: usize = 16;

/// A fragment of a hit's text around what matched.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snippet {
    /// Plain text (markdown as written), with `…` where it was cut.
    pub text: String,
    /// Byte ranges `[start, end)` of `text` that matched, in order.
    pub matches: Vec<[usize; 2]>,
}

/// The words of a search, typed and expanded.
pub(super) struct Words {
    /// Typed words, as the index tokenizes them.
    typed: Vec<String>,
    /// Indexed words that a typed word begins or is one typo from.
    expanded: Vec<String>,
}

impl Words {
    /// Tokenizes `text` the way the index does, and expands each word that
    /// is not quoted or excluded.
    pub(super) fn of(index: &Index, searcher: &Searcher, f: &Fields, text: &str) -> Result<Words> {
        let mut analyzer = index.tokenizer_for_field(f.body)?;
        let mut typed = Vec::new();
        let mut expandable = Vec::new();
        for (i, part) in text.split('"').enumerate() {
            let quoted = i % 2 == 1;
            for word in part.split_whitespace() {
                let excluded = word.starts_with('-');
                let mut stream = analyzer.token_stream(word);
                while stream.advance() {
                    let t = stream.token().text.clone();
                    if excluded {
                        continue;
                    }
                    if !quoted && !expandable.contains(&t) {
                        expandable.push(t.clone());
                    }
                    if !typed.contains(&t) {
                        typed.push(t);
                    }
                }
            }
        }
        expandable.truncate(MAX_WORDS);
        let mut expanded = Vec::new();
        let last = expandable.len().saturating_sub(1);
        for (i, word) in expandable.iter().enumerate() {
            let prefix = i == last;
            let typo = docs_with(searcher, f, word)? < TYPO_UNLESS_IN;
            for term in expansions(searcher, f, word, prefix, typo)? {
                if !typed.contains(&term) && !expanded.contains(&term) {
                    expanded.push(term);
                }
            }
        }
        Ok(Words { typed, expanded })
    }

    /// `exact` (the parsed query), or else one of the expansions, ranked
    /// below exact hits.
    pub(super) fn query(&self, exact: Box<dyn Query>, f: &Fields) -> Box<dyn Query> {
        if self.expanded.is_empty() {
            return exact;
        }
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            vec![(Occur::Should, Box::new(BoostQuery::new(exact, EXACT_BOOST)))];
        for word in &self.expanded {
            for (field, boost) in [(f.title, 2.0), (f.body, 1.0)] {
                clauses.push((
                    Occur::Should,
                    Box::new(BoostQuery::new(term_query(field, word), boost)),
                ));
            }
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// Every word to highlight in `field`.
    pub(super) fn highlight(&self, field: Field) -> BooleanQuery {
        BooleanQuery::new(
            self.typed
                .iter()
                .chain(&self.expanded)
                .map(|w| (Occur::Should, term_query(field, w)))
                .collect(),
        )
    }
}

fn term_query(field: Field, word: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, word),
        IndexRecordOption::WithFreqs,
    ))
}

/// How many documents hold `word` in their title or body (a document with
/// it in both counts twice: this only decides whether `word` is common).
fn docs_with(searcher: &Searcher, f: &Fields, word: &str) -> Result<u64> {
    let mut docs = 0;
    for segment in searcher.segment_readers() {
        for field in [f.title, f.body] {
            let terms = segment.inverted_index(field)?;
            if let Some(info) = terms.terms().get(word.as_bytes()).map_err(io)? {
                docs += u64::from(info.doc_freq);
            }
        }
    }
    Ok(docs)
}

/// Indexed words of the title and body that `word` begins (if `prefix`),
/// or that are one edit from it (if `typo`), most frequent first.
fn expansions(
    searcher: &Searcher,
    f: &Fields,
    word: &str,
    prefix: bool,
    typo: bool,
) -> Result<Vec<String>> {
    let chars = word.chars().count();
    let mut automata = Vec::new();
    if prefix && chars >= PREFIX_MIN_CHARS {
        automata.push(FuzzyTermQuery::new_prefix(
            Term::from_field_text(f.body, word),
            0,
            false,
        ));
    }
    if typo && chars >= TYPO_MIN_CHARS {
        automata.push(FuzzyTermQuery::new(
            Term::from_field_text(f.body, word),
            1,
            true,
        ));
    }
    let mut found: HashMap<String, u64> = HashMap::new();
    for query in automata {
        // Built once per typed word, not once per segment and field: at a
        // million entries those builds were an eighth of a search's time.
        let automaton = query.automaton()?;
        for segment in searcher.segment_readers() {
            for field in [f.title, f.body] {
                let index = segment.inverted_index(field)?;
                let mut stream = index.terms().search(&automaton).into_stream().map_err(io)?;
                while stream.advance() {
                    if let Ok(term) = std::str::from_utf8(stream.key()) {
                        *found.entry(term.to_string()).or_default() +=
                            u64::from(stream.value().doc_freq);
                    }
                }
            }
        }
    }
    found.remove(word);
    let mut found: Vec<(String, u64)> = found.into_iter().collect();
    found.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    found.truncate(EXPANSIONS_PER_WORD);
    Ok(found.into_iter().map(|(w, _)| w).collect())
}

/// The snippet of a hit's `body`: the best fragment tantivy finds for the
/// highlighted words, widened to whole words, with `…` where it was cut;
/// or the start of the body when only the title matched. In plain words:
/// markdown marks (`**`, code fences, heading marks, link targets) left
/// out, lines joined.
pub(super) fn snippet(generator: &SnippetGenerator, body: &str, max_chars: usize) -> Snippet {
    let marked = marked_snippet(generator, body, max_chars);
    let plain = crate::text::plain(&marked.text);
    Snippet {
        text: plain.text.replace('\n', " "),
        matches: marked
            .matches
            .iter()
            .filter_map(|&[start, end]| plain.range_of(start, end))
            .collect(),
    }
}

fn marked_snippet(generator: &SnippetGenerator, body: &str, max_chars: usize) -> Snippet {
    let found = generator.snippet(body);
    let fragment = found.fragment();
    if fragment.is_empty() {
        return head(body, max_chars);
    }
    // tantivy's fragment ends with the last token it kept: widen it to the
    // end of that word (punctuation included) so nothing is cut mid-word.
    let Some(start) = body.find(fragment) else {
        return Snippet {
            text: fragment.to_string(),
            matches: found
                .highlighted()
                .iter()
                .map(|r| [r.start, r.end])
                .collect(),
        };
    };
    let mut end = start + fragment.len();
    end += body[end..]
        .find(char::is_whitespace)
        .unwrap_or(body.len() - end);
    let mut text = String::new();
    let mut shift = 0;
    if start > 0 {
        text.push('…');
        shift = '…'.len_utf8();
    }
    text.push_str(&body[start..end]);
    if end < body.len() {
        text.push('…');
    }
    Snippet {
        text,
        matches: found
            .highlighted()
            .iter()
            .map(|r| [r.start + shift, r.end + shift])
            .collect(),
    }
}

/// The first `max_chars` characters of `body`, cut at a word boundary.
fn head(body: &str, max_chars: usize) -> Snippet {
    let body = body.trim();
    if body.chars().count() <= max_chars {
        return Snippet {
            text: body.to_string(),
            matches: vec![],
        };
    }
    let cut = body
        .char_indices()
        .nth(max_chars)
        .map_or(body.len(), |(i, _)| i);
    let cut = body[..cut].rfind(char::is_whitespace).unwrap_or(cut);
    Snippet {
        text: format!("{}…", body[..cut].trim_end()),
        matches: vec![],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_head_of_a_body_is_cut_between_words() {
        let s = head("alpha beta gamma", 8);
        assert_eq!(s.text, "alpha…");
        assert_eq!(head("short", 8).text, "short");
    }
}
