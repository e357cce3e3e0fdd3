//! Private circles: list, create, add and remove members.

use super::*;

pub(super) async fn circles(State(s): State<WebState>, headers: HeaderMap) -> WebResult {
    let mut list = Vec::new();
    for c in s.handle.call(ops::CircleList {}).await? {
        // With who changed what.
        let shown = s
            .handle
            .call(ops::CircleShow {
                circle: c.id.to_string(),
            })
            .await?;
        let changes: Vec<serde_json::Value> = shown
            .changes
            .iter()
            .map(|ch| {
                serde_json::json!({
                    "who": ch.by_name.clone().unwrap_or_else(|| format!("…{}", ch.by.short())),
                    "what": ch.change,
                    "ago": render::ago(ch.timestamp),
                    "why_not": ch.why_not,
                })
            })
            .collect();
        let members: Vec<serde_json::Value> = shown
            .members
            .iter()
            .map(|m| {
                serde_json::json!({
                    "person": m.person.to_string(),
                    "name": m.name.clone().unwrap_or_else(|| format!("…{}", m.person.short())),
                    "without_key": m.devices_without_key,
                })
            })
            .collect();
        list.push(serde_json::json!({
            "id": c.id.to_string(),
            "name": c.name,
            "member": c.member,
            "members": members,
            "epochs": c.epochs,
            "unreadable": c.unreadable,
            "warnings": c.warnings,
            "changes": changes,
        }));
    }
    let people: Vec<serde_json::Value> = s
        .handle
        .call(ops::TrustList {})
        .await?
        .iter()
        .map(|t| {
            serde_json::json!({
                "author": t.author.to_string(),
                "name": t.petname.clone().or(t.profile_name.clone()).unwrap_or_else(|| format!("…{}", t.author.short())),
            })
        })
        .collect();
    let me_person = s.handle.call(ops::Devices::default()).await?.root;
    let ctx = context! {
        me_person => me_person.to_string(),
        circles => Value::from_serialize(list),
        people => Value::from_serialize(people),
    };
    page(&s, &headers, "circles.html", "circles", ctx).await
}

#[derive(Deserialize)]
pub(super) struct CreateForm {
    name: String,
    /// Names of people you trust (or author ids), separated by commas.
    #[serde(default)]
    members: String,
}

pub(super) async fn circle_create(
    State(s): State<WebState>,
    Form(f): Form<CreateForm>,
) -> WebResult {
    let members = f
        .members
        .split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(String::from)
        .collect();
    s.handle
        .call(ops::CircleCreate {
            name: f.name,
            members,
        })
        .await?;
    back("/circles")
}

#[derive(Deserialize)]
pub(super) struct MemberForm {
    member: String,
    #[serde(default)]
    history: Option<String>,
}

pub(super) async fn circle_add(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> WebResult {
    s.handle
        .call(ops::CircleAdd {
            circle: id,
            member: f.member,
            history: f.history.is_some(),
        })
        .await?;
    back("/circles")
}

pub(super) async fn circle_remove(
    State(s): State<WebState>,
    Path(id): Path<String>,
    Form(f): Form<MemberForm>,
) -> WebResult {
    s.handle
        .call(ops::CircleRemove {
            circle: id,
            member: f.member,
        })
        .await?;
    back("/circles")
}
