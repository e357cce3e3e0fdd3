//! The NAT lab: two friends, A and B, each behind a router that does NAT,
//! and a public friend R who relays, in network namespaces (root and
//! nftables; [`available`] says what is missing). Shared by the suite
//! (`cli/tests/nat_netns.rs`) and the bench (`tests/benches/nat.rs`).
//!
//! ```text
//!   A (192.168.1.2) ── [carrier 100.64.1.1] ── router (198.51.100.2) ──┐
//!                                                      R (198.51.100.1 | 203.0.113.1)
//!   B (192.168.2.2) ── [carrier 100.64.2.1] ── router (203.0.113.2) ──┘
//! ```
//!
//! R's namespace routes between the two public segments (it is the
//! internet). Each router drops what does not answer a connection from
//! inside, on the way through and to itself (a home router sends no reset
//! for an unexpected packet: a reset would kill a hole punch's first SYN).
//! How each router maps ports is the pairing's [`Nat`].

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::netns::{Lab, is_root, sh};

/// How a router maps its inside's connections to its public address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nat {
    /// A home router: masquerade, which keeps a connection's source port
    /// when it can (endpoint-independent mapping in practice).
    Home,
    /// Port-randomizing (address-and-port dependent, "symmetric"): every
    /// connection leaves from a random port.
    Symmetric,
    /// A home router behind a carrier-grade NAT (100.64.0.0/10), both
    /// masquerading.
    Carrier,
}

/// Which transports the nodes listen on (and reach R over first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transports {
    Tcp,
    Quic,
    /// Both, R reached over TCP first (as `kith up` listens by default).
    Both,
}

/// What one meeting of A and B measured.
#[derive(Debug, Clone)]
pub struct Meeting {
    /// From the moment both had asked to reach R until A first showed B as
    /// relayed (`None`: never seen relayed, e.g. direct at once).
    pub relayed_after: Option<Duration>,
    /// Until A showed B connected directly (`None`: stayed relayed for the
    /// whole wait).
    pub direct_after: Option<Duration>,
    /// A's post, written once A and B were connected, until B held it.
    pub delivered_in: Duration,
    /// How long A's `kith dial` of R took (one connection, no NAT in the
    /// way of the answer): the baseline of the bench.
    pub reach_r: Duration,
    /// How A showed B at the end (`direct`, `hole-punched`, `relayed`).
    pub connection: String,
    /// Why it stayed relayed, as A or B shows it (`relayed_why`).
    pub relayed_why: Option<String>,
}

/// Why the NAT lab cannot run here, if it cannot.
pub fn available() -> Result<(), String> {
    if !is_root() {
        return Err(
            "the NAT lab creates network namespaces and needs root (CI runs as root)".into(),
        );
    }
    if Command::new("nft").arg("--version").output().is_err() {
        return Err(
            "the NAT lab needs nftables (`apt-get install nftables`; .ci/run installs it)".into(),
        );
    }
    Ok(())
}

const R_LEFT: &str = "198.51.100.1";
const R_RIGHT: &str = "203.0.113.1";

/// Builds the lab for A behind `a` and B behind `b`: namespaces `pub`,
/// `a`, `b`, `ra`, `rb` (and `ca`, `cb` for a carrier NAT).
fn build(kith: &str, prefix: char, a: Nat, b: Nat) -> Lab {
    let mut hosts = vec!["pub", "a", "b", "ra", "rb"];
    if a == Nat::Carrier {
        hosts.push("ca");
    }
    if b == Nat::Carrier {
        hosts.push("cb");
    }
    let lab = Lab::new(kith, prefix, &hosts);
    lab.exec("pub", &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    for (side, nat, net, public, r_ip) in [
        ("a", a, 1, "198.51.100.2", R_LEFT),
        ("b", b, 2, "203.0.113.2", R_RIGHT),
    ] {
        let router = format!("r{side}");
        let prefix_len = "/24";
        lab.link(
            ("pub", &format!("{r_ip}{prefix_len}")),
            (&router, &format!("{public}{prefix_len}")),
        );
        route(&lab, &router, r_ip);
        let home_router = if nat == Nat::Carrier {
            // host ── carrier-side home router `c{side}` ── carrier `r{side}`.
            let home = format!("c{side}");
            lab.link(
                (&router, &format!("100.64.{net}.1/24")),
                (&home, &format!("100.64.{net}.2/24")),
            );
            route(&lab, &home, &format!("100.64.{net}.1"));
            masquerade(&lab, &router, &lab.dev(&router, "pub"), false);
            home
        } else {
            router.clone()
        };
        lab.link(
            (side, &format!("192.168.{net}.2/24")),
            (&home_router, &format!("192.168.{net}.1/24")),
        );
        route(&lab, side, &format!("192.168.{net}.1"));
        let wan = if nat == Nat::Carrier {
            lab.dev(&home_router, &router)
        } else {
            lab.dev(&home_router, "pub")
        };
        masquerade(&lab, &home_router, &wan, nat == Nat::Symmetric);
    }
    lab
}

fn route(lab: &Lab, host: &str, via: &str) {
    sh(&[
        "ip",
        "-n",
        &lab.ns(host),
        "route",
        "add",
        "default",
        "via",
        via,
    ]);
}

/// `router` forwards, masquerades what leaves by `wan` (on random ports
/// when `random`), and lets in from `wan` only what answers a connection
/// from inside.
fn masquerade(lab: &Lab, router: &str, wan: &str, random: bool) {
    lab.exec(router, &["sysctl", "-qw", "net.ipv4.ip_forward=1"]);
    let how = if random { " fully-random" } else { "" };
    let rules = format!(
        "table ip nat {{\n chain post {{\n  type nat hook postrouting priority 100;\n  \
         oifname \"{wan}\" masquerade{how}\n }}\n}}\n\
         table ip filter {{\n chain forward {{\n  \
         type filter hook forward priority 0; policy drop;\n  \
         ct state established,related accept\n  oifname \"{wan}\" accept\n }}\n \
         chain input {{\n  type filter hook input priority 0; policy accept;\n  \
         iifname \"{wan}\" ct state established,related accept\n  \
         iifname \"{wan}\" drop\n }}\n}}\n"
    );
    nft(lab, router, &rules);
    let ns = lab.ns(router);
    // A SYN nobody answered holds its mapping for 2 minutes by default: a
    // punch tried again after the NAT changed would reuse the old one.
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns, "sysctl", "-qw"])
        .arg("net.netfilter.nf_conntrack_tcp_timeout_syn_sent=5")
        .status();
}

/// Loads nftables `rules` in `host`'s namespace.
fn nft(lab: &Lab, host: &str, rules: &str) {
    let ns = lab.ns(host);
    let mut nft = Command::new("ip")
        .args(["netns", "exec", &ns, "nft", "-f", "-"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    nft.stdin
        .take()
        .unwrap()
        .write_all(rules.as_bytes())
        .unwrap();
    assert!(nft.wait().unwrap().success(), "nft rules in {host}");
}

fn listen(ip: &str, transports: Transports) -> Vec<String> {
    let tcp = format!("/ip4/{ip}/tcp/4001");
    let quic = format!("/ip4/{ip}/udp/4001/quic-v1");
    match transports {
        Transports::Tcp => vec![tcp],
        Transports::Quic => vec![quic],
        Transports::Both => vec![tcp, quic],
    }
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap()
}

/// A running lab: its namespaces and three nodes that trust each other.
pub struct NatLab {
    lab: Lab,
    dirs: [PathBuf; 3],
    ids: [String; 3],
    transports: Transports,
}

const R: usize = 0;
const A: usize = 1;
const B: usize = 2;
const HOSTS: [&str; 3] = ["pub", "a", "b"];

impl NatLab {
    /// Builds the lab and starts R, A and B, each trusting the other two.
    /// `prefix` keeps labs of one process apart.
    pub fn start(kith: &str, prefix: char, a: Nat, b: Nat, transports: Transports) -> NatLab {
        Self::start_with_relay(kith, prefix, a, b, transports, "")
    }

    /// As [`NatLab::start`], with `relay` as R's `[relay]` settings
    /// (config.toml lines).
    pub fn start_with_relay(
        kith: &str,
        prefix: char,
        a: Nat,
        b: Nat,
        transports: Transports,
        relay: &str,
    ) -> NatLab {
        let mut lab = build(kith, prefix, a, b);
        let mut r_listen = listen(R_LEFT, transports);
        r_listen.extend(listen(R_RIGHT, transports));
        let config = if relay.is_empty() {
            String::new()
        } else {
            format!("[relay]\n{relay}\n")
        };
        let r = lab.up_configured("pub", &r_listen, &format!("{prefix}-r"), &config);
        let na = lab.up_listening(
            "a",
            &listen("192.168.1.2", transports),
            &format!("{prefix}-a"),
        );
        let nb = lab.up_listening(
            "b",
            &listen("192.168.2.2", transports),
            &format!("{prefix}-b"),
        );
        let dirs = [lab.dir(r), lab.dir(na), lab.dir(nb)];
        let ids: Vec<String> = (0..3)
            .map(|i| lab.run(HOSTS[i], &dirs[i], &["id"]).trim().to_string())
            .collect();
        for (i, (host, dir)) in HOSTS.iter().zip(&dirs).enumerate() {
            for (j, other) in ids.iter().enumerate() {
                if i != j {
                    lab.run(host, dir, &["trust", "add", other]);
                }
            }
        }
        NatLab {
            lab,
            dirs,
            ids: [ids[0].clone(), ids[1].clone(), ids[2].clone()],
            transports,
        }
    }

    /// Blocks (or opens again) the internet between A's and B's routers,
    /// as a firewall on the way might: R still reaches both, so they meet
    /// through R, but no hole punch gets through while blocked.
    pub fn block_between(&self, blocked: bool) {
        if blocked {
            let rules = "table ip between {\n chain forward {\n  \
                 type filter hook forward priority -10; policy accept;\n  \
                 ip saddr 198.51.100.2 ip daddr 203.0.113.2 drop\n  \
                 ip saddr 203.0.113.2 ip daddr 198.51.100.2 drop\n }\n}\n";
            nft(&self.lab, "pub", rules);
        } else {
            self.lab
                .exec("pub", &["nft", "delete", "table", "ip", "between"]);
        }
    }

    /// Drops `percent` % of the packets crossing the public segment, picked
    /// at random, each way: what the routers forward to each other, and
    /// what R sends and receives (`tc netem` is not in this kernel; this
    /// is loss without added latency). 0 takes the loss away.
    pub fn lossy(&self, percent: u8) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.lab.ns("pub")])
            .args(["nft", "delete", "table", "ip", "loss"])
            .stderr(Stdio::null())
            .status();
        if percent == 0 {
            return;
        }
        let drop = format!("numgen random mod 100 < {percent} drop");
        let rules = format!(
            "table ip loss {{\n \
             chain forward {{\n  type filter hook forward priority -20; policy accept;\n  {drop}\n }}\n \
             chain input {{\n  type filter hook input priority -20; policy accept;\n  {drop}\n }}\n \
             chain output {{\n  type filter hook output priority -20; policy accept;\n  {drop}\n }}\n}}\n"
        );
        nft(&self.lab, "pub", &rules);
    }

    /// The friends `node` (`"r"`, `"a"` or `"b"`) holds relay slots for,
    /// as `kith status --json` shows them.
    pub fn relaying_for(&self, node: &str) -> Vec<String> {
        let i = match node {
            "r" => R,
            "a" => A,
            _ => B,
        };
        json(&self.run(i, &["status", "--json"]))["relaying_for"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Waits up to `within` for A to lose its connection to B, then up to
    /// `within` for it to come back; how long it was gone (`None`: it
    /// never went).
    pub fn reconnected(&self, within: Duration) -> Option<Duration> {
        let deadline = Instant::now() + within;
        while self.b_at_a().is_some() {
            if Instant::now() >= deadline {
                return None;
            }
        }
        let gone = Instant::now();
        crate::process::wait_for(
            "A to connect to B again",
            within,
            Duration::from_millis(100),
            || self.b_at_a().is_some(),
        );
        Some(gone.elapsed())
    }

    /// The ids of R, A and B.
    pub fn ids(&self) -> &[String; 3] {
        &self.ids
    }

    /// How A shows B now (`direct`, `hole-punched`, `relayed`), if connected.
    pub fn connection(&self) -> Option<String> {
        self.b_at_a()
            .and_then(|b| b["connection"].as_str().map(String::from))
    }

    fn run(&self, node: usize, args: &[&str]) -> String {
        self.lab.run(HOSTS[node], &self.dirs[node], args)
    }

    /// B as A shows it in `kith peers --json`, if connected.
    fn b_at_a(&self) -> Option<Value> {
        json(&self.run(A, &["peers", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["author"] == self.ids[B].as_str() && p["connected"] == true)
            .cloned()
    }

    fn a_at_b_why(&self) -> Option<String> {
        json(&self.run(B, &["peers", "--json"]))
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["author"] == self.ids[A].as_str())
            .and_then(|p| p["relayed_why"].as_str().map(String::from))
    }

    /// A and B each reach R (as if each had joined R's invite), then meet:
    /// waits up to `meet_within` for them to connect, up to `direct_within`
    /// for a direct connection, then sends a post from A to B.
    pub fn meet(&self, meet_within: Duration, direct_within: Duration) -> Meeting {
        let r_addr = match self.transports {
            Transports::Quic => format!("/ip4/{R_LEFT}/udp/4001/quic-v1/p2p/{}", self.ids[R]),
            _ => format!("/ip4/{R_LEFT}/tcp/4001/p2p/{}", self.ids[R]),
        };
        let r_addr_b = r_addr.replace(R_LEFT, R_RIGHT);
        // From here the three are up and trust each other.
        let started = Instant::now();
        self.run(A, &["dial", &r_addr]);
        let reach_r = started.elapsed();
        self.run(B, &["dial", &r_addr_b]);
        let mut relayed_after = None;
        let mut direct_after = None;
        let mut last = None;
        let deadline = started + meet_within.max(direct_within);
        while Instant::now() < deadline {
            if let Some(b) = self.b_at_a() {
                let how = b["connection"].as_str().unwrap_or_default().to_string();
                if how == "relayed" {
                    relayed_after.get_or_insert(started.elapsed());
                } else {
                    direct_after = Some(started.elapsed());
                    last = Some(how);
                    break;
                }
                last = Some(how);
                if started.elapsed() >= direct_within {
                    break;
                }
            } else if started.elapsed() >= meet_within {
                break;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        let connection = last.unwrap_or_else(|| {
            panic!(
                "A and B did not connect within {meet_within:?}; A's peers: {}",
                self.run(A, &["peers", "--json"])
            )
        });
        let relayed_why = (connection == "relayed").then(|| self.why()).flatten();
        let delivered_in = self.deliver();
        Meeting {
            relayed_after,
            direct_after,
            delivered_in,
            reach_r,
            connection,
            relayed_why,
        }
    }

    /// Why A or B says their connection stays relayed, if either does.
    fn why(&self) -> Option<String> {
        self.b_at_a()
            .and_then(|b| b["relayed_why"].as_str().map(String::from))
            .or_else(|| self.a_at_b_why())
    }

    /// Waits up to `within` for A or B to say why their connection stays
    /// relayed (once hole punching has given up).
    pub fn why_relayed(&self, within: Duration) -> Option<String> {
        let deadline = Instant::now() + within;
        loop {
            if let Some(why) = self.why() {
                return Some(why);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A posts; how long until B holds the post.
    pub fn deliver(&self) -> Duration {
        let post = self.run(A, &["post", "hello from behind a NAT"]);
        let post = post.trim().lines().last().unwrap().to_string();
        let sent = Instant::now();
        crate::process::wait_for(
            "A's post at B",
            Duration::from_secs(30),
            Duration::from_millis(100),
            || {
                json(&self.run(B, &["feed", "--json"]))
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["id"] == post.as_str())
            },
        );
        sent.elapsed()
    }
}
