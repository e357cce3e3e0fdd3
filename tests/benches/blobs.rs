//! Blob transfer benchmark (prints figures; not a timed test):
//!
//! ```sh
//! cargo build --release -p kith-cli && cargo bench -p kith-tests --bench blobs
//! ```
//!
//! Two `kith up` processes on loopback that trust each other. Alice
//! attaches a file of `KITH_BENCH_BLOB_MIB` MiB (default 100) of random
//! bytes to a post; Bob, whose eager size is 0, fetches it when asked
//! (`GET /blobs/{hash}`, read to the end). The baseline, measured in the
//! same run and alternated with it, is a plain TCP copy of the same file
//! over loopback: read from disk, sent, written to disk and synced, as the
//! fetch does. Memory: Bob's resident memory (VmRSS) sampled during the
//! fetch, against his idle figure before it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kith_node::ops;
use kith_testkit::process::{Kith, Up};

const RUNS: usize = 3;

fn main() {
    let mib: u64 = std::env::var("KITH_BENCH_BLOB_MIB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let size = mib * 1024 * 1024;
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("data.bin");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
        let mut xof = blake3::Hasher::new().update(b"bench").finalize_xof();
        let mut buf = vec![0u8; 1 << 20];
        for _ in 0..mib {
            xof.fill(&mut buf);
            out.write_all(&buf).unwrap();
        }
    }

    let alice_dir = tempfile::tempdir().unwrap();
    let bob_dir = tempfile::tempdir().unwrap();
    let max = mib.max(100) + 1;
    std::fs::write(
        alice_dir.path().join("config.toml"),
        format!("[blobs]\nmax_file_mib = {max}\n"),
    )
    .unwrap();
    std::fs::write(
        bob_dir.path().join("config.toml"),
        format!("[blobs]\neager_mib = 0\nmax_file_mib = {max}\n"),
    )
    .unwrap();
    let alice = Up::start(&Kith::release(), alice_dir.path());
    let bob = Kith::release()
        .up(bob_dir.path())
        .env("RUST_LOG", "kith_node=info")
        .log_to(work.path().join("bob.log"))
        .ready();
    let (ca, cb) = (alice.client(), bob.client());
    let code_a = ca.call(ops::Invite {}).unwrap().code;
    let code_b = cb.call(ops::Invite {}).unwrap().code;
    ca.call(ops::Join {
        code: code_b,
        petname: None,
    })
    .unwrap();
    cb.call(ops::Join {
        code: code_a,
        petname: None,
    })
    .unwrap();

    println!("## blob transfer: {mib} MiB between two `kith up` processes on loopback");
    // For profilers: the two processes.
    eprintln!("pids: alice {} bob {}", alice.pid(), bob.pid());
    let mut tcp_rates = Vec::new();
    let mut kith_rates = Vec::new();
    let mut peaks = Vec::new();
    let idle = bob.rss_kib();
    for run in 0..RUNS {
        let tcp = tcp_copy(&file, &work.path().join(format!("copy{run}.bin")));
        tcp_rates.push(size as f64 / tcp.as_secs_f64() / 1e6);

        // A new file each run (the same bytes would be here already).
        let path = work.path().join(format!("attach{run}.bin"));
        std::fs::copy(&file, &path).unwrap();
        {
            let mut f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.write_all(format!("run {run}").as_bytes()).unwrap();
        }
        let added = ca
            .call(ops::BlobAdd {
                path: path.to_string_lossy().into_owned(),
                name: None,
                media_type: None,
                declare: false,
            })
            .unwrap();
        let post = ca
            .call(ops::Post {
                files: vec![added.file.clone()],
                ..ops::Post::note("the data")
            })
            .unwrap();
        // Bob has the post (its reference), not the file.
        let deadline = Instant::now() + Duration::from_secs(60);
        while cb
            .call(ops::BlobInfo {
                hash: added.file.hash.to_string(),
                entry: None,
            })
            .is_err()
        {
            assert!(Instant::now() < deadline, "bob never got {}", post.id);
            std::thread::sleep(Duration::from_millis(20));
        }
        let sampling = Arc::new(AtomicBool::new(true));
        let peak = Arc::new(AtomicU64::new(0));
        let sampler = {
            let (sampling, peak, pid) = (sampling.clone(), peak.clone(), bob.pid());
            std::thread::spawn(move || {
                while sampling.load(Ordering::Relaxed) {
                    if let Some(rss) = kith_testkit::process::status_kib(pid, "VmRSS:") {
                        peak.fetch_max(rss, Ordering::Relaxed);
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
            })
        };
        let t = Instant::now();
        let mut sink = Counted(0);
        cb.call_into(
            ops::BlobGet {
                hash: added.file.hash.to_string(),
                entry: None,
            },
            &mut sink,
        )
        .unwrap();
        let elapsed = t.elapsed();
        sampling.store(false, Ordering::Relaxed);
        sampler.join().unwrap();
        assert_eq!(sink.0, size);
        kith_rates.push(size as f64 / elapsed.as_secs_f64() / 1e6);
        peaks.push(peak.load(Ordering::Relaxed));
        println!(
            "run {run}: tcp copy {:.0} MB/s, kith fetch {:.0} MB/s ({:.2?}), ratio {:.2}; bob's RSS peak {} MiB (idle before: {} MiB)",
            tcp_rates[run],
            kith_rates[run],
            elapsed,
            kith_rates[run] / tcp_rates[run],
            peak.load(Ordering::Relaxed) / 1024,
            idle / 1024,
        );
    }
    // What the fetcher said of each fetch (ranges, then the whole).
    let log = std::fs::read_to_string(work.path().join("bob.log")).unwrap_or_default();
    for line in log.lines().filter(|l| l.contains("fetched a file")) {
        println!(
            "bob: {}",
            line.split("fetched a file").last().unwrap_or("").trim()
        );
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (t, k) = (median(&mut tcp_rates), median(&mut kith_rates));
    println!(
        "median: tcp copy {t:.0} MB/s, kith fetch {k:.0} MB/s, ratio {:.2}",
        k / t
    );
    println!(
        "bob's RSS: idle {} MiB, highest peak during a fetch {} MiB ({} MiB file)",
        idle / 1024,
        peaks.iter().max().unwrap() / 1024,
        mib
    );
}

/// Bytes written, dropped.
struct Counted(u64);

impl Write for Counted {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0 += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The baseline: `from` sent over a loopback TCP connection and written
/// to `to`, synced.
fn tcp_copy(from: &Path, to: &Path) -> Duration {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let from = from.to_path_buf();
    let t = Instant::now();
    let sender = std::thread::spawn(move || {
        let (mut socket, _) = listener.accept().unwrap();
        let mut input = std::fs::File::open(from).unwrap();
        std::io::copy(&mut input, &mut socket).unwrap();
    });
    let mut socket = TcpStream::connect(addr).unwrap();
    let mut out = std::fs::File::create(to).unwrap();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = socket.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).unwrap();
    }
    out.sync_all().unwrap();
    sender.join().unwrap();
    let elapsed = t.elapsed();
    std::fs::remove_file(to).unwrap();
    elapsed
}
