//! A seeded, discrete-event simulation of Kith's replication toward
//! internet scale (issue 16; figures in docs/BENCHMARKS.md):
//!
//! ```sh
//! cargo run --release -p kith-protocol --example scale_sim -- 1000 1
//! cargo run --release -p kith-protocol --example scale_sim -- 10000 2
//! ```
//! (arguments: nodes, hops; optional third: posts, default 200; fourth:
//! seed.)
//!
//! - **Trust graph**: Watts–Strogatz small world, each person trusting 50
//!   others (ring lattice, 25 each side, rewired with probability 0.1),
//!   trust mutual. A node replicates itself and whom it trusts (hops 1),
//!   and whom they trust (hops 2); it connects to the people it trusts.
//! - **Churn**: 10 % of the nodes are offline, drawn at random.
//! - **Live path**, as the node does it (PROTOCOL.md §8.1): one gossipsub
//!   topic; each node keeps a mesh of 6 of its connected peers (made
//!   symmetric, as GRAFT is); an author sends its own entry to every
//!   connected peer (flood publishing, gossipsub's default), and an
//!   accepted entry is pushed on to the mesh,
//!   an entry of an author the node does not replicate is ignored and not
//!   forwarded; every 700 ms heartbeat a node sends IHAVE with the ids it
//!   saw in the last 3 heartbeats to 6 other peers, which ask (IWANT) for
//!   the ids they never saw — whatever the author, as gossipsub does.
//!   Links take 20–100 ms.
//! - **Catch-up after rejoining**: some offline nodes come back; each runs
//!   the real sans-IO [`Replicator`] against its online peers (frontier
//!   exchange, fetches), with signed entries and the same link delays.
//! - **Control traffic**: IHAVE/IWANT per node and minute from the run,
//!   and the periodic frontier exchange (every 60 s with each connected
//!   peer, both ways) from the encoded size of a real frontier: whole, and
//!   as the node sends it — the heads that advanced (at the simulated
//!   posting rate) plus a whole frontier every 10th time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, HashSet};

use kith_protocol::sync::{self, FrontierItem, Logs, Output, Replicator, Request, Response};
use kith_protocol::{AuthorId, Body, Draft, Entry, EntryId, Head, Keypair, Limits, Post, PostKind};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};

const TRUSTED: usize = 50;
const REWIRE: f64 = 0.1;
const CHURN: f64 = 0.10;
const MESH: usize = 6;
const LAZY: usize = 6;
const HEARTBEAT_MS: u64 = 700;
const GOSSIP_WINDOWS: u64 = 3;
const POST_EVERY_MS: u64 = 100;
const REJOINS: usize = 10;

fn small_world(n: usize, rng: &mut StdRng) -> Vec<Vec<u32>> {
    let mut adj: Vec<HashSet<u32>> = vec![HashSet::new(); n];
    for i in 0..n {
        for j in 1..=TRUSTED / 2 {
            let mut t = (i + j) % n;
            if rng.random_bool(REWIRE) {
                loop {
                    let c = rng.random_range(0..n);
                    if c != i && !adj[i].contains(&(c as u32)) {
                        t = c;
                        break;
                    }
                }
            }
            if t != i {
                adj[i].insert(t as u32);
                adj[t].insert(i as u32);
            }
        }
    }
    adj.into_iter()
        .map(|s| {
            let mut v: Vec<u32> = s.into_iter().collect();
            v.sort_unstable();
            v
        })
        .collect()
}

/// Who replicates whom: itself, its trusted, and (hops 2) theirs. The
/// relation is symmetric, so it is also who wants an author's entries.
fn scopes(adj: &[Vec<u32>], hops: u8) -> Vec<Vec<u32>> {
    (0..adj.len())
        .map(|i| {
            let mut s: Vec<u32> = adj[i].clone();
            s.push(i as u32);
            if hops >= 2 {
                for &j in &adj[i] {
                    s.extend_from_slice(&adj[j as usize]);
                }
            }
            s.sort_unstable();
            s.dedup();
            s
        })
        .collect()
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    /// A message carrying post `post` from `from` to `to`.
    Deliver {
        to: u32,
        from: u32,
        post: u32,
    },
    /// An IHAVE for `post` from `from` to `to`.
    Have {
        to: u32,
        from: u32,
        post: u32,
    },
    Heartbeat {
        node: u32,
    },
}

struct Gossip {
    online: Vec<bool>,
    mesh: Vec<Vec<u32>>,
    seen: Vec<HashSet<u32>>,
    /// (post, when seen) per node, for IHAVE windows.
    recent: Vec<Vec<(u32, u64)>>,
    queue: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    order: u64,
}

impl Gossip {
    fn push(&mut self, at: u64, ev: Ev) {
        self.order += 1;
        self.queue.push(Reverse((at, self.order, ev)));
    }
}

/// One node's logs for the catch-up part (the same rules as the store,
/// without signature checks: the entries were made here).
#[derive(Default, Clone)]
struct Mem {
    scope: BTreeSet<AuthorId>,
    logs: BTreeMap<AuthorId, Vec<Entry>>,
}

impl Logs for Mem {
    fn replicates(&self, a: &AuthorId) -> bool {
        self.scope.contains(a)
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
    fn head(&self, a: &AuthorId) -> Option<Head> {
        self.logs.get(a)?.last().map(|e| Head {
            seq: e.seq(),
            id: e.id(),
        })
    }
    fn id_at(&self, a: &AuthorId, seq: u64) -> Option<EntryId> {
        self.logs
            .get(a)?
            .get(seq.checked_sub(1)? as usize)
            .map(Entry::id)
    }
    fn entries_after(&self, a: &AuthorId, after: u64, max_bytes: usize) -> Vec<Entry> {
        let mut out = Vec::new();
        let mut bytes = 0;
        for e in self.logs.get(a).into_iter().flatten().skip(after as usize) {
            if !out.is_empty() && bytes + e.encoded_len() > max_bytes {
                break;
            }
            bytes += e.encoded_len();
            out.push(e.clone());
        }
        out
    }
    fn entries_with_changes(&self, _: &[[u8; 32]], _: usize) -> Vec<Entry> {
        Vec::new()
    }
}

impl Mem {
    fn ingest(&mut self, e: &Entry) -> bool {
        if !self.scope.contains(&e.author()) {
            return false;
        }
        let log = self.logs.entry(e.author()).or_default();
        if e.seq() as usize == log.len() + 1 {
            log.push(e.clone());
        }
        true
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(1000);
    let hops: u8 = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(1);
    let posts: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(200);
    let seed: u64 = args.get(4).and_then(|a| a.parse().ok()).unwrap_or(7);
    let mut rng = StdRng::seed_from_u64(seed);
    let started = std::time::Instant::now();

    let adj = small_world(n, &mut rng);
    let scope = scopes(&adj, hops);
    let in_scope = |node: u32, author: u32| scope[node as usize].binary_search(&author).is_ok();
    let mean_scope = scope.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
    let lat = |rng: &mut StdRng| rng.random_range(20..=100u64);

    // Churn, meshes.
    let mut online = vec![true; n];
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    for &i in order.iter().take((n as f64 * CHURN) as usize) {
        online[i] = false;
    }
    let mut mesh: Vec<BTreeSet<u32>> = vec![BTreeSet::new(); n];
    for i in 0..n {
        let peers: Vec<u32> = adj[i]
            .iter()
            .copied()
            .filter(|&j| online[j as usize])
            .collect();
        for &j in peers.choose_multiple(&mut rng, MESH) {
            mesh[i].insert(j);
            mesh[j as usize].insert(i as u32);
        }
    }
    let mut g = Gossip {
        online: online.clone(),
        mesh: mesh.into_iter().map(|s| s.into_iter().collect()).collect(),
        seen: vec![HashSet::new(); n],
        recent: vec![Vec::new(); n],
        queue: BinaryHeap::new(),
        order: 0,
    };

    // Posts by online authors, one every 100 ms.
    let authors: Vec<u32> = (0..n as u32).filter(|&i| online[i as usize]).collect();
    let mut post_author = Vec::with_capacity(posts);
    let mut post_time = Vec::with_capacity(posts);
    for p in 0..posts {
        let a = *authors.choose(&mut rng).unwrap();
        let t = 1_000 + p as u64 * POST_EVERY_MS;
        post_author.push(a);
        post_time.push(t);
        g.push(
            t,
            Ev::Deliver {
                to: a,
                from: a,
                post: p as u32,
            },
        );
    }
    let horizon = 1_000 + posts as u64 * POST_EVERY_MS + 30_000;
    for i in 0..n as u32 {
        if online[i as usize] {
            let phase = rng.random_range(0..HEARTBEAT_MS);
            g.push(phase, Ev::Heartbeat { node: i });
        }
    }

    let mut delivered: Vec<Vec<u64>> = vec![Vec::new(); posts];
    let mut messages = vec![0u64; posts]; // entry transmissions per post
    let mut ignored = vec![0u64; posts]; // of which to nodes that do not replicate
    let (mut ihave, mut iwant) = (0u64, 0u64);
    while let Some(Reverse((t, _, ev))) = g.queue.pop() {
        if t > horizon {
            break;
        }
        match ev {
            Ev::Deliver { to, from, post } => {
                let p = post as usize;
                if to != from {
                    messages[p] += 1;
                }
                if !g.online[to as usize] || !g.seen[to as usize].insert(post) {
                    continue;
                }
                if !in_scope(to, post_author[p]) {
                    ignored[p] += 1;
                    continue; // seen, ignored, not forwarded
                }
                if to != from {
                    delivered[p].push(t - post_time[p]);
                }
                g.recent[to as usize].push((post, t));
                // Own entries go to every connected peer (gossipsub's flood
                // publishing, on by default); forwarded ones to the mesh.
                let targets: Vec<u32> = if to == from {
                    adj[to as usize]
                        .iter()
                        .copied()
                        .filter(|j| g.online[*j as usize])
                        .collect()
                } else {
                    g.mesh[to as usize].clone()
                };
                for m in targets {
                    if m != from {
                        let at = t + lat(&mut rng);
                        g.push(
                            at,
                            Ev::Deliver {
                                to: m,
                                from: to,
                                post,
                            },
                        );
                    }
                }
            }
            Ev::Have { to, from, post } => {
                if g.online[to as usize] && !g.seen[to as usize].contains(&post) {
                    iwant += 1;
                    let back = t + lat(&mut rng) + lat(&mut rng);
                    g.push(back, Ev::Deliver { to, from, post });
                }
            }
            Ev::Heartbeat { node } => {
                let i = node as usize;
                g.recent[i].retain(|(_, at)| t.saturating_sub(*at) < GOSSIP_WINDOWS * HEARTBEAT_MS);
                if !g.recent[i].is_empty() {
                    let others: Vec<u32> = adj[i]
                        .iter()
                        .copied()
                        .filter(|j| g.online[*j as usize] && !g.mesh[i].contains(j))
                        .collect();
                    let ids: Vec<u32> = g.recent[i].iter().map(|(p, _)| *p).collect();
                    for &j in others.choose_multiple(&mut rng, LAZY) {
                        ihave += 1;
                        let at = t + lat(&mut rng);
                        for &p in &ids {
                            g.push(
                                at,
                                Ev::Have {
                                    to: j,
                                    from: node,
                                    post: p,
                                },
                            );
                        }
                    }
                }
                if t + HEARTBEAT_MS <= horizon {
                    g.push(t + HEARTBEAT_MS, Ev::Heartbeat { node });
                }
            }
        }
    }

    // Per post: transmissions, and reach among the online nodes that
    // replicate its author.
    let mut all: Vec<u64> = Vec::new();
    let mut shares = Vec::new();
    for p in 0..posts {
        let a = post_author[p];
        let want = scope[a as usize]
            .iter()
            .filter(|&&j| j != a && online[j as usize])
            .count();
        shares.push(delivered[p].len() as f64 / want.max(1) as f64);
        all.extend_from_slice(&delivered[p]);
    }
    all.sort_unstable();
    let mean = |v: &[u64]| v.iter().sum::<u64>() as f64 / v.len().max(1) as f64;
    let mean_f = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    let min_share = shares.iter().copied().fold(1.0, f64::min);
    let sim_minutes = horizon as f64 / 60_000.0;
    let online_n = online.iter().filter(|o| **o).count() as f64;

    // The periodic frontier exchange, from a real encoded frontier.
    let keys: Vec<Keypair> = (0..n)
        .map(|i| {
            let mut s = [0u8; 32];
            s[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            Keypair::from_secret(&s)
        })
        .collect();
    let frontier_bytes = |node: usize| {
        let items: Vec<FrontierItem> = scope[node]
            .iter()
            .map(|&a| FrontierItem {
                author: keys[a as usize].author(),
                head: Some(Head {
                    seq: 1_000,
                    id: EntryId([7; 32]),
                }),
            })
            .collect();
        sync::encode(&Request::Frontier(items)).len()
    };
    let mean_degree = adj.iter().map(Vec::len).sum::<usize>() as f64 / n as f64;
    let fb = frontier_bytes(0) as f64;
    let resync_full_per_min = mean_degree * 0.9 * 2.0 * fb;
    // With deltas (PROTOCOL.md §8.2): per minute, the heads in a node's
    // replication set that advanced, and a full frontier every 10th time.
    let item = fb / scope[0].len() as f64;
    let minute_share = 60_000.0 / (posts as f64 * POST_EVERY_MS as f64);
    let changed: f64 = (0..n)
        .filter(|&i| online[i])
        .map(|i| {
            let authors: HashSet<u32> = post_author
                .iter()
                .copied()
                .filter(|&a| in_scope(i as u32, a))
                .collect();
            authors.len() as f64 * minute_share
        })
        .sum::<f64>()
        / online_n;
    let resync_per_min =
        mean_degree * 0.9 * 2.0 * (changed.min(scope[0].len() as f64) * item + fb / 10.0);

    println!("## simulation: {n} nodes, hops {hops}, {posts} posts, seed {seed}");
    println!(
        "trust graph: small world, mean degree {mean_degree:.1}; replication set mean {mean_scope:.0} authors; {:.0} % offline",
        CHURN * 100.0
    );
    println!(
        "per post: entry transmissions mean {:.0} (of which to nodes that do not replicate the author: {:.0}); reach among online replicators mean {:.1} %, min {:.1} %",
        mean(&messages),
        mean(&ignored),
        mean_f(&shares) * 100.0,
        min_share * 100.0
    );
    println!(
        "delivery (simulated): p50 {} ms, p99 {} ms, max {} ms over {} deliveries",
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        all.last().copied().unwrap_or(0),
        all.len()
    );
    println!(
        "control per online node and minute: {:.1} IHAVE, {:.1} IWANT; frontier exchange every 60 s: {:.0} KiB with deltas ({:.0} changed heads a minute), {:.0} KiB if whole (frontier {:.0} bytes × {:.0} peers × 2)",
        ihave as f64 / online_n / sim_minutes,
        iwant as f64 / online_n / sim_minutes,
        resync_per_min / 1024.0,
        changed,
        resync_full_per_min / 1024.0,
        fb,
        mean_degree * 0.9
    );

    // Catch-up after rejoining, with the real replicator.
    let entries = signed_posts(&keys, &post_author);
    let have = |node: usize| -> Mem {
        let mut m = Mem {
            scope: scope[node]
                .iter()
                .map(|&a| keys[a as usize].author())
                .collect(),
            ..Default::default()
        };
        for (p, e) in entries.iter().enumerate() {
            let a = post_author[p] as usize;
            if (a == node || g.seen[node].contains(&(p as u32))) && in_scope(node as u32, a as u32)
            {
                m.ingest(e);
            }
        }
        m
    };
    let offline: Vec<usize> = (0..n).filter(|&i| !online[i]).take(REJOINS).collect();
    let mut times = Vec::new();
    let mut msgs = Vec::new();
    let mut bytes = Vec::new();
    let mut got = Vec::new();
    for &r in &offline {
        let (t, m, b, fetched) = rejoin(r, &adj[r], &online, &have, &mut rng);
        times.push(t);
        msgs.push(m);
        bytes.push(b);
        got.push(fetched);
    }
    times.sort_unstable();
    println!(
        "catch-up after rejoining ({} nodes, every online peer at once): entries fetched mean {:.0}; time p50 {} ms, max {} ms; {:.0} requests and {:.0} KiB per rejoin",
        offline.len(),
        mean(&got),
        percentile(&times, 0.5),
        times.last().copied().unwrap_or(0),
        mean(&msgs),
        mean(&bytes) / 1024.0
    );
    println!("(simulated in {:.1} s)", started.elapsed().as_secs_f64());
}

/// Each post as a signed entry, numbered per author in post order.
fn signed_posts(keys: &[Keypair], post_author: &[u32]) -> Vec<Entry> {
    let mut heads: HashMap<u32, (u64, Option<EntryId>)> = HashMap::new();
    post_author
        .iter()
        .enumerate()
        .map(|(p, &a)| {
            let head = heads.entry(a).or_insert((0, None));
            let body = Body::Post(Post {
                kind: PostKind::Note,
                text: format!("post {p}"),
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
                mentions: Vec::new(),
            });
            let e = Entry::sign(
                &keys[a as usize],
                Draft {
                    seq: head.0 + 1,
                    prev: head.1,
                    timestamp_ms: 1_700_000_000_000,
                    body: body.encode(),
                },
            );
            *head = (head.0 + 1, Some(e.id()));
            e
        })
        .collect()
}

/// Node `r` comes back and catches up from its online peers: returns
/// (time until level, requests, bytes, entries fetched).
fn rejoin(
    r: usize,
    peers: &[u32],
    online: &[bool],
    have: &dyn Fn(usize) -> Mem,
    rng: &mut StdRng,
) -> (u64, u64, u64, u64) {
    let mut me = (Replicator::<u32>::new(Limits::default()), have(r));
    let mut others: BTreeMap<u32, (Replicator<u32>, Mem)> = peers
        .iter()
        .filter(|p| online[**p as usize])
        .map(|&p| (p, (Replicator::new(Limits::default()), have(p as usize))))
        .collect();
    // What the node can get at best: for each author, the longest log any
    // online peer holds.
    let target: u64 =
        me.1.scope
            .iter()
            .map(|a| {
                others
                    .values()
                    .filter_map(|(_, m)| m.logs.get(a).map(Vec::len))
                    .max()
                    .unwrap_or(0) as u64
            })
            .sum();
    let before: u64 = me.1.logs.values().map(|l| l.len() as u64).sum();
    // (time, to-peer?, peer, output) — `mine` outputs are the rejoiner's.
    let mut queue: BinaryHeap<Reverse<(u64, u64, u32, bool)>> = BinaryHeap::new();
    let mut pending: HashMap<u64, Output<u32>> = HashMap::new();
    let mut next = 0u64;
    let mut push = |queue: &mut BinaryHeap<Reverse<(u64, u64, u32, bool)>>,
                    pending: &mut HashMap<u64, Output<u32>>,
                    at: u64,
                    peer: u32,
                    mine: bool,
                    o: Output<u32>| {
        next += 1;
        pending.insert(next, o);
        queue.push(Reverse((at, next, peer, mine)));
    };
    for (&p, other) in others.iter_mut() {
        for o in other.0.connected(r as u32, &other.1) {
            push(&mut queue, &mut pending, 0, p, false, o);
        }
        for o in me.0.connected(p, &me.1) {
            push(&mut queue, &mut pending, 0, p, true, o);
        }
    }
    let (mut requests, mut bytes, mut done_at) = (0u64, 0u64, 0u64);
    while let Some(Reverse((t, id, peer, mine))) = queue.pop() {
        let output = pending.remove(&id).expect("queued");
        let (a_is_me, other_id) = (mine, peer);
        match output {
            Output::Send { token, request, .. } => {
                requests += 1;
                bytes += sync::encode(&request).len() as u64;
                let there = t + rng.random_range(20..=100u64);
                let (response, more, back_outputs) = if a_is_me {
                    let other = others.get_mut(&other_id).unwrap();
                    let (resp, more) = other.0.handle_request(r as u32, request, &other.1);
                    let back = me.0.handle_response(other_id, token, resp.clone(), &me.1);
                    (resp, more, back)
                } else {
                    let (resp, more) = me.0.handle_request(other_id, request, &me.1);
                    let other = others.get_mut(&other_id).unwrap();
                    let back = other
                        .0
                        .handle_response(r as u32, token, resp.clone(), &other.1);
                    (resp, more, back)
                };
                bytes += response_len(&response);
                let back_at = there + rng.random_range(20..=100u64);
                for o in more {
                    push(&mut queue, &mut pending, there, other_id, !a_is_me, o);
                }
                for o in back_outputs {
                    push(&mut queue, &mut pending, back_at, other_id, a_is_me, o);
                }
            }
            Output::Ingest {
                peer: from,
                author,
                entries,
            } => {
                let ok = if a_is_me {
                    entries.iter().all(|e| me.1.ingest(e))
                } else {
                    let other = others.get_mut(&other_id).unwrap();
                    entries.iter().all(|e| other.1.ingest(e))
                };
                let more = if a_is_me {
                    me.0.ingested(&from, author, ok, &me.1)
                } else {
                    let other = others.get_mut(&other_id).unwrap();
                    other.0.ingested(&from, author, ok, &other.1)
                };
                for o in more {
                    push(&mut queue, &mut pending, t, other_id, a_is_me, o);
                }
                let now: u64 = me.1.logs.values().map(|l| l.len() as u64).sum();
                if now >= target && done_at == 0 {
                    done_at = t;
                }
            }
            Output::IngestChanges { .. } | Output::Offered { .. } => {}
        }
    }
    let after: u64 = me.1.logs.values().map(|l| l.len() as u64).sum();
    (done_at, requests, bytes, after - before)
}

fn response_len(r: &Response) -> u64 {
    sync::encode(r).len() as u64
}
