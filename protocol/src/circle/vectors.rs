//! Test vectors for PROTOCOL.md §12: three devices' X25519 keys and
//! kind-15 bodies, the creation of a circle by the vector key for two, an
//! `Add` of a third device's person with history, a post sealed in the
//! first epoch, device A's log of its key, the creation and the post as
//! whole signed entries, and the outcome of the membership rules in the
//! contested cases (§12.4). The
//! bytes come from fixed seeds; an independent implementation checks them
//! by opening (the ephemeral HPKE keys depend on this implementation's use
//! of the random stream, so re-sealing need not give the same bytes).
//! `cargo run -q -p kith-protocol --example circle_vectors` prints them.

use std::collections::BTreeSet;

use super::*;
use crate::body::{Post, PostKind};
use crate::entry::EntryId;

/// The seeds of the randomness of the creation, the sealed post and the
/// `Add` (each from its own seed).
pub const RANDOM_SEEDS: [[u8; 32]; 3] = [[0x77; 32], [0x78; 32], [0x79; 32]];

fn hexline(out: &mut String, name: &str, bytes: &[u8]) {
    out.push_str(&format!("{name:<14} {}\n", hex::encode(bytes)));
}

/// The devices: the vector key (seed 00..1f), and the keys with seeds 0x42
/// and 0x43.
pub fn devices() -> [Keypair; 3] {
    [
        Keypair::from_secret(&crate::vectors::seed()),
        Keypair::from_secret(&[0x42; 32]),
        Keypair::from_secret(&[0x43; 32]),
    ]
}

/// What the vectors are made of.
#[derive(Debug)]
pub struct Built {
    pub create: SealedEpoch,
    pub create_state: EpochState,
    pub create_secret: [u8; 32],
    pub add: SealedEpoch,
    pub add_state: EpochState,
    pub add_secret: [u8; 32],
    pub add_history: Vec<ContentKey>,
    pub sealed: Sealed,
    pub inner: Body,
}

/// The secret `seal_epoch` draws from randomness with this seed (it draws
/// the nonce, then for a `Create` the circle key, then the secret).
fn peek_secret(seed: [u8; 32], creates: bool) -> [u8; 32] {
    let mut peek = Randomness::from_seed(seed);
    let _nonce: [u8; 24] = peek.bytes();
    if creates {
        let _key: [u8; 32] = peek.bytes();
    }
    peek.bytes()
}

pub fn build() -> Built {
    let [a, b, c] = devices();
    let pk = |k: &Keypair| (k.author(), DeviceSecret::of(k).public());
    let create_secret = peek_secret(RANDOM_SEEDS[0], true);
    let create = seal_epoch(
        None,
        &a.author(),
        NewEpoch {
            parents: vec![],
            change: Change::Create {
                name: "team".into(),
                members: vec![b.author()],
            },
            recipients: vec![pk(&a), pk(&b)],
            history: vec![],
        },
        &mut Randomness::from_seed(RANDOM_SEEDS[0]),
    )
    .expect("vector epoch");
    let circle = create.body.circle;
    let create_state = create
        .body
        .open_state(&a.author(), &create.circle_key)
        .expect("own state");
    let inner = Body::Post(Post {
        kind: PostKind::Note,
        text: "Meet at noon.".into(),
        reply_to: None,
        tags: vec![],
    });
    let sealed = seal(
        &inner,
        circle,
        create.body.epoch,
        &a.author(),
        &create.keys.content,
        &mut Randomness::from_seed(RANDOM_SEEDS[1]),
    )
    .expect("vector content");
    let add_secret = peek_secret(RANDOM_SEEDS[2], false);
    let add_history = vec![ContentKey {
        epoch: create.body.epoch,
        key: create.keys.content,
    }];
    let add = seal_epoch(
        Some((circle, create.circle_key)),
        &a.author(),
        NewEpoch {
            parents: vec![create.body.epoch],
            change: Change::Add {
                person: c.author(),
                history: true,
            },
            recipients: vec![pk(&a), pk(&b), pk(&c)],
            history: add_history.clone(),
        },
        &mut Randomness::from_seed(RANDOM_SEEDS[2]),
    )
    .expect("vector epoch");
    let add_state = add
        .body
        .open_state(&a.author(), &add.circle_key)
        .expect("own state");
    Built {
        create,
        create_state,
        create_secret,
        add,
        add_state,
        add_secret,
        add_history,
        sealed,
        inner,
    }
}

fn epoch_lines(out: &mut String, e: &SealedEpoch, secret: &[u8; 32], state: &EpochState) {
    let author = devices()[0].author();
    let (circle, epoch) = (e.body.circle, e.body.epoch);
    hexline(out, "  nonce", &e.body.nonce);
    hexline(out, "  epoch", &epoch.0);
    hexline(out, "  secret", secret);
    hexline(out, "  content key", &e.keys.content);
    hexline(out, "  history key", &e.keys.history);
    hexline(out, "  key check", &e.keys.check);
    hexline(out, "  state key", &e.circle_key.state_key(&circle, &epoch));
    hexline(out, "  wrap info", &wrap_info(&circle, &epoch));
    hexline(
        out,
        "  state aad",
        &context(STATE_LABEL, &circle, &epoch, &author),
    );
    hexline(
        out,
        "  state",
        &postcard::to_stdvec(state).expect("encoding into a Vec cannot fail"),
    );
    hexline(
        out,
        "  history aad",
        &context(HISTORY_LABEL, &circle, &epoch, &author),
    );
    hexline(out, "  body", &Body::CircleEpoch(e.body.clone()).encode());
}

pub fn markdown() -> String {
    let mut out = String::new();
    for (name, key) in ["device A", "device B", "device C"].iter().zip(devices()) {
        out.push_str(&format!("{name}\n"));
        hexline(&mut out, "  seed", &key.secret_bytes());
        hexline(&mut out, "  ed25519", key.author().as_bytes());
        hexline(
            &mut out,
            "  ikm",
            &blake3::derive_key(DEVICE_KEY_CONTEXT, &key.secret_bytes()),
        );
        hexline(&mut out, "  x25519", &DeviceSecret::of(&key).public());
        hexline(
            &mut out,
            "  kind 15 body",
            &Body::EncryptionKey(EncryptionKey {
                key: DeviceSecret::of(&key).public(),
            })
            .encode(),
        );
    }
    let built = build();
    let create = &built.create;
    let circle = create.body.circle;
    let author = devices()[0].author();
    out.push_str("\nepoch (kind 18) by device A, for A and B: the circle's creation\n");
    hexline(&mut out, "  circle key", &create.circle_key.0);
    hexline(&mut out, "  commitment", &create.circle_key.commitment());
    hexline(&mut out, "  circle", &circle.0);
    epoch_lines(&mut out, create, &built.create_secret, &built.create_state);
    out.push_str("\nsealed post (kind 19) by device A in that epoch\n");
    hexline(&mut out, "  inner", &built.inner.encode());
    hexline(
        &mut out,
        "  aad",
        &context(CONTENT_LABEL, &circle, &create.body.epoch, &author),
    );
    hexline(
        &mut out,
        "  body",
        &Body::Sealed(built.sealed.clone()).encode(),
    );
    let written = crate::PageId([0xab; 16]);
    out.push_str("\na wiki change sealed in that circle for page `written` edits `page` (§12.5)\n");
    hexline(&mut out, "  written", &written.0);
    hexline(&mut out, "  page", &super::circle_page(&circle, &written).0);
    out.push_str("\nepoch (kind 18) by device A, for A, B and C: adds C's person, with history\n");
    epoch_lines(&mut out, &built.add, &built.add_secret, &built.add_state);
    hexline(
        &mut out,
        "  history",
        &postcard::to_stdvec(&built.add_history).expect("encoding into a Vec cannot fail"),
    );
    out.push_str("\ndevice A's log as whole entries (§2–§5): its key, the creation, the post\n");
    for entry in log() {
        out.push_str(&format!("  seq {}\n", entry.seq()));
        hexline(&mut out, "  header", entry.header_bytes());
        hexline(&mut out, "  signature", entry.signature());
        hexline(&mut out, "  id", &entry.id().0);
        hexline(&mut out, "  wire", &entry.encode());
    }
    out.push_str("\nmembership in the contested cases (§12.4)\n");
    for case in cases() {
        case.describe(&mut out);
    }
    out
}

/// Device A's log: its encryption key (kind 15), the creation epoch (kind
/// 18) and the sealed post (kind 19), signed at seq 1–3.
pub fn log() -> Vec<crate::Entry> {
    let a = &devices()[0];
    let built = build();
    let bodies = [
        Body::EncryptionKey(EncryptionKey {
            key: DeviceSecret::of(a).public(),
        }),
        Body::CircleEpoch(built.create.body.clone()),
        Body::Sealed(built.sealed.clone()),
    ];
    let mut prev = None;
    let mut out = Vec::new();
    for (i, body) in bodies.iter().enumerate() {
        let entry = crate::Entry::sign(
            a,
            crate::Draft {
                seq: i as u64 + 1,
                prev,
                timestamp_ms: crate::vectors::TIMESTAMP_MS + i as u64 * 1000,
                body: body.encode(),
            },
        );
        prev = Some(entry.id());
        out.push(entry);
    }
    out
}

/// A membership history written as a list of epochs, for the contested
/// cases of §12.4. Persons are letters (each writes with one device of the
/// same name); epochs are numbered E0, E1, …
#[derive(Debug, Clone)]
pub struct Case {
    pub name: &'static str,
    /// (epoch, author, change, parents)
    pub epochs: Vec<(usize, char, CaseChange, Vec<usize>)>,
    /// Members after resolution.
    pub members: &'static str,
    /// Epochs that count.
    pub counted: Vec<usize>,
}

#[derive(Debug, Clone)]
pub enum CaseChange {
    Create(&'static str),
    Add(char),
    Remove(char),
    Rekey,
}

/// The letter's person key in the cases (seed = the letter's byte).
pub fn person(letter: char) -> AuthorId {
    Keypair::from_secret(&[letter as u8; 32]).author()
}

fn case_epoch(n: usize) -> EpochId {
    EpochId([n as u8; 16])
}

impl Case {
    /// The ops of the case: epoch `n` is `[n; 16]`, written as its author's
    /// entry `n + 1`, and its Create's id is E0.
    pub fn ops(&self) -> Vec<Op> {
        self.epochs
            .iter()
            .map(|(n, by, change, parents)| Op {
                id: EntryId([*n as u8 + 1; 32]),
                person: person(*by),
                device: person(*by),
                seq: *n as u64 + 1,
                epoch: case_epoch(*n),
                state: EpochState {
                    parents: parents.iter().map(|p| case_epoch(*p)).collect(),
                    change: match change {
                        CaseChange::Create(ms) => Change::Create {
                            name: "case".into(),
                            members: ms.chars().map(person).collect(),
                        },
                        CaseChange::Add(p) => Change::Add {
                            person: person(*p),
                            history: false,
                        },
                        CaseChange::Remove(p) => Change::Remove {
                            person: person(*p),
                            seen: vec![],
                        },
                        CaseChange::Rekey => Change::Rekey,
                    },
                    recipients: vec![],
                    key_check: [0; 32],
                },
            })
            .collect()
    }

    pub fn resolve(&self) -> Resolved {
        resolve(&case_epoch(0), self.ops())
    }

    /// Members and counted epochs as the code resolves them.
    pub fn outcome(&self) -> (String, Vec<usize>) {
        let r = self.resolve();
        let letters: BTreeSet<char> = self
            .epochs
            .iter()
            .flat_map(|(_, by, change, _)| {
                let mut v = vec![*by];
                match change {
                    CaseChange::Create(ms) => v.extend(ms.chars()),
                    CaseChange::Add(p) | CaseChange::Remove(p) => v.push(*p),
                    CaseChange::Rekey => {}
                }
                v
            })
            .collect();
        let members = letters
            .into_iter()
            .filter(|l| r.members.contains(&person(*l)))
            .collect();
        let counted = self
            .epochs
            .iter()
            .filter(|(n, ..)| r.epochs.contains_key(&case_epoch(*n)))
            .map(|(n, ..)| *n)
            .collect();
        (members, counted)
    }

    fn describe(&self, out: &mut String) {
        out.push_str(&format!("  case: {}\n", self.name));
        for (n, by, change, parents) in &self.epochs {
            let what = match change {
                CaseChange::Create(ms) => format!("Create with {}", spaced(ms)),
                CaseChange::Add(p) => format!("Add {p}"),
                CaseChange::Remove(p) => format!("Remove {p}"),
                CaseChange::Rekey => "Rekey".into(),
            };
            let after: Vec<String> = parents.iter().map(|p| format!("E{p}")).collect();
            let after = if after.is_empty() {
                String::new()
            } else {
                format!(", after {}", after.join(" "))
            };
            out.push_str(&format!("    E{n} by {by}: {what}{after}\n"));
        }
        let (members, counted) = self.outcome();
        let counted: Vec<String> = counted.iter().map(|n| format!("E{n}")).collect();
        out.push_str(&format!(
            "    members {}; counted {}\n",
            if members.is_empty() {
                "none".to_string()
            } else {
                spaced(&members)
            },
            counted.join(" ")
        ));
    }
}

fn spaced(letters: &str) -> String {
    letters
        .chars()
        .map(String::from)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The contested cases, with the outcome the rules must give.
pub fn cases() -> Vec<Case> {
    use CaseChange::*;
    vec![
        Case {
            name: "concurrent mutual removal: both count",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'A', Remove('M'), vec![0]),
                (2, 'M', Remove('A'), vec![0]),
            ],
            members: "B",
            counted: vec![0, 1, 2],
        },
        Case {
            name: "a removed member's concurrent writes do not count",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'A', Remove('M'), vec![0]),
                (2, 'M', Add('P'), vec![0]),
                (3, 'M', Remove('B'), vec![0]),
            ],
            members: "AB",
            counted: vec![0, 1],
        },
        Case {
            name: "a removal through a puppet added concurrently: everyone in the cycle leaves",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'A', Remove('M'), vec![0]),
                (2, 'M', Add('P'), vec![0]),
                (3, 'P', Remove('A'), vec![2]),
            ],
            members: "B",
            counted: vec![0, 1, 3],
        },
        Case {
            name: "pulling the ground from under one's remover: everyone in the cycle leaves",
            epochs: vec![
                (0, 'B', Create("CM"), vec![]),
                (1, 'B', Add('A'), vec![0]),
                (2, 'A', Remove('M'), vec![1]),
                (3, 'M', Remove('B'), vec![0]),
            ],
            members: "C",
            counted: vec![0, 2, 3],
        },
        Case {
            name: "a removal never voids what it follows",
            epochs: vec![
                (0, 'A', Create("B"), vec![]),
                (1, 'A', Add('C'), vec![0]),
                (2, 'B', Remove('A'), vec![1]),
            ],
            members: "BC",
            counted: vec![0, 1, 2],
        },
        Case {
            name: "remove wins over a concurrent add; an add that follows the removal stands",
            epochs: vec![
                (0, 'A', Create("BC"), vec![]),
                (1, 'A', Remove('C'), vec![0]),
                (2, 'B', Add('C'), vec![0]),
                (3, 'B', Rekey, vec![1, 2]),
                (4, 'A', Add('C'), vec![3]),
            ],
            members: "ABC",
            counted: vec![0, 1, 2, 3, 4],
        },
        Case {
            name: "a cycle of removals all count",
            epochs: vec![
                (0, 'A', Create("BCD"), vec![]),
                (1, 'A', Remove('B'), vec![0]),
                (2, 'B', Remove('C'), vec![0]),
                (3, 'C', Remove('A'), vec![0]),
            ],
            members: "D",
            counted: vec![0, 1, 2, 3],
        },
        Case {
            name: "a member removed concurrently writes nothing that counts after it",
            epochs: vec![
                (0, 'A', Create("BM"), vec![]),
                (1, 'M', Rekey, vec![0]),
                (2, 'A', Remove('M'), vec![0]),
                (3, 'B', Rekey, vec![1, 2]),
            ],
            members: "AB",
            counted: vec![0, 2, 3],
        },
    ]
}

#[cfg(test)]
mod tests;
