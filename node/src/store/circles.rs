//! What the store keeps about private circles (PROTOCOL.md §12). All of it
//! is a view under `v`, rebuilt from the entries (and this node's device
//! keys) by `reindex`; the plaintext of circle entries is kept only here,
//! inside the data directory, and only on members' nodes.
//!
//! | key                                | value                          |
//! |------------------------------------|--------------------------------|
//! | `vk` device(32)                    | X25519 public key (kind 15)    |
//! | `vo` circle(16) id(32)             | author(32) seq(8): an epoch    |
//! | `vs` circle(16) epoch(16) id(32)   | author(32) seq(8): content     |
//! | `vu` id(32)                        | circle(16) inner body: opened  |
//! | `vK` epoch(16)                     | circle(16) flags(1) state(32) content(32): keys learned |
//! | `vn` circle(16)                    | name                           |
//! | `vw` page(16)                      | circle(16): a circle's page    |

use kith_protocol::circle::{CircleId, EpochId};
use kith_protocol::{AuthorId, Body, BodyError, Entry, EntryId, PageId, Verified};

use super::kv::Batch;
use super::{Error, Result, Store, VIEW};

const DEVICE_KEY: u8 = b'k';
const EPOCHS: u8 = b'o';
const SEALED: u8 = b's';
const OPENED: u8 = b'u';
const KEYS: u8 = b'K';
const NAME: u8 = b'n';
const PAGE: u8 = b'w';

fn key(view: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![VIEW, view];
    for p in parts {
        k.extend_from_slice(p);
    }
    k
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
    if let Some((w, _)) = body.wiki_part() {
        batch.insert(key(PAGE, &[&w.page.0]), &circle.0[..]);
    }
}

pub(super) fn forget_opened(entry: &Entry, batch: &mut Batch) {
    batch.remove(key(OPENED, &[entry.id().as_bytes()]));
}

/// The keys of an epoch this node knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownKeys {
    pub circle: CircleId,
    pub state: Option<[u8; 32]>,
    pub content: Option<[u8; 32]>,
    /// This device tried the epoch's wraps (none was for it, or it holds both keys).
    pub tried: bool,
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
        self.kv
            .get(key(PAGE, &[&page.0]))?
            .map(|v| circle_of(&v))
            .transpose()
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
            let id = circle_of(&k[2..])?;
            if out.last() != Some(&id) {
                out.push(id);
            }
        }
        Ok(out)
    }

    /// What this node learned of an epoch's keys.
    pub fn epoch_keys(&self, epoch: &EpochId) -> Result<Option<KnownKeys>> {
        let Some(v) = self.kv.get(key(KEYS, &[&epoch.0]))? else {
            return Ok(None);
        };
        if v.len() != 81 {
            return Err(Error::Corrupt("epoch keys".into()));
        }
        let flags = v[16];
        let state: [u8; 32] = v[17..49].try_into().expect("32 bytes");
        let content: [u8; 32] = v[49..81].try_into().expect("32 bytes");
        Ok(Some(KnownKeys {
            circle: circle_of(&v)?,
            state: (flags & 1 != 0).then_some(state),
            content: (flags & 2 != 0).then_some(content),
            tried: flags & 4 != 0,
        }))
    }

    /// Records keys of an epoch (merged with what is known); `tried`: this
    /// device tried the epoch's wraps. Returns whether anything was new.
    pub(crate) fn learn_epoch_keys(
        &self,
        circle: &CircleId,
        epoch: &EpochId,
        state: Option<&[u8; 32]>,
        content: Option<&[u8; 32]>,
        tried: bool,
    ) -> Result<bool> {
        let old = self.epoch_keys(epoch)?;
        let mut new = old.clone().unwrap_or(KnownKeys {
            circle: *circle,
            state: None,
            content: None,
            tried: false,
        });
        new.state = new.state.or(state.copied());
        new.content = new.content.or(content.copied());
        new.tried |= tried;
        let learned = old.as_ref().is_none_or(|o| {
            o.state.is_none() && new.state.is_some() || o.content.is_none() && new.content.is_some()
        });
        if old.as_ref() == Some(&new) {
            return Ok(false);
        }
        let mut v = new.circle.0.to_vec();
        v.push(
            u8::from(new.state.is_some())
                | u8::from(new.content.is_some()) << 1
                | u8::from(new.tried) << 2,
        );
        v.extend_from_slice(&new.state.unwrap_or([0; 32]));
        v.extend_from_slice(&new.content.unwrap_or([0; 32]));
        self.kv.insert(key(KEYS, &[&epoch.0]), &v)?;
        Ok(learned && (new.state.is_some() || new.content.is_some()))
    }

    pub fn circle_name(&self, circle: &CircleId) -> Result<Option<String>> {
        Ok(self
            .kv
            .get(key(NAME, &[&circle.0]))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    pub(crate) fn put_circle_name(&self, circle: &CircleId, name: &str) -> Result<()> {
        self.kv.insert(key(NAME, &[&circle.0]), name.as_bytes())?;
        Ok(())
    }

    /// Writes the opened form and the ordinary views of circle entries
    /// already stored (sealed) in one batch.
    pub fn index_opened(&self, entries: &[Verified]) -> Result<()> {
        let mut batch = Batch::default();
        for v in entries {
            if views::reads_store(v) {
                self.kv.apply(std::mem::take(&mut batch))?;
            }
            views::index(self, v, &mut batch)?;
        }
        self.kv.apply(batch)?;
        Ok(())
    }
}

use super::views;
