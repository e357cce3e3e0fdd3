//! Floods and partitions, short versions (the benches run the full ones:
//! `cargo bench -p kith-tests --bench flood` / `--bench partition`).

use std::time::Duration;

use kith_node::ops;
use kith_protocol::Keypair;
use kith_testkit::{TestNode, connect};
use kith_tests::scenarios::{flood, partition};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_stores_nothing_and_honest_posts_still_arrive() {
    let target = TestNode::start("target", 60).await;
    let friend = TestNode::start("friend", 61).await;
    connect(&target, &friend).await;
    for i in 0..20 {
        friend.post(&format!("before {i}")).await;
    }
    target.wait_for_seq(friend.author(), 20).await;
    let mallory = Keypair::from_secret(&flood::MALLORY).author();
    target
        .handle()
        .call(ops::TrustAdd {
            author: mallory.into(),
            petname: Some("mallory".into()),
        })
        .await
        .unwrap();

    let plan = flood::Plan {
        strangers: 60,
        gossip: 4_000,
        fetches: 40,
        stalled: 16,
        oversized: 2,
        unread_downloads: 2,
        honest: 20,
        every: Duration::from_millis(50),
    };
    let out = flood::run(&plan, &flood::Target::of(&target.data_dir()), &friend).await;
    println!("{out:#?}");

    // Refused, answered, rejected: the flood reached the target.
    assert_eq!(out.strangers_refused, plan.strangers);
    assert_eq!(out.oversized_refused, plan.oversized);
    assert!(out.fetch_answers > 0, "{out:?}");
    assert!(out.status.gossip.rejected > 0, "{:?}", out.status.gossip);
    assert!(out.status.refused_connections >= plan.strangers as u64);
    // Nothing from the flood is stored: the friend's log is exactly what
    // the friend wrote, Mallory has none, the store verifies, no fork.
    assert_eq!(
        target.head(friend.author()).await,
        friend.head(friend.author()).await
    );
    assert_eq!(target.seq(mallory).await, 0);
    let report = target.handle().call(ops::Verify {}).await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(
        target
            .handle()
            .call(ops::Forks {})
            .await
            .unwrap()
            .is_empty()
    );
    // And the target still serves its user.
    target.post("still here").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_nodes_split_two_three_heal_with_nothing_lost() {
    let out = partition::run(&partition::Plan {
        nodes: 5,
        split: 2,
        apart: Duration::from_secs(3),
        posts: 40,
        edits: 20,
        pages: 5,
    })
    .await;
    println!("{out:?}");
    assert_eq!((out.posts, out.edits), (40, 20));
}
