//! The one registry of the store's key space: every key the store writes
//! starts with the prefix of exactly one [`Space`], and no prefix is a
//! prefix of another (tested below), so a scan of one space never reads
//! another's records, whatever bytes a peer chose for the ids that follow
//! the prefix.
//!
//! Spaces are grouped: everything under [`VIEWS`] (`v`) is a view that
//! `reindex` deletes and rebuilds, [`WIKI`] (`vw`) holds the wiki's
//! materialized pages, and [`ID_RUNS`] (`J`) the id index's runs and
//! marks. A group's prefix is a prefix of its own spaces' prefixes and of
//! nothing else.
//!
//! To add a space: a variant, its prefix in [`Space::prefix`], and an entry
//! in [`Space::ALL`]; the tests refuse a prefix that collides.

/// The prefix of every derived view (deleted wholesale by `reindex`).
pub const VIEWS: &[u8] = b"v";
/// The prefix of the wiki's views.
pub const WIKI: &[u8] = b"vw";
/// The prefix of the id index's runs and marks (`store::ids`).
pub const ID_RUNS: &[u8] = b"J";

/// A keyspace: one kind of record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Space {
    // The source of truth and local state (not views).
    /// `author(32) seq(8)` → entry wire bytes.
    Entry,
    /// `entry id(32)` → `author(32) seq(8)`: the id index of stores
    /// written before `store::ids`, moved into its runs in steps.
    Id,
    /// `author(32)` → `seq(8)`: the last of the author's entries whose id
    /// a run of the id index holds (`store::ids`).
    IdMark,
    /// `run(8)` → a Bloom filter of the run's ids (`store::ids`).
    IdRun,
    /// `run(8) last id(32)` → a block of sorted records, id(32)
    /// author(32) seq(8) each.
    IdBlock,
    /// `run(8)` → nothing: a run being written, or one a crash left half
    /// written, whose blocks are then deleted.
    IdDrop,
    /// `author(32)` → `seq(8) id(32)`.
    Head,
    /// `author(32) seq(8)` → fork proof.
    Fork,
    /// `author(32)` → trust record.
    Trust,
    /// `name` → store metadata.
    Meta,
    /// `author(32)` → known peer addresses.
    Peer,
    /// `entry id(32)` → detached entry.
    Detached,
    /// `entry id(32)` → a bookmark (`store::bookmarks`).
    Bookmark,
    /// `time(8) entry id(32)` → an inbox item (`store::inbox`).
    Inbox,
    /// `page id(16)` → nothing: a page the user follows (`store::inbox`).
    Follow,

    // Views (store::views).
    Feed,
    Vouch,
    Profile,
    Reply,
    Endorse,
    Accept,
    Arrival,
    Cert,
    Handover,
    /// `blob hash(32) entry id(32)` → the entry's `BlobRef` (postcard):
    /// who references a blob, with its size, type and name.
    BlobRef,
    /// `page(16) promotion entry id(32)` → `Promoted`: posts added to a page.
    PromotedTo,
    /// `source entry id(32) page(16)` → nothing: the pages a post was added to.
    PromotedFrom,

    // Circle views (store::circles).
    DeviceKey,
    CircleEpochs,
    CircleSealed,
    Opened,
    EpochKeys,
    CircleKey,
    CircleName,
    CirclePage,

    // Wiki views (wiki).
    WikiDoc,
    WikiIncrement,
    WikiMeta,
    WikiTitle,
    WikiAlias,
    WikiHistory,
    WikiBacklink,
    WikiLinks,
    WikiPart,
    WikiWaiting,
    WikiChange,
    WikiProcessed,
    WikiSpan,
}

impl Space {
    /// Every space, for the collision test and the store's inventory.
    pub const ALL: &'static [Space] = &[
        Space::Entry,
        Space::Id,
        Space::IdMark,
        Space::IdRun,
        Space::IdBlock,
        Space::IdDrop,
        Space::Head,
        Space::Fork,
        Space::Trust,
        Space::Meta,
        Space::Peer,
        Space::Detached,
        Space::Bookmark,
        Space::Inbox,
        Space::Follow,
        Space::Feed,
        Space::Vouch,
        Space::Profile,
        Space::Reply,
        Space::Endorse,
        Space::Accept,
        Space::Arrival,
        Space::Cert,
        Space::Handover,
        Space::BlobRef,
        Space::PromotedTo,
        Space::PromotedFrom,
        Space::DeviceKey,
        Space::CircleEpochs,
        Space::CircleSealed,
        Space::Opened,
        Space::EpochKeys,
        Space::CircleKey,
        Space::CircleName,
        Space::CirclePage,
        Space::WikiDoc,
        Space::WikiIncrement,
        Space::WikiMeta,
        Space::WikiTitle,
        Space::WikiAlias,
        Space::WikiHistory,
        Space::WikiBacklink,
        Space::WikiLinks,
        Space::WikiPart,
        Space::WikiWaiting,
        Space::WikiChange,
        Space::WikiProcessed,
        Space::WikiSpan,
    ];

    /// The bytes every key of this space starts with.
    pub const fn prefix(self) -> &'static [u8] {
        match self {
            Space::Entry => b"E",
            Space::Id => b"I",
            Space::IdMark => b"Jm",
            Space::IdRun => b"Jr",
            Space::IdBlock => b"Jb",
            Space::IdDrop => b"Jd",
            Space::Head => b"H",
            Space::Fork => b"F",
            Space::Trust => b"T",
            Space::Meta => b"M",
            Space::Peer => b"P",
            Space::Detached => b"D",
            Space::Bookmark => b"B",
            Space::Inbox => b"N",
            Space::Follow => b"W",
            Space::Feed => b"vf",
            Space::Vouch => b"vv",
            Space::Profile => b"vp",
            Space::Reply => b"vr",
            Space::Endorse => b"ve",
            Space::Accept => b"vx",
            Space::Arrival => b"va",
            Space::Cert => b"vc",
            Space::Handover => b"vh",
            Space::BlobRef => b"vb",
            Space::PromotedTo => b"vq",
            Space::PromotedFrom => b"vt",
            Space::DeviceKey => b"vk",
            Space::CircleEpochs => b"vo",
            Space::CircleSealed => b"vs",
            Space::Opened => b"vu",
            Space::EpochKeys => b"vK",
            Space::CircleKey => b"vM",
            Space::CircleName => b"vn",
            // Was `vw` + page (views version 4 and before), where the
            // wiki's own `vw` + sub-space keys live: a page id starting
            // with a wiki sub-space byte read as a wiki record.
            Space::CirclePage => b"vP",
            Space::WikiDoc => b"vwd",
            Space::WikiIncrement => b"vwi",
            Space::WikiMeta => b"vwm",
            Space::WikiTitle => b"vwt",
            Space::WikiAlias => b"vwA",
            Space::WikiHistory => b"vwh",
            Space::WikiBacklink => b"vwb",
            Space::WikiLinks => b"vwl",
            Space::WikiPart => b"vwp",
            Space::WikiWaiting => b"vwq",
            Space::WikiChange => b"vwc",
            Space::WikiProcessed => b"vwa",
            Space::WikiSpan => b"vwg",
        }
    }

    /// A key of this space: the prefix, then `parts` in order.
    pub fn key(self, parts: &[&[u8]]) -> Vec<u8> {
        let prefix = self.prefix();
        let len = prefix.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut k = Vec::with_capacity(len);
        k.extend_from_slice(prefix);
        for p in parts {
            k.extend_from_slice(p);
        }
        k
    }

    /// The smallest key greater than every key of this space (the end of a
    /// range over it).
    pub fn end(self) -> Vec<u8> {
        let mut k = self.prefix().to_vec();
        let last = k.last_mut().expect("prefixes are not empty");
        *last = last.checked_add(1).expect("no prefix ends in 0xff");
        k
    }

    /// What follows the prefix in `key`, if `key` is of this space.
    pub fn rest(self, key: &[u8]) -> Option<&[u8]> {
        key.strip_prefix(self.prefix())
    }

    /// Whether records of this space are views (rebuilt by `reindex`).
    pub fn is_view(self) -> bool {
        self.prefix().starts_with(VIEWS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_prefix_is_a_prefix_of_another() {
        for (i, a) in Space::ALL.iter().enumerate() {
            assert!(!a.prefix().is_empty());
            for b in &Space::ALL[i + 1..] {
                assert_ne!(a, b, "{a:?} listed twice");
                assert!(
                    !a.prefix().starts_with(b.prefix()) && !b.prefix().starts_with(a.prefix()),
                    "{a:?} ({:?}) and {b:?} ({:?}) collide",
                    String::from_utf8_lossy(a.prefix()),
                    String::from_utf8_lossy(b.prefix())
                );
            }
        }
    }

    #[test]
    fn every_space_is_listed_and_groups_hold_only_their_own() {
        // `ALL` is complete: the match in `prefix` and the list agree in
        // number (a variant missing from `ALL` would escape the test above).
        let distinct: std::collections::BTreeSet<_> = Space::ALL.iter().collect();
        assert_eq!(distinct.len(), Space::ALL.len());
        assert_eq!(Space::ALL.len(), Space::WikiSpan as usize + 1);
        for s in Space::ALL {
            // A group prefix is followed by a space's own byte.
            if s.prefix().starts_with(WIKI) {
                assert_eq!(s.prefix().len(), WIKI.len() + 1, "{s:?}");
            } else if s.prefix().starts_with(ID_RUNS) {
                assert_eq!(s.prefix().len(), ID_RUNS.len() + 1, "{s:?}");
            } else if s.is_view() {
                assert_eq!(s.prefix().len(), VIEWS.len() + 1, "{s:?}");
            } else {
                assert_eq!(s.prefix().len(), 1, "{s:?}");
            }
            assert!(s.end().as_slice() > s.prefix());
        }
        // The wiki group lies inside the views and holds only wiki spaces.
        assert!(WIKI.starts_with(VIEWS));
        for s in Space::ALL {
            let wiki = format!("{s:?}").starts_with("Wiki");
            assert_eq!(s.prefix().starts_with(WIKI), wiki, "{s:?}");
        }
    }
}
