//! Who wrote what, and going back: blame, the diff of one history item,
//! the page as it was at a history item, and reverting one item.
//!
//! Everything here works from Automerge's per-operation identities: every
//! character of a page was inserted by an operation `counter@actor`, the
//! actor is the signing author's key, and the operation belongs to exactly
//! one change, which belongs to one history item (the `g` index maps an
//! author's change seqs to the item that carried them). So attribution is
//! exact, not guessed from text.

use crate::store::keyspace::Space;
use std::collections::{HashMap, HashSet};

use automerge::ObjId as ExId;
use automerge::transaction::Transactable;
use automerge::{ChangeHash, ROOT, ReadDoc, ScalarValue, Value};
use kith_protocol::{AuthorId, EntryId, PageId};
use serde::{Deserialize, Serialize};

use super::doc::{author_of, body_obj, chars_with_ids, check_size};
use super::read::history;
use super::words::{self, Piece};
use super::{Error, HistoryItem, Local, Result, Wiki, key};
use crate::store::Store;
use crate::store::kv::Batch;

/// The history item that carried an author's change `seq` of a page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Span {
    pub entry: EntryId,
    pub timestamp_ms: u64,
    pub seq_from: u64,
}

/// Key of the span index: page, author, last change seq of the item.
pub(super) fn span_key(page: &PageId, author: &AuthorId, seq_to: u64) -> Vec<u8> {
    key(
        Space::WikiSpan,
        &[&page.0, author.as_bytes(), &seq_to.to_be_bytes()],
    )
}

/// Writes a history item and its span. An entry applied in several
/// steps (some of its changes waited for dependencies) is merged with what
/// the earlier steps recorded.
pub(super) fn write_history(
    store: &Store,
    page: &PageId,
    seq: u64,
    mut item: HistoryItem,
    batch: &mut Batch,
) -> Result<()> {
    let k = key(
        Space::WikiHistory,
        &[
            &page.0,
            &item.timestamp_ms.to_be_bytes(),
            item.author.as_bytes(),
            &seq.to_be_bytes(),
        ],
    );
    if let Some(old) = store.kv().get(&k)?
        && let Ok(old) = postcard::from_bytes::<HistoryItem>(&old)
    {
        let disjoint = old.seq_to < item.seq_from || old.seq_from > item.seq_to;
        item.ops = if disjoint {
            item.ops + old.ops
        } else {
            item.ops.max(old.ops)
        };
        if old.seq_from < item.seq_from {
            (item.first, item.seq_from, item.chars_before) =
                (old.first, old.seq_from, old.chars_before);
        }
        if old.seq_to > item.seq_to {
            (item.last, item.seq_to) = (old.last, old.seq_to);
        }
        batch.remove(span_key(page, &item.author, old.seq_to));
    }
    let span = Span {
        entry: item.entry,
        timestamp_ms: item.timestamp_ms,
        seq_from: item.seq_from,
    };
    batch.insert(
        span_key(page, &item.author, item.seq_to),
        postcard::to_stdvec(&span).expect("encoding into a Vec cannot fail"),
    );
    batch.insert(
        k,
        postcard::to_stdvec(&item).expect("encoding into a Vec cannot fail"),
    );
    Ok(())
}

/// The item holding `author`'s change number `seq` in `page`.
fn span_of(store: &Store, page: &PageId, author: &AuthorId, seq: u64) -> Result<Option<Span>> {
    let from = span_key(page, author, seq);
    let to = span_key(page, author, u64::MAX);
    let Some(item) = store.kv().range(&from, &to).next() else {
        return Ok(None);
    };
    let (_, v) = item?;
    let span: Span =
        postcard::from_bytes(&v).map_err(|e| Error::Document(format!("span index: {e}")))?;
    Ok((span.seq_from <= seq).then_some(span))
}

/// One line of a page and the change that last wrote in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blamed {
    pub text: String,
    /// None for an empty last line, or text whose change is unknown here.
    pub by: Option<Attribution>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribution {
    pub author: AuthorId,
    pub entry: Option<EntryId>,
    pub timestamp_ms: u64,
}

impl Wiki {
    /// Each line of the page with the author, time and entry of the change
    /// that last wrote in it (the latest insertion among its characters,
    /// its line break included).
    pub fn blame(&mut self, store: &Store, page: &PageId) -> Result<Vec<Blamed>> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        let doc = &mut open.doc;
        let Some(body) = body_obj(doc) else {
            return Ok(Vec::new());
        };
        let mut lines: Vec<(String, Option<ExId>)> = vec![(String::new(), None)];
        for (text, id) in chars_with_ids(doc, &body, None) {
            let line = lines.last_mut().expect("never empty");
            line.0.push_str(&text);
            let newer = match (&line.1, author_of(&id)) {
                (None, _) => true,
                (Some(old), Some((_, counter))) => author_of(old).is_none_or(|(_, c)| counter > c),
                (Some(_), None) => false,
            };
            if newer {
                line.1 = Some(id);
            }
            if text == "\n" {
                lines.push((String::new(), None));
            }
        }
        if lines.last().is_some_and(|l| l.0.is_empty()) && lines.len() > 1 {
            lines.pop();
        }
        let mut out = Vec::with_capacity(lines.len());
        for (text, id) in lines {
            let by = match id.as_ref().and_then(|id| Some((id, author_of(id)?))) {
                None => None,
                Some((id, (author, _))) => {
                    let span = doc
                        .hash_for_opid(id)
                        .and_then(|h| doc.get_change_meta_by_hash(&h).map(|m| m.seq))
                        .map(|seq| span_of(store, page, &author, seq))
                        .transpose()?
                        .flatten();
                    Some(Attribution {
                        author,
                        entry: span.as_ref().map(|s| s.entry),
                        timestamp_ms: span.map_or(0, |s| s.timestamp_ms),
                    })
                }
            };
            out.push(Blamed {
                text: text.trim_end_matches('\n').to_string(),
                by,
            });
        }
        Ok(out)
    }

    /// The heads just before and just after a history item.
    fn item_heads(
        &mut self,
        store: &Store,
        page: &PageId,
        item: &HistoryItem,
    ) -> Result<(Vec<ChangeHash>, Vec<ChangeHash>)> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        let first = ChangeHash(item.first);
        let before = open
            .doc
            .get_change_meta_by_hash(&first)
            .map(|m| m.deps)
            .ok_or_else(|| Error::Invalid("this change is not in the page (yet)".into()))?;
        Ok((before, vec![ChangeHash(item.last)]))
    }

    /// Title and body of the page as they were at `heads`.
    fn version_at(
        &mut self,
        store: &Store,
        page: &PageId,
        heads: &[ChangeHash],
    ) -> Result<(String, String)> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        let doc = &open.doc;
        let title = match doc.get_at(ROOT, "title", heads) {
            Ok(Some((Value::Scalar(s), _))) => match s.as_ref() {
                ScalarValue::Str(t) => t.to_string(),
                _ => String::new(),
            },
            _ => String::new(),
        };
        let body = match doc.get_at(ROOT, "body", heads) {
            Ok(Some((Value::Object(_), id))) => doc
                .text_at(&id, heads)
                .map_err(|e| Error::Document(e.to_string()))?,
            _ => String::new(),
        };
        Ok((title, body))
    }

    /// The versions a merge joined: for each head of the page (when it has
    /// several), who wrote what only that branch holds, and the page as
    /// that branch alone left it. Empty when the page has one head.
    pub fn sides(&mut self, store: &Store, page: &PageId) -> Result<Vec<Side>> {
        let open = self
            .doc(store, page)?
            .ok_or_else(|| Error::NoPage(page.to_string()))?;
        let heads = open.doc.get_heads();
        if heads.len() < 2 {
            return Ok(Vec::new());
        }
        let mut branches = Vec::with_capacity(heads.len());
        for head in &heads {
            let others: Vec<ChangeHash> = heads.iter().filter(|h| *h != head).copied().collect();
            let mut authors: Vec<AuthorId> = Vec::new();
            for change in open.doc.get_changes(&others) {
                if let Ok(actor) = <[u8; 32]>::try_from(change.actor_id().to_bytes()) {
                    let author = AuthorId::from_bytes(actor);
                    if !authors.contains(&author) {
                        authors.push(author);
                    }
                }
            }
            branches.push((*head, authors));
        }
        let mut out = Vec::with_capacity(branches.len());
        for (head, authors) in branches {
            let (title, body) = self.version_at(store, page, &[head])?;
            out.push(Side {
                head: head.to_string(),
                authors,
                title,
                body,
            });
        }
        Ok(out)
    }

    /// The page as it was right after a history item: (title, body).
    pub fn at(
        &mut self,
        store: &Store,
        page: &PageId,
        item: &HistoryItem,
    ) -> Result<(String, String)> {
        let (_, after) = self.item_heads(store, page, item)?;
        self.version_at(store, page, &after)
    }

    /// What a history item changed, word by word, as its author saw the
    /// page: (title before, title after, body diff).
    pub fn diff(
        &mut self,
        store: &Store,
        page: &PageId,
        item: &HistoryItem,
    ) -> Result<(String, String, Vec<Piece>)> {
        let (before, after) = self.item_heads(store, page, item)?;
        let (title_before, old) = self.version_at(store, page, &before)?;
        let (title_after, new) = self.version_at(store, page, &after)?;
        Ok((title_before, title_after, words::diff(&old, &new)))
    }

    /// Changes that undo one history item on the page as it is now: the
    /// characters it inserted that are still there are deleted, the ones it
    /// deleted are inserted again where they were, and a title it set is
    /// set back if nobody retitled the page since. Later edits stay.
    pub fn revert(
        &mut self,
        store: &Store,
        me: &AuthorId,
        page: &PageId,
        item: &HistoryItem,
    ) -> Result<Local> {
        let (before, after) = self.item_heads(store, page, item)?;
        let (title_before, _) = self.version_at(store, page, &before)?;
        let (title_after, _) = self.version_at(store, page, &after)?;
        let author = item.author;
        self.local(store, me, page, true, |doc| {
            let body = body_obj(doc).ok_or_else(|| Error::Document("page has no body".into()))?;
            let then: Vec<(String, ExId)> = chars_with_ids(doc, &body, Some(&before));
            let later: HashSet<ExId> = chars_with_ids(doc, &body, Some(&after))
                .into_iter()
                .map(|(_, id)| id)
                .collect();
            let existed: HashSet<&ExId> = then.iter().map(|(_, id)| id).collect();
            let now = chars_with_ids(doc, &body, None);
            // (position now, delete, insert), applied from the end.
            let mut edits: Vec<(usize, usize, String)> = Vec::new();
            for (pos, (_, id)) in now.iter().enumerate() {
                let inserted_by_item = later.contains(id)
                    && !existed.contains(id)
                    && author_of(id).is_some_and(|(a, _)| a == author);
                if inserted_by_item {
                    edits.push((pos, 1, String::new()));
                }
            }
            // Runs of characters the item deleted, by their position then.
            let mut run: Option<(usize, String)> = None;
            let mut runs = Vec::new();
            for (pos, (text, id)) in then.iter().enumerate() {
                if later.contains(id) {
                    runs.extend(run.take());
                    continue;
                }
                match &mut run {
                    Some((_, s)) => s.push_str(text),
                    None => run = Some((pos, text.to_string())),
                }
            }
            runs.extend(run);
            // A run goes back right after the nearest character before it
            // that is still there (or at the start).
            let index_now: HashMap<&ExId, usize> =
                now.iter().enumerate().map(|(i, (_, id))| (id, i)).collect();
            for (pos, text) in runs {
                let at = then[..pos]
                    .iter()
                    .rev()
                    .find_map(|(_, id)| index_now.get(id))
                    .map_or(0, |i| i + 1);
                edits.push((at, 0, text));
            }
            // From the end; at one position the deletion goes first, so the
            // insertion is not deleted with it.
            edits.sort_by(|a, b| b.0.cmp(&a.0).then(b.1.cmp(&a.1)));
            for (at, del, ins) in edits {
                doc.splice_text(&body, at, del as isize, &ins)
                    .map_err(|e| Error::Document(e.to_string()))?;
            }
            check_size(
                &doc.text(&body)
                    .map_err(|e| Error::Document(e.to_string()))?,
            )?;
            let title_now = super::doc::title_of(doc);
            if title_before != title_after && title_now == title_after && !title_before.is_empty() {
                doc.put(ROOT, "title", title_before.as_str())
                    .map_err(|e| Error::Document(e.to_string()))?;
            }
            Ok(())
        })
    }

    /// A page's history item named by its entry id or a unique prefix.
    pub fn history_item(store: &Store, page: &PageId, name: &str) -> Result<HistoryItem> {
        let name = name.trim();
        if name.is_empty() {
            return Err(Error::Invalid(
                "name a change by its entry id (see `kith wiki history`)".into(),
            ));
        }
        let matching: Vec<HistoryItem> = history(store, page)?
            .into_iter()
            .filter(|h| h.entry.to_string().starts_with(name))
            .collect();
        match matching.len() {
            1 => Ok(matching.into_iter().next().expect("one")),
            0 => Err(Error::Invalid(format!(
                "no change {name:?} in this page's history (see `kith wiki history`)"
            ))),
            n => Err(Error::Invalid(format!(
                "{name:?} names {n} changes of this page; give more of the entry id"
            ))),
        }
    }
}

/// One side of a merge: a branch of the page's history and the page as
/// that branch alone left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Side {
    /// The branch's head (an Automerge change hash).
    pub head: String,
    /// Who wrote the changes only this branch holds.
    pub authors: Vec<AuthorId>,
    pub title: String,
    pub body: String,
}
