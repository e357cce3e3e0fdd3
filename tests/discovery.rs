//! Finding trusted peers without a server.

use kith_node::ops;
use kith_testkit::{TestNode, connect, wait_until};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_knows_only_one_peer_finds_another_and_connects_directly() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    // Everyone trusts everyone; Alice and Carol each know only Bob's address.
    alice.trust(&carol).await;
    carol.trust(&alice).await;
    connect(&alice, &bob).await;
    connect(&carol, &bob).await;
    let c = &carol;
    let a_id = alice.author();
    wait_until(
        carol.handle(),
        || async move {
            c.handle()
                .call(ops::Peers {})
                .await
                .unwrap()
                .iter()
                .any(|p| {
                    p.author == a_id && p.connection == Some(kith_node::model::Connection::Direct)
                })
        },
        || async { "carol never connected to alice directly".to_string() },
    )
    .await;
    // Alice's address is now remembered by Carol (it survives restarts).
    wait_until(
        carol.handle(),
        || async move {
            c.handle()
                .call(ops::Peers {})
                .await
                .unwrap()
                .iter()
                .any(|p| {
                    p.author == a_id && p.addrs.iter().any(|x| x.starts_with("/ip4/127.0.0.1/tcp/"))
                })
        },
        || async { "carol did not remember alice's address".to_string() },
    )
    .await;
}
