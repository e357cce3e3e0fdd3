//! Reading and writing the parts of a page document: title, body text,
//! archived flag, links; the actor bound to an author; and the guard that
//! turns an Automerge panic on hostile input into an error.

use std::collections::BTreeSet;
use std::panic::{AssertUnwindSafe, catch_unwind};

use automerge::{
    ActorId, AutoCommit, Change, ChangeHash, ObjId, ObjType, ROOT, ReadDoc, ScalarValue,
    TextEncoding, Value,
};
use kith_protocol::AuthorId;

use super::{Error, MAX_PAGE_BYTES, Result};

pub(super) fn new_doc() -> AutoCommit {
    AutoCommit::new_with_encoding(TextEncoding::UnicodeCodePoint)
}

pub(super) fn actor_of(author: &AuthorId) -> ActorId {
    ActorId::from(&author.as_bytes()[..])
}

/// Runs Automerge code on untrusted data, turning a panic into an error.
pub(super) fn guarded<T>(what: &str, f: impl FnOnce() -> T) -> Result<T> {
    catch_unwind(AssertUnwindSafe(f))
        .map_err(|_| Error::Document(format!("automerge panicked while {what}")))
}

/// Splits a stream of Automerge chunks (`magic(4) checksum(4) type(1)
/// uleb128(len) data`) into chunks; None if it is not one.
pub(super) fn split_chunks(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
    let mut out = Vec::new();
    while !data.is_empty() {
        if data.len() < 9 || data[..4] != MAGIC {
            return None;
        }
        let (len, rest) = uleb128(&data[9..])?;
        let header = data.len() - rest.len();
        let end = header.checked_add(usize::try_from(len).ok()?)?;
        if end > data.len() {
            return None;
        }
        out.push(&data[..end]);
        data = &data[end..];
    }
    Some(out)
}

/// An unsigned LEB128 as Automerge writes it (not necessarily minimal).
fn uleb128(data: &[u8]) -> Option<(u64, &[u8])> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, &data[i + 1..]));
        }
    }
    None
}

pub(super) fn new_changes(doc: &mut AutoCommit, before: &[ChangeHash]) -> Vec<Change> {
    doc.get_changes(before)
}

/// Whether the document holds the change (cheap: no change is rebuilt).
pub(super) fn has_change(doc: &mut AutoCommit, hash: &ChangeHash) -> bool {
    doc.get_missing_deps(std::slice::from_ref(hash)).is_empty()
}

pub(super) fn check_size(body: &str) -> Result<()> {
    if body.len() > MAX_PAGE_BYTES {
        return Err(Error::Invalid(format!(
            "a page body is at most {MAX_PAGE_BYTES} bytes; this one is {}",
            body.len()
        )));
    }
    Ok(())
}

/// Whether a page with this title and body can be written: a valid
/// title, a body within the size limit, and (counting one operation per
/// character, what a new page takes) within the operations peers accept in
/// one change. Imports check every file with this before writing any.
pub fn check_page(title: &str, body: &str) -> Result<()> {
    clean_title(title)?;
    check_size(body)?;
    let chars = body.chars().count();
    if chars + 8 > super::MAX_CHANGE_OPS {
        return Err(Error::Invalid(format!(
            "{chars} characters make at least as many operations in one change, and peers \
             accept at most {}: split the page, or write it in several edits",
            super::MAX_CHANGE_OPS
        )));
    }
    Ok(())
}

/// The limit every receiver applies to one change ([`MAX_CHANGE_OPS`]),
/// checked here before a change of ours is committed and signed: a node
/// never makes a change its peers would refuse.
pub(super) fn check_pending_ops(doc: &AutoCommit) -> Result<()> {
    use automerge::transaction::Transactable;
    let ops = doc.pending_ops();
    if ops > super::MAX_CHANGE_OPS {
        return Err(Error::Invalid(format!(
            "this edit is {ops} operations in one change, and peers accept at most {}: \
             make the page smaller, or write it in several edits",
            super::MAX_CHANGE_OPS
        )));
    }
    Ok(())
}

pub(super) fn clean_title(title: &str) -> Result<String> {
    let title = title.trim();
    if title.is_empty() {
        return Err(Error::Invalid("a page needs a title".into()));
    }
    if title.len() > 200 || title.contains(['\n', '\r']) {
        return Err(Error::Invalid(
            "a title is one line of at most 200 bytes".into(),
        ));
    }
    crate::text::check_label("a title", title, 200).map_err(Error::Invalid)?;
    Ok(title.to_string())
}

pub(super) fn body_obj(doc: &AutoCommit) -> Option<ObjId> {
    match doc.get(ROOT, "body") {
        Ok(Some((Value::Object(ObjType::Text), id))) => Some(id),
        _ => None,
    }
}

/// The body text of a document (empty if it has none).
pub fn body_text(doc: &AutoCommit) -> String {
    body_obj(doc)
        .and_then(|id| doc.text(&id).ok())
        .unwrap_or_default()
}

pub(super) fn text_len(doc: &AutoCommit) -> u64 {
    body_obj(doc).map_or(0, |id| doc.length(&id) as u64)
}

pub(super) fn title_of(doc: &AutoCommit) -> String {
    match doc.get(ROOT, "title") {
        Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
            ScalarValue::Str(t) => t.to_string(),
            _ => String::new(),
        },
        _ => String::new(),
    }
}

/// Every value of the title register now (several after concurrent
/// retitles).
pub(super) fn all_titles(doc: &AutoCommit) -> Vec<String> {
    doc.get_all(ROOT, "title")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|(v, _)| match v {
            automerge::Value::Scalar(s) => match s.as_ref() {
                automerge::ScalarValue::Str(t) => Some(t.to_string()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

pub(super) fn is_archived(doc: &AutoCommit) -> bool {
    matches!(doc.get(ROOT, "archived"), Ok(Some((Value::Scalar(s), _))) if matches!(s.as_ref(), ScalarValue::Boolean(true)))
}

/// Lowercased targets of `[[Title]]` and `[[Title|label]]` links.
pub fn links_in(text: &str) -> BTreeSet<String> {
    link_targets(text)
        .into_iter()
        .map(|t| t.to_lowercase())
        .collect()
}

/// Targets of `[[Title]]` and `[[Title|label]]` links as written, each
/// once (the first spelling of titles that differ only in case).
pub fn link_targets(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("[[") {
        rest = &rest[start + 2..];
        let Some(end) = rest.find("]]") else { break };
        let inner = &rest[..end];
        let target = inner.split('|').next().unwrap_or("").trim();
        if !target.is_empty()
            && !target.contains('\n')
            && target.len() <= 200
            && !out
                .iter()
                .any(|t| t.to_lowercase() == target.to_lowercase())
        {
            out.push(target.to_string());
        }
        rest = &rest[end + 2..];
    }
    out
}

/// `text` with its `[[old]]` and `[[old|label]]` links (target compared
/// case-insensitively) pointing at `new`; None if it has none.
pub fn relink(text: &str, old: &str, new: &str) -> Option<String> {
    let old = old.trim().to_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    let mut changed = false;
    while let Some(start) = rest.find("[[") {
        let Some(len) = rest[start + 2..].find("]]") else {
            break;
        };
        let inner = &rest[start + 2..start + 2 + len];
        out.push_str(&rest[..start + 2]);
        let (target, label) = match inner.split_once('|') {
            Some((t, l)) => (t, Some(l)),
            None => (inner, None),
        };
        if !inner.contains('\n') && target.trim().to_lowercase() == old {
            out.push_str(new);
            if let Some(label) = label {
                out.push('|');
                out.push_str(label);
            }
            changed = true;
        } else {
            out.push_str(inner);
        }
        out.push_str("]]");
        rest = &rest[start + 2 + len + 2..];
    }
    out.push_str(rest);
    changed.then_some(out)
}

/// The characters of a text object, each with the id of the operation that
/// inserted it (`counter@actor`), as of `heads` or now.
pub(super) fn chars_with_ids(
    doc: &AutoCommit,
    obj: &ObjId,
    heads: Option<&[ChangeHash]>,
) -> Vec<(String, ObjId)> {
    let items: Vec<_> = match heads {
        Some(h) => doc.list_range_at(obj, .., h).collect(),
        None => doc.list_range(obj, ..).collect(),
    };
    items
        .into_iter()
        .map(|item| {
            let text = match &item.value {
                automerge::ValueRef::Scalar(automerge::ScalarValueRef::Str(s)) => s.to_string(),
                _ => String::new(),
            };
            (text, item.id())
        })
        .collect()
}

/// The author (actor) and counter of an operation id.
pub(super) fn author_of(id: &ObjId) -> Option<(AuthorId, u64)> {
    match id {
        ObjId::Id(counter, actor, _) => {
            let bytes: [u8; 32] = actor.to_bytes().try_into().ok()?;
            Some((AuthorId::from_bytes(bytes), *counter))
        }
        ObjId::Root => None,
    }
}

#[cfg(test)]
mod relink_tests {
    use super::relink;

    #[test]
    fn links_to_the_old_title_point_at_the_new_one() {
        assert_eq!(
            relink(
                "See [[Old Name]], [[old name|here]] and [[Other]].",
                "Old name",
                "New"
            ),
            Some("See [[New]], [[New|here]] and [[Other]].".into())
        );
        assert_eq!(relink("No [[Other]] link, [[unclosed", "Old", "New"), None);
    }
}
