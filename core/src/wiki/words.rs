//! Word-level text differences: the splices an edit becomes, and the diffs
//! history shows.
//!
//! Text is cut into *tokens*: a run of letters and digits (a word), a run of
//! whitespace, or any other single character. Differences are computed on
//! tokens, never inside one, so a splice deletes and inserts whole words.
//! That is what keeps concurrent rewrites of one passage readable: each
//! side's inserted run is one Automerge insertion chain, which a merge keeps
//! contiguous, and a word is never stitched together from letters that
//! happened to be shared with the old text (the character-level diff did
//! that, and concurrent splices in one region then interleaved letters).

use std::time::{Duration, Instant};

use similar::{Algorithm, DiffOp};

/// How long a diff may search for the smallest edit before it settles for
/// a larger one (a correct but coarser edit).
const DEADLINE: Duration = Duration::from_secs(2);

/// Splits text into tokens (see the module docs). Concatenated, the tokens
/// are the text.
pub fn tokens(text: &str) -> Vec<&str> {
    #[derive(PartialEq, Clone, Copy)]
    enum Class {
        Word,
        Space,
        Other,
    }
    let class = |c: char| {
        if c.is_alphanumeric() || c == '_' {
            Class::Word
        } else if c.is_whitespace() {
            Class::Space
        } else {
            Class::Other
        }
    };
    let mut out = Vec::new();
    let mut start = 0;
    let mut current: Option<Class> = None;
    for (i, c) in text.char_indices() {
        let k = class(c);
        if let Some(prev) = current
            && (prev != k || k == Class::Other)
        {
            out.push(&text[start..i]);
            start = i;
        }
        current = Some(k);
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

fn is_word(token: &str) -> bool {
    token.chars().any(|c| c.is_alphanumeric() || c == '_')
}

/// One difference between two texts, in tokens. In JSON:
/// `{"op": "same" | "removed" | "added", "text": …}`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "op", content = "text", rename_all = "lowercase")]
pub enum Piece {
    Same(String),
    Removed(String),
    Added(String),
}

/// A word-level diff of `old` into `new`, with changes next to each other
/// merged (removed text first, then added text).
pub fn diff(old: &str, new: &str) -> Vec<Piece> {
    let a = tokens(old);
    let b = tokens(new);
    let mut out: Vec<Piece> = Vec::new();
    for (old_range, new_range, equal) in hunks(&a, &b) {
        let removed: String = a[old_range.clone()].concat();
        let added: String = b[new_range].concat();
        if equal {
            out.push(Piece::Same(removed));
            continue;
        }
        if !removed.is_empty() {
            out.push(Piece::Removed(removed));
        }
        if !added.is_empty() {
            out.push(Piece::Added(added));
        }
    }
    out
}

/// The splices `(position, deleted, inserted)` (positions and lengths in
/// code points of `old`, in increasing order) that turn `old` into `new`,
/// each covering whole tokens. Applied from last to first, positions stay
/// valid.
///
/// Line endings compare equal whatever their form (`\r\n` in `old`, a text
/// stored before every write path made them `\n`, is the same as `\n` in
/// `new`): an edit that changes only line endings changes nothing, and
/// lines an edit does not touch keep their author.
pub fn splices(old: &str, new: &str) -> Vec<(usize, usize, String)> {
    let a = tokens(old);
    let b = tokens(new);
    let same_endings: Vec<std::borrow::Cow<'_, str>> =
        a.iter().map(|t| crate::text::newlines(t)).collect();
    let a_compared: Vec<&str> = same_endings.iter().map(|t| t.as_ref()).collect();
    let mut starts = Vec::with_capacity(a.len() + 1);
    let mut pos = 0;
    for t in &a {
        starts.push(pos);
        pos += t.chars().count();
    }
    starts.push(pos);
    let mut out: Vec<(usize, usize, String)> = Vec::new();
    for (old_range, new_range, equal) in hunks(&a_compared, &b) {
        if equal {
            continue;
        }
        let mut from = old_range.start;
        let mut inserted = b[new_range].concat();
        // A replacement takes the space before it along (deleted and
        // written again in front of the new words): two concurrent
        // replacements of one passage then stay apart ("… (bob wording)
        // concurrent edits …", not "…wording)concurrent…").
        let replaces = old_range.start < old_range.end && !inserted.is_empty();
        let space_before = from > 0
            && a[from - 1].chars().all(char::is_whitespace)
            && out
                .last()
                .is_none_or(|last| last.0 + last.1 <= starts[from - 1]);
        if replaces && space_before {
            from -= 1;
            inserted.insert_str(0, a[from]);
        }
        let at = starts[from];
        out.push((at, starts[old_range.end] - at, inserted));
    }
    out
}

type Hunk = (std::ops::Range<usize>, std::ops::Range<usize>, bool);

/// Token ranges `(old, new, equal)` covering both sequences. An unchanged
/// stretch between two changes that holds no word (a space, a comma) is
/// folded into the change around it, so a rewritten passage becomes one
/// replacement instead of many small ones anchored between its words.
fn hunks(a: &[&str], b: &[&str]) -> Vec<Hunk> {
    let ops = similar::capture_diff_slices_deadline(
        Algorithm::Myers,
        a,
        b,
        Some(Instant::now() + DEADLINE),
    );
    let mut raw: Vec<Hunk> = Vec::new();
    // Ranges from running positions: the `new_index` similar reports for a
    // deletion is not always where it falls in `b`.
    let (mut at_a, mut at_b) = (0, 0);
    for op in ops {
        let equal = matches!(op, DiffOp::Equal { .. });
        let (o, n) = (
            at_a..at_a + op.old_range().len(),
            at_b..at_b + op.new_range().len(),
        );
        (at_a, at_b) = (o.end, n.end);
        match raw.last_mut() {
            Some(last) if last.2 == equal => {
                last.0.end = o.end;
                last.1.end = n.end;
            }
            _ => raw.push((o, n, equal)),
        }
    }
    slide(&mut raw, a, b);
    let mut out: Vec<Hunk> = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        let (o, n, equal) = raw[i].clone();
        let between_changes = equal && i > 0 && i + 1 < raw.len();
        if between_changes
            && !a[o.clone()].iter().any(|t| is_word(t))
            && let Some(last) = out.last_mut()
        {
            // Fold this stretch and the next change into the previous one.
            let (next_o, next_n, _) = raw[i + 1].clone();
            last.0.end = next_o.end;
            last.1.end = next_n.end;
            i += 2;
            continue;
        }
        match out.last_mut() {
            Some(last) if !equal && !last.2 => {
                last.0.end = o.end;
                last.1.end = n.end;
            }
            _ => out.push((o, n, equal)),
        }
        i += 1;
    }
    out
}

/// Moves each pure insertion or deletion to the best of the places it
/// could equally be (`a b| a b` vs `|a b a b`), as diff tools do: ending
/// at a line break if it can, else starting at a word. Deleting the last
/// line of "x.\ny.\n" is then "y.\n", not ".\ny".
fn slide(hunks: &mut Vec<Hunk>, a: &[&str], b: &[&str]) {
    let mut out: Vec<Hunk> = Vec::with_capacity(hunks.len() + 2);
    for i in 0..hunks.len() {
        let (o, n, equal) = hunks[i].clone();
        if equal || (!o.is_empty() && !n.is_empty()) {
            out.push((o, n, equal));
            continue;
        }
        let side = if o.is_empty() { b } else { a };
        let range = if o.is_empty() { n.clone() } else { o.clone() };
        // How far it may move up and down within its equal neighbours.
        let before = match out.last() {
            Some(h) if h.2 => h.0.len(),
            _ => 0,
        };
        let after = match hunks.get(i + 1) {
            Some(h) if h.2 => h.0.len(),
            _ => 0,
        };
        let shift = best_shift(side, &range, before, after);
        let (mo, mn) = (shifted(&o, shift), shifted(&n, shift));
        if shift < 0 {
            // The tokens it moved above now follow it, unchanged.
            let prev = out.last_mut().expect("an equal stretch above");
            prev.0.end = mo.start;
            prev.1.end = mn.start;
            if prev.0.is_empty() {
                out.pop();
            }
            out.push((mo.clone(), mn.clone(), false));
            match hunks.get_mut(i + 1) {
                Some(next) if next.2 => {
                    next.0.start = mo.end;
                    next.1.start = mn.end;
                }
                _ => out.push((mo.end..o.end, mn.end..n.end, true)),
            }
        } else if shift > 0 {
            // The tokens it moved below now precede it, unchanged.
            match out.last_mut() {
                Some(prev) if prev.2 => {
                    prev.0.end = mo.start;
                    prev.1.end = mn.start;
                }
                _ => out.push((o.start..mo.start, n.start..mn.start, true)),
            }
            out.push((mo.clone(), mn.clone(), false));
            let next = hunks.get_mut(i + 1).expect("an equal stretch below");
            next.0.start = mo.end;
            next.1.start = mn.end;
        } else {
            out.push((o, n, false));
        }
    }
    *hunks = merge_touching(out);
}

fn shifted(r: &std::ops::Range<usize>, by: isize) -> std::ops::Range<usize> {
    r.start.saturating_add_signed(by)..r.end.saturating_add_signed(by)
}

/// Where an insertion or deletion of `range` within `side` reads best,
/// moving it at most `before` tokens up or `after` tokens down: ending a
/// line scores 2, starting a word 1; ties go to the lowest place.
fn best_shift(side: &[&str], range: &std::ops::Range<usize>, before: usize, after: usize) -> isize {
    let score = |range: &std::ops::Range<usize>| -> u8 {
        let ends_line = side[range.end - 1].ends_with('\n');
        let starts_word =
            is_word(side[range.start]) && (range.start == 0 || !is_word(side[range.start - 1]));
        u8::from(ends_line) * 2 + u8::from(starts_word)
    };
    let mut up = 0;
    while up < before && side[range.start - up - 1] == side[range.end - up - 1] {
        up += 1;
    }
    let mut down = 0;
    while down < after && side[range.start + down] == side[range.end + down] {
        down += 1;
    }
    let mut best = (score(range), 0isize);
    for shift in -(up as isize)..=(down as isize) {
        let sc = score(&shifted(range, shift));
        if sc > best.0 || (sc == best.0 && shift > best.1) {
            best = (sc, shift);
        }
    }
    best.1
}

/// Drops hunks a move emptied and merges neighbours of the same kind.
fn merge_touching(out: Vec<Hunk>) -> Vec<Hunk> {
    let mut merged: Vec<Hunk> = Vec::with_capacity(out.len());
    for h in out {
        if h.0.is_empty() && h.1.is_empty() {
            continue;
        }
        match merged.last_mut() {
            Some(last) if last.2 == h.2 => {
                last.0.end = h.0.end;
                last.1.end = h.1.end;
            }
            _ => merged.push(h),
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn apply(old: &str, splices: &[(usize, usize, String)]) -> String {
        let mut chars: Vec<char> = old.chars().collect();
        for (at, del, ins) in splices.iter().rev() {
            chars.splice(*at..at + del, ins.chars());
        }
        chars.into_iter().collect()
    }

    #[test]
    fn tokens_are_words_spaces_and_single_marks() {
        assert_eq!(
            tokens("A CRDT merges,  ok?"),
            vec!["A", " ", "CRDT", " ", "merges", ",", "  ", "ok", "?"]
        );
        assert_eq!(tokens("héllo wörld"), vec!["héllo", " ", "wörld"]);
        assert_eq!(tokens(""), Vec::<&str>::new());
    }

    #[test]
    fn a_deleted_line_is_the_line_not_its_neighbours_end() {
        let old = "Install it.\nRun it.\nEnjoy.\n";
        let new = "Install it.\nRun it.\n";
        assert_eq!(splices(old, new), vec![(20, 7, String::new())]);
        let added = "Install it.\nRun it.\nRun it.\n";
        assert_eq!(
            diff("Install it.\nRun it.\n", added),
            vec![
                Piece::Same("Install it.\nRun it.\n".into()),
                Piece::Added("Run it.\n".into()),
            ]
        );
    }

    #[test]
    fn a_rewrite_is_one_splice_of_whole_words() {
        let old = "A CRDT merges without conflicts.";
        let new = "A CRDT merges concurrent edits (alice wording).";
        assert_eq!(
            splices(old, new),
            vec![(
                13,
                " without conflicts".len(),
                " concurrent edits (alice wording)".into()
            )]
        );
        assert_eq!(
            diff(old, new),
            vec![
                Piece::Same("A CRDT merges ".into()),
                Piece::Removed("without conflicts".into()),
                Piece::Added("concurrent edits (alice wording)".into()),
                Piece::Same(".".into()),
            ]
        );
    }

    proptest! {
        #[test]
        fn splices_turn_old_into_new(old in "[a-c .\n]{0,40}", new in "[a-c .\n]{0,40}") {
            let s = splices(&old, &new);
            prop_assert_eq!(apply(&old, &s), new.clone());
            let mut last_end = 0;
            for (at, del, _) in &s {
                prop_assert!(*at >= last_end, "splices overlap or are out of order");
                last_end = at + del;
            }
            let rebuilt_old: String = diff(&old, &new).iter().filter_map(|p| match p {
                Piece::Same(t) | Piece::Removed(t) => Some(t.as_str()),
                Piece::Added(_) => None,
            }).collect();
            prop_assert_eq!(rebuilt_old, old);
        }
    }
}
