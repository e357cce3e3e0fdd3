//! The questions page, asking (with the questions like it, while typing
//! and before posting).

use super::posts::chosen;
use super::*;

#[derive(Deserialize, Default)]
pub(super) struct QuestionsQuery {
    #[serde(default)]
    unanswered: Option<String>,
    tag: Option<String>,
}

pub(super) async fn questions(
    State(s): State<WebState>,
    headers: HeaderMap,
    Query(q): Query<QuestionsQuery>,
) -> WebResult {
    let list = s
        .handle
        .call(ops::Questions {
            unanswered: q.unanswered.is_some(),
            tag: q.tag.filter(|t| !t.is_empty()),
            limit: Some(100),
        })
        .await?;
    let questions: Vec<Value> = list
        .iter()
        .map(|q| {
            Value::from_serialize(serde_json::json!({
                "id": q.entry.id.to_hex(),
                "title": q.entry.text.as_deref().unwrap_or("").lines().next().unwrap_or(""),
                "author": q.entry.author.to_string(),
                "author_name": q.entry.author_name,
                "ago": render::ago(q.entry.timestamp),
                "answers": q.answers,
                "accepted": q.accepted,
            }))
        })
        .collect();
    page(
        &s,
        &headers,
        "questions.html",
        "questions",
        context! { questions, my_circles => my_circles(&s, &headers).await? },
    )
    .await
}

#[derive(Deserialize)]
pub(super) struct AskForm {
    /// The whole question (the "Ask anyway" form sends it so).
    #[serde(default)]
    text: String,
    /// The question in one line, and what it needs beside it.
    #[serde(default)]
    title: String,
    #[serde(default)]
    details: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    circle: String,
}

pub(super) async fn ask(
    State(s): State<WebState>,
    headers: HeaderMap,
    Form(f): Form<AskForm>,
) -> WebResult {
    // A question is its title line, then its details: the title is what
    // lists and the thread's heading show (`question_parts`).
    let text = match (f.title.trim(), f.details.trim()) {
        ("", _) => f.text.clone(),
        (title, "") => title.to_string(),
        (title, details) => format!("{title}\n\n{details}"),
    };
    let outcome = s
        .handle
        .call(ops::Ask {
            circle: chosen(&f.circle),
            text: text.clone(),
            tags: tags_of(&f.tags),
            yes: f.confirm.is_some(),
        })
        .await?;
    match outcome.posted {
        Some(posted) => back(&format!("/thread/{}", posted.id)),
        None => {
            let similar = similar_items(&s, &outcome.similar).await?;
            page(
                &s,
                &headers,
                "ask.html",
                "questions",
                context! { similar, text, tags => f.tags, circle => f.circle },
            )
            .await
        }
    }
}

/// Search hits of questions and answers as links to their threads, named
/// by the question's title.
async fn similar_items(
    s: &WebState,
    hits: &[crate::search::SearchHit],
) -> Result<Vec<Value>, WebError> {
    let mut out = Vec::new();
    for h in hits {
        // The thread of an answer is its question's.
        let Ok(t) = s.handle.call(ops::Thread { id: h.id.parse()? }).await else {
            continue;
        };
        let title = t
            .entry
            .text
            .as_deref()
            .map_or_else(String::new, crate::model::ParentExcerpt::excerpt_of);
        let href = if t.entry.id.to_hex() == h.id {
            format!("/thread/{}", h.id)
        } else {
            format!("/thread/{}#e-{}", t.entry.id, h.id)
        };
        out.push(Value::from_serialize(serde_json::json!({
            "href": href,
            "title": title,
            "kind": h.kind,
            // A question that is all title needs no snippet beside it.
            "snippet": if h.snippet.text.trim() == title {
                String::new()
            } else {
                snippet_html(&h.snippet)
            },
        })));
    }
    Ok(out)
}

#[derive(Deserialize)]
pub(super) struct SimilarQuery {
    #[serde(default)]
    text: String,
}

/// Questions like the one being typed (a fragment the ask form's script
/// shows under the title).
pub(super) async fn similar(State(s): State<WebState>, Query(q): Query<SimilarQuery>) -> WebResult {
    let hits = s.handle.call(ops::Similar { text: q.text }).await?;
    let similar = similar_items(&s, &hits).await?;
    let html = s
        .web
        .env
        .get_template("similar.html")?
        .render(context! { similar })?;
    Ok(axum::response::Html(html).into_response())
}
