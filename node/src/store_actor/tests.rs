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

    // Two reindex requests and a post behind them: one rebuild answers
    // both when it ends, and the post does not wait for it.
    let reindex = [queue(&live, ops::Reindex {}), queue(&live, ops::Reindex {})];
    let post = queue(&live, ops::Post::note("while the views are rebuilt"));
    assert!(post.blocking_recv().unwrap().is_ok());
    let [first, second] = reindex.map(|r| r.blocking_recv().unwrap().unwrap());
    assert!(first.entries >= 41, "{first:?}");
    assert_eq!(first, second);
    let (stop, stopped) = oneshot::channel();
    live.try_send(StoreMsg::Shutdown(stop))
        .map_err(|_| ())
        .unwrap();
    stopped.blocking_recv().unwrap();
    running.join().unwrap();
}
