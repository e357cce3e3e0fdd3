//! A store written by the previous layout (before the store actor) opens,
//! verifies, shows what it held, rebuilds identically, and runs as a node.
//! The fixture was made by `tests/fixtures/make-store-v1.sh` with the
//! `kith` binary of commit bffc392.

use kith_node::model::EntryView;
use kith_node::{Config, Core, DataDir, Node, identity, ops};

fn unpack() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let archive = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/store-v1.tar.gz"
    ))
    .unwrap();
    let tar = flate2::read::GzDecoder::new(&archive[..]);
    tar::Archive::new(tar).unpack(dir.path()).unwrap();
    dir
}

fn texts(feed: &[EntryView]) -> Vec<String> {
    feed.iter().filter_map(|e| e.text.clone()).collect()
}

#[test]
fn a_store_of_the_previous_layout_opens_verifies_and_rebuilds() {
    let dir = unpack();
    let data_dir = DataDir::new(dir.path());
    let keypair = identity::load(&data_dir.identity()).unwrap();
    let mut core = Core::open(Config::load(data_dir).unwrap(), keypair).unwrap();

    let report = core.run(ops::Verify {}).unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.authors, 2, "alice and bob");
    assert_eq!(report.bodies_dropped, 1, "the deleted note");

    let feed = core.run(ops::Feed::default()).unwrap();
    let texts = texts(&feed);
    assert!(texts.contains(&"Working on the sync protocol today".to_string()));
    assert!(!texts.iter().any(|t| t.contains("will be deleted")));
    let question = feed
        .iter()
        .find(|e| e.kind == "question")
        .expect("the question");
    let thread = core
        .run(ops::Thread {
            id: question.id.into(),
        })
        .unwrap();
    assert_eq!(thread.answers.len(), 1);
    assert!(thread.answers[0].accepted);
    assert_eq!(thread.answers[0].score, 1.0, "alice's endorsement");
    assert_eq!(
        thread.answers[0].entry.author_name.as_deref(),
        Some("Bobby")
    );

    let page = core
        .run(ops::WikiShow {
            page: "Deploy runbook".into(),
        })
        .unwrap();
    assert!(page.body.contains("Bob: also ping ops."), "{}", page.body);
    assert_eq!(page.authors.len(), 2);
    let hits = core
        .run(ops::Search {
            q: "certbot".into(),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(hits.len(), 1);

    // The views rebuilt by this version show the same.
    core.run(ops::Reindex {}).unwrap();
    assert_eq!(core.run(ops::Feed::default()).unwrap(), feed);
    assert_eq!(
        core.run(ops::Thread {
            id: question.id.into()
        })
        .unwrap(),
        thread
    );
    assert_eq!(
        core.run(ops::WikiShow {
            page: "Deploy runbook".into()
        })
        .unwrap()
        .body,
        page.body
    );
    core.close().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_previous_layout_runs_as_a_node() {
    let dir = unpack();
    let data_dir = DataDir::new(dir.path());
    let keypair = identity::load(&data_dir.identity()).unwrap();
    let mut config = Config::load(data_dir).unwrap();
    config.listen = vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()];
    config.api = "127.0.0.1:0".parse().unwrap();
    config.mdns = false;
    let me = keypair.author();
    let node = Node::start(config, keypair).await.unwrap();
    let h = node.handle();
    // The views of an older layout are rebuilt as a job after start: the
    // profile name is back once it has run.
    kith_testkit::wait_until(
        &h,
        || {
            let h = h.clone();
            async move {
                h.call(ops::Whoami {})
                    .await
                    .is_ok_and(|w| w.name.as_deref() == Some("Alice"))
            }
        },
        || async { "the profile name never came back after the rebuild".to_string() },
    )
    .await;
    // A store from before circles gets this device's encryption key once
    // its own writes may go on.
    kith_testkit::wait_until(
        &h,
        || {
            let h = h.clone();
            async move { h.reader().store().encryption_key(&me).unwrap().is_some() }
        },
        || async { "the node never published its encryption key".to_string() },
    )
    .await;
    let before = h.call(ops::Whoami {}).await.unwrap();
    let post = h.call(ops::Post::note("after the upgrade")).await.unwrap();
    assert_eq!(post.seq, before.entries + 1, "the log continues");
    assert!(h.call(ops::Verify {}).await.unwrap().problems.is_empty());
    node.shutdown().await.unwrap();
}
