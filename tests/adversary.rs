//! Trust rules against a participant who signs valid entries chosen to
//! win, over real libp2p nodes: a removed member's counter-removal, a
//! thief who rotates and revokes before the owner's recovery, a two-hop
//! person linking a crowd of ground keys, a friend's certificate storm
//! while a member reads a large circle, and a circle page whose id reads
//! as a wiki record, a member whose modified client wraps a member's key
//! to a stranger, and a stolen device's circle change undone by a
//! revocation. A modified client is played by opening a stopped node's
//! store directly.

use std::time::{Duration, Instant};

use kith_node::ops;
use kith_protocol::{Keypair, PostKind};
use kith_testkit::{TestNode, connect, copy_dir};

use crate::circles::{circle_post, members, wait_reads};

async fn wait_heads(nodes: &[&TestNode]) {
    for m in nodes {
        let head = m.seq(m.author()).await;
        for n in nodes {
            n.wait_for_seq(m.author(), head).await;
        }
    }
}

/// Alice removes Mallory while Mallory is offline; Mallory, never told,
/// removes Alice. Healed, all three nodes show the same members — Bob
/// alone: both removals count, whatever entry ids the two drew. (On the
/// first revision the two never agreed: each believed her own removal won.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_removal_takes_its_author_out_and_every_node_agrees() {
    let mut alice = TestNode::start("alice", 81).await;
    let bob = TestNode::start("bob", 82).await;
    let mut mallory = TestNode::start("mallory", 83).await;
    let all = [&alice, &bob, &mallory];
    for a in all {
        for b in all {
            if a.author() != b.author() {
                a.trust(b).await;
            }
        }
    }
    connect(&alice, &bob).await;
    connect(&alice, &mallory).await;
    wait_heads(&[&alice, &bob, &mallory]).await;
    alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string(), mallory.author().to_string()],
        })
        .await
        .unwrap();
    wait_heads(&[&alice, &bob, &mallory]).await;
    mallory.stop().await;
    alice
        .handle()
        .call(ops::CircleRemove {
            circle: "team".into(),
            member: mallory.author().to_string(),
        })
        .await
        .unwrap();
    bob.wait_for_seq(alice.author(), alice.seq(alice.author()).await)
        .await;
    // Mallory, elsewhere and alone, removes Alice.
    alice.stop().await;
    mallory.restart_elsewhere().await;
    mallory
        .handle()
        .call(ops::CircleRemove {
            circle: "team".into(),
            member: alice.author().to_string(),
        })
        .await
        .unwrap();
    alice.restart().await;
    connect(&alice, &bob).await;
    connect(&mallory, &bob).await;
    connect(&alice, &mallory).await;
    wait_heads(&[&alice, &bob, &mallory]).await;
    let want = vec![bob.author()];
    for n in [&alice, &bob, &mallory] {
        let got = members(n).await;
        assert_eq!(got, want, "{} disagrees", n.name);
    }
}

/// Alice's identity device is stolen. The thief, first, rotates her
/// identity to a key of his and revokes her laptop from it; every friend
/// sees both. Alice recovers on a fresh install with two of her three
/// contacts, who saw the theft: the recovery holds, her laptop stays hers,
/// and a friend follows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thief_who_rotates_and_revokes_first_cannot_block_the_recovery() {
    let mut alice = TestNode::start("alice", 91).await;
    let laptop = TestNode::start("laptop", 92).await;
    let bob = TestNode::start("bob", 93).await;
    let carol = TestNode::start("carol", 94).await;
    let dave = TestNode::start("dave", 95).await;
    let a = alice.author();
    for other in [&bob, &carol, &dave] {
        connect(&alice, other).await;
    }
    alice.link_device(&laptop, "laptop").await;
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
    for other in [&bob, &carol, &dave] {
        other.wait_for_seq(a, head).await;
    }
    // The theft: a copy of Alice's device, run by the thief.
    alice.stop().await;
    let mut thief = TestNode::start("thief", 91).await;
    thief.stop().await;
    copy_dir(alice.dir.path(), thief.dir.path());
    thief.restart_elsewhere().await;
    for other in [&bob, &carol, &dave] {
        connect(&thief, other).await;
    }
    let rotated = thief
        .handle()
        .call(ops::IdentityRotate {})
        .await
        .unwrap()
        .identity;
    thief
        .handle()
        .call(ops::DeviceRevoke {
            device: laptop.author().into(),
            keep: None,
        })
        .await
        .unwrap();
    for c in [&bob, &carol, &dave] {
        c.wait_for("the theft never showed", |h| async move {
            h.call(ops::Devices { of: Some(a.into()) })
                .await
                .is_ok_and(|p| p.identity == rotated && p.devices.iter().any(|d| d.revoked))
        })
        .await;
    }
    thief.stop().await;

    // Alice, on a fresh install, asks; Bob and Carol approve.
    let fresh = TestNode::start("fresh", 99).await;
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
        let view = c
            .handle()
            .call(ops::RecoveryApprove {
                code: request.code.clone(),
                seen: None,
            })
            .await
            .unwrap();
        assert_eq!((view.old, view.new), (a, request.new));
        assert!(view.later.iter().any(|l| l.contains("rotated")));
    }
    connect(&bob, &dave).await;
    connect(&carol, &dave).await;
    let (new, laptop_key) = (request.new, laptop.author());
    dave.wait_for("dave never followed the recovery", |h| async move {
        h.call(ops::Devices { of: Some(a.into()) })
            .await
            .is_ok_and(|p| {
                p.identity == new
                    && p.conflict.is_none()
                    && p.devices.iter().any(|d| d.key == laptop_key && !d.revoked)
                    && p.devices.iter().all(|d| d.key != rotated)
            })
    })
    .await;
}

/// Keys whose ids sort first, as a grinder makes them.
fn ground_keys(n: usize) -> Vec<Keypair> {
    let mut out = Vec::new();
    let mut i = 0u64;
    while out.len() < n {
        i += 1;
        let mut seed = [0x5au8; 32];
        seed[..8].copy_from_slice(&i.to_le_bytes());
        let k = Keypair::from_secret(&seed);
        if k.author().as_bytes()[0] < 8 {
            out.push(k);
        }
    }
    out
}

/// Mallory, whom Bob trusts and Alice trusts through Bob (two hops),
/// links 2,000 keys ground to sort before most others'. Each person counts at
/// most 64 keys, and the frontier lists every person's first key before
/// anyone's second: with frontiers capped at 16 authors, Alice still
/// catches up Dave's posts from Bob.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crowd_of_ground_keys_neither_floods_the_replication_set_nor_starves_catch_up() {
    let small = |c: &mut kith_node::Config| {
        c.limits.max_frontier_authors = 16;
        c.hops = 2;
    };
    let mallory = TestNode::prepared(
        "mallory",
        101,
        |_| {},
        |core| {
            // A modified client: the stock one refuses a 65th key.
            let me = core.me();
            let links: Vec<kith_protocol::Body> = ground_keys(2_000)
                .iter()
                .map(|k| {
                    kith_protocol::Body::DeviceLink(kith_protocol::identity::DeviceLink::new(
                        &me, k, "",
                    ))
                })
                .collect();
            for chunk in links.chunks(200) {
                core.append(chunk).unwrap();
            }
        },
    )
    .await;
    let mut alice = TestNode::start_with("alice", 102, small).await;
    // Bob trusts Mallory and vouches for her publicly.
    let m = mallory.author();
    let bob = TestNode::prepared("bob", 103, small, |core| {
        core.run(ops::TrustAdd {
            author: m.into(),
            petname: None,
        })
        .unwrap();
        core.vouch(m, true).unwrap();
    })
    .await;
    let mut dave = TestNode::start("dave", 104).await;
    bob.trust(&dave).await;
    alice.trust(&bob).await;
    alice.trust(&dave).await;
    connect(&bob, &mallory).await;
    bob.wait_for_seq(mallory.author(), mallory.seq(mallory.author()).await)
        .await;
    // Alice follows Bob's vouch for Mallory: at most 64 of her keys.
    connect(&alice, &bob).await;
    alice
        .wait_for_seq(mallory.author(), mallory.seq(mallory.author()).await)
        .await;
    let person = alice
        .handle()
        .call(ops::Devices {
            of: Some(mallory.author().into()),
        })
        .await
        .unwrap();
    assert_eq!(
        person.devices.len(),
        kith_protocol::identity::MAX_KEYS_PER_PERSON
    );
    let status = alice.handle().call(ops::Status {}).await.unwrap();
    assert!(
        status.authors.len() <= 4 + kith_protocol::identity::MAX_KEYS_PER_PERSON,
        "{} authors replicated",
        status.authors.len()
    );
    // Dave posts while Alice is away; Bob has it; Dave leaves.
    alice.stop().await;
    connect(&bob, &dave).await;
    let post = dave.post("from dave, by way of bob").await;
    bob.wait_for_seq(dave.author(), post.seq).await;
    dave.stop().await;
    alice.restart().await;
    connect(&alice, &bob).await;
    alice.wait_for_seq(dave.author(), post.seq).await;
}

/// Carol, a friend of Bob's, names recovery contacts over and over (a
/// modified client could do it faster) while Bob, a member of a circle
/// with 600 posts, reads it. Bob's node keeps answering, keeps the circle
/// as it was, and takes every certificate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_storm_leaves_a_members_circle_alone() {
    let alice = TestNode::start("alice", 111).await;
    let bob = TestNode::start("bob", 112).await;
    let carol = TestNode::start("carol", 113).await;
    alice.trust(&bob).await;
    bob.trust(&alice).await;
    bob.trust(&carol).await;
    carol.trust(&bob).await;
    connect(&alice, &bob).await;
    connect(&bob, &carol).await;
    alice.wait_for_seq(bob.author(), 1).await;
    alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string()],
        })
        .await
        .unwrap();
    for i in 0..600 {
        alice
            .handle()
            .call(ops::Post {
                circle: Some("team".into()),
                text: format!("circle note {i}"),
                kind: PostKind::Note,
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
            })
            .await
            .unwrap();
    }
    bob.wait_for_seq(alice.author(), alice.seq(alice.author()).await)
        .await;
    let before = members(&bob).await;
    let storm = 150;
    let storming = {
        let h = carol.handle().clone();
        let bob_key = bob.author();
        tokio::spawn(async move {
            for _ in 0..storm {
                h.call(ops::RecoverySet {
                    threshold: 1,
                    contacts: vec![bob_key.into()],
                })
                .await
                .unwrap();
            }
        })
    };
    // Bob answers throughout (a generous bound: a liveness check, not a
    // speed target; BENCHMARKS.md has the figures).
    let mut slowest = Duration::ZERO;
    while !storming.is_finished() {
        let t = Instant::now();
        let feed = bob.feed(20).await;
        slowest = slowest.max(t.elapsed());
        assert!(feed.iter().any(|e| {
            e.text
                .as_deref()
                .is_some_and(|t| t.starts_with("circle note"))
        }));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    storming.await.unwrap();
    bob.wait_for_seq(carol.author(), carol.seq(carol.author()).await)
        .await;
    assert!(slowest < Duration::from_secs(5), "bob stalled {slowest:?}");
    assert_eq!(members(&bob).await, before);
}

/// A member writes a circle page under an id whose first byte is a wiki
/// record's sub-space (`m`): every member lists and shows it, and the
/// store thread survives (it once panicked on every node listing pages).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circle_page_under_a_crafted_id_lists_everywhere() {
    let alice = TestNode::start("alice", 121).await;
    let mut bob = TestNode::start("bob", 122).await;
    alice.trust(&bob).await;
    bob.trust(&alice).await;
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
    bob.wait_for_seq(alice.author(), alice.seq(alice.author()).await)
        .await;
    // Bob's modified client picks the page id.
    bob.stop().await;
    {
        let mut core = kith_node::Core::open(bob.config().clone(), bob.keypair.clone()).unwrap();
        let circle = core.circle_named("team").unwrap();
        // A circle's page is named by the circle and the id written:
        // grind the written id until that name starts with the byte.
        let written = (0u32..)
            .map(|n| {
                let mut id = [0u8; 16];
                id[..4].copy_from_slice(&n.to_le_bytes());
                kith_protocol::PageId(id)
            })
            .find(|w| kith_protocol::circle::circle_page(&circle, w).0[0] == 0x6d)
            .unwrap();
        core.wiki_new_with_id(
            written,
            "Crafted",
            "Under an id chosen to collide.\n",
            Some(circle),
        )
        .unwrap();
        core.close().unwrap();
    }
    bob.restart().await;
    connect(&alice, &bob).await;
    alice
        .wait_for_seq(bob.author(), bob.seq(bob.author()).await)
        .await;
    for n in [&alice, &bob] {
        n.wait_for(
            &format!("{} never listed the page", n.name),
            |h| async move {
                h.call(ops::WikiList { archived: false })
                    .await
                    .is_ok_and(|pages| pages.iter().any(|p| p.title == "Crafted"))
            },
        )
        .await;
        let shown = n
            .handle()
            .call(ops::WikiShow {
                page: "Crafted".into(),
            })
            .await
            .unwrap();
        assert_eq!(shown.body, "Under an id chosen to collide.\n");
        assert_eq!(shown.id.0[0], 0x6d);
        // The store thread is alive: another write goes through.
        n.post("still answering").await;
    }
}

async fn circle(node: &TestNode) -> kith_node::model::CircleView {
    node.handle()
        .call(ops::CircleShow {
            circle: "team".into(),
        })
        .await
        .unwrap()
}

/// Carol's modified client writes a Rekey that lists Bob's device but
/// seals Bob's wrap to a stranger's key. Bob's node says so, and Bob still
/// writes: his next post starts an epoch of his own, wrapped to everyone,
/// which Alice and Carol read. All three agree on the members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_whose_wrap_was_left_out_is_warned_and_still_writes() {
    let alice = TestNode::start("alice", 131).await;
    let bob = TestNode::start("bob", 132).await;
    let mut carol = TestNode::start("carol", 133).await;
    let all = [&alice, &bob, &carol];
    for a in all {
        for b in all {
            if a.author() != b.author() {
                a.trust(b).await;
            }
        }
    }
    connect(&alice, &bob).await;
    connect(&alice, &carol).await;
    wait_heads(&all).await;
    alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string(), carol.author().to_string()],
        })
        .await
        .unwrap();
    wait_heads(&all).await;
    carol.stop().await;
    {
        let stranger =
            kith_protocol::circle::DeviceSecret::of(&Keypair::from_secret(&[0x99; 32])).public();
        let mut core =
            kith_node::Core::open(carol.config().clone(), carol.keypair.clone()).unwrap();
        core.rekey_with_a_wrong_wrap("team", bob.author(), stranger)
            .unwrap();
        core.close().unwrap();
    }
    carol.restart().await;
    connect(&alice, &carol).await;
    connect(&bob, &carol).await;
    wait_heads(&[&alice, &bob, &carol]).await;
    let seen = circle(&bob).await;
    assert!(
        seen.warnings
            .iter()
            .any(|w| w.contains("lists this device but gives it no key")),
        "{seen:?}"
    );
    assert!(seen.member && seen.needs_new_epoch, "{seen:?}");
    circle_post(&bob, "bob writes anyway").await;
    wait_reads(&alice, "bob writes anyway").await;
    wait_reads(&carol, "bob writes anyway").await;
    let want = members(&alice).await;
    assert_eq!(want.len(), 3);
    for n in [&bob, &carol] {
        assert_eq!(members(n).await, want, "{} disagrees", n.name);
    }
}

/// A thief with Alice's phone, a linked device, removes Bob from her
/// circle; every node sees Bob go. Alice revokes the phone keeping only
/// what it wrote before the theft: the removal stops counting on every
/// node, and Bob is a member again and reads what Alice writes next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stolen_devices_circle_change_stops_counting_when_the_device_is_revoked_before_it() {
    let alice = TestNode::start("alice", 141).await;
    let phone = TestNode::start("phone", 142).await;
    let bob = TestNode::start("bob", 143).await;
    let a = alice.author();
    alice.trust(&bob).await;
    bob.trust(&alice).await;
    connect(&alice, &bob).await;
    alice.link_device(&phone, "phone").await;
    phone.trust(&bob).await;
    connect(&phone, &alice).await;
    connect(&phone, &bob).await;
    // Everyone has every log, the phone's encryption key included.
    wait_heads(&[&alice, &bob]).await;
    for n in [&alice, &bob] {
        n.wait_for_seq(phone.author(), phone.seq(phone.author()).await)
            .await;
    }
    phone.wait_for_seq(a, alice.seq(a).await).await;
    phone
        .wait_for_seq(bob.author(), bob.seq(bob.author()).await)
        .await;
    alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string()],
        })
        .await
        .unwrap();
    phone.wait_for_seq(a, alice.seq(a).await).await;
    let both = {
        let mut m = vec![a, bob.author()];
        m.sort();
        m
    };
    assert_eq!(members(&phone).await, both);
    let before_theft = phone.seq(phone.author()).await;
    // The theft: the phone removes Bob.
    phone
        .handle()
        .call(ops::CircleRemove {
            circle: "team".into(),
            member: bob.author().to_string(),
        })
        .await
        .unwrap();
    let stolen = phone.seq(phone.author()).await;
    for n in [&alice, &bob] {
        n.wait_for_seq(phone.author(), stolen).await;
        assert_eq!(members(n).await, vec![a], "{}", n.name);
    }
    alice
        .handle()
        .call(ops::DeviceRevoke {
            device: phone.author().into(),
            keep: Some(before_theft),
        })
        .await
        .unwrap();
    bob.wait_for_seq(a, alice.seq(a).await).await;
    for n in [&alice, &bob] {
        assert_eq!(members(n).await, both, "{}", n.name);
    }
    circle_post(&alice, "after the theft").await;
    wait_reads(&bob, "after the theft").await;
}
