//! `/assets/…`: the stylesheet and the small scripts, compiled into the binary with
//! `include_str!` so that the server needs no files beside it and no CDN (it must work
//! offline). There are few enough that a `match` is the whole "asset pipeline".

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::UiState;

/// The stylesheet.
pub const CSS: &str = include_str!("../assets/agora.css");
/// Progressive enhancement for every page (copy buttons, confirm helpers).
pub const JS: &str = include_str!("../assets/agora.js");

/// The product page's live view (a small MQTT-over-WebSocket client).
pub const LIVE_JS: &str = include_str!("../assets/live.js");

/// The asset route.
pub fn router() -> Router<UiState> {
    Router::new().route("/assets/{file}", get(serve))
}

async fn serve(Path(file): Path<String>) -> Response {
    let (body, mime) = match file.as_str() {
        "agora.css" => (CSS, "text/css; charset=utf-8"),
        "agora.js" => (JS, "text/javascript; charset=utf-8"),
        "live.js" => (LIVE_JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    // Names carry no hash, so caching is short; an hour saves the round trips of a visit.
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    res
}
