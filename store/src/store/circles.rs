//! What the store keeps about private circles (PROTOCOL.md §12). All of it
//! is a view under `v`, rebuilt from the entries (and this node's device
//! keys) by `reindex`. The plaintext of circle entries is kept here and in
//! the ordinary views, search index and wiki documents it feeds: inside
//! the data directory, and only on members' nodes.
//!
//! | key                                | value                          |
//! |------------------------------------|--------------------------------|
//! | `vk` device(32)                    | X25519 public key (kind 15)    |
//! | `vo` circle(16) id(32)             | author(32) seq(8): an epoch    |
//! | `vs` circle(16) epoch(16) id(32)   | author(32) seq(8): content     |
//! | `vu` id(32)                        | circle(16) inner body: opened  |
//! | `vK` circle(16) epoch(16)          | what this device's wraps gave: 0, or 1 content(32) history(32) |
//! | `vM` circle(16)                    | the circle key, once a wrap gave one that the circle's id commits to |
//! | `vn` circle(16)                    | name                           |
//! | `vP` page(16)                      | circle(16) written(16): a circle's page, and the id its changes carry |

use kith_protocol::circle::{CircleId, CircleKey, EpochId};
use kith_protocol::{AuthorId, Body, BodyError, Entry, EntryId, PageId, Verified};

use super::kv::Batch;
use super::{Error, Result, Store};

use super::keyspace::Space;

const DEVICE_KEY: Space = Space::DeviceKey;
const EPOCHS: Space = Space::CircleEpochs;
const SEALED: Space = Space::CircleSealed;
const OPENED: Space = Space::Opened;
const KEYS: Space = Space::EpochKeys;
const CIRCLE_KEY: Space = Space::CircleKey;
const NAME: Space = Space::CircleName;
const PAGE: Space = Space::CirclePage;

fn key(view: Space, parts: &[&[u8]]) -> Vec<u8> {
    view.key(parts)
}

fn loc(entry: &Entry) -> Vec<u8> {
    super::entry_key(&entry.author(), entry.seq()).0.to_vec()
}

/// The view records of a circle body as stored (still sealed).
pub(super) fn index_raw(entry: &Entry, body: &Body, batch: &mut Batch) {
    match body {
        Body::EncryptionKey(k) => {
            batch.insert(key(DEVICE_KEY, &[entry.author().as_bytes()]), &k.key[..]);
        }
        Body::CircleEpoch(e) => {
            batch.insert(
                key(EPOCHS, &[&e.circle.0, entry.id().as_bytes()]),
                loc(entry),
            );
        }
        Body::Sealed(s) => {
            batch.insert(
                key(SEALED, &[&s.circle.0, &s.epoch.0, entry.id().as_bytes()]),
                loc(entry),
            );
        }
        _ => {}
    }
}

/// The opened form of a circle entry, for reads that start from the entry.
pub(super) fn index_opened(entry: &Entry, circle: CircleId, body: &Body, batch: &mut Batch) {
    let mut value = circle.0.to_vec();
    value.extend_from_slice(&body.encode());
    batch.insert(key(OPENED, &[entry.id().as_bytes()]), value);
}

pub(super) fn forget_opened(entry: &Entry, batch: &mut Batch) {
    batch.remove(key(OPENED, &[entry.id().as_bytes()]));
}

/// An epoch's keys as this device's wrap gave them.
#[derive(Clone, PartialEq, Eq)]
pub struct Wrapped {
    pub content: [u8; 32],
    pub history: [u8; 32],
}

impl std::fmt::Debug for Wrapped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Wrapped(..)")
    }
}

fn circle_of(bytes: &[u8]) -> Result<CircleId> {
    let raw: [u8; 16] = bytes
        .get(..16)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| Error::Corrupt("circle id".into()))?;
    Ok(CircleId(raw))
}

impl Store {
    /// An entry's body as this node can read it: a circle entry this node
    /// opened reads as its inner body, one it cannot stays `Body::Sealed`.
    pub fn open_body(&self, entry: &Entry) -> Option<Result<Body, BodyError>> {
        let decoded = entry.body().map(Body::decode)?;
        if let Ok(Body::Sealed(_)) = &decoded
            && let Ok(Some((_, body))) = self.opened(&entry.id())
        {
            return Some(Ok(body));
        }
        Some(decoded)
    }

    /// A stored entry as a `Verified`, opened if it is a circle entry this
    /// node has opened.
    pub fn verified(&self, entry: Entry) -> Verified {
        match self.opened(&entry.id()) {
            Ok(Some((circle, body))) => Verified::from_store(entry).unsealed(circle, body),
            _ => Verified::from_store(entry),
        }
    }

    /// The circle and inner body of an opened circle entry.
    pub fn opened(&self, id: &EntryId) -> Result<Option<(CircleId, Body)>> {
        let Some(v) = self.kv.get(key(OPENED, &[id.as_bytes()]))? else {
            return Ok(None);
        };
        let circle = circle_of(&v)?;
        let body =
            Body::decode(&v[16..]).map_err(|e| Error::Corrupt(format!("opened body: {e}")))?;
        Ok(Some((circle, body)))
    }

    /// The circle an entry belongs to: opened here, or sealed for one.
    pub fn circle_of_entry(&self, id: &EntryId) -> Result<Option<CircleId>> {
        if let Some(v) = self.kv.get(key(OPENED, &[id.as_bytes()]))? {
            return Ok(Some(circle_of(&v)?));
        }
        Ok(
            match self.get(id)?.and_then(|e| e.body().map(Body::decode)) {
                Some(Ok(Body::Sealed(s))) => Some(s.circle),
                _ => None,
            },
        )
    }

    /// The circle a wiki page belongs to.
    pub fn page_circle(&self, page: &PageId) -> Result<Option<CircleId>> {
        Ok(self.circle_page(page)?.map(|(circle, _)| circle))
    }

    /// The circle a wiki page belongs to and the page id its changes carry
    /// sealed (the page is `circle::circle_page(circle, written)` here).
    pub fn circle_page(&self, page: &PageId) -> Result<Option<(CircleId, PageId)>> {
        let Some(v) = self.kv.get(key(PAGE, &[&page.0]))? else {
            return Ok(None);
        };
        let written: [u8; 16] = v
            .get(16..32)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| Error::Corrupt("circle page record".into()))?;
        Ok(Some((circle_of(&v)?, PageId(written))))
    }

    /// Records that `circle`'s changes naming page `written` edit the page
    /// `circle::circle_page(circle, written)`.
    pub fn put_circle_page(&self, circle: &CircleId, written: &PageId) -> Result<()> {
        let page = kith_protocol::circle::circle_page(circle, written);
        let k = key(PAGE, &[&page.0]);
        if self.kv.get(&k)?.is_none() {
            self.kv
                .insert(k, [&circle.0[..], &written.0[..]].concat())?;
        }
        Ok(())
    }

    /// The X25519 key a device published last.
    pub fn encryption_key(&self, device: &AuthorId) -> Result<Option<[u8; 32]>> {
        Ok(self
            .kv
            .get(key(DEVICE_KEY, &[device.as_bytes()]))?
            .and_then(|v| <[u8; 32]>::try_from(&v[..]).ok()))
    }

    fn entries_under(&self, prefix: &[u8]) -> Result<Vec<Entry>> {
        let mut out = Vec::new();
        for item in self.kv.scan_prefix(prefix) {
            let (_, v) = item?;
            if v.len() != 40 {
                return Err(Error::Corrupt("circle index".into()));
            }
            let author = super::decode_author(&v[..32])?;
            let seq = u64::from_be_bytes(v[32..40].try_into().expect("8 bytes"));
            if let Some(e) = self.entry_at(&author, seq)? {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Every stored epoch entry of a circle.
    pub fn circle_epochs(&self, circle: &CircleId) -> Result<Vec<Entry>> {
        self.entries_under(&key(EPOCHS, &[&circle.0]))
    }

    /// Every stored content entry of a circle (or of one of its epochs).
    pub fn circle_content(&self, circle: &CircleId, epoch: Option<&EpochId>) -> Result<Vec<Entry>> {
        match epoch {
            Some(e) => self.entries_under(&key(SEALED, &[&circle.0, &e.0])),
            None => self.entries_under(&key(SEALED, &[&circle.0])),
        }
    }

    /// Every circle this node holds an epoch of.
    pub fn circle_ids(&self) -> Result<Vec<CircleId>> {
        let mut out: Vec<CircleId> = Vec::new();
        for item in self.kv.scan_prefix(&key(EPOCHS, &[])) {
            let (k, _) = item?;
            let id = circle_of(EPOCHS.rest(&k).unwrap_or_default())?;
            if out.last() != Some(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// What this device's wraps of an epoch gave: its (state, content)
    /// keys, `Some(None)` if no wrap is for this device, `None` if not
    /// tried yet.
    pub fn wrapped_keys(
        &self,
        circle: &CircleId,
        epoch: &EpochId,
    ) -> Result<Option<Option<Wrapped>>> {
        let Some(v) = self.kv.get(key(KEYS, &[&circle.0, &epoch.0]))? else {
            return Ok(None);
        };
        match (v.first(), v.len()) {
            (Some(0), 1) => Ok(Some(None)),
            (Some(1), 65) => Ok(Some(Some(Wrapped {
                content: v[1..33].try_into().expect("32 bytes"),
                history: v[33..65].try_into().expect("32 bytes"),
            }))),
            _ => Err(Error::Corrupt("epoch keys".into())),
        }
    }

    /// Records what this device's wraps of an epoch gave (only keys that
    /// passed the epoch's key check, or that this node made).
    pub fn put_wrapped(
        &self,
        circle: &CircleId,
        epoch: &EpochId,
        keys: Option<&Wrapped>,
    ) -> Result<()> {
        let v = match keys {
            Some(k) => {
                let mut v = vec![1u8];
                v.extend_from_slice(&k.content);
                v.extend_from_slice(&k.history);
                v
            }
            None => vec![0u8],
        };
        self.kv.insert(key(KEYS, &[&circle.0, &epoch.0]), v)?;
        Ok(())
    }

    /// The circle key this node holds for a circle (checked against the
    /// circle's id when it was learned).
    pub fn circle_key(&self, circle: &CircleId) -> Result<Option<CircleKey>> {
        match self.kv.get(key(CIRCLE_KEY, &[&circle.0]))? {
            None => Ok(None),
            Some(v) => Ok(Some(CircleKey(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("circle key".into()))?,
            ))),
        }
    }

    pub fn put_circle_key(&self, circle: &CircleId, circle_key: &CircleKey) -> Result<()> {
        self.kv
            .insert(key(CIRCLE_KEY, &[&circle.0]), circle_key.0)?;
        Ok(())
    }

    pub fn circle_name(&self, circle: &CircleId) -> Result<Option<String>> {
        Ok(self
            .kv
            .get(key(NAME, &[&circle.0]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub fn put_circle_name(&self, circle: &CircleId, name: &str) -> Result<()> {
        self.kv.insert(key(NAME, &[&circle.0]), name.as_bytes())?;
        Ok(())
    }

    /// Writes the opened form and the ordinary views of circle entries
    /// already stored (sealed) in one batch.
    pub fn index_opened(&self, entries: &[Verified]) -> Result<()> {
        let mut batch = Batch::default();
        for v in entries {
            if views::reads_store(v) {
                self.apply(std::mem::take(&mut batch))?;
            }
            self.apply_if_full(&mut batch)?;
            views::index(self, v, &mut batch)?;
        }
        self.apply(batch)?;
        Ok(())
    }
}

use super::views;
