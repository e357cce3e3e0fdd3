//! Full-text search over posts and wiki pages, with tantivy.
//!
//! The index is a view: it lives in `<data dir>/search` (or in memory for
//! throwaway stores), is updated as entries are stored and pages change, and
//! is rebuilt from the store by `reindex`. Commits are batched: documents
//! become searchable at the latest when a search runs (it commits first),
//! every second while a node runs, and at shutdown. Each commit records the
//! store's arrival number it covers, so after a crash the node re-indexes
//! exactly the entries stored since.

use std::path::Path;
use std::time::{Duration, Instant};

use kith_protocol::{AuthorId, EntryId, PageId, Post};
use serde::{Deserialize, Serialize};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, QueryParser, TermQuery};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term, doc};

mod matching;

pub use matching::Snippet;

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
    key: Field,
    kind: Field,
    author: Field,
    tag: Field,
    title: Field,
    body: Field,
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
    let fields = Fields {
        key: b.add_text_field("key", STRING | STORED),
        kind: b.add_text_field("kind", STRING | STORED),
        author: b.add_text_field("author", STRING | STORED),
        tag: b.add_text_field("tag", STRING | STORED),
        title: b.add_text_field("title", TEXT | STORED),
        body: b.add_text_field("body", TEXT | STORED),
        time: b.add_u64_field("time", INDEXED | STORED | FAST),
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

    fn key_term(&self, key: &str) -> Term {
        Term::from_field_text(self.fields.key, key)
    }

    /// Adds (or replaces) a post; `put` says what the caller knows of
    /// whether the index may hold it already.
    pub fn put_post(
        &mut self,
        id: &EntryId,
        author: &AuthorId,
        timestamp_ms: u64,
        post: &Post,
        put: Put,
    ) -> Result<()> {
        let key = format!("e:{id}");
        let absent = match put {
            Put::New => true,
            Put::Walked => self.emptied,
            Put::Again => false,
        };
        if !absent {
            self.writer.delete_term(self.key_term(&key));
            self.replacing += 1;
            self.replaced += 1;
        }
        let f = &self.fields;
        let mut doc = doc!(
            f.key => key,
            f.kind => post.kind.as_str(),
            f.author => author.to_string(),
            f.body => post.text.as_str(),
            f.time => timestamp_ms,
        );
        for tag in &post.tags {
            doc.add_text(f.tag, tag.to_lowercase());
        }
        self.writer.add_document(doc)?;
        self.touched();
        Ok(())
    }

    /// Removes a post (deleted).
    pub fn remove_post(&mut self, id: &EntryId) {
        self.writer.delete_term(self.key_term(&format!("e:{id}")));
        self.touched();
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
        let key = format!("p:{page}");
        self.writer.delete_term(self.key_term(&key));
        self.touched();
        if archived {
            return Ok(());
        }
        let f = &self.fields;
        let mut doc = doc!(
            f.key => key,
            f.kind => "wiki",
            f.title => title,
            f.body => body,
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
    pub fn search(&mut self, params: &Query<'_>) -> Result<Vec<SearchHit>> {
        self.commit()?;
        self.reader.search(params)
    }

    /// Number of searchable documents (after the last commit).
    pub fn len(&self) -> u64 {
        self.reader.reader.searcher().num_docs()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The searching side of the index: cheap to clone, usable from any
/// thread. It sees what the writer last committed; `is_behind` says
/// whether the writer holds changes not committed yet.
#[derive(Clone)]
pub struct SearchReader {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl std::fmt::Debug for SearchReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchReader").finish()
    }
}

impl SearchReader {
    /// Whether the writer has changes a search would not see yet.
    pub fn is_behind(&self) -> bool {
        self.pending.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Ranked results with snippets. Author ids come back as strings to be
    /// resolved to names by the caller.
    pub fn search(&self, params: &Query<'_>) -> Result<Vec<SearchHit>> {
        let searcher = self.reader.searcher();
        let f = &self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.body]);
        parser.set_field_boost(f.title, 2.0);
        // Lenient: a stray quote or colon in what a user typed is not an error.
        let (exact, _) = parser.parse_query_lenient(params.text);
        let words = matching::Words::of(&self.index, &searcher, f, params.text)?;
        let text_query = words.query(exact, f);
        let mut clauses: Vec<(Occur, Box<dyn tantivy::query::Query>)> =
            vec![(Occur::Must, text_query)];
        let mut filter = |field: Field, value: &str| {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(field, value),
                    IndexRecordOption::Basic,
                )),
            ));
        };
        if let Some(author) = params.author {
            filter(f.author, &author.to_string());
        }
        if let Some(tag) = params.tag.filter(|t| !t.trim().is_empty()) {
            filter(f.tag, &tag.trim_start_matches('#').to_lowercase());
        }
        if let Some(kind) = params.kind {
            filter(f.kind, kind.as_str());
        }
        let query = BooleanQuery::new(clauses);
        let limit = params.limit.unwrap_or(10).clamp(1, MAX_LIMIT);
        let top = searcher.search(&query, &TopDocs::with_limit(limit).order_by_score())?;
        let mut body_snippets =
            SnippetGenerator::create(&searcher, &words.highlight(f.body), f.body)?;
        body_snippets.set_max_num_chars(SNIPPET_CHARS);
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address)?;
            let text = |field| {
                doc.get_first(field)
                    .and_then(|v| v.as_str())
                    .map(str::to_string)
            };
            let key = text(f.key).unwrap_or_default();
            let kind = text(f.kind).unwrap_or_default();
            let body = text(f.body).unwrap_or_default();
            let snippet = matching::snippet(&body_snippets, &doc, &body, SNIPPET_CHARS);
            let Ok(kind) = kind.parse::<SearchKind>() else {
                continue;
            };
            out.push(SearchHit {
                kind,
                id: key.get(2..).unwrap_or_default().to_string(),
                title: (kind == SearchKind::Wiki).then(|| text(f.title)).flatten(),
                author: text(f.author).and_then(|a| a.parse().ok()),
                author_name: None,
                timestamp: doc.get_first(f.time).and_then(|v| v.as_u64()).unwrap_or(0),
                tags: doc
                    .get_all(f.tag)
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                snippet,
                score,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
