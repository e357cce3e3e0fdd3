//! Threads and questions, ranked at read time: answers by acceptance, then
//! by endorsements weighted by the reader's trust graph, then by age.

use std::collections::BTreeSet;

use kith_protocol::{AuthorId, Body, EntryId, Post, PostKind};

use super::{DEFAULT_FEED_LIMIT, MAX_FEED_LIMIT, Reader, entry_view};
use crate::error::{Error, Result};
use crate::model::{AnswerView, Endorser, QuestionView, ReplyNode, ThreadView};
use crate::ops;
use crate::refs::EntryRef;
use crate::store::FeedQuery;

/// Deepest reply nesting shown in a thread.
const MAX_THREAD_DEPTH: usize = 16;

impl Reader {
    /// How much an endorsement by `author` counts for this node: 1.0 for me
    /// and authors I trust, 0.5 for authors they vouch for, 0 otherwise.
    fn weights(&self) -> Result<impl Fn(&AuthorId) -> f64 + use<>> {
        let mut direct: BTreeSet<AuthorId> = self
            .store
            .trust_list()?
            .into_iter()
            .map(|t| t.author)
            .collect();
        direct.insert(self.me);
        let mut two_hops = BTreeSet::new();
        for a in &direct {
            if *a != self.me {
                two_hops.extend(self.store.vouched_by(a)?);
            }
        }
        Ok(move |a: &AuthorId| {
            if direct.contains(a) {
                1.0
            } else if two_hops.contains(a) {
                0.5
            } else {
                0.0
            }
        })
    }

    fn endorsers(
        &self,
        id: &EntryId,
        weight: &impl Fn(&AuthorId) -> f64,
    ) -> Result<(f64, Vec<Endorser>)> {
        let mut out: Vec<Endorser> = Vec::new();
        // One endorsement per person: the latest of their devices' counts.
        let registry = self.store.registry()?;
        let mut by_person: std::collections::BTreeMap<AuthorId, usize> = Default::default();
        for (author, e) in self.store.endorsements(id)? {
            // An endorsement whose entry was deleted no longer counts.
            if self
                .store
                .get(&e.entry)?
                .is_some_and(|x| x.body().is_none())
            {
                continue;
            }
            let endorser = Endorser {
                author,
                name: self.store.display_name(&author)?,
                weight: weight(&author),
                note: e.note,
                timestamp: e.timestamp_ms,
            };
            let person = registry.person_of(&author).root;
            match by_person.get(&person) {
                Some(&i) if out[i].timestamp >= endorser.timestamp => {}
                Some(&i) => out[i] = endorser,
                None => {
                    by_person.insert(person, out.len());
                    out.push(endorser);
                }
            }
        }
        out.sort_by(|a, b| {
            b.weight
                .total_cmp(&a.weight)
                .then(a.timestamp.cmp(&b.timestamp))
        });
        let score = out.iter().fold(0.0, |sum, e| sum + e.weight);
        Ok((score, out))
    }

    fn reply_tree(
        &self,
        id: &EntryId,
        weight: &impl Fn(&AuthorId) -> f64,
        depth: usize,
    ) -> Result<Vec<ReplyNode>> {
        let mut out = Vec::new();
        if depth > MAX_THREAD_DEPTH {
            return Ok(out);
        }
        for (child, is_answer) in self.store.replies(id)? {
            if is_answer {
                continue;
            }
            let Some(entry) = self.store.get(&child)? else {
                continue;
            };
            let (score, endorsed_by) = self.endorsers(&child, weight)?;
            out.push(ReplyNode {
                entry: entry_view(&self.store, &entry)?,
                score,
                endorsed_by,
                replies: self.reply_tree(&child, weight, depth + 1)?,
            });
        }
        Ok(out)
    }

    /// A post with its answers, ranked, and its replies, as a tree. Given a
    /// reply or answer, the thread of the post it belongs to is shown.
    pub fn thread(&self, target: &EntryRef) -> Result<ThreadView> {
        let mut id = target.resolve(&self.store)?;
        let mut root = self
            .store
            .get(&id)?
            .ok_or_else(|| Error::NotFound(format!("no entry {id}")))?;
        for _ in 0..MAX_THREAD_DEPTH {
            let Some(Ok(Body::Post(Post {
                reply_to: Some(parent),
                ..
            }))) = self.store.open_body(&root)
            else {
                break;
            };
            let Some(up) = self.store.get(&parent)? else {
                break;
            };
            id = parent;
            root = up;
        }
        let weight = self.weights()?;
        let accepted = self.store.accepted_by_person(&id, &root.author())?;
        let mut answers = Vec::new();
        for (child, is_answer) in self.store.replies(&id)? {
            if !is_answer {
                continue;
            }
            let Some(entry) = self.store.get(&child)? else {
                continue;
            };
            let (score, endorsed_by) = self.endorsers(&child, &weight)?;
            answers.push(AnswerView {
                entry: entry_view(&self.store, &entry)?,
                score,
                endorsed_by,
                accepted: accepted == Some(child),
                replies: self.reply_tree(&child, &weight, 1)?,
            });
        }
        answers.sort_by(|a, b| {
            b.accepted
                .cmp(&a.accepted)
                .then(b.score.total_cmp(&a.score))
                .then(a.entry.timestamp.cmp(&b.entry.timestamp))
                .then(a.entry.id.cmp(&b.entry.id))
        });
        let (score, endorsed_by) = self.endorsers(&id, &weight)?;
        Ok(ThreadView {
            entry: entry_view(&self.store, &root)?,
            score,
            endorsed_by,
            answers,
            replies: self.reply_tree(&id, &weight, 1)?,
        })
    }

    /// Questions, newest first, with how many answers they have.
    pub fn questions(&self, params: &ops::Questions) -> Result<Vec<QuestionView>> {
        let limit = params
            .limit
            .unwrap_or(DEFAULT_FEED_LIMIT)
            .min(MAX_FEED_LIMIT);
        let mut out = Vec::new();
        let mut before = None;
        // Page through the feed until enough questions pass the filters.
        loop {
            let page = self.store.feed(&FeedQuery {
                limit: 200,
                before,
                author: None,
                kind: Some(PostKind::Question),
                tag: params.tag.clone(),
            })?;
            let Some(last) = page.last() else { break };
            before = Some((last.header().timestamp_ms, last.id()));
            for entry in &page {
                let answers = self
                    .store
                    .replies(&entry.id())?
                    .iter()
                    .filter(|(_, a)| *a)
                    .count();
                if params.unanswered && answers > 0 {
                    continue;
                }
                let accepted = self
                    .store
                    .accepted_by_person(&entry.id(), &entry.author())?
                    .is_some();
                out.push(QuestionView {
                    entry: entry_view(&self.store, entry)?,
                    answers,
                    accepted,
                });
                if out.len() >= limit {
                    return Ok(out);
                }
            }
        }
        Ok(out)
    }
}
