//! The Agora web layer: the REST API (`/api/v1`) on axum; later the server-rendered pages.
//!
//! The binary builds one [`ApiState`] (the [`agora_store::Store`] plus [`ApiSettings`]) and
//! merges [`api_router`] into its HTTP app. That router serves:
//!
//! - `/api/v1/…`: the resources of SPEC §6, one module per concern under [`routes`], each
//!   exporting its `router()`;
//! - `/api/v1/openapi.json`: the OpenAPI document, generated from the handlers' `utoipa`
//!   annotations, so it cannot drift from the code ([`openapi`]);
//! - `/api/docs`: a self-contained page that renders that document (no CDN, works offline);
//! - `/healthz`: liveness plus a database round trip.
//!
//! Cross-cutting pieces: [`error`] (one [`ApiError`] → `{"error":{code,message,field}}`),
//! [`extract`] (JSON/query/path extractors that fail in that format), [`auth`] (bearer API
//! tokens; password login for `POST /tokens`), [`pagination`] (`?limit=&cursor=`), and
//! [`rate_limit`] (login throttling per account and per address).
//!
//! Authorisation is not decided here: every store method takes the calling
//! [`agora_market::Actor`] and answers `NotFound` for what the actor may not see, so a
//! handler cannot forget a check and another account's hub, device or purchase is a 404,
//! never a leak.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub mod auth;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod pagination;
pub mod rate_limit;
pub mod routes;

pub use error::{ApiError, ApiResult, ErrorCode};
pub use rate_limit::LoginLimits;

/// The largest request body accepted by default (64 KiB): a product with its JSON schema
/// fits; nothing in this API needs more.
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;

/// Settings of the API; the binary fills them from its configuration.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// Whether anyone may create an account with `POST /accounts` (`market.open_signup`).
    pub open_signup: bool,
    /// Whether to take the client address from `X-Forwarded-For` (only behind a trusted
    /// reverse proxy; otherwise clients could pick their own address and dodge throttling).
    pub trust_proxy_headers: bool,
    /// The largest request body in bytes; larger ones get 413.
    pub body_limit: usize,
    /// Login throttling.
    pub login_limits: LoginLimits,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            open_signup: true,
            trust_proxy_headers: false,
            body_limit: DEFAULT_BODY_LIMIT,
            login_limits: LoginLimits::default(),
        }
    }
}

/// What every handler can reach: the store, the settings and the login limiter.
/// Cheap to clone.
#[derive(Clone)]
pub struct ApiState {
    inner: Arc<Inner>,
}

struct Inner {
    store: agora_store::Store,
    settings: ApiSettings,
    login_limiter: rate_limit::LoginLimiter,
}

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl ApiState {
    /// State over `store` with `settings`.
    pub fn new(store: agora_store::Store, settings: ApiSettings) -> Self {
        let login_limiter = rate_limit::LoginLimiter::new(settings.login_limits);
        Self {
            inner: Arc::new(Inner {
                store,
                settings,
                login_limiter,
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &agora_store::Store {
        &self.inner.store
    }

    /// The settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.inner.settings
    }

    pub(crate) fn login_limiter(&self) -> &rate_limit::LoginLimiter {
        &self.inner.login_limiter
    }
}

/// The whole HTTP surface of this crate: `/api/v1/…`, `/api/v1/openapi.json`, `/api/docs`
/// and `/healthz` (the binary must not route `/healthz` itself: axum refuses overlapping
/// routes when merging). Merge it into the binary's router; serve it with
/// `into_make_service_with_connect_info::<SocketAddr>()` so that login throttling per
/// address sees the peer address.
pub fn api_router(state: ApiState) -> Router {
    let body_limit = state.settings().body_limit;
    let (v1, doc) = routes::v1().split_for_parts();
    let doc = openapi::finish(doc);
    let v1 = v1
        .merge(openapi::json_router(&doc))
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        // Answers carry secrets shown once (tokens, keys, device secrets) and per-account
        // data: no shared or browser cache may keep them.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));
    Router::new()
        .nest("/api/v1", v1)
        .merge(openapi::docs_router())
        .merge(routes::health::router())
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        // A request span for every call, so a 5xx's logged error chain has its method,
        // path (never the query) and request id; the Authorization header is marked
        // sensitive so that no layer that prints headers can leak a token (SPEC §3: no
        // token is ever logged).
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
        ]))
        // Outermost: every request gets an `x-request-id` (a client's own is kept), and the
        // answer carries it back, so a user can quote it and an operator find the log line.
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
}

/// The OpenAPI document of the API, as served at `/api/v1/openapi.json` (for tools and for
/// writing it to a file).
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    openapi::finish(routes::v1().split_for_parts().1)
}

async fn unknown_route() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such API route; see /api/docs")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not take this method; see /api/docs",
    )
}

/// A panic in a handler is a bug: log it, answer the usual opaque 500.
fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    tracing::error!(panic = %detail, "handler panicked");
    let mut r =
        ApiError::new(ErrorCode::Internal, "internal error; it has been logged").into_response();
    *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    r
}
