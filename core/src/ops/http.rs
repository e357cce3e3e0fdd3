//! How operations travel over the HTTP API, for the server and the client
//! alike. The rules, for every operation (docs/API.md lists them):
//!
//! - `{field}` segments of the path carry those request fields;
//! - `GET` and `DELETE` carry the other fields in the query string;
//! - `POST` and `PUT` carry them as a JSON object (an empty body is `{}`);
//! - responses are JSON, except [`Binary`] and [`Streamed`] ones
//!   (`application/octet-stream`; a streamed one is written as it is read);
//! - errors are `{"error": "…", "kind": "invalid_input" | …}` with a
//!   fitting status.
//!
//! Requests and responses that are not JSON (an import's entries, a
//! bundle) implement [`Request`] and [`Response`] by hand.

use std::io::Write;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::{Info, Method};
use crate::error::{Error, Result};

pub const JSON: &str = "application/json";
pub const OCTETS: &str = "application/octet-stream";

/// A request as the server received it.
#[derive(Debug)]
pub struct Incoming<'a> {
    pub method: Method,
    /// Path parameters by name.
    pub params: Vec<(String, String)>,
    pub query: Option<&'a str>,
    pub body: &'a [u8],
}

/// A request as the client sends it.
#[derive(Debug, Default)]
pub struct Outgoing {
    /// Path under the API prefix, parameters filled in and encoded.
    pub path: String,
    pub query: Vec<(String, String)>,
    /// Content type and bytes.
    pub body: Option<(&'static str, Vec<u8>)>,
}

/// A request type's HTTP form.
pub trait Request: Sized {
    fn from_http(incoming: Incoming<'_>) -> Result<Self>;
    fn to_http(&self, info: &Info) -> Result<Outgoing>;
}

/// A response type's HTTP form.
pub trait Response: Sized {
    /// Content type and body.
    fn into_http(self) -> (&'static str, Payload);
    fn from_http(bytes: &[u8]) -> Result<Self>;
}

/// Writes a body as it is produced; an error stops it where it is.
pub type Producer = Box<dyn FnOnce(&mut dyn Write) -> Result<()> + Send>;

/// A response's body: bytes at hand, or bytes written as they are read
/// (a bundle), so that memory does not grow with the answer.
pub enum Payload {
    Bytes(Vec<u8>),
    Stream(Producer),
}

impl Payload {
    /// Writes the whole body to `out`.
    pub fn write_to(self, out: &mut dyn Write) -> Result<()> {
        match self {
            Payload::Bytes(bytes) => out.write_all(&bytes).map_err(write_error),
            Payload::Stream(produce) => produce(out),
        }
    }

    /// The whole body in memory.
    pub fn into_bytes(self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.write_to(&mut out)?;
        Ok(out)
    }
}

impl std::fmt::Debug for Payload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Payload::Bytes(b) => write!(f, "Payload::Bytes({} bytes)", b.len()),
            Payload::Stream(_) => f.write_str("Payload::Stream"),
        }
    }
}

fn write_error(e: std::io::Error) -> Error {
    Error::Io(format!("writing the answer: {e}"))
}

/// Raw bytes (an `.automerge` file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binary(pub Vec<u8>);

impl Response for Binary {
    fn into_http(self) -> (&'static str, Payload) {
        (OCTETS, Payload::Bytes(self.0))
    }

    fn from_http(bytes: &[u8]) -> Result<Self> {
        Ok(Binary(bytes.to_vec()))
    }
}

/// Raw bytes written as they are read (a bundle): over HTTP they stream
/// to the client; in direct mode [`Streamed::write_to`] writes them where
/// the caller says. Memory stays flat whatever the size of the answer.
#[derive(Debug)]
pub struct Streamed(pub Payload);

impl Streamed {
    pub fn write_to(self, out: &mut dyn Write) -> Result<()> {
        self.0.write_to(out)
    }

    pub fn into_bytes(self) -> Result<Vec<u8>> {
        self.0.into_bytes()
    }
}

impl Response for Streamed {
    fn into_http(self) -> (&'static str, Payload) {
        (OCTETS, self.0)
    }

    fn from_http(bytes: &[u8]) -> Result<Self> {
        Ok(Streamed(Payload::Bytes(bytes.to_vec())))
    }
}

impl<T: Serialize + DeserializeOwned> Response for T {
    fn into_http(self) -> (&'static str, Payload) {
        (
            JSON,
            Payload::Bytes(serde_json::to_vec(&self).expect("responses serialize to JSON")),
        )
    }

    fn from_http(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes)
            .map_err(|e| Error::Network(format!("unexpected answer from the node: {e}")))
    }
}

fn bad_request(e: impl std::fmt::Display) -> Error {
    Error::InvalidInput(format!("bad request: {e}"))
}

impl<T: Serialize + DeserializeOwned> Request for T {
    fn from_http(incoming: Incoming<'_>) -> Result<Self> {
        match incoming.method {
            Method::Get | Method::Delete => {
                let mut pairs: Vec<(String, String)> = match incoming.query {
                    Some(q) => serde_urlencoded::from_str(q).map_err(bad_request)?,
                    None => Vec::new(),
                };
                pairs.retain(|(k, _)| !incoming.params.iter().any(|(p, _)| p == k));
                pairs.extend(incoming.params);
                let encoded = serde_urlencoded::to_string(&pairs).map_err(bad_request)?;
                serde_urlencoded::from_str(&encoded).map_err(bad_request)
            }
            Method::Post | Method::Put => {
                let text = std::str::from_utf8(incoming.body).map_err(bad_request)?;
                let mut value: Value = if text.trim().is_empty() {
                    Value::Object(Map::new())
                } else {
                    serde_json::from_str(text).map_err(bad_request)?
                };
                if value.is_null() {
                    value = Value::Object(Map::new());
                }
                if !incoming.params.is_empty() {
                    let Value::Object(map) = &mut value else {
                        return Err(bad_request("the body must be a JSON object"));
                    };
                    for (k, v) in incoming.params {
                        map.insert(k, Value::String(v));
                    }
                }
                serde_json::from_value(value).map_err(bad_request)
            }
        }
    }

    fn to_http(&self, info: &Info) -> Result<Outgoing> {
        let mut value = serde_json::to_value(self).expect("requests serialize to JSON");
        let path = fill_path(info.path, &mut value)?;
        match info.method {
            Method::Get | Method::Delete => {
                let mut query = Vec::new();
                if let Value::Object(map) = value {
                    for (k, v) in map {
                        match v {
                            Value::Null => {}
                            Value::String(s) => query.push((k, s)),
                            Value::Array(_) | Value::Object(_) => {
                                return Err(Error::InvalidInput(format!(
                                    "{k} cannot travel in a query string"
                                )));
                            }
                            other => query.push((k, other.to_string())),
                        }
                    }
                }
                Ok(Outgoing {
                    path,
                    query,
                    body: None,
                })
            }
            Method::Post | Method::Put => Ok(Outgoing {
                path,
                query: Vec::new(),
                body: Some((
                    JSON,
                    serde_json::to_vec(&value).expect("a JSON value serializes"),
                )),
            }),
        }
    }
}

/// Fills the `{field}` segments of `template` from (and removes them
/// from) the request's JSON object.
fn fill_path(template: &str, value: &mut Value) -> Result<String> {
    let mut out = String::new();
    for segment in template.split('/').skip(1) {
        out.push('/');
        match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            None => out.push_str(segment),
            Some(field) => {
                let v = value
                    .as_object_mut()
                    .and_then(|m| m.remove(field))
                    .unwrap_or(Value::Null);
                let text = match v {
                    Value::String(s) => s,
                    Value::Null => {
                        return Err(Error::InvalidInput(format!("{field} is required")));
                    }
                    other => other.to_string(),
                };
                out.push_str(&encode_segment(&text));
            }
        }
    }
    Ok(out)
}

/// Percent-encodes a path segment (page titles contain spaces and more).
pub fn encode_segment(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::ops::{self, Operation};

    fn round_trip<O: Operation + std::fmt::Debug + PartialEq>(op: O) {
        let out = op.to_http(&O::INFO).unwrap();
        // What the router extracts: parameters from the path by template.
        let mut params = Vec::new();
        for (t, p) in O::INFO.path.split('/').zip(out.path.split('/')) {
            if let Some(name) = t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                let decoded = percent_decode(p);
                params.push((name.to_string(), decoded));
            }
        }
        let query = serde_urlencoded::to_string(&out.query).unwrap();
        let body = out.body.map(|b| b.1).unwrap_or_default();
        let back = <O as Request>::from_http(Incoming {
            method: O::INFO.method,
            params,
            query: Some(&query),
            body: &body,
        })
        .unwrap();
        assert_eq!(back, op);
    }

    fn percent_decode(s: &str) -> String {
        let bytes = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn requests_round_trip_through_paths_queries_and_bodies() {
        round_trip(ops::Feed {
            limit: Some(5),
            tag: Some("rust".into()),
            ..Default::default()
        });
        round_trip(ops::WikiRename {
            page: "Runbook / deploy?".into(),
            update_links: false,
            title: "Deploying".into(),
        });
        round_trip(ops::WikiList { archived: true });
        round_trip(ops::TrustRemove {
            author: crate::refs::AuthorRef::Me,
        });
        round_trip(ops::WikiImport(vec![crate::model::ImportItem {
            id: None,
            title: "A".into(),
            body: "b".into(),
            source: None,
        }]));
    }

    #[test]
    fn malformed_requests_are_invalid_input() {
        let err = <ops::Feed as Request>::from_http(Incoming {
            method: Method::Get,
            params: vec![],
            query: Some("limit=many"),
            body: b"",
        })
        .unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::InvalidInput);
        let err = <ops::Post as Request>::from_http(Incoming {
            method: Method::Post,
            params: vec![],
            query: None,
            body: b"{\"text\": 5}",
        })
        .unwrap_err();
        assert!(err.to_string().starts_with("bad request"), "{err}");
    }
}
