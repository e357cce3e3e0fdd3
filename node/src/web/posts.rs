//! The feed and threads, and the forms that write posts, answers, replies,
//! endorsements and deletions (the questions page and asking are in
//! `questions`).

use super::*;

#[derive(Deserialize, Default)]
pub(super) struct FeedQuery {
    tag: Option<String>,
    kind: Option<String>,
    author: Option<String>,
    /// The cursor of the last post of the page before (older posts).
    before: Option<String>,
}

pub(super) async fn feed(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<FeedQuery>,
) -> WebResult {
    feed_page(&s, &headers, q, None).await
}

/// What was typed into a compose form that could not be posted: shown
/// again in its form, with why, instead of an error page that loses it.
#[derive(serde::Serialize)]
pub(super) struct Draft {
    /// Which form: `post`, `answer` or `reply`.
    form: &'static str,
    text: String,
    tags: String,
    error: String,
    /// For a reply to a reply or an answer: the entry it answers.
    to: Option<String>,
}

impl Draft {
    /// What was typed into `form`, with why the node refused it, when that
    /// is the writer's to fix (the form's page shows it beside the text);
    /// any other refusal is an error page.
    fn of(
        form: &'static str,
        text: String,
        tags: String,
        refusal: Error,
    ) -> Result<(Draft, WebError), WebError> {
        let error = WebError::from(refusal);
        if !error.0.is_client_error() || error.0 == StatusCode::NOT_FOUND {
            return Err(error);
        }
        let draft = Draft {
            form,
            text,
            tags,
            error: capitalize(&error.1),
            to: None,
        };
        Ok((draft, error))
    }
}

/// `response` with the refusal's status.
fn refused(mut response: Response, error: &WebError) -> Response {
    *response.status_mut() = error.0;
    response
}

async fn feed_page(
    s: &WebState,
    headers: &HeaderMap,
    q: FeedQuery,
    draft: Option<Draft>,
) -> WebResult {
    let kind = match q.kind.as_deref() {
        Some("") | None => None,
        Some(k) => Some(k.parse().map_err(|e: kith_protocol::BodyError| {
            WebError(StatusCode::BAD_REQUEST, e.to_string())
        })?),
    };
    let tag = q.tag.clone().filter(|t| !t.is_empty());
    let author = match q.author.as_deref() {
        Some("") | None => None,
        Some(a) => Some(a.parse::<AuthorRef>()?),
    };
    let before = match q.before.as_deref() {
        Some("") | None => None,
        Some(c) => Some(c.parse::<crate::refs::Cursor>()?),
    };
    let entries = s
        .handle
        .call(ops::Feed {
            limit: Some(FEED_PAGE),
            before,
            author,
            kind,
            tag: tag.clone(),
        })
        .await?;
    let titles = titles(s).await?;
    // New since the last visit: newer than the newest post shown then (a
    // cookie), and not written here.
    let seen: u64 = cookie_value(headers, SEEN_COOKIE)
        .and_then(|v| v.parse().ok())
        .unwrap_or(u64::MAX);
    let me = s.handle.me();
    let newest = entries.iter().map(|e| e.timestamp).max();
    let older = (entries.len() == FEED_PAGE)
        .then(|| {
            entries
                .last()
                .map(|e| crate::model::cursor_of(e).to_string())
        })
        .flatten();
    let ctx = |e: &crate::model::EntryView| {
        let new = e.timestamp > seen && e.author != me;
        merge_new(entry_ctx(e, &titles), new)
    };
    let groups: Vec<Value> = threads(&entries)
        .into_iter()
        .map(|(root, replies)| {
            let more = replies.len().saturating_sub(FEED_REPLIES);
            // The latest replies, oldest of them first, as a thread reads.
            let shown: Vec<Value> = replies
                .iter()
                .take(FEED_REPLIES)
                .rev()
                .map(|e| ctx(e))
                .collect();
            Value::from_serialize(serde_json::json!({
                "root": ctx(root),
                "replies": shown,
                "more": more,
            }))
        })
        .collect();
    let mut response = page(
        s,
        headers,
        "feed.html",
        "feed",
        context! { groups, tag, kind => q.kind, author => q.author, older, draft, my_circles => my_circles(s, headers).await? },
    )
    .await?;
    let fragment = headers.get("x-kith-fragment").is_some();
    if let Some(newest) = newest.filter(|n| !fragment && (seen == u64::MAX || *n > seen))
        && let Ok(cookie) = HeaderValue::from_str(&format!(
            "{SEEN_COOKIE}={newest}; Path=/; HttpOnly; SameSite=Strict; Max-Age=31536000"
        ))
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Replies shown under their thread's post in the feed; more are a link.
const FEED_REPLIES: usize = 3;

/// A feed page (newest first) as threads: each post with the replies and
/// answers on the page that hang from it, under it (newest first), the
/// thread placed where its newest entry is. A reply whose parent is not on
/// the page stands on its own (it says what it replies to).
pub(super) fn threads(
    entries: &[crate::model::EntryView],
) -> Vec<(&crate::model::EntryView, Vec<&crate::model::EntryView>)> {
    let on_page: std::collections::HashMap<kith_protocol::EntryId, usize> =
        entries.iter().enumerate().map(|(i, e)| (e.id, i)).collect();
    // The topmost entry on the page that `i` hangs from (itself if none).
    let top = |mut i: usize| {
        for _ in 0..entries.len() {
            match entries[i].reply_to.and_then(|p| on_page.get(&p)) {
                Some(&parent) if parent != i => i = parent,
                _ => break,
            }
        }
        i
    };
    let mut order: Vec<usize> = Vec::new();
    let mut replies: std::collections::HashMap<usize, Vec<&crate::model::EntryView>> =
        std::collections::HashMap::new();
    for (i, e) in entries.iter().enumerate() {
        let root = top(i);
        if !order.contains(&root) {
            order.push(root);
        }
        if root != i {
            replies.entry(root).or_default().push(e);
        }
    }
    order
        .into_iter()
        .map(|root| (&entries[root], replies.remove(&root).unwrap_or_default()))
        .collect()
}

/// A score as people write it: `2`, `1.5`.
fn score_text(score: f64) -> String {
    let rounded = (score * 10.0).round() / 10.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

/// The newest post the feed showed at the last full visit.
const SEEN_COOKIE: &str = "kith_seen";

/// `ctx` with `new` set.
fn merge_new(ctx: Value, new: bool) -> Value {
    context! { new, ..ctx }
}

#[derive(Deserialize)]
pub(super) struct PostForm {
    text: String,
    #[serde(default)]
    tags: String,
    /// The files attached (a JSON array of references; `app.js` fills it).
    #[serde(default)]
    files: String,
    /// A circle's id, or empty for everyone trusted.
    #[serde(default)]
    circle: String,
}

/// The files a form attaches: its `files` field, a JSON array of
/// references (empty: none).
pub(super) fn files_of(field: &str) -> Result<Vec<kith_protocol::blob::BlobRef>, WebError> {
    if field.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(field).map_err(|e| {
        WebError(
            StatusCode::BAD_REQUEST,
            format!("the attached files did not arrive whole ({e}); attach them again"),
        )
    })
}

/// The circle a form chose, if any.
pub(super) fn chosen(circle: &str) -> Option<String> {
    Some(circle.trim().to_string()).filter(|c| !c.is_empty())
}

pub(super) async fn new_post(
    State(s): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<PostForm>,
) -> WebResult {
    let posted = s
        .handle
        .call(ops::Post {
            circle: chosen(&f.circle),
            text: f.text.clone(),
            kind: kith_protocol::PostKind::Note,
            reply_to: None,
            tags: tags_of(&f.tags),
            files: files_of(&f.files)?,
        })
        .await;
    match posted {
        Ok(_) => back("/"),
        Err(e) => {
            let (draft, error) = Draft::of("post", f.text, f.tags, e)?;
            let page = feed_page(&s, &headers, FeedQuery::default(), Some(draft)).await?;
            Ok(refused(page, &error))
        }
    }
}

pub(super) async fn thread(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    thread_page(&s, &headers, &id, None).await
}

async fn thread_page(
    s: &WebState,
    headers: &HeaderMap,
    id: &str,
    draft: Option<Draft>,
) -> WebResult {
    let t = s.handle.call(ops::Thread { id: id.parse()? }).await?;
    let me = s.handle.me();
    let titles = titles(s).await?;
    fn endorsers(list: &[crate::model::Endorser]) -> serde_json::Value {
        serde_json::Value::Array(
            list.iter()
                .map(|e| serde_json::json!({ "author": e.author.to_string(), "name": e.name, "weight": e.weight, "note": e.note }))
                .collect(),
        )
    }
    fn replies(
        list: &[crate::model::ReplyNode],
        titles: &render::Titles,
        me: &kith_protocol::AuthorId,
    ) -> serde_json::Value {
        serde_json::Value::Array(
            list.iter()
                .map(|r| {
                    serde_json::json!({
                        "entry": entry_ctx(&r.entry, titles),
                        "endorsed_by": endorsers(&r.endorsed_by),
                        "mine": r.endorsed_by.iter().any(|e| e.author == *me),
                        "replies": replies(&r.replies, titles, me),
                    })
                })
                .collect(),
        )
    }
    fn count(list: &[crate::model::ReplyNode]) -> usize {
        list.iter().map(|r| 1 + count(&r.replies)).sum()
    }
    let answers: Vec<serde_json::Value> = t
        .answers
        .iter()
        .map(|a| {
            serde_json::json!({
                "reply_count": count(&a.replies),
                "score_text": score_text(a.score),
                "entry": entry_ctx(&a.entry, &titles),
                "score": a.score,
                "accepted": a.accepted,
                "mine": a.endorsed_by.iter().any(|e| e.author == me),
                "endorsed_by": endorsers(&a.endorsed_by),
                "replies": replies(&a.replies, &titles, &me),
            })
        })
        .collect();
    // A question's first line is its title, the heading; the rest is what
    // the post shows. Anything else is headed by how it begins.
    let mut shown = t.entry.clone();
    let title = match t.entry.text.as_deref() {
        None => "(deleted)".to_string(),
        Some(text) => match question_parts(text).filter(|_| t.entry.kind == "question") {
            Some((title, rest)) => {
                shown.text = Some(rest.to_string());
                title
            }
            None => crate::model::ParentExcerpt::excerpt_of(text),
        },
    };
    let ctx = context! {
        title,
        score => score_text(t.score),
        reply_count => count(&t.replies),
        root => entry_ctx(&shown, &titles),
        root_endorsers => Value::from_serialize(endorsers(&t.endorsed_by)),
        root_mine => t.endorsed_by.iter().any(|e| e.author == me),
        root_replies => Value::from_serialize(replies(&t.replies, &titles, &me)),
        answers => Value::from_serialize(answers),
        draft,
    };
    page(s, headers, "thread.html", "questions", ctx).await
}

/// A question's title (its first line, in plain words, if short enough to
/// be one) and what follows it.
fn question_parts(text: &str) -> Option<(String, &str)> {
    let text = text.trim_start();
    let (first, rest) = text.split_once('\n').unwrap_or((text, ""));
    let title = crate::text::plain(first).text;
    let short = title.chars().count() <= crate::model::ParentExcerpt::CHARS;
    (short && !title.trim().is_empty()).then(|| (title.trim().to_string(), rest.trim()))
}

#[derive(Deserialize)]
pub(super) struct TextForm {
    text: String,
    #[serde(default)]
    files: String,
}

#[derive(Deserialize)]
pub(super) struct ReplyForm {
    text: String,
    #[serde(default)]
    files: String,
    /// The entry of the thread it answers, if not the thread's root.
    #[serde(default)]
    to: Option<String>,
}

pub(super) async fn answer(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<TextForm>,
) -> WebResult {
    let answered = s
        .handle
        .call(ops::Answer {
            id: id.parse()?,
            text: f.text.clone(),
            tags: vec![],
            files: files_of(&f.files)?,
        })
        .await;
    respond(
        &s,
        &headers,
        &id,
        "answer",
        f.text,
        None,
        answered.map(|_| ()),
    )
    .await
}

pub(super) async fn reply(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(f): Form<ReplyForm>,
) -> WebResult {
    let to = f.to.filter(|to| !to.is_empty() && *to != id);
    let replied = s
        .handle
        .call(ops::Reply {
            id: to.as_deref().unwrap_or(&id).parse()?,
            text: f.text.clone(),
            tags: vec![],
            files: files_of(&f.files)?,
        })
        .await;
    if let Ok(view) = &replied {
        return back(&format!("/thread/{id}#e-{}", view.id));
    }
    let written = replied.map(|_| ());
    respond(&s, &headers, &id, "reply", f.text, to, written).await
}

/// Back to the thread once an answer or reply is written; else the thread
/// again with what was typed in its form and why it was refused.
async fn respond(
    s: &WebState,
    headers: &HeaderMap,
    id: &str,
    form: &'static str,
    text: String,
    to: Option<String>,
    written: Result<(), Error>,
) -> WebResult {
    let Err(e) = written else {
        return back(&format!("/thread/{id}"));
    };
    let (mut draft, error) = Draft::of(form, text, String::new(), e)?;
    draft.to = to;
    let page = thread_page(s, headers, id, Some(draft)).await?;
    Ok(refused(page, &error))
}

#[derive(Deserialize)]
pub(super) struct EndorseForm {
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    withdraw: Option<String>,
}

pub(super) async fn endorse(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<EndorseForm>,
) -> WebResult {
    s.handle
        .call(ops::Endorse {
            id: id.parse()?,
            note: f.note.filter(|n| !n.trim().is_empty()),
            withdraw: f.withdraw.is_some(),
        })
        .await?;
    back(&format!("/thread/{}", thread_root(&s, &id).await?))
}

/// The post a thread hangs from: an answer or a reply is shown in its
/// question's (or post's) thread, not as a thread of its own.
async fn thread_root(s: &WebState, id: &str) -> Result<String, WebError> {
    let mut root = id.to_string();
    let mut next = Some(root.clone());
    // Replies nest; a chain longer than this is shown from where it stops.
    for _ in 0..16 {
        let Some(at) = next.take() else { break };
        // A parent this node does not hold has no thread to show.
        let Ok(t) = s.handle.call(ops::Thread { id: at.parse()? }).await else {
            break;
        };
        // The thread of an answer is its question's already.
        root = t.entry.id.to_string();
        next = t.entry.reply_to.map(|parent| parent.to_string());
    }
    Ok(root)
}

#[derive(Deserialize)]
pub(super) struct WithdrawForm {
    #[serde(default)]
    withdraw: Option<String>,
}

pub(super) async fn accept(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<WithdrawForm>,
) -> WebResult {
    s.handle
        .call(ops::Accept {
            id: id.parse()?,
            withdraw: f.withdraw.is_some(),
        })
        .await?;
    back(&format!("/thread/{id}"))
}

pub(super) async fn delete(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    s.handle.call(ops::Delete { id: id.parse()? }).await?;
    back("/")
}
