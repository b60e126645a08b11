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
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use kiln_store::{ConsoleSession, SignInAttempt};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::next::safe_next;
use super::sign_in_limit::{self, ClientAddress};
use super::view::{self, Chrome};
use crate::state::AppState;
use kiln_domain::caller::Caller;

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
    let now = state.now_epoch();
    // Another tab's token is kept (so its form still works) only when Kiln issued it.
    let csrf = jar
        .get(SIGN_IN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| state.console.form_key.reusable(v, now))
        .unwrap_or_else(|| state.console.form_key.issue(now));
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

/// True when the browser says the form was sent from another site (`Sec-Fetch-Site`); a
/// browser that does not say is judged by the token alone.
fn sent_from_elsewhere(headers: &HeaderMap) -> bool {
    headers
        .get("sec-fetch-site")
        .is_some_and(|site| site.as_bytes() != b"same-origin")
}

pub async fn sign_in(
    State(state): State<Arc<AppState>>,
    client: ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let jar = CookieJar::from_headers(&headers);
    let now = state.now_epoch();
    let expected = jar
        .get(SIGN_IN_COOKIE)
        .map(|c| c.value().to_string())
        .filter(|v| state.console.form_key.verify(v, now))
        .unwrap_or_default();
    if sent_from_elsewhere(&headers) || !tokens_match(csrf_field(&body).as_deref(), &expected) {
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
    let logged_key_id = sign_in_limit::key_id_for_log(key_id);
    let refusal = |error: String| SignInPage {
        chrome: Chrome::of(None),
        csrf: expected.clone(),
        next: safe_next(Some(&form.next)),
        access_key_id: logged_key_id.clone(),
        error,
    };
    // Counted before the secret is looked at, so a lockout holds even for the right secret.
    let subjects = sign_in_limit::subjects(client, key_id);
    let locked_until = match state
        .store
        .begin_sign_in_attempt(&subjects, now, &state.console.sign_in_backoff)
        .await
    {
        Ok(SignInAttempt::Counted { locked_until }) => locked_until,
        Ok(SignInAttempt::LockedOut { until }) => {
            tracing::warn!(%client, access_key_id = ?logged_key_id, "console sign-in refused: too many attempts");
            let reason = "Too many failed sign-in attempts.";
            return too_many_attempts(&state, jar, refusal(String::new()), until, reason);
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot count a console sign-in attempt");
            return view::error_page(
                None,
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in unavailable",
                "Kiln could not check the sign-in. Try again.",
            );
        }
    };
    let credential = state.keys.get(key_id);
    let expected_secret = credential.map_or(NO_SECRET, |c| c.secret_access_key.expose_secret());
    let secret_ok = bool::from(
        form.secret_access_key
            .as_bytes()
            .ct_eq(expected_secret.as_bytes()),
    );
    let Some(credential) = credential.filter(|_| secret_ok) else {
        tracing::info!(%client, access_key_id = ?logged_key_id, "console sign-in refused: wrong key or secret");
        let wrong = "The access key ID or secret access key is not correct.";
        if locked_until > now {
            let reason = format!("{wrong} After too many failed attempts, the next one waits.");
            return too_many_attempts(&state, jar, refusal(String::new()), locked_until, &reason);
        }
        return sign_in_form(&state, jar, StatusCode::UNAUTHORIZED, refusal(wrong.into()));
    };
    if let Err(err) = state.store.clear_sign_in_attempts(&subjects).await {
        tracing::error!(error = %err, "cannot clear console sign-in attempts");
    }
    let token = kiln_domain::token::new_token();
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

/// `429 Too Many Requests` with `Retry-After`: the sign-in form again, saying when to retry.
fn too_many_attempts(
    state: &AppState,
    jar: CookieJar,
    mut page: SignInPage,
    until: f64,
    reason: &str,
) -> Response {
    // Measured from now: the attempt may have waited for others to be counted.
    let now = state.now_epoch();
    let wait = sign_in_limit::retry_after_seconds(until, now);
    page.error = format!(
        "{reason} Try again in {} (after {}).",
        seconds_text(wait),
        view::format_time(now + wait as f64)
    );
    let mut response = sign_in_form(state, jar, StatusCode::TOO_MANY_REQUESTS, page);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(wait));
    response
}

fn seconds_text(seconds: u64) -> String {
    match seconds {
        1 => "1 second".to_string(),
        s if s < 120 => format!("{s} seconds"),
        s => format!("{} minutes", s.div_ceil(60)),
    }
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
    fn csrf_tokens() {
        assert!(tokens_match(Some("abc"), "abc"));
        assert!(!tokens_match(Some("abd"), "abc"));
        assert!(!tokens_match(None, "abc"));
        assert!(!tokens_match(Some(""), ""));
        assert_eq!(csrf_field(b"a=1&csrf=x%2By&b=2").as_deref(), Some("x+y"));
        assert_eq!(csrf_field(b"a=1"), None);
    }
}
