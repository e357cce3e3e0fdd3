//! The bookmarks page, and the forms that bookmark an entry and forget one.

use super::*;

pub(super) async fn bookmarks(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let marks = s.handle.call(ops::BookmarkList {}).await?;
    let titles = titles(&s).await?;
    let marks: Vec<Value> = marks
        .iter()
        .map(|m| {
            context! {
                id => m.entry.to_hex(),
                note => m.note.clone(),
                ago => render::ago(m.added),
                post => m.post.as_ref().map(|e| entry_ctx(e, &titles)),
            }
        })
        .collect();
    page(
        &s,
        &headers,
        "bookmarks.html",
        "bookmarks",
        context! { marks },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct BookmarkForm {
    #[serde(default)]
    note: Option<String>,
}

pub(super) async fn bookmark(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<BookmarkForm>,
) -> WebResult {
    s.handle
        .call(ops::BookmarkAdd {
            entry: id.parse()?,
            note: f.note,
        })
        .await?;
    back("/bookmarks")
}

pub(super) async fn forget(State(s): State<WebState>, Path(id): Path<String>) -> WebResult {
    s.handle
        .call(ops::BookmarkRemove { entry: id.parse()? })
        .await?;
    back("/bookmarks")
}
