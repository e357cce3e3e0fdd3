//! Entry bodies: what a person writes.
//!
//! A body is `varint(kind) || payload`, where the payload is the postcard
//! encoding of the kind's struct. A kind this version does not know decodes as
//! [`Body::Unknown`] and is stored and forwarded unchanged, so newer nodes can
//! add kinds without splitting the network. Changing an existing kind's
//! payload needs a new kind number.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::blob::{BlobRef, Files};
use crate::circle::{CircleEpoch, EncryptionKey, MAX_RECIPIENTS, Sealed};
use crate::entry::EntryId;
use crate::identity::{
    DeviceLink, DeviceRevoke, MAX_DEVICE_NAME, MAX_RECOVERY_CONTACTS, RecoveryApproval,
    RecoveryContacts, Rotate, Succession,
};
use crate::keys::AuthorId;
use crate::limits::Limits;
use crate::varint;

/// Most people one post mentions.
pub const MAX_MENTIONS: usize = 32;

/// Body kind numbers on the wire.
pub mod kind {
    pub const POST: u64 = 1;
    pub const ENDORSEMENT: u64 = 2;
    pub const WIKI_CHANGE: u64 = 3;
    pub const PROFILE: u64 = 4;
    pub const TRUST: u64 = 5;
    pub const DELETION: u64 = 6;
    pub const ACCEPT: u64 = 7;
    pub const WIKI_BUNDLE: u64 = 8;
    pub const DEVICE_LINK: u64 = 9;
    pub const DEVICE_REVOKE: u64 = 10;
    pub const ROTATE: u64 = 11;
    pub const RECOVERY_CONTACTS: u64 = 12;
    pub const RECOVERY_APPROVAL: u64 = 13;
    pub const SUCCESSION: u64 = 14;
    pub const ENCRYPTION_KEY: u64 = 15;
    /// Kinds 16 and 17 were the first revision of circles, retired: they
    /// decode as unknown kinds (stored and forwarded, never opened).
    pub const CIRCLE_EPOCH: u64 = 18;
    pub const SEALED: u64 = 19;
    /// A post with files or mentions (PROTOCOL.md §13, §14): kind 1's
    /// payload, then the files, then the mentions.
    pub const POST_WITH_FILES: u64 = 20;
    /// Files an author declares without a post (`kith blob add`).
    pub const FILES: u64 = 21;
    /// A post's text added to a wiki page, with where it came from.
    pub const PROMOTION: u64 = 22;
}

/// Why a body could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BodyError {
    #[error("malformed body: {0}")]
    Malformed(String),
    #[error("invalid body: {0}")]
    Invalid(String),
}

/// The content of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    Post(Post),
    Endorsement(Endorsement),
    WikiChange(WikiChange),
    Profile(Profile),
    Trust(TrustStatement),
    Deletion(Deletion),
    Accept(Accept),
    /// Kind 8: a wiki change group in compact form, the DEFLATE of an
    /// Automerge change bundle (PROTOCOL.md §7). Same fields as kind 3.
    WikiBundle(WikiChange),
    /// Kind 9: the author, an identity key, links a device (PROTOCOL.md §11).
    DeviceLink(DeviceLink),
    /// Kind 10: the author, an identity key, revokes a device.
    DeviceRevoke(DeviceRevoke),
    /// Kind 11: the author hands the person's identity to a new key.
    Rotate(Rotate),
    /// Kind 12: the author, an identity key, names its recovery contacts.
    RecoveryContacts(RecoveryContacts),
    /// Kind 13: the author, a recovery contact, vouches for a new key.
    RecoveryApproval(RecoveryApproval),
    /// Kind 14: the first entry of the author's log, taking over from a key
    /// of the same person that signed the handover.
    Succession(Succession),
    /// Kind 15: the author's X25519 key for circle wraps (PROTOCOL.md §12).
    EncryptionKey(EncryptionKey),
    /// Kind 18: a circle membership change starting a new key epoch.
    CircleEpoch(CircleEpoch),
    /// Kind 19: circle content, encrypted for the circle's members.
    Sealed(Sealed),
    /// Kind 21: files the author declares (PROTOCOL.md §13); a post with
    /// files is a [`Body::Post`] whose `files` are not empty (kind 20).
    Files(Files),
    /// Kind 22: the author added a post's text to a wiki page (PROTOCOL.md
    /// §15): which post, whose, and the author's wiki changes that did it.
    Promotion(Promotion),
    /// A kind from a newer protocol revision, kept verbatim.
    Unknown {
        kind: u64,
        payload: Vec<u8>,
    },
}

/// What a post is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    /// Working out loud: what I am doing, learning, stuck on.
    Note,
    Question,
    Answer,
}

impl PostKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            PostKind::Note => "note",
            PostKind::Question => "question",
            PostKind::Answer => "answer",
        }
    }
}

impl fmt::Display for PostKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PostKind {
    type Err = BodyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "note" => Ok(PostKind::Note),
            "question" => Ok(PostKind::Question),
            "answer" => Ok(PostKind::Answer),
            other => Err(BodyError::Invalid(format!(
                "unknown post kind {other:?} (expected note, question or answer)"
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub kind: PostKind,
    /// Markdown.
    pub text: String,
    pub reply_to: Option<EntryId>,
    pub tags: Vec<String>,
    /// Attached files (kind 20 on the wire; none and no mentions: kind 1).
    #[serde(default)]
    pub files: Vec<BlobRef>,
    /// The people the text mentions (`@name`), resolved to their keys when
    /// it was written (kind 20 on the wire).
    #[serde(default)]
    pub mentions: Vec<AuthorId>,
}

/// Kind 1's payload: a post without files.
#[derive(Serialize, Deserialize)]
struct PostWire {
    kind: PostKind,
    text: String,
    reply_to: Option<EntryId>,
    tags: Vec<String>,
}

/// Kind 20's payload: kind 1's, followed by the files and the mentions.
#[derive(Serialize, Deserialize)]
struct PostWithFilesWire {
    post: PostWire,
    files: Vec<BlobRef>,
    mentions: Vec<AuthorId>,
}

impl Post {
    /// Whether it is written as kind 20 (files or mentions), not kind 1.
    pub fn is_extended(&self) -> bool {
        !self.files.is_empty() || !self.mentions.is_empty()
    }

    fn into_wire(self) -> (PostWire, Vec<BlobRef>, Vec<AuthorId>) {
        let Post {
            kind,
            text,
            reply_to,
            tags,
            files,
            mentions,
        } = self;
        (
            PostWire {
                kind,
                text,
                reply_to,
                tags,
            },
            files,
            mentions,
        )
    }

    fn from_wire(post: PostWire, files: Vec<BlobRef>, mentions: Vec<AuthorId>) -> Post {
        Post {
            kind: post.kind,
            text: post.text,
            reply_to: post.reply_to,
            tags: post.tags,
            files,
            mentions,
        }
    }
}

/// A post's text added to a wiki page (kind 22): the page, the post and
/// its author, and the wiki change entries (the writer's own, written just
/// before) that inserted the text. Readers attribute the lines those
/// changes wrote to the post's author, where the post holds them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promotion {
    pub page: PageId,
    pub source: EntryId,
    pub source_author: AuthorId,
    pub changes: Vec<EntryId>,
}

/// Most change entries one promotion names.
pub const MAX_PROMOTION_CHANGES: usize = 64;

/// "This is good": one per author per target; `withdraw` cancels an earlier one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endorsement {
    pub target: EntryId,
    pub note: Option<String>,
    pub withdraw: bool,
}

id16!(
    PageId,
    "page",
    "A stable wiki page id: 16 random bytes chosen by the page's creator."
);

/// Automerge changes to a wiki page. The *group* is a sequence of
/// `varint(len) || change` (Automerge's binary change format); a group too
/// large for one entry is split into `parts` entries whose `data` are
/// concatenated in `part` order. Every part carries `group_hash`, the blake3
/// of the whole group, which identifies the parts and checks the assembly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WikiChange {
    pub page: PageId,
    pub group_hash: [u8; 32],
    pub part: u32,
    pub parts: u32,
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Profile {
    pub name: String,
    pub about: String,
}

/// A public statement about another author: vouch (`true`) or withdraw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TrustStatement {
    pub subject: AuthorId,
    pub vouch: bool,
}

/// A request, by its author, that everyone drop an entry's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deletion {
    pub target: EntryId,
}

/// The question's author marks an answer accepted (`None` withdraws).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accept {
    pub question: EntryId,
    pub answer: Option<EntryId>,
}

/// How the data of a wiki change group is encoded (PROTOCOL.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupForm {
    /// Kind 3: `varint(len) || change` per Automerge change.
    Framed,
    /// Kind 8: raw DEFLATE of one Automerge change bundle.
    Bundle,
}

impl Body {
    /// The wiki change part this body carries, and its group's form.
    pub fn wiki_part(&self) -> Option<(&WikiChange, GroupForm)> {
        match self {
            Body::WikiChange(w) => Some((w, GroupForm::Framed)),
            Body::WikiBundle(w) => Some((w, GroupForm::Bundle)),
            _ => None,
        }
    }

    /// The wiki change part this body carries, to change the page it names.
    pub fn wiki_part_mut(&mut self) -> Option<&mut WikiChange> {
        match self {
            Body::WikiChange(w) | Body::WikiBundle(w) => Some(w),
            _ => None,
        }
    }

    /// A certificate of persons and devices (kinds 9–13, PROTOCOL.md §11).
    pub fn is_certificate(&self) -> bool {
        matches!(
            self,
            Body::DeviceLink(_)
                | Body::DeviceRevoke(_)
                | Body::Rotate(_)
                | Body::RecoveryContacts(_)
                | Body::RecoveryApproval(_)
                | Body::Succession(_)
        )
    }

    /// Wire kind number.
    pub fn kind(&self) -> u64 {
        match self {
            Body::Post(p) if !p.is_extended() => kind::POST,
            Body::Post(_) => kind::POST_WITH_FILES,
            Body::Files(_) => kind::FILES,
            Body::Promotion(_) => kind::PROMOTION,
            Body::Endorsement(_) => kind::ENDORSEMENT,
            Body::WikiChange(_) => kind::WIKI_CHANGE,
            Body::Profile(_) => kind::PROFILE,
            Body::Trust(_) => kind::TRUST,
            Body::Deletion(_) => kind::DELETION,
            Body::Accept(_) => kind::ACCEPT,
            Body::WikiBundle(_) => kind::WIKI_BUNDLE,
            Body::DeviceLink(_) => kind::DEVICE_LINK,
            Body::DeviceRevoke(_) => kind::DEVICE_REVOKE,
            Body::Rotate(_) => kind::ROTATE,
            Body::RecoveryContacts(_) => kind::RECOVERY_CONTACTS,
            Body::RecoveryApproval(_) => kind::RECOVERY_APPROVAL,
            Body::Succession(_) => kind::SUCCESSION,
            Body::EncryptionKey(_) => kind::ENCRYPTION_KEY,
            Body::CircleEpoch(_) => kind::CIRCLE_EPOCH,
            Body::Sealed(_) => kind::SEALED,
            Body::Unknown { kind, .. } => *kind,
        }
    }

    /// A short name for displays and JSON.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Body::Post(p) => p.kind.as_str(),
            Body::Endorsement(_) => "endorsement",
            Body::WikiChange(_) | Body::WikiBundle(_) => "wiki",
            Body::Profile(_) => "profile",
            Body::Trust(_) => "trust",
            Body::Deletion(_) => "deletion",
            Body::Accept(_) => "accept",
            Body::DeviceLink(_) => "device link",
            Body::DeviceRevoke(_) => "device revoke",
            Body::Rotate(_) => "rotate",
            Body::RecoveryContacts(_) => "recovery contacts",
            Body::RecoveryApproval(_) => "recovery approval",
            Body::Succession(_) => "succession",
            Body::EncryptionKey(_) => "encryption key",
            Body::CircleEpoch(_) => "circle change",
            Body::Sealed(_) => "circle entry",
            Body::Files(_) => "files",
            Body::Promotion(_) => "promotion",
            Body::Unknown { .. } => "unknown",
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        varint::encode(self.kind(), &mut out);
        let payload = match self {
            Body::Post(p) => {
                let (post, files, mentions) = p.clone().into_wire();
                if files.is_empty() && mentions.is_empty() {
                    postcard::to_stdvec(&post)
                } else {
                    postcard::to_stdvec(&PostWithFilesWire {
                        post,
                        files,
                        mentions,
                    })
                }
            }
            Body::Files(f) => postcard::to_stdvec(f),
            Body::Promotion(p) => postcard::to_stdvec(p),
            Body::Endorsement(e) => postcard::to_stdvec(e),
            Body::WikiChange(w) | Body::WikiBundle(w) => postcard::to_stdvec(w),
            Body::Profile(p) => postcard::to_stdvec(p),
            Body::Trust(t) => postcard::to_stdvec(t),
            Body::Deletion(d) => postcard::to_stdvec(d),
            Body::Accept(a) => postcard::to_stdvec(a),
            Body::DeviceLink(l) => postcard::to_stdvec(l),
            Body::DeviceRevoke(r) => postcard::to_stdvec(r),
            Body::Rotate(r) => postcard::to_stdvec(r),
            Body::RecoveryContacts(c) => postcard::to_stdvec(c),
            Body::RecoveryApproval(a) => postcard::to_stdvec(a),
            Body::Succession(s) => postcard::to_stdvec(s),
            Body::EncryptionKey(k) => postcard::to_stdvec(k),
            Body::CircleEpoch(e) => postcard::to_stdvec(e),
            Body::Sealed(s) => postcard::to_stdvec(s),
            Body::Unknown { payload, .. } => Ok(payload.clone()),
        }
        .expect("encoding into a Vec cannot fail");
        out.extend_from_slice(&payload);
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Body, BodyError> {
        let (kind, payload) =
            varint::decode(bytes).map_err(|e| BodyError::Malformed(e.to_string()))?;
        fn strict<'a, T: Deserialize<'a>>(payload: &'a [u8]) -> Result<T, BodyError> {
            let (value, rest) = postcard::take_from_bytes(payload)
                .map_err(|e| BodyError::Malformed(e.to_string()))?;
            if !rest.is_empty() {
                return Err(BodyError::Malformed("trailing bytes".to_string()));
            }
            Ok(value)
        }
        Ok(match kind {
            kind::POST => Body::Post(Post::from_wire(strict(payload)?, Vec::new(), Vec::new())),
            kind::POST_WITH_FILES => {
                let wire: PostWithFilesWire = strict(payload)?;
                Body::Post(Post::from_wire(wire.post, wire.files, wire.mentions))
            }
            kind::FILES => Body::Files(strict(payload)?),
            kind::PROMOTION => Body::Promotion(strict(payload)?),
            kind::ENDORSEMENT => Body::Endorsement(strict(payload)?),
            kind::WIKI_CHANGE => Body::WikiChange(strict(payload)?),
            kind::PROFILE => Body::Profile(strict(payload)?),
            kind::TRUST => Body::Trust(strict(payload)?),
            kind::DELETION => Body::Deletion(strict(payload)?),
            kind::ACCEPT => Body::Accept(strict(payload)?),
            kind::WIKI_BUNDLE => Body::WikiBundle(strict(payload)?),
            kind::DEVICE_LINK => Body::DeviceLink(strict(payload)?),
            kind::DEVICE_REVOKE => Body::DeviceRevoke(strict(payload)?),
            kind::ROTATE => Body::Rotate(strict(payload)?),
            kind::RECOVERY_CONTACTS => Body::RecoveryContacts(strict(payload)?),
            kind::RECOVERY_APPROVAL => Body::RecoveryApproval(strict(payload)?),
            kind::SUCCESSION => Body::Succession(strict(payload)?),
            kind::ENCRYPTION_KEY => Body::EncryptionKey(strict(payload)?),
            kind::CIRCLE_EPOCH => Body::CircleEpoch(strict(payload)?),
            kind::SEALED => Body::Sealed(strict(payload)?),
            kind => Body::Unknown {
                kind,
                payload: payload.to_vec(),
            },
        })
        .and_then(|body| {
            // Postcard reads overlong varints inside the payload; the
            // protocol allows only the shortest form (found by fuzzing:
            // fuzz/regressions/entry/overlong-varint-in-wiki-body).
            if body.encode() != bytes {
                return Err(BodyError::Malformed(
                    "body is not canonically encoded".to_string(),
                ));
            }
            Ok(body)
        })
    }

    /// Checks the content rules a node applies to what its own user writes
    /// (peers' bodies are checked for size only; views skip what they cannot use).
    pub fn check(&self, limits: &Limits) -> Result<(), BodyError> {
        match self {
            Body::Post(post) => {
                if post.text.trim().is_empty() && post.files.is_empty() {
                    return Err(BodyError::Invalid("post text is empty".to_string()));
                }
                if post.kind == PostKind::Answer && post.reply_to.is_none() {
                    return Err(BodyError::Invalid(
                        "an answer must reply to a question".to_string(),
                    ));
                }
                if post.tags.len() > limits.max_tags {
                    return Err(BodyError::Invalid(format!(
                        "too many tags: {} (limit {})",
                        post.tags.len(),
                        limits.max_tags
                    )));
                }
                crate::blob::check_files(&post.files)?;
                if post.mentions.len() > MAX_MENTIONS {
                    return Err(BodyError::Invalid(format!(
                        "too many mentions: {} (limit {MAX_MENTIONS})",
                        post.mentions.len()
                    )));
                }
                for tag in &post.tags {
                    if tag.is_empty()
                        || tag.len() > limits.max_tag_len
                        || tag.chars().any(char::is_whitespace)
                    {
                        return Err(BodyError::Invalid(format!(
                            "bad tag {tag:?}: tags are 1–{} characters without spaces",
                            limits.max_tag_len
                        )));
                    }
                }
            }
            Body::Files(f) if f.files.is_empty() => {
                return Err(BodyError::Invalid("no files to declare".to_string()));
            }
            Body::Files(f) => crate::blob::check_files(&f.files)?,
            Body::Promotion(p)
                if p.changes.is_empty() || p.changes.len() > MAX_PROMOTION_CHANGES =>
            {
                return Err(BodyError::Invalid(format!(
                    "a promotion names 1 to {MAX_PROMOTION_CHANGES} changes (got {})",
                    p.changes.len()
                )));
            }
            Body::Profile(profile) if profile.name.trim().is_empty() => {
                return Err(BodyError::Invalid("profile name is empty".to_string()));
            }
            Body::DeviceLink(link) if link.name.len() > MAX_DEVICE_NAME => {
                return Err(BodyError::Invalid(format!(
                    "device name is {} bytes, limit {MAX_DEVICE_NAME}",
                    link.name.len()
                )));
            }
            Body::RecoveryContacts(c)
                if c.contacts.len() > MAX_RECOVERY_CONTACTS
                    || c.threshold == 0
                    || usize::from(c.threshold) > c.contacts.len() =>
            {
                return Err(BodyError::Invalid(format!(
                    "recovery needs 1 to {MAX_RECOVERY_CONTACTS} contacts and a threshold between 1 and their number (got {} of {})",
                    c.threshold,
                    c.contacts.len()
                )));
            }
            Body::CircleEpoch(e) if e.wraps.is_empty() || e.wraps.len() > MAX_RECIPIENTS => {
                return Err(BodyError::Invalid(format!(
                    "a circle epoch has 1 to {MAX_RECIPIENTS} wraps (got {})",
                    e.wraps.len()
                )));
            }
            Body::WikiChange(w) | Body::WikiBundle(w) if w.parts == 0 || w.part >= w.parts => {
                return Err(BodyError::Invalid(format!(
                    "wiki change part {} of {} is out of range",
                    w.part, w.parts
                )));
            }
            _ => {}
        }
        let len = self.encode().len();
        if len > limits.max_body_bytes {
            return Err(BodyError::Invalid(format!(
                "body is {len} bytes, limit {}",
                limits.max_body_bytes
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
