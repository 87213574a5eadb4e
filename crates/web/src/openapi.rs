//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations (each
//! with an example request and response), served at `/api/v1/openapi.json`, and a
//! browsable page at `/api/docs`.
//!
//! The page is one embedded HTML file with a few lines of vanilla JavaScript that fetch the
//! JSON and list every operation with its parameters and examples: no CDN, no bundle, so it
//! works on an offline machine (Swagger UI would need to be vendored, megabytes for a list).

use std::sync::Arc;

use axum::Router;
use axum::http::header;
use axum::response::{Html, IntoResponse};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::server::Server;

use crate::ApiState;

/// The name of the bearer-token security scheme in the document.
pub const BEARER: &str = "bearer";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Agora REST API",
        description = "Manage accounts, hubs, devices, products, purchases, access keys, notifications and ratings of an Agora IoT data marketplace. Errors are always `{\"error\": {\"code\", \"message\", \"field\"}}`; lists take `?limit=&cursor=` and return `{\"items\", \"next_cursor\"}`. Authenticate with `Authorization: Bearer agt_…` (create a token with `POST /tokens`).",
        version = "1"
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorCode)),
    tags(
        (name = "accounts", description = "Sign-up and the caller's account"),
        (name = "tokens", description = "Personal API tokens"),
        (name = "hubs", description = "A seller's hubs"),
        (name = "devices", description = "Devices of a hub and their MQTT credentials"),
        (name = "products", description = "Data products: create, edit, search"),
        (name = "purchases", description = "Buying, approvals, sales"),
        (name = "access-keys", description = "Buyers' MQTT access keys"),
        (name = "notifications", description = "In-app notifications"),
        (name = "ratings", description = "Verified-buyer ratings"),
    )
)]
struct ApiDoc;

/// The document's frame (info, tags, shared schemas) before the routes add their paths.
pub(crate) fn base() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// Adds what the routes cannot: the server prefix and the security scheme.
pub(crate) fn finish(mut doc: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    doc.servers = Some(vec![Server::new("/api/v1")]);
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("agt_…")
                .description(Some("A personal API token from POST /tokens"))
                .build(),
        ),
    );
    doc
}

/// `GET /openapi.json` (under `/api/v1`), serialised once.
pub(crate) fn json_router(doc: &utoipa::openapi::OpenApi) -> Router<ApiState> {
    let body: Arc<str> = match serde_json::to_string_pretty(doc) {
        Ok(s) => s.into(),
        // Serialising a value tree we built cannot fail; answer an empty document rather
        // than panic if it ever did.
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise the OpenAPI document");
            "{}".into()
        }
    };
    Router::new().route(
        "/openapi.json",
        get(move || {
            let body = body.clone();
            async move {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    body.to_string(),
                )
            }
        }),
    )
}

/// `GET /api/docs`.
pub(crate) fn docs_router() -> Router<ApiState> {
    Router::new().route("/api/docs", get(docs_page))
}

async fn docs_page() -> impl IntoResponse {
    (
        [(
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'",
        )],
        Html(DOCS_HTML),
    )
}

const DOCS_HTML: &str = include_str!("docs.html");
