//! Wiki pages, the writing side: local edits become Automerge changes in
//! signed wiki-change entries; pages are shown from the cached documents.

use kith_protocol::circle::{self, CircleId};
use kith_protocol::{Body, Entry, PageId, change_group};

use super::Core;
use crate::error::{Error, Result};
use crate::model::{ImportItem, ImportReport, PageRef, PageView, RenameOutcome};
use crate::store::Store;
use crate::wiki::Local;

impl Core {
    /// A page by id, id prefix or title.
    pub fn wiki_resolve(&self, name: &str) -> Result<PageId> {
        self.pages_ready()?;
        Ok(crate::wiki::resolve(&self.store, name)?)
    }

    /// Signs and stores locally made changes of a page, then records them
    /// in the page's views. If storing fails the page's in-memory document is
    /// dropped, so the unsaved changes vanish with it.
    pub(super) fn wiki_commit(&mut self, local: Local) -> Result<Vec<Entry>> {
        let scope = self.store.circle_page(&local.page)?;
        self.wiki_commit_in(local, scope)
    }

    /// [`Core::wiki_commit`] for a page of `scope`: a circle's page is
    /// sealed for the circle, its changes naming the page id written in it.
    pub(super) fn wiki_commit_in(
        &mut self,
        local: Local,
        scope: Option<(CircleId, PageId)>,
    ) -> Result<Vec<Entry>> {
        if local.is_empty() {
            return Ok(Vec::new());
        }
        let page = local.page;
        let circle = scope.map(|(circle, _)| circle);
        let written = scope.map_or(page, |(_, written)| written);
        let mut max_body = self.store.limits().max_body_bytes;
        if circle.is_some() {
            max_body -= kith_protocol::circle::SEAL_OVERHEAD;
        }
        // The compact form (one bundle per save); the framed form if the
        // bundle cannot be made or is too large for one group.
        let bundle = self
            .wiki
            .bundle_of(&self.store, &local)
            .inspect_err(|e| {
                tracing::warn!(error = %e, "bundling a wiki edit failed; sending its changes framed");
            })
            .ok();
        let compact = bundle
            .as_ref()
            .and_then(|b| change_group::pack_bundle(written, &change_group::compress(b), max_body));
        let (bodies, groups): (Vec<Body>, Vec<Vec<usize>>) = match compact {
            Some(bodies) => {
                let all: Vec<usize> = (0..local.changes.len()).collect();
                let groups = vec![all; bodies.len()];
                (bodies, groups)
            }
            None => change_group::pack(written, &local.bytes(), max_body)
                .into_iter()
                .unzip(),
        };
        let entries = match self.append_placed(bodies.into_iter().map(|b| (b, circle)).collect()) {
            Ok(entries) => entries,
            Err(e) => {
                self.wiki.discard(&page);
                return Err(e);
            }
        };
        self.dirty_pages.insert(page);
        if let Err(e) = self
            .wiki
            .record_local(&self.store, &local, &groups, &entries, bundle)
        {
            // The entries are stored; `reindex` (or the next start) rebuilds the page.
            tracing::error!(error = %e, "recording a wiki edit failed");
            self.wiki.discard(&page);
        }
        Ok(entries)
    }

    pub fn wiki_new(
        &mut self,
        title: &str,
        body: &str,
        circle: Option<CircleId>,
    ) -> Result<PageView> {
        let mut id = [0u8; 16];
        getrandom::fill(&mut id).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
        self.wiki_new_with_id(PageId(id), title, body, circle)
    }

    /// A new page under an id the caller chose (a page id is the author's
    /// free choice: tests play the author who picks one to hurt others).
    #[doc(hidden)]
    pub fn wiki_new_with_id(
        &mut self,
        page: PageId,
        title: &str,
        body: &str,
        circle: Option<CircleId>,
    ) -> Result<PageView> {
        self.pages_ready()?;
        let me = self.me();
        let body = &crate::text::newlines(body);
        // A circle's page is named here by its circle and the id written.
        let (shown, scope) = match circle {
            Some(c) => (circle::circle_page(&c, &page), Some((c, page))),
            None => (page, None),
        };
        let local = self.wiki.create(&self.store, &me, shown, title, body)?;
        self.wiki_commit_in(local, scope)?;
        // A page you write is a page you follow (its edits reach your inbox).
        self.store.follow_page(&shown, true)?;
        self.page_view(&shown)
    }

    pub fn wiki_edit(
        &mut self,
        name: &str,
        body: &str,
        base: Option<&[String]>,
    ) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let body = &crate::text::newlines(body);
        let local = match base {
            Some(base) => {
                let base = base
                    .iter()
                    .map(|h| h.parse::<automerge::ChangeHash>())
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::InvalidInput(format!("bad base version: {e}")))?;
                self.wiki.edit_since(&self.store, &me, &page, &base, body)?
            }
            None => self.wiki.edit(&self.store, &me, &page, body)?,
        };
        self.wiki_commit(local)?;
        self.store.follow_page(&page, true)?;
        self.page_view(&page)
    }

    /// Applies splices `(pos, delete, insert)` to a page's body, one
    /// Automerge change each, stored in as few entries as fit.
    pub fn wiki_splices(
        &mut self,
        page: &PageId,
        splices: &[(usize, usize, String)],
    ) -> Result<Vec<Entry>> {
        let me = self.me();
        let local = self.wiki.splices(&self.store, &me, page, splices)?;
        self.wiki_commit(local)
    }

    /// Retitles a page; the old title stays an alias. With `update_links`,
    /// `[[old title]]` links in other live pages are rewritten (each such
    /// page gets an edit by this node's author).
    pub fn wiki_rename(
        &mut self,
        name: &str,
        title: &str,
        update_links: bool,
    ) -> Result<RenameOutcome> {
        let page = self.wiki_resolve(name)?;
        let (old_title, aliases) = crate::wiki::meta(&self.store, &page)?
            .map(|m| (m.title, m.aliases))
            .unwrap_or_default();
        let me = self.me();
        let local = self.wiki.rename(&self.store, &me, &page, title)?;
        self.wiki_commit(local)?;
        let mut relinked = Vec::new();
        if update_links {
            self.links_flush()?;
            let new_title = crate::wiki::meta(&self.store, &page)?
                .map(|m| m.title)
                .unwrap_or_default();
            // Links by the old title or any earlier one.
            let old_titles: Vec<String> = std::iter::once(old_title).chain(aliases).collect();
            let mut sources = Vec::new();
            for t in &old_titles {
                for source in crate::wiki::backlinks(&self.store, t)? {
                    if source != page && !sources.contains(&source) {
                        sources.push(source);
                    }
                }
            }
            // Only pages of the same circle (or public pages for a public
            // page): a link rewritten elsewhere would show the new title
            // to people the page is hidden from.
            let circle = self.store.page_circle(&page)?;
            for source in sources {
                let Some(m) = crate::wiki::meta(&self.store, &source)? else {
                    continue;
                };
                if m.archived || self.store.page_circle(&source)? != circle {
                    continue;
                }
                let mut text = self.wiki.text(&self.store, &source)?;
                let mut changed = false;
                for t in &old_titles {
                    if let Some(updated) = crate::wiki::relink(&text, t, &new_title) {
                        text = updated;
                        changed = true;
                    }
                }
                if changed {
                    let updated = text;
                    let local = self.wiki.edit(&self.store, &me, &source, &updated)?;
                    self.wiki_commit(local)?;
                    relinked.push(PageRef {
                        id: source,
                        title: m.title,
                    });
                }
            }
        }
        Ok(RenameOutcome {
            page: self.page_view(&page)?,
            relinked,
        })
    }

    /// Marks the page's merged concurrent edits as reviewed.
    pub fn wiki_reviewed(&mut self, name: &str) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let now = super::now_ms();
        let local = self.wiki.mark_reviewed(&self.store, &me, &page, now)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    /// Archives (deletes, restorably) or restores a page.
    pub fn wiki_archive(&mut self, name: &str, archived: bool) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        let me = self.me();
        let local = self.wiki.set_archived(&self.store, &me, &page, archived)?;
        self.wiki_commit(local)?;
        self.page_view(&page)
    }

    pub fn wiki_show(&mut self, name: &str) -> Result<PageView> {
        let page = self.wiki_resolve(name)?;
        self.page_view(&page)
    }

    pub(super) fn page_view(&mut self, page: &PageId) -> Result<PageView> {
        self.links_flush()?;
        let meta = crate::wiki::meta(&self.store, page)?
            .ok_or_else(|| Error::NotFound(format!("no page {page}")))?;
        let body = self.wiki.text(&self.store, page)?;
        let heads = self
            .wiki
            .heads(&self.store, page)?
            .iter()
            .map(ToString::to_string)
            .collect();
        let backlinks = backlinks(&self.store, page, &meta)?;
        let mut author_names = std::collections::BTreeMap::new();
        for a in &meta.authors {
            if let Some(name) = self.store.display_name(a)? {
                author_names.insert(a.to_string(), name);
            }
        }
        let missing_links = missing_links(&self.store, &body)?;
        let namesakes = namesakes(&self.store, page, &meta.title)?;
        let merged = meta
            .merged
            .as_ref()
            .map(|mark| crate::reader::merge_notice(&self.store, mark))
            .transpose()?;
        let promoted = self.promoted_views(page)?;
        Ok(PageView {
            promoted,
            id: *page,
            aliases: meta.aliases.clone(),
            missing_links,
            namesakes,
            merged,
            title: meta.title,
            body,
            authors: meta.authors,
            author_names,
            created: meta.created_ms,
            updated: meta.updated_ms,
            archived: meta.archived,
            backlinks,
            changes: meta.changes,
            waiting: meta.waiting,
            rejected: meta.rejected,
            heads,
        })
    }

    /// The page as a standard `.automerge` document.
    pub fn wiki_automerge(&mut self, name: &str) -> Result<Vec<u8>> {
        let page = self.wiki_resolve(name)?;
        Ok(self.wiki.save(&self.store, &page)?)
    }

    /// Every live public page, for export (circle pages stay in the data
    /// directory: an export is a file anyone may be handed).
    pub fn wiki_export(&mut self) -> Result<Vec<PageView>> {
        self.pages_ready()?;
        let pages: Vec<PageId> = crate::wiki::list(&self.store)?
            .into_iter()
            .filter(|(_, m)| !m.archived && !m.title.is_empty())
            .filter(|(p, _)| matches!(self.store.page_circle(p), Ok(None)))
            .map(|(p, _)| p)
            .collect();
        pages.iter().map(|p| self.page_view(p)).collect()
    }

    /// Creates or updates pages from imported markdown. A page is matched by
    /// the id in its front matter, else by title; a match is updated in place
    /// (by minimal splices), so importing twice changes nothing.
    pub fn wiki_import(&mut self, items: &[ImportItem]) -> Result<ImportReport> {
        self.pages_ready()?;
        let items: Vec<ImportItem> = items
            .iter()
            .map(|item| ImportItem {
                body: crate::text::newlines(&item.body).into_owned(),
                ..item.clone()
            })
            .collect();
        let items = &items[..];
        // Every item is checked before any is written: an import applies
        // whole or not at all, and names what is wrong.
        for item in items {
            let name = item.source.as_deref().unwrap_or(item.title.as_str());
            crate::wiki::check_page(&item.title, &item.body)
                .map_err(|e| Error::InvalidInput(format!("{name}: {e}")))?;
            if item.id.is_none()
                && let Err(e @ crate::wiki::Error::Ambiguous(..)) =
                    crate::wiki::resolve(&self.store, &item.title)
            {
                return Err(Error::InvalidInput(format!("{name}: {e}")));
            }
        }
        let mut report = ImportReport::default();
        for item in items {
            let by_id = item
                .id
                .as_deref()
                .and_then(|id| id.parse::<PageId>().ok())
                .filter(|p| crate::wiki::meta(&self.store, p).ok().flatten().is_some());
            let existing = match by_id {
                Some(p) => Some(p),
                None => match crate::wiki::resolve(&self.store, &item.title) {
                    Ok(p) => Some(p),
                    Err(crate::wiki::Error::NoPage(_)) => None,
                    Err(e) => return Err(e.into()),
                },
            };
            match existing {
                None => {
                    let view = self.wiki_new(&item.title, &item.body, None)?;
                    report.created.push(PageRef {
                        id: view.id,
                        title: view.title,
                    });
                }
                Some(page) => {
                    let meta = crate::wiki::meta(&self.store, &page)?.unwrap_or_default();
                    let me = self.me();
                    let mut changed = false;
                    if meta.archived {
                        let local = self.wiki.set_archived(&self.store, &me, &page, false)?;
                        self.wiki_commit(local)?;
                        changed = true;
                    }
                    if meta.title != item.title.trim() {
                        let local = self.wiki.rename(&self.store, &me, &page, &item.title)?;
                        self.wiki_commit(local)?;
                        changed = true;
                    }
                    if self.wiki.text(&self.store, &page)? != item.body {
                        let local = self.wiki.edit(&self.store, &me, &page, &item.body)?;
                        changed |= !local.is_empty();
                        self.wiki_commit(local)?;
                    }
                    let entry = PageRef {
                        id: page,
                        title: item.title.trim().to_string(),
                    };
                    if changed {
                        report.updated.push(entry);
                    } else {
                        report.unchanged.push(entry);
                    }
                }
            }
        }
        Ok(report)
    }
}

/// Live pages that link to `page` by its title or one of its aliases.
fn backlinks(store: &Store, page: &PageId, meta: &crate::wiki::PageMeta) -> Result<Vec<PageRef>> {
    let mut sources = Vec::new();
    for title in std::iter::once(&meta.title).chain(&meta.aliases) {
        for source in crate::wiki::backlinks(store, title)? {
            if !sources.contains(&source) {
                sources.push(source);
            }
        }
    }
    let mut backlinks = Vec::new();
    for source in sources {
        if source == *page {
            continue;
        }
        if let Some(m) = crate::wiki::meta(store, &source)?
            && !m.archived
        {
            backlinks.push(PageRef {
                id: source,
                title: m.title,
            });
        }
    }
    Ok(backlinks)
}

/// The link targets in `body` that name no page.
fn missing_links(store: &Store, body: &str) -> Result<Vec<String>> {
    let mut missing = Vec::new();
    for target in crate::wiki::link_targets(body) {
        let mut found = crate::wiki::resolve(store, &target).is_ok();
        if !found {
            // Several pages may share it: that is not missing.
            found = !crate::wiki::pages_aliased(store, &target)?.is_empty()
                || matches!(
                    crate::wiki::resolve(store, &target),
                    Err(crate::wiki::Error::Ambiguous(..))
                );
        }
        if !found {
            missing.push(target);
        }
    }
    Ok(missing)
}

/// Other live pages with the same title.
fn namesakes(store: &Store, page: &PageId, title: &str) -> Result<Vec<PageRef>> {
    let mut namesakes = Vec::new();
    for id in crate::wiki::pages_titled(store, title)? {
        if id != *page
            && let Some(m) = crate::wiki::meta(store, &id)?
            && !m.archived
        {
            namesakes.push(PageRef { id, title: m.title });
        }
    }
    Ok(namesakes)
}
