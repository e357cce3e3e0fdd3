//! The node's HTTP server: the JSON API under [`api::PREFIX`] and the web
//! app, on one listener, behind one check of the `Host` header (which
//! defeats DNS rebinding from web pages). The API checks its bearer token;
//! the web app its session cookie and CSRF token (see [`crate::web`]).

use std::future::Future;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;

use crate::api::{self, ErrorBody};
use crate::error::ErrorKind;
use crate::handle::Handle;

/// Serves the API and the web app on `listener` until `shutdown` resolves.
pub(crate) async fn serve(
    listener: TcpListener,
    handle: Handle,
    token: String,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let app = Router::new()
        .nest(api::PREFIX, api::router(handle.clone(), token.clone()))
        .merge(
            crate::web::router(handle, &token).map_err(|e| std::io::Error::other(e.to_string()))?,
        )
        .layer(middleware::from_fn_with_state(port, require_local_host));
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Refuses requests whose Host is not this node's loopback address.
async fn require_local_host(State(port): State<u16>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !is_local_host(host, port) {
        return refuse(StatusCode::MISDIRECTED_REQUEST, "unexpected Host header");
    }
    next.run(request).await
}

/// A JSON error answer.
pub(crate) fn refuse(status: StatusCode, message: &str) -> Response {
    let body = ErrorBody {
        error: message.to_string(),
        kind: ErrorKind::InvalidInput,
    };
    (status, axum::Json(body)).into_response()
}

pub(crate) fn is_local_host(host: &str, port: u16) -> bool {
    let allowed = [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("[::1]:{port}"),
    ];
    allowed.iter().any(|a| a.eq_ignore_ascii_case(host))
}

/// Compares secrets in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
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
