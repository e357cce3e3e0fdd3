use kith_protocol::{Keypair, Post, PostKind};

use super::*;

fn note(text: &str) -> Post {
    Post {
        kind: PostKind::Note,
        text: text.into(),
        reply_to: None,
        tags: vec![],
    }
}

/// A new post and, between emptying the index and the next commit (a
/// rebuild), a walked one are only added; otherwise every put
/// replaces, so a post indexed twice is found once.
#[test]
fn only_new_and_rebuilt_posts_are_added_without_replacing() {
    let author = Keypair::from_secret(&[1; 32]).author();
    let mut search = Search::open(None).unwrap();
    let find = |search: &mut Search| {
        search
            .search(&Query {
                text: "wombat",
                author: None,
                tag: None,
                kind: None,
                limit: Some(200),
            })
            .unwrap()
            .len()
    };
    let id = EntryId([1; 32]);
    search
        .put_post(&id, &author, 1, &note("a wombat"), Put::New)
        .unwrap();
    assert_eq!(search.replacing(), 0, "a new post holds no delete query");
    for put in [Put::Walked, Put::Again] {
        search
            .put_post(&id, &author, 1, &note("a wombat"), put)
            .unwrap();
    }
    assert_eq!(search.replacing(), 2);
    assert_eq!(find(&mut search), 1);
    assert_eq!(search.replacing(), 0);

    search.clear().unwrap();
    for i in 0..100u8 {
        let id = EntryId([i; 32]);
        search
            .put_post(&id, &author, 1, &note("a wombat"), Put::Walked)
            .unwrap();
    }
    assert_eq!(search.replacing(), 0, "a rebuild holds no delete queries");
    search
        .put_post(&EntryId([7; 32]), &author, 1, &note("a wombat"), Put::Again)
        .unwrap();
    assert_eq!(search.replacing(), 1);
    assert_eq!(find(&mut search), 100);
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
        .put_post(&EntryId([3; 32]), &author, 1, &note(text), Put::Again)
        .unwrap();
    let hits = search
        .search(&Query {
            text: "night",
            author: None,
            tag: None,
            kind: None,
            limit: Some(5),
        })
        .unwrap();
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
