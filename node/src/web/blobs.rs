//! Files in the web app: serving them (safely: only raster images are
//! shown inline; everything else, SVG and HTML included, is a download,
//! sandboxed and never sniffed), and uploading them from a compose form
//! or the wiki editor (the attach button, paste and drop in `app.js`).

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::render::shown_inline;
use super::{WebError, WebResult, WebState};
use crate::ops;

/// The policy of a file's response: nothing in it may run or load
/// anything, even if a browser were made to render it.
const BLOB_CSP: &str = "default-src 'none'; sandbox";

#[derive(Deserialize)]
pub(super) struct GetQuery {
    /// Save it rather than show it.
    #[serde(default)]
    download: Option<u8>,
    /// The post whose reference to read it by (a circle's file's key).
    #[serde(default)]
    entry: Option<String>,
}

/// `GET /blob/{hash}`: a file's bytes (fetched from peers first if needed).
pub(super) async fn blob(
    State(s): State<WebState>,
    Path(hash): Path<String>,
    Query(q): Query<GetQuery>,
) -> WebResult {
    let entry = match q.entry.as_deref().filter(|e| !e.is_empty()) {
        Some(e) => Some(e.parse()?),
        None => None,
    };
    let info = s
        .handle
        .call(ops::BlobInfo {
            hash: hash.clone(),
            entry: entry.clone(),
        })
        .await?;
    let bytes = s.handle.call(ops::BlobGet { hash, entry }).await?;
    let inline = shown_inline(&info.file.media_type) && q.download.is_none();
    let content_type = if inline {
        info.file.media_type.clone()
    } else {
        "application/octet-stream".to_string()
    };
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        crate::ops::http::encode_segment(&info.file.name)
    );
    // The API's bounded stream: a browser that stops reading holds the
    // node to four 64 KiB chunks.
    let body = match bytes.0 {
        ops::http::Payload::Bytes(b) => Body::from(b),
        ops::http::Payload::Stream(produce) => crate::api::server::stream(produce),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    for (name, value) in [
        (header::CONTENT_TYPE, content_type),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CONTENT_LENGTH, info.file.size.to_string()),
        (header::CONTENT_SECURITY_POLICY, BLOB_CSP.to_string()),
        (
            header::CACHE_CONTROL,
            "private, max-age=31536000, immutable".to_string(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
pub(super) struct UploadQuery {
    name: String,
    /// Sign an entry naming it (the wiki editor: a page's `blob:` link
    /// then has a signed reference).
    #[serde(default)]
    declare: Option<u8>,
}

/// `POST /blob/upload?name=…`: the request body is the file (what the
/// attach button, paste and drop send, with the CSRF header). Answers the
/// file's `BlobView` as JSON: its reference and its markdown.
pub(super) async fn upload(
    State(s): State<WebState>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> WebResult {
    let max = s.handle.config().blobs.max_file;
    let dir = s.handle.config().data_dir.path().to_path_buf();
    let temp = tokio::task::spawn_blocking(move || tempfile::NamedTempFile::new_in(dir))
        .await
        .map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
        .map_err(|e| {
            WebError(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("cannot write the upload: {e}"),
            )
        })?;
    let mut file = tokio::fs::File::from_std(
        temp.reopen()
            .map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?,
    );
    let mut stream = body.into_data_stream();
    let mut total = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|_| {
            WebError(
                StatusCode::BAD_REQUEST,
                "the file did not arrive whole; attach it again".into(),
            )
        })?;
        total += chunk.len() as u64;
        if total > max {
            return Err(WebError(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "the file is larger than this node takes ({}, `max_file_mib` in config.toml [blobs])",
                    super::render::size(max)
                ),
            ));
        }
        file.write_all(&chunk)
            .await
            .map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    }
    file.flush()
        .await
        .map_err(|e| WebError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    drop(file);
    let view = s
        .handle
        .call(ops::BlobAdd {
            path: temp.path().to_string_lossy().into_owned(),
            name: Some(q.name),
            media_type: None,
            declare: q.declare.is_some(),
        })
        .await?;
    drop(temp);
    Ok(axum::Json(view).into_response())
}
