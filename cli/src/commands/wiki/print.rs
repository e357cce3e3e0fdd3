//! How `kith wiki` prints pages, history lines, diffs and blame.

use super::*;

pub(super) fn who(h: &HistoryView) -> String {
    h.author_name
        .clone()
        .unwrap_or_else(|| format!("…{}", h.author.short()))
}

pub(super) fn blame_who(line: &BlameLine) -> String {
    line.who()
}

pub(super) fn print_history_line(h: &HistoryView) {
    let delta = h.chars_after as i64 - h.chars_before as i64;
    println!(
        "{}  {}  {}  {:+} chars ({} → {}), {} ops",
        &h.entry.to_hex()[..12],
        who(h),
        output::ago(h.timestamp),
        delta,
        h.chars_before,
        h.chars_after,
        h.ops
    );
}

/// A word diff: removed text struck through in red (`[-…-]` without
/// colour), added text in green (`{+…+}`), long unchanged stretches cut.
pub(super) fn print_diff(diff: &ChangeDiff) {
    print_words(&diff.title_before, &diff.title_after, &diff.pieces);
}

/// A word diff of a page: its title from `before` to `after`, and its body
/// as `pieces`, with long unchanged stretches cut.
pub(super) fn print_words(before: &str, after: &str, pieces: &[Piece]) {
    if before.is_empty() && !after.is_empty() {
        println!("    new page {after:?}");
    } else if before != after {
        anstream::println!(
            "    title: {REMOVED}[-{before}-]{REMOVED:#} {ADDED}{{+{after}+}}{ADDED:#}"
        );
    }
    let color = anstream::stdout().current_choice() != anstream::ColorChoice::Never;
    let mut out = String::new();
    let n = pieces.len();
    for (i, piece) in pieces.iter().enumerate() {
        match piece {
            Piece::Same(text) => {
                let chars: Vec<char> = text.chars().collect();
                if chars.len() <= CONTEXT * 2 {
                    out.push_str(text);
                    continue;
                }
                let head: String = chars[..CONTEXT].iter().collect();
                let tail: String = chars[chars.len() - CONTEXT..].iter().collect();
                match (i == 0, i + 1 == n) {
                    (true, true) => {}
                    (true, false) => out.push_str(&format!("…{tail}")),
                    (false, true) => out.push_str(&format!("{head}…")),
                    (false, false) => out.push_str(&format!("{head} … {tail}")),
                }
            }
            Piece::Removed(text) if color => out.push_str(&format!("{REMOVED}{text}{REMOVED:#}")),
            Piece::Added(text) if color => out.push_str(&format!("{ADDED}{text}{ADDED:#}")),
            Piece::Removed(text) => out.push_str(&format!("[-{text}-]")),
            Piece::Added(text) => out.push_str(&format!("{{+{text}+}}")),
        }
    }
    if pieces.iter().all(|p| matches!(p, Piece::Same(_))) && before == after {
        anstream::println!("    {DIM}(no change to the text){DIM:#}");
        return;
    }
    for line in out.trim_end_matches('\n').lines() {
        anstream::println!("    {line}");
    }
}

pub(super) fn print_page(view: &PageView) {
    // A body that starts with the title as its heading shows it already.
    let first = view.body.lines().find(|l| !l.trim().is_empty());
    let titled = first.is_some_and(|l| {
        l.trim_start_matches('#').trim() == view.title.trim() && l.starts_with('#')
    });
    if !titled {
        println!("# {}", view.title);
    }
    if view.archived {
        println!("(archived)");
    }
    if !titled || view.archived {
        println!();
    }
    print!("{}", view.body);
    if !view.body.ends_with('\n') {
        println!();
    }
    println!();
    let authors: Vec<String> = view
        .authors
        .iter()
        .map(|a| {
            view.author_names
                .get(&a.to_string())
                .cloned()
                .unwrap_or_else(|| format!("…{}", a.short()))
        })
        .collect();
    println!(
        "id {}  ·  updated {}  ·  by {}",
        view.id,
        output::ago(view.updated),
        authors.join(", ")
    );
    if !view.aliases.is_empty() {
        println!("also known as: {}", view.aliases.join(", "));
    }
    if !view.missing_links.is_empty() {
        println!(
            "links to missing pages: {} (create one with `kith wiki new TITLE`)",
            view.missing_links
                .iter()
                .map(|t| format!("[[{t}]]"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for n in &view.namesakes {
        println!("another page has this title: {} ({})", n.title, n.id);
    }
    if let Some(m) = &view.merged {
        println!(
            "merged concurrent edits by {} — review (`kith wiki edit` or `kith wiki reviewed {}`):",
            m.names.join(" and "),
            view.id
        );
        for p in &m.paragraphs {
            println!("  paragraph {}: {}", p.index + 1, p.start);
        }
    }
    if !view.backlinks.is_empty() {
        let links: Vec<&str> = view.backlinks.iter().map(|b| b.title.as_str()).collect();
        println!("linked from: {}", links.join(", "));
    }
    if view.waiting > 0 {
        println!(
            "{} for changes this node has not received yet",
            kith_node::text::count(view.waiting, "change waiting", "changes waiting")
        );
    }
    if view.rejected > 0 {
        println!(
            "{} from peers refused as invalid",
            kith_node::text::count(view.rejected, "change", "changes")
        );
    }
}
