//! One person, two devices, a friend: the link handshake over libp2p,
//! posts from the new device reaching the friend as the person's, and a
//! revocation that shuts the device out.

use std::time::Duration;

use kith_node::device_link::{LinkCode, join};
use kith_node::ops;
use kith_testkit::{TestNode, connect, copy_dir};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_linked_device_posts_as_the_person_and_a_revoked_one_is_shut_out() {
    let alice = TestNode::start("alice", 1).await;
    let laptop = TestNode::start("laptop", 2).await;
    let bob = TestNode::start("bob", 3).await;
    connect(&alice, &bob).await;
    alice
        .handle()
        .call(ops::ProfileSet {
            name: "Alice".into(),
            about: String::new(),
        })
        .await
        .unwrap();

    // The handshake: a code from alice's node, used once by the laptop.
    let code = alice
        .handle()
        .call(ops::DeviceLinkCode {})
        .await
        .unwrap()
        .code;
    let parsed = LinkCode::decode(&code).unwrap();
    let root = join(&parsed, &laptop.keypair, "laptop", Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(root, alice.author());
    let again = join(&parsed, &laptop.keypair, "laptop", Duration::from_secs(10)).await;
    assert!(again.is_err(), "a link code works once");
    laptop
        .handle()
        .call(ops::DeviceJoined { code })
        .await
        .unwrap();
    // The laptop dials alice's node and fetches the certificate naming it.
    let alice_author = alice.author();
    laptop
        .wait_for(
            "the laptop never learned it is alice's device",
            |h| async move { h.call(ops::Devices::default()).await.unwrap().root == alice_author },
        )
        .await;

    // The laptop posts; bob, who trusts only alice, gets it as Alice's.
    let post = laptop.post("written on the laptop").await;
    bob.wait_for_seq(laptop.author(), post.seq).await;
    let feed = bob.feed(10).await;
    let seen = feed.iter().find(|e| e.id == post.id).unwrap();
    assert_eq!(seen.author_name.as_deref(), Some("Alice"));
    let devices = laptop.handle().call(ops::Devices::default()).await.unwrap();
    assert_eq!(devices.root, alice.author());
    assert_eq!(devices.devices.len(), 2);

    // Carol meets alice through the laptop's invite: it names the person,
    // so carol gets alice's certificates and sees the laptop as alice's.
    let carol = TestNode::start("carol", 5).await;
    let invite = laptop.handle().call(ops::Invite {}).await.unwrap();
    assert_eq!(invite.person, Some(alice.author()));
    carol
        .handle()
        .call(ops::Join {
            code: invite.code,
            petname: None,
        })
        .await
        .unwrap();
    laptop.trust(&carol).await;
    carol.wait_for_seq(laptop.author(), post.seq).await;
    let laptop_author = laptop.author();
    carol
        .wait_for(
            "carol never learned the laptop is alice's",
            |h| async move {
                h.call(ops::Devices {
                    of: Some(laptop_author.into()),
                })
                .await
                .unwrap()
                .root
                    == alice_author
            },
        )
        .await;

    // Alice revokes the laptop; bob learns it and refuses what follows.
    alice.wait_for_seq(laptop.author(), post.seq).await;
    alice
        .handle()
        .call(ops::DeviceRevoke {
            device: laptop.author().into(),
            keep: None,
        })
        .await
        .unwrap();
    let alice_head = alice.seq(alice.author()).await;
    bob.wait_for_seq(alice.author(), alice_head).await;
    let laptop_author = laptop.author();
    bob.wait_for(
        "bob still connected to the revoked laptop",
        |h| async move {
            !h.call(ops::Peers {})
                .await
                .unwrap()
                .iter()
                .any(|p| p.author == laptop_author && p.connected)
        },
    )
    .await;
    laptop.post("written after the revocation").await;
    let later = laptop
        .handle()
        .reader()
        .store()
        .log(&laptop.author(), post.seq + 1, 10)
        .unwrap();
    let report = bob
        .handle()
        .call(ops::ImportEntries { entries: later })
        .await
        .unwrap();
    assert_eq!(report.appended, 0);
    assert_eq!(report.rejected.len(), 1, "{report:?}");
    assert_eq!(bob.seq(laptop.author()).await, post.seq);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn friends_follow_a_rotation_and_devices_link_under_the_new_key() {
    let alice = TestNode::start("alice", 1).await;
    let phone = TestNode::start("phone", 4).await;
    let bob = TestNode::start("bob", 3).await;
    connect(&alice, &bob).await;
    let person = alice.handle().call(ops::IdentityRotate {}).await.unwrap();
    let new = person.identity;
    assert_ne!(new, alice.author());
    // Bob follows the rotation without doing anything.
    bob.wait_for("bob never followed alice's rotation", |h| async move {
        h.reader().scope().is_direct(&new)
    })
    .await;

    // A device linked by the new key: the code names the new identity
    // and alice's node to dial.
    let code = alice
        .handle()
        .call(ops::DeviceLinkCode {})
        .await
        .unwrap()
        .code;
    let parsed = LinkCode::decode(&code).unwrap();
    assert_eq!((parsed.identity, parsed.node), (new, alice.author()));
    join(&parsed, &phone.keypair, "phone", Duration::from_secs(30))
        .await
        .unwrap();
    phone
        .handle()
        .call(ops::DeviceJoined { code })
        .await
        .unwrap();
    // The certificate (in the new key's log) reaches bob, then the post.
    bob.wait_for_seq(new, 1).await;
    let post = phone.post("from the phone, after the rotation").await;
    bob.wait_for_seq(phone.author(), post.seq).await;
    let seen = bob.handle().call(ops::Devices::default()).await.unwrap();
    assert_eq!(seen.root, bob.author(), "bob is still his own person");
    let view =
        kith_node::reader::person_view(bob.handle().reader().store(), phone.author()).unwrap();
    assert_eq!((view.root, view.identity), (alice.author(), new));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_of_three_contacts_recover_a_lost_identity_and_a_friend_follows() {
    let mut alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    let dave = TestNode::start("dave", 4).await;
    let frank = TestNode::start("frank", 6).await;
    let a = alice.author();
    for other in [&bob, &carol, &dave, &frank] {
        connect(&alice, other).await;
    }
    alice
        .handle()
        .call(ops::ProfileSet {
            name: "Alice".into(),
            about: String::new(),
        })
        .await
        .unwrap();
    alice
        .handle()
        .call(ops::RecoverySet {
            threshold: 2,
            contacts: vec![
                bob.author().into(),
                carol.author().into(),
                dave.author().into(),
            ],
        })
        .await
        .unwrap();
    let head = alice.seq(a).await;
    for other in [&bob, &carol, &dave, &frank] {
        other.wait_for_seq(a, head).await;
    }
    // Frank now replicates alice's contacts; he meets bob and carol.
    for c in [&bob, &carol] {
        c.trust(&frank).await;
        frank.dial(c).await;
        frank.wait_connected(c).await;
    }
    // Every key of alice's is lost.
    alice.stop().await;

    let fresh = TestNode::start("fresh", 9).await;
    let request = fresh
        .handle()
        .call(ops::RecoveryRequest {
            old: a.into(),
            addrs: Vec::new(),
        })
        .await
        .unwrap();
    for c in [&bob, &carol] {
        fresh.trust(c).await;
    }
    // One approval is not enough.
    bob.handle()
        .call(ops::RecoveryApprove {
            code: request.code.clone(),
            seen: None,
        })
        .await
        .unwrap();
    frank
        .wait_for_seq(bob.author(), bob.seq(bob.author()).await)
        .await;
    let seen = frank
        .handle()
        .call(ops::Devices { of: Some(a.into()) })
        .await
        .unwrap();
    assert_eq!(seen.identity, a);
    carol
        .handle()
        .call(ops::RecoveryApprove {
            code: request.code.clone(),
            seen: None,
        })
        .await
        .unwrap();
    let new = request.new;
    frank.wait_identity(a, new).await;
    let seen = frank
        .handle()
        .call(ops::Devices { of: Some(a.into()) })
        .await
        .unwrap();
    assert_eq!(seen.recovered_by.len(), 2);
    // The recovered person posts from the fresh install; frank sees Alice.
    fresh.dial(&bob).await;
    let post = fresh.post("I am back").await;
    frank.wait_for_seq(fresh.author(), post.seq).await;
    let feed = frank.feed(10).await;
    let seen = feed.iter().find(|e| e.id == post.id).unwrap();
    assert_eq!(seen.author_name.as_deref(), Some("Alice"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_restored_from_an_old_backup_does_not_fork_its_log() {
    let mut alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    connect(&alice, &bob).await;
    // Seq 1 is the encryption key each node publishes at its first start.
    alice.post("one").await;
    bob.wait_for_seq(alice.author(), 2).await;
    // A backup, taken with the node stopped.
    alice.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(alice.dir.path(), backup.path());
    alice.restart().await;
    alice.wait_connected(&bob).await;
    alice.post("two").await;
    alice.post("three").await;
    bob.wait_for_seq(alice.author(), 4).await;
    alice.stop().await;

    // The disk dies; the old backup comes back.
    std::fs::remove_dir_all(alice.dir.path()).unwrap();
    copy_dir(backup.path(), alice.dir.path());
    alice.restart().await;
    assert_eq!(alice.seq(alice.author()).await, 2, "the backup is old");
    // Written at once: it waits until bob has told alice where her log is.
    let post = alice.post("after the restore").await;
    assert_eq!(post.seq, 5, "no second entry at seq 3");
    bob.wait_for_seq(alice.author(), 5).await;
    let forks = bob.handle().call(ops::Forks {}).await.unwrap();
    assert!(forks.is_empty(), "{forks:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_old_backup_restored_with_nobody_to_ask_goes_on_under_a_new_key() {
    let mut alice = TestNode::start("alice", 1).await;
    let mut bob = TestNode::start("bob", 2).await;
    alice
        .handle()
        .call(ops::ProfileSet {
            name: "Alice".into(),
            about: String::new(),
        })
        .await
        .unwrap();
    connect(&alice, &bob).await;
    // Seq 1: the encryption key; 2: the profile.
    alice.post("one").await;
    bob.wait_for_seq(alice.author(), 3).await;
    alice.stop().await;
    let backup = tempfile::tempdir().unwrap();
    copy_dir(alice.dir.path(), backup.path());

    // An ordinary restart with nobody online: the witness says this store
    // is where this machine left it, so it writes at once, same key.
    bob.stop().await;
    alice.restart().await;
    let two = alice.post("two").await;
    assert_eq!((two.author, two.seq), (alice.author(), 4));
    alice.post("three").await;
    bob.restart().await;
    alice.dial(&bob).await;
    bob.wait_for_seq(alice.author(), 5).await;
    alice.stop().await;
    bob.stop().await;

    // The disk dies; the old backup comes back while bob is away. The
    // store is behind what this machine signed and nobody can say where
    // the log is: the node goes on under a new key instead of re-signing
    // seq 4.
    std::fs::remove_dir_all(alice.dir.path()).unwrap();
    copy_dir(backup.path(), alice.dir.path());
    alice.restart().await;
    assert_eq!(alice.seq(alice.author()).await, 3, "the backup is old");
    alice.restart_wanted().await;
    let refused = alice.handle().call(ops::Post::note("too early")).await;
    assert!(refused.is_err(), "writes wait for the restart");
    alice.stop().await;
    alice.restart().await;
    let new = alice.log_key().await;
    assert_ne!(new, alice.author());
    let after = alice.post("after the restore").await;
    assert_eq!(
        (after.author, after.seq),
        (new, 3),
        "seq 1 is the handover, 2 the new key's encryption key"
    );
    assert_eq!(
        alice.seq(alice.author()).await,
        3,
        "nothing new under the old key"
    );

    // Bob comes back: he follows alice to the new key without a trust
    // decision, and alice gets back what the backup lacked. No fork.
    bob.restart().await;
    alice.dial(&bob).await;
    bob.wait_for_seq(new, 3).await;
    alice.wait_for_seq(alice.author(), 5).await;
    let person = bob
        .handle()
        .call(ops::Devices {
            of: Some(new.into()),
        })
        .await
        .unwrap();
    assert_eq!((person.root, person.identity), (alice.author(), new));
    let device = person.devices.iter().find(|d| d.key == new).unwrap();
    assert_eq!(device.took_over_from, Some(alice.author()));
    let feed = bob.feed(10).await;
    let seen = feed
        .iter()
        .find(|e| e.id == after.id)
        .expect("the new post");
    assert_eq!(seen.author_name.as_deref(), Some("Alice"));
    for node in [&alice, &bob] {
        let forks = node.handle().call(ops::Forks {}).await.unwrap();
        assert!(forks.is_empty(), "{}: {forks:?}", node.name);
    }
    // New posts reach bob live.
    let live = alice.post("live").await;
    bob.wait_for_seq(new, live.seq).await;
}

/// An in-memory core (no network), to write logs a running node imports.
fn offline_core(seed: u8) -> kith_node::Core {
    kith_node::Core::with_store(
        kith_node::Config::new(kith_node::DataDir::new("/nonexistent")),
        kith_protocol::Keypair::from_secret(&[seed; 32]),
        kith_node::store::Store::temporary().unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_node_drops_what_a_revoked_device_wrote_after_its_end() {
    // Alice's node saw only the laptop's first post when she revoked it;
    // bob had all three.
    let mut alice = offline_core(1);
    let mut laptop = offline_core(2);
    let a = alice.me();
    alice
        .run(ops::DeviceAdd {
            link: kith_protocol::DeviceLink::new(
                &a,
                &kith_protocol::Keypair::from_secret(&[2; 32]),
                "laptop",
            ),
        })
        .unwrap();
    for text in ["one", "two", "three"] {
        laptop.run(ops::Post::note(text)).unwrap();
    }
    let laptop_log = laptop.store().log(&laptop.me(), 1, 10).unwrap();
    let linked = alice.store().log(&a, 1, 10).unwrap();
    let bob = TestNode::start("bob", 3).await;
    bob.handle()
        .call(ops::TrustAdd {
            author: a.into(),
            petname: None,
        })
        .await
        .unwrap();
    for entries in [linked, laptop_log.clone()] {
        let report = bob
            .handle()
            .call(ops::ImportEntries { entries })
            .await
            .unwrap();
        assert!(report.rejected.is_empty(), "{report:?}");
    }
    bob.wait_for(
        "bob never showed the laptop's three posts",
        |h| async move {
            h.call(ops::Feed::default())
                .await
                .is_ok_and(|f| f.len() == 3)
        },
    )
    .await;
    alice.ingest(&laptop_log[..2]); // its encryption key and "one"
    alice
        .run(ops::DeviceRevoke {
            device: laptop.me().into(),
            keep: None,
        })
        .unwrap();
    let revocation = alice.store().log(&a, 2, 10).unwrap();
    bob.handle()
        .call(ops::ImportEntries {
            entries: revocation,
        })
        .await
        .unwrap();
    // The node drops entries 2 and 3 and rebuilds its views as a job.
    bob.wait_for(
        "bob still shows what the laptop wrote after its end",
        |h| async move {
            h.call(ops::Feed::default())
                .await
                .is_ok_and(|f| f.len() == 1 && f[0].text.as_deref() == Some("one"))
        },
    )
    .await;
    assert_eq!(bob.seq(laptop.me()).await, 2); // the key and "one"
}
