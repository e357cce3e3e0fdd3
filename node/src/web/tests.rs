use super::*;

#[test]
fn dates_and_snippets() {
    assert_eq!(humantime_iso(0), "1970-01-01T00:00:00Z");
    assert_eq!(humantime_iso(1_700_000_000_000), "2023-11-14T22:13:20Z");
    let snippet = crate::search::Snippet {
        text: "a **b** <c>".into(),
        matches: vec![[4, 5]],
    };
    assert_eq!(snippet_html(&snippet), "a **<mark>b</mark>** &lt;c&gt;");
    assert_eq!(tags_of("#rust, ops  crdt"), vec!["rust", "ops", "crdt"]);
}

#[test]
fn every_template_parses() {
    let dir = tempfile::tempdir().unwrap();
    let web = Web::new("t", &dir.path().join("web-session.key")).unwrap();
    for name in [
        "feed.html",
        "thread.html",
        "people.html",
        "wiki_page.html",
        "status.html",
        "search.html",
        "similar.html",
        "ask.html",
    ] {
        web.env.get_template(name).unwrap();
    }
}

#[test]
fn a_change_shows_the_lines_around_it_not_the_whole_page() {
    let old: String = (1..=30).map(|i| format!("line {i}\n")).collect();
    let new = old.replace("line 15\n", "line fifteen\n");
    let pieces = super::wiki::folded(&crate::wiki::words::diff(&old, &new));
    let text: String = pieces
        .iter()
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect();
    assert!(text.contains("line 13\nline 14\n"), "{text}");
    assert!(text.contains("line 16\nline 17\n"), "{text}");
    assert!(
        !text.contains("line 3\n") && !text.contains("line 25\n"),
        "{text}"
    );
    let skipped: Vec<&str> = pieces
        .iter()
        .filter(|p| p["op"] == "skip")
        .map(|p| p["text"].as_str().unwrap())
        .collect();
    assert_eq!(skipped, ["12 unchanged lines", "13 unchanged lines"]);
}

#[test]
fn the_feed_hangs_replies_under_the_post_they_answer_where_the_newest_is() {
    let view = |n: u8, reply_to: Option<u8>| crate::model::EntryView {
        id: kith_protocol::EntryId([n; 32]),
        author: kith_protocol::Keypair::from_secret(&[1; 32]).author(),
        author_name: None,
        seq: u64::from(n),
        timestamp: u64::from(n),
        kind: "note".into(),
        text: Some(format!("entry {n}")),
        tags: vec![],
        reply_to: reply_to.map(|p| kith_protocol::EntryId([p; 32])),
        parent: None,
        circle: None,
        files: vec![],
        in_wiki: vec![],
    };
    // Newest first: 5 replies to 4, which replies to 1; 3 is a post; 2
    // replies to 9, which is not on the page.
    let page = [
        view(5, Some(4)),
        view(3, None),
        view(4, Some(1)),
        view(2, Some(9)),
        view(1, None),
    ];
    let threads: Vec<(u8, Vec<u8>)> = super::posts::threads(&page)
        .into_iter()
        .map(|(root, replies)| (root.id.0[0], replies.iter().map(|r| r.id.0[0]).collect()))
        .collect();
    assert_eq!(threads, vec![(1, vec![5, 4]), (3, vec![]), (2, vec![])]);
}
