//! The contract, table-driven: every operation answers the same through
//! the HTTP API of a running node as in direct mode (the CLI with no node
//! running). Two copies of one prepared store: the node runs on one, a
//! `Core` is opened on the other, and each operation of the table runs on
//! both. Ids and times that depend on when an entry was signed are masked
//! before comparing; everything else must be equal.

use std::collections::BTreeSet;

use kith_node::api::Client;
use kith_node::model::EntryView;
use kith_node::ops::{self, Operation, Visit};
use kith_node::refs::{AuthorRef, EntryRef};
use kith_node::{Config, Core, DataDir, Node, identity};
use kith_protocol::{Entry, Keypair, PostKind};
use serde_json::Value;

/// An answer as compared: its HTTP form, JSON masked (see [`mask`]);
/// bundles and `.automerge` files (which carry signing times) by their
/// leading magic and size in KiB.
fn comparable<R: ops::http::Response>(answer: R) -> Value {
    let (content_type, payload) = answer.into_http();
    let bytes = payload.into_bytes().unwrap();
    if content_type == ops::http::JSON {
        return mask(serde_json::from_slice(&bytes).unwrap());
    }
    let magic: String = bytes.iter().take(4).map(|x| format!("{x:02x}")).collect();
    serde_json::json!({ "magic": magic, "kib": bytes.len() / 1024 })
}

/// Masks what depends on signing time: entry ids, page ids, times, heads.
fn mask(v: Value) -> Value {
    match v {
        Value::String(s) if s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
            Value::String("<id>".into())
        }
        Value::String(s) if s.len() == 32 && s.chars().all(|c| c.is_ascii_hexdigit()) => {
            Value::String("<page>".into())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(mask).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, v)| {
                    let timeish = matches!(
                        k.as_str(),
                        "timestamp"
                            | "added"
                            | "created"
                            | "updated"
                            | "since"
                            | "started"
                            | "last_seen"
                            | "last_sync"
                            | "created_ms"
                            | "heads"
                            | "score"
                    );
                    (k, if timeish { Value::Null } else { mask(v) })
                })
                .collect(),
        ),
        other => other,
    }
}

struct Pair {
    client: std::sync::Arc<Client>,
    core: Core,
    seen: BTreeSet<&'static str>,
}

impl Pair {
    /// Runs `op` through the API and directly; both must answer alike.
    async fn same<O: Operation + Clone>(&mut self, op: O) {
        self.seen.insert(O::INFO.name);
        let client = self.client.clone();
        let sent = op.clone();
        let http = tokio::task::spawn_blocking(move || client.call(sent))
            .await
            .unwrap();
        let direct = self.core.run(op);
        match (http, direct) {
            (Ok(a), Ok(b)) => assert_eq!(
                comparable(a),
                comparable(b),
                "{}: the API and direct mode disagree",
                O::INFO.name
            ),
            (Err(a), Err(b)) => {
                assert_eq!(a.kind(), b.kind(), "{}: {a} / {b}", O::INFO.name);
                assert_eq!(a.to_string(), b.to_string(), "{}", O::INFO.name);
            }
            (a, b) => panic!(
                "{}: API {:?} but direct {:?}",
                O::INFO.name,
                a.map(comparable),
                b.map(comparable)
            ),
        }
        // Entries signed a millisecond apart sort the same on both sides.
        std::thread::sleep(std::time::Duration::from_millis(3));
    }

    /// For the network's operations: the API answers, direct mode says
    /// what it can without a node.
    async fn online_only<O>(&mut self, op: O, check: impl Fn(&O::Output, Option<&O::Output>))
    where
        O: Operation + Clone,
    {
        self.seen.insert(O::INFO.name);
        let client = self.client.clone();
        let sent = op.clone();
        let http = tokio::task::spawn_blocking(move || client.call(sent))
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{}: {e}", O::INFO.name));
        let direct = self.core.run(op);
        check(&http, direct.as_ref().ok());
        if let Err(e) = direct {
            assert_eq!(
                e.kind(),
                kith_node::ErrorKind::Unavailable,
                "{}: {e}",
                O::INFO.name
            );
            assert!(e.to_string().contains("kith up"), "{e}");
        }
    }
}

fn post(text: &str) -> ops::Post {
    ops::Post {
        circle: None,
        text: text.into(),
        kind: PostKind::Note,
        reply_to: None,
        tags: vec!["contract".into()],
        files: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_the_same_through_the_api_and_directly() {
    // Bob's log, made apart, for alice to hold.
    let bob_dir = tempfile::tempdir().unwrap();
    let bob_key = Keypair::from_secret(&[2; 32]);
    let mut bob = Core::open(Config::new(DataDir::new(bob_dir.path())), bob_key.clone()).unwrap();

    // Alice's store, prepared directly.
    let root = tempfile::tempdir().unwrap();
    let a_dir = root.path().join("a");
    let data_dir = DataDir::new(&a_dir);
    let alice_key = identity::create_from_secret(&data_dir.identity(), &[1; 32]).unwrap();
    let mut config = Config::new(data_dir.clone());
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.api = "127.0.0.1:0".parse().unwrap();
    config.mdns = false;
    let (question, note, answer, later): (EntryView, EntryView, EntryView, Vec<Entry>);
    {
        let mut alice = Core::open(config.clone(), alice_key.clone()).unwrap();
        alice
            .run(ops::TrustAdd {
                author: bob_key.author().into(),
                petname: Some("Bobby".into()),
            })
            .unwrap();
        bob.run(ops::TrustAdd {
            author: alice_key.author().into(),
            petname: None,
        })
        .unwrap();
        note = alice.run(post("Working on the contract test")).unwrap();
        question = alice
            .run(ops::Ask {
                circle: None,
                text: "Which linker is fastest?".into(),
                tags: vec![],
                yes: true,
            })
            .unwrap()
            .posted
            .unwrap();
        alice
            .run(ops::WikiNew {
                circle: None,
                title: "Runbook".into(),
                body: "Deploy: build, tag, announce.\n".into(),
            })
            .unwrap();
        let mine = alice
            .store()
            .log(&alice_key.author(), 1, usize::MAX)
            .unwrap();
        assert!(bob.ingest(&mine).error.is_none());
        answer = bob
            .run(ops::Answer {
                id: question.id.into(),
                text: "mold, by far".into(),
                tags: vec![],
                files: Vec::new(),
            })
            .unwrap();
        bob.run(ops::ProfileSet {
            name: "Robert".into(),
            about: String::new(),
        })
        .unwrap();
        let bobs = bob.store().log(&bob_key.author(), 1, usize::MAX).unwrap();
        assert!(alice.ingest(&bobs).error.is_none());
        // Entries of bob's that alice will import during the test.
        bob.run(post("bob's later note")).unwrap();
        later = bob
            .store()
            .log(&bob_key.author(), bobs.len() as u64 + 1, usize::MAX)
            .unwrap();
        alice.close().unwrap();
    }
    let b_dir = root.path().join("b");
    kith_testkit::copy_dir(&a_dir, &b_dir);

    let node = Node::start(config, alice_key.clone()).await.unwrap();
    let token = std::fs::read_to_string(data_dir.api_token()).unwrap();
    let client = Client::new(&format!("http://{}", node.api_addr()), token.trim());
    let mut b_config = Config::new(DataDir::new(&b_dir));
    b_config.mdns = false;
    let core = Core::open(b_config, alice_key.clone()).unwrap();
    let mut pair = Pair {
        client: std::sync::Arc::new(client),
        core,
        seen: BTreeSet::new(),
    };

    let q: EntryRef = question.id.into();
    let bob_ref: AuthorRef = bob_key.author().into();
    let carol = Keypair::from_secret(&[3; 32]).author();

    // Reads of the prepared state.
    pair.same(ops::Whoami {}).await;
    pair.same(ops::Feed::default()).await;
    pair.same(ops::Feed {
        author: Some(bob_ref),
        limit: Some(5),
        ..Default::default()
    })
    .await;
    pair.same(ops::TrustList {}).await;
    pair.same(ops::Profile { author: bob_ref }).await;
    pair.same(ops::Questions::default()).await;
    pair.same(ops::Thread { id: q.clone() }).await;
    pair.same(ops::WikiList { archived: false }).await;
    pair.same(ops::WikiShow {
        page: "Runbook".into(),
    })
    .await;
    pair.same(ops::WikiHistory {
        page: "runbook".into(),
    })
    .await;
    pair.same(ops::WikiExport {}).await;
    pair.same(ops::Search {
        q: "linker".into(),
        ..Default::default()
    })
    .await;
    pair.same(ops::Similar {
        text: "Which linker should we use?".into(),
    })
    .await;
    pair.same(ops::Forks {}).await;
    pair.same(ops::Frontier {}).await;
    pair.same(ops::Jobs {}).await;
    pair.same(ops::Bundle {
        recipient: Some(bob_ref),
        ..Default::default()
    })
    .await;
    pair.same(ops::WikiAutomerge {
        page: "Runbook".into(),
    })
    .await;

    // Writes, and what they change.
    pair.same(post("a note through both doors")).await;
    pair.same(ops::TrustAdd {
        author: carol.into(),
        petname: Some("Carol".into()),
    })
    .await;
    pair.same(ops::TrustRemove {
        author: carol.into(),
    })
    .await;
    pair.same(ops::ProfileSet {
        name: "Alice".into(),
        about: "storage, sync".into(),
    })
    .await;
    pair.same(ops::Ask {
        circle: None,
        text: "Which linker is the fastest one?".into(),
        tags: vec![],
        yes: false,
    })
    .await;
    pair.same(ops::Answer {
        id: q.clone(),
        text: "lld is close".into(),
        tags: vec![],
        files: Vec::new(),
    })
    .await;
    pair.same(ops::Reply {
        id: note.id.into(),
        text: "and a reply".into(),
        tags: vec![],
        files: Vec::new(),
    })
    .await;
    pair.same(ops::Endorse {
        id: answer.id.into(),
        note: Some("works".into()),
        withdraw: false,
    })
    .await;
    pair.same(ops::Accept {
        id: answer.id.into(),
        withdraw: false,
    })
    .await;
    pair.same(ops::Thread { id: q.clone() }).await;
    // An answer added to the wiki; an endorsement cannot be.
    pair.same(ops::WikiPromote {
        entry: answer.id.into(),
        to: Some("Linkers".into()),
        section: Some("Fastest".into()),
        thread: false,
    })
    .await;
    pair.same(ops::WikiPromote {
        entry: note.id.into(),
        to: Some("Linkers".into()),
        section: None,
        thread: false,
    })
    .await;
    pair.same(ops::Delete { id: note.id.into() }).await;
    pair.same(ops::WikiNew {
        circle: None,
        title: "Glossary".into(),
        body: "CRDT: a data type that merges.\n".into(),
    })
    .await;
    pair.same(ops::WikiEdit {
        page: "Runbook".into(),
        body: "Deploy: build, tag, announce.\nThen watch the logs.\n".into(),
        base: None,
    })
    .await;
    pair.same(ops::WikiRename {
        page: "Runbook".into(),
        update_links: false,
        title: "Deploy runbook".into(),
    })
    .await;
    pair.same(ops::WikiArchive {
        page: "Glossary".into(),
    })
    .await;
    pair.same(ops::WikiRestore {
        page: "Glossary".into(),
        at: None,
    })
    .await;
    // A change both copies hold: the page's first, from before the copy.
    let first = pair
        .core
        .run(ops::WikiHistory {
            page: "Deploy runbook".into(),
        })
        .unwrap()
        .last()
        .unwrap()
        .entry
        .to_string();
    pair.same(ops::WikiBlame {
        page: "Deploy runbook".into(),
    })
    .await;
    pair.same(ops::WikiDiff {
        page: "Deploy runbook".into(),
        change: first.clone(),
    })
    .await;
    pair.same(ops::WikiAt {
        page: "Deploy runbook".into(),
        change: first.clone(),
    })
    .await;
    pair.same(ops::WikiSides {
        page: "Deploy runbook".into(),
    })
    .await;
    pair.same(ops::WikiRestore {
        page: "Deploy runbook".into(),
        at: Some(first.clone()),
    })
    .await;
    pair.same(ops::WikiRevert {
        page: "Deploy runbook".into(),
        change: first,
    })
    .await;
    pair.same(ops::WikiReviewed {
        page: "Deploy runbook".into(),
    })
    .await;
    pair.same(ops::WikiImport(vec![kith_node::model::ImportItem {
        id: None,
        title: "Imported".into(),
        body: "From a folder of markdown.\n".into(),
        source: None,
    }]))
    .await;
    pair.same(ops::ForksClear { author: bob_ref }).await;
    pair.same(ops::ImportEntries {
        entries: later.clone(),
    })
    .await;
    let code = kith_node::invite::Invite {
        author: carol,
        addrs: vec!["/ip4/127.0.0.1/tcp/9".parse().unwrap()],
        person: None,
    }
    .encode();
    pair.same(ops::Join {
        code,
        petname: Some("Carol".into()),
    })
    .await;
    pair.same(ops::Reindex {}).await;
    pair.same(ops::Verify {}).await;
    pair.same(ops::Feed::default()).await;
    pair.same(ops::Search {
        q: "watch logs".into(),
        ..Default::default()
    })
    .await;
    // Bad input is refused alike.
    pair.same(ops::Thread {
        id: "abcdef".parse().unwrap(),
    })
    .await;
    pair.same(ops::WikiShow {
        page: "No such page".into(),
    })
    .await;

    // The network's own operations.
    let me = alice_key.author();
    pair.online_only(ops::Status {}, |online, offline| {
        assert!(online.running);
        let offline = offline.expect("status works offline");
        assert!(!offline.running);
        assert_eq!(online.me, offline.me);
        assert_eq!(online.authors, offline.authors);
    })
    .await;
    pair.online_only(ops::Peers {}, |online, offline| {
        let authors =
            |p: &[kith_node::model::PeerView]| -> Vec<_> { p.iter().map(|p| p.author).collect() };
        assert_eq!(
            authors(online),
            authors(offline.expect("peers work offline"))
        );
    })
    .await;
    pair.online_only(ops::Invite {}, |online, offline| {
        assert_eq!(online.author, me);
        assert!(offline.is_none());
    })
    .await;
    // A person's devices.
    pair.same(ops::Devices::default()).await;
    let phone = kith_protocol::Keypair::from_secret(&[0x55; 32]);
    let elsewhere = kith_protocol::Keypair::from_secret(&[0x56; 32]).author();
    pair.same(ops::DeviceAdd {
        link: kith_protocol::DeviceLink::new(&elsewhere, &phone, "phone"),
    })
    .await;
    pair.same(ops::DeviceAdd {
        link: kith_protocol::DeviceLink::new(&me, &phone, "phone"),
    })
    .await;
    pair.same(ops::DeviceRevoke {
        device: phone.author().into(),
        keep: None,
    })
    .await;
    pair.same(ops::Devices::default()).await;
    pair.online_only(ops::DeviceLinkCode {}, |online, offline| {
        let code = kith_node::device_link::LinkCode::decode(&online.code).unwrap();
        assert_eq!(code.identity, me);
        assert!(offline.is_none());
    })
    .await;
    let code = kith_node::device_link::LinkCode {
        identity: elsewhere,
        node: elsewhere,
        addrs: vec![],
        secret: [9; 32],
    }
    .encode();
    pair.same(ops::DeviceJoined { code }).await;
    pair.same(ops::DeviceJoined {
        code: "kith1notalinkcode".into(),
    })
    .await;
    pair.same(ops::RecoverySet {
        threshold: 1,
        contacts: vec![elsewhere.into()],
    })
    .await;
    pair.same(ops::RecoverySet {
        threshold: 2,
        contacts: vec![elsewhere.into()],
    })
    .await;
    // This device has linked another: it cannot ask for recovery.
    pair.same(ops::RecoveryRequest {
        old: elsewhere.into(),
        addrs: Vec::new(),
    })
    .await;
    let request = kith_node::device_link::RecoveryCode {
        old: elsewhere,
        new: phone.author(),
        consent: kith_protocol::RecoveryApproval::request(&elsewhere, &phone),
        device: phone.author(),
        addrs: Vec::new(),
    }
    .encode();
    pair.same(ops::RecoveryApprove {
        code: request,
        seen: None,
    })
    .await;
    // Rotation makes a random key on each side: compare the shape.
    {
        let client = pair.client.clone();
        let http = tokio::task::spawn_blocking(move || client.call(ops::IdentityRotate {}))
            .await
            .unwrap()
            .unwrap();
        let direct = pair.core.run(ops::IdentityRotate {}).unwrap();
        pair.seen
            .insert(<ops::IdentityRotate as Operation>::INFO.name);
        assert_eq!(http.root, direct.root);
        assert!(http.identity != me && direct.identity != me);
        assert_eq!(http.devices.len(), direct.devices.len());
    }
    // Private circles: the same answers, errors included.
    pair.same(ops::CircleCreate {
        name: "team".into(),
        members: vec![],
    })
    .await;
    pair.same(ops::CircleCreate {
        name: "team".into(),
        members: vec![],
    })
    .await;
    pair.same(ops::CircleAdd {
        circle: "team".into(),
        member: "Bobby".into(),
        history: true,
    })
    .await;
    pair.same(ops::Post {
        circle: Some("team".into()),
        ..post("only the team reads this")
    })
    .await;
    pair.same(ops::CircleShow {
        circle: "team".into(),
    })
    .await;
    pair.same(ops::CircleList {}).await;
    pair.same(ops::CircleRemove {
        circle: "team".into(),
        member: bob_key.author().to_string(),
    })
    .await;
    pair.same(ops::CircleShow {
        circle: "nowhere".into(),
    })
    .await;
    pair.same(ops::BookmarkAdd {
        entry: note.id.into(),
        note: Some("the contract's note".into()),
    })
    .await;
    pair.same(ops::BookmarkAdd {
        entry: "ffffff".parse().unwrap(),
        note: None,
    })
    .await;
    pair.same(ops::BookmarkList {}).await;
    pair.same(ops::BookmarkRemove {
        entry: note.id.into(),
    })
    .await;
    pair.same(ops::BookmarkRemove {
        entry: note.id.into(),
    })
    .await;
    // Files: added and declared, described, read, attached; a relative
    // path and an unknown hash are refused alike.
    let files = tempfile::tempdir().unwrap();
    let path = files.path().join("notes.txt");
    std::fs::write(&path, "the contract's file\n".repeat(100)).unwrap();
    let add = ops::BlobAdd {
        path: path.to_string_lossy().into_owned(),
        name: None,
        media_type: None,
        declare: true,
    };
    pair.same(add.clone()).await;
    pair.same(ops::BlobAdd {
        path: "notes.txt".into(),
        ..add.clone()
    })
    .await;
    let hash = kith_protocol::blob::BlobHash::of("the contract's file\n".repeat(100).as_bytes());
    pair.same(ops::BlobInfo {
        hash: hash.to_string(),
        entry: None,
    })
    .await;
    pair.same(ops::BlobGet {
        hash: hash.to_string(),
        entry: None,
    })
    .await;
    pair.same(ops::BlobGet {
        hash: "ab".repeat(32),
        entry: None,
    })
    .await;
    // (Not declared again: the core alone would sign an entry.)
    let file = pair
        .core
        .run(ops::BlobAdd {
            declare: false,
            ..add
        })
        .unwrap()
        .file;
    pair.same(ops::Post {
        files: vec![file],
        ..post("with a file")
    })
    .await;
    // The inbox: empty on one node (nothing of others' here), marks,
    // following a page.
    pair.same(ops::Inbox::default()).await;
    pair.same(ops::InboxUnread {}).await;
    pair.same(ops::InboxRead {
        entry: None,
        all: true,
    })
    .await;
    pair.same(ops::InboxRead {
        entry: None,
        all: false,
    })
    .await;
    pair.same(ops::WikiFollow {
        page: "Glossary".into(),
        stop: false,
    })
    .await;
    pair.same(ops::WikiFollow {
        page: "no such page".into(),
        stop: true,
    })
    .await;
    pair.online_only(
        ops::Dial {
            addr: "/ip4/127.0.0.1/tcp/9".into(),
        },
        |_, offline| assert!(offline.is_none()),
    )
    .await;

    // Every operation of the contract was tried.
    struct Names(BTreeSet<&'static str>);
    impl Visit for Names {
        fn visit<O: Operation>(&mut self) {
            self.0.insert(O::INFO.name);
        }
    }
    let mut all = Names(BTreeSet::new());
    ops::visit_all(&mut all);
    let missing: Vec<_> = all.0.difference(&pair.seen).collect();
    assert!(missing.is_empty(), "not tried: {missing:?}");
    assert_eq!(all.0.len(), ops::all().len(), "names are unique");

    pair.core.close().unwrap();
    node.shutdown().await.unwrap();
}

/// What an operation's table line says of its body is what the server
/// reads: a 600 KiB post is refused with 413 (the default of 512 KiB), a
/// 600 KiB page is taken (`WikiNew` reads up to 7 MiB), and an import of
/// entries beyond 16 MiB is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_reads_as_much_of_a_body_as_the_operation_table_says() {
    let node = kith_testkit::TestNode::start("alice", 201).await;
    let base = format!("{}{}", node.http_base(), kith_node::api::PREFIX);
    let token = std::fs::read_to_string(node.data_dir().api_token()).unwrap();
    let statuses = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let send = |path: &str, body: Vec<u8>| {
            agent
                .post(format!("{base}{path}"))
                .header("Authorization", format!("Bearer {}", token.trim()))
                .header("Content-Type", "application/json")
                .send(&body[..])
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        };
        let big = "words ".repeat(100 * 1024);
        let post = serde_json::to_vec(&ops::Post::note(&big)).unwrap();
        let page = serde_json::to_vec(&ops::WikiNew {
            title: "Big".into(),
            body: big,
            circle: None,
        })
        .unwrap();
        (
            send("/posts", post),
            send("/wiki", page),
            send("/entries", vec![0; 17 << 20]),
        )
    })
    .await
    .unwrap();
    let (post, page, entries) = statuses;
    assert_eq!(post, 413);
    assert_eq!(page, 200);
    // Refused before it is read whole (the connection may close first).
    assert!(entries == 413 || entries == 0, "{entries}");
    let info = |name: &str| ops::all().into_iter().find(|i| i.name == name).unwrap();
    assert!(info("Bundle").heavy && info("Search").heavy && !info("Feed").heavy);
}
