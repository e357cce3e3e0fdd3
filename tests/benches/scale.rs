//! Community scale (prints figures; not a timed test): two `kith up`
//! processes on loopback that trust each other and both replicate N other
//! authors (random keys, no entries: a community whose members are
//! offline), for each N; the N = 0 pair, measured in the same run, is the
//! baseline.
//!
//! ```sh
//! cargo build --release -p kith-cli && cargo bench -p kith-tests --bench scale
//! KITH_SCALE_N=0,10,100,1000,10000 KITH_SCALE_POSTS=40 cargo bench -p kith-tests --bench scale
//! ```
//!
//! Per N: start-up (spawn to listening, both nodes), idle CPU (% of one
//! core, mean of both nodes over 20 s once connected), RSS, and the delay
//! from a post on one node to its arrival in the other's feed (p50/p99
//! over the posts, polled every 2 ms).
//!
//! Then connected peers: the same pair, one of them with P more trusted
//! peers connected (`KITH_SCALE_PEERS`, default 0,50,200): light libp2p
//! nodes in this process that speak the entries topic (gossipsub) and
//! nothing else, so the node keeps a mesh and gossips with all of them.
//! Figures for that node: idle CPU and RSS, and propagation to and from
//! its friend.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use kith_node::api::Client;
use kith_node::store::Store;
use kith_node::store::kv::KvConfig;
use kith_node::{DataDir, identity, ops};
use kith_protocol::{AuthorId, EntryId, Keypair, Limits};
use kith_testkit::process::{Kith, Up};
use libp2p::futures::StreamExt;
use libp2p::{Multiaddr, gossipsub, noise, tcp, yamux};

fn env_list(name: &str, default: &[usize]) -> Vec<usize> {
    std::env::var(name)
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| default.to_vec())
}

/// A community member nobody has heard from yet.
fn member(i: usize) -> AuthorId {
    let seed = blake3::hash(format!("kith scale bench member {i}").as_bytes());
    Keypair::from_secret(seed.as_bytes()).author()
}

/// A node's data dir, trusting `friend` and `n` community members.
fn prepare(dir: &std::path::Path, seed: u8, friend: AuthorId, n: usize) -> AuthorId {
    let data_dir = DataDir::new(dir);
    let me = identity::create_from_secret(&data_dir.identity(), &[seed; 32]).unwrap();
    let store = Store::open(&data_dir.store(), &KvConfig::default(), Limits::default()).unwrap();
    store.trust_add(friend, None, 1).unwrap();
    for i in 0..n {
        store.trust_add(member(i), None, 1).unwrap();
    }
    store.flush().unwrap();
    me.author()
}

/// CPU time (user + system) of a process, from `/proc/PID/stat`.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is 3rd.
    let rest = stat.rsplit_once(") ").map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields
        .get(11)
        .and_then(|u| u.parse::<u64>().ok())
        .unwrap_or(0)
        + fields
            .get(12)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(0);
    // CLK_TCK is 100 on Linux.
    Duration::from_millis(ticks * 10)
}

/// Whether entry `id` reaches the top of `client`'s feed within `within`
/// (polled every 2 ms).
fn arrives(client: &Client, id: EntryId, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    loop {
        let feed = client
            .call(ops::Feed {
                limit: Some(1),
                ..Default::default()
            })
            .unwrap();
        if feed.first().is_some_and(|e| e.id == id) {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Delays from a post to its arrival on the other node, alternating
/// directions, 100 ms apart: (sorted delays, posts lost after 60 s).
fn propagation(a: &Client, b: &Client, posts: usize) -> (Vec<Duration>, usize) {
    let mut delays = Vec::new();
    let mut lost = 0;
    for i in 0..posts {
        let (from, to) = if i % 2 == 0 { (a, b) } else { (b, a) };
        let t = Instant::now();
        let post = from.call(ops::Post::note(format!("post {i}"))).unwrap();
        if arrives(to, post.id, Duration::from_secs(60)) {
            delays.push(t.elapsed());
        } else {
            lost += 1;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    delays.sort();
    (delays, lost)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

struct Figures {
    n: usize,
    startup: Duration,
    idle_cpu: f64,
    rss_mib: f64,
    p50: Duration,
    p99: Duration,
    lost: usize,
}

fn run(n: usize, posts: usize) -> Figures {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_key = Keypair::from_secret(&[1; 32]).author();
    let b_key = Keypair::from_secret(&[2; 32]).author();
    prepare(a_dir.path(), 1, b_key, n);
    prepare(b_dir.path(), 2, a_key, n);

    let started = Instant::now();
    let a = Up::start(&Kith::release(), a_dir.path());
    let b = Up::start(&Kith::release(), b_dir.path());
    let startup = started.elapsed() / 2;
    let (ca, cb) = (a.client(), b.client());
    let invite = cb.call(ops::Invite {}).unwrap();
    ca.call(ops::Dial {
        addr: invite.addrs[0].clone(),
    })
    .unwrap();
    // Connected once a post gets through.
    let probe = ca.call(ops::Post::note("hello")).unwrap();
    assert!(
        arrives(&cb, probe.id, Duration::from_secs(120)),
        "N = {n}: the nodes never connected"
    );

    // Idle: let start-up work settle, then measure.
    std::thread::sleep(Duration::from_secs(5));
    // KITH_SCALE_HOLD=SECS: time to attach a profiler to the idle pair.
    if let Some(secs) = std::env::var("KITH_SCALE_HOLD")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        eprintln!(
            "N = {n}: idle nodes are pids {} and {} (data dirs {} and {})",
            a.pid(),
            b.pid(),
            a_dir.path().display(),
            b_dir.path().display()
        );
        std::thread::sleep(Duration::from_secs(secs));
    }
    let window = Duration::from_secs(20);
    let (a0, b0) = (cpu_time(a.pid()), cpu_time(b.pid()));
    std::thread::sleep(window);
    let (a1, b1) = (cpu_time(a.pid()), cpu_time(b.pid()));
    let idle_cpu = ((a1 - a0) + (b1 - b0)).as_secs_f64() / 2.0 / window.as_secs_f64() * 100.0;
    let rss_mib = (a.rss_kib() + b.rss_kib()) as f64 / 2.0 / 1024.0;

    let (delays, lost) = propagation(&ca, &cb, posts);
    let figures = Figures {
        n,
        startup,
        idle_cpu,
        rss_mib,
        p50: percentile(&delays, 0.5),
        p99: percentile(&delays, 0.99),
        lost,
    };
    drop((a, b));
    figures
}

/// A trusted peer that only speaks gossip, connected to `target` until the
/// runtime stops.
fn light_peer(i: usize, target: Multiaddr) {
    let key = kith_node::swarm::libp2p_keypair(&light_key(i));
    let config = gossipsub::ConfigBuilder::default()
        .validation_mode(gossipsub::ValidationMode::Anonymous)
        .max_transmit_size(64 * 1024 + 512)
        .heartbeat_interval(Duration::from_millis(700))
        .build()
        .unwrap();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            let gossip: gossipsub::Behaviour =
                gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Anonymous, config)
                    .unwrap();
            gossip
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(3600)))
        .build();
    swarm
        .behaviour_mut()
        .subscribe(&kith_node::swarm::topic())
        .unwrap();
    swarm.dial(target).unwrap();
    tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
}

fn light_key(i: usize) -> Keypair {
    let seed = blake3::hash(format!("kith scale bench light peer {i}").as_bytes());
    Keypair::from_secret(seed.as_bytes())
}

/// Idle CPU and RSS of the node with `peers` light peers, and propagation.
fn run_peers(peers: usize, posts: usize) -> (usize, f64, f64, Duration, Duration) {
    let (a_dir, b_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a_key = Keypair::from_secret(&[1; 32]).author();
    let b_key = Keypair::from_secret(&[2; 32]).author();
    prepare(a_dir.path(), 1, b_key, 0);
    prepare(b_dir.path(), 2, a_key, 0);
    {
        let store = Store::open(
            &DataDir::new(a_dir.path()).store(),
            &KvConfig::default(),
            Limits::default(),
        )
        .unwrap();
        for i in 0..peers {
            store.trust_add(light_key(i).author(), None, 1).unwrap();
        }
        store.flush().unwrap();
    }
    let a = Up::start(&Kith::release(), a_dir.path());
    let b = Up::start(&Kith::release(), b_dir.path());
    let (ca, cb) = (a.client(), b.client());
    let addr: Multiaddr = ca.call(ops::Invite {}).unwrap().addrs[0].parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    {
        let _entered = runtime.enter();
        for i in 0..peers {
            light_peer(i, addr.clone());
        }
    }
    let invite = cb.call(ops::Invite {}).unwrap();
    ca.call(ops::Dial {
        addr: invite.addrs[0].clone(),
    })
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let connected = loop {
        let status = ca.call(ops::Status {}).unwrap();
        if status.connected_peers > peers || Instant::now() > deadline {
            break status.connected_peers;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(5));
    let window = Duration::from_secs(20);
    let a0 = cpu_time(a.pid());
    std::thread::sleep(window);
    let idle = (cpu_time(a.pid()) - a0).as_secs_f64() / window.as_secs_f64() * 100.0;
    let rss = a.rss_kib() as f64 / 1024.0;
    let (delays, lost) = propagation(&ca, &cb, posts);
    assert_eq!(lost, 0, "posts never arrived");
    drop((a, b));
    runtime.shutdown_background();
    (
        connected,
        idle,
        rss,
        percentile(&delays, 0.5),
        percentile(&delays, 0.99),
    )
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let ns = env_list("KITH_SCALE_N", &[0, 10, 100, 1_000, 10_000]);
    let posts = env_list("KITH_SCALE_POSTS", &[40])[0];
    println!("## scale: two `kith up` nodes replicating N other authors, {posts} posts each N");
    println!(
        "| N | start-up | idle CPU (% of a core) | RSS (MiB) | propagation p50 | p99 | lost |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut base: Option<Figures> = None;
    for n in ns {
        let f = run(n, posts);
        println!(
            "| {} | {:.2} s | {:.2} | {:.0} | {:.1} ms | {:.1} ms | {} |",
            f.n,
            f.startup.as_secs_f64(),
            f.idle_cpu,
            f.rss_mib,
            f.p50.as_secs_f64() * 1e3,
            f.p99.as_secs_f64() * 1e3,
            f.lost
        );
        if let Some(b) = &base {
            println!(
                "|   | ratio to N = {}: | ×{:.2} | ×{:.2} | ×{:.2} | ×{:.2} | |",
                b.n,
                f.idle_cpu / b.idle_cpu.max(0.01),
                f.rss_mib / b.rss_mib,
                f.p50.as_secs_f64() / b.p50.as_secs_f64(),
                f.p99.as_secs_f64() / b.p99.as_secs_f64(),
            );
        } else {
            base = Some(f);
        }
    }

    let peer_counts = env_list("KITH_SCALE_PEERS", &[0, 50, 200]);
    println!();
    println!(
        "## scale: one node with P more trusted peers connected (gossip only), {posts} posts to and from its friend"
    );
    println!("| P | connected | idle CPU (% of a core) | RSS (MiB) | propagation p50 | p99 |");
    println!("|---|---|---|---|---|---|");
    for p in peer_counts {
        let (connected, idle, rss, p50, p99) = run_peers(p, posts);
        println!(
            "| {p} | {connected} | {idle:.2} | {rss:.0} | {:.1} ms | {:.1} ms |",
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
}
