//! Full-text search over posts and wiki pages, with tantivy.
//!
//! The index is a view: it lives in `<data dir>/search` (or in memory for
//! throwaway stores), is updated as entries are stored and pages change, and
//! is rebuilt from the store by `reindex`. Commits are batched: documents
//! become searchable at the latest when a search runs (it commits first),
//! every second while a node runs, and at shutdown. Each commit records the
//! store's arrival number it covers, so after a crash the node re-indexes
//! exactly the entries stored since.
//!
//! A post is indexed by its words and its place in its author's log
//! (author, sequence number), and nothing else is kept of it: a hit's text,
//! kind, tags and time are read from the store (`SearchReader::search`'s
//! `post_at`). So the index holds no second copy of any post and no term of
//! its own per post (a post is replaced or removed by its author and
//! sequence number, terms many posts share). A place, once filled, only
//! ever empties (a revoked device's entries cut), so a hit the store no
//! longer gives is left out. Pages are few and are not entries: their id,
//! title and text are stored.

use std::path::Path;
use std::time::{Duration, Instant};

use kith_protocol::{AuthorId, PageId, Post};
use serde::{Deserialize, Serialize};
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::{
    BytesOptions, Field, IndexRecordOption, NumericOptions, STORED, Schema, TEXT,
    TextFieldIndexing, TextOptions,
};
use tantivy::{Index, IndexWriter, ReloadPolicy, Term, doc};

mod matching;
mod reader;

pub use matching::Snippet;
pub use reader::{Found, PostAt, SearchReader};

/// Memory the index writer may use before it flushes a segment.
const WRITER_BYTES: usize = 16 * 1024 * 1024;
/// Most results of one search.
pub const MAX_LIMIT: usize = 100;
/// Longest snippet, in bytes.
const SNIPPET_CHARS: usize = 160;

/// Errors from the search index.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("search index: {0}")]
    Index(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Dir(String),
}

type Result<T, E = Error> = std::result::Result<T, E>;

/// What a search result is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    Note,
    Question,
    Answer,
    Wiki,
}

impl SearchKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            SearchKind::Note => "note",
            SearchKind::Question => "question",
            SearchKind::Answer => "answer",
            SearchKind::Wiki => "wiki",
        }
    }
}

impl std::fmt::Display for SearchKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for SearchKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "note" => SearchKind::Note,
            "question" => SearchKind::Question,
            "answer" => SearchKind::Answer,
            "wiki" | "page" => SearchKind::Wiki,
            other => {
                return Err(format!(
                    "unknown kind {other:?} (expected note, question, answer or wiki)"
                ));
            }
        })
    }
}

/// A search, with its filters resolved.
#[derive(Debug, Clone, Copy)]
pub struct Query<'a> {
    pub text: &'a str,
    pub author: Option<&'a AuthorId>,
    pub tag: Option<&'a str>,
    pub kind: Option<SearchKind>,
    pub limit: Option<usize>,
}

/// One result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SearchHit {
    pub kind: SearchKind,
    /// Entry id (posts) or page id (wiki).
    pub id: String,
    /// Page title (wiki).
    pub title: Option<String>,
    /// Post author; for pages, the author of the latest change.
    pub author: Option<AuthorId>,
    pub author_name: Option<String>,
    pub timestamp: u64,
    pub tags: Vec<String>,
    /// A fragment of the text around the matches (JSON: `snippet`, the
    /// text, and `matches`, byte ranges of it).
    #[serde(flatten)]
    pub snippet: Snippet,
    pub score: f32,
}

#[derive(Clone, Copy)]
struct Fields {
    /// Filters: a post's kind (`wiki` for pages), its author, its tags.
    kind: Field,
    /// Also a fast field: with `seq`, a post's place.
    author: Field,
    /// A post's sequence number in its author's log (absent on pages).
    seq: Field,
    tag: Field,
    /// A page's title (posts have none).
    title: Field,
    /// The words of a post or page, not stored.
    body: Field,
    /// A page's id, text and last change, stored for its hits.
    page: Field,
    text: Field,
    time: Field,
}

/// What the caller of [`Search::put_post`] knows of the post's place in
/// the index. A replacement costs a delete query held until the commit,
/// so a post known to be absent is only added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// Just stored for the first time. The index cannot hold it as long
    /// as the store is made durable before every commit of the index
    /// (`Core::search_flush` does), so that no committed index can hold
    /// a post a crash took from the store.
    New,
    /// Reached by a rebuild's walk: absent while the index is emptied.
    Walked,
    /// May be indexed already (a circle post opened again).
    Again,
}

pub struct Search {
    writer: IndexWriter,
    reader: SearchReader,
    fields: Fields,
    /// Arrival number covered by the documents added so far.
    covered: u64,
    dirty: bool,
    last_commit: Instant,
    /// The index was emptied since the last commit (a rebuild runs): a
    /// post its walk reaches cannot be in it, so nothing needs replacing.
    /// Each replacement costs tantivy a delete query held until the commit
    /// (~1.2 KiB: 124 MiB for a rebuild of 100,000 posts).
    emptied: bool,
    /// Replacements (delete queries) waiting for the next commit.
    replacing: usize,
    /// Replacements since the index was opened.
    replaced: u64,
}

impl std::fmt::Debug for Search {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Search")
            .field("covered", &self.covered)
            .finish()
    }
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // Filters: whole values, no length norm kept per document.
    let filter = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("raw")
            .set_index_option(IndexRecordOption::Basic)
            .set_fieldnorms(false),
    );
    let fields = Fields {
        kind: b.add_text_field("kind", filter.clone()),
        author: b.add_text_field("author", filter.clone().set_fast("raw")),
        seq: b.add_u64_field("seq", NumericOptions::default().set_indexed().set_fast()),
        tag: b.add_text_field("tag", filter),
        title: b.add_text_field("title", TEXT | STORED),
        body: b.add_text_field("body", TEXT),
        page: b.add_bytes_field("page", BytesOptions::default().set_indexed().set_stored()),
        text: b.add_text_field("text", STORED),
        time: b.add_u64_field("time", STORED),
    };
    (b.build(), fields)
}

impl Search {
    /// Opens the index in `dir` (created if missing), or in memory.
    pub fn open(dir: Option<&Path>) -> Result<Search> {
        let (schema, fields) = schema();
        let index = match dir {
            None => Index::create_in_ram(schema),
            Some(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| Error::Dir(format!("{}: {e}", dir.display())))?;
                let mmap = tantivy::directory::MmapDirectory::open(dir)
                    .map_err(|e| Error::Dir(format!("{}: {e}", dir.display())))?;
                match Index::open_or_create(mmap, schema.clone()) {
                    Ok(index) => index,
                    // An index of another schema version: start over (it is a view).
                    Err(tantivy::TantivyError::SchemaError(_)) => {
                        std::fs::remove_dir_all(dir).map_err(|e| Error::Dir(e.to_string()))?;
                        std::fs::create_dir_all(dir).map_err(|e| Error::Dir(e.to_string()))?;
                        Index::create_in_dir(dir, schema)?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        let writer = index.writer_with_num_threads(1, WRITER_BYTES)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let covered = index
            .load_metas()?
            .payload
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        Ok(Search {
            writer,
            reader: SearchReader {
                index,
                reader,
                fields,
                pending: Default::default(),
            },
            fields,
            covered,
            dirty: false,
            last_commit: Instant::now(),
            emptied: false,
            replacing: 0,
            replaced: 0,
        })
    }

    /// The arrival number the index covers.
    pub fn covered(&self) -> u64 {
        self.covered
    }

    /// Notes that everything up to arrival `n` has been added.
    pub fn cover(&mut self, n: u64) {
        if n > self.covered {
            self.covered = n;
            self.dirty = true;
        }
    }

    /// A reader that any thread can search with (it sees what was last
    /// committed).
    pub fn reader(&self) -> SearchReader {
        self.reader.clone()
    }

    fn touched(&mut self) {
        self.dirty = true;
        self.reader
            .pending
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// Every document at `author`'s place `seq` (one post, or none).
    fn place(&self, author: &AuthorId, seq: u64) -> Box<dyn tantivy::query::Query> {
        let term = |term| -> Box<dyn tantivy::query::Query> {
            Box::new(TermQuery::new(term, IndexRecordOption::Basic))
        };
        Box::new(BooleanQuery::new(vec![
            (
                Occur::Must,
                term(Term::from_field_text(
                    self.fields.author,
                    &author.to_string(),
                )),
            ),
            (
                Occur::Must,
                term(Term::from_field_u64(self.fields.seq, seq)),
            ),
        ]))
    }

    /// Adds (or replaces) the post at `author`'s place `seq`; `put` says
    /// what the caller knows of whether the index may hold it already.
    pub fn put_post(&mut self, author: &AuthorId, seq: u64, post: &Post, put: Put) -> Result<()> {
        let absent = match put {
            Put::New => true,
            Put::Walked => self.emptied,
            Put::Again => false,
        };
        if !absent {
            self.writer.delete_query(self.place(author, seq))?;
            self.replacing += 1;
            self.replaced += 1;
        }
        let f = &self.fields;
        let mut doc = doc!(
            f.kind => post.kind.as_str(),
            f.author => author.to_string(),
            f.seq => seq,
            f.body => post.text.as_str(),
        );
        for tag in &post.tags {
            doc.add_text(f.tag, tag.to_lowercase());
        }
        self.writer.add_document(doc)?;
        self.touched();
        Ok(())
    }

    /// Removes the post at `author`'s place `seq` (deleted).
    pub fn remove_post(&mut self, author: &AuthorId, seq: u64) -> Result<()> {
        self.writer.delete_query(self.place(author, seq))?;
        self.touched();
        Ok(())
    }

    /// Adds (or replaces) a page; archived pages are removed.
    pub fn put_page(
        &mut self,
        page: &PageId,
        title: &str,
        body: &str,
        last_author: Option<&AuthorId>,
        updated_ms: u64,
        archived: bool,
    ) -> Result<()> {
        self.writer
            .delete_term(Term::from_field_bytes(self.fields.page, &page.0));
        self.touched();
        if archived {
            return Ok(());
        }
        let f = &self.fields;
        let mut doc = doc!(
            f.page => page.0.to_vec(),
            f.kind => "wiki",
            f.title => title,
            f.body => body,
            f.text => body,
            f.time => updated_ms,
        );
        if let Some(author) = last_author {
            doc.add_text(f.author, author.to_string());
        }
        self.writer.add_document(doc)?;
        Ok(())
    }

    /// Replacements waiting for the next commit (each holds memory).
    pub fn replacing(&self) -> usize {
        self.replacing
    }

    /// Posts put as replacements since the index was opened.
    pub fn replaced(&self) -> u64 {
        self.replaced
    }

    /// Empties the index (before a rebuild).
    pub fn clear(&mut self) -> Result<()> {
        self.writer.delete_all_documents()?;
        self.emptied = true;
        self.covered = 0;
        self.touched();
        Ok(())
    }

    /// Makes everything added searchable and durable.
    pub fn commit(&mut self) -> Result<()> {
        if !self.dirty {
            return Ok(());
        }
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&self.covered.to_string());
        prepared.commit()?;
        self.reader.reader.reload()?;
        self.dirty = false;
        self.emptied = false;
        self.replacing = 0;
        self.reader
            .pending
            .store(false, std::sync::atomic::Ordering::SeqCst);
        self.last_commit = Instant::now();
        Ok(())
    }

    /// Time since the last commit.
    pub fn since_commit(&self) -> Duration {
        self.last_commit.elapsed()
    }

    /// There is something to commit and the last commit is at least
    /// `every` old (the node's timer commits then).
    pub fn is_due(&self, every: Duration) -> bool {
        self.dirty && self.last_commit.elapsed() >= every
    }

    /// Something was added or removed since the last commit.
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Commits, then searches (see [`SearchReader::search`]).
    #[cfg(test)]
    pub fn search(&mut self, params: &Query<'_>, post_at: PostAt<'_>) -> Result<Vec<SearchHit>> {
        self.commit()?;
        self.reader.search(params, post_at)
    }

    /// Number of searchable documents (after the last commit).
    pub fn len(&self) -> u64 {
        self.reader.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn io(e: std::io::Error) -> Error {
    Error::Index(e.into())
}

#[cfg(test)]
mod tests;
