//! A blocking client of a running node's API (used by the CLI).

use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ErrorBody, PREFIX, read_endpoint};
use crate::config::DataDir;
use crate::error::{Error, ErrorKind, Result};
use crate::model::{
    DialParams, EntryView, FeedParams, IdView, InviteView, JoinParams, NewPost, PeerView,
    StatusView, TrustParams, TrustView,
};
use crate::model::{
    HistoryView, ImportItem, ImportReport, NewPage, PageEdit, PageRename, PageSummary, PageView,
};
use crate::store::{ReindexReport, VerifyReport};

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
        match client.get::<IdView>("/id", &[]) {
            Ok(_) => Ok(Some(client)),
            Err(Error::Network(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn new(base: &str, token: &str) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(120)))
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

    fn url(&self, path: &str) -> String {
        format!("{}{PREFIX}{path}", self.base)
    }

    /// The response if it succeeded, else the node's error.
    fn checked(
        &self,
        result: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<ureq::http::Response<ureq::Body>> {
        let mut response =
            result.map_err(|e| Error::Network(format!("cannot reach the node's API: {e}")))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        match response.body_mut().read_json::<ErrorBody>() {
            Ok(body) => Err(Error::Remote {
                kind: body.kind,
                message: body.error,
            }),
            Err(_) => Err(Error::Remote {
                kind: ErrorKind::Internal,
                message: format!("the node answered {status}"),
            }),
        }
    }

    fn finish<T: DeserializeOwned>(
        &self,
        result: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    ) -> Result<T> {
        self.checked(result)?
            .body_mut()
            .read_json()
            .map_err(|e| Error::Network(format!("bad API response: {e}")))
    }

    /// A binary answer of at most `limit` bytes.
    fn finish_bytes(
        &self,
        result: std::result::Result<ureq::http::Response<ureq::Body>, ureq::Error>,
        limit: u64,
    ) -> Result<Vec<u8>> {
        self.checked(result)?
            .body_mut()
            .with_config()
            .limit(limit)
            .read_to_vec()
            .map_err(|e| Error::Network(format!("bad API response: {e}")))
    }

    fn get<T: DeserializeOwned>(&self, path: &str, query: &[(String, String)]) -> Result<T> {
        let request = self
            .agent
            .get(self.url(path))
            .header("Authorization", format!("Bearer {}", self.token))
            .query_pairs(query.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        self.finish(request.call())
    }

    fn post<T: DeserializeOwned, B: Serialize>(&self, path: &str, body: &B) -> Result<T> {
        let request = self
            .agent
            .post(self.url(path))
            .header("Authorization", format!("Bearer {}", self.token));
        self.finish(request.send_json(body))
    }

    fn delete<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        let request = self
            .agent
            .delete(self.url(path))
            .header("Authorization", format!("Bearer {}", self.token));
        self.finish(request.call())
    }

    pub fn whoami(&self) -> Result<IdView> {
        self.get("/id", &[])
    }

    pub fn post_entry(&self, post: &NewPost) -> Result<EntryView> {
        self.post("/posts", post)
    }

    pub fn feed(&self, params: &FeedParams) -> Result<Vec<EntryView>> {
        self.get("/feed", &query_of(params))
    }

    pub fn trust_add(&self, params: &TrustParams) -> Result<TrustView> {
        self.post("/trust", params)
    }

    pub fn trust_remove(&self, author: &str) -> Result<bool> {
        self.delete(&format!("/trust/{author}"))
    }

    pub fn trust_list(&self) -> Result<Vec<TrustView>> {
        self.get("/trust", &[])
    }

    pub fn verify(&self) -> Result<VerifyReport> {
        self.get("/verify", &[])
    }

    pub fn reindex(&self) -> Result<ReindexReport> {
        self.post("/reindex", &())
    }

    pub fn invite(&self) -> Result<InviteView> {
        self.get("/invite", &[])
    }

    pub fn join(&self, params: &JoinParams) -> Result<TrustView> {
        self.post("/join", params)
    }

    pub fn dial(&self, addr: &str) -> Result<()> {
        self.post(
            "/dial",
            &DialParams {
                addr: addr.to_string(),
            },
        )
    }

    pub fn peers(&self) -> Result<Vec<PeerView>> {
        self.get("/peers", &[])
    }

    pub fn status(&self) -> Result<StatusView> {
        self.get("/status", &[])
    }

    pub fn forks(&self) -> Result<Vec<crate::model::ForkView>> {
        self.get("/forks", &[])
    }

    pub fn forks_clear(&self, author: &str) -> Result<usize> {
        self.delete(&format!("/forks/{}", encode_segment(author)))
    }

    pub fn frontier_file(&self) -> Result<crate::bundle::FrontierFile> {
        self.get("/frontier", &[])
    }

    pub fn bundle(&self, params: &crate::model::BundleParams) -> Result<Vec<u8>> {
        let request = self
            .agent
            .post(self.url("/bundle"))
            .header("Authorization", format!("Bearer {}", self.token));
        self.finish_bytes(request.send_json(params), 4 << 30)
    }

    pub fn import_entries(
        &self,
        entries: &[kith_protocol::Entry],
    ) -> Result<crate::model::ImportEntriesReport> {
        let mut body = Vec::new();
        for e in entries {
            e.encode_into(&mut body);
        }
        let request = self
            .agent
            .post(self.url("/entries"))
            .header("Authorization", format!("Bearer {}", self.token))
            .header("Content-Type", "application/octet-stream");
        self.finish(request.send(&body[..]))
    }

    pub fn search(
        &self,
        params: &crate::search::SearchParams,
    ) -> Result<Vec<crate::search::SearchHit>> {
        self.get("/search", &query_of(params))
    }

    pub fn ask(&self, params: &crate::model::AskParams) -> Result<crate::model::AskOutcome> {
        self.post("/ask", params)
    }

    pub fn questions(
        &self,
        params: &crate::model::QuestionParams,
    ) -> Result<Vec<crate::model::QuestionView>> {
        self.get("/questions", &query_of(params))
    }

    pub fn thread(&self, id: &str) -> Result<crate::model::ThreadView> {
        self.get(&format!("/entries/{}/thread", encode_segment(id)), &[])
    }

    pub fn answer(&self, id: &str, reply: &crate::model::ReplyParams) -> Result<EntryView> {
        self.post(&format!("/entries/{}/answers", encode_segment(id)), reply)
    }

    pub fn reply(&self, id: &str, reply: &crate::model::ReplyParams) -> Result<EntryView> {
        self.post(&format!("/entries/{}/replies", encode_segment(id)), reply)
    }

    pub fn endorse(&self, id: &str, params: &crate::model::EndorseParams) -> Result<EntryView> {
        self.post(&format!("/entries/{}/endorse", encode_segment(id)), params)
    }

    pub fn accept(&self, id: &str, withdraw: bool) -> Result<EntryView> {
        self.post(
            &format!("/entries/{}/accept", encode_segment(id)),
            &super::server::AcceptParams { withdraw },
        )
    }

    pub fn delete_entry(&self, id: &str) -> Result<EntryView> {
        self.delete(&format!("/entries/{}", encode_segment(id)))
    }

    pub fn profile(&self, author: &str) -> Result<crate::model::ProfileView> {
        self.get(&format!("/profile/{}", encode_segment(author)), &[])
    }

    pub fn profile_set(&self, params: &crate::model::ProfileParams) -> Result<EntryView> {
        self.post("/profile", params)
    }

    pub fn wiki_new(&self, page: &NewPage) -> Result<PageView> {
        self.post("/wiki", page)
    }

    pub fn wiki_edit(&self, name: &str, edit: &PageEdit) -> Result<PageView> {
        let request = self
            .agent
            .put(self.url(&format!("/wiki/{}", encode_segment(name))))
            .header("Authorization", format!("Bearer {}", self.token));
        self.finish(request.send_json(edit))
    }

    pub fn wiki_show(&self, name: &str) -> Result<PageView> {
        self.get(&format!("/wiki/{}", encode_segment(name)), &[])
    }

    pub fn wiki_list(&self, include_archived: bool) -> Result<Vec<PageSummary>> {
        self.get(
            "/wiki",
            &[("archived".to_string(), include_archived.to_string())],
        )
    }

    pub fn wiki_history(&self, name: &str) -> Result<Vec<HistoryView>> {
        self.get(&format!("/wiki/{}/history", encode_segment(name)), &[])
    }

    pub fn wiki_rename(&self, name: &str, rename: &PageRename) -> Result<PageView> {
        self.post(&format!("/wiki/{}/rename", encode_segment(name)), rename)
    }

    pub fn wiki_archive(&self, name: &str, archived: bool) -> Result<PageView> {
        if archived {
            self.delete(&format!("/wiki/{}", encode_segment(name)))
        } else {
            self.post(&format!("/wiki/{}/restore", encode_segment(name)), &())
        }
    }

    pub fn wiki_export(&self) -> Result<Vec<PageView>> {
        self.get("/wiki/export", &[])
    }

    pub fn wiki_import(&self, items: &[ImportItem]) -> Result<ImportReport> {
        self.post("/wiki/import", &items)
    }

    /// The page as a binary `.automerge` document.
    pub fn wiki_automerge(&self, name: &str) -> Result<Vec<u8>> {
        let request = self
            .agent
            .get(self.url(&format!("/wiki/{}/automerge", encode_segment(name))))
            .header("Authorization", format!("Bearer {}", self.token));
        self.finish_bytes(request.call(), 64 << 20)
    }
}

/// Percent-encodes a path segment (page titles contain spaces and more).
fn encode_segment(segment: &str) -> String {
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

/// The non-null fields of a flat struct as query pairs.
fn query_of<T: Serialize>(params: &T) -> Vec<(String, String)> {
    let value = serde_json::to_value(params).expect("params serialize");
    let mut out = Vec::new();
    if let serde_json::Value::Object(map) = value {
        for (k, v) in map {
            match v {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => out.push((k, s)),
                other => out.push((k, other.to_string())),
            }
        }
    }
    out
}
