use kith_protocol::{AuthorId, EntryId, Keypair, PageId, Post, PostKind};

use super::*;

fn note(text: &str) -> Post {
    Post {
        kind: PostKind::Note,
        text: text.into(),
        reply_to: None,
        tags: vec![],
        files: Vec::new(),
        mentions: Vec::new(),
    }
}

/// The store, as `post_at` reads it: the posts at their places.
fn store_of(posts: &[(AuthorId, u64, &str)]) -> impl Fn(&AuthorId, u64) -> Option<Found> + use<> {
    let posts: Vec<(AuthorId, u64, String)> = posts
        .iter()
        .map(|(a, s, t)| (*a, *s, t.to_string()))
        .collect();
    move |author, seq| {
        posts
            .iter()
            .find(|(a, s, _)| a == author && *s == seq)
            .map(|(a, s, text)| Found {
                id: EntryId(id_of(a, *s)),
                timestamp_ms: *s,
                post: note(text),
            })
    }
}

/// An id for a place, distinct per place (the tests only compare them).
fn id_of(author: &AuthorId, seq: u64) -> [u8; 32] {
    let mut id = *author.as_bytes();
    id[..8].copy_from_slice(&seq.to_be_bytes());
    id
}

/// Every hit of `text` (at most `MAX_LIMIT`), no filters.
fn hits(search: &mut Search, text: &str, store: PostAt<'_>) -> Vec<SearchHit> {
    let query = Query {
        text,
        author: None,
        tag: None,
        kind: None,
        limit: Some(MAX_LIMIT),
    };
    search.search(&query, store).unwrap()
}

fn count(search: &mut Search, text: &str, store: PostAt<'_>) -> usize {
    hits(search, text, store).len()
}

/// A new post and, between emptying the index and the next commit (a
/// rebuild), a walked one are only added; otherwise every put
/// replaces, so a post indexed twice is found once.
#[test]
fn only_new_and_rebuilt_posts_are_added_without_replacing() {
    let author = Keypair::from_secret(&[1; 32]).author();
    let mut search = Search::open(None).unwrap();
    let places: Vec<(AuthorId, u64, &str)> = (0..100).map(|s| (author, s, "a wombat")).collect();
    let store = store_of(&places);
    search
        .put_post(&author, 1, &note("a wombat"), Put::New)
        .unwrap();
    assert_eq!(search.replacing(), 0, "a new post holds no delete query");
    for put in [Put::Walked, Put::Again] {
        search.put_post(&author, 1, &note("a wombat"), put).unwrap();
    }
    assert_eq!(search.replacing(), 2);
    assert_eq!(count(&mut search, "wombat", &store), 1);
    assert_eq!(search.replacing(), 0);

    search.clear().unwrap();
    for seq in 0..100 {
        search
            .put_post(&author, seq, &note("a wombat"), Put::Walked)
            .unwrap();
    }
    assert_eq!(search.replacing(), 0, "a rebuild holds no delete queries");
    search
        .put_post(&author, 7, &note("a wombat"), Put::Again)
        .unwrap();
    assert_eq!(search.replacing(), 1);
    assert_eq!(count(&mut search, "wombat", &store), 100);
}

/// A post is replaced or removed by its place alone: the same number in
/// another author's log, or another number in the same log, is untouched,
/// whatever the posts say.
#[test]
fn a_place_is_an_author_and_a_number_together() {
    let (ana, ben) = (
        Keypair::from_secret(&[1; 32]).author(),
        Keypair::from_secret(&[2; 32]).author(),
    );
    let mut search = Search::open(None).unwrap();
    let places = [
        (ana, 5, "a quoll"),
        (ben, 5, "a quoll"),
        (ana, 6, "a quoll"),
    ];
    for (author, seq, text) in places {
        search
            .put_post(&author, seq, &note(text), Put::New)
            .unwrap();
    }
    let store = store_of(&places);
    assert_eq!(count(&mut search, "quoll", &store), 3);
    search.remove_post(&ana, 5).unwrap();
    let hits = hits(&mut search, "quoll", &store);
    let mut left: Vec<(AuthorId, u64)> = hits
        .iter()
        .map(|h| (h.author.unwrap(), h.timestamp))
        .collect();
    left.sort();
    let mut expected = vec![(ben, 5), (ana, 6)];
    expected.sort();
    assert_eq!(left, expected);
    search
        .put_post(&ben, 5, &note("a quoll again"), Put::Again)
        .unwrap();
    assert_eq!(
        count(&mut search, "quoll", &store),
        2,
        "replaced, not added"
    );
    let only_ben = search
        .search(
            &Query {
                text: "quoll",
                author: Some(&ben),
                tag: None,
                kind: None,
                limit: Some(10),
            },
            &store,
        )
        .unwrap();
    assert_eq!(only_ben.len(), 1);
}

/// Issue 29: a snippet reads as words, not markdown source, and its
/// highlight still covers the word found.
#[test]
fn snippets_leave_markdown_marks_out() {
    let author = Keypair::from_secret(&[1; 32]).author();
    let mut search = Search::open(None).unwrap();
    let text =
        "## Backups\n\nRun **`kith bundle`** every *night*:\n\n```sh\nkith bundle export\n```\n";
    search
        .put_post(&author, 3, &note(text), Put::Again)
        .unwrap();
    let hits = hits(&mut search, "night", &store_of(&[(author, 3, text)]));
    let snippet = &hits[0].snippet;
    assert!(!snippet.text.contains(['*', '`', '#']), "{}", snippet.text);
    assert!(
        snippet.text.contains("Run kith bundle every night:"),
        "{}",
        snippet.text
    );
    let [start, end] = snippet.matches[0];
    assert_eq!(&snippet.text[start..end], "night");
}

/// The index keeps a post's words and place, not the post: a hit is
/// made of what the store gives now (text, kind, tags, time, id), and a
/// post the store no longer gives (deleted, or a circle post that cannot
/// be opened) is left out even before its removal is committed. A page
/// keeps its id, title and text in the index.
#[test]
fn posts_come_from_the_store_and_pages_keep_theirs() {
    let author = Keypair::from_secret(&[1; 32]).author();
    let mut search = Search::open(None).unwrap();
    for seq in [1, 2] {
        search
            .put_post(&author, seq, &note("the numbat digs"), Put::New)
            .unwrap();
    }
    let page = PageId([9; 16]);
    search
        .put_page(&page, "Burrows", "A numbat page.", Some(&author), 2, false)
        .unwrap();
    let store = |a: &AuthorId, seq: u64| {
        (seq == 1)
            .then(|| Found {
                id: EntryId([7; 32]),
                timestamp_ms: 1234,
                post: Post {
                    kind: PostKind::Question,
                    text: "the store's numbat text".into(),
                    reply_to: None,
                    tags: vec!["burrows".into()],
                    files: Vec::new(),
                    mentions: Vec::new(),
                },
            })
            .filter(|_| *a == author)
    };
    let hits = hits(&mut search, "numbat", &store);
    let ids: Vec<&str> = hits.iter().map(|h| h.id.as_str()).collect();
    assert_eq!(hits.len(), 2, "{ids:?}");
    let post = hits.iter().find(|h| h.kind != SearchKind::Wiki).unwrap();
    assert_eq!(post.id, EntryId([7; 32]).to_string());
    assert_eq!(post.kind, SearchKind::Question);
    assert_eq!(post.author, Some(author));
    assert_eq!(
        (post.timestamp, post.tags.as_slice()),
        (1234, &["burrows".to_string()][..])
    );
    assert_eq!(post.snippet.text, "the store's numbat text");
    let [start, end] = post.snippet.matches[0];
    assert_eq!(&post.snippet.text[start..end], "numbat");
    let wiki = hits.iter().find(|h| h.kind == SearchKind::Wiki).unwrap();
    assert_eq!(wiki.id, page.to_string());
    assert_eq!(wiki.title.as_deref(), Some("Burrows"));
    assert_eq!((wiki.author, wiki.timestamp), (Some(author), 2));
    assert_eq!(wiki.snippet.text, "A numbat page.");
}

/// An index written with another schema (here the one before post texts
/// left the index) is a view of another version: opening starts it over,
/// covering nothing, so the store's catch-up indexes everything again.
#[test]
fn an_index_of_another_schema_is_started_over() {
    use tantivy::schema::{STORED, STRING, TEXT};
    let dir = tempfile::tempdir().unwrap();
    {
        let mut b = tantivy::schema::Schema::builder();
        let key = b.add_text_field("key", STRING | STORED);
        let body = b.add_text_field("body", TEXT | STORED);
        let index = Index::create_in_dir(dir.path(), b.build()).unwrap();
        let mut writer: IndexWriter = index.writer_with_num_threads(1, 15_000_000).unwrap();
        writer
            .add_document(doc!(key => "e:01", body => "an old numbat"))
            .unwrap();
        let mut prepared = writer.prepare_commit().unwrap();
        prepared.set_payload("42");
        prepared.commit().unwrap();
    }
    let search = Search::open(Some(dir.path())).unwrap();
    assert_eq!(search.covered(), 0);
    assert!(search.is_empty());
    drop(search);
    let again = Search::open(Some(dir.path())).unwrap();
    assert!(again.is_empty(), "reopening keeps the new schema");
}

/// A commit of page changes alone writes a segment with no post in it: a
/// hit there is a page (no place), whether or not the segment has a `seq`
/// column, and it is found beside posts of other segments.
#[test]
fn a_segment_of_pages_alone_is_searched_beside_posts() {
    let author = Keypair::from_secret(&[1; 32]).author();
    let mut search = Search::open(None).unwrap();
    let store = store_of(&[(author, 1, "a bilby burrow")]);
    search
        .put_page(&PageId([1; 16]), "Bilby", "A bilby page.", None, 1, false)
        .unwrap();
    let kinds = |search: &mut Search| {
        let mut kinds: Vec<SearchKind> = hits(search, "bilby", &store)
            .iter()
            .map(|h| h.kind)
            .collect();
        kinds.sort_by_key(|k| k.as_str());
        kinds
    };
    assert_eq!(kinds(&mut search), [SearchKind::Wiki], "pages alone");
    search
        .put_post(&author, 1, &note("a bilby burrow"), Put::New)
        .unwrap();
    assert_eq!(
        kinds(&mut search),
        [SearchKind::Note, SearchKind::Wiki],
        "pages and posts"
    );
}

/// Words begun are expanded only for the last word typed (the one still
/// being typed), and one-typo neighbours only for a word that fewer than
/// `TYPO_UNLESS_IN` documents hold as typed.
#[test]
fn prefixes_for_the_last_word_and_typos_for_a_word_rarely_held() {
    use super::matching::TYPO_UNLESS_IN;
    let author = Keypair::from_secret(&[1; 32]).author();
    let mut search = Search::open(None).unwrap();
    let mut places: Vec<(AuthorId, u64, String)> = vec![
        (author, 1, "we merge the pages".into()),
        (author, 2, "notes on sync".into()),
        (author, 3, "a card on the table".into()),
    ];
    // One document fewer than the bound holds "cart".
    for seq in 0..TYPO_UNLESS_IN - 1 {
        places.push((author, 10 + seq, format!("a cart of apples {seq}")));
    }
    let put = |search: &mut Search, places: &[(AuthorId, u64, String)]| {
        for (a, s, text) in places {
            search.put_post(a, *s, &note(text), Put::New).unwrap();
        }
    };
    put(&mut search, &places);
    let texts = |search: &mut Search, places: &[(AuthorId, u64, String)], q: &str| {
        let borrowed: Vec<(AuthorId, u64, &str)> = places
            .iter()
            .map(|(a, s, t)| (*a, *s, t.as_str()))
            .collect();
        let store = store_of(&borrowed);
        let mut found: Vec<String> = hits(search, q, &store)
            .into_iter()
            .map(|h| h.snippet.text)
            .collect();
        found.sort();
        found
    };
    // "mer" last: begun, so it finds "merge"; before another word it is a
    // word as typed (too short for a typo), and only "notes" matches.
    assert_eq!(
        texts(&mut search, &places, "notes mer"),
        ["notes on sync", "we merge the pages"]
    );
    assert_eq!(texts(&mut search, &places, "mer notes"), ["notes on sync"]);
    // "cart" is held by fewer documents than the bound: its neighbour
    // "card" is found too, ranked below the exact hits.
    let found = texts(&mut search, &places, "cart");
    assert_eq!(found.len() as u64, TYPO_UNLESS_IN, "{found:?}");
    assert!(found.contains(&"a card on the table".to_string()));
    // One more document holds it: "cart" is taken as typed.
    places.push((author, 99, "the cart is full".into()));
    put(&mut search, &places[places.len() - 1..]);
    let found = texts(&mut search, &places, "cart");
    assert_eq!(found.len() as u64, TYPO_UNLESS_IN, "{found:?}");
    assert!(found.iter().all(|t| t.contains("cart")), "{found:?}");
    // A word no document holds is still corrected.
    assert_eq!(texts(&mut search, &places, "crad"), ["a card on the table"]);
}
