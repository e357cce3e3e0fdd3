//! The circle checks: sealing, opening and resolving private circles.

use super::*;

/// Private circles (PROTOCOL.md §12): the decryption path with malformed
/// ciphertexts (as bodies: every wrap tried with real device keys, states
/// opened with the vector circle key, history and content with the vector
/// epoch keys), and the plaintext parsers behind a valid seal (what a
/// member decrypts, whatever a member sealed).
pub fn circle(data: &[u8]) {
    use kith_protocol::circle::{self as c, DeviceSecret, vectors};
    // Built once: sealing and deriving keys per input would cost more than
    // what is checked.
    type Fixture = (
        c::CircleEpoch,
        c::CircleKey,
        c::EpochKeys,
        c::Sealed,
        Vec<DeviceSecret>,
        kith_protocol::AuthorId,
    );
    static FIXTURE: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    let (epoch, circle_key, keys, sealed, secrets, author) = FIXTURE.get_or_init(|| {
        let built = vectors::build();
        let devices = vectors::devices();
        let secrets = devices.iter().map(DeviceSecret::of).collect();
        (
            built.create.body,
            built.create.circle_key,
            built.create.keys,
            built.sealed,
            secrets,
            devices[0].author(),
        )
    });
    match Body::decode(data) {
        Ok(Body::CircleEpoch(e)) => {
            let _ = e.ids_hold(author);
            let state = e.open_state(author, circle_key);
            for d in secrets {
                for u in e.unwrap_all(author, d) {
                    let _ = u.circle_key.is_of(&e.circle, &e.epoch);
                }
                if let Ok(st) = &state {
                    let _ = e.keys_for(author, d, circle_key, st);
                }
            }
            let _ = e.open_history(author, &keys.history);
        }
        Ok(Body::Sealed(s)) => {
            let _ = s.open(author, &keys.content);
        }
        _ => {}
    }
    // Behind a valid seal.
    if let Ok(state) = epoch
        .with_state_plaintext(author, circle_key, data)
        .open_state(author, circle_key)
    {
        assert_eq!(
            postcard::to_stdvec(&state).ok().as_deref(),
            Some(data),
            "an accepted epoch state re-encodes differently"
        );
    }
    if let Ok(body) = sealed
        .with_plaintext(author, &keys.content, data)
        .open(author, &keys.content)
    {
        assert!(c::may_seal(&body));
        assert_eq!(body.encode(), data);
    }
}

/// Circle membership resolution (PROTOCOL.md §12.4) over histories an
/// adversary writes: each 4-byte chunk of the input is an epoch (author of
/// six persons, change, target, parents among the earlier epochs or ids
/// that never arrive), with seqs, entry ids and epoch ids the input also
/// picks. Resolution must not panic, must give the same members and
/// counted epochs whatever the order and whatever the ids, and nobody a
/// change never added may be a member.
pub fn circle_resolve(data: &[u8]) {
    use std::collections::{BTreeMap, BTreeSet};

    use kith_protocol::circle::{self as c, Change, EpochState, Op};
    static PEOPLE: std::sync::OnceLock<Vec<kith_protocol::AuthorId>> = std::sync::OnceLock::new();
    let people = PEOPLE.get_or_init(|| {
        (1u8..=6)
            .map(|s| Keypair::from_secret(&[s; 32]).author())
            .collect()
    });
    let id = |salt: u8, i: usize, chunk: &[u8]| {
        *blake3::hash(&[&[salt, i as u8][..], chunk].concat()).as_bytes()
    };
    let mut ops: Vec<Op> = Vec::new();
    let mut seqs = [0u64; 6];
    for (i, chunk) in data.chunks_exact(4).take(48).enumerate() {
        let who = usize::from(chunk[0] % 6);
        let target = people[usize::from(chunk[1] % 6)];
        let change = if i == 0 {
            Change::Create {
                name: "f".into(),
                members: people[1..=usize::from(chunk[1] % 5) + 1].to_vec(),
            }
        } else {
            match chunk[0] / 6 % 4 {
                0 => Change::Add {
                    person: target,
                    history: false,
                },
                1 => Change::Remove {
                    person: target,
                    seen: vec![c::Seen {
                        key: target,
                        seq: u64::from(chunk[3]),
                    }],
                },
                2 => Change::Rekey,
                _ => Change::Remove {
                    person: target,
                    seen: vec![],
                },
            }
        };
        let mut parents = Vec::new();
        if i > 0 {
            for bits in [chunk[2], chunk[3]] {
                match bits {
                    0xff => parents.push(c::EpochId([0xee; 16])),
                    b => parents.push(ops[usize::from(b) % ops.len()].epoch),
                }
            }
            parents.sort();
            parents.dedup();
        }
        // Seqs mostly rise, but an adversary may sign anything.
        seqs[who] += u64::from(chunk[2] & 3);
        let mut epoch = [0u8; 16];
        epoch.copy_from_slice(&id(1, i, chunk)[..16]);
        ops.push(Op {
            id: EntryId(id(0, i, chunk)),
            person: people[who],
            device: people[who],
            seq: seqs[who],
            epoch: c::EpochId(epoch),
            state: EpochState {
                parents,
                change,
                recipients: vec![],
                key_check: [0; 32],
            },
        });
    }
    let Some(root) = ops.first().map(|o| o.epoch) else {
        return;
    };
    let one = c::resolve(&root, ops.clone());
    assert!(
        one.members.is_subset(&c::persons_added(&ops)),
        "a member nobody added"
    );
    // Another order and other ids (nonces, entry ids): the same circle.
    let salt = data.first().copied().unwrap_or(0) ^ 0x5a;
    let map: BTreeMap<c::EpochId, c::EpochId> = ops
        .iter()
        .flat_map(|o| o.state.parents.iter().chain([&o.epoch]))
        .map(|e| {
            let h = blake3::hash(&[&[salt][..], &e.0].concat());
            let mut x = [0u8; 16];
            x.copy_from_slice(&h.as_bytes()[..16]);
            (*e, c::EpochId(x))
        })
        .collect();
    let mut other: Vec<Op> = ops
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.id = EntryId(*blake3::hash(&[&[salt][..], o.id.as_bytes()].concat()).as_bytes());
            o.epoch = map[&o.epoch];
            o.state.parents = o.state.parents.iter().map(|p| map[p]).collect();
            o
        })
        .collect();
    other.reverse();
    let two = c::resolve(&map[&root], other);
    assert_eq!(
        one.members, two.members,
        "resolution depends on order or ids"
    );
    let counted: BTreeSet<_> = one.epochs.keys().map(|e| map[e]).collect();
    assert_eq!(
        counted,
        two.epochs.keys().copied().collect(),
        "resolution depends on order or ids"
    );
    for e in one.epochs.keys() {
        for p in people {
            let _ = one.accepts(p, p, 1, e);
        }
    }
}
