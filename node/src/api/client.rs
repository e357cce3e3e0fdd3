//! A blocking client of a running node's API (used by the CLI): one
//! method, [`Client::call`], for every operation.

use std::time::Duration;

use super::{ErrorBody, PREFIX, read_endpoint};
use crate::config::DataDir;
use crate::error::{Error, ErrorKind, Result};
use crate::ops::http::Response as _;
use crate::ops::{self, Method, Operation};

/// Largest answer read (a bundle of a whole circle's logs).
const MAX_ANSWER_BYTES: u64 = 4 << 30;

pub struct Client {
    base: String,
    token: String,
    agent: ureq::Agent,
}

impl Client {
    /// Finds the node running on `data_dir`, if any. A leftover `api.json`
    /// of a node that is gone (nothing listening) counts as none.
    pub fn discover(data_dir: &DataDir) -> Result<Option<Client>> {
        let Some(endpoint) = read_endpoint(&data_dir.api_endpoint()) else {
            return Ok(None);
        };
        let token = match std::fs::read_to_string(data_dir.api_token()) {
            Ok(t) => t.trim().to_string(),
            Err(e) => {
                return Err(Error::Io(format!(
                    "a node is running on this data dir but its API token is unreadable: {e}"
                )));
            }
        };
        let client = Client::new(&format!("http://{}", endpoint.addr), &token);
        match client.call(ops::Whoami {}) {
            Ok(_) => Ok(Some(client)),
            Err(Error::Network(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn new(base: &str, token: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(3600)))
            .timeout_connect(Some(Duration::from_secs(2)))
            .http_status_as_error(false)
            .build()
            .into();
        Client {
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            agent,
        }
    }

    /// Runs an operation on the node.
    pub fn call<O: Operation>(&self, op: O) -> Result<O::Output> {
        let mut response = self.send(op)?;
        let bytes = response
            .body_mut()
            .with_config()
            .limit(MAX_ANSWER_BYTES)
            .read_to_vec()
            .map_err(|e| Error::Network(format!("bad API response: {e}")))?;
        O::Output::from_http(&bytes)
    }

    /// Runs an operation on the node and writes its answer's body to `out`
    /// as it arrives (a bundle: memory stays flat whatever its size).
    /// Returns the bytes written. An answer cut short is an error.
    pub fn call_into<O: Operation>(&self, op: O, out: &mut dyn std::io::Write) -> Result<u64> {
        let mut response = self.send(op)?;
        let mut body = response.body_mut().as_reader();
        std::io::copy(&mut body, out)
            .map_err(|e| Error::Network(format!("the node's answer stopped before its end: {e}")))
    }

    /// Sends `op`; an answer that is not a success becomes its error.
    fn send<O: Operation>(&self, op: O) -> Result<ureq::http::Response<ureq::Body>> {
        let out = op.to_http(&O::INFO)?;
        let url = format!("{}{PREFIX}{}", self.base, out.path);
        let auth = format!("Bearer {}", self.token);
        let query = out.query.iter().map(|(k, v)| (k.as_str(), v.as_str()));
        let result = match (O::INFO.method, out.body) {
            (Method::Get, _) => self
                .agent
                .get(&url)
                .header("Authorization", &auth)
                .query_pairs(query)
                .call(),
            (Method::Delete, _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .query_pairs(query)
                .call(),
            (method, body) => {
                let (content_type, bytes) = body.unwrap_or(("application/json", b"{}".to_vec()));
                let request = if method == Method::Put {
                    self.agent.put(&url)
                } else {
                    self.agent.post(&url)
                };
                request
                    .header("Authorization", &auth)
                    .header("Content-Type", content_type)
                    .send(&bytes[..])
            }
        };
        let mut response =
            result.map_err(|e| Error::Network(format!("cannot reach the node's API: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 20)
            .read_to_vec()
            .map_err(|e| Error::Network(format!("bad API response: {e}")))?;
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => Error::Remote {
                kind: body.kind,
                message: body.error,
            },
            Err(_) => Error::Remote {
                kind: ErrorKind::Internal,
                message: format!("the node answered {status}"),
            },
        })
    }
}
