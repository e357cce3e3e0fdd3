//! [`Verified`]: an entry whose signature, body hash and timestamp have been
//! checked, carrying its body decoded once. Stores take `Verified` entries,
//! so "checked before stored" is a fact of the types, and the body is never
//! decoded again on the way to the views.

use crate::body::{Body, BodyError};
use crate::circle::CircleId;
use crate::entry::{Entry, ValidationError};
use crate::limits::Limits;

/// A checked entry and its decoded body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    entry: Entry,
    body: Decoded,
    /// Set when `body` is the inner body of a circle entry, read with the
    /// circle's key (the entry itself still carries the ciphertext).
    circle: Option<CircleId>,
}

/// An entry's body as decoded once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The entry travels without its body (deleted by its author).
    Absent,
    Body(Body),
    /// A body this version cannot decode: stored and forwarded, feeds no view.
    Malformed(BodyError),
}

impl Decoded {
    pub fn of(entry: &Entry) -> Decoded {
        match entry.body().map(Body::decode) {
            None => Decoded::Absent,
            Some(Ok(body)) => Decoded::Body(body),
            Some(Err(e)) => Decoded::Malformed(e),
        }
    }
}

impl Verified {
    /// Runs [`Entry::verify`] and decodes the body. On failure the entry
    /// comes back with the reason.
    pub fn check(
        entry: Entry,
        limits: &Limits,
        now_ms: u64,
    ) -> Result<Verified, Box<(Entry, ValidationError)>> {
        if let Err(e) = entry.verify(limits, now_ms) {
            return Err(Box::new((entry, e)));
        }
        let body = Decoded::of(&entry);
        Ok(Verified {
            entry,
            body,
            circle: None,
        })
    }

    /// An entry this process has just signed with its own key: nothing to
    /// check, and the body is the one it was signed with.
    pub fn signed_here(entry: Entry, body: Body) -> Verified {
        Verified {
            entry,
            body: Decoded::Body(body),
            circle: None,
        }
    }

    /// An entry read back from this node's own store, where only verified
    /// entries are written (bodies are decoded again, signatures are not
    /// re-checked: `kith log verify` does that).
    pub fn from_store(entry: Entry) -> Verified {
        let body = Decoded::of(&entry);
        Verified {
            entry,
            body,
            circle: None,
        }
    }

    /// The same entry read through its circle's key: `body` is the inner
    /// body the circle entry carries (PROTOCOL.md §12).
    pub fn unsealed(self, circle: CircleId, body: Body) -> Verified {
        Verified {
            entry: self.entry,
            body: Decoded::Body(body),
            circle: Some(circle),
        }
    }

    /// The circle whose key opened this entry's body, if any.
    pub fn circle(&self) -> Option<CircleId> {
        self.circle
    }

    pub fn entry(&self) -> &Entry {
        &self.entry
    }

    /// The decoded body, if the entry has one this version understands.
    pub fn body(&self) -> Option<&Body> {
        match &self.body {
            Decoded::Body(b) => Some(b),
            _ => None,
        }
    }

    pub fn decoded(&self) -> &Decoded {
        &self.body
    }

    pub fn into_entry(self) -> Entry {
        self.entry
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{Draft, Keypair, Post, PostKind};

    #[test]
    fn check_keeps_the_entry_and_decodes_its_body_once() {
        let keypair = Keypair::from_secret(&[3; 32]);
        let body = Body::Post(Post {
            kind: PostKind::Note,
            text: "hi".into(),
            reply_to: None,
            tags: vec![],
            files: Vec::new(),
            mentions: Vec::new(),
        });
        let entry = Entry::sign(
            &keypair,
            Draft {
                seq: 1,
                prev: None,
                timestamp_ms: 5,
                body: body.encode(),
            },
        );
        let v = Verified::check(entry.clone(), &Limits::default(), 5).unwrap();
        assert_eq!(v.entry(), &entry);
        assert_eq!(v.body(), Some(&body));
        let stripped = Verified::check(entry.without_body(), &Limits::default(), 5).unwrap();
        assert_eq!(stripped.decoded(), &Decoded::Absent);
        // From the future: refused, entry handed back.
        let err = Verified::check(entry.clone(), &Limits::default(), 0);
        assert!(err.is_ok(), "5 ms ahead is within the skew");
        let far = Limits {
            max_clock_skew_ms: 0,
            ..Limits::default()
        };
        let back = Verified::check(entry.clone(), &far, 0).unwrap_err();
        assert_eq!(back.0, entry);
        assert!(matches!(back.1, ValidationError::FutureTimestamp { .. }));
    }
}
