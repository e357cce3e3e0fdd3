//! The axum side of the API: one route per operation, all served by one
//! generic handler that decodes the request (path, query, body), calls the
//! operation through the node's [`Handle`], and encodes the answer.

use std::sync::Arc;

use axum::body::{Body, Bytes};
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
use crate::ops::http::{Incoming, Payload, Producer, Response as _};
use crate::ops::{self, Method, Operation, Visit};

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
        let limit = axum::extract::DefaultBodyLimit::max(O::INFO.body_limit);
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
        Ok(output) => match output.into_http() {
            (content_type, Payload::Bytes(bytes)) => {
                ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
            }
            (content_type, Payload::Stream(produce)) => {
                ([(header::CONTENT_TYPE, content_type)], stream(produce)).into_response()
            }
        },
        Err(e) => error_response(e),
    }
}

/// Chunks a streamed answer is sent in, and how many may wait for the
/// client: what a slow client costs the node is bounded by these.
const STREAM_CHUNK: usize = 64 * 1024;
const STREAM_QUEUE: usize = 4;

/// Runs `produce` on a blocking thread, sending what it writes to the
/// client as it comes. A client that stops reading stalls the producer
/// (the queue is bounded); one that goes away ends it. An error after the
/// answer began cuts the body short, which the client sees (a bundle's
/// checksum then fails).
pub(crate) fn stream(produce: Producer) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<Bytes>>(STREAM_QUEUE);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            tx,
            buf: Vec::with_capacity(STREAM_CHUNK),
        };
        let result = produce(&mut out).and_then(|()| {
            out.send()
                .map_err(|e| Error::Io(format!("sending the answer: {e}")))
        });
        if let Err(e) = result {
            tracing::warn!(error = %e, "a streamed answer stopped early");
            let _ = out
                .tx
                .blocking_send(Err(std::io::Error::other(e.to_string())));
        }
    });
    Body::from_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }))
}

/// A `Write` that hands full chunks to the HTTP body.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(STREAM_CHUNK));
        self.tx.blocking_send(Ok(Bytes::from(chunk))).map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client went away")
        })
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = STREAM_CHUNK - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        if self.buf.len() == STREAM_CHUNK {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A client that never reads a streamed answer costs the node a
    /// bounded buffer, not the answer: the producer waits once the queue
    /// is full, and ends (with an error) once the client goes away.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_client_that_never_reads_stalls_the_stream_at_a_bounded_buffer() {
        let written = Arc::new(AtomicU64::new(0));
        let (done_tx, done_rx) = std::sync::mpsc::channel();
        let counter = written.clone();
        let produce: Producer = Box::new(move |out| {
            let block = [7u8; 1024];
            let result = (0..1024 * 1024).try_for_each(|_| {
                out.write_all(&block)?;
                counter.fetch_add(block.len() as u64, Ordering::SeqCst);
                Ok::<(), std::io::Error>(())
            });
            let _ = done_tx.send(result.is_err());
            result.map_err(|e| Error::Io(e.to_string()))
        });
        let body = stream(produce);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let stalled = written.load(Ordering::SeqCst);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(written.load(Ordering::SeqCst), stalled, "still writing");
        let bound = ((STREAM_QUEUE + 1) * STREAM_CHUNK) as u64;
        assert!(
            stalled <= bound,
            "{stalled} bytes buffered, more than {bound}"
        );
        assert!(stalled >= (STREAM_QUEUE * STREAM_CHUNK) as u64, "{stalled}");
        drop(body);
        let failed = tokio::task::spawn_blocking(move || {
            done_rx.recv_timeout(std::time::Duration::from_secs(10))
        })
        .await
        .unwrap()
        .expect("the producer never ended after the client went away");
        assert!(
            failed,
            "the producer did not hear that the client went away"
        );
    }

    /// What a client reads of a streamed answer is what was written, in
    /// order, whatever the sizes of the writes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_streamed_answer_arrives_whole_and_in_order() {
        let expected: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let sent = expected.clone();
        let produce: Producer = Box::new(move |out| {
            for piece in sent.chunks(999) {
                out.write_all(piece).map_err(|e| Error::Io(e.to_string()))?;
            }
            Ok(())
        });
        let body = stream(produce);
        let got = axum::body::to_bytes(body, usize::MAX).await.unwrap();
        assert_eq!(&got[..], &expected[..]);
    }
}
