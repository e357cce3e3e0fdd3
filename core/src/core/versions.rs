//! Going back through a page's history: blame, the diff of one change,
//! the page at a change, reverting a change, restoring a version.

use kith_protocol::PageId;

use super::Core;
use crate::error::Result;
use crate::model::{BlameLine, BlameView, ChangeDiff, PageVersion, PageView};
use crate::wiki::{HistoryItem, Wiki};

impl Core {
    fn page_and_item(&self, name: &str, change: &str) -> Result<(PageId, HistoryItem)> {
        let page = self.wiki_resolve(name)?;
        let item = Wiki::history_item(&self.store, &page, change)?;
        Ok((page, item))
    }

    pub fn wiki_blame(&mut self, name: &str) -> Result<BlameView> {
        let page = self.wiki_resolve(name)?;
        let title = crate::wiki::meta(&self.store, &page)?
            .map(|m| m.title)
            .unwrap_or_default();
        let blamed = self.wiki.blame(&self.store, &page)?;
        type Who = (Option<String>, Option<String>);
        let mut names: std::collections::BTreeMap<kith_protocol::AuthorId, Who> =
            std::collections::BTreeMap::new();
        let registry = self.store.registry()?;
        // Each promoted post's lines, read once (`None`: not here, or not
        // the author the promotion names).
        let promotions: Vec<_> = self
            .store
            .promoted_to(&page)?
            .into_iter()
            .map(|p| {
                let lines = self.post_lines(&p.source, &p.source_author)?;
                Ok((p, lines))
            })
            .collect::<Result<_>>()?;
        let mut lines = Vec::with_capacity(blamed.len());
        for (i, mut b) in blamed.into_iter().enumerate() {
            // A line a promotion's change wrote, which the post it names
            // holds, is the post author's (PROTOCOL.md §15).
            let mut promoted = None;
            // (The line break may be the next promotion's, which added
            // after it: any of the promoter's promotions of this page
            // whose post holds the line credits it.)
            if let Some(by) = &mut b.by
                && let Some(entry) = by.entry
                && promotions
                    .iter()
                    .any(|(p, _)| p.promoter == by.author && p.changes.contains(&entry))
                && let Some((p, _)) = promotions.iter().find(|(p, lines)| {
                    p.promoter == by.author
                        && !b.text.trim().is_empty()
                        && lines.as_ref().is_some_and(|l| l.contains(b.text.trim()))
                })
            {
                promoted = Some((p.source, p.promoter));
                by.author = p.source_author;
            }
            let (author_name, device) = match &b.by {
                Some(by) => match names.entry(by.author) {
                    std::collections::btree_map::Entry::Occupied(e) => e.get().clone(),
                    std::collections::btree_map::Entry::Vacant(e) => {
                        // The person, and which of their devices.
                        let person = registry.person_of(&by.author);
                        let device = (person.keys.len() > 1)
                            .then(|| person.key(&by.author))
                            .flatten()
                            .map(|k| {
                                if k.name.is_empty() {
                                    format!("…{}", k.key.short())
                                } else {
                                    k.name.clone()
                                }
                            });
                        e.insert((self.store.display_name(&by.author)?, device))
                            .clone()
                    }
                },
                None => (None, None),
            };
            lines.push(BlameLine {
                line: i + 1,
                text: b.text,
                author: b.by.as_ref().map(|by| by.author),
                author_name,
                device,
                entry: b.by.as_ref().and_then(|by| by.entry),
                timestamp: b.by.map_or(0, |by| by.timestamp_ms),
                source: promoted.map(|(source, _)| source),
                promoted_by: promoted.map(|(_, promoter)| promoter),
            });
        }
        Ok(BlameView {
            id: page,
            title,
            lines,
        })
    }

    pub fn wiki_diff(&mut self, name: &str, change: &str) -> Result<ChangeDiff> {
        let (page, item) = self.page_and_item(name, change)?;
        let (title_before, title_after, pieces) = self.wiki.diff(&self.store, &page, &item)?;
        Ok(ChangeDiff {
            id: page,
            change: crate::reader::history_view(&self.store, &item)?,
            title_before,
            title_after,
            pieces,
        })
    }

    pub fn wiki_at(&mut self, name: &str, change: &str) -> Result<PageVersion> {
        let (page, item) = self.page_and_item(name, change)?;
        let (title, body) = self.wiki.at(&self.store, &page, &item)?;
        Ok(PageVersion {
            id: page,
            change: crate::reader::history_view(&self.store, &item)?,
            title,
            body,
        })
    }

    /// The versions a merge joined, each as its side alone left the page
    /// (none when the page has one head).
    pub fn wiki_sides(&mut self, name: &str) -> Result<Vec<crate::model::SideView>> {
        let page = self.wiki_resolve(name)?;
        let sides = self.wiki.sides(&self.store, &page)?;
        let mut out = Vec::with_capacity(sides.len());
        for side in sides {
            let mut names = Vec::with_capacity(side.authors.len());
            for a in &side.authors {
                names.push(
                    self.store
                        .display_name(a)?
                        .unwrap_or_else(|| format!("…{}", a.short())),
                );
            }
            out.push(crate::model::SideView {
                head: side.head,
                authors: side.authors,
                names,
                title: side.title,
                body: side.body,
            });
        }
        Ok(out)
    }

    /// Undoes one change as a new change by this node's author.
    pub fn wiki_revert(&mut self, name: &str, change: &str) -> Result<PageView> {
        let (page, item) = self.page_and_item(name, change)?;
        let me = self.me();
        let local = self.wiki.revert(&self.store, &me, &page, &item)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    /// Makes the page read as it did right after `change` (title and body),
    /// as a new change; history stays.
    pub fn wiki_restore_version(&mut self, name: &str, change: &str) -> Result<PageView> {
        let (page, item) = self.page_and_item(name, change)?;
        let (title, body) = self.wiki.at(&self.store, &page, &item)?;
        let me = self.me();
        let local = self.wiki.edit(&self.store, &me, &page, &body)?;
        self.wiki_commit(local)?;
        let current = crate::wiki::meta(&self.store, &page)?
            .map(|m| m.title)
            .unwrap_or_default();
        if !title.is_empty() && title != current {
            let local = self.wiki.rename(&self.store, &me, &page, &title)?;
            self.wiki_commit(local)?;
        }
        self.page_view(&page)
    }
}
