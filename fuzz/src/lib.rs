//! # kith-fuzz
//!
//! One check per decoder that sees bytes from outside the node. Each check
//! takes arbitrary bytes, runs them through the decoder the node itself
//! uses, and asserts what must hold for every input: no panic, no
//! unbounded allocation, and for what a decoder accepts, that encoding it
//! again gives the same bytes (or the same value, where the format allows
//! one spelling only for the value but not for the bytes).
//!
//! The fuzzer binaries in `fuzz_targets/` call these functions; so does
//! `tests/regressions.rs`, for the seed corpora and every crasher a
//! campaign found (`fuzz/README.md`).

use std::cell::RefCell;

use kith_node::bundle::{self, FrontierFile};
use kith_node::invite::Invite;
use kith_node::ops::http::Incoming;
use kith_node::ops::{self, Operation, Visit};
use kith_node::store::Store;
use kith_node::swarm::{PxRequest, PxResponse};
use kith_node::{Config, Core, DataDir};
use kith_protocol::addr_record::AddrRecord;
use kith_protocol::sync::{self, Request, Response};
use kith_protocol::{
    Body, Draft, Entry, EntryId, Header, Keypair, Limits, PageId, Verified, WikiChange,
    change_group,
};
use libp2p::Multiaddr;

mod circles;
pub use circles::{circle, circle_resolve};

/// The entry envelope and header: what gossip, sync batches and bundles
/// decode first. Accepted entries re-encode to the same bytes; their
/// signatures and bodies are checked as an ingest would.
pub fn entry(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(entry) = Entry::decode(data, &limits) {
        assert_eq!(
            entry.encode(),
            data,
            "an accepted entry re-encodes differently"
        );
        assert_eq!(entry.encoded_len(), data.len());
        // Checking must not panic, whatever the bytes claim.
        let _ = Verified::check(entry.clone(), &limits, u64::MAX / 2);
        if let Some(body) = entry.body() {
            body_roundtrip(body);
        }
    }
    if let Ok(header) = Header::decode(data) {
        assert_eq!(
            header.encode(),
            data,
            "an accepted header re-encodes differently"
        );
    }
    if let Ok((entry, rest)) = Entry::decode_prefix(data, &limits) {
        let used = data.len() - rest.len();
        assert_eq!(entry.encode(), &data[..used]);
    }
}

/// Every body kind, and the change groups inside wiki changes.
pub fn body(data: &[u8]) {
    body_roundtrip(data);
}

fn body_roundtrip(data: &[u8]) {
    let Ok(body) = Body::decode(data) else {
        return;
    };
    let limits = Limits::default();
    let _ = body.check(&limits);
    // Postcard has one spelling per value except for what serde cannot
    // see (none in these types), so a decoded body encodes back exactly.
    assert_eq!(
        body.encode(),
        data,
        "an accepted body re-encodes differently"
    );
    if let Some((change, form)) = body.wiki_part() {
        wiki_parts(change, form);
    }
}

fn wiki_parts(change: &WikiChange, form: kith_protocol::GroupForm) {
    if change_group::check_part(change).is_err() {
        return;
    }
    if form == kith_protocol::GroupForm::Bundle {
        // The inflater: bounded, and exact about where the stream ends.
        if let Ok(bundle) = change_group::decompress(&change.data) {
            assert!(bundle.len() <= change_group::MAX_BUNDLE_BYTES);
            assert_eq!(
                change_group::decompress(&change_group::compress(&bundle)).ok(),
                Some(bundle)
            );
        }
        return;
    }
    if change.parts == 1
        && let Ok(assembled) = change_group::assemble(
            &[change_group::Part {
                parts: change.parts,
                data: &change.data,
            }],
            &change.group_hash,
        )
        && let Ok(changes) = change_group::split(&assembled)
    {
        let owned: Vec<Vec<u8>> = changes.iter().map(|c| c.to_vec()).collect();
        assert_eq!(change_group::frame(&owned), assembled);
        for c in changes {
            let _ = automerge::Change::from_bytes(c.to_vec());
        }
    }
}

/// Sync protocol frames (both directions), the entry batches inside them,
/// and peer-exchange frames.
pub fn sync_message(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(request) = sync::decode::<Request>(data) {
        assert_eq!(sync::encode(&request), data);
        // An offer is checked as the node checks one: each entry verified,
        // and a handover's consent.
        if let Request::Offer { entries } = request
            && let Ok(batch) = sync::decode_any_entries(&entries, &limits)
        {
            for entry in batch {
                let author = entry.author();
                if let Ok(verified) = kith_protocol::Verified::check(entry, &limits, u64::MAX / 2)
                    && let Some(kith_protocol::Body::Succession(s)) = verified.body()
                {
                    let _ = s.consented(&author);
                }
            }
        }
    }
    if let Ok(response) = sync::decode::<Response>(data) {
        assert_eq!(sync::encode(&response), data);
        match response {
            Response::Entries { author, entries } => {
                if let Ok(batch) = sync::decode_entries(&entries, author, &limits) {
                    let mut again = Vec::new();
                    for entry in &batch {
                        assert_eq!(entry.author(), author);
                        entry.encode_into(&mut again);
                    }
                    assert_eq!(again, entries);
                }
            }
            Response::Changes { entries } => {
                let _ = sync::decode_any_entries(&entries, &limits);
            }
            Response::Frontier(_) => {}
        }
    }
    if let Ok(batch) = sync::decode_any_entries(data, &limits) {
        let mut again = Vec::new();
        for entry in &batch {
            entry.encode_into(&mut again);
        }
        assert_eq!(again, data);
    }
    if let Ok(request) = sync::decode::<PxRequest>(data) {
        let _ = request.authors.len();
    }
    if let Ok(response) = sync::decode::<PxResponse>(data) {
        for (_, addrs) in response.peers {
            for addr in addrs {
                let _ = Multiaddr::try_from(addr.into_vec());
            }
        }
    }
}

fn record_key() -> &'static Keypair {
    static KEY: std::sync::OnceLock<Keypair> = std::sync::OnceLock::new();
    KEY.get_or_init(|| Keypair::from_secret(&[7; 32]))
}

/// DHT address records. The first byte picks the path: raw record bytes
/// checked against a fixed author (what a DHT lookup returns), or a record
/// the fixed key signs over fuzzed address bytes, then verified and its
/// addresses parsed as the discovery code does.
pub fn addr_record(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let key = record_key();
    if mode & 1 == 0 {
        if let Ok(record) = AddrRecord::verify(rest, &key.author()) {
            assert_eq!(record.author, key.author());
        }
    } else {
        let addrs: Vec<Vec<u8>> = rest.split(|b| *b == 0xff).map(<[u8]>::to_vec).collect();
        let bytes = AddrRecord::sign(key, &addrs, u64::from(mode));
        let record =
            AddrRecord::verify(&bytes, &key.author()).expect("a record just signed verifies");
        for addr in record.addrs {
            let _ = Multiaddr::try_from(addr);
        }
    }
}

/// Bundle files (`kith bundle import`) and frontier files.
pub fn bundle(data: &[u8]) {
    let limits = Limits::default();
    if let Ok(read) = bundle::read(data, &limits) {
        for entry in &read.entries {
            let _ = Verified::check(entry.clone(), &limits, u64::MAX / 2);
        }
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(file) = FrontierFile::parse(text)
    {
        let _ = file.seqs();
    }
}

/// Codes people paste (any text): invite codes, device link codes and
/// recovery codes; each that decodes encodes to a code that decodes to it.
pub fn invite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(invite) = Invite::decode(text) {
        let again = Invite::decode(&invite.encode()).expect("an encoded invite decodes");
        assert_eq!(again, invite);
    }
    if let Ok(code) = kith_node::device_link::LinkCode::decode(text) {
        let again =
            kith_node::device_link::LinkCode::decode(&code.encode()).expect("a link code decodes");
        assert_eq!(again, code);
        let _ = code.ephemeral();
    }
    if let Ok(code) = kith_node::device_link::RecoveryCode::decode(text) {
        let again = kith_node::device_link::RecoveryCode::decode(&code.encode())
            .expect("a recovery code decodes");
        assert_eq!(again, code);
    }
}

/// A node that trusts one friend, kept across inputs (rebuilt now and then
/// so its state stays small), and the friend's log position.
struct WikiBench {
    core: Core,
    friend: Keypair,
    seq: u64,
    prev: Option<EntryId>,
    runs: u32,
}

impl WikiBench {
    fn new() -> WikiBench {
        let config = Config::new(DataDir::new("/nonexistent"));
        let keypair = Keypair::from_secret(&[1; 32]);
        let mut core = Core::with_store(
            config,
            keypair,
            Store::temporary().expect("a temporary store"),
        )
        .expect("a core");
        let friend = Keypair::from_secret(&[2; 32]);
        core.run(ops::TrustAdd {
            author: friend.author().into(),
            petname: None,
        })
        .expect("trusting the friend");
        WikiBench {
            core,
            friend,
            seq: 0,
            prev: None,
            runs: 0,
        }
    }

    /// Signs `body` as the friend's next entry and ingests it.
    fn ingest(&mut self, body: &Body) {
        let entry = Entry::sign(
            &self.friend,
            Draft {
                seq: self.seq + 1,
                prev: self.prev,
                timestamp_ms: 1_700_000_000_000 + self.seq,
                body: body.encode(),
            },
        );
        let outcome = self.core.ingest(std::slice::from_ref(&entry));
        if outcome.error.is_none() && !outcome.appended.is_empty() {
            self.seq += 1;
            self.prev = Some(entry.id());
        }
    }
}

thread_local! {
    static WIKI: RefCell<Option<WikiBench>> = const { RefCell::new(None) };
    /// The input being checked, for the panic hook.
    static CURRENT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Pages of the wiki bench: a few, so changes meet each other.
fn page(n: u8) -> PageId {
    PageId([n % 4; 16])
}

/// Wiki changes from a trusted author, through the node's own ingest and
/// apply path with its caps. The first byte picks the page and the shape:
/// the rest is either a whole change group (framed changes) or one raw
/// Automerge change that the check frames; either way it is signed by the
/// friend and ingested, and every page is read back afterwards.
pub fn wiki_change(data: &[u8]) {
    // The node runs Automerge on peers' data inside `catch_unwind` (a
    // panic there refuses the change). libFuzzer's hook would abort on
    // such a caught panic; print it instead: a panic that escapes still
    // aborts the run (libfuzzer-sys catches it and aborts).
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        std::panic::set_hook(Box::new(|info| {
            eprintln!(
                "kith-fuzz: panic (the node's guard catches it unless the run aborts): {info}"
            );
            // KITH_FUZZ_SAVE_CAUGHT=dir keeps each input that made
            // Automerge panic, to add to regressions/.
            if let Some(dir) = std::env::var_os("KITH_FUZZ_SAVE_CAUGHT") {
                CURRENT.with(|c| {
                    let data = c.borrow();
                    let name = format!("caught-{}", &blake3::hash(&data).to_hex()[..16]);
                    let _ = std::fs::write(std::path::Path::new(&dir).join(name), &*data);
                });
            }
        }));
    });
    CURRENT.with(|c| *c.borrow_mut() = data.to_vec());
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    // Bit 0x40: the compact form (kind 8); bit 0x80: `rest` is the group
    // as sent, else one change (framed) or one bundle (compressed here).
    let compact = mode & 0x40 != 0;
    let group = match (compact, mode & 0x80 == 0) {
        (false, true) => change_group::frame(&[rest.to_vec()]),
        (true, true) => change_group::compress(rest),
        (_, false) => rest.to_vec(),
    };
    let part = WikiChange {
        page: page(mode),
        group_hash: *blake3::hash(&group).as_bytes(),
        part: 0,
        parts: 1,
        data: group,
    };
    let body = if compact {
        Body::WikiBundle(part)
    } else {
        Body::WikiChange(part)
    };
    if body.encode().len() > Limits::default().max_body_bytes {
        return;
    }
    WIKI.with(|cell| {
        let mut slot = cell.borrow_mut();
        let bench = slot.get_or_insert_with(WikiBench::new);
        bench.runs += 1;
        if bench.runs > 2_000 {
            *bench = WikiBench::new();
        }
        bench.ingest(&body);
        let pages = bench
            .core
            .run(ops::WikiList::default())
            .expect("listing pages after an ingest");
        for view in pages {
            bench
                .core
                .run(ops::WikiShow {
                    page: view.id.to_string(),
                })
                .expect("a listed page shows");
        }
    });
}

/// The HTTP API's request bodies, query strings and path parameters,
/// decoded the way the server decodes them, for every operation. The first
/// byte picks the operation; up to the first newline is the value of each
/// path parameter, the rest is the body (or query string).
pub fn api_request(data: &[u8]) {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let (param, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (&b""[..], rest),
    };
    let Ok(param) = std::str::from_utf8(param) else {
        return;
    };
    let mut visitor = Decode {
        which: usize::from(which) % ops::all().len(),
        index: 0,
        param,
        body,
    };
    ops::visit_all(&mut visitor);
}

struct Decode<'a> {
    which: usize,
    index: usize,
    param: &'a str,
    body: &'a [u8],
}

impl Visit for Decode<'_> {
    fn visit<O: Operation>(&mut self) {
        let index = self.index;
        self.index += 1;
        if index != self.which {
            return;
        }
        let info = O::INFO;
        let params = info
            .path
            .split('/')
            .filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| (name.to_string(), self.param.to_string()))
            .collect();
        let incoming = Incoming {
            method: info.method,
            params,
            query: std::str::from_utf8(self.body).ok(),
            body: self.body,
        };
        if let Ok(request) = O::from_http(incoming) {
            // What the server accepted, the client can send.
            let _ = request.to_http(&info);
        }
    }
}

/// A check: takes any bytes, panics if a property fails.
pub type Check = fn(&[u8]);

/// Every check by name, for the regression tests.
pub const CHECKS: &[(&str, Check)] = &[
    ("entry", entry),
    ("body", body),
    ("sync_message", sync_message),
    ("addr_record", addr_record),
    ("bundle", bundle),
    ("invite", invite),
    ("wiki_change", wiki_change),
    ("api_request", api_request),
    ("circle", circle),
    ("circle_resolve", circle_resolve),
];

/// A JSON value's text, for seeds.
pub fn json(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec(value).expect("JSON encodes")
}
