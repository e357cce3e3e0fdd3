//! Files and images across nodes (PROTOCOL.md §13): an attachment reaches
//! a friend, a range with a flipped byte is refused and fetched from an
//! honest peer, and a stranger who knows the hash gets nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use kith_node::model::EntryView;
use kith_node::ops;
use kith_protocol::blob::{BlobHash, BlobRef, Request, Response};
use kith_testkit::{TestNode, connect, wait_until};
use libp2p::swarm::SwarmEvent;
use libp2p::{StreamProtocol, noise, request_response, tcp, yamux};

/// `len` bytes that do not compress, from `seed`.
fn random_bytes(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// Adds the file at `path` to `node`'s files: the reference a post carries.
async fn add(node: &TestNode, path: &Path) -> BlobRef {
    node.handle()
        .call(ops::BlobAdd {
            path: path.to_string_lossy().into_owned(),
            name: None,
            media_type: None,
            declare: false,
        })
        .await
        .unwrap()
        .file
}

/// Posts `text` on `node` with the file at `path` attached.
async fn post_with_file(node: &TestNode, text: &str, path: &Path) -> (EntryView, BlobRef) {
    let file = add(node, path).await;
    let posted = node
        .handle()
        .call(ops::Post {
            files: vec![file.clone()],
            ..ops::Post::note(text)
        })
        .await
        .unwrap();
    (posted, file)
}

async fn get(node: &TestNode, hash: &BlobHash) -> kith_node::Result<Vec<u8>> {
    node.handle()
        .call(ops::BlobGet {
            hash: hash.to_string(),
            entry: None,
        })
        .await?
        .into_bytes()
}

async fn held(node: &TestNode, hash: &BlobHash) -> bool {
    node.handle()
        .call(ops::BlobInfo {
            hash: hash.to_string(),
            entry: None,
        })
        .await
        .is_ok_and(|v| v.held)
}

/// Alice attaches a 10 MiB file to a post: Bob, her friend, holds it soon
/// after the post arrives (it is below the eager size), byte for byte,
/// with the signed name and type; a file above the eager size waits until
/// it is asked for, and then comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attachment_reaches_a_friend_eagerly_or_when_asked_for() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start_with("bob", 2, |c| c.blobs.eager_max = 12 * 1024 * 1024).await;
    connect(&alice, &bob).await;
    let small = random_bytes("small", 10 * 1024 * 1024 + 123);
    let big = random_bytes("big", 13 * 1024 * 1024);
    let files = tempfile::tempdir().unwrap();
    let (post, file) = post_with_file(
        &alice,
        "the crash log",
        &write_file(files.path(), "crash.log", &small),
    )
    .await;
    assert_eq!(post.files, vec![file.clone()]);
    assert_eq!(
        (file.media_type.as_str(), file.name.as_str()),
        ("text/plain", "crash.log")
    );
    bob.wait_for_seq(alice.author(), post.seq).await;
    wait_until(
        bob.handle(),
        || held(&bob, &file.hash),
        || async { "bob never fetched the attachment".to_string() },
    )
    .await;
    assert_eq!(get(&bob, &file.hash).await.unwrap(), small);
    let thread = bob
        .handle()
        .call(ops::Thread {
            id: post.id.to_hex().parse().unwrap(),
        })
        .await
        .unwrap();
    assert_eq!(thread.entry.files, vec![file]);

    let (post, file) = post_with_file(
        &alice,
        "the core dump",
        &write_file(files.path(), "core.bin", &big),
    )
    .await;
    bob.wait_for_seq(alice.author(), post.seq).await;
    // Not fetched on arrival: above Bob's eager size.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!held(&bob, &file.hash).await);
    assert_eq!(get(&bob, &file.hash).await.unwrap(), big);
    assert!(held(&bob, &file.hash).await);

    // Alice deletes the post: Bob's node, which fetched its file, drops it
    // when the deletion arrives (nothing else references it).
    alice
        .handle()
        .call(ops::Delete { id: post.id.into() })
        .await
        .unwrap();
    let hex = file.hash.to_string();
    let copy = bob.dir.path().join("blobs").join(&hex[..2]).join(&hex);
    wait_until(
        bob.handle(),
        || async { !copy.exists() },
        || async { "bob kept the file of a deleted post".to_string() },
    )
    .await;
}

/// Bob holds a copy of Alice's file with one byte flipped (a bad disk, or
/// a modified node). Carol fetches from Bob alone: the range is refused
/// (never written), and she does not hold the file. With Alice back,
/// Carol's next fetch refuses Bob's bad range again and takes it from
/// Alice: the file she holds is Alice's, byte for byte.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_range_with_a_flipped_byte_is_refused_and_the_file_comes_from_an_honest_peer() {
    let mut alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start("bob", 2).await;
    let carol = TestNode::start("carol", 3).await;
    connect(&alice, &bob).await;
    let bytes = random_bytes("report", 3 * 1024 * 1024 + 5);
    let files = tempfile::tempdir().unwrap();
    let (post, file) = post_with_file(
        &alice,
        "the report",
        &write_file(files.path(), "report.pdf", &bytes),
    )
    .await;
    wait_until(
        bob.handle(),
        || held(&bob, &file.hash),
        || async { "bob never fetched the attachment".to_string() },
    )
    .await;
    alice.stop().await;
    // Flip one byte of Bob's copy, in its second range.
    let hex = file.hash.to_string();
    let copy = bob.dir.path().join("blobs").join(&hex[..2]).join(&hex);
    let mut on_disk = std::fs::read(&copy).unwrap();
    on_disk[1024 * 1024 + 4321] ^= 0x40;
    std::fs::write(&copy, &on_disk).unwrap();

    carol.trust(&alice).await;
    connect(&bob, &carol).await;
    carol.wait_for_seq(alice.author(), post.seq).await;
    let refused = get(&carol, &file.hash).await.unwrap_err();
    assert!(
        refused.to_string().contains("no connected peer could send"),
        "{refused}"
    );
    assert!(!held(&carol, &file.hash).await);

    alice.restart().await;
    alice.trust(&carol).await;
    alice.dial(&carol).await;
    carol.wait_connected(&alice).await;
    assert_eq!(get(&carol, &file.hash).await.unwrap(), bytes);
}

/// Mallory saw the hash (in a post shown to her, say) and speaks the blob
/// protocol: Alice's node does not let her connect, so she gets no byte,
/// whatever she asks. Bob, a friend, asking the same, gets the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stranger_who_knows_the_hash_gets_nothing() {
    let alice = TestNode::start("alice", 1).await;
    let bob = TestNode::start_with("bob", 2, |c| c.blobs.eager_max = 0).await;
    connect(&alice, &bob).await;
    let bytes = random_bytes("private", 200_000);
    let files = tempfile::tempdir().unwrap();
    let (post, file) = post_with_file(
        &alice,
        "for friends",
        &write_file(files.path(), "plan.png", &bytes),
    )
    .await;

    let mut mallory = libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| {
            request_response::Behaviour::with_codec(
                RawBlobCodec,
                [(
                    StreamProtocol::new(kith_protocol::blob::PROTOCOL_NAME),
                    request_response::ProtocolSupport::Outbound,
                )],
                request_response::Config::default(),
            )
        })
        .unwrap()
        .build();
    let target = alice.addr();
    mallory.dial(target.clone()).unwrap();
    let peer = kith_node::swarm::peer_id(&alice.author());
    mallory.behaviour_mut().send_request(
        &peer,
        Request {
            hash: file.hash,
            offset: 0,
            len: 1024 * 1024,
        },
    );
    let outcome = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match mallory.select_next_some().await {
                SwarmEvent::Behaviour(request_response::Event::Message {
                    message: request_response::Message::Response { response, .. },
                    ..
                }) => return Some(response),
                SwarmEvent::Behaviour(request_response::Event::OutboundFailure { .. }) => {
                    return None;
                }
                _ => {}
            }
        }
    })
    .await
    .expect("mallory's request neither failed nor was answered");
    assert_eq!(outcome, None, "a stranger was answered: {outcome:?}");

    bob.wait_for_seq(alice.author(), post.seq).await;
    assert!(
        !held(&bob, &file.hash).await,
        "eager fetching is off for bob"
    );
    assert_eq!(get(&bob, &file.hash).await.unwrap(), bytes);
}

/// The blob protocol as an outsider writes it from PROTOCOL.md §13: a
/// frame is a big-endian u32 length, then the postcard message.
#[derive(Clone, Default)]
struct RawBlobCodec;

impl request_response::Codec for RawBlobCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T>(&mut self, _: &StreamProtocol, _: &mut T) -> std::io::Result<Request>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        Err(std::io::ErrorKind::Unsupported.into())
    }

    async fn read_response<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response>
    where
        T: futures::AsyncRead + Unpin + Send,
    {
        use futures::AsyncReadExt;
        let mut len = [0u8; 4];
        io.read_exact(&mut len).await?;
        let mut buf = vec![0u8; u32::from_be_bytes(len) as usize];
        io.read_exact(&mut buf).await?;
        postcard::from_bytes(&buf).map_err(|e| std::io::Error::other(e.to_string()))
    }

    async fn write_request<T>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        request: Request,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        use futures::AsyncWriteExt;
        let bytes = postcard::to_stdvec(&request).unwrap();
        io.write_all(&(bytes.len() as u32).to_be_bytes()).await?;
        io.write_all(&bytes).await?;
        io.close().await
    }

    async fn write_response<T>(
        &mut self,
        _: &StreamProtocol,
        _: &mut T,
        _: Response,
    ) -> std::io::Result<()>
    where
        T: futures::AsyncWrite + Unpin + Send,
    {
        Err(std::io::ErrorKind::Unsupported.into())
    }
}

/// In the web app: a file uploaded (as the attach button, paste and drop
/// send it) and posted with the form is shown under the post, an image
/// inline; a browser gets an image as an image, and an SVG or HTML file
/// only as a download, sandboxed, never sniffed; an upload without the
/// CSRF header is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_web_app_shows_images_inline_and_serves_other_files_as_downloads() {
    let alice = TestNode::start("alice", 1).await;
    let browser = tokio::task::block_in_place(|| crate::browser::Browser::sign_in(&alice));
    tokio::task::block_in_place(|| {
        let upload = |name: &str, bytes: &[u8], csrf: &str| {
            let mut r = browser
                .agent
                .post(&format!(
                    "{}/blob/upload?name={}",
                    browser.base,
                    kith_node::ops::http::encode_segment(name)
                ))
                .header("Cookie", &browser.cookie)
                .header("X-CSRF-Token", csrf)
                .send(bytes)
                .unwrap();
            let status = r.status().as_u16();
            (status, r.body_mut().read_to_string().unwrap())
        };
        let png = random_bytes("png", 5000);
        let (status, body) = upload("screen shot.png", &png, "wrong");
        assert_eq!(status, 403, "{body}");
        let (status, body) = upload("screen shot.png", &png, &browser.csrf);
        assert_eq!(status, 200, "{body}");
        let image: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(image["media_type"], "image/png");
        let svg = b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>";
        let (_, body) = upload("logo.svg", svg, &browser.csrf);
        let vector: serde_json::Value = serde_json::from_str(&body).unwrap();
        let (_, body) = upload("page.html", b"<script>alert(1)</script>", &browser.csrf);
        let html: serde_json::Value = serde_json::from_str(&body).unwrap();
        let refs: Vec<serde_json::Value> = [&image, &vector, &html]
            .iter()
            .map(|v| {
                serde_json::json!({"hash": v["hash"], "size": v["size"],
                    "media_type": v["media_type"], "name": v["name"]})
            })
            .collect();
        let files = serde_json::to_string(&refs).unwrap();
        assert_eq!(
            browser.post("/post", &[("text", "what I see"), ("files", &files)]),
            303
        );
        let feed = browser.get("/");
        let hash = image["hash"].as_str().unwrap();
        assert!(
            feed.contains(&format!("<img src=\"/blob/{hash}?entry=")),
            "{feed}"
        );
        assert!(
            feed.contains("logo.svg") && feed.contains("page.html"),
            "{feed}"
        );

        let get = |hash: &str| {
            let mut r = browser
                .agent
                .get(&format!("{}/blob/{hash}", browser.base))
                .header("Cookie", &browser.cookie)
                .call()
                .unwrap();
            let headers = r.headers().clone();
            let body = r.body_mut().read_to_vec().unwrap();
            let header = |name: &str| {
                headers
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            (
                header("content-type"),
                header("content-disposition"),
                header("content-security-policy"),
                header("x-content-type-options"),
                body,
            )
        };
        let (kind, disposition, csp, sniff, body) = get(hash);
        assert_eq!((kind.as_str(), body), ("image/png", png.clone()));
        assert!(disposition.starts_with("inline"), "{disposition}");
        assert!(
            csp.contains("sandbox") && csp.contains("default-src 'none'"),
            "{csp}"
        );
        assert_eq!(sniff, "nosniff");
        for v in [&vector, &html] {
            let (kind, disposition, csp, sniff, _) = get(v["hash"].as_str().unwrap());
            assert_eq!(kind, "application/octet-stream", "{v}");
            assert!(disposition.starts_with("attachment"), "{disposition}");
            assert!(csp.contains("sandbox"), "{csp}");
            assert_eq!(sniff, "nosniff");
        }
        // A name with a path in it is refused, not saved under a path.
        let (status, body) = upload("../evil.png", &png, &browser.csrf);
        assert_eq!(status, 400, "{body}");
    });
}

/// A file attached in a private circle: Bob, a member, reads it (fetched
/// from Alice's node as ciphertext, read with the key the sealed post
/// gave him); Carol, trusted by Alice but not a member, carries the post
/// and learns nothing of the file, not even its hash; and no node keeps
/// the file's bytes in the clear under `blobs/`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_circles_file_is_read_by_members_and_kept_encrypted() {
    let alice = TestNode::start("alice", 61).await;
    let bob = TestNode::start("bob", 62).await;
    let carol = TestNode::start("carol", 63).await;
    connect(&alice, &bob).await;
    connect(&alice, &carol).await;
    alice.wait_for_seq(bob.author(), 1).await;
    alice
        .handle()
        .call(ops::CircleCreate {
            name: "team".into(),
            members: vec![bob.author().to_string()],
        })
        .await
        .unwrap();
    let plain = random_bytes("the plan", 300_000);
    let files = tempfile::tempdir().unwrap();
    let path = write_file(files.path(), "plan.pdf", &plain);
    let added = add(&alice, &path).await;
    let posted = alice
        .handle()
        .call(ops::Post {
            files: vec![added.clone()],
            circle: Some("team".into()),
            ..ops::Post::note("the plan for the team")
        })
        .await
        .unwrap();
    let sealed = posted.files[0].clone();
    assert_ne!(sealed.hash, added.hash, "a circle's copy is its own blob");
    wait_until(
        bob.handle(),
        || async {
            bob.handle()
                .call(ops::BlobInfo {
                    hash: sealed.hash.to_string(),
                    entry: None,
                })
                .await
                .is_ok()
        },
        || async { "bob never opened the post with the file".to_string() },
    )
    .await;
    assert_eq!(get(&bob, &sealed.hash).await.unwrap(), plain);

    carol.wait_for_seq(alice.author(), posted.seq).await;
    for hash in [&sealed.hash, &added.hash] {
        assert!(
            get(&carol, hash).await.is_err(),
            "carol, not a member, got the file"
        );
    }
    // On disk, the circle's file is ciphertext on every node, and Alice's
    // clear copy went once the circle's was made.
    let needle = &plain[1000..1064];
    let mut stack = vec![alice.dir.path().join("blobs")];
    while let Some(dir) = stack.pop() {
        for item in std::fs::read_dir(&dir).unwrap() {
            let path = item.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let bytes = std::fs::read(&path).unwrap();
                assert!(
                    !bytes.windows(needle.len()).any(|w| w == needle),
                    "alice keeps the file in the clear at {}",
                    path.display()
                );
            }
        }
    }
    for node in [&alice, &bob] {
        let hex = sealed.hash.to_string();
        let stored =
            std::fs::read(node.dir.path().join("blobs").join(&hex[..2]).join(&hex)).unwrap();
        assert_eq!(stored.len(), plain.len());
        assert!(
            !stored.windows(needle.len()).any(|w| w == needle),
            "{}: the circle's file is kept in the clear",
            node.name
        );
    }
}
