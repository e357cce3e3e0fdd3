//! Scenario tests and a seeded network simulation of the sync machine.

use std::collections::{BTreeMap, BTreeSet};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::*;
use crate::entry::{ChainStep, Draft, check_chain};
use crate::keys::Keypair;
use crate::{Body, Post, PostKind};

const NOW: u64 = 1_700_000_000_000;

/// An in-memory set of logs with the same validation rules as the store.
#[derive(Default, Clone)]
struct MemLogs {
    scope: BTreeSet<AuthorId>,
    logs: BTreeMap<AuthorId, Vec<Entry>>,
}

impl MemLogs {
    fn append(&mut self, keypair: &Keypair, text: &str) -> Entry {
        let log = self.logs.entry(keypair.author()).or_default();
        let body = Body::Post(Post {
            kind: PostKind::Note,
            text: text.into(),
            reply_to: None,
            tags: vec![],
            files: Vec::new(),
            mentions: Vec::new(),
        });
        let entry = Entry::sign(
            keypair,
            Draft {
                seq: log.len() as u64 + 1,
                prev: log.last().map(Entry::id),
                timestamp_ms: NOW,
                body: body.encode(),
            },
        );
        log.push(entry.clone());
        entry
    }

    /// Ok(true) appended, Ok(false) duplicate, Err(gap head) when ahead.
    fn ingest(&mut self, entry: &Entry) -> Result<bool, String> {
        if !self.replicates(&entry.author()) {
            return Err("not replicated".into());
        }
        entry
            .verify(&Limits::default(), NOW)
            .map_err(|e| e.to_string())?;
        let head = self.head(&entry.author());
        let log = self.logs.entry(entry.author()).or_default();
        let existing = log.get(entry.seq() as usize - 1);
        match check_chain(head, existing, entry) {
            Ok(ChainStep::Append) => {
                log.push(entry.clone());
                Ok(true)
            }
            Ok(ChainStep::Duplicate) => Ok(false),
            Err(e) => Err(e.to_string()),
        }
    }
}

impl Logs for MemLogs {
    fn replicates(&self, author: &AuthorId) -> bool {
        self.scope.contains(author)
    }

    fn frontier(&self) -> Vec<FrontierItem> {
        self.scope
            .iter()
            .map(|a| FrontierItem {
                author: *a,
                head: self.head(a),
            })
            .collect()
    }

    fn head(&self, author: &AuthorId) -> Option<Head> {
        self.logs.get(author)?.last().map(|e| Head {
            seq: e.seq(),
            id: e.id(),
        })
    }

    fn id_at(&self, author: &AuthorId, seq: u64) -> Option<EntryId> {
        self.logs
            .get(author)?
            .get(seq.checked_sub(1)? as usize)
            .map(Entry::id)
    }

    fn entries_with_changes(&self, _hashes: &[[u8; 32]], _max_bytes: usize) -> Vec<Entry> {
        Vec::new()
    }

    fn handovers(&self, from: &AuthorId) -> Vec<Entry> {
        self.logs
            .values()
            .filter_map(|log| log.first())
            .filter(|e| {
                matches!(
                    e.body().and_then(|b| Body::decode(b).ok()),
                    Some(Body::Succession(s)) if s.from == *from
                )
            })
            .cloned()
            .collect()
    }

    fn entries_after(&self, author: &AuthorId, after_seq: u64, max_bytes: usize) -> Vec<Entry> {
        let Some(log) = self.logs.get(author) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in log.iter().skip(after_seq as usize) {
            if !out.is_empty() && bytes + e.encoded_len() > max_bytes {
                break;
            }
            bytes += e.encoded_len();
            out.push(e.clone());
        }
        out
    }
}

fn keypair(i: usize) -> Keypair {
    Keypair::from_secret(&[i as u8 + 1; 32])
}

/// Runs every output to completion between two directly wired peers.
fn settle(
    a: &mut (Replicator<u8>, MemLogs),
    b: &mut (Replicator<u8>, MemLogs),
    first: Vec<Output<u8>>,
    from: u8,
) {
    // (recipient-side id, output)
    let mut queue: Vec<(u8, Output<u8>)> = first.into_iter().map(|o| (from, o)).collect();
    while let Some((origin, output)) = queue.pop() {
        let (me, other) = if origin == 0 {
            (&mut *a, &mut *b)
        } else {
            (&mut *b, &mut *a)
        };
        match output {
            Output::Send {
                peer: _,
                token,
                request,
            } => {
                let (response, more) = other.0.handle_request(origin, request, &other.1);
                queue.extend(more.into_iter().map(|o| (1 - origin, o)));
                let more = me.0.handle_response(1 - origin, token, response, &me.1);
                queue.extend(more.into_iter().map(|o| (origin, o)));
            }
            Output::Ingest {
                peer,
                author,
                entries,
            } => {
                let mut ok = true;
                for e in &entries {
                    if me.1.ingest(e).is_err() {
                        ok = false;
                        break;
                    }
                }
                let more = me.0.ingested(&peer, author, ok, &me.1);
                queue.extend(more.into_iter().map(|o| (origin, o)));
            }
            Output::IngestChanges { .. } => unreachable!("no wiki changes here"),
            // As the node does: a handover from a replicated key, at seq 1
            // with a valid consent, brings its new key into the scope.
            Output::Offered { peer, entries } => {
                for e in &entries {
                    let Some(Body::Succession(s)) = e.body().and_then(|b| Body::decode(b).ok())
                    else {
                        continue;
                    };
                    if e.seq() == 1 && s.consented(&e.author()) && me.1.replicates(&s.from) {
                        me.1.scope.insert(e.author());
                        me.1.ingest(e).unwrap();
                    }
                }
                let more = me.0.resync(peer, &me.1);
                queue.extend(more.into_iter().map(|o| (origin, o)));
            }
        }
    }
}

fn node(scope: &[AuthorId]) -> (Replicator<u8>, MemLogs) {
    let logs = MemLogs {
        scope: scope.iter().copied().collect(),
        ..Default::default()
    };
    (Replicator::new(Limits::default()), logs)
}

#[test]
fn frontier_exchange_then_batched_fetch_until_level() {
    let alice = keypair(0);
    let scope = [alice.author(), keypair(1).author()];
    let mut a = node(&scope);
    let mut b = node(&scope);
    for i in 0..500 {
        a.1.append(&alice, &format!("post {i} {}", "x".repeat(100)));
    }
    // Small batches force several rounds.
    b.0 = Replicator::new(Limits {
        max_batch_bytes: 4096,
        ..Limits::default()
    });
    a.0.connected(1, &a.1);
    let first = b.0.connected(0, &b.1);
    assert!(matches!(
        first[0],
        Output::Send {
            request: Request::Frontier(_),
            ..
        }
    ));
    settle(&mut a, &mut b, first, 1);
    assert_eq!(b.1.logs[&alice.author()].len(), 500);
    assert!(!b.0.is_syncing());
    assert_eq!(b.0.best_seen(&alice.author()), Some(500));
}

#[test]
fn a_handover_is_offered_to_a_peer_that_replicates_the_old_key_and_its_log_follows() {
    let (old, new, carol) = (keypair(0), keypair(5), keypair(2));
    let mut a = node(&[old.author(), new.author()]);
    let mut b = node(&[old.author()]);
    a.1.append(&old, "before");
    let handover = Entry::sign(
        &new,
        Draft {
            seq: 1,
            prev: None,
            timestamp_ms: NOW,
            body: Body::Succession(crate::identity::Succession::new(
                &old,
                &new.author(),
                true,
                1,
            ))
            .encode(),
        },
    );
    a.1.logs.insert(new.author(), vec![handover.clone()]);
    a.1.append(&new, "after");
    // A handover from a key b does not replicate is not offered to it.
    let forged = Entry::sign(
        &keypair(6),
        Draft {
            seq: 1,
            prev: None,
            timestamp_ms: NOW,
            body: Body::Succession(crate::identity::Succession::new(
                &carol,
                &keypair(6).author(),
                true,
                0,
            ))
            .encode(),
        },
    );
    a.1.logs.insert(keypair(6).author(), vec![forged]);
    a.1.scope.insert(keypair(6).author());
    a.0.connected(1, &a.1);
    let first = b.0.connected(0, &b.1);
    settle(&mut a, &mut b, first, 1);
    assert_eq!(b.1.logs[&old.author()].len(), 1);
    assert_eq!(
        b.1.logs[&new.author()].len(),
        2,
        "the new key's log followed"
    );
    assert!(!b.1.logs.contains_key(&keypair(6).author()));
    // Once b lists the new key, nothing more is offered.
    let (_, outputs) =
        a.0.handle_request(1, Request::Frontier(b.1.frontier()), &a.1);
    assert!(
        !outputs.iter().any(|o| matches!(
            o,
            Output::Send {
                request: Request::Offer { .. },
                ..
            }
        )),
        "{outputs:?}"
    );
}

#[test]
fn a_periodic_resync_sends_only_the_heads_that_changed_and_sometimes_all() {
    let (alice, carol) = (keypair(0), keypair(2));
    let scope = [alice.author(), keypair(1).author(), carol.author()];
    let mut a = node(&scope);
    let mut b = node(&scope);
    a.1.append(&alice, "one");
    a.1.append(&carol, "carol's");
    a.0.connected(1, &a.1);
    let first = b.0.connected(0, &b.1);
    settle(&mut a, &mut b, first, 1);
    let frontier = |outputs: &[Output<u8>]| -> Vec<AuthorId> {
        outputs
            .iter()
            .filter_map(|o| match o {
                Output::Send {
                    request: Request::Frontier(items),
                    ..
                } => Some(items.iter().map(|i| i.author).collect::<Vec<_>>()),
                _ => None,
            })
            .flatten()
            .collect()
    };
    // Nothing changed since the connection's full frontier: nothing sent.
    let a_connected = a.0.connected(1, &a.1);
    assert_eq!(
        frontier(&a_connected).len(),
        3,
        "a full frontier on connecting"
    );
    assert!(a.0.resync(1, &a.1).is_empty());
    // One author advanced: only that head goes.
    a.1.append(&alice, "two");
    let out = a.0.resync(1, &a.1);
    assert_eq!(frontier(&out), vec![alice.author()]);
    settle(&mut a, &mut b, out, 0);
    assert_eq!(b.1.logs[&alice.author()].len(), 2, "and b fetches it");
    // Every FULL_FRONTIER_EVERY-th resync sends everything again.
    let mut full = 0;
    for _ in 0..FULL_FRONTIER_EVERY {
        if frontier(&a.0.resync(1, &a.1)).len() == 3 {
            full += 1;
        }
    }
    assert_eq!(full, 1);
    // After a failed request, the next resync is whole.
    a.0.request_failed(&1, 999, &a.1);
    assert_eq!(frontier(&a.0.resync(1, &a.1)).len(), 3);
}

#[test]
fn authors_outside_the_scope_are_neither_served_nor_fetched() {
    let alice = keypair(0);
    let carol = keypair(2);
    let mut a = node(&[alice.author(), carol.author()]);
    let mut b = node(&[alice.author()]);
    a.1.append(&carol, "carol's");
    a.1.append(&alice, "alice's");
    a.0.connected(1, &a.1);
    let first = b.0.connected(0, &b.1);
    settle(&mut a, &mut b, first, 1);
    assert!(!b.1.logs.contains_key(&carol.author()));
    // A direct fetch of an author the responder does not replicate is empty.
    let (resp, _) = b.0.handle_request(
        0,
        Request::Fetch {
            author: carol.author(),
            after_seq: 0,
            max_bytes: 1 << 20,
        },
        &b.1,
    );
    assert_eq!(
        resp,
        Response::Entries {
            author: carol.author(),
            entries: vec![]
        }
    );
}

#[test]
fn a_gap_from_gossip_triggers_a_backfill() {
    let alice = keypair(0);
    let scope = [alice.author()];
    let mut a = node(&scope);
    let mut b = node(&scope);
    let mut last = None;
    for i in 0..5 {
        last = Some(a.1.append(&alice, &format!("{i}")));
    }
    let last = last.unwrap();
    a.0.connected(1, &a.1);
    b.0.connected(0, &b.1); // frontier request "lost"
    assert!(b.1.ingest(&last).is_err(), "ahead of the log");
    let outputs = b.0.gap(
        0,
        alice.author(),
        Head {
            seq: 5,
            id: last.id(),
        },
        &b.1,
    );
    assert!(matches!(
        outputs[..],
        [Output::Send {
            request: Request::Fetch { after_seq: 0, .. },
            ..
        }]
    ));
    settle(&mut a, &mut b, outputs, 1);
    assert_eq!(b.1.logs[&alice.author()].len(), 5);
}

#[test]
fn invalid_entries_stop_the_fetch_loop() {
    let alice = keypair(0);
    let scope = [alice.author()];
    let mut b = node(&scope);
    b.0.connected(0, &b.1);
    let entry = MemLogs::default().append(&alice, "x");
    // The peer claims a head and answers with an entry whose body was swapped.
    let head = Head {
        seq: 1,
        id: entry.id(),
    };
    let outputs = b.0.gap(0, alice.author(), head, &b.1);
    let Output::Send { token, .. } = outputs[0] else {
        panic!()
    };
    let forged = Entry::from_parts(
        entry.header_bytes().to_vec(),
        *entry.signature(),
        Some(b"evil".to_vec()),
        &Limits::default(),
    )
    .unwrap();
    let outputs = b.0.handle_response(
        0,
        token,
        Response::Entries {
            author: alice.author(),
            entries: forged.encode(),
        },
        &b.1,
    );
    let Output::Ingest { entries, .. } = &outputs[0] else {
        panic!()
    };
    assert!(b.1.ingest(&entries[0]).is_err());
    let outputs = b.0.ingested(&0, alice.author(), false, &b.1);
    assert!(outputs.is_empty(), "must not ask the same peer again");
    assert!(!b.0.is_syncing());
}

#[test]
fn unsolicited_responses_are_ignored() {
    let alice = keypair(0);
    let mut b = node(&[alice.author()]);
    b.0.connected(0, &b.1);
    let entry = MemLogs::default().append(&alice, "x");
    let outputs = b.0.handle_response(
        0,
        999,
        Response::Entries {
            author: alice.author(),
            entries: entry.encode(),
        },
        &b.1,
    );
    assert!(outputs.is_empty());
}

#[test]
fn a_differing_entry_at_a_known_seq_is_fetched_as_fork_evidence() {
    let alice = keypair(0);
    let mut b = node(&[alice.author()]);
    let mine = b.1.append(&alice, "one");
    let other = MemLogs::default().append(&alice, "two");
    assert_ne!(mine.id(), other.id());
    b.0.connected(0, &b.1);
    let (_, outputs) = b.0.handle_request(
        0,
        Request::Frontier(vec![FrontierItem {
            author: alice.author(),
            head: Some(Head {
                seq: 1,
                id: other.id(),
            }),
        }]),
        &b.1,
    );
    assert!(matches!(
        outputs[..],
        [Output::Send {
            request: Request::Fetch { after_seq: 0, .. },
            ..
        }]
    ));
}

#[test]
fn sync_messages_round_trip_and_reject_trailing_bytes() {
    let req = Request::Fetch {
        author: keypair(0).author(),
        after_seq: 7,
        max_bytes: 1024,
    };
    let mut bytes = encode(&req);
    assert_eq!(decode::<Request>(&bytes).unwrap(), req);
    bytes.push(0);
    assert!(decode::<Request>(&bytes).is_err());
}

// ----- simulation -------------------------------------------------------------

#[derive(Clone)]
enum Msg {
    Request { token: u64, request: Request },
    Response { token: u64, response: Response },
    Gossip(Entry),
}

struct SimPeer {
    keypair: Keypair,
    machine: Replicator<usize>,
    logs: MemLogs,
}

struct Sim {
    rng: StdRng,
    peers: Vec<SimPeer>,
    links: BTreeSet<(usize, usize)>,
    /// (from, to, message), delivered in random order.
    queue: Vec<(usize, usize, Msg)>,
}

impl Sim {
    fn new(seed: u64, n: usize) -> Sim {
        let keys: Vec<Keypair> = (0..n).map(keypair).collect();
        let scope: BTreeSet<AuthorId> = keys.iter().map(Keypair::author).collect();
        let peers = keys
            .into_iter()
            .map(|keypair| SimPeer {
                keypair,
                machine: Replicator::new(Limits {
                    max_batch_bytes: 2048,
                    ..Limits::default()
                }),
                logs: MemLogs {
                    scope: scope.clone(),
                    logs: BTreeMap::new(),
                },
            })
            .collect();
        Sim {
            rng: StdRng::seed_from_u64(seed),
            peers,
            links: BTreeSet::new(),
            queue: Vec::new(),
        }
    }

    fn link(a: usize, b: usize) -> (usize, usize) {
        (a.min(b), a.max(b))
    }

    fn up(&self, a: usize, b: usize) -> bool {
        self.links.contains(&Sim::link(a, b))
    }

    fn neighbours(&self, a: usize) -> Vec<usize> {
        (0..self.peers.len())
            .filter(|&b| b != a && self.up(a, b))
            .collect()
    }

    fn run_outputs(&mut self, at: usize, outputs: Vec<Output<usize>>) {
        let mut work = outputs;
        while let Some(output) = work.pop() {
            match output {
                Output::Send {
                    peer,
                    token,
                    request,
                } => {
                    if self.up(at, peer) {
                        self.queue.push((at, peer, Msg::Request { token, request }));
                    } else {
                        let p = &mut self.peers[at];
                        work.extend(p.machine.request_failed(&peer, token, &p.logs));
                    }
                }
                Output::Ingest {
                    peer,
                    author,
                    entries,
                } => {
                    let mut ok = true;
                    let mut fresh = Vec::new();
                    for e in &entries {
                        match self.peers[at].logs.ingest(e) {
                            Ok(true) => fresh.push(e.clone()),
                            Ok(false) => {}
                            Err(_) => {
                                ok = false;
                                break;
                            }
                        }
                    }
                    let p = &mut self.peers[at];
                    work.extend(p.machine.ingested(&peer, author, ok, &p.logs));
                    // As the node does: entries pulled by sync are not
                    // gossiped; the new head is announced to the neighbours.
                    if !fresh.is_empty() {
                        for to in self.neighbours(at) {
                            let p = &mut self.peers[at];
                            work.extend(p.machine.announce(to, &[author], &p.logs));
                        }
                    }
                }
                Output::IngestChanges { .. } => unreachable!("no wiki changes here"),
                Output::Offered { .. } => unreachable!("no handovers here"),
            }
        }
    }

    fn gossip(&mut self, from: usize, entry: Entry) {
        for to in self.neighbours(from) {
            self.queue.push((from, to, Msg::Gossip(entry.clone())));
        }
    }

    fn connect(&mut self, a: usize, b: usize) {
        if a == b || !self.links.insert(Sim::link(a, b)) {
            return;
        }
        for (x, y) in [(a, b), (b, a)] {
            let p = &mut self.peers[x];
            let out = p.machine.connected(y, &p.logs);
            self.run_outputs(x, out);
        }
    }

    fn disconnect(&mut self, a: usize, b: usize) {
        if !self.links.remove(&Sim::link(a, b)) {
            return;
        }
        // Messages in flight on the link are lost.
        self.queue
            .retain(|(f, t, _)| Sim::link(*f, *t) != Sim::link(a, b));
        for (x, y) in [(a, b), (b, a)] {
            let p = &mut self.peers[x];
            let out = p.machine.disconnected(&y, &p.logs);
            self.run_outputs(x, out);
        }
    }

    fn restart(&mut self, a: usize) {
        for b in self.neighbours(a) {
            self.disconnect(a, b);
        }
        self.peers[a].machine = Replicator::new(Limits {
            max_batch_bytes: 2048,
            ..Limits::default()
        });
    }

    fn post(&mut self, a: usize) {
        let n = self.rng.random_range(1..4);
        for _ in 0..n {
            let text = format!("p{}", self.rng.random::<u32>());
            let p = &mut self.peers[a];
            let kp = p.keypair.clone();
            let entry = p.logs.append(&kp, &text);
            self.gossip(a, entry);
        }
    }

    fn deliver_one(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let i = self.rng.random_range(0..self.queue.len());
        let (from, to, msg) = self.queue.swap_remove(i);
        // Occasionally the network duplicates a message.
        if self.rng.random_ratio(1, 20) {
            self.queue.push((from, to, msg.clone()));
        }
        match msg {
            Msg::Request { token, request } => {
                let p = &mut self.peers[to];
                let (response, out) = p.machine.handle_request(from, request, &p.logs);
                self.run_outputs(to, out);
                if self.up(from, to) {
                    self.queue
                        .push((to, from, Msg::Response { token, response }));
                }
            }
            Msg::Response { token, response } => {
                let p = &mut self.peers[to];
                let out = p.machine.handle_response(from, token, response, &p.logs);
                self.run_outputs(to, out);
            }
            Msg::Gossip(entry) => match self.peers[to].logs.ingest(&entry) {
                Ok(true) => self.gossip(to, entry),
                Ok(false) => {}
                Err(_) => {
                    let head = Head {
                        seq: entry.seq(),
                        id: entry.id(),
                    };
                    let p = &mut self.peers[to];
                    let out = p.machine.gap(from, entry.author(), head, &p.logs);
                    self.run_outputs(to, out);
                }
            },
        }
    }

    fn run(&mut self, steps: usize) {
        let n = self.peers.len();
        for _ in 0..steps {
            match self.rng.random_range(0..100) {
                0..=9 => {
                    let a = self.rng.random_range(0..n);
                    self.post(a);
                }
                10..=14 => {
                    let (a, b) = (self.rng.random_range(0..n), self.rng.random_range(0..n));
                    self.connect(a, b);
                }
                15..=18 => {
                    let links: Vec<_> = self.links.iter().copied().collect();
                    if let Some(&(a, b)) = links.choose(&mut self.rng) {
                        self.disconnect(a, b);
                    }
                }
                19 => {
                    let a = self.rng.random_range(0..n);
                    self.restart(a);
                }
                _ => self.deliver_one(),
            }
        }
        // Heal: a connected graph (a line through every peer), then quiesce.
        for a in 1..n {
            self.connect(a - 1, a);
        }
        let mut budget = 1_000_000;
        while !self.queue.is_empty() && budget > 0 {
            self.deliver_one();
            budget -= 1;
        }
        assert!(self.queue.is_empty(), "did not quiesce");
    }
}

#[test]
fn simulated_networks_converge_under_partitions_reordering_duplication_and_restarts() {
    // KITH_SIM_SEED=n replays one seed; KITH_SIM_SEEDS=n runs seeds 0..n.
    let seeds: Vec<u64> = match (
        std::env::var("KITH_SIM_SEED"),
        std::env::var("KITH_SIM_SEEDS"),
    ) {
        (Ok(s), _) => vec![s.parse().unwrap()],
        (_, Ok(n)) => (0..n.parse().unwrap()).collect(),
        _ => (0..60).collect(),
    };
    for seed in seeds {
        let n = 5 + (seed as usize % 3);
        let mut sim = Sim::new(seed, n);
        sim.run(1_500);
        let reference = &sim.peers[0].logs.logs;
        let total: usize = reference.values().map(Vec::len).sum();
        assert!(total > 0, "seed {seed}: nothing was posted");
        for (i, p) in sim.peers.iter().enumerate() {
            if p.logs.logs != *reference {
                for (j, q) in sim.peers.iter().enumerate() {
                    let heads: Vec<_> = q
                        .logs
                        .logs
                        .iter()
                        .map(|(a, l)| (a.short(), l.len()))
                        .collect();
                    eprintln!(
                        "peer {j}: {heads:?} syncing={} links={:?}",
                        q.machine.is_syncing(),
                        sim.neighbours(j)
                    );
                    for (peer, st) in &q.machine.peers {
                        let h: Vec<_> = st.heads.iter().map(|(a, h)| (a.short(), h.seq)).collect();
                        eprintln!("   knows peer {peer}: fetches={} {h:?}", st.fetches);
                    }
                    eprintln!(
                        "   fetching={:?} ingesting={:?}",
                        q.machine
                            .fetching
                            .keys()
                            .map(|a| a.short())
                            .collect::<Vec<_>>(),
                        q.machine.ingesting.len()
                    );
                }
            }
            assert!(
                p.logs.logs == *reference,
                "seed {seed}: peer {i} differs from peer 0"
            );
            assert!(
                !p.machine.is_syncing(),
                "seed {seed}: peer {i} still syncing"
            );
        }
        // Every log is a valid chain of its author.
        for log in reference.values() {
            for (i, e) in log.iter().enumerate() {
                assert_eq!(e.seq(), i as u64 + 1);
                assert_eq!(e.header().prev, i.checked_sub(1).map(|j| log[j].id()));
            }
        }
    }
}

#[test]
fn sync_messages_must_be_canonically_encoded() {
    let request = Request::Fetch {
        author: Keypair::from_secret(&[1; 32]).author(),
        after_seq: 5,
        max_bytes: 1000,
    };
    let bytes = encode(&request);
    assert_eq!(decode::<Request>(&bytes).unwrap(), request);
    // after_seq 5 as `85 00`.
    let mut overlong = bytes.clone();
    let at = 1 + 32;
    assert_eq!(overlong[at], 5);
    overlong.splice(at..at + 1, [0x85, 0x00]);
    assert!(
        decode::<Request>(&overlong)
            .unwrap_err()
            .contains("not canonically encoded")
    );
}
