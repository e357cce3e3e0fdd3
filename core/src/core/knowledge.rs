//! Knowledge exchange, the writing side: search (which commits first, so a
//! search sees what was just written), questions, answers, replies,
//! endorsements and accepted answers. Ranking is read-time: see
//! [`crate::reader`].

use kith_protocol::blob::BlobRef;
use kith_protocol::{Accept, Body, Endorsement, EntryId, PostKind};

use super::{Core, search_error};
use crate::error::{Error, Result};
use crate::model::{AskOutcome, EntryView};
use crate::ops;
use crate::reader::Reader;
use crate::reader::{post_at, post_body};
use crate::search::{Query, SearchHit, SearchKind, SearchReader};

/// Words too common to say two questions are alike.
const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "but", "not", "you", "all", "any", "can", "had", "her", "was",
    "one", "our", "out", "has", "have", "how", "why", "what", "when", "where", "who", "which",
    "does", "did", "this", "that", "with", "from", "they", "them", "there", "their", "would",
    "could", "should", "about", "into", "than", "then", "some", "your", "just", "get", "use",
    "using", "way", "best",
];

/// Full-text search over posts and pages with a reader of the index.
pub fn search(
    query: &ops::Search,
    index: &SearchReader,
    reader: &Reader,
) -> Result<Vec<SearchHit>> {
    if query.q.trim().is_empty() {
        return Err(Error::InvalidInput("give some words to search for".into()));
    }
    let author = query.author.map(|a| a.resolve(reader.me()));
    let mut hits = index
        .search(
            &Query {
                text: &query.q,
                author: author.as_ref(),
                tag: query.tag.as_deref(),
                kind: query.kind,
                limit: query.limit,
            },
            &|author, seq| post_at(reader.store(), author, seq),
        )
        .map_err(search_error)?;
    for hit in &mut hits {
        if let Some(a) = hit.author {
            hit.author_name = reader.store().display_name(&a)?;
        }
    }
    Ok(hits)
}

/// Questions and answers sharing significant words with `text` (words of
/// three letters or more, not among the most common), best first, at
/// most five: what `ask` checks before posting.
pub fn similar(text: &str, index: &SearchReader, reader: &Reader) -> Result<Vec<SearchHit>> {
    let words: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .map(str::to_lowercase)
        .filter(|w| w.chars().count() >= 3 && !STOP_WORDS.contains(&w.as_str()))
        .collect();
    if words.is_empty() {
        return Ok(Vec::new());
    }
    let q = words.join(" ");
    let mut hits = Vec::new();
    for kind in [SearchKind::Question, SearchKind::Answer] {
        let query = ops::Search {
            q: q.clone(),
            kind: Some(kind),
            limit: Some(5),
            ..Default::default()
        };
        hits.extend(search(&query, index, reader)?);
    }
    hits.sort_by(|a, b| b.score.total_cmp(&a.score));
    hits.truncate(5);
    Ok(hits)
}

impl Core {
    /// Full-text search over posts and pages, ranked, with snippets (what
    /// was written since the last commit is committed first).
    pub fn search(&mut self, query: &ops::Search) -> Result<Vec<SearchHit>> {
        self.search_flush()?;
        search(query, &self.search.reader(), &self.reader())
    }

    /// Asks a question, unless existing questions or answers look like it
    /// (then they are returned instead; `yes` posts anyway).
    pub fn ask(&mut self, ask: &ops::Ask) -> Result<AskOutcome> {
        if !ask.yes {
            let similar = self.similar_questions(&ask.text)?;
            if !similar.is_empty() {
                return Ok(AskOutcome {
                    posted: None,
                    similar,
                });
            }
        }
        let posted = self.post(&ops::Post {
            text: ask.text.clone(),
            kind: PostKind::Question,
            reply_to: None,
            tags: ask.tags.clone(),
            circle: ask.circle.clone(),
            files: Vec::new(),
        })?;
        Ok(AskOutcome {
            posted: Some(posted),
            similar: Vec::new(),
        })
    }

    /// Questions and answers sharing significant words with `text`.
    fn similar_questions(&mut self, text: &str) -> Result<Vec<SearchHit>> {
        self.search_flush()?;
        similar(text, &self.search.reader(), &self.reader())
    }

    /// Answers a question.
    pub fn answer(
        &mut self,
        question: EntryId,
        text: &str,
        tags: &[String],
        files: &[BlobRef],
    ) -> Result<EntryView> {
        let (_, post) = post_body(&self.store, &question)?;
        if post.kind != PostKind::Question {
            return Err(Error::InvalidInput(format!(
                "{question} is a {}, not a question; use `kith reply` to reply to it",
                post.kind
            )));
        }
        self.post(&ops::Post {
            circle: None,
            text: text.to_string(),
            kind: PostKind::Answer,
            reply_to: Some(question.into()),
            tags: tags.to_vec(),
            files: files.to_vec(),
        })
    }

    /// Replies to any post.
    pub fn reply(
        &mut self,
        target: EntryId,
        text: &str,
        tags: &[String],
        files: &[BlobRef],
    ) -> Result<EntryView> {
        post_body(&self.store, &target)?;
        self.post(&ops::Post {
            circle: None,
            text: text.to_string(),
            kind: PostKind::Note,
            reply_to: Some(target.into()),
            tags: tags.to_vec(),
            files: files.to_vec(),
        })
    }

    /// Endorses an entry (one endorsement per author per entry), or
    /// withdraws an earlier endorsement.
    pub fn endorse(
        &mut self,
        id: EntryId,
        note: Option<&str>,
        withdraw: bool,
    ) -> Result<EntryView> {
        let (entry, _) = post_body(&self.store, &id)?;
        if entry.author() == self.me() && !withdraw {
            return Err(Error::InvalidInput(
                "you cannot endorse your own post".into(),
            ));
        }
        let current = self
            .store
            .endorsements(&id)?
            .into_iter()
            .any(|(a, _)| a == self.me());
        if withdraw && !current {
            return Err(Error::InvalidInput(format!("you have not endorsed {id}")));
        }
        if !withdraw && current {
            return Err(Error::InvalidInput(format!(
                "you already endorsed {id} (withdraw with `kith endorse {} --withdraw`)",
                &id.to_hex()[..12]
            )));
        }
        let note = note.map(|n| n.trim().to_string()).filter(|n| !n.is_empty());
        self.append_one(Body::Endorsement(Endorsement {
            target: id,
            note,
            withdraw,
        }))
    }

    /// Marks an answer to one's own question accepted (or withdraws that).
    pub fn accept(&mut self, answer: EntryId, withdraw: bool) -> Result<EntryView> {
        let (_, post) = post_body(&self.store, &answer)?;
        let question = match (post.kind, post.reply_to) {
            (PostKind::Answer, Some(q)) => q,
            _ => return Err(Error::InvalidInput(format!("{answer} is not an answer"))),
        };
        let (q_entry, _) = post_body(&self.store, &question)?;
        let mine = self.store.registry()?.person_of(&self.me());
        if mine.key(&q_entry.author()).is_none() {
            return Err(Error::InvalidInput(
                "only the question's author (on any of their devices) can accept an answer".into(),
            ));
        }
        let current = self.store.accepted_by_person(&question, &self.me())?;
        if withdraw && current != Some(answer) {
            return Err(Error::InvalidInput(format!(
                "{answer} is not the accepted answer"
            )));
        }
        self.append_one(Body::Accept(Accept {
            question,
            answer: (!withdraw).then_some(answer),
        }))
    }
}
