//! Wiki pages: list, show, edit (with the version the edit started
//! from), history, archive and restore, `.automerge` download.

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
            }))
        })
        .collect();
    page(&s, &headers, "wiki_list.html", "wiki", context! { pages }).await
}

#[derive(Deserialize)]
pub(super) struct NewPageForm {
    title: String,
    #[serde(default)]
    body: String,
}

pub(super) async fn wiki_new(State(s): State<WebState>, Form(f): Form<NewPageForm>) -> WebResult {
    let page = s
        .handle
        .call(ops::WikiNew {
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
    let ctx = context! {
        html => render::markdown_with(render::without_title(&p.body, &p.title), &titles),
        updated => render::ago(p.updated),
        authors, backlinks,
        page => Value::from_serialize(&p),
    };
    page(&s, &headers, "wiki_page.html", "wiki", ctx).await
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
            })
            .await?;
    }
    back(&format!("/wiki/{}", page.id))
}

pub(super) async fn wiki_history(
    State(s): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> WebResult {
    let p = s.handle.call(ops::WikiShow { page: id.clone() }).await?;
    let history: Vec<Value> = s
        .handle
        .call(ops::WikiHistory { page: id })
        .await?
        .iter()
        .map(|h| {
            let delta = h.chars_after as i64 - h.chars_before as i64;
            Value::from_serialize(serde_json::json!({
                "name": h.author_name.clone().unwrap_or_else(|| format!("…{}", h.author.short())),
                "ago": render::ago(h.timestamp),
                "delta": format!("{delta:+}"),
                "chars_before": h.chars_before, "chars_after": h.chars_after, "ops": h.ops,
            }))
        })
        .collect();
    page(
        &s,
        &headers,
        "wiki_history.html",
        "wiki",
        context! { history, title => p.title, id => p.id.to_string() },
    )
    .await
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
