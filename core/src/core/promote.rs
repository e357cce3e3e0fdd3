//! From a note to the wiki: a post's text added to a page, with a signed
//! promotion entry that names the post, its author and the changes that
//! added it (PROTOCOL.md §15), so every node attributes those lines to the
//! post's author and the thread says where its text went.

use kith_protocol::{AuthorId, Body, EntryId, PageId, PostKind, Promotion};

use super::Core;

/// Most answers `kith wiki promote --thread` gathers into a page.
pub const MAX_GATHERED: usize = 5;
use crate::error::{Error, Result};
use crate::model::{PageView, ParentExcerpt, PromotedView};
use crate::reader::post_body;

impl Core {
    /// Adds the text of post `source` to the page `to` (a new page of that
    /// title if there is none; by default one titled after the post), as a
    /// section `section` of an existing page.
    pub fn wiki_promote(
        &mut self,
        source: EntryId,
        to: Option<&str>,
        section: Option<&str>,
    ) -> Result<PageView> {
        self.pages_ready()?;
        let (entry, post) = post_body(&self.store, &source)?;
        let circle = self.store.circle_of_entry(&source)?;
        let question = match (&post.kind, &post.reply_to) {
            (PostKind::Answer, Some(q)) => post_body(&self.store, q).ok().map(|(_, q)| q.text),
            _ => None,
        };
        let heading = ParentExcerpt::excerpt_of(question.as_deref().unwrap_or(&post.text));
        let text = crate::text::newlines(&post.text).trim().to_string();
        let me = self.me();
        let existing = match to {
            Some(name) => self.wiki_resolve(name).ok(),
            None => None,
        };
        let (page, changes) = match existing {
            Some(page) => {
                if self.store.circle_page(&page)?.map(|(c, _)| c) != circle {
                    return Err(Error::InvalidInput(match circle {
                        Some(_) => "a circle's post can be added only to a page of the same circle".into(),
                        None => "a public post cannot be added to a circle's page, nor a circle's to a public one".into(),
                    }));
                }
                let body = self.wiki.text(&self.store, &page)?;
                let title = section.unwrap_or(&heading);
                // Appended after what is there, which stays untouched (its
                // lines keep their authors).
                let gap = if body.is_empty() || body.ends_with("\n\n") {
                    ""
                } else if body.ends_with('\n') {
                    "\n"
                } else {
                    "\n\n"
                };
                let new = format!("{body}{gap}## {title}\n\n{text}\n");
                let local = self.wiki.edit(&self.store, &me, &page, &new)?;
                (page, self.wiki_commit(local)?)
            }
            None => {
                let title = to.unwrap_or(&heading).to_string();
                let mut id = [0u8; 16];
                getrandom::fill(&mut id).map_err(|e| Error::Io(format!("no randomness: {e}")))?;
                let written = PageId(id);
                let (shown, scope) = match circle {
                    Some(c) => (
                        kith_protocol::circle::circle_page(&c, &written),
                        Some((c, written)),
                    ),
                    None => (written, None),
                };
                let body = match section {
                    Some(s) => format!("## {s}\n\n{text}\n"),
                    None => format!("{text}\n"),
                };
                let local = self.wiki.create(&self.store, &me, shown, &title, &body)?;
                (shown, self.wiki_commit_in(local, scope)?)
            }
        };
        self.store.follow_page(&page, true)?;
        let body = Body::Promotion(Promotion {
            page,
            source,
            source_author: entry.author(),
            changes: changes.iter().map(|e| e.id()).collect(),
        });
        body.check(self.store.limits())?;
        self.append_placed(vec![(body, circle)])?;
        self.page_view(&page)
    }

    /// Gathers an answered question into one page: the question (the
    /// page's title and first text), its accepted answer, and the answers
    /// others endorsed, best first (at most [`MAX_GATHERED`] answers), each
    /// a promotion of its own, so each is credited to its author.
    pub fn wiki_promote_thread(&mut self, question: EntryId, to: Option<&str>) -> Result<PageView> {
        let thread = self.reader().thread(&question.into())?;
        if thread.entry.kind != "question" {
            return Err(Error::InvalidInput(format!(
                "{question} is a {}, not a question: add it with `kith wiki promote` alone",
                thread.entry.kind
            )));
        }
        let Some(accepted) = thread.answers.iter().find(|a| a.accepted) else {
            return Err(Error::InvalidInput(
                "this question has no accepted answer yet: gather it once its asker accepts one"
                    .into(),
            ));
        };
        let title = to.map(str::to_string).unwrap_or_else(|| {
            ParentExcerpt::excerpt_of(thread.entry.text.as_deref().unwrap_or(""))
        });
        let page = self
            .wiki_promote(question, Some(&title), None)?
            .id
            .to_string();
        let name = |a: &crate::model::AnswerView| {
            a.entry
                .author_name
                .clone()
                .unwrap_or_else(|| format!("…{}", a.entry.author.short()))
        };
        self.wiki_promote(
            accepted.entry.id,
            Some(&page),
            Some(&format!("Accepted answer, by {}", name(accepted))),
        )?;
        let others: Vec<(EntryId, String)> = thread
            .answers
            .iter()
            .filter(|a| !a.accepted && a.score > 0.0)
            .take(MAX_GATHERED - 1)
            .map(|a| (a.entry.id, format!("Another answer, by {}", name(a))))
            .collect();
        for (id, section) in others {
            self.wiki_promote(id, Some(&page), Some(&section))?;
        }
        self.wiki_show(&page)
    }

    /// The lines of post `source`, trimmed, if it is here and `author`
    /// wrote it: blame credits `author` with a page line only if it is one
    /// of them, whole (a piece of a line could say the opposite of it:
    /// "never do X" holds "do X").
    pub(super) fn post_lines(
        &self,
        source: &EntryId,
        author: &AuthorId,
    ) -> Result<Option<std::collections::HashSet<String>>> {
        Ok(match post_body(&self.store, source) {
            Ok((entry, post)) if entry.author() == *author => Some(
                post.text
                    .lines()
                    .map(|l| l.trim().to_string())
                    .filter(|l| !l.is_empty())
                    .collect(),
            ),
            _ => None,
        })
    }

    /// The posts added to `page`, for its view.
    pub(super) fn promoted_views(&self, page: &PageId) -> Result<Vec<PromotedView>> {
        let mut out = Vec::new();
        for p in self.store.promoted_to(page)? {
            let (kind, question, thread, written) = match post_body(&self.store, &p.source) {
                Ok((entry, post)) => {
                    let question = match (&post.kind, &post.reply_to) {
                        (PostKind::Answer, Some(q)) => post_body(&self.store, q)
                            .ok()
                            .map(|(_, q)| ParentExcerpt::excerpt_of(&q.text)),
                        _ => None,
                    };
                    let thread = match post.kind {
                        PostKind::Answer => post.reply_to,
                        _ => Some(p.source),
                    };
                    (
                        Some(post.kind.to_string()),
                        question,
                        thread,
                        entry.header().timestamp_ms,
                    )
                }
                Err(_) => (None, None, None, 0),
            };
            out.push(PromotedView {
                source: p.source,
                source_author: p.source_author,
                source_name: self.store.display_name(&p.source_author)?,
                source_kind: kind,
                question,
                thread,
                written,
                promoter: p.promoter,
                promoter_name: self.store.display_name(&p.promoter)?,
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use kith_protocol::Body;

    use crate::ops;
    use crate::testing::{core, everyone, trust_all};

    fn ask(core: &mut crate::core::Core, text: &str) -> crate::model::EntryView {
        core.run(ops::Ask {
            circle: None,
            text: text.into(),
            tags: vec![],
            yes: true,
        })
        .unwrap()
        .posted
        .unwrap()
    }

    fn blame_by_line(
        core: &mut crate::core::Core,
        page: &str,
    ) -> Vec<(
        String,
        Option<kith_protocol::AuthorId>,
        Option<kith_protocol::AuthorId>,
    )> {
        core.run(ops::WikiBlame { page: page.into() })
            .unwrap()
            .lines
            .into_iter()
            .map(|l| (l.text, l.author, l.promoted_by))
            .collect()
    }

    /// Carol adds Bob's answer to a page: on every node the answer's lines
    /// are Bob's (added by Carol), her heading is hers, the page says
    /// where the text came from and the answer says where it went.
    #[test]
    fn a_promoted_answer_is_its_authors_on_every_node() {
        let mut cores = vec![core(1), core(2), core(3)];
        trust_all(&mut cores);
        let question = ask(&mut cores[0], "How do we back up the wiki?");
        everyone(&mut cores);
        let answer = cores[1]
            .run(ops::Answer {
                id: question.id.into(),
                text: "Export it nightly.\nKeep a week of copies.".into(),
                tags: vec![],
                files: vec![],
            })
            .unwrap();
        everyone(&mut cores);
        let page = cores[2]
            .run(ops::WikiPromote {
                entry: answer.id.into(),
                to: Some("Backups".into()),
                section: Some("Nightly".into()),
                thread: false,
            })
            .unwrap();
        assert_eq!(
            page.body,
            "## Nightly\n\nExport it nightly.\nKeep a week of copies.\n"
        );
        everyone(&mut cores);
        let (alice, bob, carol) = (cores[0].me(), cores[1].me(), cores[2].me());
        for core in cores.iter_mut() {
            let lines = blame_by_line(core, "Backups");
            assert_eq!(
                lines[0],
                ("## Nightly".into(), Some(carol), None),
                "the heading"
            );
            assert_eq!(
                lines[2],
                ("Export it nightly.".into(), Some(bob), Some(carol))
            );
            assert_eq!(
                lines[3],
                ("Keep a week of copies.".into(), Some(bob), Some(carol))
            );
            let shown = core
                .run(ops::WikiShow {
                    page: "Backups".into(),
                })
                .unwrap();
            assert_eq!(shown.promoted.len(), 1);
            assert_eq!(shown.promoted[0].source_author, bob);
            assert_eq!(shown.promoted[0].thread, Some(question.id));
            assert_eq!(
                shown.promoted[0].question.as_deref(),
                Some("How do we back up the wiki?")
            );
            let thread = core
                .run(ops::Thread {
                    id: question.id.into(),
                })
                .unwrap();
            assert_eq!(thread.answers[0].entry.in_wiki[0].title, "Backups");
        }
        // Alice edits a promoted line: that line is hers now.
        cores[0]
            .run(ops::WikiEdit {
                page: "Backups".into(),
                body: "## Nightly\n\nExport it nightly to the NAS.\nKeep a week of copies.\n"
                    .into(),
                base: None,
            })
            .unwrap();
        let lines = blame_by_line(&mut cores[0], "Backups");
        assert_eq!(lines[2].1, Some(alice));
        assert_eq!(lines[3].1, Some(bob));
    }

    /// A modified client signs a promotion that names Bob's answer for
    /// text Bob never wrote: no node credits Bob with it.
    #[test]
    fn a_promotion_cannot_put_words_in_someone_elses_mouth() {
        let mut cores = vec![core(1), core(2), core(3)];
        trust_all(&mut cores);
        let note = cores[1]
            .run(ops::Post::note(
                "Backups run at night.\nNever restore over the live wiki.",
            ))
            .unwrap();
        everyone(&mut cores);
        let page = cores[2]
            .run(ops::WikiNew {
                circle: None,
                title: "Claims".into(),
                body: "Backups run at night.\nBob says restores never work.\nrestore over the live wiki.\n"
                    .into(),
            })
            .unwrap();
        let changes: Vec<kith_protocol::EntryId> = cores[2]
            .store()
            .log(&cores[2].me(), 1, usize::MAX)
            .unwrap()
            .iter()
            .filter(|e| {
                matches!(
                    e.body().map(Body::decode),
                    Some(Ok(Body::WikiChange(_) | Body::WikiBundle(_)))
                )
            })
            .map(|e| e.id())
            .collect();
        let bob = cores[1].me();
        cores[2]
            .append(&[Body::Promotion(kith_protocol::Promotion {
                page: page.id,
                source: note.id,
                source_author: bob,
                changes,
            })])
            .unwrap();
        everyone(&mut cores);
        let carol = cores[2].me();
        for core in cores.iter_mut() {
            let lines = blame_by_line(core, "Claims");
            assert_eq!(lines[0].1, Some(bob), "a line Bob wrote is his");
            assert_eq!(
                lines[1],
                ("Bob says restores never work.".into(), Some(carol), None),
                "a line Bob never wrote stays Carol's"
            );
            assert_eq!(
                lines[2].1,
                Some(carol),
                "a piece of Bob's line is not his line"
            );
        }
    }

    /// An answered question gathered into a page: the question, the
    /// accepted answer, the endorsed other; not the answer nobody
    /// endorsed; each line credited to whoever wrote it.
    #[test]
    fn an_answered_question_is_gathered_into_one_page() {
        let mut cores = vec![core(1), core(2), core(3)];
        trust_all(&mut cores);
        let question = ask(&mut cores[0], "Where do backups go?");
        everyone(&mut cores);
        let answer = |core: &mut crate::core::Core, text: &str| {
            core.run(ops::Answer {
                id: question.id.into(),
                text: text.into(),
                tags: vec![],
                files: vec![],
            })
            .unwrap()
        };
        let accepted = answer(&mut cores[1], "To the NAS in the cupboard.");
        let endorsed = answer(&mut cores[2], "A second copy goes offsite.");
        let ignored = answer(&mut cores[2], "Nowhere, we trust the disks.");
        let _ = ignored;
        everyone(&mut cores);
        let refused = cores[0].run(ops::WikiPromote {
            entry: question.id.into(),
            to: None,
            section: None,
            thread: true,
        });
        assert!(
            refused
                .unwrap_err()
                .to_string()
                .contains("no accepted answer")
        );
        cores[0]
            .run(ops::Accept {
                id: accepted.id.into(),
                withdraw: false,
            })
            .unwrap();
        cores[0]
            .run(ops::Endorse {
                id: endorsed.id.into(),
                note: None,
                withdraw: false,
            })
            .unwrap();
        let page = cores[0]
            .run(ops::WikiPromote {
                entry: question.id.into(),
                to: None,
                section: None,
                thread: true,
            })
            .unwrap();
        assert_eq!(page.title, "Where do backups go?");
        assert!(
            page.body.contains("To the NAS in the cupboard."),
            "{}",
            page.body
        );
        assert!(
            page.body.contains("A second copy goes offsite."),
            "{}",
            page.body
        );
        assert!(!page.body.contains("Nowhere"), "{}", page.body);
        assert!(
            page.body.find("To the NAS").unwrap() < page.body.find("A second copy").unwrap(),
            "the accepted answer first"
        );
        assert_eq!(page.promoted.len(), 3);
        let lines = blame_by_line(&mut cores[0], "Where do backups go?");
        let by = |text: &str| lines.iter().find(|l| l.0 == text).unwrap().1;
        assert_eq!(by("To the NAS in the cupboard."), Some(cores[1].me()));
        assert_eq!(by("A second copy goes offsite."), Some(cores[2].me()));
        assert_eq!(by("Where do backups go?"), Some(cores[0].me()));
    }

    /// A circle's post goes only into a page of the same circle: a new
    /// page made from it is the circle's (its members read it, the
    /// promotion is sealed), and a public page refuses it.
    #[test]
    fn a_circles_post_is_promoted_only_within_its_circle() {
        let mut cores = vec![core(1), core(2)];
        trust_all(&mut cores);
        // Bob's first entry publishes his encryption key.
        cores[1].run(ops::Post::note("hello")).unwrap();
        everyone(&mut cores);
        let bob = cores[1].me();
        cores[0]
            .run(ops::CircleCreate {
                name: "team".into(),
                members: vec![bob.to_string()],
            })
            .unwrap();
        let secret = cores[0]
            .run(ops::Post {
                circle: Some("team".into()),
                ..ops::Post::note("The launch moves to Friday.")
            })
            .unwrap();
        cores[0]
            .run(ops::WikiNew {
                circle: None,
                title: "Public".into(),
                body: "For everyone.\n".into(),
            })
            .unwrap();
        let refused = cores[0]
            .run(ops::WikiPromote {
                entry: secret.id.into(),
                to: Some("Public".into()),
                section: None,
                thread: false,
            })
            .unwrap_err();
        assert!(refused.to_string().contains("same circle"), "{refused}");
        let before = cores[0].store().head(&cores[0].me()).unwrap().unwrap().seq;
        let page = cores[0]
            .run(ops::WikiPromote {
                entry: secret.id.into(),
                to: Some("Launch".into()),
                section: None,
                thread: false,
            })
            .unwrap();
        assert!(
            cores[0].store().circle_page(&page.id).unwrap().is_some(),
            "the new page is the circle's"
        );
        // The promotion and the page's changes are sealed: no public body
        // names the post.
        for entry in cores[0]
            .store()
            .log(&cores[0].me(), before + 1, usize::MAX)
            .unwrap()
        {
            assert!(
                !matches!(
                    entry.body().map(Body::decode),
                    Some(Ok(Body::Promotion(_)
                        | Body::WikiChange(_)
                        | Body::WikiBundle(_)))
                ),
                "a circle's promotion or page change travels in the clear"
            );
        }
        everyone(&mut cores);
        let shown = cores[1]
            .run(ops::WikiShow {
                page: page.id.to_string(),
            })
            .unwrap();
        assert_eq!(shown.body.trim(), "The launch moves to Friday.");
        assert_eq!(
            shown.promoted.len(),
            1,
            "bob, a member, sees where it came from"
        );
    }
}
