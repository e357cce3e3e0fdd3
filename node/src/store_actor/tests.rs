#![allow(clippy::unwrap_used)]

use kith_protocol::Keypair;

use super::*;
use crate::config::{Config, DataDir};
use crate::ops::{self, Operation};
use crate::store::Store;

/// The actor on a store in `dir` (synced like a real one), with its
/// live inbox; it runs once its inbox holds what the test queued.
fn actor(dir: &std::path::Path) -> (StoreActor, mpsc::Sender<StoreMsg>, Store) {
    let mut config = Config::new(DataDir::new(dir));
    config.witness_dir = Some(dir.join("witness"));
    let mut core = Core::open(config, Keypair::from_secret(&[7; 32])).unwrap();
    core.ensure_encryption_key().unwrap();
    actor_on(core)
}

fn actor_on(core: Core) -> (StoreActor, mpsc::Sender<StoreMsg>, Store) {
    let store = core.store().clone();
    let (live, inbox) = mpsc::channel(STORE_INBOX);
    let (_bulk, bulk) = mpsc::channel(BULK_INBOX);
    let (net, _net) = mpsc::channel(1_024);
    let out = Outputs {
        net,
        scope: watch::channel(Arc::new(Scope::default())).0,
        events: broadcast::channel(1_024).0,
        jobs: JobTable::default(),
        restart: watch::channel(false).0,
    };
    let actor = StoreActor::new(core, crate::witness::Start::Sure, inbox, bulk, out);
    (actor, live, store)
}

fn queue<O: Operation>(
    live: &mpsc::Sender<StoreMsg>,
    op: O,
) -> oneshot::Receiver<Result<O::Output>> {
    let (reply, answer) = oneshot::channel();
    let ops::Routed(ops::Route::Store(request)) = op.route(reply) else {
        panic!("{} is not a store operation", O::INFO.name);
    };
    live.try_send(StoreMsg::Op(request))
        .map_err(|_| ())
        .unwrap();
    answer
}

/// Asks the actor to stop and waits until its thread has ended.
fn shut_down(live: &mpsc::Sender<StoreMsg>, running: std::thread::JoinHandle<()>) {
    let (stop, stopped) = oneshot::channel();
    live.try_send(StoreMsg::Shutdown(stop))
        .map_err(|_| ())
        .unwrap();
    stopped.blocking_recv().unwrap();
    running.join().unwrap();
}

#[test]
fn the_actor_groups_grouped_operations_and_runs_job_operations_as_its_job() {
    assert_eq!(ops::Post::INFO.commit, ops::Commit::Grouped);
    assert_eq!(ops::Reindex::INFO.commit, ops::Commit::Job);
    assert_eq!(ops::ProfileSet::INFO.commit, ops::Commit::Alone);
    let dir = tempfile::tempdir().unwrap();
    let (actor, live, store) = actor(dir.path());
    // Forty posts queued before the actor runs, then a profile.
    let posts: Vec<_> = (0..40)
        .map(|i| queue(&live, ops::Post::note(format!("queued post {i}"))))
        .collect();
    let profile = ops::ProfileSet {
        name: "Grace".into(),
        about: String::new(),
    };
    let profile = queue(&live, profile);
    let synced = store.kv().durable_syncs();
    let running = std::thread::spawn(move || actor.run());
    let seqs: Vec<u64> = posts
        .into_iter()
        .map(|p| p.blocking_recv().unwrap().unwrap().seq)
        .collect();
    assert_eq!(seqs, (seqs[0]..seqs[0] + 40).collect::<Vec<_>>());
    assert!(profile.blocking_recv().unwrap().is_ok());
    // The forty posts shared one durable write; the profile had its own.
    assert_eq!(store.kv().durable_syncs() - synced, 2);

    shut_down(&live, running);
    drop(store);

    // Two reindex requests and a post behind them, queued before the actor
    // runs (so the first rebuild cannot end before the second request
    // arrives): one rebuild answers both when it ends, and the post does
    // not wait for it.
    let (second, live, _store) = self::actor(dir.path());
    let reindex = [queue(&live, ops::Reindex {}), queue(&live, ops::Reindex {})];
    let post = queue(&live, ops::Post::note("while the views are rebuilt"));
    let running = std::thread::spawn(move || second.run());
    assert!(post.blocking_recv().unwrap().is_ok());
    let [first, second] = reindex.map(|r| r.blocking_recv().unwrap().unwrap());
    assert!(first.entries >= 41, "{first:?}");
    assert_eq!(first, second);
    shut_down(&live, running);
}

/// A search index far behind the store (deleted) catches up in the
/// actor's slices: messages queued at start are answered before any of
/// it, and the index then catches up without another message.
#[test]
fn a_search_index_far_behind_catches_up_between_messages() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::new(DataDir::new(dir.path()));
    config.witness_dir = Some(dir.path().join("witness"));
    config.open_search_budget = std::time::Duration::ZERO;
    let me = Keypair::from_secret(&[7; 32]);
    let peer = Keypair::from_secret(&[8; 32]);
    let bodies: Vec<kith_protocol::Body> = (0..3_000)
        .map(|i| {
            kith_testkit::core::note_body(if i == 2_999 {
                "the last one: zebra".to_string()
            } else {
                format!("note {i}")
            })
        })
        .collect();
    let log = Store::temporary()
        .unwrap()
        .append_many(&peer, &bodies, 1_700_000_000_000)
        .unwrap();
    {
        let mut core = Core::open(config.clone(), me.clone()).unwrap();
        core.run(ops::TrustAdd {
            author: peer.author().into(),
            petname: None,
        })
        .unwrap();
        assert!(core.ingest(&log).error.is_none());
        core.close().unwrap();
    }
    std::fs::remove_dir_all(config.data_dir.search_index()).unwrap();
    let core = Core::open(config, me).unwrap();
    assert!(core.search_behind());
    let reader = core.search_reader();
    let store = core.store().clone();
    let zebra = |reader: &crate::search::SearchReader| {
        reader
            .search(
                &crate::search::Query {
                    text: "zebra",
                    author: None,
                    tag: None,
                    kind: None,
                    limit: None,
                },
                &|author, seq| kith_core::reader::post_at(&store, author, seq),
            )
            .unwrap()
            .len()
    };
    let (actor, live, _store) = actor_on(core);
    let commit = |live: &mpsc::Sender<StoreMsg>| {
        let (reply, answer) = oneshot::channel();
        live.try_send(StoreMsg::CommitSearch(reply))
            .map_err(|_| ())
            .unwrap();
        answer
    };
    let post = queue(&live, ops::Post::note("while the index catches up"));
    let first_commit = commit(&live);
    let running = std::thread::spawn(move || actor.run());
    assert!(post.blocking_recv().unwrap().is_ok());
    first_commit.blocking_recv().unwrap();
    assert_eq!(zebra(&reader), 0, "answered before the catch-up reached it");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while zebra(&reader) == 0 {
        assert!(std::time::Instant::now() < deadline, "never caught up");
        std::thread::sleep(std::time::Duration::from_millis(50));
        commit(&live).blocking_recv().unwrap();
    }
    assert_eq!(zebra(&reader), 1);
    shut_down(&live, running);
}
