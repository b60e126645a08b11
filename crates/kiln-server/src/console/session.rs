//! Signing in to the console with an access key id and secret, the session cookie, and the
//! CSRF token every form carries.
//!
//! Sessions live in the store (only the cookie's SHA-256), so sign-ins survive restarts. The
//! cookie is `HttpOnly; SameSite=Strict`, and `Secure` when the public URL is https. Forms are
//! checked against the session's CSRF token before anything else is read from them; the
//! sign-in form, which has no session yet, against a token in a cookie of its own.

use std::sync::Arc;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use kiln_store::ConsoleSession;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::view::{self, Chrome};
use crate::api::Caller;
use crate::state::AppState;

pub const SESSION_COOKIE: &str = "kiln_session";
/// Holds the sign-in form's CSRF token until a session exists.
const SIGN_IN_COOKIE: &str = "kiln_sign_in";
/// How long a sign-in lasts.
const SESSION_SECONDS: f64 = 12.0 * 3600.0;
/// Longest token value looked at.
const MAX_TOKEN_LEN: usize = 64;
/// Compared against when the access key id is unknown, so both cases take the same time.
const NO_SECRET: &str = "kiln-console-no-such-access-key-0000000000";

/// A signed-in user: the caller every operation runs as, and the session's CSRF token.
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
    token_hash: String,
}

impl Session {
    pub fn chrome(&self) -> Chrome {
        Chrome::of(Some(self))
    }

    /// Reads a form posted by this session: first its CSRF token (403 without the right one),
    /// then the fields (400 when they do not parse). The refusal is the page to answer with.
    pub fn form<T: DeserializeOwned>(&self, body: &[u8]) -> Result<T, Box<Response>> {
        let sent = csrf_field(body);
        if !tokens_match(sent.as_deref(), &self.csrf) {
            return Err(Box::new(csrf_refused(Some(self))));
        }
        serde_html_form::from_bytes(body).map_err(|err| {
            Box::new(view::error_page(
                Some(self),
                StatusCode::BAD_REQUEST,
                "Bad request",
                &format!("The form could not be read: {err}"),
            ))
        })
    }
}

fn csrf_field(body: &[u8]) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(key, _)| key == "csrf")
        .map(|(_, value)| value.into_owned())
}

fn tokens_match(sent: Option<&str>, expected: &str) -> bool {
    match sent {
        Some(sent) if !expected.is_empty() => {
            bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
        }
        _ => false,
    }
}

fn csrf_refused(session: Option<&Session>) -> Response {
    view::error_page(
        session,
        StatusCode::FORBIDDEN,
        "Form refused",
        "This form did not carry this console's security token, so it was not accepted. \
         Reload the page and try again.",
    )
}

fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session the request's cookie names, if it is valid and its access key still exists.
pub async fn current(state: &AppState, headers: &HeaderMap) -> Option<Session> {
    let jar = CookieJar::from_headers(headers);
    let token = jar.get(SESSION_COOKIE)?.value();
    if token.is_empty() || token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let token_hash = hash_token(token);
    let stored = match state
        .store
        .console_session(&token_hash, state.now_epoch())
        .await
    {
        Ok(found) => found?,
        Err(err) => {
            tracing::error!(error = %err, "cannot read console sessions");
            return None;
        }
    };
    // A key removed from the configuration ends its sessions.
    let key = state.keys.get(&stored.access_key_id)?;
    if key.account_id != stored.account_id {
        return None;
    }
    Some(Session {
        caller: Caller {
            account_id: stored.account_id,
            access_key_id: stored.access_key_id,
        },
        csrf: stored.csrf_token,
        token_hash,
    })
}

impl FromRequestParts<Arc<AppState>> for Session {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        if let Some(session) = current(state, &parts.headers).await {
            return Ok(session);
        }
        if parts.method == Method::GET || parts.method == Method::HEAD {
            let next = parts
                .uri
                .path_and_query()
                .map_or("/", |pq| pq.as_str())
                .to_string();
            let mut query = form_urlencoded::Serializer::new(String::new());
            query.append_pair("next", &next);
            return Err(view::redirect(&format!("/sign-in?{}", query.finish())));
        }
        Err(csrf_refused(None))
    }
}

fn is_secure(state: &AppState) -> bool {
    state.public_url.starts_with("https://")
}

fn cookie(
    state: &AppState,
    name: &'static str,
    value: String,
    path: &'static str,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(is_secure(state))
        .path(path)
        .build()
}

/// Where to go after signing in: a console path, never another site.
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() < 2048 =>
        {
            n.to_string()
        }
        _ => "/".to_string(),
    }
}

#[derive(Template)]
#[template(path = "sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    csrf: String,
    next: String,
    access_key_id: String,
    error: String,
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct NextQuery {
    next: Option<String>,
}

fn sign_in_form(
    state: &AppState,
    jar: CookieJar,
    status: StatusCode,
    page: SignInPage,
) -> Response {
    let jar = jar.add(cookie(state, SIGN_IN_COOKIE, page.csrf.clone(), "/sign-in"));
    (jar, view::render(status, &page)).into_response()
}

pub async fn sign_in_page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if current(&state, &headers).await.is_some() {
        return view::redirect(&next);
    }
    let jar = CookieJar::from_headers(&headers);
    let csrf = jar
        .get(SIGN_IN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| kiln_domain::token::is_well_formed(v))
        .unwrap_or_else(kiln_domain::token::new_token);
    let page = SignInPage {
        chrome: Chrome::of(None),
        csrf,
        next,
        access_key_id: String::new(),
        error: String::new(),
    };
    sign_in_form(&state, jar, StatusCode::OK, page)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct SignInForm {
    access_key_id: String,
    secret_access_key: String,
    next: String,
}

pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let jar = CookieJar::from_headers(&headers);
    let expected = jar
        .get(SIGN_IN_COOKIE)
        .map(|c| c.value().to_string())
        .unwrap_or_default();
    if !tokens_match(csrf_field(&body).as_deref(), &expected) {
        return csrf_refused(None);
    }
    let Ok(form) = serde_html_form::from_bytes::<SignInForm>(&body) else {
        return view::error_page(
            None,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form could not be read.",
        );
    };
    let key_id = form.access_key_id.trim();
    let credential = state.keys.get(key_id);
    let expected_secret = credential.map_or(NO_SECRET, |c| c.secret_access_key.expose_secret());
    let secret_ok = bool::from(
        form.secret_access_key
            .as_bytes()
            .ct_eq(expected_secret.as_bytes()),
    );
    let Some(credential) = credential.filter(|_| secret_ok) else {
        tracing::info!("console sign-in refused");
        let page = SignInPage {
            chrome: Chrome::of(None),
            csrf: expected,
            next: safe_next(Some(&form.next)),
            access_key_id: key_id.chars().take(128).collect(),
            error: "The access key ID or secret access key is not correct.".to_string(),
        };
        return sign_in_form(&state, jar, StatusCode::UNAUTHORIZED, page);
    };
    let token = kiln_domain::token::new_token();
    let now = state.now_epoch();
    let session = ConsoleSession {
        token_hash: hash_token(&token),
        account_id: credential.account_id.clone(),
        access_key_id: credential.access_key_id.clone(),
        csrf_token: kiln_domain::token::new_token(),
        created: now,
        expires: now + SESSION_SECONDS,
    };
    if let Err(err) = state.store.create_console_session(&session, now).await {
        tracing::error!(error = %err, "cannot save a console session");
        return view::error_page(
            None,
            if err.is_unavailable() {
                StatusCode::SERVICE_UNAVAILABLE
            } else {
                StatusCode::INTERNAL_SERVER_ERROR
            },
            "Sign-in failed",
            "Kiln could not record the sign-in. Try again.",
        );
    }
    tracing::info!(account = %session.account_id, "console sign-in");
    let mut session_cookie = cookie(&state, SESSION_COOKIE, token, "/");
    session_cookie.set_max_age(time::Duration::seconds(SESSION_SECONDS as i64));
    let jar = jar
        .remove(Cookie::build(SIGN_IN_COOKIE).path("/sign-in"))
        .add(session_cookie);
    (jar, view::redirect(&safe_next(Some(&form.next)))).into_response()
}

#[derive(Deserialize)]
pub struct EmptyForm {}

pub async fn sign_out(
    State(state): State<Arc<AppState>>,
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(refused) = session.form::<EmptyForm>(&body) {
        return *refused;
    }
    if let Err(err) = state
        .store
        .delete_console_session(&session.token_hash)
        .await
    {
        tracing::error!(error = %err, "cannot end a console session");
    }
    let jar = CookieJar::from_headers(&headers).remove(Cookie::build(SESSION_COOKIE).path("/"));
    (jar, view::redirect("/sign-in")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_the_console() {
        assert_eq!(safe_next(Some("/projects/a?x=1")), "/projects/a?x=1");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil")), "/");
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn csrf_tokens() {
        assert!(tokens_match(Some("abc"), "abc"));
        assert!(!tokens_match(Some("abd"), "abc"));
        assert!(!tokens_match(None, "abc"));
        assert!(!tokens_match(Some(""), ""));
        assert_eq!(csrf_field(b"a=1&csrf=x%2By&b=2").as_deref(), Some("x+y"));
        assert_eq!(csrf_field(b"a=1"), None);
    }
}
