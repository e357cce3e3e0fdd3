// The Chromium the browser tests drive: $CHROMIUM if set, else the binary
// that the npm package @sparticuz/chromium carries inside its tarball
// (brotli-compressed), unpacked once into a cache directory. So
// `cargo test --workspace` needs nothing installed beyond Node.js and npm:
// no Debian package, no download from outside the npm registry.
//
// The package's own executablePath() is not used: it unpacks to a fixed
// path in /tmp and trusts any file found there, so two test processes
// starting at once (or one killed while unpacking) run a truncated binary.
// Here each process unpacks to its own temporary file and publishes it
// with link(2), which never replaces a binary another process already runs.
import { createReadStream, createWriteStream, existsSync, linkSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { fileURLToPath } from "node:url";
import { createBrotliDecompress } from "node:zlib";

export const LAUNCH_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

export async function chromiumPath() {
  if (process.env.CHROMIUM) return process.env.CHROMIUM;
  const pkg = join(dirname(fileURLToPath(import.meta.resolve("@sparticuz/chromium"))), "..");
  const { version } = JSON.parse(readFileSync(join(pkg, "package.json"), "utf8"));
  const dir = join(process.env.KITH_CHROMIUM_CACHE || tmpdir(), `kith-chromium-${version}`);
  const exe = join(dir, "chromium");
  if (existsSync(exe)) return exe;
  mkdirSync(dir, { recursive: true });
  const part = `${exe}.${process.pid}.part`;
  try {
    await pipeline(
      createReadStream(join(pkg, "bin", "chromium.br")),
      createBrotliDecompress({ chunkSize: 1 << 21 }),
      createWriteStream(part, { mode: 0o755 }),
    );
    try {
      linkSync(part, exe);
    } catch (e) {
      if (e.code !== "EEXIST") throw e;
    }
  } finally {
    rmSync(part, { force: true });
  }
  return exe;
}
