//! The axum side of the API.

use std::future::Future;
use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use tokio::net::TcpListener;

use super::{ErrorBody, PREFIX};
use crate::error::{Error, ErrorKind};
use crate::handle::Handle;
use crate::model::{DialParams, FeedParams, JoinParams, NewPost, TrustParams};

#[derive(Clone)]
struct AppState {
    handle: Handle,
    token: Arc<String>,
    port: u16,
    web: Arc<crate::web::Web>,
}

/// Serves the API on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    handle: Handle,
    token: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let state = AppState {
        handle,
        web: Arc::new(crate::web::Web::new(&token)),
        token: Arc::new(token),
        port,
    };
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}

fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/id", get(id))
        .route("/posts", post(new_post))
        .route("/feed", get(feed))
        .route("/trust", get(trust_list).post(trust_add))
        .route("/trust/{author}", delete(trust_remove))
        .route("/verify", get(verify))
        .route("/reindex", post(reindex))
        .route("/invite", get(invite))
        .route("/join", post(join))
        .route("/dial", post(dial))
        .route("/peers", get(peers))
        .route("/status", get(status))
        .route("/forks", get(forks))
        .route("/forks/{author}", delete(forks_clear))
        .route("/frontier", get(frontier))
        .route("/bundle", post(bundle))
        .route(
            "/entries",
            post(import_entries).layer(axum::extract::DefaultBodyLimit::max(IMPORT_BYTES)),
        )
        .route("/search", get(search))
        .route("/ask", post(ask))
        .route("/questions", get(questions))
        .route("/entries/{id}", delete(delete_entry))
        .route("/entries/{id}/thread", get(thread))
        .route("/entries/{id}/answers", post(answer))
        .route("/entries/{id}/replies", post(reply))
        .route("/entries/{id}/endorse", post(endorse))
        .route("/entries/{id}/accept", post(accept))
        .route("/profile", post(profile_set))
        .route("/profile/{author}", get(profile))
        .route("/wiki", get(wiki_list).post(wiki_new))
        .route("/wiki/import", post(wiki_import))
        .route("/wiki/export", get(wiki_export))
        .route(
            "/wiki/{page}",
            get(wiki_show).put(wiki_edit).delete(wiki_delete),
        )
        .route("/wiki/{page}/history", get(wiki_history))
        .route("/wiki/{page}/rename", post(wiki_rename))
        .route("/wiki/{page}/restore", post(wiki_restore))
        .route("/wiki/{page}/automerge", get(wiki_automerge))
        .layer(middleware::from_fn_with_state(state.clone(), require_token));
    let web = crate::web::router(crate::web::WebState {
        handle: state.handle.clone(),
        web: state.web.clone(),
    });
    Router::new()
        .nest(PREFIX, api)
        .with_state(state.clone())
        .merge(web)
        .layer(middleware::from_fn_with_state(state, require_local_host))
}

/// Errors as JSON with a fitting status code.
struct ApiError(Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let kind = self.0.kind();
        let status = match kind {
            ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
            ErrorKind::NotFound => StatusCode::NOT_FOUND,
            ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let body = ErrorBody {
            error: self.0.to_string(),
            kind,
        };
        (status, Json(body)).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

fn refuse(status: StatusCode, message: &str) -> Response {
    let body = ErrorBody {
        error: message.to_string(),
        kind: ErrorKind::InvalidInput,
    };
    (status, Json(body)).into_response()
}

/// Refuses requests whose Host is not this node's loopback address
/// (DNS rebinding protection).
async fn require_local_host(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_local_host(host, state.port) {
        return refuse(StatusCode::MISDIRECTED_REQUEST, "unexpected Host header");
    }
    next.run(request).await
}

pub(crate) fn is_local_host(host: &str, port: u16) -> bool {
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// Requires `Authorization: Bearer <token>`.
async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if !constant_time_eq(presented.as_bytes(), state.token.as_bytes()) {
        return refuse(StatusCode::UNAUTHORIZED, "missing or wrong API token");
    }
    next.run(request).await
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn id(State(s): State<AppState>) -> ApiResult<crate::model::IdView> {
    Ok(Json(s.handle.whoami().await?))
}

async fn new_post(
    State(s): State<AppState>,
    Json(post): Json<NewPost>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.post(post).await?))
}

async fn feed(
    State(s): State<AppState>,
    Query(params): Query<FeedParams>,
) -> ApiResult<Vec<crate::model::EntryView>> {
    Ok(Json(s.handle.feed(params).await?))
}

async fn trust_list(State(s): State<AppState>) -> ApiResult<Vec<crate::model::TrustView>> {
    Ok(Json(s.handle.trust_list().await?))
}

async fn trust_add(
    State(s): State<AppState>,
    Json(params): Json<TrustParams>,
) -> ApiResult<crate::model::TrustView> {
    Ok(Json(s.handle.trust_add(params).await?))
}

async fn trust_remove(State(s): State<AppState>, Path(author): Path<String>) -> ApiResult<bool> {
    Ok(Json(s.handle.trust_remove(author).await?))
}

async fn verify(State(s): State<AppState>) -> ApiResult<crate::store::VerifyReport> {
    Ok(Json(s.handle.with_core(|core| core.verify()).await??))
}

async fn reindex(State(s): State<AppState>) -> ApiResult<crate::store::ReindexReport> {
    Ok(Json(s.handle.with_core(|core| core.reindex()).await??))
}

async fn invite(State(s): State<AppState>) -> ApiResult<crate::model::InviteView> {
    Ok(Json(s.handle.invite().await?))
}

async fn join(
    State(s): State<AppState>,
    Json(params): Json<JoinParams>,
) -> ApiResult<crate::model::TrustView> {
    Ok(Json(s.handle.join(params).await?))
}

async fn dial(State(s): State<AppState>, Json(params): Json<DialParams>) -> ApiResult<()> {
    Ok(Json(s.handle.dial(params.addr).await?))
}

async fn peers(State(s): State<AppState>) -> ApiResult<Vec<crate::model::PeerView>> {
    Ok(Json(s.handle.peers().await?))
}

async fn status(State(s): State<AppState>) -> ApiResult<crate::model::StatusView> {
    Ok(Json(s.handle.status().await?))
}

/// Largest body of one `POST /entries` (the CLI sends bundles in chunks).
const IMPORT_BYTES: usize = 16 * 1024 * 1024;

async fn forks(State(s): State<AppState>) -> ApiResult<Vec<crate::model::ForkView>> {
    Ok(Json(s.handle.forks().await?))
}

async fn forks_clear(State(s): State<AppState>, Path(author): Path<String>) -> ApiResult<usize> {
    Ok(Json(s.handle.forks_clear(author).await?))
}

async fn frontier(State(s): State<AppState>) -> ApiResult<crate::bundle::FrontierFile> {
    Ok(Json(s.handle.frontier_file().await?))
}

async fn bundle(
    State(s): State<AppState>,
    Json(p): Json<crate::model::BundleParams>,
) -> Result<Response, ApiError> {
    let bytes = s.handle.bundle(p).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// Concatenated entry envelopes, imported as if from the network.
async fn import_entries(
    State(s): State<AppState>,
    body: axum::body::Bytes,
) -> ApiResult<crate::model::ImportEntriesReport> {
    let limits = kith_protocol::Limits::default();
    let mut entries = Vec::new();
    let mut rest = &body[..];
    while !rest.is_empty() {
        let (entry, after) = kith_protocol::Entry::decode_prefix(rest, &limits)
            .map_err(|e| Error::InvalidInput(format!("entry {}: {e}", entries.len() + 1)))?;
        entries.push(entry);
        rest = after;
    }
    Ok(Json(s.handle.import_entries(entries).await?))
}

async fn search(
    State(s): State<AppState>,
    Query(q): Query<crate::search::SearchParams>,
) -> ApiResult<Vec<crate::search::SearchHit>> {
    Ok(Json(s.handle.search(q).await?))
}

async fn ask(
    State(s): State<AppState>,
    Json(p): Json<crate::model::AskParams>,
) -> ApiResult<crate::model::AskOutcome> {
    Ok(Json(s.handle.ask(p).await?))
}

async fn questions(
    State(s): State<AppState>,
    Query(q): Query<crate::model::QuestionParams>,
) -> ApiResult<Vec<crate::model::QuestionView>> {
    Ok(Json(s.handle.questions(q).await?))
}

async fn thread(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<crate::model::ThreadView> {
    Ok(Json(s.handle.thread(id).await?))
}

async fn answer(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<crate::model::ReplyParams>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.answer(id, r).await?))
}

async fn reply(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(r): Json<crate::model::ReplyParams>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.reply(id, r).await?))
}

async fn endorse(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(p): Json<crate::model::EndorseParams>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.endorse(id, p).await?))
}

#[derive(serde::Deserialize, serde::Serialize, Default)]
pub(crate) struct AcceptParams {
    #[serde(default)]
    pub withdraw: bool,
}

async fn accept(
    State(s): State<AppState>,
    Path(id): Path<String>,
    Json(p): Json<AcceptParams>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.accept(id, p.withdraw).await?))
}

async fn delete_entry(
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.delete(id).await?))
}

async fn profile(
    State(s): State<AppState>,
    Path(author): Path<String>,
) -> ApiResult<crate::model::ProfileView> {
    Ok(Json(s.handle.profile(author).await?))
}

async fn profile_set(
    State(s): State<AppState>,
    Json(p): Json<crate::model::ProfileParams>,
) -> ApiResult<crate::model::EntryView> {
    Ok(Json(s.handle.profile_set(p).await?))
}

#[derive(serde::Deserialize)]
struct ListQuery {
    #[serde(default)]
    archived: bool,
}

async fn wiki_list(
    State(s): State<AppState>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Vec<crate::model::PageSummary>> {
    Ok(Json(s.handle.wiki_list(q.archived).await?))
}

async fn wiki_new(
    State(s): State<AppState>,
    Json(page): Json<crate::model::NewPage>,
) -> ApiResult<crate::model::PageView> {
    Ok(Json(s.handle.wiki_new(page).await?))
}

async fn wiki_show(
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<crate::model::PageView> {
    Ok(Json(s.handle.wiki_show(page).await?))
}

async fn wiki_edit(
    State(s): State<AppState>,
    Path(page): Path<String>,
    Json(edit): Json<crate::model::PageEdit>,
) -> ApiResult<crate::model::PageView> {
    Ok(Json(s.handle.wiki_edit(page, edit).await?))
}

async fn wiki_delete(
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<crate::model::PageView> {
    Ok(Json(s.handle.wiki_archive(page, true).await?))
}

async fn wiki_restore(
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<crate::model::PageView> {
    Ok(Json(s.handle.wiki_archive(page, false).await?))
}

async fn wiki_rename(
    State(s): State<AppState>,
    Path(page): Path<String>,
    Json(rename): Json<crate::model::PageRename>,
) -> ApiResult<crate::model::PageView> {
    Ok(Json(s.handle.wiki_rename(page, rename).await?))
}

async fn wiki_history(
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> ApiResult<Vec<crate::model::HistoryView>> {
    Ok(Json(s.handle.wiki_history(page).await?))
}

async fn wiki_export(State(s): State<AppState>) -> ApiResult<Vec<crate::model::PageView>> {
    Ok(Json(s.handle.wiki_export().await?))
}

async fn wiki_import(
    State(s): State<AppState>,
    Json(items): Json<Vec<crate::model::ImportItem>>,
) -> ApiResult<crate::model::ImportReport> {
    Ok(Json(s.handle.wiki_import(items).await?))
}

/// The page as a binary `.automerge` document.
async fn wiki_automerge(
    State(s): State<AppState>,
    Path(page): Path<String>,
) -> Result<Response, ApiError> {
    let bytes = s.handle.wiki_automerge(page).await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_check() {
        assert!(is_local_host("127.0.0.1:7447", 7447));
        assert!(is_local_host("localhost:7447", 7447));
        assert!(!is_local_host("evil.example:7447", 7447));
        assert!(!is_local_host("127.0.0.1:80", 7447));
        assert!(!is_local_host("", 7447));
    }

    #[test]
    fn token_compare() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
