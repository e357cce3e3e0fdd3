//! Signing in and out: the session cookie (derived from `web-session.key`,
//! so it outlives browser and node restarts; a new key signs every browser
//! out), the CSRF check on every POST, and reading a form without ever
//! answering a browser that is still sending with a reset connection.

use super::*;

impl Web {
    fn session(&self) -> String {
        self.session
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Signs every browser out: a new session key, kept for restarts.
    fn new_session(&self) -> Result<(), Error> {
        let _ = std::fs::remove_file(&self.session_file);
        let key = crate::api::load_or_create_token(&self.session_file)?;
        *self
            .session
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = session_of(&key);
        Ok(())
    }
}

pub(super) fn session_of(key: &str) -> String {
    let key = *blake3::hash(key.as_bytes()).as_bytes();
    blake3::keyed_hash(&key, b"kith-web-session")
        .to_hex()
        .to_string()
}

/// How long a browser stays signed in without visiting (renewed on sign-in).
pub(super) const SESSION_MAX_AGE: Duration = Duration::from_secs(30 * 24 * 3600);

/// Signs this browser out (the cookie is dropped).
pub(super) async fn sign_out(State(s): State<WebState>) -> Response {
    signed_out(&s, "Signed out of this browser.")
}

/// Signs every browser out: the session key is replaced, so every cookie
/// given before stops working, here and after restarts.
pub(super) async fn sign_out_everywhere(State(s): State<WebState>) -> WebResult {
    s.web.new_session()?;
    Ok(signed_out(&s, "Signed out of every browser."))
}

fn signed_out(s: &WebState, said: &str) -> Response {
    let page = s
        .web
        .env
        .get_template("login.html")
        .and_then(|t| t.render(context! { notice => said }));
    let mut response = Html(page.unwrap_or_default()).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("kith_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

/// Requires the session cookie, and the CSRF token on every POST.
pub(super) async fn require_session(
    State(s): State<WebState>,
    request: Request,
    next: Next,
) -> Response {
    let signed_in = cookie_value(request.headers(), COOKIE)
        .is_some_and(|v| constant_time_eq(v.as_bytes(), s.web.session().as_bytes()));
    if !signed_in {
        return sign_in_page(&s, None);
    }
    if request.method() != axum::http::Method::POST {
        return next.run(request).await;
    }
    // A browser always names the origin of a cross-site POST.
    if let Some(origin) = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
    {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("");
        if origin != format!("http://{host}") {
            return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
        }
    }
    let header_token = request
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // A script's request names the token in its header (a form from
    // another site cannot set headers): its body is not read here, so an
    // upload streams on to its handler whatever its size.
    if let Some(token) = &header_token {
        if !constant_time_eq(token.as_bytes(), s.web.csrf.as_bytes()) {
            return (
                StatusCode::FORBIDDEN,
                "missing or wrong CSRF token; reload the page",
            )
                .into_response();
        }
        return next.run(request).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match read_form(body).await {
        Ok(bytes) => bytes,
        Err(refused) => return refused,
    };
    let form_token = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
        .ok()
        .and_then(|pairs| pairs.into_iter().find(|(k, _)| k == "csrf").map(|(_, v)| v));
    let presented = header_token.or(form_token).unwrap_or_default();
    if !constant_time_eq(presented.as_bytes(), s.web.csrf.as_bytes()) {
        return (
            StatusCode::FORBIDDEN,
            "missing or wrong CSRF token; reload the page",
        )
            .into_response();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// The sign-in page (401): how to sign in, and what was wrong with the
/// link used, if one was.
fn sign_in_page(s: &WebState, problem: Option<&str>) -> Response {
    let page = s
        .web
        .env
        .get_template("login.html")
        .and_then(|t| t.render(context! { problem }));
    (StatusCode::UNAUTHORIZED, Html(page.unwrap_or_default())).into_response()
}

/// How much of a form that is too large is read (and dropped) so that the
/// browser, still sending it, gets to show the answer instead of a reset
/// connection.
const DRAIN_FORM_BYTES: usize = 64 * 1024 * 1024;

/// A form's bytes; a form larger than [`MAX_FORM_BYTES`] (read on to
/// [`DRAIN_FORM_BYTES`], then dropped) or cut off gets its refusal.
async fn read_form(body: Body) -> Result<axum::body::Bytes, Response> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut form = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) = stream.next().await {
        // A body cut off is never handled as a shorter form.
        let Ok(chunk) = chunk else {
            return Err(WebError(
                StatusCode::BAD_REQUEST,
                "the form did not arrive whole; send it again".into(),
            )
            .into_response());
        };
        total += chunk.len();
        if total <= MAX_FORM_BYTES {
            form.extend_from_slice(&chunk);
        } else if total > DRAIN_FORM_BYTES {
            break;
        }
    }
    if total > MAX_FORM_BYTES {
        return Err(WebError(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "what you sent is more than this node takes in one form ({}). Go back (your browser keeps what you typed) and shorten it, or put the long part in a wiki page and link to it",
                crate::text::kib(MAX_FORM_BYTES)
            ),
        )
        .into_response());
    }
    Ok(form.into())
}

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    token: Option<String>,
}

/// The URL `kith up` prints: trades the token for a session cookie.
pub(super) async fn login(State(s): State<WebState>, Query(q): Query<LoginQuery>) -> Response {
    let Some(token) = q.token.filter(|t| !t.is_empty()) else {
        return sign_in_page(
            &s,
            Some("This sign-in link is incomplete: it carries no access token."),
        );
    };
    if !constant_time_eq(token.as_bytes(), s.web.token.as_bytes()) {
        return sign_in_page(
            &s,
            Some(
                "This sign-in link is not this node's: it is from another node, or its token changed.",
            ),
        );
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={}",
        s.web.session(),
        SESSION_MAX_AGE.as_secs()
    );
    let mut response = Redirect::to("/").into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_str(&cookie).expect("cookie is ASCII"),
    );
    response
}
