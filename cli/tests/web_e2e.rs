//! The web app in real headless Chromium: runs `tests/e2e/web.mjs`
//! (playwright-core) against two `kith up` processes. The test installs
//! the npm package itself (`npm ci`, no browser download: it drives the
//! system Chromium); if Node.js or Chromium is missing it fails with the
//! command that installs them. Screenshots land in `target/e2e-screenshots/`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn web_app_end_to_end_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let e2e = root.join("tests/e2e");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        std::path::Path::new(&chromium).exists(),
        "Chromium not found at {chromium}: install it with `sudo apt-get install -y chromium` (or set CHROMIUM to its path)"
    );
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "Node.js not found: install it with `sudo apt-get install -y nodejs npm`"
    );
    if !e2e.join("node_modules/playwright-core").exists() {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&e2e)
            .output()
            .expect("npm comes with Node.js: `sudo apt-get install -y nodejs npm`");
        assert!(
            out.status.success(),
            "`npm ci --prefix tests/e2e` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let shots = root.join("target/e2e-screenshots");
    let status = Command::new("node")
        .arg(e2e.join("web.mjs"))
        .env("KITH_BIN", env!("CARGO_BIN_EXE_kith"))
        .env("SCREENSHOT_DIR", &shots)
        .env("CHROMIUM", &chromium)
        .status()
        .expect("node (Node.js) must be installed to run the browser tests");
    assert!(
        status.success(),
        "browser end-to-end test failed (screenshots in {})",
        shots.display()
    );
    for name in [
        "05-feed-live",
        "06-thread-ranked",
        "09-wiki-merged",
        "02-people-invite",
        "desktop-feed",
        "phone-thread",
        "phone-status",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name} missing"
        );
    }
}
