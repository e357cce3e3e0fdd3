//! The web app in real headless Chromium: runs `tests/e2e/web.mjs`
//! (playwright-core) against two `kith up` processes. The test installs
//! the npm packages itself (`npm ci`): playwright-core, and the Chromium
//! binary that the npm package `@sparticuz/chromium` carries in its tarball
//! (`tests/e2e/browser.mjs` unpacks it once; `CHROMIUM` names another
//! binary). Nothing is downloaded from outside the npm registry and nothing
//! needs installing by hand beyond Node.js and npm; if they are missing the
//! test fails with the command that installs them. Screenshots land in
//! `target/e2e-screenshots/`.

use std::path::PathBuf;
use std::process::Command;

/// Installs the npm packages of `tests/e2e` once per run (`npm ci`).
fn npm_packages(e2e: &std::path::Path) {
    static ONCE: std::sync::Mutex<bool> = std::sync::Mutex::new(false);
    let mut done = ONCE.lock().unwrap_or_else(|e| e.into_inner());
    if *done {
        return;
    }
    let node = Command::new("node").arg("--version").output();
    assert!(
        node.is_ok_and(|o| o.status.success()),
        "Node.js not found: install it with `sudo apt-get install -y nodejs npm`"
    );
    let installed = [
        "playwright-core",
        "@automerge/automerge",
        "@sparticuz/chromium",
    ]
    .iter()
    .all(|p| e2e.join("node_modules").join(p).exists());
    if !installed {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(e2e)
            .output()
            .expect("npm comes with Node.js: `sudo apt-get install -y nodejs npm`");
        assert!(
            out.status.success(),
            "`npm ci --prefix tests/e2e` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    *done = true;
}

/// A page exported by `kith wiki export --automerge` opens in Automerge's
/// JavaScript implementation with the same title and text: the export is
/// a standard document, not something only this crate reads.
#[test]
fn the_automerge_export_opens_in_automerge_js() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let e2e = root.join("tests/e2e");
    npm_packages(&e2e);
    let dir = tempfile::tempdir().unwrap();
    let kith = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = assert_cmd::Command::from_std(
            kith_testkit::process::Kith::at(env!("CARGO_BIN_EXE_kith")).command(dir.path()),
        );
        cmd.args(args);
        if let Some(input) = stdin {
            cmd.write_stdin(input);
        }
        let out = cmd.assert().success().get_output().stdout.clone();
        String::from_utf8(out).unwrap()
    };
    kith(&["init"], None);
    kith(
        &["wiki", "new", "Field guide", "--file", "-"],
        Some("Pack light.\n\nWater first — ünïcödé and emoji 🌲.\n"),
    );
    kith(
        &["wiki", "edit", "Field guide", "-"],
        Some("Pack light, pack early.\n\nWater first — ünïcödé and emoji 🌲.\nMaps too.\n"),
    );
    kith(&["wiki", "rename", "Field guide", "Trail guide"], None);
    let file = dir.path().join("page.automerge");
    kith(
        &[
            "wiki",
            "export",
            "Trail guide",
            "--automerge",
            file.to_str().unwrap(),
        ],
        None,
    );
    let out = Command::new("node")
        .arg(e2e.join("open-automerge.mjs"))
        .arg(&file)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "Automerge JS could not open the export:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let opened: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(opened["title"], "Trail guide");
    assert_eq!(
        opened["body"],
        "Pack light, pack early.\n\nWater first — ünïcödé and emoji 🌲.\nMaps too.\n"
    );
    assert_eq!(opened["archived"], false);
    assert!(opened["changes"].as_u64().unwrap() >= 3, "{opened}");
}

#[test]
fn web_app_end_to_end_in_chromium() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let e2e = root.join("tests/e2e");
    npm_packages(&e2e);
    let shots = root.join("target/e2e-screenshots");
    let status = Command::new("node")
        .arg(e2e.join("web.mjs"))
        .env("KITH_BIN", env!("CARGO_BIN_EXE_kith"))
        .env("SCREENSHOT_DIR", &shots)
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
