//! What people type into the web app's forms (issue 29): stored with `\n`
//! line ends whatever the browser sends, and never lost to an error page
//! when the node refuses it; sign-in links that do not work say why.

use kith_node::ops;
use kith_testkit::TestNode;

use crate::browser::{Browser, agent};

/// The text inside the first `<textarea id="ID" …>…</textarea>`, unescaped
/// the way a browser would.
fn textarea(html: &str, id: &str) -> String {
    let start = html
        .find(&format!("<textarea id=\"{id}\""))
        .unwrap_or_else(|| panic!("no textarea {id}"));
    let open = start + html[start..].find('>').unwrap() + 1;
    let close = open + html[open..].find("</textarea>").unwrap();
    html[open..close]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&amp;", "&")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn line_ends_typed_in_a_browser_are_stored_as_newlines() {
    let alice = TestNode::start("alice", 61).await;
    let web = Browser::sign_in(&alice);
    assert_eq!(web.post("/post", &[("text", "first\r\nsecond\r\n")]), 303);
    let feed = alice.feed(5).await;
    assert_eq!(feed[0].text.as_deref(), Some("first\nsecond\n"));
    let (status, _) = web.post_answer(
        "/wiki/new",
        &[("title", "Typed"), ("body", "one\r\ntwo\r\n")],
    );
    assert_eq!(status, 303);
    let page = alice
        .handle()
        .call(ops::WikiShow {
            page: "Typed".into(),
        })
        .await
        .unwrap();
    assert_eq!(page.body, "one\ntwo\n");
    // The edit form sends the whole text back with \r\n: no change.
    let before = alice
        .handle()
        .call(ops::WikiHistory {
            page: "Typed".into(),
        })
        .await
        .unwrap()
        .len();
    let (status, _) = web.post_answer(
        &format!("/wiki/{}/edit", page.id),
        &[("title", "Typed"), ("body", "one\r\ntwo\r\n"), ("base", "")],
    );
    assert_eq!(status, 303);
    let after = alice
        .handle()
        .call(ops::WikiHistory {
            page: "Typed".into(),
        })
        .await
        .unwrap()
        .len();
    assert_eq!(after, before, "an edit of line ends only");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_post_keeps_the_draft_beside_its_error() {
    let alice = TestNode::start("alice", 62).await;
    let web = Browser::sign_in(&alice);
    let home = web.get("/");
    assert!(
        home.contains("data-max-bytes=\"65536\""),
        "the box knows the limit"
    );

    // Too long: the feed again, the text in its box, the reason beside it.
    let long = format!("<b>draft & more</b>\r\n{}", "word ".repeat(14_000));
    let (status, body) = web.post_answer("/post", &[("text", &long), ("tags", "kept")]);
    assert_eq!(status, 400, "{}", &body[..body.len().min(500)]);
    assert_eq!(textarea(&body, "text"), long, "the draft, as typed");
    assert!(body.contains("value=\"kept\""), "the tags too");
    assert!(body.contains("id=\"text-error\""), "{body}");
    assert!(
        body.contains("a post holds at most 64 KiB"),
        "said in words: {}",
        &body[..body.len().min(2000)]
    );
    assert!(!body.contains("Invalid body"), "no developer speak");
    assert!(body.contains("<nav"), "a whole page, not a bare error");
    assert!(alice.feed(5).await.is_empty(), "nothing was posted");

    // Empty: the same, said plainly.
    let (status, body) = web.post_answer("/post", &[("text", "  \r\n ")]);
    assert_eq!(status, 400);
    assert!(body.contains("The text is empty"), "{body}");

    // An answer and a reply keep theirs in their own box on the thread.
    let q = alice
        .handle()
        .call(ops::Post {
            kind: kith_protocol::PostKind::Question,
            ..ops::Post::note("Which linker is fastest?")
        })
        .await
        .unwrap();
    let (status, body) = web.post_answer(&format!("/thread/{}/answer", q.id), &[("text", &long)]);
    assert_eq!(status, 400);
    assert_eq!(textarea(&body, "answer"), long);
    assert_eq!(textarea(&body, "reply"), "", "not in the other box");
    let (status, body) = web.post_answer(&format!("/thread/{}/reply", q.id), &[("text", &long)]);
    assert_eq!(status, 400);
    assert_eq!(textarea(&body, "reply"), long);

    // More than a form may carry: a page that says what to do.
    let huge = "x".repeat(3 * 1024 * 1024);
    let (status, body) = web.post_answer("/post", &[("text", &huge)]);
    assert_eq!(status, 413);
    assert!(body.contains("your browser keeps what you typed"), "{body}");
    assert!(body.contains("/static/app.css"), "a styled page");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_link_that_does_not_work_says_why() {
    let alice = TestNode::start("alice", 63).await;
    let base = alice.http_base();
    for (path, says) in [
        ("/login?token=not-the-token", "not this node"),
        ("/login", "incomplete"),
        ("/login?token=", "incomplete"),
    ] {
        let mut r = agent().get(&format!("{base}{path}")).call().unwrap();
        assert_eq!(r.status().as_u16(), 401, "{path}");
        let body = r.body_mut().read_to_string().unwrap();
        assert!(body.contains(says), "{path}: {body}");
        assert!(body.contains("kith web"), "{path}: what to do");
        assert!(!body.contains("deserialize"), "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_in_lasts_across_restarts_until_signed_out_everywhere() {
    let mut alice = TestNode::start("alice", 64).await;
    // The cookie outlives the browser session: it has a lifetime.
    let r = agent().get(&alice.web_url()).call().unwrap();
    let set_cookie = r.headers().get("set-cookie").unwrap().to_str().unwrap();
    assert!(set_cookie.contains("Max-Age="), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let web = Browser::sign_in(&alice);
    // And the node's restart.
    alice.stop().await;
    alice.restart().await;
    let again = Browser {
        base: alice.http_base(),
        ..web
    };
    assert_eq!(again.get_status("/").0, 200, "still signed in");
    // Signed out everywhere: that cookie is refused from now on, also after
    // a restart; a new sign-in link works.
    let other = Browser::sign_in(&alice);
    assert_eq!(other.post("/sign-out-everywhere", &[]), 200);
    assert_eq!(again.get_status("/").0, 401);
    alice.stop().await;
    alice.restart().await;
    let again = Browser {
        base: alice.http_base(),
        ..again
    };
    assert_eq!(again.get_status("/").0, 401, "revoked for good");
    let fresh = Browser::sign_in(&alice);
    assert_eq!(fresh.get_status("/").0, 200);
    // Sign out: this browser's cookie is dropped.
    let r = fresh.post_answer("/sign-out", &[]);
    assert_eq!(r.0, 200);
}

/// Issue 29: any post of a thread can be endorsed, and a reply can answer
/// a reply (or an answer) right where it stands, nesting under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_post_can_be_endorsed_and_a_reply_nests_under_what_it_answers() {
    let alice = TestNode::start("alice", 66).await;
    let bob = TestNode::start("bob", 67).await;
    kith_testkit::connect(&alice, &bob).await;
    let note = alice.post("A note worth a like").await;
    bob.wait_for_seq(alice.author(), note.seq).await;
    let web = Browser::sign_in(&bob);
    let thread = web.get(&format!("/thread/{}", note.id));
    assert!(
        thread.contains(&format!("action=\"/entry/{}/endorse\"", note.id)),
        "a note of someone else has an Endorse button"
    );
    let (status, location) = web.post_location(&format!("/entry/{}/endorse", note.id), &[]);
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/thread/{}", note.id).as_str())
    );
    let thread = web.get(&format!("/thread/{}", note.id));
    assert!(thread.contains("Endorsed by"), "{thread}");
    assert!(thread.contains("Withdraw endorsement"));

    // A reply to the note, then a reply to that reply, from its own form.
    let (status, location) = web.post_location(
        &format!("/thread/{}/reply", note.id),
        &[("text", "First reply")],
    );
    assert_eq!(status, 303);
    let first = location.rsplit("#e-").next().unwrap().to_string();
    assert!(
        location.starts_with(&format!("/thread/{}#e-", note.id)),
        "{location}"
    );
    let thread = web.get(&format!("/thread/{}", note.id));
    assert!(
        thread.contains(&format!("name=\"to\" value=\"{first}\"")),
        "the reply has a reply form of its own"
    );
    let (status, _) = web.post_location(
        &format!("/thread/{}/reply", note.id),
        &[("text", "A reply to the reply"), ("to", &first)],
    );
    assert_eq!(status, 303);
    let t = bob
        .handle()
        .call(ops::Thread { id: note.id.into() })
        .await
        .unwrap();
    assert_eq!(t.replies.len(), 1, "one reply to the note");
    assert_eq!(t.replies[0].entry.id.to_string(), first);
    assert_eq!(
        t.replies[0].replies.len(),
        1,
        "nested under the first reply"
    );
    assert_eq!(
        t.replies[0].replies[0].entry.text.as_deref(),
        Some("A reply to the reply")
    );
    // A refused nested reply keeps both its text and where it was going.
    let (status, html) = web.post_answer(
        &format!("/thread/{}/reply", note.id),
        &[("text", "  "), ("to", &first)],
    );
    assert_eq!(status, 400, "{html}");
    assert!(html.contains(&format!(
        "<input type=\"hidden\" name=\"to\" value=\"{first}\">"
    )));
}

/// Issue 29: an answer whose question this node does not hold (it was
/// written by someone it does not trust) says why, instead of a bare id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_to_a_question_from_outside_the_circle_says_why_it_stands_alone() {
    let ana = TestNode::start("ana", 68).await;
    let ben = TestNode::start("ben", 69).await;
    let cy = TestNode::start("cy", 70).await;
    kith_testkit::connect(&ana, &ben).await;
    kith_testkit::connect(&ben, &cy).await;
    let question = ana
        .handle()
        .call(ops::Post {
            kind: kith_protocol::PostKind::Question,
            ..ops::Post::note("Where do the backups go?")
        })
        .await
        .unwrap();
    ben.wait_for_seq(ana.author(), question.seq).await;
    let answer = ben
        .handle()
        .call(ops::Answer {
            id: question.id.into(),
            text: "To the **USB** stick".into(),
            tags: vec![],
            files: Vec::new(),
        })
        .await
        .unwrap();
    cy.wait_for_seq(ben.author(), answer.seq).await;
    let feed = Browser::sign_in(&cy).get("/");
    assert!(feed.contains("To the <strong>USB</strong> stick"), "{feed}");
    assert!(
        feed.contains(
            "an answer to a question you do not have: it was written by someone you do not trust"
        ),
        "{feed}"
    );
    // Ben, who holds the question, sees the answer under it.
    let feed = Browser::sign_in(&ben).get("/");
    assert!(feed.contains("class=\"feed-replies\""), "{feed}");
    assert!(!feed.contains("you do not have"), "{feed}");
}

/// Issue 29: a question has a title and details; the thread is headed by
/// the title and shows the details once; questions like a title being
/// typed are offered, named by their titles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_question_has_a_title_and_details_and_similar_ones_show_while_typing() {
    let alice = TestNode::start("alice", 71).await;
    let web = Browser::sign_in(&alice);
    let (status, location) = web.post_location(
        "/ask",
        &[
            ("title", "How do we back up the **wiki**?"),
            (
                "details",
                "We tried `kith bundle`,\r\nbut it needs a frontier file.",
            ),
            ("tags", ""),
        ],
    );
    assert_eq!(status, 303, "{location}");
    let thread = web.get(&location);
    assert!(
        thread.contains("<h1 class=\"thread-title\">How do we back up the wiki?</h1>"),
        "{thread}"
    );
    assert!(thread.contains("needs a frontier file"), "the details show");
    assert_eq!(
        thread.matches("How do we back up the").count(),
        2,
        "the title shows as the heading (and the page title), not again in the post"
    );
    let questions = web.get("/questions");
    assert!(
        questions.contains("How do we back up the **wiki**?"),
        "{questions}"
    );
    // While typing a similar title.
    let similar = web.get("/questions/similar?text=wiki%20backup%20tools");
    // (minijinja escapes the slashes of an attribute; a browser reads them back)
    let href = location.replace('/', "&#x2f;");
    assert!(similar.contains(&format!("href=\"{href}\"")), "{similar}");
    assert!(
        similar.contains(">How do we back up the wiki?</a>"),
        "{similar}"
    );
    assert!(web.get("/questions/similar?text=lunch").trim().is_empty());
    // Asking it again stops at the similar one, linked by its title.
    let (status, html) = web.post_answer(
        "/ask",
        &[
            ("title", "Backing up the wiki"),
            ("details", ""),
            ("tags", ""),
        ],
    );
    assert_eq!(status, 200);
    assert!(html.contains(">How do we back up the wiki?</a>"), "{html}");
}

/// Issue 29: a task box on a wiki page can be ticked where it stands; the
/// tick is a change of one character, and a page changed since it was
/// shown is not ticked blindly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticked_task_box_becomes_a_change_of_one_character() {
    let alice = TestNode::start("alice", 72).await;
    let web = Browser::sign_in(&alice);
    let body = "# Trip\n\n- [x] tent\n- [ ] stove\n- [ ] maps\n";
    let (status, _) = web.post_answer("/wiki/new", &[("title", "Trip"), ("body", body)]);
    assert_eq!(status, 303);
    let page = alice
        .handle()
        .call(ops::WikiShow {
            page: "Trip".into(),
        })
        .await
        .unwrap();
    let html = web.get(&format!("/wiki/{}", page.id));
    let base = page.heads.join(" ");
    assert!(
        html.contains(&format!("data-task-url=\"/wiki/{}/task\"", page.id)),
        "{html}"
    );
    // Tick the second task ("stove": task 1, counting from 0).
    let (status, location) = web.post_location(
        &format!("/wiki/{}/task", page.id),
        &[("task", "1"), ("done", "1"), ("base", &base)],
    );
    assert_eq!((status, location), (303, format!("/wiki/{}", page.id)));
    let after = alice
        .handle()
        .call(ops::WikiShow {
            page: "Trip".into(),
        })
        .await
        .unwrap();
    assert_eq!(
        after.body,
        "# Trip\n\n- [x] tent\n- [x] stove\n- [ ] maps\n"
    );
    let history = alice
        .handle()
        .call(ops::WikiHistory {
            page: "Trip".into(),
        })
        .await
        .unwrap();
    assert_eq!(history.len(), 2);
    assert!(
        history[0].ops <= 2,
        "a tick is one character: {:?}",
        history[0]
    );
    // Shown before that tick: refused, nothing changed.
    let (status, html) = web.post_answer(
        &format!("/wiki/{}/task", page.id),
        &[("task", "0"), ("base", &base)],
    );
    assert_eq!(status, 409, "{html}");
    assert!(html.contains("changed since you opened it"), "{html}");
    // No such task.
    let now = after.heads.join(" ");
    let (status, _) = web.post_answer(
        &format!("/wiki/{}/task", page.id),
        &[("task", "9"), ("done", "1"), ("base", &now)],
    );
    assert_eq!(status, 404);
}

/// Issue 29: a merge of concurrent edits can be reviewed side by side: the
/// page's notice links to each side's version and what the merge changed
/// in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merge_is_reviewed_with_each_sides_version() {
    let mut alice = TestNode::start("alice", 73).await;
    let mut bob = TestNode::start("bob", 74).await;
    kith_testkit::connect(&alice, &bob).await;
    let base = "We leave on Friday.\n\nBring the tent.\n";
    let page = alice
        .handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Trip".into(),
            body: base.into(),
        })
        .await
        .unwrap();
    let id = page.id.to_string();
    let page_id = id.clone();
    bob.wait_for("the page", move |h| {
        let page = page_id.clone();
        async move { h.call(ops::WikiShow { page }).await.is_ok() }
    })
    .await;
    // Both rewrite the same sentence while apart: Bob while Alice is
    // down, then Alice while Bob is.
    let edit = |body: String| ops::WikiEdit {
        page: id.clone(),
        body,
        base: None,
    };
    alice.stop().await;
    bob.handle()
        .call(edit(base.replace("on Friday", "on Saturday")))
        .await
        .unwrap();
    bob.stop().await;
    alice.restart().await;
    alice
        .handle()
        .call(edit(base.replace("Friday", "Friday at 7")))
        .await
        .unwrap();
    bob.restart().await;
    alice.dial(&bob).await;
    let page_id = id.clone();
    alice
        .wait_for("both edits", move |h| {
            let page = page_id.clone();
            async move {
                h.call(ops::WikiShow { page })
                    .await
                    .is_ok_and(|p| p.heads.len() == 2)
            }
        })
        .await;
    let web = Browser::sign_in(&alice);
    let shown = web.get(&format!("/wiki/{id}"));
    assert!(
        shown.contains(&format!("href=\"/wiki/{id}/merge\"")),
        "{shown}"
    );
    let review = web.get(&format!("/wiki/{id}/merge"));
    assert_eq!(
        review.matches("<section class=\"merge-side\">").count(),
        2,
        "{review}"
    );
    assert!(
        review.contains("Friday at 7") && review.contains("Saturday"),
        "{review}"
    );
    assert!(
        review.contains("<ins>") && review.contains("<del>"),
        "{review}"
    );
    // Reviewed: nothing left to compare.
    let (status, _) = web.post_location(&format!("/wiki/{id}/reviewed"), &[]);
    assert_eq!(status, 303);
    assert!(
        web.get(&format!("/wiki/{id}/merge"))
            .contains("Nothing to review")
    );
}

/// Issue 29: linking a device from the web app on both machines: the code
/// shown on one, pasted into the other's People page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_is_linked_from_the_web_app_on_both_machines() {
    let alice = TestNode::start("alice", 75).await;
    let laptop = TestNode::start("laptop", 76).await;
    let (status, shown) = Browser::sign_in(&alice).post_answer("/people/devices/link", &[]);
    assert_eq!(status, 200);
    let start = shown.find("value=\"kithd1").expect("a link code") + "value=\"".len();
    let code = &shown[start..start + shown[start..].find('"').unwrap()];
    assert!(
        shown.contains("Make this machine one of your devices"),
        "says where to paste it"
    );
    let web = Browser::sign_in(&laptop);
    assert!(
        web.get("/people")
            .contains("action=\"/people/devices/join\"")
    );
    let (status, html) = web.post_answer(
        "/people/devices/join",
        &[("code", "kithd1notacode"), ("name", "laptop")],
    );
    assert_eq!(status, 400, "{html}");
    let (status, html) = web.post_answer(
        "/people/devices/join",
        &[("code", code), ("name", "laptop")],
    );
    assert_eq!(status, 200, "{html}");
    assert!(html.contains(&alice.author().to_string()), "{html}");
    let alice_author = alice.author();
    laptop
        .wait_for("the laptop becomes alice's device", |h| async move {
            h.call(ops::Devices::default()).await.unwrap().root == alice_author
        })
        .await;
    // The code worked once.
    let (status, _) = web.post_answer("/people/devices/join", &[("code", code), ("name", "again")]);
    assert_ne!(status, 200);
}
