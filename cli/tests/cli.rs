//! The `kith` binary end to end, in temporary data dirs.
#![allow(clippy::unwrap_used)]

use assert_cmd::Command;
use kith_testkit::process::Kith;
use predicates::prelude::*;
use serde_json::Value;

fn kith(dir: &tempfile::TempDir) -> Command {
    Command::from_std(Kith::at(env!("CARGO_BIN_EXE_kith")).command(dir.path()))
}

fn stdout_of(cmd: &mut Command) -> String {
    let out = cmd.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap()
}

#[test]
fn init_post_feed_json_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let author = stdout_of(kith(&dir).args(["init", "--name", "Alice"]));
    let author = author.trim();
    assert!(author.starts_with("12D3KooW"), "{author}");
    assert_eq!(stdout_of(kith(&dir).arg("id")).trim(), author);

    let id1 = stdout_of(kith(&dir).args(["post", "first *note*", "--tag", "rust", "--tag", "p2p"]));
    let id2 = stdout_of(kith(&dir).args(["post", "-"]).write_stdin("from stdin\n"));
    let file = dir.path().join("q.md");
    std::fs::write(&file, "how do I sync?").unwrap();
    let id3 = stdout_of(
        kith(&dir)
            .args(["post", "--kind", "question", "--file"])
            .arg(&file),
    );
    let reply = stdout_of(kith(&dir).args([
        "post",
        "like this",
        "--kind",
        "answer",
        "--reply-to",
        &id3.trim()[..10],
    ]));

    let feed: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["feed", "--json"]))).unwrap();
    let items = feed.as_array().unwrap();
    assert_eq!(items.len(), 4);
    let newest = &items[0];
    assert_eq!(newest["id"], reply.trim());
    assert_eq!(newest["kind"], "answer");
    assert_eq!(newest["reply_to"], id3.trim());
    let first = &items[3];
    assert_eq!(first["id"], id1.trim());
    assert_eq!(first["author"], author);
    assert_eq!(first["author_name"], "Alice");
    assert_eq!(
        first["seq"], 3,
        "seq 1 is the encryption key, 2 the profile"
    );
    assert_eq!(first["text"], "first *note*");
    assert_eq!(first["tags"], serde_json::json!(["rust", "p2p"]));
    assert!(first["reply_to"].is_null());
    assert!(first["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
    assert_eq!(items[2]["id"], id2.trim());
    assert_eq!(items[2]["text"], "from stdin\n");

    let limited: Value = serde_json::from_str(&stdout_of(
        kith(&dir).args(["feed", "--json", "--limit", "1", "--kind", "question"]),
    ))
    .unwrap();
    assert_eq!(limited.as_array().unwrap().len(), 1);
    assert_eq!(limited[0]["id"], id3.trim());

    kith(&dir)
        .args(["log", "verify"])
        .assert()
        .success()
        .stdout(predicate::str::contains("6 entries"));
    kith(&dir).arg("reindex").assert().success();
    let again: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["feed", "--json"]))).unwrap();
    assert_eq!(again, feed);
}

#[test]
fn trust_add_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    let bob = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    kith(&dir)
        .args(["trust", "add", bob, "--name", "Bob"])
        .assert()
        .success();
    let list: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["trust", "list", "--json"]))).unwrap();
    assert_eq!(list[0]["author"], bob);
    assert_eq!(list[0]["petname"], "Bob");
    kith(&dir).args(["trust", "remove", bob]).assert().success();
    kith(&dir)
        .args(["trust", "remove", bob])
        .assert()
        .failure()
        .stderr(predicate::str::contains("was not in your trust list"));
}

#[test]
fn device_commands_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    let person: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["device", "list", "--json"]))).unwrap();
    assert_eq!(person["root"], person["identity"]);
    assert_eq!(person["devices"][0]["this_device"], true);
    assert_eq!(person["devices"][0]["role"], "identity");
    // A link code needs the running node the new device connects to.
    kith(&dir)
        .args(["device", "link"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("kith up"));
    // An invite code is not a link code.
    kith(&dir)
        .args(["device", "join", "kith1abcdef"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("invite code"));
    kith(&dir)
        .args(["device", "join", "kithd1zzzz"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("damaged"));
    let stranger = "12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA";
    kith(&dir)
        .args(["device", "revoke", stranger])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not one of your devices"));
}

#[test]
fn no_identity_yet() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir)
        .args(["post", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("run `kith init`"));
    kith(&dir)
        .arg("feed")
        .assert()
        .failure()
        .stderr(predicate::str::contains("kith init"));
}

#[test]
fn init_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    let first = stdout_of(kith(&dir).arg("init"));
    kith(&dir)
        .arg("init")
        .assert()
        .failure()
        .stderr(predicate::str::contains("refusing to overwrite"));
    assert_eq!(stdout_of(kith(&dir).arg("id")), first);
}

#[test]
fn malformed_author_id() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    kith(&dir)
        .args(["trust", "add", "not-a-key"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a valid author id"));
    kith(&dir)
        .args(["feed", "--author", "12D3KooWnope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a valid author id"));
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    kith(&dir)
        .args(["post", "--file", "/definitely/not/here.md"])
        .assert()
        .failure()
        .stderr(predicate::str::contains(
            "cannot read /definitely/not/here.md",
        ));
}

#[test]
fn errors_are_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = kith(&dir)
        .args(["post", "x"])
        .assert()
        .failure()
        .get_output()
        .stderr
        .clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    assert!(text.starts_with("error: "));
}

#[test]
fn locked_store() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    // Another process (here: this test) holds the store open.
    let _held = kith_node::store::Store::open(
        &dir.path().join("store"),
        &kith_node::store::kv::KvConfig::default(),
        kith_protocol::Limits::default(),
    )
    .unwrap();
    kith(&dir)
        .args(["post", "hello"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("locked"));
}

#[test]
fn bad_flags_are_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir)
        .args(["feed", "--limit", "many"])
        .assert()
        .code(2);
    kith(&dir)
        .args(["post", "x", "--kind", "poem"])
        .assert()
        .code(2);
    kith(&dir).args(["completions", "tcsh"]).assert().code(2);
}

#[test]
fn version_names_the_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let out = stdout_of(kith(&dir).arg("--version"));
    assert!(out.starts_with("kith 0."), "{out}");
    assert!(out.contains("(protocol 1, bundle format 1)"), "{out}");
}

#[test]
fn shell_completions_cover_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, marker) in [
        ("bash", "complete -F"),
        ("zsh", "#compdef kith"),
        ("fish", "complete -c kith"),
    ] {
        let script = String::from_utf8(
            kith(&dir)
                .args(["completions", shell])
                .assert()
                .success()
                .get_output()
                .stdout
                .clone(),
        )
        .unwrap();
        assert!(script.contains(marker), "{shell}: {script}");
        for command in ["feed", "wiki", "bundle", "completions"] {
            assert!(script.contains(command), "{shell} lacks {command}");
        }
    }
    // Nothing was written to the data dir.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn wiki_export_import_round_trip_and_reimport_updates_in_place() {
    let a = tempfile::tempdir().unwrap();
    kith(&a).args(["init"]).assert().success();
    kith(&a)
        .args(["wiki", "new", "Home", "--file", "-"])
        .write_stdin("Welcome. See [[Notes/Setup]].\n")
        .assert()
        .success();
    kith(&a)
        .args(["wiki", "new", "Notes/Setup", "--file", "-"])
        .write_stdin("Install *everything*.\n")
        .assert()
        .success();
    let out = tempfile::tempdir().unwrap();
    kith(&a)
        .args(["wiki", "export"])
        .arg(out.path())
        .assert()
        .success();
    let files: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    assert_eq!(files.len(), 2, "{files:?}");
    let setup = std::fs::read_to_string(out.path().join("Notes-Setup.md")).unwrap();
    assert!(setup.starts_with("---\nid: "), "{setup}");
    assert!(setup.contains("title: \"Notes/Setup\""));
    assert!(setup.contains("updated: 20"));
    assert!(setup.ends_with("---\nInstall *everything*.\n"));

    // Into a fresh node: the same pages.
    let b = tempfile::tempdir().unwrap();
    kith(&b).args(["init"]).assert().success();
    kith(&b)
        .args(["wiki", "import"])
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("2 created"));
    let show: Value = serde_json::from_str(&stdout_of(
        kith(&b).args(["wiki", "show", "Home", "--json"]),
    ))
    .unwrap();
    assert_eq!(show["body"], "Welcome. See [[Notes/Setup]].\n");
    let setup_b: Value = serde_json::from_str(&stdout_of(kith(&b).args([
        "wiki",
        "show",
        "notes/setup",
        "--json",
    ])))
    .unwrap();
    assert_eq!(setup_b["backlinks"][0]["title"], "Home");

    // Re-import: nothing duplicated; an edited file updates its page in place.
    kith(&b)
        .args(["wiki", "import"])
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 created, 0 updated, 2 unchanged",
        ));
    std::fs::write(out.path().join("Home.md"), setup_like_home(&out)).unwrap();
    kith(&b)
        .args(["wiki", "import"])
        .arg(out.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "0 created, 1 updated, 1 unchanged",
        ));
    let list: Value =
        serde_json::from_str(&stdout_of(kith(&b).args(["wiki", "list", "--json"]))).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    let home: Value = serde_json::from_str(&stdout_of(
        kith(&b).args(["wiki", "show", "Home", "--json"]),
    ))
    .unwrap();
    assert_eq!(home["body"], "Welcome back.\n");

    // An Obsidian-style note without front matter becomes a page by file name.
    let vault = tempfile::tempdir().unwrap();
    std::fs::create_dir(vault.path().join(".obsidian")).unwrap();
    std::fs::write(vault.path().join(".obsidian/app.json"), "{}").unwrap();
    std::fs::write(vault.path().join("Daily note.md"), "plain text\n").unwrap();
    kith(&b)
        .args(["wiki", "import"])
        .arg(vault.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("1 created"));
    let daily: Value = serde_json::from_str(&stdout_of(kith(&b).args([
        "wiki",
        "show",
        "Daily note",
        "--json",
    ])))
    .unwrap();
    assert_eq!(daily["body"], "plain text\n");
}

/// Home.md with its body replaced, front matter kept.
fn setup_like_home(out: &tempfile::TempDir) -> String {
    let home = std::fs::read_to_string(out.path().join("Home.md")).unwrap();
    let end = home.find("\n---\n").unwrap() + 5;
    format!("{}Welcome back.\n", &home[..end])
}

#[test]
fn wiki_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    kith(&dir)
        .args(["wiki", "show", "Nowhere"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no page \"Nowhere\""));
    kith(&dir).args(["wiki", "new", "Dup"]).assert().success();
    kith(&dir)
        .args(["wiki", "new", "dup"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("already exists"));
    kith(&dir)
        .args(["wiki", "new", "  "])
        .assert()
        .failure()
        .stderr(predicate::str::contains("needs a title"));
    kith(&dir)
        .args([
            "wiki",
            "export",
            "Dup",
            "--automerge",
            "/nonexistent-dir/x.automerge",
        ])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot write"));
}

#[test]
fn ask_offers_the_matching_question_before_posting() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    let first = stdout_of(kith(&dir).args([
        "ask",
        "How do I rotate the TLS certificates on staging?",
        "--tag",
        "ops",
    ]));
    let first = first.trim().lines().last().unwrap().to_string();
    // Not a terminal: the match is shown and nothing is posted.
    kith(&dir)
        .args(["ask", "Rotating TLS certificates for staging?"])
        .assert()
        .failure()
        .stdout(predicate::str::contains(&first[..12]))
        // Plain text in a pipe: no markers, no colour codes.
        .stdout(predicate::str::contains(
            "rotate the TLS certificates on staging?",
        ))
        .stdout(predicate::str::contains("**").not())
        .stdout(predicate::str::contains("\u{1b}").not())
        .stderr(predicate::str::contains("--yes"));
    let questions: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["questions", "--json"]))).unwrap();
    assert_eq!(questions.as_array().unwrap().len(), 1);
    // --yes asks anyway; the new id is the last line.
    let second =
        stdout_of(kith(&dir).args(["ask", "Rotating TLS certificates for staging?", "--yes"]));
    assert_eq!(second.trim().len(), 64);
    let answer = stdout_of(kith(&dir).args(["answer", &first[..10], "certbot renew"]));
    let thread: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["thread", &first, "--json"]))).unwrap();
    assert_eq!(thread["id"], first.as_str());
    assert_eq!(thread["kind"], "question");
    assert_eq!(thread["answers"][0]["id"], answer.trim());
    assert_eq!(thread["answers"][0]["score"], 0.0);
    assert_eq!(thread["answers"][0]["accepted"], false);
    assert!(
        thread["answers"][0]["endorsed_by"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert!(thread["replies"].as_array().unwrap().is_empty());
    kith(&dir)
        .args(["endorse", answer.trim()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("cannot endorse your own"));
    kith(&dir)
        .args(["accept", answer.trim()])
        .assert()
        .success();
    let unanswered: Value = serde_json::from_str(&stdout_of(kith(&dir).args([
        "questions",
        "--unanswered",
        "--json",
    ])))
    .unwrap();
    assert_eq!(
        unanswered.as_array().unwrap().len(),
        1,
        "the second question"
    );
    let hits: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["search", "certbot", "--json"]))).unwrap();
    assert_eq!(hits[0]["id"], answer.trim());
    kith(&dir)
        .args(["delete", answer.trim()])
        .assert()
        .success();
    let hits: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["search", "certbot", "--json"]))).unwrap();
    assert!(hits.as_array().unwrap().is_empty());
}

#[test]
fn forks_are_listed_and_can_be_cleared() {
    use kith_protocol::{Body, Draft, Entry, Keypair, Post, PostKind};
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    let x = Keypair::from_secret(&[9; 32]);
    kith(&dir)
        .args(["trust", "add", &x.author().to_string()])
        .assert()
        .success();
    {
        let data_dir = kith_node::DataDir::new(dir.path());
        let me = kith_node::identity::load(&data_dir.identity()).unwrap();
        let mut core = kith_node::Core::open(kith_node::Config::new(data_dir), me).unwrap();
        let entry = |text: &str| {
            let body = Body::Post(Post {
                kind: PostKind::Note,
                text: text.into(),
                reply_to: None,
                tags: vec![],
                files: Vec::new(),
                mentions: Vec::new(),
            });
            Entry::sign(
                &x,
                Draft {
                    seq: 1,
                    prev: None,
                    timestamp_ms: 1_700_000_000_000,
                    body: body.encode(),
                },
            )
        };
        assert!(core.ingest(&[entry("one")]).error.is_none());
        assert!(core.ingest(&[entry("two")]).error.is_some(), "a fork");
        core.close().unwrap();
    }
    let forks: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["forks", "list", "--json"]))).unwrap();
    assert_eq!(forks[0]["author"], x.author().to_string());
    assert_eq!(forks[0]["seq"], 1);
    let status: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["status", "--json"]))).unwrap();
    assert!(
        status["authors"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["forked"] == true)
    );
    kith(&dir)
        .args(["forks", "clear", &x.author().to_string()])
        .assert()
        .success();
    let forks: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["forks", "list", "--json"]))).unwrap();
    assert!(forks.as_array().unwrap().is_empty());
    kith(&dir)
        .args(["forks", "clear", &x.author().to_string()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no fork recorded"));
}

/// What an adversarial probe found (issue 11), each held by a test.
#[test]
fn hostile_text_and_files_are_refused_or_made_inert() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir)
        .args(["init", "--name", "Ada"])
        .assert()
        .success();
    // Labels with escape sequences, bidi overrides or no end are refused.
    for name in ["Ada\u{1b}]0;pwned\u{7}", "evil\u{202E}gnp.exe"] {
        kith(&dir)
            .args(["profile", "set", "--name", name])
            .assert()
            .failure()
            .stderr(predicate::str::contains("control character"));
    }
    kith(&dir)
        .args(["profile", "set", "--name", &"x".repeat(10_000)])
        .assert()
        .failure()
        .stderr(predicate::str::contains("at most 64 characters"));
    // Text others wrote reaches the terminal inert.
    kith(&dir)
        .args(["post", "hello \u{1b}[2J\u{1b}]8;;http://x\u{7}world"])
        .assert()
        .success();
    let feed = stdout_of(kith(&dir).args(["feed"]));
    assert!(!feed.contains('\u{1b}'), "{feed:?}");
    assert!(feed.contains("hello \u{FFFD}[2J"), "{feed:?}");
    // `--json` keeps the text as written (JSON escapes it).
    let json = stdout_of(kith(&dir).args(["feed", "--json"]));
    assert!(json.contains("\\u001b[2J"), "{json}");
    // Oversized input is refused by name, never read whole.
    let big = dir.path().join("big.txt");
    std::fs::write(&big, vec![b'a'; 200 * 1024]).unwrap();
    kith(&dir)
        .args(["post", "--file", big.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("a post is at most 64 KiB"));
    kith(&dir)
        .args(["bundle", "import", "/dev/zero"])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .failure()
        .stderr(predicate::str::contains("not a Kith bundle"));
}

#[test]
fn wiki_import_never_follows_links_and_checks_every_file_first() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).args(["init"]).assert().success();
    let pages = tempfile::tempdir().unwrap();
    let d = pages.path();
    std::fs::write(d.join("Good.md"), "fine\n").unwrap();
    let secret = tempfile::tempdir().unwrap();
    std::fs::write(secret.path().join("passwd.md"), "root:x:0:0\n").unwrap();
    #[cfg(unix)]
    {
        std::os::unix::fs::symlink(secret.path().join("passwd.md"), d.join("passwd.md")).unwrap();
        std::os::unix::fs::symlink(".", d.join("loop1")).unwrap();
        std::os::unix::fs::symlink(".", d.join("loop2")).unwrap();
    }
    kith(&dir)
        .args(["wiki", "import", d.to_str().unwrap()])
        .timeout(std::time::Duration::from_secs(60))
        .assert()
        .success()
        .stderr(predicate::str::contains("links are not followed"));
    let list = stdout_of(kith(&dir).args(["wiki", "list", "--json"]));
    assert!(list.contains("Good") && !list.contains("passwd"), "{list}");
    // A bad file among good ones: nothing is written, the file is named.
    std::fs::write(d.join("Another.md"), "also fine\n").unwrap();
    std::fs::write(d.join("Bad.md"), "---\ntitle: \"two\\nlines\"\n---\nbody\n").unwrap();
    kith(&dir)
        .args(["wiki", "import", d.to_str().unwrap()])
        .assert()
        .failure()
        .stderr(predicate::str::contains("Bad.md"));
    let list = stdout_of(kith(&dir).args(["wiki", "list", "--json"]));
    assert!(!list.contains("Another"), "nothing applied: {list}");
}

#[test]
fn wiki_history_shows_word_diffs_blame_revert_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir)
        .args(["init", "--name", "Alice"])
        .assert()
        .success();
    kith(&dir)
        .args(["wiki", "new", "Plan", "--file", "-"])
        .write_stdin("We ship on Monday.\nThen we rest.\n")
        .assert()
        .success();
    kith(&dir)
        .args(["wiki", "edit", "Plan", "-"])
        .write_stdin("We ship on Friday, after review.\nThen we rest.\n")
        .assert()
        .success();
    // Not a terminal: the diff is plain [-removed-] {+added+}.
    let history = stdout_of(kith(&dir).args(["wiki", "history", "Plan"]));
    assert!(
        history.contains("We ship on [-Monday-]{+Friday, after review+}."),
        "{history}"
    );
    let items: Value = serde_json::from_str(&stdout_of(
        kith(&dir).args(["wiki", "history", "Plan", "--json"]),
    ))
    .unwrap();
    let edit = items[0]["entry"].as_str().unwrap()[..12].to_string();
    let created = items[1]["entry"].as_str().unwrap().to_string();
    let diff = stdout_of(kith(&dir).args(["wiki", "diff", "Plan", &edit]));
    assert!(diff.contains("{+Friday, after review+}"), "{diff}");
    let blame = stdout_of(kith(&dir).args(["wiki", "blame", "Plan"]));
    assert!(
        blame.contains("Alice") && blame.contains("Then we rest."),
        "{blame}"
    );
    let blame: Value = serde_json::from_str(&stdout_of(
        kith(&dir).args(["wiki", "blame", "Plan", "--json"]),
    ))
    .unwrap();
    assert_eq!(
        blame["lines"][0]["text"],
        "We ship on Friday, after review."
    );
    assert_eq!(blame["lines"][0]["author_name"], "Alice");
    let then = stdout_of(kith(&dir).args(["wiki", "show", "Plan", "--at", &created]));
    assert!(then.contains("We ship on Monday."), "{then}");
    kith(&dir)
        .args(["wiki", "revert", "Plan", &edit])
        .assert()
        .success();
    let shown: Value = serde_json::from_str(&stdout_of(
        kith(&dir).args(["wiki", "show", "Plan", "--json"]),
    ))
    .unwrap();
    assert_eq!(shown["body"], "We ship on Monday.\nThen we rest.\n");
    kith(&dir)
        .args(["wiki", "edit", "Plan", "-"])
        .write_stdin("Gone.\n")
        .assert()
        .success();
    kith(&dir)
        .args(["wiki", "restore", "Plan", "--at", &edit])
        .assert()
        .success()
        .stdout(predicate::str::contains("restored to that version"));
    let shown: Value = serde_json::from_str(&stdout_of(
        kith(&dir).args(["wiki", "show", "Plan", "--json"]),
    ))
    .unwrap();
    assert_eq!(
        shown["body"],
        "We ship on Friday, after review.\nThen we rest.\n"
    );
    kith(&dir)
        .args(["wiki", "diff", "Plan", "nope"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("no change \"nope\""));
}

#[test]
fn wiki_rename_keeps_old_links_and_can_update_them() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    kith(&dir)
        .args(["wiki", "new", "Glossary"])
        .assert()
        .success();
    kith(&dir)
        .args(["wiki", "new", "Guide", "--file", "-"])
        .write_stdin("See [[Glossary]] and [[Missing Page]].\n")
        .assert()
        .success();
    kith(&dir)
        .args(["wiki", "show", "Guide"])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "links to missing pages: [[Missing Page]]",
        ));
    kith(&dir)
        .args(["wiki", "rename", "Glossary", "Terms"])
        .assert()
        .success()
        .stdout(predicate::str::contains("[[Glossary]] links keep working"));
    kith(&dir)
        .args(["wiki", "show", "Glossary"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("# Terms").and(predicate::str::contains("linked from: Guide")),
        );
    kith(&dir)
        .args(["wiki", "rename", "Terms", "Vocabulary", "--update-links"])
        .assert()
        .success()
        .stdout(predicate::str::contains("links updated in 1 page: Guide"));
    kith(&dir)
        .args(["wiki", "show", "Guide"])
        .assert()
        .success()
        .stdout(predicate::str::contains("See [[Vocabulary]]"));
}

#[test]
fn bookmarks_add_list_remove_and_say_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    let id = stdout_of(kith(&dir).args(["post", "a note worth keeping"]));
    let id = id.trim().lines().last().unwrap().to_string();
    kith(&dir)
        .args(["bookmark", "add", &id[..10], "--note", "read on Monday"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id));
    let listed: Value =
        serde_json::from_str(&stdout_of(kith(&dir).args(["bookmark", "list", "--json"]))).unwrap();
    assert_eq!(listed[0]["entry"], id.as_str());
    assert_eq!(listed[0]["note"], "read on Monday");
    assert_eq!(listed[0]["post"]["text"], "a note worth keeping");
    kith(&dir)
        .args(["bookmark", "list"])
        .assert()
        .success()
        .stdout(predicate::str::contains("read on Monday"));
    kith(&dir)
        .args(["bookmark", "add", &id, "--note", "x\u{1b}[31m"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("control character"));
    kith(&dir)
        .args(["bookmark", "add", "abcd1234"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("abcd1234"));
    kith(&dir).args(["reindex"]).assert().success();
    kith(&dir)
        .args(["bookmark", "remove", &id[..10]])
        .assert()
        .success();
    kith(&dir)
        .args(["bookmark", "remove", &id[..10]])
        .assert()
        .failure()
        .stderr(predicate::str::contains("is not bookmarked"));
    kith(&dir)
        .args(["bookmark", "list"])
        .assert()
        .success()
        .stderr(predicate::str::contains("no bookmarks yet"));
}

#[test]
fn wiki_show_prints_the_title_once_and_text_without_carriage_returns() {
    let dir = tempfile::tempdir().unwrap();
    kith(&dir).arg("init").assert().success();
    kith(&dir)
        .args(["wiki", "new", "Guide", "--file", "-"])
        .write_stdin("# Guide\r\n\r\nHow we work.\r\n")
        .assert()
        .success();
    let shown = stdout_of(kith(&dir).args(["wiki", "show", "Guide"]));
    assert_eq!(shown.matches("# Guide").count(), 1, "{shown}");
    assert!(!shown.contains('\r'), "{shown:?}");
    kith(&dir)
        .args(["wiki", "new", "Plain", "--file", "-"])
        .write_stdin("No heading here.\n")
        .assert()
        .success();
    let shown = stdout_of(kith(&dir).args(["wiki", "show", "Plain"]));
    assert!(shown.starts_with("# Plain\n\nNo heading here."), "{shown}");
    stdout_of(kith(&dir).args(["post", "two\r\nlines"]));
    let feed = stdout_of(kith(&dir).args(["feed"]));
    assert!(feed.contains("two") && !feed.contains('\r'), "{feed:?}");
}
