//! Visible merges: finding paragraphs where concurrent edits by different
//! authors were merged.
//!
//! While a page has several heads, its latest changes are concurrent: each
//! head has changes no other head includes (its *branch*). A character
//! inserted by a branch's change belongs to that branch. A paragraph
//! (blank-line separated block of the body) holding characters of two
//! branches by different authors is a merge nobody has looked at yet. The
//! next edit (which depends on every head) or an explicit review ends it.

use std::collections::{BTreeSet, HashMap};

use automerge::{AutoCommit, ChangeHash};
use kith_protocol::AuthorId;

use super::MergeMark;
use super::doc::{author_of, body_obj, chars_with_ids};

/// Characters of a paragraph's start shown in notices (cut back to a
/// whole word, with `…`, when the paragraph goes on).
const EXCERPT: usize = 80;

/// The merge mark of the document as it is, if any.
pub(super) fn mark(doc: &mut AutoCommit) -> Option<MergeMark> {
    let heads = doc.get_heads();
    if heads.len() < 2 {
        return None;
    }
    let body = body_obj(doc)?;
    // Per author (= actor): (first op, last op, branch) of each branch change.
    let mut ranges: HashMap<AuthorId, Vec<(u64, u64, usize)>> = HashMap::new();
    for (branch, head) in heads.iter().enumerate() {
        let others: Vec<ChangeHash> = heads.iter().filter(|h| *h != head).copied().collect();
        for change in doc.get_changes(&others) {
            let Ok(actor) = <[u8; 32]>::try_from(change.actor_id().to_bytes()) else {
                continue;
            };
            if change.is_empty() {
                continue;
            }
            let start = change.start_op().get();
            ranges
                .entry(AuthorId::from_bytes(actor))
                .or_default()
                .push((start, start + change.len() as u64 - 1, branch));
        }
    }
    if ranges.is_empty() {
        return None;
    }
    let branch_of = |author: &AuthorId, counter: u64| {
        ranges
            .get(author)?
            .iter()
            .find(|(lo, hi, _)| (*lo..=*hi).contains(&counter))
            .map(|r| r.2)
    };
    let mut paragraphs: Vec<(String, BTreeSet<usize>, BTreeSet<AuthorId>)> =
        vec![(String::new(), BTreeSet::new(), BTreeSet::new())];
    let mut previous_newline = false;
    for (text, id) in chars_with_ids(doc, &body, None) {
        if text == "\n" && previous_newline {
            paragraphs.push((String::new(), BTreeSet::new(), BTreeSet::new()));
            previous_newline = false;
            continue;
        }
        previous_newline = text == "\n";
        let current = paragraphs.last_mut().expect("never empty");
        // One character past the excerpt says that the paragraph goes on.
        if current.0.chars().count() <= EXCERPT {
            current.0.push_str(&text);
        }
        if let Some((author, counter)) = author_of(&id)
            && let Some(branch) = branch_of(&author, counter)
        {
            current.1.insert(branch);
            current.2.insert(author);
        }
    }
    let mut authors: BTreeSet<AuthorId> = BTreeSet::new();
    let mut marked = Vec::new();
    for (i, (start, branches, by)) in paragraphs.into_iter().enumerate() {
        if branches.len() >= 2 && by.len() >= 2 {
            authors.extend(by);
            marked.push((i as u32, excerpt(&start)));
        }
    }
    (!marked.is_empty()).then(|| MergeMark {
        authors: authors.into_iter().collect(),
        paragraphs: marked,
    })
}

/// The start of a paragraph for a notice: whole words, `…` if cut.
fn excerpt(start: &str) -> String {
    let start = start.trim();
    if start.chars().count() <= EXCERPT {
        return start.to_string();
    }
    let cut = start
        .char_indices()
        .nth(EXCERPT)
        .map_or(start.len(), |(i, _)| i);
    let words = start[..cut].rfind(char::is_whitespace).unwrap_or(cut);
    format!("{}…", start[..words].trim_end())
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_excerpt_ends_on_a_whole_word() {
        assert_eq!(super::excerpt("Short paragraph."), "Short paragraph.");
        let long = "We meet at the station at six and lower it to 60 kilos before we leave for the hills on Friday";
        let cut = super::excerpt(long);
        assert!(cut.ends_with('…'), "{cut}");
        assert!(long.starts_with(cut.trim_end_matches('…')), "{cut}");
        assert!(cut.chars().count() <= super::EXCERPT + 1);
        let next = long[cut.trim_end_matches('…').len()..].chars().next();
        assert_eq!(next, Some(' '), "cut at a word boundary: {cut}");
    }
}
