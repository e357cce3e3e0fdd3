//! People (trust, invites, profile), status and search.

use super::*;

pub(super) async fn people(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let invite = s.handle.call(ops::Invite {}).await?;
    let connected: std::collections::HashSet<kith_protocol::AuthorId> = s
        .handle
        .call(ops::Peers {})
        .await?
        .into_iter()
        .filter(|p| p.connected)
        .map(|p| p.author)
        .collect();
    let mut people = Vec::new();
    for t in s.handle.call(ops::TrustList {}).await? {
        let profile = s
            .handle
            .call(ops::Profile {
                author: t.author.into(),
            })
            .await?;
        // Their own name, when it is not the one you gave them.
        let calls_themselves = t.profile_name.clone().filter(|n| {
            t.petname
                .as_ref()
                .is_some_and(|p| !p.eq_ignore_ascii_case(n))
        });
        people.push(serde_json::json!({
            "author": t.author.to_string(), "petname": t.petname,
            "profile_name": t.profile_name, "about": profile.about,
            "calls_themselves": calls_themselves,
            "connected": connected.contains(&t.author),
        }));
    }
    let mine = s
        .handle
        .call(ops::Profile {
            author: AuthorRef::Me,
        })
        .await?;
    let person = s.handle.call(ops::Devices::default()).await?;
    let mut vouched = Vec::new();
    for t in s.handle.call(ops::TrustList {}).await? {
        let theirs = s
            .handle
            .call(ops::Devices {
                of: Some(t.author.into()),
            })
            .await?;
        if !theirs.recovered_by.is_empty() || theirs.conflict.is_some() {
            vouched.push(theirs);
        }
    }
    let ctx = context! {
        person => Value::from_serialize(&person),
        recovered => Value::from_serialize(&vouched),
        invite => invite.code.clone(),
        qr => render::qr_svg(&invite.code),
        people => Value::from_serialize(people),
        my_name => mine.name,
        my_about => mine.about,
    };
    page(&s, &headers, "people.html", "people", ctx).await
}

#[derive(Deserialize)]
pub(super) struct JoinForm {
    code: String,
    #[serde(default)]
    petname: String,
}

pub(super) async fn people_join(State(s): State<WebState>, Form(f): Form<JoinForm>) -> WebResult {
    let petname = Some(f.petname.trim().to_string()).filter(|p| !p.is_empty());
    s.handle
        .call(ops::Join {
            code: f.code,
            petname,
        })
        .await?;
    back("/people")
}

pub(super) async fn people_remove(
    State(s): State<WebState>,
    Path(author): Path<String>,
) -> WebResult {
    s.handle
        .call(ops::TrustRemove {
            author: author.parse()?,
        })
        .await?;
    back("/people")
}

/// Makes a one-time device link code and shows it with its QR code.
pub(super) async fn device_link(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let code = s.handle.call(ops::DeviceLinkCode {}).await?;
    let ctx = context! {
        code => code.code.clone(),
        qr => render::qr_svg(&code.code),
        minutes => code.expires_in_secs / 60,
    };
    page(&s, &headers, "device_link.html", "people", ctx).await
}

#[derive(Deserialize)]
pub(super) struct JoinDeviceForm {
    code: String,
    #[serde(default)]
    name: String,
}

/// On a new machine: become a device of the person whose other device
/// showed the link code (what `kith device join` does).
pub(super) async fn device_join(
    State(s): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<JoinDeviceForm>,
) -> WebResult {
    let code = f.code.trim().to_string();
    let parsed = crate::device_link::LinkCode::decode(&code)?;
    let device = s.handle.device_key();
    if device.author() == parsed.identity {
        return Err(Error::InvalidInput(
            "this machine already is the device holding that identity".into(),
        )
        .into());
    }
    let name = match f.name.trim() {
        "" => "web".to_string(),
        name => name.to_string(),
    };
    let root = crate::device_link::join(&parsed, device, &name, std::time::Duration::from_secs(30))
        .await?;
    s.handle.call(ops::DeviceJoined { code }).await?;
    let ctx = context! { root => root.to_string() };
    page(&s, &headers, "device_joined.html", "people", ctx).await
}

pub(super) async fn device_revoke(
    State(s): State<WebState>,
    Path(device): Path<String>,
) -> WebResult {
    s.handle
        .call(ops::DeviceRevoke {
            device: device.parse()?,
            keep: None,
        })
        .await?;
    back("/people")
}

pub(super) async fn profile_set(
    State(s): State<WebState>,
    Form(f): Form<ops::ProfileSet>,
) -> WebResult {
    if f.name.trim().is_empty() {
        return Err(WebError(
            StatusCode::BAD_REQUEST,
            "the name is empty".into(),
        ));
    }
    s.handle.call(f).await?;
    back("/people")
}

pub(super) async fn status(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let st = s.handle.call(ops::Status {}).await?;
    let peers: Vec<Value> = s
        .handle
        .call(ops::Peers {})
        .await?
        .iter()
        .map(|p| {
            let (connected, how, via) = match (&p.connection, &p.remote_addr) {
                (Some(kind), Some(addr)) => (true, kind.as_str().to_string(), addr.clone()),
                _ => (false, String::new(), String::new()),
            };
            let seen = if connected {
                "now".to_string()
            } else {
                p.last_seen.map_or("never".to_string(), render::ago)
            };
            Value::from_serialize(serde_json::json!({
                "name": p.name.clone().unwrap_or_else(|| format!("…{}", p.author.short())),
                "avatar": render::identicon(&p.author.to_string()),
                "connected": connected,
                "how": how,
                "via": via,
                "seen": seen,
                // Connected, new entries arrive as they are written (gossip):
                // a time of the last pull would read as if it were stale.
                "sync": if connected {
                    "live".to_string()
                } else {
                    p.last_sync.map_or("never".to_string(), render::ago)
                },
                "pulled": p.last_sync.map(render::ago),
                "in_flight": p.in_flight,
                "why": p.relayed_why,
            }))
        })
        .collect();
    let authors: Vec<Value> = st
        .authors
        .iter()
        .map(|a| {
            let state = a.state(&st.me);
            Value::from_serialize(serde_json::json!({
                "name": a.name.clone().unwrap_or_else(|| format!("…{}", a.author.short())),
                "local_seq": a.local_seq,
                "seen": a.seen_seq.map_or("-".to_string(), |s| s.to_string()),
                "state": state,
                "avatar": render::identicon(&a.author.to_string()),
                "behind": a.seen_seq.is_some_and(|s| s > a.local_seq),
                "max": a.seen_seq.unwrap_or(a.local_seq).max(a.local_seq),
            }))
        })
        .collect();
    page(
        &s,
        &headers,
        "status.html",
        "status",
        context! {
            status => Value::from_serialize(&st),
            summary => st.summary_for_web(),
            reachability => st.reachability.describe(),
            nat_hint => st.nat_hint(),
            relays => st.relays.iter().map(|a| st.name_of(a)).collect::<Vec<_>>(),
            relaying_for => st.relaying_for.iter().map(|a| st.name_of(a)).collect::<Vec<_>>(),
            peers, authors,
        },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct SearchQuery {
    #[serde(default)]
    q: String,
    kind: Option<String>,
    tag: Option<String>,
}

pub(super) async fn search(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(p): Query<SearchQuery>,
) -> WebResult {
    let q = p.q.clone();
    let hits: Vec<Value> = if q.trim().is_empty() {
        Vec::new()
    } else {
        s.handle
            .call(ops::Search {
                q: p.q,
                kind: p.kind.as_deref().filter(|k| !k.is_empty()).map(str::parse).transpose()
                    .map_err(|e: String| WebError(StatusCode::BAD_REQUEST, e))?,
                tag: p.tag.filter(|t| !t.is_empty()),
                ..Default::default()
            })
            .await?
            .iter()
            .map(|h| {
                Value::from_serialize(serde_json::json!({
                    "kind": h.kind, "id": h.id, "title": h.title,
                    "who": h.author_name.clone().or_else(|| h.author.map(|a| format!("…{}", a.short()))).unwrap_or_default(),
                    "ago": render::ago(h.timestamp),
                    "snippet": snippet_html(&h.snippet),
                }))
            })
            .collect()
    };
    page(&s, &headers, "search.html", "", context! { hits, q }).await
}

/// `GET /people/names`: the names you may mention (`@name`), for the
/// compose boxes' completion: each trusted person's petname and profile
/// name, spaces left out (as mentions compare them).
pub(super) async fn names(State(s): State<WebState>) -> WebResult {
    let mut names: Vec<serde_json::Value> = Vec::new();
    for t in s.handle.call(ops::TrustList {}).await? {
        for name in [t.petname.as_ref(), t.profile_name.as_ref()]
            .into_iter()
            .flatten()
        {
            let mention: String = name.chars().filter(|c| !c.is_whitespace()).collect();
            if !names.iter().any(|n| n["mention"] == mention.as_str()) {
                names.push(serde_json::json!({ "mention": mention, "name": name }));
            }
        }
    }
    Ok(axum::Json(names).into_response())
}
