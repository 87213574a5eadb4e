//! The Agora web marketplace: server-rendered HTML pages for people, beside the JSON API
//! of `agora-web`.
//!
//! Every page is an [askama] template checked at compile time and escaped on output (product
//! text is written by strangers and treated as hostile). Every action is a plain HTML form
//! answered with POST-redirect-GET, so the whole market works without JavaScript; the few
//! scripts only add comfort (copy buttons, the live view). Stylesheet and scripts are
//! compiled into the binary ([`assets`]), so the server works offline, and the map
//! ([`pages::map`]) draws its markers as inline SVG without any tile server.
//!
//! Central pieces:
//! - [`UiState`] / [`UiSettings`]: the [`agora_store::Store`] and what the pages need to
//!   know about the deployment (MQTT host and ports for the copy-paste lines, cookies);
//! - [`session`]: who is asking. A login creates a personal API token named
//!   `web session` in the store and keeps it in an `HttpOnly`, `SameSite=Lax` cookie, so
//!   sessions survive restarts, appear in the dashboard beside API tokens and end when
//!   revoked. Each form carries a CSRF token derived from the session secret
//!   (synchronizer token, compared in constant time); anonymous visitors get a random
//!   cookie so that sign-up and login forms are protected too;
//! - [`error`]: one [`error::UiError`] rendered as an HTML page with the right status;
//! - [`pages`]: one module per page or group of pages, each exporting its `router()`.
//!
//! Authorisation is the store's: every write passes the calling
//! [`agora_market::Actor`], and another account's things look like "not found".
//!
//! # Wiring
//!
//! The binary merges [`router`] into its HTTP app and serves it with connect info (login
//! throttling per address needs the peer address):
//!
//! ```no_run
//! # async fn wire(store: agora_store::Store, listener: tokio::net::TcpListener) -> std::io::Result<()> {
//! use std::net::SocketAddr;
//! let settings = agora_ui::UiSettings { mqtt_host: "localhost".into(), ..Default::default() };
//! let app = axum::Router::new()
//!     .merge(agora_ui::router(agora_ui::UiState::new(store, settings)));
//! axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>()).await
//! # }
//! ```
//!
//! The router owns `/`, `/map`, `/products/…`, `/signup`, `/login`, `/logout`,
//! `/dashboard…`, `/settings` and `/assets/…`; it defines no fallback, so it merges with
//! the API's router (`/api/…`, `/healthz`) without overlap.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware;

pub mod assets;
pub mod error;
pub mod format;
pub mod limits;
pub mod pages;
pub mod session;

pub use limits::LoginLimits;

/// The largest form accepted (a product with its JSON schema and licence fits).
pub const BODY_LIMIT: usize = 128 * 1024;

/// What the pages need to know about the deployment; the binary fills it from its
/// configuration.
#[derive(Debug, Clone)]
pub struct UiSettings {
    /// The host name buyers and devices use for MQTT (shown in copy-paste lines).
    pub mqtt_host: String,
    /// The plain MQTT port, if that listener is on.
    pub mqtt_port: Option<u16>,
    /// The MQTT over TLS port, if that listener is on.
    pub mqtts_port: Option<u16>,
    /// Mark cookies `Secure` (set when the site is served over HTTPS, e.g. behind a TLS
    /// proxy; browsers drop `Secure` cookies over plain HTTP, so it is off by default).
    pub secure_cookies: bool,
    /// A map tile URL template such as `https://tile.example/{z}/{x}/{y}.png`; `None`
    /// (the default) draws the map on a plain background, which works offline.
    pub tile_url: Option<String>,
    /// Whether anyone may sign up (`market.open_signup`).
    pub open_signup: bool,
    /// Take the client address from the last `X-Forwarded-For` entry (only behind a
    /// trusted reverse proxy: otherwise clients choose their address and dodge throttling).
    pub trust_proxy_headers: bool,
    /// Login and sign-up throttling.
    pub login_limits: LoginLimits,
}

impl Default for UiSettings {
    fn default() -> Self {
        Self {
            mqtt_host: "localhost".into(),
            mqtt_port: Some(1883),
            mqtts_port: Some(8883),
            secure_cookies: false,
            tile_url: None,
            open_signup: true,
            trust_proxy_headers: false,
            login_limits: LoginLimits::default(),
        }
    }
}

/// What every handler can reach: the store, the settings and the login limiter.
/// Cheap to clone.
#[derive(Clone)]
pub struct UiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: agora_store::Store,
    settings: UiSettings,
    limiter: limits::LoginLimiter,
}

impl std::fmt::Debug for UiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UiState")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl UiState {
    /// State over `store` with `settings`.
    pub fn new(store: agora_store::Store, settings: UiSettings) -> Self {
        let limiter = limits::LoginLimiter::new(settings.login_limits);
        Self {
            inner: Arc::new(Inner {
                store,
                settings,
                limiter,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &agora_store::Store {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &UiSettings {
        &self.inner.settings
    }

    pub(crate) fn limiter(&self) -> &limits::LoginLimiter {
        &self.inner.limiter
    }
}

/// Every page of the marketplace (see the crate docs for the paths). Serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()`.
pub fn router(state: UiState) -> Router {
    let csp = content_security_policy(state.settings().tile_url.as_deref());
    Router::new()
        .merge(pages::catalogue::router())
        .merge(pages::map::router())
        .merge(pages::product::router())
        .merge(pages::account::router())
        .merge(pages::dashboard::router())
        .merge(assets::router())
        .layer(middleware::from_fn_with_state(
            state.clone(),
            session::visitor_layer,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(
            move |req: axum::extract::Request, next: middleware::Next| {
                let csp = csp.clone();
                async move {
                    let mut res = next.run(req).await;
                    let h = res.headers_mut();
                    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(csp);
                    h.insert(
                        header::X_CONTENT_TYPE_OPTIONS,
                        HeaderValue::from_static("nosniff"),
                    );
                    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
                    h.insert(
                        header::REFERRER_POLICY,
                        HeaderValue::from_static("same-origin"),
                    );
                    // Pages carry per-account data and secrets shown once: no cache may
                    // keep them (assets set their own caching).
                    h.entry(header::CACHE_CONTROL)
                        .or_insert(HeaderValue::from_static("no-store"));
                    h.insert(
                        HeaderName::from_static("cross-origin-opener-policy"),
                        HeaderValue::from_static("same-origin"),
                    );
                    res
                }
            },
        ))
        .with_state(state)
}

/// Scripts and styles only from our own origin (no inline script can run, which blunts
/// any escaping mistake); images also from the tile server when one is configured; the
/// live view may open a WebSocket to our own `/mqtt`.
fn content_security_policy(tile_url: Option<&str>) -> HeaderValue {
    let tiles = tile_url.and_then(origin_of).unwrap_or_default();
    let policy = format!(
        "default-src 'self'; img-src 'self' data: {tiles}; style-src 'self'; script-src 'self'; \
         connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; \
         object-src 'none'"
    );
    HeaderValue::from_str(&policy).unwrap_or_else(|_| {
        // A tile URL with characters a header cannot carry: fall back to no tiles.
        HeaderValue::from_static("default-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
    })
}

/// `https://tile.example` of `https://tile.example/{z}/{x}/{y}.png`.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if scheme != "https" && scheme != "http" {
        return None;
    }
    let host = rest.split('/').next()?;
    if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == ';' || c == '\'') {
        return None;
    }
    Some(format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tile_origin_is_taken_from_the_template() {
        assert_eq!(
            origin_of("https://tile.example/{z}/{x}/{y}.png").as_deref(),
            Some("https://tile.example")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("https://a;b/x"), None);
    }
}
