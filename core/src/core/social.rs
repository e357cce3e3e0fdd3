//! Posts, trust, profiles and deletion: what a person writes about
//! themselves and who they replicate with.

use kith_protocol::{AuthorId, Body, Deletion, EntryId, Post, Profile, TrustStatement};
use multiaddr::Multiaddr;

use super::{Core, Effect, now_ms};
use crate::error::{Error, Result};
use crate::model::{EntryView, TrustView};
use crate::ops;
use crate::reader::{entry_view, trust_view};

impl Core {
    /// Checks a new post and turns it into a body, without writing it.
    pub fn prepare_post(&self, new: &ops::Post) -> Result<Body> {
        let reply_to = match &new.reply_to {
            Some(target) => {
                let id = target.resolve(&self.store)?;
                if self.store.get(&id)?.is_none() {
                    return Err(Error::NotFound(format!("no entry {id} to reply to")));
                }
                Some(id)
            }
            None => None,
        };
        let tags: Vec<String> = new
            .tags
            .iter()
            .map(|t| t.trim().trim_start_matches('#').to_string())
            .filter(|t| !t.is_empty())
            .collect();
        for tag in &tags {
            crate::text::check_label("a tag", tag, crate::text::MAX_TAG_CHARS)
                .map_err(Error::InvalidInput)?;
        }
        let text = crate::text::newlines(&new.text).into_owned();
        self.check_attached(&new.files)?;
        if text.trim().is_empty() && new.files.is_empty() {
            return Err(Error::InvalidInput(
                "the text is empty: write something first".into(),
            ));
        }
        let mentions = self.resolve_mentions(&text)?;
        let body = Body::Post(Post {
            kind: new.kind,
            text,
            reply_to,
            tags,
            files: new.files.clone(),
            mentions,
        });
        let limit = self.store.limits().max_body_bytes;
        let size = body.encode().len();
        if size > limit {
            return Err(Error::InvalidInput(format!(
                "this post is {} and a post holds at most {}: shorten it, or put the long part in a wiki page and link to it",
                crate::text::kib(size),
                crate::text::kib(limit)
            )));
        }
        body.check(self.store.limits())?;
        Ok(body)
    }

    /// Writes posts with one flush (group commit); each gets its own result.
    pub fn post_many(&mut self, posts: &[ops::Post]) -> Vec<Result<EntryView>> {
        let mut results: Vec<Option<Result<EntryView>>> = Vec::with_capacity(posts.len());
        let mut bodies = Vec::new();
        for post in posts {
            let circle = match &post.circle {
                Some(c) => self.circle_named(c).map(Some),
                None => Ok(None),
            };
            match self.prepare_post(post).and_then(|b| Ok((b, circle?))) {
                Ok(placed) => {
                    bodies.push(placed);
                    results.push(None);
                }
                Err(e) => results.push(Some(Err(e))),
            }
        }
        let mut appended = match self.append_placed(bodies) {
            Ok(entries) => entries.into_iter(),
            Err(e) => {
                let (kind, message) = (e.kind(), e.to_string());
                return results
                    .into_iter()
                    .map(|r| {
                        r.unwrap_or_else(|| {
                            Err(Error::Remote {
                                kind,
                                message: message.clone(),
                            })
                        })
                    })
                    .collect();
            }
        };
        results
            .into_iter()
            .map(|r| match r {
                Some(r) => r,
                None => {
                    let entry = appended.next().expect("one entry per body");
                    entry_view(&self.store, &entry)
                }
            })
            .collect()
    }

    pub fn post(&mut self, post: &ops::Post) -> Result<EntryView> {
        self.post_many(std::slice::from_ref(post))
            .pop()
            .expect("one result per post")
    }

    /// Appends one own entry and shows it.
    pub(super) fn append_one(&mut self, body: Body) -> Result<EntryView> {
        let entry = self.append(&[body])?.remove(0);
        entry_view(&self.store, &entry)
    }

    pub fn trust_add(&mut self, author: AuthorId, petname: Option<String>) -> Result<TrustView> {
        if author == self.me() {
            return Err(Error::InvalidInput("you always trust yourself".into()));
        }
        let petname = petname
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty());
        if let Some(p) = &petname {
            crate::text::check_label("a name", p, crate::text::MAX_NAME_CHARS)
                .map_err(Error::InvalidInput)?;
        }
        let record = self.store.trust_add(author, petname, now_ms())?;
        self.refresh_scope()?;
        trust_view(&self.store, record)
    }

    /// Returns whether the author was trusted.
    pub fn trust_remove(&mut self, author: AuthorId) -> Result<bool> {
        let removed = self.store.trust_remove(&author)?;
        self.refresh_scope()?;
        Ok(removed)
    }

    /// Trusts the inviter of an invite code and remembers where to reach
    /// them; a running node dials them at once.
    pub fn join(&mut self, code: &str, petname: Option<String>) -> Result<TrustView> {
        let invite =
            crate::invite::Invite::decode(code).map_err(|e| Error::InvalidInput(e.to_string()))?;
        // Mine: my log key, or this node's network key (its PeerId, which
        // its invites name after it went on under a new log key), or any
        // other key of my person.
        let mine = self.store.registry()?.person_of(&self.me());
        if invite.author == self.me()
            || invite.author == self.node_key()
            || mine.key(&invite.author).is_some()
        {
            return Err(Error::InvalidInput("that is your own invite code".into()));
        }
        // A device's invite names its person: trusting the person's root
        // too brings its certificates, and so every device of it.
        if let Some(person) = invite.person.filter(|p| *p != self.me()) {
            self.trust_add(person, petname.clone())?;
        }
        let view = self.trust_add(invite.author, petname)?;
        let addrs: Vec<String> = invite.addrs.iter().map(ToString::to_string).collect();
        self.store.peer_add_addrs(&invite.author, &addrs)?;
        self.outbox.push(Effect::Dial {
            author: invite.author,
            addrs: invite.addrs,
        });
        Ok(view)
    }

    /// Remembers addresses and times of a peer's node (the network tells).
    pub fn note_peer(&mut self, note: &PeerNote) {
        let result = (|| -> Result<()> {
            if !note.addrs.is_empty() {
                let addrs: Vec<String> = note.addrs.iter().map(ToString::to_string).collect();
                self.store.peer_add_addrs(&note.author, &addrs)?;
            }
            if note.seen || note.synced {
                let mut record = self.store.peer_get(&note.author)?.unwrap_or_default();
                if note.seen {
                    record.last_seen_ms = Some(now_ms());
                }
                if note.synced {
                    record.last_sync_ms = Some(now_ms());
                }
                self.store.peer_put(&note.author, &record)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot update a peer record");
        }
    }

    /// Publicly vouches for (or withdraws from) an author with a signed entry.
    pub fn vouch(&mut self, author: AuthorId, vouch: bool) -> Result<EntryView> {
        self.append_one(Body::Trust(TrustStatement {
            subject: author,
            vouch,
        }))
    }

    /// Publishes my profile; returns the profile entry.
    pub fn profile_set(&mut self, name: &str, about: &str) -> Result<EntryView> {
        use crate::text::{MAX_ABOUT_CHARS, MAX_NAME_CHARS, check_label};
        if name.trim().is_empty() {
            return Err(Error::InvalidInput("the name is empty".into()));
        }
        check_label("a name", name.trim(), MAX_NAME_CHARS).map_err(Error::InvalidInput)?;
        check_label("the about line", about.trim(), MAX_ABOUT_CHARS)
            .map_err(Error::InvalidInput)?;
        self.append_one(Body::Profile(Profile {
            name: name.trim().to_string(),
            about: about.trim().to_string(),
        }))
    }

    /// Publishes a deletion request for one of my own entries: every node
    /// that replicates me drops its body and hides it.
    pub fn delete(&mut self, id: EntryId) -> Result<EntryView> {
        let entry = self
            .store
            .get(&id)?
            .ok_or_else(|| Error::NotFound(format!("no entry {id}")))?;
        if entry.author() != self.me() {
            return Err(Error::InvalidInput(
                "you can only delete your own entries".into(),
            ));
        }
        match self.store.open_body(&entry) {
            None => return Err(Error::InvalidInput(format!("{id} is already deleted"))),
            Some(Ok(Body::WikiChange(_) | Body::WikiBundle(_))) => {
                return Err(Error::InvalidInput(
                    "wiki edits cannot be deleted (pages would break); edit or archive the page"
                        .into(),
                ));
            }
            Some(Ok(Body::Deletion(_))) => {
                return Err(Error::InvalidInput(
                    "a deletion cannot itself be deleted".into(),
                ));
            }
            Some(Ok(b)) if b.is_certificate() || matches!(b, Body::CircleEpoch(_)) => {
                return Err(Error::InvalidInput(
                    "certificates and circle membership changes cannot be deleted (every node resolves persons and circles from all of them)"
                        .into(),
                ));
            }
            _ => {}
        }
        self.append_one(Body::Deletion(Deletion { target: id }))
    }
}

/// What the network learned about a trusted peer's node, to remember.
#[derive(Debug, Clone)]
pub struct PeerNote {
    pub author: AuthorId,
    /// Addresses it was reached at.
    pub addrs: Vec<Multiaddr>,
    /// Connected or disconnected just now.
    pub seen: bool,
    /// Entries were just pulled from it.
    pub synced: bool,
}
