//! The axum side of the API: one route per operation, all served by one
//! generic handler that decodes the request (path, query, body), calls the
//! operation through the node's [`Handle`], and encodes the answer.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawPathParams, RawQuery, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use axum::{Json, Router};

use super::ErrorBody;
use crate::error::{Error, ErrorKind};
use crate::handle::Handle;
use crate::http::{constant_time_eq, refuse};
use crate::ops::http::{Incoming, Response as _};
use crate::ops::{self, Method, Operation, Visit};

/// Largest request body (an import chunk of entries, a wiki import).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Largest body an operation reads: only imports carry bulk; a page is at
/// most 1 MiB of text (up to six bytes each once JSON-escaped); everything
/// else is a small JSON object. A larger body is refused (413) after this
/// many bytes, so a flood of oversized requests costs little memory.
fn body_limit(info: &ops::Info) -> usize {
    match info.name {
        "ImportEntries" | "WikiImport" => MAX_BODY_BYTES,
        "WikiNew" | "WikiEdit" => 7 * 1024 * 1024,
        "Bundle" => 4 * 1024 * 1024,
        _ => 512 * 1024,
    }
}

#[derive(Clone)]
struct ApiState {
    handle: Handle,
    token: Arc<String>,
}

/// The API's routes (to be nested under [`super::PREFIX`]).
pub(crate) fn router(handle: Handle, token: String) -> Router {
    let state = ApiState {
        handle,
        token: Arc::new(token),
    };
    let mut routes = Routes(Router::new());
    ops::visit_all(&mut routes);
    routes
        .0
        .layer(middleware::from_fn_with_state(state.clone(), require_token))
        .with_state(state)
}

struct Routes(Router<ApiState>);

impl Visit for Routes {
    fn visit<O: Operation>(&mut self) {
        let filter = match O::INFO.method {
            Method::Get => MethodFilter::GET,
            Method::Post => MethodFilter::POST,
            Method::Put => MethodFilter::PUT,
            Method::Delete => MethodFilter::DELETE,
        };
        let router = std::mem::take(&mut self.0);
        let limit = axum::extract::DefaultBodyLimit::max(body_limit(&O::INFO));
        self.0 = router.route(O::INFO.path, on(filter, serve::<O>).layer(limit));
    }
}

/// Decodes, runs and encodes one operation.
async fn serve<O: Operation>(
    State(state): State<ApiState>,
    params: RawPathParams,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let incoming = Incoming {
        method: O::INFO.method,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        query: query.as_deref(),
        body: &body,
    };
    let op = match O::from_http(incoming) {
        Ok(op) => op,
        Err(e) => return error_response(e),
    };
    match state.handle.call(op).await {
        Ok(output) => {
            let (content_type, bytes) = output.into_http();
            ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
        }
        Err(e) => error_response(e),
    }
}

/// Errors as JSON with a fitting status code.
pub(crate) fn error_response(e: Error) -> Response {
    let kind = e.kind();
    let status = match kind {
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Conflict => StatusCode::CONFLICT,
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let body = ErrorBody {
        error: e.to_string(),
        kind,
    };
    (status, Json(body)).into_response()
}

/// Requires `Authorization: Bearer <token>`.
async fn require_token(State(state): State<ApiState>, request: Request, next: Next) -> Response {
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
