//! # kith-protocol
//!
//! The pure core of Kith: identities, signed hash-chained entries, entry
//! bodies, validation, limits, and the sans-IO replication state machine.
//! Nothing here does I/O, reads a clock or owns an RNG: callers pass `now`
//! and randomness in, which keeps the logic deterministic and lets tests
//! simulate whole networks.
//!
//! ```
//! use kith_protocol::{Body, Draft, Entry, Keypair, Limits, Post, PostKind};
//!
//! let keypair = Keypair::from_secret(&[1; 32]);
//! let body = Body::Post(Post {
//!     kind: PostKind::Note,
//!     text: "Working on the sync protocol".into(),
//!     reply_to: None,
//!     tags: vec!["kith".into()],
//!     files: vec![],
//!     mentions: vec![],
//! });
//! let entry = Entry::sign(&keypair, Draft { seq: 1, prev: None, timestamp_ms: 1, body: body.encode() });
//! let bytes = entry.encode();
//! let received = Entry::decode(&bytes, &Limits::default()).unwrap();
//! received.verify(&Limits::default(), 1).unwrap();
//! assert_eq!(Body::decode(received.body().unwrap()).unwrap(), body);
//! ```

#[macro_use]
mod ids;

pub mod addr_record;
pub mod blob;
pub mod body;
pub mod change_group;
pub mod circle;
pub mod entry;
pub mod identity;
pub mod keys;
pub mod limits;
pub mod sync;
pub mod varint;
pub mod vectors;
pub mod verified;

pub use body::{
    Accept, Body, BodyError, Deletion, Endorsement, GroupForm, PageId, Post, PostKind, Profile,
    Promotion, TrustStatement, WikiChange,
};
pub use entry::{
    BodyHash, ChainStep, Draft, Entry, EntryId, ForkProof, Head, Header, PROTOCOL_VERSION,
    SIGNING_DOMAIN, ValidationError, check_chain,
};
pub use identity::{
    CertBody, DeviceLink, DeviceRevoke, Person, RecoveryApproval, RecoveryContacts, Registry,
    Rotate,
};
pub use keys::{AuthorId, KeyError, Keypair};
pub use limits::Limits;
pub use verified::{Decoded, Verified};
