#!/usr/bin/env python3
"""Traces one `kith post` on a running node and shows that the post is
durable before the CLI prints its id: between the node's last write to the
store's data file (`store/db`) and the CLI's answer, the node calls
`fdatasync` on that file (sled's own flush stops at `sync_file_range`, which
leaves the disk's write cache unflushed). Needs strace.

    scripts/trace-durability.py [path/to/kith]   (default: target/release/kith)

Prints the syscalls on the data file during the post, in order, and exits 1
if no fdatasync/fsync of it lies between its last write and the answer.
"""

import os
import signal  # noqa: F401 (SIGINT is 2)
import re
import subprocess
import sys
import tempfile
import time

kith = sys.argv[1] if len(sys.argv) > 1 else "target/release/kith"
home = tempfile.mkdtemp(prefix="kith-trace-")
env = dict(os.environ, KITH_DATA_DIR=f"{home}/data", KITH_STATE_DIR=f"{home}/state",
           KITH_NAME="tracer", RUST_LOG="warn")
subprocess.run([kith, "init"], env=env, check=True, capture_output=True)
trace = f"{home}/trace.txt"
node = subprocess.Popen(
    ["strace", "-f", "-tt", "-e", "trace=openat,pwrite64,write,fsync,fdatasync,sync_file_range",
     "-o", trace, kith, "up", "--no-mdns", "--listen", "/ip4/127.0.0.1/tcp/0", "--api", "0"],
    env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    start_new_session=True)
try:
    # Wait until the node answers (its own writes open after start).
    deadline = time.time() + 60
    while time.time() < deadline:
        if subprocess.run([kith, "status"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.5)
    time.sleep(6)  # past the start's wait for peers (none here)
    start = time.strftime("%H:%M:%S")
    t0 = time.time()
    posted = subprocess.run([kith, "post", "durable before acknowledged"], env=env,
                            capture_output=True, text=True, check=True)
    t1 = time.time()
finally:
    # Ctrl-C to the node (and strace with it): it flushes and stops.
    os.killpg(node.pid, 2)
    node.wait(timeout=60)

def clock(line):
    h, m, s = line.split()[1].split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)

def wall(t):
    lt = time.localtime(t)
    return lt.tm_hour * 3600 + lt.tm_min * 60 + lt.tm_sec + (t % 1)

lines = open(trace).read().splitlines()
db_fds = set()
events = []
for line in lines:
    m = re.search(r'openat\(AT_FDCWD, "[^"]*/store/db", .*\) = (\d+)', line)
    if m:
        db_fds.add(m.group(1))
        continue
    m = re.search(r"(pwrite64|write|fsync|fdatasync|sync_file_range)\((\d+)", line)
    if m and m.group(2) in db_fds:
        events.append((clock(line), m.group(1), line))
lo, hi = wall(t0), wall(t1)
during = [e for e in events if lo <= e[0] <= hi]
print(f"post answered: {posted.stdout.strip()}")
print(f"data file fds: {sorted(db_fds)}; calls on it while the post ran:")
for _, _, line in during:
    print("  " + line)
writes = [i for i, e in enumerate(during) if e[1] in ("pwrite64", "write")]
if not writes:
    print("no write to the data file during the post")
    sys.exit(1)
after = [e for e in during[writes[-1] + 1:] if e[1] in ("fdatasync", "fsync")]
if after:
    print(f"durable: {after[0][1]} of the data file after its last write, before the answer")
    sys.exit(0)
print("NOT durable: no fdatasync/fsync of the data file after its last write")
sys.exit(1)
