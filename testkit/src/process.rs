//! `kith` as a child process: a command on a data dir ([`Kith`]) and a
//! running `kith up` ([`Up`]). The CLI's tests pass their own debug binary
//! (`Kith::at(env!("CARGO_BIN_EXE_kith"))`); benches use the release one
//! ([`Kith::release`]); a test in a network namespace wraps it
//! ([`Kith::in_netns`]).

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

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

/// A `/proc/PID/status` field in KiB (`VmHWM:`, `RssAnon:`, …), if the
/// process is still there.
pub fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// How to run `kith`: which binary, and inside which network namespace.
#[derive(Clone, Debug)]
pub struct Kith {
    bin: PathBuf,
    netns: Option<String>,
}

impl Kith {
    /// This binary.
    pub fn at(bin: impl Into<PathBuf>) -> Kith {
        Kith {
            bin: bin.into(),
            netns: None,
        }
    }

    /// The release binary ([`kith_binary`]).
    pub fn release() -> Kith {
        Kith::at(kith_binary())
    }

    /// The same binary, run inside network namespace `ns` (`ip netns exec`).
    pub fn in_netns(&self, ns: &str) -> Kith {
        Kith {
            bin: self.bin.clone(),
            netns: Some(ns.to_string()),
        }
    }

    /// `kith` on data dir `dir` (its head witness in `dir/witness`, as the
    /// tests keep it), with no `RUST_LOG` inherited; add the arguments.
    pub fn command(&self, dir: &Path) -> Command {
        let mut cmd = match &self.netns {
            Some(ns) => {
                let mut cmd = Command::new("ip");
                cmd.args([OsString::from("netns"), "exec".into(), ns.into()])
                    .arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.env("KITH_DATA_DIR", dir)
            .env("KITH_STATE_DIR", dir.join("witness"))
            .env_remove("RUST_LOG");
        cmd
    }

    /// Runs `kith ARGS` on `dir`; its standard output, failing the test
    /// (with its standard error) if it did not succeed.
    pub fn run(&self, dir: &Path, args: &[&str]) -> String {
        ok(self.command(dir).args(args))
    }

    /// `kith up` on `dir`, not started yet: [`Start::spawn`] or
    /// [`Start::ready`] after any options.
    pub fn up(&self, dir: &Path) -> Start {
        Start {
            kith: self.clone(),
            dir: dir.to_path_buf(),
            owned: None,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            env: Vec::new(),
            log: None,
        }
    }

    /// `kith up` on a new temporary data dir that the [`Up`] owns.
    pub fn up_temporary(&self) -> Start {
        let owned = tempfile::tempdir().unwrap();
        let mut start = self.up(owned.path());
        start.owned = Some(owned);
        start
    }
}

/// Runs `cmd`; its standard output, failing the test (with its standard
/// error) if it did not succeed.
pub fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A `kith up` about to start: its options.
pub struct Start {
    kith: Kith,
    dir: PathBuf,
    owned: Option<tempfile::TempDir>,
    listen: Vec<String>,
    env: Vec<(String, String)>,
    log: Option<PathBuf>,
}

impl Start {
    /// The data dir it will run on.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Listens on these addresses instead of one loopback port.
    pub fn listen(mut self, addrs: &[String]) -> Start {
        self.listen = addrs.to_vec();
        self
    }

    /// Sets an environment variable for the node.
    pub fn env(mut self, key: &str, value: &str) -> Start {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// Writes the node's standard error (its log) to `path` instead of
    /// dropping it.
    pub fn log_to(mut self, path: impl Into<PathBuf>) -> Start {
        self.log = Some(path.into());
        self
    }

    /// Starts the process without waiting for it to be up.
    pub fn spawn(self) -> Up {
        let mut cmd = self.kith.command(&self.dir);
        cmd.args(["up", "--api", "127.0.0.1:0", "--no-mdns"]);
        for addr in &self.listen {
            cmd.args(["--listen", addr]);
        }
        cmd.envs(self.env.iter().map(|(k, v)| (k, v)));
        let stderr = match &self.log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        Up {
            child: Some(child),
            kith: self.kith,
            dir: self.dir,
            owned: self.owned,
            printed: Vec::new(),
        }
    }

    /// Starts the process and waits until it is up ([`Up::wait_ready`]).
    pub fn ready(self) -> Up {
        let mut up = self.spawn();
        up.wait_ready();
        up
    }
}

/// A running `kith up`; stopped with SIGTERM when dropped (use
/// [`Up::stop`] to check how it ended, [`Up::kill9`] to crash it).
pub struct Up {
    child: Option<Child>,
    kith: Kith,
    dir: PathBuf,
    owned: Option<tempfile::TempDir>,
    /// What it printed until it was up.
    printed: Vec<String>,
}

impl Up {
    /// `kith up` with `kith` on `dir`, waited for.
    pub fn start(kith: &Kith, dir: &Path) -> Up {
        kith.up(dir).ready()
    }

    /// Waits until the node printed its invite code (it serves its API),
    /// then keeps draining its output so it never blocks on a full pipe.
    /// Returns the lines it printed until then.
    pub fn wait_ready(&mut self) -> &[String] {
        let child = self.child.as_mut().expect("running");
        let stdout = child.stdout.take().expect("not waited for yet");
        let mut lines = BufReader::new(stdout).lines();
        loop {
            let line = lines.next().expect("kith up exited early").unwrap();
            let ready = line.trim_start().starts_with("invite");
            self.printed.push(line);
            if ready {
                break;
            }
        }
        std::thread::spawn(move || for _ in lines {});
        &self.printed
    }

    /// The data dir.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> DataDir {
        DataDir::new(&self.dir)
    }

    /// `kith` on this node's data dir (the CLI talks to the running node).
    pub fn command(&self) -> Command {
        self.kith.command(&self.dir)
    }

    /// Runs `kith ARGS` against this node; its standard output.
    pub fn run(&self, args: &[&str]) -> String {
        self.kith.run(&self.dir, args)
    }

    /// An API client, from the `api.json` the node wrote.
    pub fn client(&self) -> Client {
        Client::discover(&self.data_dir())
            .unwrap()
            .expect("node API")
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    pub fn rss_kib(&self) -> u64 {
        self.status_kib("VmRSS:")
    }

    /// A `/proc/PID/status` field in KiB (`RssAnon:` is the heap, `RssFile:`
    /// mapped files such as the search index).
    pub fn status_kib(&self, field: &str) -> u64 {
        status_kib(self.pid(), field).unwrap_or(0)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// SIGKILL: a crash, with no chance to flush or clean up.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// SIGTERM, then checks that it shut down cleanly: exit status 0 and
    /// its `api.json` removed.
    pub fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        terminate(&child);
        let status = child.wait().unwrap();
        assert!(status.success(), "kith up exited with {status}");
        assert!(!self.dir.join("api.json").exists(), "api.json left behind");
    }

    /// [`Up::stop`], handing back the temporary data dir it owned.
    pub fn stop_and_keep(mut self) -> tempfile::TempDir {
        self.stop();
        self.owned.take().expect("a temporary data dir")
    }
}

fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

impl Drop for Up {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(&child);
            let _ = child.wait();
        }
    }
}

/// Polls `done` every `every` until it holds, failing with `what` after
/// `limit`.
pub fn wait_for(what: &str, limit: Duration, every: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(every);
    }
}
