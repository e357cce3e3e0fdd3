//! The searching side of the index: a reader any thread can search with,
//! and how a hit is made from a post's place and the store.

use kith_protocol::{AuthorId, EntryId, PageId, Post, PostKind};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use tantivy::collector::TopDocs;

use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{BooleanQuery, Occur, QueryParser, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Index, IndexReader, Searcher, TantivyDocument, Term};

use super::{Fields, MAX_LIMIT, Query, Result, SNIPPET_CHARS, SearchHit, SearchKind, io, matching};

/// A post as the store gives it for a hit: see [`SearchReader::search`].
#[derive(Debug, Clone)]
pub struct Found {
    pub id: EntryId,
    pub timestamp_ms: u64,
    pub post: Post,
}

impl SearchKind {
    fn of_post(kind: PostKind) -> SearchKind {
        match kind {
            PostKind::Note => SearchKind::Note,
            PostKind::Question => SearchKind::Question,
            PostKind::Answer => SearchKind::Answer,
        }
    }
}

/// The searching side of the index: cheap to clone, usable from any
/// thread. It sees what the writer last committed; `is_behind` says
/// whether the writer holds changes not committed yet.
#[derive(Clone)]
pub struct SearchReader {
    pub(super) index: Index,
    pub(super) reader: IndexReader,
    pub(super) fields: Fields,
    pub(super) pending: std::sync::Arc<std::sync::atomic::AtomicBool>,
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

    /// Ranked results with snippets. Author names are resolved by the
    /// caller. The index keeps a post's words and place, not the post:
    /// `post_at` reads it from the store (opened if a circle's), and a post
    /// it does not give (deleted, or no longer readable, since the last
    /// commit) is left out.
    pub fn search(&self, params: &Query<'_>, post_at: PostAt<'_>) -> Result<Vec<SearchHit>> {
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
        let mut places = Places::default();
        let mut out = Vec::with_capacity(top.len());
        for (score, address) in top {
            let (author, seq) = places.of(&searcher, f, address)?;
            let hit = match seq {
                Some(seq) => {
                    let Some(Found {
                        id,
                        timestamp_ms,
                        post,
                    }) = author.as_ref().and_then(|a| post_at(a, seq))
                    else {
                        continue;
                    };
                    SearchHit {
                        kind: SearchKind::of_post(post.kind),
                        id: id.to_string(),
                        title: None,
                        author,
                        author_name: None,
                        timestamp: timestamp_ms,
                        snippet: matching::snippet(&body_snippets, &post.text, SNIPPET_CHARS),
                        tags: post.tags,
                        score,
                    }
                }
                None => {
                    let doc: TantivyDocument = searcher.doc(address)?;
                    let text = |field| doc.get_first(field).and_then(|v| v.as_str());
                    let Some(page) = doc
                        .get_first(f.page)
                        .and_then(|v| v.as_bytes())
                        .and_then(|b| Some(PageId(b.try_into().ok()?)))
                    else {
                        continue;
                    };
                    SearchHit {
                        kind: SearchKind::Wiki,
                        id: page.to_string(),
                        title: text(f.title).map(str::to_string),
                        author,
                        author_name: None,
                        timestamp: doc.get_first(f.time).and_then(|v| v.as_u64()).unwrap_or(0),
                        tags: Vec::new(),
                        snippet: matching::snippet(
                            &body_snippets,
                            text(f.text).unwrap_or_default(),
                            SNIPPET_CHARS,
                        ),
                        score,
                    }
                }
            };
            out.push(hit);
        }
        Ok(out)
    }
}

/// Reads a post's place from the store: see [`SearchReader::search`].
pub type PostAt<'a> = &'a dyn Fn(&AuthorId, u64) -> Option<Found>;

/// The fast-field columns that give a hit's place, opened once per segment.
#[derive(Default)]
struct Places {
    /// Either column is absent from a segment where no document has the
    /// field (one written by a commit of page changes alone has no `seq`).
    segments: HashMap<u32, (Option<StrColumn>, Option<Column<u64>>)>,
}

impl Places {
    /// The author (posts and pages) and sequence number (posts) of a hit.
    fn of(
        &mut self,
        searcher: &Searcher,
        f: &Fields,
        address: DocAddress,
    ) -> Result<(Option<AuthorId>, Option<u64>)> {
        let (authors, seqs) = match self.segments.entry(address.segment_ord) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let fast = searcher.segment_reader(address.segment_ord).fast_fields();
                let schema = searcher.schema();
                e.insert((
                    fast.str(schema.get_field_name(f.author))?,
                    fast.column_opt(schema.get_field_name(f.seq))?,
                ))
            }
        };
        let mut author = None;
        if let Some(authors) = authors
            && let Some(ord) = authors.term_ords(address.doc_id).next()
        {
            let mut name = String::new();
            if authors.ord_to_str(ord, &mut name).map_err(io)? {
                author = name.parse().ok();
            }
        }
        Ok((author, seqs.as_ref().and_then(|s| s.first(address.doc_id))))
    }
}
