//! Writes the seed corpora to `fuzz/seeds/<target>/`: the protocol's test
//! vectors, every body kind, real sync and peer-exchange frames, a bundle
//! and a frontier file, an invite code, the Automerge changes of real page
//! edits, and a request for every API operation.
//!
//! `cargo run -p kith-fuzz --example seeds` (run from the workspace root).

use std::collections::BTreeMap;
use std::path::Path;

use kith_node::bundle::{self, FrontierFile};
use kith_node::invite::Invite;
use kith_node::ops;
use kith_node::store::Store;
use kith_node::swarm::{PxRequest, PxResponse};
use kith_node::{Config, Core, DataDir};
use kith_protocol::addr_record::AddrRecord;
use kith_protocol::sync::{self, FrontierItem, Request, Response};
use kith_protocol::{Body, Head, Keypair, vectors};

fn write(target: &str, name: &str, bytes: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("seeds")
        .join(target);
    std::fs::create_dir_all(&dir).expect("seed directory");
    std::fs::write(dir.join(name), bytes).expect("seed file");
}

fn main() {
    print_vector_change();
    let entries = vectors::all_entries();
    for (i, entry) in entries.iter().enumerate() {
        write("entry", &format!("vector-{i}"), &entry.encode());
        write(
            "entry",
            &format!("vector-{i}-deleted"),
            &entry.without_body().encode(),
        );
        if let Some(body) = entry.body() {
            write("body", &format!("vector-{i}"), body);
        }
    }
    let succession = vectors::succession_entry();
    write("entry", "vector-succession", &succession.encode());
    if let Some(body) = succession.body() {
        write("body", "vector-succession", body);
    }
    // Circles: the vector epochs and post, a state and the plaintexts;
    // and histories for the resolution check (4 bytes an epoch: author
    // and change, target, two parents), among them the contested cases.
    {
        use kith_protocol::circle::vectors as cv;
        let built = cv::build();
        for (name, e) in [("create", &built.create.body), ("add", &built.add.body)] {
            write("circle", name, &Body::CircleEpoch(e.clone()).encode());
        }
        write("circle", "sealed", &Body::Sealed(built.sealed).encode());
        write("circle", "inner", &built.inner.encode());
        let plain = postcard::to_stdvec(&built.add_state).expect("encodes");
        write("circle", "state", &plain);
        let histories: [(&str, &[u8]); 4] = [
            ("mutual-removal", &[0, 2, 0, 0, 6, 3, 0, 0, 9, 0, 0, 0]),
            ("puppet", &[0, 2, 0, 0, 6, 3, 0, 0, 3, 5, 0, 0, 11, 0, 2, 2]),
            (
                "readd",
                &[0, 3, 0, 0, 6, 2, 0, 0, 1, 2, 0, 0, 14, 0, 1, 2, 0, 2, 3, 3],
            ),
            ("missing-parent", &[0, 1, 0, 0, 12, 0, 0xff, 0, 6, 1, 1, 1]),
        ];
        for (name, bytes) in histories {
            write("circle_resolve", name, bytes);
        }
    }
    for (i, bytes) in vectors::negative().iter().enumerate() {
        write("entry", &format!("negative-{i}"), &bytes.wire);
    }

    let author = entries[0].author();
    let head = Head {
        seq: entries[0].seq(),
        id: entries[0].id(),
    };
    let mut batch = Vec::new();
    for entry in entries.iter().filter(|e| e.author() == author) {
        entry.encode_into(&mut batch);
    }
    let mut any = Vec::new();
    for entry in &entries {
        entry.encode_into(&mut any);
    }
    let frames: Vec<(&str, Vec<u8>)> = vec![
        (
            "request-frontier",
            sync::encode(&Request::Frontier(vec![
                FrontierItem {
                    author,
                    head: Some(head),
                },
                FrontierItem { author, head: None },
            ])),
        ),
        (
            "request-fetch",
            sync::encode(&Request::Fetch {
                author,
                after_seq: 1,
                max_bytes: 65536,
            }),
        ),
        (
            "request-changes",
            sync::encode(&Request::Changes {
                hashes: vec![[9; 32]],
            }),
        ),
        (
            "request-offer",
            sync::encode(&Request::Offer {
                entries: vectors::succession_entry().encode(),
            }),
        ),
        (
            "response-frontier",
            sync::encode(&Response::Frontier(vec![FrontierItem {
                author,
                head: Some(head),
            }])),
        ),
        (
            "response-entries",
            sync::encode(&Response::Entries {
                author,
                entries: batch,
            }),
        ),
        (
            "response-changes",
            sync::encode(&Response::Changes {
                entries: any.clone(),
            }),
        ),
        ("batch", any),
        (
            "px-request",
            sync::encode(&PxRequest {
                authors: vec![author],
            }),
        ),
        (
            "px-response",
            sync::encode(&PxResponse {
                peers: vec![(
                    author,
                    vec![serde_bytes_buf(&[4, 127, 0, 0, 1, 6, 0x1f, 0x90])],
                )],
            }),
        ),
    ];
    for (name, bytes) in &frames {
        write("sync_message", name, bytes);
    }

    let record_key = Keypair::from_secret(&[7; 32]);
    let addr = vec![4, 127, 0, 0, 1, 6, 0x1f, 0x90];
    let mut raw = vec![0];
    raw.extend(AddrRecord::sign(
        &record_key,
        std::slice::from_ref(&addr),
        1_700_000_000_000,
    ));
    write("addr_record", "signed", &raw);
    let mut structured = vec![1];
    structured.extend(&addr);
    structured.push(0xff);
    structured.extend([
        41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 6, 0x1f, 0x90,
    ]);
    write("addr_record", "addrs", &structured);

    let header = bundle::Header {
        created_ms: 1_700_000_000_000,
        from: author,
        recipient: None,
        entries: entries.len() as u64,
    };
    write("bundle", "bundle", &bundle::write(&header, &entries));
    let heads: BTreeMap<_, _> = [(author, head)].into_iter().collect();
    let frontier = FrontierFile::new(author, 1_700_000_000_000, &heads);
    write(
        "bundle",
        "frontier",
        &kith_fuzz::json(&serde_json::to_value(&frontier).expect("json")),
    );

    let invite = Invite {
        author,
        addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("address")],
        person: None,
    };
    write("invite", "code", invite.encode().as_bytes());
    let device = Invite {
        person: Some(Keypair::from_secret(&[0x42; 32]).author()),
        ..invite
    };
    write("invite", "device-code", device.encode().as_bytes());
    let person = Keypair::from_secret(&[0x42; 32]);
    let link = kith_node::device_link::LinkCode {
        identity: person.author(),
        node: author,
        addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("address")],
        secret: [7; 32],
    };
    write("invite", "link-code", link.encode().as_bytes());
    let new = Keypair::from_secret(&[0x45; 32]);
    let recovery = kith_node::device_link::RecoveryCode {
        old: person.author(),
        new: new.author(),
        consent: kith_protocol::RecoveryApproval::request(&person.author(), &new),
        device: author,
        addrs: Vec::new(),
    };
    write("invite", "recovery-code", recovery.encode().as_bytes());
    let recovery = kith_node::device_link::RecoveryCode {
        addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("address")],
        ..recovery
    };
    write(
        "invite",
        "recovery-code-addrs",
        recovery.encode().as_bytes(),
    );

    // Real page edits by the wiki bench's friend (seed 2), one seed per group.
    let config = Config::new(DataDir::new("/nonexistent"));
    let friend = Keypair::from_secret(&[2; 32]);
    let mut core =
        Core::with_store(config, friend.clone(), Store::temporary().expect("store")).expect("core");
    let page = core
        .run(ops::WikiNew {
            circle: None,
            title: "Release checklist".into(),
            body: "1. Tag\n2. Build\n".into(),
        })
        .expect("new page");
    for body in [
        "1. Tag\n2. Build\n3. Announce\n",
        "1. Tag v1\n2. Build\n3. Announce\n",
    ] {
        core.run(ops::WikiEdit {
            page: page.id.to_string(),
            body: body.into(),
            base: None,
        })
        .expect("edit");
    }
    let log = core
        .store()
        .log(&friend.author(), 1, usize::MAX)
        .expect("log");
    for (i, entry) in log.iter().enumerate() {
        let Some(Ok(body)) = entry.body().map(Body::decode) else {
            continue;
        };
        match body.wiki_part() {
            Some((change, kith_protocol::GroupForm::Framed)) => {
                let mut seed = vec![0x80];
                seed.extend(&change.data);
                write("wiki_change", &format!("group-{i}"), &seed);
                if let Ok(changes) = kith_protocol::change_group::split(&change.data) {
                    let mut seed = vec![0];
                    seed.extend(changes[0]);
                    write("wiki_change", &format!("change-{i}"), &seed);
                }
            }
            Some((change, kith_protocol::GroupForm::Bundle)) => {
                let mut seed = vec![0xc0];
                seed.extend(&change.data);
                write("wiki_change", &format!("compact-{i}"), &seed);
                if let Ok(bundle) = kith_protocol::change_group::decompress(&change.data) {
                    let mut seed = vec![0x40];
                    seed.extend(bundle);
                    write("wiki_change", &format!("bundle-{i}"), &seed);
                }
            }
            None => {}
        }
    }

    let post = br#"{"text":"Working on sync","kind":"question","tags":["kith"]}"#;
    for (i, info) in ops::all().iter().enumerate() {
        let mut seed = vec![i as u8];
        seed.extend(format!("{}\n", entries[0].id()).as_bytes());
        match info.method {
            ops::Method::Get | ops::Method::Delete => seed.extend(b"limit=5&q=sync"),
            ops::Method::Post | ops::Method::Put => seed.extend(post),
        }
        write("api_request", info.name, &seed);
    }
}

fn serde_bytes_buf(bytes: &[u8]) -> serde_bytes::ByteBuf {
    serde_bytes::ByteBuf::from(bytes.to_vec())
}

/// Prints the Automerge change `kith_protocol::vectors::AUTOMERGE_CHANGE`
/// holds: the vector key's actor sets `title` to "Hi" in a new document.
fn print_vector_change() {
    use automerge::transaction::Transactable;
    let author = Keypair::from_secret(&vectors::seed()).author();
    let mut doc =
        automerge::AutoCommit::new().with_actor(automerge::ActorId::from(&author.as_bytes()[..]));
    doc.put(automerge::ROOT, "title", "Hi").expect("put");
    let change = doc
        .get_last_local_change()
        .expect("a change")
        .raw_bytes()
        .to_vec();
    eprintln!("vector change: {}", hex::encode(change));
}
