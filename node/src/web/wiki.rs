//! Wiki pages: list, show, edit (with the version the edit started
//! from), history with word diffs, blame, a past version, revert and
//! restore a version, archive and restore, `.automerge` download.

use kith_protocol::EntryId;

use super::*;

pub(super) async fn wiki_list(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let pages: Vec<Value> = s
        .handle
        .call(ops::WikiList { archived: false })
        .await?
        .iter()
        .map(|p| {
            Value::from_serialize(serde_json::json!({
                "id": p.id.to_string(), "title": p.title, "chars": p.chars,
                "ago": render::ago(p.updated), "archived": p.archived,
                "namesakes": p.namesakes, "merged": p.merged,
            }))
        })
        .collect();
    let my_circles = my_circles(&s, &headers).await?;
    page(
        &s,
        &headers,
        "wiki_list.html",
        "wiki",
        context! { pages, my_circles },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct NewPageForm {
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    circle: String,
}

pub(super) async fn wiki_new(State(s): State<WebState>, Form(f): Form<NewPageForm>) -> WebResult {
    let page = s
        .handle
        .call(ops::WikiNew {
            circle: super::posts::chosen(&f.circle),
            title: f.title,
            body: f.body,
        })
        .await?;
    back(&format!("/wiki/{}", page.id))
}

pub(super) async fn wiki_by_title(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(title): Path<String>,
) -> WebResult {
    match s
        .handle
        .call(ops::WikiShow {
            page: title.clone(),
        })
        .await
    {
        Ok(p) => back(&format!("/wiki/{}", p.id)),
        Err(e) if matches!(&e, crate::Error::Wiki(crate::wiki::Error::Ambiguous(..))) => {
            // Pages created concurrently with one title: both are kept.
            let lower = title.to_lowercase();
            let pages: Vec<Value> = s
                .handle
                .call(ops::WikiList { archived: false })
                .await?
                .into_iter()
                .filter(|p| {
                    p.title.to_lowercase() == lower
                        || p.aliases.iter().any(|a| a.to_lowercase() == lower)
                })
                .map(|p| {
                    Value::from_serialize(serde_json::json!({
                        "id": p.id.to_string(), "title": p.title, "chars": p.chars,
                        "ago": render::ago(p.updated),
                    }))
                })
                .collect();
            page(
                &s,
                &headers,
                "wiki_missing.html",
                "wiki",
                context! { title, pages },
            )
            .await
        }
        Err(e) if e.kind() == crate::ErrorKind::NotFound => {
            page(
                &s,
                &headers,
                "wiki_missing.html",
                "wiki",
                context! { title },
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

pub(super) async fn wiki_page(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id }).await?;
    let authors: Vec<Value> = p
        .authors
        .iter()
        .map(|a| {
            let name = p
                .author_names
                .get(&a.to_string())
                .cloned()
                .unwrap_or_else(|| format!("…{}", a.short()));
            Value::from_serialize(serde_json::json!({ "id": a.to_string(), "name": name }))
        })
        .collect();
    let backlinks: Vec<Value> = p
        .backlinks
        .iter()
        .map(|b| {
            Value::from_serialize(serde_json::json!({ "id": b.id.to_string(), "title": b.title }))
        })
        .collect();
    let titles = titles(&s).await?;
    // Where posts added to the page came from, with the day each was written.
    let promoted: Vec<Value> = p
        .promoted
        .iter()
        .map(|x| {
            let day = humantime::format_rfc3339_seconds(
                std::time::UNIX_EPOCH + std::time::Duration::from_millis(x.written),
            )
            .to_string();
            Value::from_serialize(serde_json::json!({
                "source": x.source.to_hex(), "thread": x.thread.map(|t| t.to_hex()),
                "source_name": x.source_name, "source_kind": x.source_kind,
                "question": x.question, "written": x.written, "day": &day[..10],
                "promoter_name": x.promoter_name, "by_other": x.promoter != x.source_author,
            }))
        })
        .collect();
    let ctx = context! {
        html => render::markdown_with(render::without_title(&p.body, &p.title), &titles),
        updated => render::ago(p.updated),
        authors, backlinks, promoted,
        page => Value::from_serialize(&p),
    };
    page(&s, &headers, "wiki_page.html", "wiki", ctx).await
}

/// The byte range of the mark (the space or `x` inside `[ ]`) of the
/// `n`th task of a page's body, counted as the page shows them (after a
/// first heading that repeats the title).
fn task_mark(body: &str, title: &str, n: usize) -> Option<std::ops::Range<usize>> {
    use pulldown_cmark::{Event, Options, Parser};
    let shown = render::without_title(body, title);
    let skipped = body.len() - shown.len();
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let (_, range) = Parser::new_ext(shown, options)
        .into_offset_iter()
        .filter(|(event, _)| matches!(event, Event::TaskListMarker(_)))
        .nth(n)?;
    let open = range.start + shown[range.clone()].find('[')?;
    let mark = open + 1;
    shown[mark..]
        .starts_with([' ', 'x', 'X'])
        .then(|| skipped + mark..skipped + mark + 1)
}

#[derive(Deserialize)]
pub(super) struct TaskForm {
    /// Which task of the page, in the order the page shows them.
    task: usize,
    #[serde(default)]
    done: Option<String>,
    /// The page's heads when it was shown: a page changed since then may
    /// hold other tasks at that place.
    #[serde(default)]
    base: String,
}

/// Ticks (or unticks) one task of a page: a change of one character.
pub(super) async fn wiki_task(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<TaskForm>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id }).await?;
    if f.base != p.heads.join(" ") {
        return Err(Error::Conflict(
            "The page changed since you opened it: look at it again, then tick the task.".into(),
        )
        .into());
    }
    let mark = task_mark(&p.body, &p.title, f.task)
        .ok_or_else(|| Error::NotFound(format!("The page has no task {}.", f.task + 1)))?;
    let mut body = p.body.clone();
    body.replace_range(mark, if f.done.is_some() { "x" } else { " " });
    if body != p.body {
        s.handle
            .call(ops::WikiEdit {
                page: p.id.to_string(),
                body,
                base: Some(p.heads.clone()),
            })
            .await?;
    }
    back(&format!("/wiki/{}", p.id))
}

pub(super) async fn wiki_edit_form(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id }).await?;
    let base = p.heads.join(" ");
    page(
        &s,
        &headers,
        "wiki_edit.html",
        "wiki",
        context! { page => Value::from_serialize(&p), base },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct EditForm {
    title: String,
    body: String,
    #[serde(default)]
    base: String,
}

pub(super) async fn wiki_edit(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<EditForm>,
) -> WebResult {
    // Browsers send textarea text with CRLF line ends.
    let body = f.body.replace("\r\n", "\n");
    let base: Vec<String> = f.base.split_whitespace().map(str::to_string).collect();
    let page = s
        .handle
        .call(ops::WikiEdit {
            page: id.clone(),
            body,
            base: (!base.is_empty()).then_some(base),
        })
        .await?;
    if page.title != f.title.trim() {
        s.handle
            .call(ops::WikiRename {
                page: id,
                title: f.title,
                update_links: false,
            })
            .await?;
    }
    back(&format!("/wiki/{}", page.id))
}

/// Changes shown with their diff on the history page (older ones link to theirs).
const HISTORY_DIFFS: usize = 10;

fn history_item(h: &crate::model::HistoryView) -> serde_json::Value {
    let delta = h.chars_after as i64 - h.chars_before as i64;
    serde_json::json!({
        "entry": h.entry.to_string(), "short": &h.entry.to_hex()[..12],
        "name": h.author_name.clone().unwrap_or_else(|| format!("…{}", h.author.short())),
        "ago": render::ago(h.timestamp),
        "delta": format!("{delta:+}"),
        "chars_before": h.chars_before, "chars_after": h.chars_after, "ops": h.ops,
    })
}

/// Unchanged lines kept on each side of a change; longer unchanged
/// stretches fold into one "N unchanged lines" line.
const CONTEXT_LINES: usize = 2;

/// A diff's pieces with long unchanged stretches folded: a change shows
/// the lines around it, not the whole page.
pub(super) fn folded(pieces: &[crate::wiki::Piece]) -> Vec<serde_json::Value> {
    use crate::wiki::Piece;
    let mut out = Vec::new();
    let last = pieces.len().saturating_sub(1);
    for (i, piece) in pieces.iter().enumerate() {
        let Piece::Same(text) = piece else {
            out.push(serde_json::to_value(piece).expect("a piece serializes"));
            continue;
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        // After a change the first line is the rest of the changed line,
        // and before one the last is its beginning: kept beside it.
        let keep_head = if i == 0 { 0 } else { CONTEXT_LINES + 1 };
        let keep_tail = match lines.last() {
            _ if i == last => 0,
            Some(l) if l.ends_with('\n') => CONTEXT_LINES,
            _ => CONTEXT_LINES + 1,
        };
        if lines.len() <= keep_head + keep_tail + 1 {
            out.push(serde_json::json!({ "op": "same", "text": text }));
            continue;
        }
        let head: String = lines[..keep_head].concat();
        let tail: String = lines[lines.len() - keep_tail..].concat();
        let hidden = lines.len() - keep_head - keep_tail;
        if !head.is_empty() {
            out.push(serde_json::json!({ "op": "same", "text": head }));
        }
        out.push(serde_json::json!({
            "op": "skip",
            "text": crate::text::count(hidden as u64, "unchanged line", "unchanged lines"),
        }));
        if !tail.is_empty() {
            out.push(serde_json::json!({ "op": "same", "text": tail }));
        }
    }
    out
}

fn diff_json(d: &crate::model::ChangeDiff) -> serde_json::Value {
    serde_json::json!({
        "pieces": folded(&d.pieces),
        "title_before": d.title_before, "title_after": d.title_after,
        "unchanged": d.title_before == d.title_after
            && d.pieces.iter().all(|p| matches!(p, crate::wiki::Piece::Same(_))),
    })
}

pub(super) async fn wiki_history(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id.clone() }).await?;
    let mut history = Vec::new();
    for (i, h) in s
        .handle
        .call(ops::WikiHistory { page: id.clone() })
        .await?
        .iter()
        .enumerate()
    {
        let mut item = history_item(h);
        if i < HISTORY_DIFFS {
            let diff = s
                .handle
                .call(ops::WikiDiff {
                    page: id.clone(),
                    change: h.entry.to_string(),
                })
                .await?;
            item["diff"] = diff_json(&diff);
        }
        history.push(Value::from_serialize(item));
    }
    page(
        &s,
        &headers,
        "wiki_history.html",
        "wiki",
        context! { history, title => p.title, id => p.id.to_string(), archived => p.archived },
    )
    .await
}

pub(super) async fn wiki_diff(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path((id, change)): Path<(String, String)>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id.clone() }).await?;
    let diff = s.handle.call(ops::WikiDiff { page: id, change }).await?;
    let mut item = history_item(&diff.change);
    item["diff"] = diff_json(&diff);
    page(
        &s,
        &headers,
        "wiki_history.html",
        "wiki",
        context! {
            history => vec![Value::from_serialize(item)],
            title => p.title, id => p.id.to_string(), archived => p.archived, single => true,
        },
    )
    .await
}

pub(super) async fn wiki_version(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path((id, change)): Path<(String, String)>,
) -> WebResult {
    let version = s.handle.call(ops::WikiAt { page: id, change }).await?;
    let titles = titles(&s).await?;
    let ctx = context! {
        html => render::markdown_with(render::without_title(&version.body, &version.title), &titles),
        change => Value::from_serialize(history_item(&version.change)),
        title => version.title, id => version.id.to_string(),
    };
    page(&s, &headers, "wiki_version.html", "wiki", ctx).await
}

/// A merged page as each side of the merge left it, and what the merge
/// changed in each side's version.
pub(super) async fn wiki_merge(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id.clone() }).await?;
    let sides = s.handle.call(ops::WikiSides { page: id }).await?;
    let titles = titles(&s).await?;
    let sides: Vec<Value> = sides
        .iter()
        .map(|side| {
            let pieces = crate::wiki::words::diff(&side.body, &p.body);
            let unchanged = pieces.iter().all(|x| matches!(x, crate::wiki::Piece::Same(_)));
            Value::from_serialize(serde_json::json!({
                "names": side.names,
                "diff": {
                    "title_before": side.title,
                    "title_after": p.title,
                    "unchanged": unchanged,
                    "pieces": folded(&pieces),
                },
                "html": render::markdown_with(render::without_title(&side.body, &side.title), &titles),
            }))
        })
        .collect();
    let ctx = context! { page => Value::from_serialize(&p), sides };
    page(&s, &headers, "wiki_merge.html", "wiki", ctx).await
}

pub(super) async fn wiki_blame(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    let blame = s.handle.call(ops::WikiBlame { page: id }).await?;
    // Consecutive lines from one change form one block.
    let mut blocks: Vec<serde_json::Value> = Vec::new();
    let mut last: Option<Option<EntryId>> = None;
    for line in &blame.lines {
        if last != Some(line.entry) || blocks.is_empty() {
            let name = line.who();
            blocks.push(serde_json::json!({
                "name": name,
                "author": line.author.map(|a| a.to_string()),
                "entry": line.entry.map(|e| e.to_string()),
                "ago": render::ago(line.timestamp),
                "lines": [],
            }));
            last = Some(line.entry);
        }
        if let Some(serde_json::Value::Array(lines)) = blocks.last_mut().map(|b| &mut b["lines"]) {
            lines.push(serde_json::json!({ "n": line.line, "text": line.text }));
        }
    }
    let blocks: Vec<Value> = blocks.into_iter().map(Value::from_serialize).collect();
    page(
        &s,
        &headers,
        "wiki_blame.html",
        "wiki",
        context! { blocks, title => blame.title, id => blame.id.to_string() },
    )
    .await
}

pub(super) async fn wiki_reviewed(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    let p = s.handle.call(ops::WikiReviewed { page: id }).await?;
    back(&format!("/wiki/{}", p.id))
}

pub(super) async fn wiki_revert(
    State(s): State<WebState>,
    Path((id, change)): Path<(String, String)>,
) -> WebResult {
    let p = s.handle.call(ops::WikiRevert { page: id, change }).await?;
    back(&format!("/wiki/{}", p.id))
}

pub(super) async fn wiki_restore_version(
    State(s): State<WebState>,
    Path((id, change)): Path<(String, String)>,
) -> WebResult {
    let p = s
        .handle
        .call(ops::WikiRestore {
            page: id,
            at: Some(change),
        })
        .await?;
    back(&format!("/wiki/{}", p.id))
}

pub(super) async fn wiki_archive(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    let p = s.handle.call(ops::WikiArchive { page: id }).await?;
    back(&format!("/wiki/{}", p.id))
}

pub(super) async fn wiki_restore(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    let p = s
        .handle
        .call(ops::WikiRestore { page: id, at: None })
        .await?;
    back(&format!("/wiki/{}", p.id))
}

pub(super) async fn wiki_automerge(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    let bytes = s.handle.call(ops::WikiAutomerge { page: id }).await?.0;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// "Add to wiki" under a post: a new page with its text, credited to its
/// author; the browser goes to the page.
pub(super) async fn wiki_promote(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    let page = s
        .handle
        .call(ops::WikiPromote {
            entry: id.parse()?,
            to: None,
            section: None,
            thread: false,
        })
        .await?;
    back(&format!("/wiki/{}", page.id))
}
