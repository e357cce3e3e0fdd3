//! What concerns this node's user, noted as entries arrive (the inbox,
//! `store::inbox`), and `@name` mentions resolved when a post is written.

use kith_protocol::{AuthorId, Body, Verified};

use super::Core;
use crate::error::{Error, Result};
use crate::store::inbox::{InboxItem, InboxKind};

impl Core {
    /// Notes in the inbox the entries just stored that concern this
    /// node's user: written by someone else, answering, replying to,
    /// endorsing or accepting their entry, mentioning them, or editing a
    /// page they follow. A failure is logged: the entries are stored.
    pub(super) fn note_inbox(&mut self, entries: &[Verified]) {
        let mut items = Vec::new();
        for verified in entries {
            match self.inbox_item(verified) {
                Ok(Some(item)) => items.push(item),
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "cannot note an inbox item"),
            }
        }
        if !items.is_empty()
            && let Err(e) = self.store.inbox_add(&items)
        {
            tracing::warn!(error = %e, "cannot write inbox items");
        }
    }

    /// Whether `author` is this node's user (this device's log key or its
    /// libp2p key).
    fn is_mine(&self, author: &AuthorId) -> bool {
        *author == self.me() || *author == self.node_key
    }

    fn inbox_item(&self, verified: &Verified) -> Result<Option<InboxItem>> {
        let entry = verified.entry();
        let author = entry.author();
        if self.is_mine(&author) {
            return Ok(None);
        }
        let item = |kind, about, page| InboxItem {
            entry: entry.id(),
            kind,
            author,
            timestamp_ms: entry.header().timestamp_ms,
            about,
            page,
            read: false,
        };
        let mine = |id| -> Result<bool> {
            Ok(self
                .store
                .get(id)?
                .is_some_and(|target| self.is_mine(&target.author())))
        };
        Ok(match verified.body() {
            Some(Body::Post(post)) => {
                if let Some(parent) = &post.reply_to
                    && mine(parent)?
                {
                    let kind = if post.kind == kith_protocol::PostKind::Answer {
                        InboxKind::Answer
                    } else {
                        InboxKind::Reply
                    };
                    Some(item(kind, Some(*parent), None))
                } else if post.mentions.iter().any(|m| self.is_mine(m)) {
                    Some(item(InboxKind::Mention, None, None))
                } else {
                    None
                }
            }
            Some(Body::Endorsement(e)) if !e.withdraw && mine(&e.target)? => {
                Some(item(InboxKind::Endorsed, Some(e.target), None))
            }
            Some(Body::Accept(a)) => match &a.answer {
                Some(answer) if mine(answer)? => {
                    Some(item(InboxKind::Accepted, Some(*answer), None))
                }
                _ => None,
            },
            Some(Body::WikiChange(w) | Body::WikiBundle(w))
                if w.part == 0 && self.store.follows(&w.page)? =>
            {
                Some(item(InboxKind::PageEdit, None, Some(w.page)))
            }
            Some(Body::DeviceLink(_)) if self.store.trust_get(&author)?.is_some() => {
                Some(item(InboxKind::DeviceLinked, None, None))
            }
            Some(Body::DeviceRevoke(_)) if self.store.trust_get(&author)?.is_some() => {
                Some(item(InboxKind::DeviceRevoked, None, None))
            }
            _ => None,
        })
    }

    /// The people `text` mentions as `@name`: a name is a petname or a
    /// profile name (case-insensitive, spaces left out) of someone this
    /// node trusts. An `@` inside a word (an e-mail address) is not a
    /// mention, and a name nobody here has is left as text; a name two
    /// people have is refused, with who they are.
    pub(crate) fn resolve_mentions(&self, text: &str) -> Result<Vec<AuthorId>> {
        let tokens = mention_tokens(text);
        if tokens.is_empty() {
            return Ok(Vec::new());
        }
        let mut names: Vec<(String, AuthorId)> = Vec::new();
        for record in self.store.trust_list()? {
            if let Some(pet) = &record.petname {
                names.push((squash(pet), record.author));
            }
            if let Some(name) = crate::store::views::profile_name(&self.store, &record.author)? {
                names.push((squash(&name), record.author));
            }
        }
        let mut out = Vec::new();
        for token in tokens {
            let mut who: Vec<AuthorId> = names
                .iter()
                .filter(|(n, _)| *n == token)
                .map(|(_, a)| *a)
                .collect();
            who.sort();
            who.dedup();
            match who.as_slice() {
                [] => {}
                [one] => out.push(*one),
                many => {
                    return Err(Error::InvalidInput(format!(
                        "@{token} could be any of {}: give one of them a petname (`kith trust add AUTHOR --name NAME`) and mention that",
                        many.iter()
                            .map(|a| a.to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
            }
        }
        out.sort();
        out.dedup();
        out.truncate(kith_protocol::body::MAX_MENTIONS);
        Ok(out)
    }
}

/// A name as mentions compare it: lowercase, without spaces.
fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The `@name` tokens of a text, lowercase: an `@` at the start or after a
/// character that is not part of a word, then letters, digits, `_`, `-`
/// or `.` (a trailing `.` is punctuation).
pub fn mention_tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let word = |c: char| c.is_alphanumeric() || c == '_' || c == '-' || c == '.';
    for (i, &c) in chars.iter().enumerate() {
        if c != '@' || (i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_')) {
            continue;
        }
        let token: String = chars[i + 1..].iter().take_while(|c| word(**c)).collect();
        let token = token.trim_end_matches('.').to_lowercase();
        if !token.is_empty() {
            out.push(token);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::mention_tokens;

    #[test]
    fn mentions_are_at_names_not_mail_addresses() {
        assert_eq!(
            mention_tokens("@Ana, ask @bob.k. and mail ana@example.org (@carol)"),
            vec!["ana", "bob.k", "carol"]
        );
        assert!(mention_tokens("no one @ all").is_empty());
    }
}

#[cfg(test)]
mod resolve_tests {
    #![allow(clippy::unwrap_used)]
    use crate::ops;
    use crate::testing::core;

    /// A name is resolved to the one person who has it here (petname or
    /// profile name, any case, spaces left out) and signed in the post; a
    /// name nobody has stays text; a name two people have is refused with
    /// what to do.
    #[test]
    fn mentions_resolve_to_one_person_or_say_why_not() {
        let mut alice = core(1);
        let (bob, carol) = (core(2).me(), core(3).me());
        for (who, name) in [(bob, "Bob Smith"), (carol, "Carol")] {
            alice
                .run(ops::TrustAdd {
                    author: who.into(),
                    petname: Some(name.into()),
                })
                .unwrap();
        }
        assert_eq!(
            alice
                .resolve_mentions("thanks @bobsmith and @CAROL, cc @dave")
                .unwrap(),
            {
                let mut v = vec![bob, carol];
                v.sort();
                v
            }
        );
        let posted = alice.run(ops::Post::note("@carol can you look?")).unwrap();
        let entry = alice.store().get(&posted.id).unwrap().unwrap();
        match kith_protocol::Body::decode(entry.body().unwrap()).unwrap() {
            kith_protocol::Body::Post(p) => assert_eq!(p.mentions, vec![carol]),
            other => panic!("{other:?}"),
        }
        alice
            .run(ops::TrustAdd {
                author: bob.into(),
                petname: Some("carol".into()),
            })
            .unwrap();
        let err = alice.run(ops::Post::note("@carol?")).unwrap_err();
        assert!(err.to_string().contains("petname"), "{err}");
    }
}
