//! Network namespaces for tests that need several hosts (root only, as in
//! CI): the namespaces, the links between them and the `kith up` in each,
//! all removed when the [`Lab`] is dropped.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::process::{Kith, Up};

/// Runs a command, failing the test with its stderr if it fails.
pub fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether this process may create network namespaces.
pub fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.starts_with(b"0"))
}

/// Namespaces named `{tag}{host}` and the nodes started in them.
pub struct Lab {
    tag: String,
    hosts: Vec<String>,
    kith: Kith,
    nodes: Vec<Up>,
    dirs: Vec<tempfile::TempDir>,
}

impl Lab {
    /// One namespace per host, with its loopback up. `prefix` keeps two
    /// labs of one test process apart.
    pub fn new(kith: &str, prefix: char, hosts: &[&str]) -> Lab {
        let lab = Lab {
            tag: format!("{prefix}{}", std::process::id() % 100_000),
            hosts: hosts.iter().map(ToString::to_string).collect(),
            kith: Kith::at(kith),
            nodes: Vec::new(),
            dirs: Vec::new(),
        };
        for host in hosts {
            sh(&["ip", "netns", "add", &lab.ns(host)]);
            sh(&["ip", "-n", &lab.ns(host), "link", "set", "lo", "up"]);
        }
        lab
    }

    /// The namespace of `host`.
    pub fn ns(&self, host: &str) -> String {
        format!("{}{host}", self.tag)
    }

    /// The name of the link device `from` → `to` (in `from`'s namespace).
    pub fn dev(&self, from: &str, to: &str) -> String {
        format!("{}{from}{to}", self.tag)
    }

    /// Runs a command inside `host`'s namespace.
    pub fn exec(&self, host: &str, args: &[&str]) {
        let ns = self.ns(host);
        let mut all = vec!["ip", "netns", "exec", &ns];
        all.extend_from_slice(args);
        sh(&all);
    }

    /// A veth pair between two hosts, each end with its address, up.
    pub fn link(&self, (left, left_ip): (&str, &str), (right, right_ip): (&str, &str)) {
        let (l, r) = (self.dev(left, right), self.dev(right, left));
        sh(&["ip", "link", "add", &l, "type", "veth", "peer", "name", &r]);
        for (host, dev, ip) in [(left, &l, left_ip), (right, &r, right_ip)] {
            sh(&["ip", "link", "set", dev, "netns", &self.ns(host)]);
            sh(&["ip", "-n", &self.ns(host), "addr", "add", ip, "dev", dev]);
            sh(&["ip", "-n", &self.ns(host), "link", "set", dev, "up"]);
        }
    }

    /// `kith` inside `host`'s namespace.
    pub fn kith(&self, host: &str) -> Kith {
        self.kith.in_netns(&self.ns(host))
    }

    /// `kith ARGS` on `dir` inside `host`, its stdout.
    pub fn run(&self, host: &str, dir: &Path, args: &[&str]) -> String {
        self.kith(host).run(dir, args)
    }

    /// Starts `kith up` in `host` on a fresh data dir, listening on TCP port
    /// 4001 of each of `ips`; returns the node's index. `KITH_TEST_LOG_DIR`
    /// keeps each node's debug log there, as `{log}.log`.
    pub fn up(&mut self, host: &str, ips: &[&str], log: &str) -> usize {
        let listen: Vec<String> = ips.iter().map(|ip| format!("/ip4/{ip}/tcp/4001")).collect();
        self.up_listening(host, &listen, log)
    }

    /// Starts `kith up` in `host` on a fresh data dir, listening on `listen`
    /// (multiaddrs); as [`Lab::up`] otherwise.
    pub fn up_listening(&mut self, host: &str, listen: &[String], log: &str) -> usize {
        self.up_configured(host, listen, log, "")
    }

    /// As [`Lab::up_listening`], with `config` as the node's config.toml.
    pub fn up_configured(
        &mut self,
        host: &str,
        listen: &[String],
        log: &str,
        config: &str,
    ) -> usize {
        let dir = tempfile::tempdir().unwrap();
        if !config.is_empty() {
            std::fs::write(dir.path().join("config.toml"), config).unwrap();
        }
        let mut start = self.kith(host).up(dir.path()).listen(listen);
        if let Ok(logs) = std::env::var("KITH_TEST_LOG_DIR") {
            start = start
                .env(
                    "RUST_LOG",
                    "kith_node=debug,libp2p_relay=debug,libp2p_dcutr=debug",
                )
                .log_to(format!("{logs}/{log}.log"));
        }
        self.nodes.push(start.ready());
        self.dirs.push(dir);
        self.dirs.len() - 1
    }

    /// The data dir of node `i`.
    pub fn dir(&self, i: usize) -> PathBuf {
        self.dirs[i].path().to_path_buf()
    }

    /// Kills node `i` at once.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill9();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for mut node in self.nodes.drain(..) {
            node.kill9();
        }
        for host in &self.hosts {
            let _ = Command::new("ip")
                .args(["netns", "del", &self.ns(host)])
                .status();
        }
    }
}
