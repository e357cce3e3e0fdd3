//! Text people write that others will see: names, titles, tags. What a
//! node writes is checked here (one line, no control characters, no
//! bidirectional overrides that make text read differently than it is
//! stored, a length cap); what it shows on a terminal is made inert with
//! [`for_terminal`], since entries from peers were signed by nodes that may
//! not check.

mod plain;
pub use self::plain::{Plain, plain};

use std::borrow::Cow;

/// Longest display name or petname, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest "about" line of a profile, in characters.
pub const MAX_ABOUT_CHARS: usize = 500;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;

/// Text with every line ending as `\n`: browsers send a textarea's text
/// with `\r\n`, and files written on Windows carry it. Every write path
/// stores text this way, so a line ending never differs between two
/// versions of a text only because of where it was typed.
pub fn newlines(text: &str) -> Cow<'_, str> {
    if !text.contains('\r') {
        return Cow::Borrowed(text);
    }
    Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n"))
}

/// "that is…" → "That is…".
pub fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// A count with its noun: "1 peer", "2 peers", "0 peers".
pub fn count(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// A size as people read it: "812 bytes", "68.4 KiB", "2.5 MiB".
pub fn kib(bytes: usize) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if b < KIB * KIB {
        format!("{:.1} KiB", b / KIB).replace(".0 ", " ")
    } else {
        format!("{:.1} MiB", b / KIB / KIB).replace(".0 ", " ")
    }
}

/// Characters never allowed in a label, and replaced on a terminal:
/// controls (ESC starts terminal escape sequences) and the bidirectional
/// embedding, override and isolate marks.
pub fn is_unsafe(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}' | '\u{200E}' | '\u{200F}')
}

/// Checks a one-line label (`what` names it in the error).
pub fn check_label(what: &str, text: &str, max_chars: usize) -> Result<(), String> {
    let count = text.chars().count();
    if count > max_chars {
        return Err(format!(
            "{what} is at most {max_chars} characters (this one has {count})"
        ));
    }
    if text.contains(['\n', '\r', '\t']) {
        return Err(format!("{what} is one line"));
    }
    if let Some(c) = text.chars().find(|c| is_unsafe(*c)) {
        return Err(format!(
            "{what} holds the control character U+{:04X}, which is not allowed",
            u32::from(c)
        ));
    }
    Ok(())
}

/// `text` with every unsafe character replaced by U+FFFD (newlines and
/// tabs kept), for printing on a terminal.
pub fn for_terminal(text: &str) -> Cow<'_, str> {
    if text.chars().any(is_unsafe) {
        Cow::Owned(
            text.chars()
                .map(|c| if is_unsafe(c) { '\u{FFFD}' } else { c })
                .collect(),
        )
    } else {
        Cow::Borrowed(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_overrides_are_refused_and_made_inert() {
        assert!(check_label("a name", "Ada", MAX_NAME_CHARS).is_ok());
        assert!(check_label("a name", "Ada\u{1b}]8;;x\u{7}", MAX_NAME_CHARS).is_err());
        assert!(check_label("a name", "evil\u{202E}txt.exe", MAX_NAME_CHARS).is_err());
        assert!(check_label("a name", "two\nlines", MAX_NAME_CHARS).is_err());
        let long = "x".repeat(10_000);
        assert!(
            check_label("a name", &long, MAX_NAME_CHARS)
                .unwrap_err()
                .contains("at most 64")
        );
        assert_eq!(for_terminal("a\u{1b}[2Jb\nc"), "a\u{FFFD}[2Jb\nc");
        assert_eq!(for_terminal("plain"), Cow::Borrowed("plain"));
    }

    #[test]
    fn line_ends_counts_and_sizes_read_as_people_write_them() {
        assert_eq!(newlines("a\r\nb\rc\n"), "a\nb\nc\n");
        assert!(matches!(newlines("a\nb"), Cow::Borrowed(_)));
        assert_eq!(count(1u64, "peer", "peers"), "1 peer");
        assert_eq!(count(0u64, "peer", "peers"), "0 peers");
        assert_eq!(count(2u64, "peer", "peers"), "2 peers");
        assert_eq!(kib(812), "812 bytes");
        assert_eq!(kib(65_536), "64 KiB");
        assert_eq!(kib(70_007), "68.4 KiB");
        assert_eq!(kib(2 * 1024 * 1024), "2 MiB");
        assert_eq!(capitalize("the text"), "The text");
    }
}
