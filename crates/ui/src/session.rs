//! Who is asking: sessions, cookies, CSRF tokens and the form extractor that checks them.
//!
//! **Sessions** are store tokens of the web-session kind (`Store::create_web_session`,
//! named [`SESSION_TOKEN_NAME`]), created at login and kept in the `agora_session` cookie
//! (`HttpOnly`, `SameSite=Lax`, `Secure` with [`crate::UiSettings::secure_cookies`]). The
//! store only keeps their hash, checks expiry and suspension on every request, and they
//! survive a restart; logging out revokes the token, and the dashboard lists them apart
//! from personal API tokens (the REST API's token list leaves them out), so a person can
//! end a session left open elsewhere.
//!
//! **CSRF**: each form carries a token derived from the session secret,
//! `base64url(SHA-256("agora-ui csrf" ‖ secret))` — bound to the session, unguessable
//! without the `HttpOnly` cookie, and needing no server-side state. Visitors without a
//! session get a random `agora_anon` cookie from which their token is derived the same way,
//! so sign-up and login are protected as well. [`Form`] refuses a POST whose token is
//! missing or wrong (compared in constant time) or that a browser marks
//! `Sec-Fetch-Site: cross-site`, with the 403 page.
//!
//! **Flash messages** ("Hub created") ride a short-lived cookie across the redirect of a
//! POST-redirect-GET and are cleared when shown. Secrets never do: a secret is rendered
//! only in the answer to the POST that created it.

use agora_market::{Account, Actor, ApiTokenId};
use agora_store::StoreError;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::UiState;
use crate::error::UiError;

/// The session cookie (holds the session's API token).
pub const SESSION_COOKIE: &str = "agora_session";
/// The anonymous visitor's cookie (only for CSRF tokens before login).
pub const ANON_COOKIE: &str = "agora_anon";
/// The flash message cookie.
pub const FLASH_COOKIE: &str = "agora_flash";
/// The name the store gives the API token behind a browser session.
pub const SESSION_TOKEN_NAME: &str = "web session";
/// How long a login lasts.
pub const SESSION_DAYS: i64 = 14;

/// The visitor of the current request, put in the request's extensions by
/// [`visitor_layer`].
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The logged-in account, if any.
    pub account: Option<Account>,
    /// The session's token, to mark "this browser" and to revoke at logout.
    pub session_id: Option<ApiTokenId>,
    /// The CSRF token every form of this visitor must carry.
    pub csrf: String,
    /// A message from the previous POST, shown once.
    pub flash: Option<String>,
}

impl Visitor {
    /// The logged-in actor, if any.
    pub fn actor(&self) -> Option<Actor> {
        self.account.as_ref().map(Account::actor)
    }
}

/// A logged-in visitor; extracting it on an anonymous request redirects to the login page.
#[derive(Debug, Clone)]
pub struct User {
    /// The account.
    pub account: Account,
    /// The actor for store calls.
    pub actor: Actor,
    /// The visitor (CSRF token, flash, session id).
    pub visitor: Visitor,
}

impl<S: Send + Sync> FromRequestParts<S> for Visitor {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, UiError> {
        parts.extensions.get::<Visitor>().cloned().ok_or_else(|| {
            tracing::error!("the visitor layer did not run");
            UiError::Internal
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for User {
    type Rejection = UiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, UiError> {
        let visitor = Visitor::from_request_parts(parts, state).await?;
        match visitor.account.clone() {
            Some(account) => Ok(Self {
                actor: account.actor(),
                account,
                visitor,
            }),
            None => {
                // Come back to the page after login; for a POST, to the page it came from
                // is unknown, so to the dashboard.
                let next = if parts.method == Method::GET {
                    parts
                        .uri
                        .path_and_query()
                        .map_or("/dashboard", |p| p.as_str())
                        .to_owned()
                } else {
                    "/dashboard".to_owned()
                };
                Err(UiError::LoginRequired { next })
            }
        }
    }
}

/// A form body whose CSRF token has been checked, deserialised into `T` (which need not
/// name the `csrf` field: unknown fields are ignored).
#[derive(Debug)]
pub struct Form<T>(pub T);

impl<T: DeserializeOwned> FromRequest<UiState> for Form<T> {
    type Rejection = UiError;

    async fn from_request(req: Request, state: &UiState) -> Result<Self, UiError> {
        let visitor = req.extensions().get::<Visitor>().cloned().ok_or_else(|| {
            tracing::error!("the visitor layer did not run");
            UiError::Internal
        })?;
        if req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|v| v.as_bytes() == b"cross-site")
        {
            return Err(UiError::Csrf);
        }
        let body = Bytes::from_request(req, state)
            .await
            .map_err(|e| UiError::BadRequest(format!("the form could not be read: {e}")))?;
        let sent = form_urlencoded::parse(&body)
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.into_owned());
        let ok = sent.is_some_and(|t| bool::from(t.as_bytes().ct_eq(visitor.csrf.as_bytes())));
        if !ok {
            return Err(UiError::Csrf);
        }
        serde_urlencoded::from_bytes(&body)
            .map(Form)
            .map_err(|e| UiError::BadRequest(format!("the form is not valid: {e}")))
    }
}

/// Finds out who is asking (session cookie, or the anonymous cookie, made if missing),
/// puts a [`Visitor`] into the request and sets the cookies that changed.
pub async fn visitor_layer(State(state): State<UiState>, mut req: Request, next: Next) -> Response {
    let cookies = Cookies::parse(req.headers());
    let secure = state.settings().secure_cookies;
    let mut set: Vec<String> = Vec::new();
    let mut visitor = None;
    if let Some(token) = cookies.get(SESSION_COOKIE) {
        match state.store().authenticate_api_token_with_id(token).await {
            Ok((account, id)) => {
                visitor = Some(Visitor {
                    account: Some(account),
                    session_id: Some(id),
                    csrf: csrf_token(token),
                    flash: None,
                });
            }
            Err(StoreError::Unauthenticated | StoreError::Suspended) => {
                // Expired, revoked, or the account was suspended: forget the cookie.
                set.push(removal(SESSION_COOKIE, secure));
            }
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return UiError::Internal.into_response();
            }
        }
    }
    let mut visitor = match visitor {
        Some(v) => v,
        None => {
            let anon = match cookies.get(ANON_COOKIE) {
                Some(v) if is_secret_shaped(v) => v.to_owned(),
                _ => {
                    let v = random_secret();
                    set.push(cookie(ANON_COOKIE, &v, None, secure));
                    v
                }
            };
            Visitor {
                account: None,
                session_id: None,
                csrf: csrf_token(&anon),
                flash: None,
            }
        }
    };
    let is_page = !req.uri().path().starts_with("/assets/");
    let mut clear_flash = false;
    if is_page && let Some(f) = cookies.get(FLASH_COOKIE) {
        let text: String = form_urlencoded::parse(format!("m={f}").as_bytes())
            .map(|(_, v)| v.into_owned())
            .next()
            .unwrap_or_default();
        visitor.flash = Some(text.chars().take(200).collect()).filter(|s: &String| !s.is_empty());
        clear_flash = true;
    }
    let signed_in = visitor.account.is_some();
    req.extensions_mut().insert(visitor.clone());
    let mut res = next.run(req).await;
    if signed_in
        && let Some(page) = res
            .extensions()
            .get::<std::sync::Arc<crate::error::ErrorPage>>()
            .cloned()
    {
        // Error pages are rendered without knowing the visitor; show them their own bar.
        let nav = crate::pages::Nav::of(&visitor, &state, "").await;
        if let Some(html) = page.with_nav(nav) {
            let status = res.status();
            let headers = std::mem::take(res.headers_mut());
            res = (status, axum::response::Html(html)).into_response();
            for (k, v) in &headers {
                if k != header::CONTENT_LENGTH && k != header::CONTENT_TYPE {
                    res.headers_mut().append(k, v.clone());
                }
            }
        }
    }
    // A handler that sets a new flash (or logs in/out) wins over our removal.
    let handler_sets = |name: &str, res: &Response| {
        res.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(format!("{name}=").as_bytes()))
    };
    if clear_flash && !handler_sets(FLASH_COOKIE, &res) {
        set.push(removal(FLASH_COOKIE, secure));
    }
    for c in set {
        let name = c.split('=').next().unwrap_or_default().to_owned();
        if handler_sets(&name, &res) {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(&c) {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// The CSRF token of a session or anonymous secret.
pub fn csrf_token(secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(b"agora-ui csrf\0");
    h.update(secret.as_bytes());
    URL_SAFE_NO_PAD.encode(h.finalize())
}

/// 256 random bits, base64url.
fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Only our own shape is taken back from a cookie, so a planted odd value cannot end up
/// in a header or a hash input of surprising size.
fn is_secret_shaped(v: &str) -> bool {
    v.len() == 43
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A `Set-Cookie` value. `max_age` in seconds; `None` lasts for the browser session.
pub fn cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        c.push_str(&format!("; Max-Age={age}"));
    }
    if secure {
        c.push_str("; Secure");
    }
    c
}

/// A `Set-Cookie` value that removes the cookie.
pub fn removal(name: &str, secure: bool) -> String {
    cookie(name, "", Some(0), secure)
}

/// A flash message cookie.
pub fn flash_cookie(message: &str, secure: bool) -> String {
    let value: String = form_urlencoded::byte_serialize(message.as_bytes()).collect();
    cookie(FLASH_COOKIE, &value, Some(60), secure)
}

/// The request's cookies.
struct Cookies(Vec<(String, String)>);

impl Cookies {
    fn parse(headers: &HeaderMap) -> Self {
        let mut all = Vec::new();
        for v in headers.get_all(header::COOKIE) {
            let Ok(s) = v.to_str() else { continue };
            for pair in s.split(';') {
                if let Some((k, v)) = pair.trim().split_once('=') {
                    all.push((k.trim().to_owned(), v.trim().to_owned()));
                }
            }
        }
        Self(all)
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csrf_tokens_differ_per_secret_and_are_stable() {
        assert_eq!(csrf_token("a"), csrf_token("a"));
        assert_ne!(csrf_token("a"), csrf_token("b"));
        assert!(is_secret_shaped(&random_secret()));
    }

    #[test]
    fn odd_anonymous_cookies_are_not_taken_back() {
        assert!(!is_secret_shaped("short"));
        assert!(!is_secret_shaped(&"a;".repeat(22)[..43]));
    }

    #[test]
    fn cookies_are_http_only_and_lax_and_secure_on_request() {
        let c = cookie("x", "v", Some(5), true);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(!cookie("x", "v", None, false).contains("Secure"));
    }
}
