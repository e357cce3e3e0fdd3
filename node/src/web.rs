//! The web app: server-rendered pages served by the node on its API address.
//!
//! Security model (see `docs/SECURITY.md`):
//! - Opening `/login?token=…` (the URL `kith up` prints) sets an HttpOnly,
//!   SameSite=Strict session cookie with a lifetime, derived from the key in
//!   `web-session.key` (a new key signs every browser out); every other
//!   page requires that cookie.
//! - Every POST must carry the CSRF token (form field `csrf` or header
//!   `X-CSRF-Token`), derived from the API token as well, and a same-origin
//!   `Origin` if the browser sends one.
//! - The Host check of the API (DNS rebinding) applies to the web app too.
//! - User content is rendered by `render`: markdown, then sanitized.

mod blobs;
mod bookmarks;
mod circles;
mod inbox;
mod people;
mod posts;
mod questions;
mod render;
mod session;
mod wiki;

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Form;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use futures::Stream;
use minijinja::{Environment, Value, context};
use serde::Deserialize;

use crate::error::Error;
use crate::handle::{Event, Handle};
use crate::http::constant_time_eq;
use crate::model::EntryView;
use crate::ops;
use crate::refs::AuthorRef;

pub use self::render::markdown;
use self::session::{login, require_session, session_of, sign_out, sign_out_everywhere};

const COOKIE: &str = "kith_session";
/// Largest form body accepted.
const MAX_FORM_BYTES: usize = 2 * 1024 * 1024;
/// Entries per feed page.
pub const FEED_PAGE: usize = 50;

/// Every template of the web app, by name.
const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("web/templates/layout.html")),
    ("macros.html", include_str!("web/templates/macros.html")),
    ("feed.html", include_str!("web/templates/feed.html")),
    (
        "questions.html",
        include_str!("web/templates/questions.html"),
    ),
    ("ask.html", include_str!("web/templates/ask.html")),
    ("similar.html", include_str!("web/templates/similar.html")),
    ("thread.html", include_str!("web/templates/thread.html")),
    (
        "wiki_list.html",
        include_str!("web/templates/wiki_list.html"),
    ),
    (
        "wiki_page.html",
        include_str!("web/templates/wiki_page.html"),
    ),
    (
        "wiki_edit.html",
        include_str!("web/templates/wiki_edit.html"),
    ),
    (
        "wiki_history.html",
        include_str!("web/templates/wiki_history.html"),
    ),
    (
        "wiki_missing.html",
        include_str!("web/templates/wiki_missing.html"),
    ),
    (
        "wiki_blame.html",
        include_str!("web/templates/wiki_blame.html"),
    ),
    (
        "wiki_version.html",
        include_str!("web/templates/wiki_version.html"),
    ),
    (
        "wiki_merge.html",
        include_str!("web/templates/wiki_merge.html"),
    ),
    ("people.html", include_str!("web/templates/people.html")),
    ("circles.html", include_str!("web/templates/circles.html")),
    (
        "device_link.html",
        include_str!("web/templates/device_link.html"),
    ),
    (
        "device_joined.html",
        include_str!("web/templates/device_joined.html"),
    ),
    ("status.html", include_str!("web/templates/status.html")),
    ("search.html", include_str!("web/templates/search.html")),
    ("login.html", include_str!("web/templates/login.html")),
    (
        "bookmarks.html",
        include_str!("web/templates/bookmarks.html"),
    ),
    ("inbox.html", include_str!("web/templates/inbox.html")),
];

/// Templates and the secrets derived from the API token.
pub(crate) struct Web {
    env: Environment<'static>,
    token: String,
    /// The session cookie's value: derived from the key in
    /// `web-session.key`, so it outlives browser and node restarts; a new
    /// key signs every browser out (swapped under this lock).
    session: std::sync::RwLock<String>,
    session_file: std::path::PathBuf,
    csrf: String,
}

impl Web {
    pub(crate) fn new(token: &str, session_file: &std::path::Path) -> Result<Web, Error> {
        let mut env = Environment::new();
        // A missing value (`None`) prints as nothing, never as "none".
        env.set_formatter(|out, state, value| {
            if value.is_none() || value.is_undefined() {
                Ok(())
            } else {
                minijinja::escape_formatter(out, state, value)
            }
        });
        // `count(n, "peer", "peers")`: "1 peer", "2 peers".
        env.add_function("count", |n: u64, one: String, many: String| {
            crate::text::count(n, &one, &many)
        });
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("templates are valid");
        }
        let key = *blake3::hash(token.as_bytes()).as_bytes();
        let session_key = crate::api::load_or_create_token(session_file)?;
        Ok(Web {
            env,
            token: token.to_string(),
            session: std::sync::RwLock::new(session_of(&session_key)),
            session_file: session_file.to_path_buf(),
            csrf: blake3::keyed_hash(&key, b"kith-web-csrf")
                .to_hex()
                .to_string(),
        })
    }
}

#[derive(Clone)]
struct WebState {
    handle: Handle,
    web: Arc<Web>,
}

/// The web routes (the caller adds the Host check).
pub(crate) fn router(handle: Handle, token: &str) -> Result<Router, Error> {
    let session_file = handle.config().data_dir.web_session_key();
    let state = WebState {
        handle,
        web: Arc::new(Web::new(token, &session_file)?),
    };
    let pages = Router::new()
        .route("/", get(posts::feed))
        .route("/post", post(posts::new_post))
        .route("/questions", get(questions::questions))
        .route("/questions/similar", get(questions::similar))
        .route("/ask", post(questions::ask))
        .route("/thread/{id}", get(posts::thread))
        .route("/thread/{id}/answer", post(posts::answer))
        .route("/thread/{id}/reply", post(posts::reply))
        .route("/entry/{id}/endorse", post(posts::endorse))
        .route("/entry/{id}/accept", post(posts::accept))
        .route("/entry/{id}/delete", post(posts::delete))
        .route("/entry/{id}/bookmark", post(bookmarks::bookmark))
        .route("/entry/{id}/promote", post(wiki::wiki_promote))
        .route("/bookmarks", get(bookmarks::bookmarks))
        .route("/inbox", get(inbox::inbox))
        .route("/inbox/count", get(inbox::count))
        .route("/inbox/read", post(inbox::read))
        .route("/blob/upload", post(blobs::upload))
        .route("/blob/{hash}", get(blobs::blob))
        .route("/bookmarks/{id}/remove", post(bookmarks::forget))
        .route("/wiki", get(wiki::wiki_list))
        .route("/wiki/new", post(wiki::wiki_new))
        .route("/wiki/by-title/{title}", get(wiki::wiki_by_title))
        .route("/wiki/{id}", get(wiki::wiki_page))
        .route(
            "/wiki/{id}/edit",
            get(wiki::wiki_edit_form).post(wiki::wiki_edit),
        )
        .route("/wiki/{id}/history", get(wiki::wiki_history))
        .route("/wiki/{id}/blame", get(wiki::wiki_blame))
        .route("/wiki/{id}/reviewed", post(wiki::wiki_reviewed))
        .route("/wiki/{id}/task", post(wiki::wiki_task))
        .route("/wiki/{id}/merge", get(wiki::wiki_merge))
        .route("/wiki/{id}/diff/{change}", get(wiki::wiki_diff))
        .route("/wiki/{id}/at/{change}", get(wiki::wiki_version))
        .route("/wiki/{id}/revert/{change}", post(wiki::wiki_revert))
        .route(
            "/wiki/{id}/restore-version/{change}",
            post(wiki::wiki_restore_version),
        )
        .route("/wiki/{id}/archive", post(wiki::wiki_archive))
        .route("/wiki/{id}/restore", post(wiki::wiki_restore))
        .route("/wiki/{id}/automerge", get(wiki::wiki_automerge))
        .route("/circles", get(circles::circles))
        .route("/circles/new", post(circles::circle_create))
        .route("/circles/{id}/add", post(circles::circle_add))
        .route("/circles/{id}/remove", post(circles::circle_remove))
        .route("/people", get(people::people))
        .route("/people/join", post(people::people_join))
        .route("/people/names", get(people::names))
        .route("/people/{author}/remove", post(people::people_remove))
        .route("/people/devices/link", post(people::device_link))
        .route("/people/devices/join", post(people::device_join))
        .route(
            "/people/devices/{device}/revoke",
            post(people::device_revoke),
        )
        .route("/profile", post(people::profile_set))
        .route("/status", get(people::status))
        .route("/search", get(people::search))
        .route("/events", get(events))
        .route("/preview", post(preview))
        .route("/sign-out", post(sign_out))
        .route("/sign-out-everywhere", post(sign_out_everywhere))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            require_session,
        ));
    Ok(Router::new()
        .merge(pages)
        .route("/login", get(login))
        .route("/static/app.css", get(css))
        .route("/static/app.js", get(js))
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .layer(middleware::map_response(security_headers))
        .with_state(state))
}

/// Only this node's own scripts, styles and images, no framing: a post
/// cannot make readers' browsers fetch anything from elsewhere (remote
/// images become links to click, see `render`).
const CSP: &str = "default-src 'self'; img-src 'self' data:; script-src 'self'; style-src 'self'; \
                   object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    // A file's answer keeps its own, stricter policy (`blobs`).
    if !headers.contains_key(header::CONTENT_SECURITY_POLICY) {
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

// ----- authentication and CSRF -------------------------------------------------

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

async fn css() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("web/static/app.css"),
    )
}

#[derive(Deserialize)]
struct PreviewForm {
    #[serde(default)]
    text: String,
}

/// What a text being written will look like (the compose boxes' preview:
/// the same rendering and sanitizing as the published post).
async fn preview(State(s): State<WebState>, Form(f): Form<PreviewForm>) -> WebResult {
    let titles = titles(&s).await?;
    Ok(Html(render::markdown_with(&f.text, &titles)).into_response())
}

/// The icon (SVG; browsers that ask for `/favicon.ico` take it too).
async fn favicon() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "max-age=86400"),
        ],
        include_str!("web/static/favicon.svg"),
    )
}

async fn js() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("web/static/app.js"),
    )
}

// ----- rendering -------------------------------------------------------------

/// An error shown as a page.
struct WebError(StatusCode, String);

impl From<Error> for WebError {
    fn from(e: Error) -> Self {
        use crate::error::ErrorKind as K;
        let status = match e.kind() {
            K::InvalidInput => StatusCode::BAD_REQUEST,
            K::NotFound => StatusCode::NOT_FOUND,
            K::Conflict => StatusCode::CONFLICT,
            K::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            K::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        WebError(status, e.to_string())
    }
}

impl From<minijinja::Error> for WebError {
    fn from(e: minijinja::Error) -> Self {
        WebError(StatusCode::INTERNAL_SERVER_ERROR, format!("template: {e}"))
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (heading, hint) = match self.0 {
            StatusCode::NOT_FOUND => (
                "Not found",
                "It may have been deleted, or not reached this node yet.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "Busy for a moment",
                "A long job holds what this needs: try again shortly.",
            ),
            s if s.is_client_error() => ("That did not work", "Go back, correct it and try again."),
            _ => (
                "Something went wrong",
                "The node's log (where `kith up` runs) says more.",
            ),
        };
        let body = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>{heading} · Kith</title><link rel=\"icon\" href=\"/favicon.svg\" type=\"image/svg+xml\">\
             <link rel=\"stylesheet\" href=\"/static/app.css\"></head><body>\
             <header><nav aria-label=\"Main\"><a href=\"/\">Feed</a> <a href=\"/questions\">Questions</a> \
             <a href=\"/wiki\">Wiki</a> <a href=\"/bookmarks\">Bookmarks</a> <a href=\"/circles\">Circles</a> \
             <a href=\"/people\">People</a> <a href=\"/status\">Status</a></nav>\
             <form role=\"search\" action=\"/search\" method=\"get\" class=\"search\">\
             <label for=\"q\" class=\"visually-hidden\">Search</label><input id=\"q\" name=\"q\" type=\"search\" placeholder=\"Search\">\
             <button type=\"submit\">Search</button></form></header>\
             <main id=\"main\"><h1>{heading}</h1><p class=\"error\" role=\"alert\">{}</p><p>{hint}</p>\
             <p><a href=\"/\">Back to the feed</a></p></main></body></html>",
            html_escape(&capitalize(&self.1))
        );
        (self.0, Html(body)).into_response()
    }
}

type WebResult = Result<Response, WebError>;

use crate::text::capitalize;

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Renders `template` with `ctx` plus the common context; only the `live`
/// block when the page's script asks for it.
/// The circles one may write in, for a page's compose form (none for a
/// live-region refresh, which has no form).
async fn my_circles(s: &WebState, headers: &HeaderMap) -> Result<Value, WebError> {
    if headers.get("x-kith-fragment").is_some() {
        return Ok(Value::from(()));
    }
    let mine: Vec<serde_json::Value> = s
        .handle
        .call(ops::CircleList {})
        .await?
        .into_iter()
        .filter(|c| c.member)
        .map(|c| serde_json::json!({ "id": c.id.to_string(), "name": c.name }))
        .collect();
    Ok(Value::from_serialize(mine))
}

async fn page(
    s: &WebState,
    headers: &HeaderMap,
    template: &str,
    nav: &str,
    ctx: Value,
) -> WebResult {
    let me = s.handle.call(ops::Whoami {}).await?;
    let inbox_unread = s.handle.call(ops::InboxUnread {}).await?;
    let common = context! {
        inbox_unread => inbox_unread,
        csrf => s.web.csrf.clone(),
        me => me.author.to_string(),
        me_short => me.author.short(),
        me_name => me.name,
        nav => nav,
        // The most a post's body may hold; compose boxes count against it.
        max_post_bytes => s.handle.reader().store().limits().max_body_bytes,
    };
    let ctx = context! { ..common, ..ctx };
    let template = s.web.env.get_template(template)?;
    let live = if headers.get("x-kith-fragment").is_some_and(|v| v == "live") {
        // Only the live region, for the page's script to swap in (pages
        // without one answer whole).
        #[allow(deprecated)]
        let mut state = template.eval_to_state(ctx.clone())?;
        match state.render_block("live") {
            Ok(html) => Some(html),
            Err(e) if e.kind() == minijinja::ErrorKind::UnknownBlock => None,
            Err(e) => return Err(e.into()),
        }
    } else {
        None
    };
    let html = match live {
        Some(html) => html,
        None => template.render(ctx)?,
    };
    Ok(Html(html).into_response())
}

/// Where to go after a POST: back where the form was, with a message.
fn back(to: &str) -> WebResult {
    Ok(Redirect::to(to).into_response())
}

/// The wiki's page titles, for rendering `[[links]]`.
async fn titles(s: &WebState) -> Result<render::Titles, WebError> {
    let pages = s.handle.call(ops::WikiList { archived: false }).await?;
    // Former titles still lead to their pages: links to them work.
    Ok(render::Titles::of(pages.iter().flat_map(|p| {
        std::iter::once(p.title.as_str()).chain(p.aliases.iter().map(String::as_str))
    })))
}

/// An entry as templates see it.
fn entry_ctx(e: &EntryView, titles: &render::Titles) -> Value {
    let author = e.author.to_string();
    // Files not already shown in the text by a `blob:` link.
    let linked = e
        .text
        .as_deref()
        .map(render::linked_blobs)
        .unwrap_or_default();
    let files: Vec<serde_json::Value> = e
        .files
        .iter()
        .filter(|f| !linked.contains(&f.hash))
        .map(|f| {
            serde_json::json!({
                "hash": f.hash.to_string(),
                "name": f.name,
                "media_type": f.media_type,
                "size": render::size(f.size),
                "inline": render::shown_inline(&f.media_type),
            })
        })
        .collect();
    Value::from_serialize(serde_json::json!({
        "id": e.id.to_hex(),
        "avatar": render::identicon(&author),
        "author": author,
        "author_name": e.author_name,
        "kind": e.kind,
        "tags": e.tags,
        "reply_to": e.reply_to.map(|r| r.to_hex()),
        "parent": e.parent.as_ref().map(|p| serde_json::json!({
            "name": p.author_name.clone().unwrap_or_else(|| format!("…{}", p.author.short())),
            "excerpt": p.excerpt,
        })),
        "html": e.text.as_deref().map(|t| render::entry_markdown(&e.id, t, titles)),
        // Not deleted (a titled question may have no text beside its title).
        "present": e.text.is_some(),
        "circle": e.circle,
        "files": files,
        "in_wiki": e.in_wiki.iter().map(|w| serde_json::json!({"id": w.id.to_string(), "title": w.title})).collect::<Vec<_>>(),
        "timestamp": e.timestamp,
        "ago": render::ago(e.timestamp),
        "iso": humantime_iso(e.timestamp),
        "exact": humantime_iso(e.timestamp).replace('T', " ").replace('Z', " UTC"),
    }))
}

fn humantime_iso(ms: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
        .to_string()
}

/// A search snippet → escaped HTML with its matches in `<mark>`.
fn snippet_html(snippet: &crate::search::Snippet) -> String {
    let text = &snippet.text;
    let mut out = String::new();
    let mut from = 0;
    for &[start, end] in &snippet.matches {
        let (Some(before), Some(word)) = (text.get(from..start), text.get(start..end)) else {
            continue;
        };
        out.push_str(&html_escape(before));
        out.push_str("<mark>");
        out.push_str(&html_escape(word));
        out.push_str("</mark>");
        from = end;
    }
    out.push_str(&html_escape(text.get(from..).unwrap_or_default()));
    out
}

fn tags_of(text: &str) -> Vec<String> {
    text.split([' ', ','])
        .map(|t| t.trim().trim_start_matches('#'))
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// Server-sent events: one message whenever the node stores an entry.
async fn events(
    State(s): State<WebState>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = s.handle.subscribe();
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(Event::Entry { entry, .. }) => {
                    return Some((
                        Ok(SseEvent::default()
                            .event("message")
                            .data(entry.id().to_hex())),
                        rx,
                    ));
                }
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    return Some((Ok(SseEvent::default().event("message").data("lagged")), rx));
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests;
