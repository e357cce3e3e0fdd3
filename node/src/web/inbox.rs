//! The inbox page, its unread count (in the navigation of every page,
//! updated live) and the forms that mark items read.

use crate::store::inbox::InboxKind;

use super::*;

pub(super) async fn inbox(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let items = s
        .handle
        .call(ops::Inbox {
            unread: false,
            since: None,
            limit: Some(200),
        })
        .await?;
    let items: Vec<Value> = items
        .iter()
        .map(|i| {
            let who = i
                .author_name
                .clone()
                .unwrap_or_else(|| format!("…{}", i.author.short()));
            let what = match i.kind {
                InboxKind::Answer => "answered",
                InboxKind::Reply => "replied to",
                InboxKind::Mention => "mentioned you",
                InboxKind::Endorsed => "endorsed",
                InboxKind::Accepted => "accepted your answer",
                InboxKind::PageEdit => "edited the page",
                InboxKind::DeviceLinked => "linked a device",
                InboxKind::DeviceRevoked => "revoked a device",
            };
            let href = match (&i.thread, &i.page) {
                (Some(t), _) => format!("/thread/{}#e-{}", t.to_hex(), i.entry.to_hex()),
                (None, Some(p)) => format!("/wiki/{p}/history"),
                _ => String::new(),
            };
            context! {
                id => i.entry.to_hex(),
                who => who,
                avatar => render::identicon(&i.author.to_string()),
                what => what,
                about => i.about_excerpt.clone(),
                page => i.page_title.clone(),
                excerpt => i.excerpt.clone(),
                ago => render::ago(i.timestamp),
                read => i.read,
                href => href,
            }
        })
        .collect();
    page(&s, &headers, "inbox.html", "inbox", context! { items }).await
}

/// `GET /inbox/count`: the unread count, for the navigation's badge.
pub(super) async fn count(State(s): State<WebState>) -> WebResult {
    let n = s.handle.call(ops::InboxUnread {}).await?;
    Ok(n.to_string().into_response())
}

#[derive(Deserialize)]
pub(super) struct ReadForm {
    /// An item's entry; none: every item.
    #[serde(default)]
    entry: Option<String>,
}

pub(super) async fn read(State(s): State<WebState>, Form(f): Form<ReadForm>) -> WebResult {
    let entry = match f.entry.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(e.parse()?),
        None => None,
    };
    let all = entry.is_none();
    s.handle.call(ops::InboxRead { entry, all }).await?;
    back("/inbox")
}
