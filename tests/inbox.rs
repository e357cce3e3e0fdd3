//! The inbox across nodes: an answer to my question, a mention of me, an
//! endorsement of my post, my answer accepted and an edit of a page I
//! wrote each reach my inbox as the entries arrive; read marks stay on my
//! node; the web app shows the unread count on every page.

use kith_node::ops;
use kith_node::store::inbox::InboxKind;
use kith_testkit::{TestNode, connect, wait_until};

use crate::browser::Browser;

async fn kinds(node: &TestNode, unread: bool) -> Vec<InboxKind> {
    let mut kinds: Vec<InboxKind> = node
        .handle()
        .call(ops::Inbox {
            unread,
            since: None,
            limit: None,
        })
        .await
        .unwrap()
        .into_iter()
        .map(|i| i.kind)
        .collect();
    kinds.sort_by_key(|k| format!("{k:?}"));
    kinds
}

async fn wait_inbox(node: &TestNode, want: usize) {
    wait_until(
        node.handle(),
        || async { kinds(node, false).await.len() >= want },
        || async { format!("{}'s inbox: {:?}", node.name, kinds(node, false).await) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_concerns_me_reaches_my_inbox_and_read_marks_stay_here() {
    let alice = TestNode::start("alice", 71).await;
    let bob = TestNode::start("bob", 72).await;
    let carol = TestNode::start("carol", 73).await;
    connect(&alice, &bob).await;
    connect(&alice, &carol).await;
    // Carol knows Alice as "Ana".
    carol
        .handle()
        .call(ops::TrustAdd {
            author: alice.author().into(),
            petname: Some("Ana".into()),
        })
        .await
        .unwrap();

    let question = alice
        .handle()
        .call(ops::Ask {
            circle: None,
            text: "How do we back up the wiki?".into(),
            tags: vec![],
            yes: true,
        })
        .await
        .unwrap()
        .posted
        .unwrap();
    let page = alice
        .handle()
        .call(ops::WikiNew {
            circle: None,
            title: "Backups".into(),
            body: "Nightly.\n".into(),
        })
        .await
        .unwrap();
    bob.wait_for_seq(alice.author(), question.seq).await;
    carol.wait_for_seq(alice.author(), question.seq).await;

    let answer = bob
        .handle()
        .call(ops::Answer {
            id: question.id.into(),
            text: "Export it nightly to the NAS".into(),
            tags: vec![],
            files: vec![],
        })
        .await
        .unwrap();
    // A mention by a name only Carol gives Alice, and an e-mail address
    // that is no mention.
    let mention = carol
        .handle()
        .call(ops::Post::note(
            "@Ana, the NAS is full; mail ops@example.org",
        ))
        .await
        .unwrap();
    assert_eq!(mention.kind, "note");
    carol
        .handle()
        .call(ops::Endorse {
            id: question.id.into(),
            note: None,
            withdraw: false,
        })
        .await
        .unwrap();
    bob.wait_for("bob never got the page", |h| async move {
        h.call(ops::WikiShow {
            page: "Backups".into(),
        })
        .await
        .is_ok()
    })
    .await;
    let _ = page;
    bob.handle()
        .call(ops::WikiEdit {
            page: "Backups".into(),
            body: "Nightly, to the NAS.\n".into(),
            base: None,
        })
        .await
        .unwrap();

    wait_inbox(&alice, 4).await;
    assert_eq!(kinds(&alice, true).await, {
        let mut k = vec![
            InboxKind::Answer,
            InboxKind::Endorsed,
            InboxKind::Mention,
            InboxKind::PageEdit,
        ];
        k.sort_by_key(|k| format!("{k:?}"));
        k
    });
    let items = alice.handle().call(ops::Inbox::default()).await.unwrap();
    let answered = items.iter().find(|i| i.kind == InboxKind::Answer).unwrap();
    assert_eq!(answered.entry, answer.id);
    assert_eq!(answered.about, Some(question.id));
    assert_eq!(answered.thread, Some(answer.id));
    let edited = items
        .iter()
        .find(|i| i.kind == InboxKind::PageEdit)
        .unwrap();
    assert_eq!(edited.page_title.as_deref(), Some("Backups"));
    // Nothing of Alice's own reaches her inbox, and Bob's holds nothing yet.
    assert!(items.iter().all(|i| i.author != alice.author()));
    assert!(kinds(&bob, false).await.is_empty());

    // Alice accepts Bob's answer: his inbox says so.
    alice
        .handle()
        .call(ops::Accept {
            id: answer.id.into(),
            withdraw: false,
        })
        .await
        .unwrap();
    wait_inbox(&bob, 1).await;
    assert_eq!(kinds(&bob, false).await, vec![InboxKind::Accepted]);

    // Read marks: one, then all; on Alice's node only.
    let marked = alice
        .handle()
        .call(ops::InboxRead {
            entry: Some(answer.id.into()),
            all: false,
        })
        .await
        .unwrap();
    assert_eq!(marked, 1);
    assert_eq!(alice.handle().call(ops::InboxUnread {}).await.unwrap(), 3);

    // The web app: the count in the navigation, the page, marking all read.
    let browser = tokio::task::block_in_place(|| Browser::sign_in(&alice));
    tokio::task::block_in_place(|| {
        let feed = browser.get("/");
        assert!(
            feed.contains("id=\"inbox-count\" aria-label=\"unread\">3</span>"),
            "{feed}"
        );
        let inbox = browser.get("/inbox");
        assert!(
            inbox.contains("answered") && inbox.contains("mentioned you"),
            "{inbox}"
        );
        assert!(
            inbox.contains("edited the page") && inbox.contains("Backups"),
            "{inbox}"
        );
        assert_eq!(browser.get("/inbox/count"), "3");
        assert_eq!(browser.post("/inbox/read", &[]), 303);
        assert_eq!(browser.get("/inbox/count"), "0");
        assert!(
            browser
                .get("/")
                .contains("aria-label=\"unread\" hidden>0</span>")
        );
    });
    assert!(kinds(&alice, true).await.is_empty());
}

/// A reply inside a private circle reaches the inbox once the node opens
/// it, and a friend's new device is announced there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn circle_replies_and_a_friends_new_device_reach_the_inbox() {
    let alice = TestNode::start("alice", 74).await;
    let bob = TestNode::start("bob", 75).await;
    let phone = TestNode::start("phone", 76).await;
    connect(&alice, &bob).await;
    alice.wait_for_seq(bob.author(), 1).await;
    alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string()],
        })
        .await
        .unwrap();
    let post = alice
        .handle()
        .call(ops::Post {
            circle: Some("team".into()),
            ..ops::Post::note("the launch moves to friday")
        })
        .await
        .unwrap();
    bob.wait_for("bob never read the circle's post", |h| async move {
        h.call(ops::Feed::default())
            .await
            .unwrap()
            .iter()
            .any(|e| e.id == post.id && e.text.is_some())
    })
    .await;
    bob.handle()
        .call(ops::Reply {
            id: post.id.into(),
            text: "friday works".into(),
            tags: vec![],
            files: vec![],
        })
        .await
        .unwrap();
    wait_inbox(&alice, 1).await;
    let items = alice.handle().call(ops::Inbox::default()).await.unwrap();
    assert_eq!(items[0].kind, InboxKind::Reply);
    assert_eq!(items[0].excerpt.as_deref(), Some("friday works"));

    // Bob links his phone: Alice, who trusts him, hears of it.
    bob.link_device(&phone, "phone").await;
    wait_inbox(&alice, 2).await;
    assert!(
        kinds(&alice, true).await.contains(&InboxKind::DeviceLinked),
        "{:?}",
        kinds(&alice, true).await
    );
}
