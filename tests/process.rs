//! A `kith up` child process, for benches that measure one node's memory
//! on its own (the release binary: `cargo build --release -p kith-cli`).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use kith_node::DataDir;
use kith_node::api::Client;

/// The release `kith` binary beside the bench (or `KITH_BIN`).
pub fn kith_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("KITH_BIN") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().parent().unwrap();
    let bin = dir.join("kith");
    assert!(
        bin.exists(),
        "{} not found: run `cargo build --release -p kith-cli` first",
        bin.display()
    );
    bin
}

/// `kith up` on a data dir, on loopback ports; stopped (SIGTERM) on drop.
pub struct Up {
    child: Child,
    pub data_dir: DataDir,
}

impl Up {
    /// Starts the node and waits until it prints its invite (it is up).
    pub fn start(dir: &Path) -> Up {
        Up::start_binary(&kith_binary(), dir)
    }

    /// [`Up::start`] with another `kith` binary.
    pub fn start_binary(bin: &Path, dir: &Path) -> Up {
        let mut child = Command::new(bin)
            .env("KITH_DATA_DIR", dir)
            .env("KITH_STATE_DIR", std::path::Path::new(dir).join("witness"))
            .args([
                "up",
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--api",
                "127.0.0.1:0",
                "--no-mdns",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        loop {
            let line = lines.next().expect("kith up exited").unwrap();
            if line.trim_start().starts_with("invite") {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        Up {
            child,
            data_dir: DataDir::new(dir),
        }
    }

    pub fn client(&self) -> Client {
        Client::discover(&self.data_dir).unwrap().expect("node API")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// A `/proc/PID/status` field in KiB (`RssAnon:` is the heap, `RssFile:`
    /// mapped files such as the search index).
    pub fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with(field))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
}

impl Drop for Up {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}
