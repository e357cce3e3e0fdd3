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
