//! The web app over real HTTP: every page renders, and the security rules
//! hold (session cookie, CSRF, Host check, inert user content).

use kith_node::ops;
use kith_protocol::PostKind;
use kith_testkit::{TestNode, connect};

use crate::browser::{Browser, agent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_renders_and_forms_work() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    connect(&alice, &bob).await;
    let q = alice
        .handle()
        .call(ops::Ask {
            circle: None,
            text: "How do we *deploy*?".into(),
            tags: vec!["ops".into()],
            yes: true,
        })
        .await
        .unwrap()
        .posted
        .unwrap();
    bob.wait_for_seq(alice.author(), q.seq).await;
    bob.handle()
        .call(ops::Answer {
            id: q.id.to_hex().parse().unwrap(),
            text: "With [[Runbook]]".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    let page = alice
        .handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Runbook".into(),
            body: "# Steps\n\n1. build\n".into(),
        })
        .await
        .unwrap();
    alice.wait_for_seq(bob.author(), 1).await;

    let browser = tokio::task::block_in_place(|| Browser::sign_in(&alice));
    tokio::task::block_in_place(|| {
        assert!(browser.get("/").contains("What your circle is working on"));
        let qs = browser.get("/questions");
        assert!(qs.contains("How do we *deploy*?"), "{qs}");
        let thread = browser.get(&format!("/thread/{}", q.id));
        assert!(thread.contains("<em>deploy</em>"), "markdown rendered");
        assert!(thread.contains("<h2>1 answer</h2>"), "{thread}");
        assert!(
            thread.contains("<h1 class=\"thread-title\">How do we deploy?</h1>"),
            "the question is the heading"
        );
        assert!(
            thread.contains("href=\"/wiki/by-title/Runbook\""),
            "wiki link"
        );
        let wiki = browser.get(&format!("/wiki/{}", page.id));
        assert!(wiki.contains("<h1>Steps</h1>"));
        assert!(
            browser
                .get(&format!("/wiki/{}/edit", page.id))
                .contains("name=\"base\"")
        );
        let history = browser.get(&format!("/wiki/{}/history", page.id));
        assert!(
            history.contains("Revert this change") && history.contains("View this version"),
            "{history}"
        );
        let blame = browser.get(&format!("/wiki/{}/blame", page.id));
        assert!(
            blame.contains("Who wrote") && blame.contains("Steps"),
            "{blame}"
        );
        let people = browser.get("/people");
        assert!(
            people.contains("kith1") && people.contains("<svg"),
            "invite code and QR"
        );
        assert!(
            people.contains("Your devices") && people.contains("this device"),
            "{people}"
        );
        // Linking a device shows a one-time code and its QR code.
        let (status, linked) = browser.post_answer("/people/devices/link", &[]);
        assert_eq!(status, 200);
        assert!(
            linked.contains("kithd1") && linked.contains("<svg"),
            "{linked}"
        );
        let status = browser.get("/status");
        assert!(status.contains("1 peer connected"));
        // A connected peer's entries arrive as written: no stale-looking
        // "last sync" beside "up to date" (issue 29).
        assert!(status.contains("live, as they write"), "{status}");
        assert!(!status.contains("Last sync"), "{status}");
        assert!(browser.get("/search?q=steps").contains("Runbook"));
        assert!(browser.get("/wiki").contains("Runbook"));
        // A [[link]] to a missing page offers to create it.
        assert!(
            browser
                .get("/wiki/by-title/Nothing%20yet")
                .contains("No page “Nothing yet” yet")
        );
        // The live region alone, for the page script.
        let (status, _, fragment) = browser.get_with("/", "", &[("X-Kith-Fragment", "live")], &[]);
        assert_eq!(status, 200);
        assert!(!fragment.contains("<html"), "only the live block");

        // Forms.
        assert_eq!(
            browser.post(
                "/post",
                &[("text", "posted from the browser"), ("tags", "web")]
            ),
            303
        );
        assert!(browser.get("/").contains("posted from the browser"));
        // A private circle: made, written in and shown on the web.
        let bob_id = bob.author().to_string();
        assert_eq!(
            browser.post(
                "/circles/new",
                &[("name", "Ops team"), ("members", &bob_id)]
            ),
            303
        );
        let circles = browser.get("/circles");
        assert!(
            circles.contains("🔒 Ops team") && circles.contains("Add someone you trust"),
            "{circles}"
        );
        let feed = browser.get("/");
        assert!(
            feed.contains("Who reads it") && feed.contains("🔒 Ops team</option>"),
            "{feed}"
        );
        let id_at = circles.find("id=\"c-").unwrap() + "id=\"c-".len();
        let circle_id = &circles[id_at..id_at + 32];
        assert_eq!(
            browser.post(
                "/post",
                &[
                    ("text", "only for the ops team"),
                    ("tags", ""),
                    ("circle", circle_id)
                ]
            ),
            303
        );
        let feed = browser.get("/");
        assert!(
            feed.contains("only for the ops team") && feed.contains("class=\"circle-badge\""),
            "{feed}"
        );
        assert_eq!(
            browser.post(
                &format!("/wiki/{}/edit", page.id),
                &[
                    ("title", "Runbook"),
                    ("body", "# Steps\r\n\r\n1. build\r\n2. ship\r\n"),
                    ("base", "")
                ]
            ),
            303
        );
        assert!(browser.get(&format!("/wiki/{}", page.id)).contains("ship"));
        // History: the edit as an inline word diff; a past version; revert
        // and restore by form.
        let history = browser.get(&format!("/wiki/{}/history", page.id));
        assert!(history.contains("<ins>2. ship\n</ins>"), "{history}");
        let marker = "/revert/";
        let start = history.find(marker).unwrap() + marker.len();
        let edit = history[start..start + 64].to_string();
        let diff = browser.get(&format!("/wiki/{}/diff/{edit}", page.id));
        assert!(diff.contains("<ins>2. ship\n</ins>"), "{diff}");
        let then = history.rfind("/at/").unwrap() + 4;
        let first = history[then..then + 64].to_string();
        let version = browser.get(&format!("/wiki/{}/at/{first}", page.id));
        assert!(
            version.contains("build") && !version.contains("ship"),
            "{version}"
        );
        assert_eq!(
            browser.post(&format!("/wiki/{}/revert/{edit}", page.id), &[]),
            303
        );
        assert!(!browser.get(&format!("/wiki/{}", page.id)).contains("ship"));
        assert_eq!(
            browser.post(&format!("/wiki/{}/restore-version/{edit}", page.id), &[]),
            303
        );
        assert!(browser.get(&format!("/wiki/{}", page.id)).contains("ship"));
        assert_eq!(
            browser.post(&format!("/wiki/{}/reviewed", page.id), &[]),
            303
        );
        let answer_id = browser.get(&format!("/thread/{}", q.id));
        let marker = "data-answer=\"";
        let start = answer_id.find(marker).unwrap() + marker.len();
        let answer_id = answer_id[start..start + 64].to_string();
        // Endorsing an answer goes back to its question's thread.
        assert_eq!(
            browser.post_location(&format!("/entry/{answer_id}/endorse"), &[("note", "works")]),
            (303, format!("/thread/{}", q.id))
        );
        assert_eq!(
            browser.post(&format!("/entry/{answer_id}/accept"), &[]),
            303
        );
        let thread = browser.get(&format!("/thread/{}", q.id));
        assert!(
            thread.contains("✔ Accepted") && thread.contains("“works”"),
            "{thread}"
        );
        // Errors are pages, not crashes.
        assert_eq!(
            browser.post(&format!("/entry/{answer_id}/endorse"), &[]),
            400
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_refuses_what_it_must() {
    let alice = TestNode::start("alice", 1).await;
    alice
        .handle()
        .call(ops::Post {
            circle: None,
            text: "look <script>alert('x')</script> [click](javascript:alert(1)) <a href=\"javascript:alert(2)\">a</a>".into(),
            kind: PostKind::Note,
            reply_to: None,
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    tokio::task::block_in_place(|| {
        let base = alice.http_base();
        let a = agent();
        // No cookie, no token: refused.
        let r = a.get(&format!("{base}/")).call().unwrap();
        assert_eq!(r.status(), 401);
        let r = a.get(&format!("{base}/api/v1/feed")).call().unwrap();
        assert_eq!(r.status(), 401);
        let r = a.get(&format!("{base}/login?token=wrong")).call().unwrap();
        assert_eq!(r.status(), 401);
        // A foreign Host (DNS rebinding) is refused even with the cookie.
        let browser = Browser::sign_in(&alice);
        let r = a
            .get(&format!("{base}/"))
            .header("Cookie", &browser.cookie)
            .header("Host", "evil.example:80")
            .call()
            .unwrap();
        assert_eq!(r.status(), 421);
        // A form post without the CSRF token, or from another origin.
        let r = a
            .post(&format!("{base}/post"))
            .header("Cookie", &browser.cookie)
            .send_form([("text", "forged")])
            .unwrap();
        assert_eq!(r.status(), 403);
        let r = a
            .post(&format!("{base}/post"))
            .header("Cookie", &browser.cookie)
            .header("Origin", "http://evil.example")
            .send_form([("text", "forged"), ("csrf", &browser.csrf)])
            .unwrap();
        assert_eq!(r.status(), 403);
        assert!(!browser.get("/").contains("forged"));
        // User content is inert.
        let feed = browser.get("/");
        assert!(!feed.contains("<script>alert"), "script tag rendered");
        assert!(feed.contains("&lt;script&gt;"), "shown as text");
        for tag in feed.split('<').skip(1).filter(|t| t.starts_with("a ")) {
            let tag = &tag[..tag.find('>').unwrap()];
            assert!(
                !tag.to_lowercase().contains("javascript:"),
                "live javascript link: {tag}"
            );
        }
    });
}

/// What a product review found broken (issue 12), each fixed and held here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_product_review_found_stays_fixed() {
    let alice = TestNode::start("alice", 1).await;
    let q = alice
        .handle()
        .call(ops::Ask {
            circle: None,
            text: "Which merge strategy?".into(),
            tags: vec!["crdt".into()],
            yes: true,
        })
        .await
        .unwrap()
        .posted
        .unwrap();
    alice.post("A note about **merging** pages").await;
    let page = alice
        .handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Trip".into(),
            body: "# Trip\n\n- [x] tent\n- [ ] stove\n\nSee [[Packing list]] and [[Trip]].\n"
                .into(),
        })
        .await
        .unwrap();
    // A search right after writing sees what was written (the index may
    // have committed a moment ago: the search waits for the next commit).
    let hits = alice
        .handle()
        .call(ops::Search {
            q: "strategy".into(),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(hits.len(), 1, "{hits:?}");
    tokio::task::block_in_place(|| {
        let browser = Browser::sign_in(&alice);
        // The feed's filters start empty, and filtering by kind works.
        let feed = browser.get("/");
        assert!(feed.contains("name=\"tag\" value=\"\""), "empty tag filter");
        assert!(!feed.to_lowercase().contains("value=\"none\""), "no None");
        let questions = browser.get("/?kind=question&tag=");
        assert!(questions.contains("Which merge strategy?"), "{questions}");
        assert!(!questions.contains("A note about"), "only questions");
        assert!(questions.contains(&q.id.to_hex()));
        // Search highlights the word that matched, and prefixes match.
        let found = browser.get("/search?q=merg");
        assert!(found.contains("<mark>merge</mark>"), "{found}");
        // In plain words: no markdown marks around it (issue 29).
        assert!(found.contains("<mark>merging</mark>"), "{found}");
        assert!(!found.contains("**<mark>"), "{found}");
        // The icon.
        let (status, icon) = browser.get_status("/favicon.ico");
        assert_eq!(status, 200);
        assert!(icon.starts_with("<svg"), "{icon}");
        assert!(feed.contains("rel=\"icon\""));
        // A wiki page: the title once, task lists with boxes, missing
        // pages marked.
        let html = browser.get(&format!("/wiki/{}", page.id));
        let main = &html[html.find("<main").unwrap()..];
        assert_eq!(main.matches(">Trip</h1>").count(), 1, "title once: {main}");
        assert_eq!(main.matches("type=\"checkbox\"").count(), 2, "{main}");
        assert!(
            main.contains("class=\"missing\"") && main.contains("Packing%20list"),
            "{main}"
        );
        assert_eq!(main.matches("class=\"missing\"").count(), 1, "Trip exists");
        // A bad invite: words a person understands, and a way on.
        let (status, bad) = browser.post_answer(
            "/people/join",
            &[("code", "kith1garbage"), ("petname", "x")],
        );
        assert_eq!(status, 400);
        assert!(bad.contains("damaged or incomplete"), "{bad}");
        assert!(!bad.contains("buffer"), "{bad}");
        assert!(
            bad.contains("<nav") && bad.contains("href=\"/people\""),
            "{bad}"
        );
        // A live-fragment request on a page without a live region answers
        // the whole page (it used to answer 500); every page sends a CSP
        // that keeps readers' browsers from fetching anything elsewhere.
        for path in [
            format!("/wiki/{}/edit", page.id),
            format!("/wiki/{}/history", page.id),
        ] {
            let (status, headers, _) = browser.get_with(
                &path,
                "",
                &[("X-Kith-Fragment", "live")],
                &["content-security-policy"],
            );
            assert_eq!(status, 200, "{path}");
            let csp = &headers[0];
            assert!(csp.contains("img-src 'self' data:"), "{csp}");
        }
        // Alone: the status page says so and where the invite is.
        let status = browser.get("/status");
        assert!(status.contains("No peers connected"), "{status}");
        assert!(!status.contains("up to date with"), "{status}");
        assert!(!status.contains('`'), "no command-line text: {status}");
        assert!(!status.contains("(s)"), "counts read as words: {status}");
        assert!(status.contains("<td>yours</td>"), "{status}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_node_keeps_its_port_and_invite_code() {
    let mut alice = TestNode::start("alice", 1).await;
    let before = alice.addr();
    let code = alice.handle().call(ops::Invite {}).await.unwrap();
    assert!(code.addrs.len() <= 3, "{:?}", code.addrs);
    assert!(code.code.len() < 120, "short: {}", code.code);
    alice.stop().await;
    alice.restart().await;
    assert_eq!(alice.addr(), before);
    let again = alice.handle().call(ops::Invite {}).await.unwrap();
    assert_eq!(again.code, code.code);
}

/// Threads read like a Q&A site; the feed reads as threads and shows what
/// is new since the last visit; compose boxes preview markdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_and_the_feed_read_like_a_product() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    connect(&alice, &bob).await;
    let q = alice
        .handle()
        .call(ops::Ask {
            circle: None,
            text: "How should we *name* releases?\n\nDetails follow.".into(),
            tags: vec![],
            yes: true,
        })
        .await
        .unwrap()
        .posted
        .unwrap();
    bob.wait_for_seq(alice.author(), q.seq).await;
    let answer = bob
        .handle()
        .call(ops::Answer {
            id: q.id.into(),
            text: "After rivers".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    let reply = bob
        .handle()
        .call(ops::Post {
            circle: None,
            text: "Or after birds".into(),
            kind: PostKind::Note,
            reply_to: Some(answer.id.into()),
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    alice.wait_for_seq(bob.author(), reply.seq).await;
    tokio::task::block_in_place(|| {
        let browser = Browser::sign_in(&alice);
        let thread = browser.get(&format!("/thread/{}", q.id));
        assert!(
            thread.contains("<h1 class=\"thread-title\">How should we name releases?</h1>"),
            "{thread}"
        );
        assert!(
            thread.contains("<summary>1 reply</summary>"),
            "replies folded: {thread}"
        );
        assert!(!thread.contains("↳"), "no reply-to lines inside a thread");
        assert!(thread.contains("class=\"avatar\""), "identicons");
        assert!(thread.contains("title=\"20"), "exact time on hover");
        // The feed reads as threads (issue 29): the answer and the reply
        // to it under the question, not cards of their own quoting it.
        let feed = browser.get("/");
        let thread = feed
            .split("<div class=\"feed-thread\">")
            .find(|t| t.contains("Details follow."))
            .expect("the question's thread");
        let replies = &thread[thread
            .find("class=\"feed-replies\"")
            .expect("replies under it")..];
        assert!(
            replies.contains("After rivers") && replies.contains("Or after birds"),
            "{feed}"
        );
        assert!(
            replies.find("After rivers") < replies.find("Or after birds"),
            "oldest first under the post"
        );
        assert!(!feed.contains("replying to"), "{feed}");
        // New since the last visit: Bob's posts after a cookie from before.
        let (_, headers, body) = browser.get_with("/", "; kith_seen=1", &[], &["set-cookie"]);
        let set = &headers[0];
        assert_eq!(
            body.matches("new-badge").count(),
            2,
            "Bob's answer and reply are new: {body}"
        );
        assert!(set.starts_with("kith_seen="), "{set}");
        let seen = set
            .trim_start_matches("kith_seen=")
            .split(';')
            .next()
            .unwrap();
        let (_, _, body) = browser.get_with("/", &format!("; kith_seen={seen}"), &[], &[]);
        assert!(!body.contains("new-badge"), "nothing new the second time");
        // The preview renders like a post, sanitized.
        let (status, html) = browser.post_answer(
            "/preview",
            &[("text", "**bold** <script>x</script> [[Nope]]")],
        );
        assert_eq!(status, 200);
        assert!(html.contains("<strong>bold</strong>"), "{html}");
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("class=\"missing\""), "{html}");
    });
}

/// Bookmarks as a user keeps them: the button under a friend's post, a note
/// saved on the Bookmarks page, the same list through the API, kept
/// through `reindex`, shown as deleted once the post is, then forgotten.
/// Nothing of it reaches the friend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bookmark_is_kept_noted_through_reindex_and_forgotten() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    connect(&alice, &bob).await;
    let post = bob.post("Notes from the storage design review").await;
    alice.wait_for_seq(bob.author(), post.seq).await;
    let id = post.id.to_hex();
    let browser = tokio::task::block_in_place(|| Browser::sign_in(&alice));
    tokio::task::block_in_place(|| {
        assert!(browser.get("/").contains(&format!("/entry/{id}/bookmark")));
        assert_eq!(browser.post(&format!("/entry/{id}/bookmark"), &[]), 303);
        assert_eq!(
            browser.post(
                &format!("/entry/{id}/bookmark"),
                &[("note", "read before Friday")]
            ),
            303
        );
        let page = browser.get("/bookmarks");
        assert!(page.contains("read before Friday"), "{page}");
        assert!(page.contains("storage design review"), "{page}");
        // A note that is not one line is refused, and the old one stays.
        assert_eq!(
            browser.post(&format!("/entry/{id}/bookmark"), &[("note", "two\nlines")]),
            400
        );
    });
    let listed = alice.handle().call(ops::BookmarkList {}).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].note.as_deref(), Some("read before Friday"));
    alice.handle().call(ops::Reindex {}).await.unwrap();
    let after = alice.handle().call(ops::BookmarkList {}).await.unwrap();
    assert_eq!(after, listed, "reindex lost a bookmark");
    assert!(
        bob.handle()
            .call(ops::BookmarkList {})
            .await
            .unwrap()
            .is_empty()
    );
    bob.handle()
        .call(ops::Delete { id: post.id.into() })
        .await
        .unwrap();
    let deleted_seq = bob.seq(bob.author()).await;
    alice.wait_for_seq(bob.author(), deleted_seq).await;
    alice
        .wait_for("the deletion to show", |h| async move {
            h.call(ops::BookmarkList {})
                .await
                .is_ok_and(|l| l.len() == 1 && l[0].post.is_none())
        })
        .await;
    tokio::task::block_in_place(|| {
        assert!(browser.get("/bookmarks").contains("deleted since"));
        assert_eq!(browser.post(&format!("/bookmarks/{id}/remove"), &[]), 303);
        assert!(browser.get("/bookmarks").contains("No bookmarks yet"));
    });
}
