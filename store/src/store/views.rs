//! Views derived from entries, all under the `v` key prefix, all rebuilt by
//! [`Store::reindex`](super::Store::reindex).
//!
//! | key                                   | value        | view                       |
//! |---------------------------------------|--------------|----------------------------|
//! | `vf` ts(8) id(32)                     | author(32)   | feed: posts by time        |
//! | `vv` truster(32) subject(32)          | empty        | public vouches (2 hops)    |
//! | `vp` author(32)                       | `Profile`    | latest profile             |
//! | `vr` parent(32) ts(8) child(32)       | kind(1)      | replies and answers        |
//! | `ve` target(32) endorser(32)          | `Endorsed`   | current endorsements       |
//! | `vx` question(32) accepter(32)        | answer(32)   | accepted answers           |
//! | `va` n(8)                             | locations    | arrival order (search sync)|
//! | `vc` author(32) seq(8)                | body         | identity certificates      |
//! | `vb` blob hash(32) entry(32)          | `BlobRef`    | who references a blob     |
//! | `vq` page(16) promotion(32)           | `Promoted`   | posts added to a page     |
//! | `vt` source(32) page(16)              | empty        | pages a post was added to |
//! | `vk` `vo` `vs` `vu` `vK` `vn` `vw`    | see [`circles`](super::circles) | private circles |
//!
//! Indexing is order-independent across authors and runs in log order within
//! an author, which is how entries arrive and how `reindex` replays them.

use kith_protocol::identity::{CertBody, Registry};
use kith_protocol::{AuthorId, Body, Decoded, Entry, EntryId, Verified};

mod files;

pub use self::files::Promoted;

use super::keyspace::Space;
use super::kv::Batch;
use super::{Error, FeedQuery, Result, Store};

/// An endorsement as the view keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Endorsed {
    pub entry: EntryId,
    pub timestamp_ms: u64,
    pub note: Option<String>,
}

/// Whether indexing `entry` reads other entries, so everything before it in
/// the same write batch must be applied first.
pub(crate) fn reads_store(entry: &Verified) -> bool {
    matches!(entry.body(), Some(Body::Deletion(_)))
}

/// Adds the view records derived from `entry` to `batch`.
pub(crate) fn index(store: &Store, verified: &Verified, batch: &mut Batch) -> Result<()> {
    let entry = verified.entry();
    batch.push_arrival(&super::entry_key(&entry.author(), entry.seq()).0);
    let body = match verified.decoded() {
        Decoded::Body(body) => body,
        // Deleted: contributes nothing.
        Decoded::Absent => return Ok(()),
        Decoded::Malformed(_) => {
            // A peer's undecodable body stays in the log but feeds no view.
            tracing::debug!(id = %entry.id(), "skipping undecodable body in views");
            return Ok(());
        }
    };
    if let Some(circle) = verified.circle() {
        super::circles::index_opened(entry, circle, body, batch);
    }
    match body {
        Body::EncryptionKey(_) | Body::CircleEpoch(_) | Body::Sealed(_) => {
            super::circles::index_raw(entry, body, batch);
        }
        Body::Post(post) => {
            index_post(entry, post, batch);
            files::index_files(entry, &post.files, batch);
        }
        Body::Files(files) => files::index_files(entry, &files.files, batch),
        Body::Promotion(p) => files::index_promotion(entry, p, batch),
        Body::Endorsement(e) => index_endorsement(entry, e, batch),
        Body::Accept(a) => {
            let key = pair_key(Space::Accept, &a.question.0, entry.author().as_bytes());
            match a.answer {
                Some(answer) => batch.insert(key, answer.as_bytes()),
                None => batch.remove(key),
            }
        }
        Body::Trust(statement) => {
            let key = vouch_key(&entry.author(), &statement.subject);
            if statement.vouch {
                batch.insert(key, []);
            } else {
                batch.remove(key);
            }
        }
        Body::Profile(profile) => {
            batch.insert(
                profile_key(&entry.author()),
                postcard::to_stdvec(profile).expect("encoding into a Vec cannot fail"),
            );
        }
        body if body.is_certificate() => index_certificate(entry, body, batch),
        Body::Deletion(deletion) => index_deletion(store, entry, &deletion.target, batch)?,
        _ => {}
    }
    Ok(())
}

fn index_post(entry: &Entry, post: &kith_protocol::Post, batch: &mut Batch) {
    // The post's place (author, seq): a feed page reads its posts there,
    // not through the id index. (Records written before hold the author
    // alone; `feed` reads those by id.)
    batch.insert(
        feed_key(entry.header().timestamp_ms, &entry.id()),
        super::entry_key(&entry.author(), entry.seq()).0,
    );
    if let Some(parent) = &post.reply_to {
        batch.insert(
            reply_key(parent, entry.header().timestamp_ms, &entry.id()),
            [post_kind_byte(post.kind)],
        );
    }
}

fn index_endorsement(entry: &Entry, e: &kith_protocol::Endorsement, batch: &mut Batch) {
    let key = endorse_key(&e.target, &entry.author());
    if e.withdraw {
        batch.remove(key);
    } else {
        let value = Endorsed {
            entry: entry.id(),
            timestamp_ms: entry.header().timestamp_ms,
            note: e.note.clone(),
        };
        batch.insert(
            key,
            postcard::to_stdvec(&value).expect("encoding into a Vec cannot fail"),
        );
    }
}

/// A certificate (PROTOCOL.md §11) is kept whole in the registry's space;
/// a succession at seq 1 also records the handover.
fn index_certificate(entry: &Entry, body: &Body, batch: &mut Batch) {
    let key = Space::Cert.key(&[entry.author().as_bytes(), &entry.seq().to_be_bytes()]);
    batch.insert(key, body.encode());
    batch.registry = true;
    if let Body::Succession(s) = body
        && entry.seq() == 1
    {
        // Handovers (kind 14): old key (32) || new key (32).
        let key = Space::Handover.key(&[s.from.as_bytes(), entry.author().as_bytes()]);
        batch.insert(key, []);
    }
}

/// A deletion drops its target's body and views, if the deleter wrote it.
fn index_deletion(store: &Store, entry: &Entry, target: &EntryId, batch: &mut Batch) -> Result<()> {
    if let Some(target) = store.get(target)? {
        // Only an author may delete their own entries; a certificate's body
        // stays (PROTOCOL.md §11: persons are resolved from every
        // certificate ever made), and so does a circle epoch's (§12: a
        // member deleting one would leave every epoch after it waiting for
        // its parent).
        let kept = target
            .body()
            .and_then(|b| Body::decode(b).ok())
            .is_some_and(|b| b.is_certificate() || matches!(b, Body::CircleEpoch(_)));
        if target.author() == entry.author() && target.body().is_some() && !kept {
            unindex(store, &target, batch);
            super::circles::forget_opened(&target, batch);
            store.drop_body(&target, batch);
        }
    }
    Ok(())
}

/// Removes the view records `index` made for `entry`.
fn unindex(store: &Store, entry: &Entry, batch: &mut Batch) {
    let Some(Ok(body)) = store.open_body(entry) else {
        return;
    };
    match body {
        Body::Post(post) => {
            batch.remove(feed_key(entry.header().timestamp_ms, &entry.id()));
            if let Some(parent) = post.reply_to {
                batch.remove(reply_key(&parent, entry.header().timestamp_ms, &entry.id()));
            }
            for file in &post.files {
                batch.remove(files::blob_ref_key(&file.hash, &entry.id()));
            }
        }
        Body::Files(files) => {
            for file in &files.files {
                batch.remove(files::blob_ref_key(&file.hash, &entry.id()));
            }
        }
        Body::Promotion(p) => {
            batch.remove(Space::PromotedTo.key(&[&p.page.0, entry.id().as_bytes()]));
            batch.remove(Space::PromotedFrom.key(&[p.source.as_bytes(), &p.page.0]));
        }
        Body::Endorsement(e) if !e.withdraw => {
            // Only if it is still the endorser's current one.
            let key = endorse_key(&e.target, &entry.author());
            if let Ok(Some(v)) = store.kv().get(&key)
                && postcard::from_bytes::<Endorsed>(&v).is_ok_and(|c| c.entry == entry.id())
            {
                batch.remove(key);
            }
        }
        _ => {}
    }
}

fn post_kind_byte(kind: kith_protocol::PostKind) -> u8 {
    match kind {
        kith_protocol::PostKind::Note => 0,
        kith_protocol::PostKind::Question => 1,
        kith_protocol::PostKind::Answer => 2,
    }
}

fn arrival_key(n: u64) -> Vec<u8> {
    Space::Arrival.key(&[&n.to_be_bytes()])
}

fn reply_key(parent: &EntryId, ts: u64, child: &EntryId) -> Vec<u8> {
    Space::Reply.key(&[parent.as_bytes(), &ts.to_be_bytes(), child.as_bytes()])
}

fn pair_key(view: Space, a: &[u8; 32], b: &[u8; 32]) -> Vec<u8> {
    view.key(&[a, b])
}

fn endorse_key(target: &EntryId, endorser: &AuthorId) -> Vec<u8> {
    pair_key(Space::Endorse, target.as_bytes(), endorser.as_bytes())
}

/// Replies to `parent` (answers included), oldest first: (child, is_answer).
pub(crate) fn replies(store: &Store, parent: &EntryId) -> Result<Vec<(EntryId, bool)>> {
    let mut prefix = Space::Reply.prefix().to_vec();
    prefix.extend_from_slice(parent.as_bytes());
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(&prefix) {
        let (k, v) = item?;
        let id = EntryId(
            k[42..74]
                .try_into()
                .map_err(|_| Error::Corrupt("reply key".into()))?,
        );
        out.push((id, v.first() == Some(&2)));
    }
    Ok(out)
}

/// Current endorsements of `target`, by endorser.
pub(crate) fn endorsements(store: &Store, target: &EntryId) -> Result<Vec<(AuthorId, Endorsed)>> {
    let mut prefix = Space::Endorse.prefix().to_vec();
    prefix.extend_from_slice(target.as_bytes());
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(&prefix) {
        let (k, v) = item?;
        let endorser = super::decode_author(&k[34..66])?;
        let e: Endorsed =
            postcard::from_bytes(&v).map_err(|e| Error::Corrupt(format!("endorsement: {e}")))?;
        out.push((endorser, e));
    }
    Ok(out)
}

/// The answer `accepter` marked accepted for `question`, if any.
pub(crate) fn accepted_by(
    store: &Store,
    question: &EntryId,
    accepter: &AuthorId,
) -> Result<Option<EntryId>> {
    match store.kv().get(pair_key(
        Space::Accept,
        question.as_bytes(),
        accepter.as_bytes(),
    ))? {
        Some(v) => Ok(Some(EntryId(
            v.as_ref()
                .try_into()
                .map_err(|_| Error::Corrupt("accept".into()))?,
        ))),
        None => Ok(None),
    }
}

/// Writes the arrival record of the entries `batch` stored: one key, `va`
/// and the first entry's number, whose value is their locations (author 32,
/// seq 8) in order, numbered on from there. (Stores written before this
/// record existed hold one location per key, which reads the same way.)
/// Returns the first number and how many it handed out, if any.
pub(crate) fn number_arrivals(store: &Store, batch: &mut Batch) -> Option<(u64, u64)> {
    if batch.arrivals.is_empty() {
        return None;
    }
    let locations = std::mem::take(&mut batch.arrivals);
    let count = (locations.len() / LOCATION) as u64;
    let first = store.next_arrivals(count);
    batch.insert(arrival_key(first), locations);
    Some((first, count))
}

/// Bytes of one location in an arrival record: author (32), seq (8).
const LOCATION: usize = 40;

/// An arrival record: its first number and the locations it numbers.
fn arrival_record(key: &[u8], value: &[u8]) -> Result<(u64, Vec<(AuthorId, u64)>)> {
    let first = key
        .get(2..10)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| Error::Corrupt("arrival key".into()))?;
    if value.is_empty() || !value.len().is_multiple_of(LOCATION) {
        return Err(Error::Corrupt("arrival record".into()));
    }
    let mut locations = Vec::with_capacity(value.len() / LOCATION);
    for loc in value.chunks_exact(LOCATION) {
        let seq: [u8; 8] = loc[32..].try_into().expect("a location is 40 bytes");
        locations.push((super::decode_author(&loc[..32])?, u64::from_be_bytes(seq)));
    }
    Ok((first, locations))
}

/// Up to `limit` entries stored after arrival number `after`, in arrival order.
pub(crate) fn arrivals_after(store: &Store, after: u64, limit: usize) -> Result<Vec<(u64, Entry)>> {
    let wanted = after.saturating_add(1);
    let end = Space::Arrival.end();
    // The record holding `wanted` starts at or before it.
    let start = match store
        .kv()
        .range(&arrival_key(0), &arrival_key(wanted.saturating_add(1)))
        .next_back()
    {
        Some(item) => item?.0.to_vec(),
        None => arrival_key(wanted),
    };
    let mut out = Vec::new();
    for item in store.kv().range(&start, &end) {
        let (k, v) = item?;
        let (first, locations) = arrival_record(&k, &v)?;
        for (n, (author, seq)) in (first..).zip(locations) {
            if n < wanted {
                continue;
            }
            if out.len() == limit {
                return Ok(out);
            }
            if let Some(entry) = store.entry_at(&author, seq)? {
                out.push((n, entry));
            }
        }
    }
    Ok(out)
}

/// The highest arrival number stored.
pub(crate) fn last_arrival(store: &Store) -> Result<u64> {
    let start = arrival_key(0);
    let end = Space::Arrival.end();
    match store.kv().range(&start, &end).next_back() {
        Some(item) => {
            let (k, v) = item?;
            let (first, locations) = arrival_record(&k, &v)?;
            Ok(first + locations.len() as u64 - 1)
        }
        None => Ok(0),
    }
}

fn feed_key(ts: u64, id: &EntryId) -> Vec<u8> {
    Space::Feed.key(&[&ts.to_be_bytes(), id.as_bytes()])
}

fn vouch_key(truster: &AuthorId, subject: &AuthorId) -> Vec<u8> {
    Space::Vouch.key(&[truster.as_bytes(), subject.as_bytes()])
}

fn profile_key(author: &AuthorId) -> Vec<u8> {
    Space::Profile.key(&[author.as_bytes()])
}

/// The name an author gave themselves in their latest profile entry.
pub fn profile_name(store: &Store, author: &AuthorId) -> Result<Option<String>> {
    Ok(profile(store, author)?.map(|p| p.name))
}

/// An author's latest profile.
pub fn profile(store: &Store, author: &AuthorId) -> Result<Option<kith_protocol::Profile>> {
    match store.kv().get(profile_key(author))? {
        None => Ok(None),
        Some(v) => Ok(postcard::from_bytes(&v).ok()),
    }
}

/// Authors `truster` publicly vouches for.
pub(crate) fn vouched_by(store: &Store, truster: &AuthorId) -> Result<Vec<AuthorId>> {
    let mut prefix = Space::Vouch.prefix().to_vec();
    prefix.extend_from_slice(truster.as_bytes());
    let mut out = Vec::new();
    for item in store.kv().scan_prefix(&prefix) {
        let (k, _) = item?;
        out.push(super::decode_author(&k[34..])?);
    }
    Ok(out)
}

/// Posts newest first, filtered by `query`.
pub(crate) fn feed(store: &Store, query: &FeedQuery) -> Result<Vec<Entry>> {
    let start = Space::Feed.prefix();
    let end = match query.before {
        Some((ts, id)) => feed_key(ts, &id),
        None => Space::Feed.end(),
    };
    let mut out = Vec::new();
    for item in store.kv().range(start, &end).rev() {
        if out.len() >= query.limit {
            break;
        }
        let (k, v) = item?;
        if let Some(author) = &query.author
            && v.get(..32) != Some(author.as_bytes())
        {
            continue;
        }
        let id = EntryId(
            k[10..42]
                .try_into()
                .map_err(|_| Error::Corrupt("feed key".into()))?,
        );
        let at = match v.get(32..40) {
            Some(seq) => store
                .entry_at(
                    &super::decode_author(&v[..32])?,
                    u64::from_be_bytes(seq.try_into().expect("8 bytes")),
                )?
                .filter(|e| e.id() == id),
            None => store.get(&id)?,
        };
        let Some(entry) = at else {
            return Err(Error::Corrupt(format!("feed points at missing entry {id}")));
        };
        if query.kind.is_some() || query.tag.is_some() {
            let Some(Ok(Body::Post(post))) = store.open_body(&entry) else {
                continue;
            };
            if query.kind.is_some_and(|k| k != post.kind) {
                continue;
            }
            if let Some(tag) = &query.tag
                && !post.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
            {
                continue;
            }
        }
        out.push(entry);
    }
    Ok(out)
}

/// The first entries of the logs that took over from `from` (kind 14).
pub(crate) fn handovers(store: &Store, from: &AuthorId) -> Result<Vec<Entry>> {
    let mut prefix = Space::Handover.prefix().to_vec();
    prefix.extend_from_slice(from.as_bytes());
    let mut out = Vec::new();
    for item in store.kv.scan_prefix(&prefix) {
        let (k, _) = item?;
        let new = super::decode_author(&k[prefix.len()..])?;
        if let Some(entry) = store.entry_at(&new, 1)? {
            out.push(entry);
        }
    }
    Ok(out)
}

/// Every identity certificate in the logs (PROTOCOL.md §11), as a registry.
pub(crate) fn registry(store: &Store) -> Result<Registry> {
    let mut registry = Registry::new();
    for item in store.kv.scan_prefix(Space::Cert.prefix()) {
        let (k, v) = item?;
        if k.len() != 2 + 32 + 8 {
            return Err(Error::Corrupt("certificate view key".into()));
        }
        let author = super::decode_author(&k[2..34])?;
        let seq = u64::from_be_bytes(k[34..42].try_into().expect("8 bytes"));
        let body = Body::decode(&v).map_err(|e| Error::Corrupt(format!("certificate: {e}")))?;
        if let Some(cert) = CertBody::of(&body) {
            registry.add(author, seq, cert);
        }
    }
    for (author, seq) in store.fork_points()? {
        registry.add_fork(author, seq);
    }
    Ok(registry)
}

/// What the views answer, as the store's methods.
impl Store {
    /// Replies to an entry, oldest first: (reply, is an answer).
    pub fn replies(&self, parent: &EntryId) -> Result<Vec<(EntryId, bool)>> {
        replies(self, parent)
    }

    /// Current endorsements of an entry.
    pub fn endorsements(&self, target: &EntryId) -> Result<Vec<(AuthorId, Endorsed)>> {
        endorsements(self, target)
    }

    /// The answer the person of `author` accepted for `question`, from
    /// whichever of the person's keys accepted one (root first, then in
    /// the order the certificates made them).
    pub fn accepted_by_person(
        &self,
        question: &EntryId,
        author: &AuthorId,
    ) -> Result<Option<EntryId>> {
        let registry = self.registry()?;
        if registry.is_empty() {
            return self.accepted_by(question, author);
        }
        for key in registry.person_of(author).keys {
            if let Some(answer) = self.accepted_by(question, &key.key)? {
                return Ok(Some(answer));
            }
        }
        Ok(None)
    }

    /// The answer `accepter` accepted for `question`.
    pub fn accepted_by(&self, question: &EntryId, accepter: &AuthorId) -> Result<Option<EntryId>> {
        accepted_by(self, question, accepter)
    }

    /// Authors `truster` publicly vouches for.
    pub fn vouched_by(&self, truster: &AuthorId) -> Result<Vec<AuthorId>> {
        vouched_by(self, truster)
    }
}
