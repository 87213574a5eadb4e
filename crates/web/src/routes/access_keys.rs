//! `GET·POST /access-keys` · `DELETE /access-keys/{id}`: buyers' MQTT access keys.
//!
//! A buyer connects to the broker with their account name as MQTT username and an access
//! key as password. Keys are shown once, stored hashed, revocable one by one (revoking
//! closes the sessions that used it), optionally limited to some products and an expiry.
//! Sellers use the same keys to read their own products.

use agora_market::{AccessKey, AccessKeyId, Label, ProductTopic};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, invalid, page, page_request};

/// The access-key routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_keys, create_key))
        .routes(routes!(revoke_key))
}

/// An access key as listed: never with its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c55-0000-7000-8000-000000000006", "name": "raspberry", "username": "bob", "products": [], "product_ids": [], "expires_at": null, "created_at": "2026-12-03T06:36:00Z", "revoked_at": null}))]
pub struct AccessKeyView {
    /// Its id (for `DELETE /access-keys/{id}`).
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// The MQTT username to use with it: the account name.
    pub username: String,
    /// The topics of the products it opens; empty means every product the account may
    /// read.
    pub products: Vec<String>,
    /// The ids of the same products, in the same order.
    pub product_ids: Vec<Uuid>,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl AccessKeyView {
    fn new(k: AccessKey, username: &str) -> Self {
        Self {
            id: k.id.0,
            name: k.name.to_string(),
            username: username.to_owned(),
            products: k.topics.iter().map(ToString::to_string).collect(),
            product_ids: k.products.iter().map(|p| p.0).collect(),
            expires_at: k.expires_at,
            created_at: k.created_at,
            revoked_at: k.revoked_at,
        }
    }
}

/// A new access key, with its secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccessKey {
    /// The key as it will be listed.
    #[serde(flatten)]
    pub info: AccessKeyView,
    /// The MQTT password. Not shown again: store it now.
    pub key: String,
}

/// A request for a new access key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAccessKey {
    /// A label ("raspberry", "dashboard"), 1–64 characters.
    pub name: String,
    /// Limit the key to these product topics (`owner/hub/name`); omit for all.
    #[serde(default)]
    pub products: Vec<String>,
    /// When the key stops working (RFC 3339); never when omitted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// List the caller's access keys (newest first), without their secrets.
#[utoipa::path(
    get, path = "/access-keys", tag = "access-keys",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page of keys", body = Page<AccessKeyView>,
            example = json!({"items": [{"id": "01935c55-0000-7000-8000-000000000006", "name": "raspberry", "username": "bob", "products": [], "product_ids": [], "expires_at": null, "created_at": "2026-12-03T06:36:00Z", "revoked_at": null}], "next_cursor": null})),
        (status = 401, description = "No or bad token", body = ErrorBody),
    )
)]
async fn list_keys(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<AccessKeyView>>> {
    let keys = state
        .store()
        .list_access_keys(&caller.actor, &page_request(params)?)
        .await
        .api()?;
    let me = caller.account.name.to_string();
    Ok(axum::Json(page(keys, |k| AccessKeyView::new(k, &me))))
}

/// Create an access key; the key is in this answer only.
#[utoipa::path(
    post, path = "/access-keys", tag = "access-keys",
    security(("bearer" = [])),
    request_body(content = NewAccessKey, example = json!({"name": "raspberry", "products": ["alice/home/temp"]})),
    responses(
        (status = 201, description = "Created; `key` is shown only here", body = CreatedAccessKey,
            example = json!({"id": "01935c55-0000-7000-8000-000000000006", "name": "raspberry", "username": "bob", "products": ["alice/home/temp"], "product_ids": ["01935c53-0000-7000-8000-000000000003"], "expires_at": null, "created_at": "2026-12-03T06:36:00Z", "revoked_at": null, "key": "agk_Hq8s2Lm4Xc0Vb7Nt1Rz9Kp3Wd6Fg5Ya2Je8Ui4Oo0Pl"})),
        (status = 422, description = "Bad name, product or expiry", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "must not contain '+' (an MQTT wildcard); allowed are A-Z a-z 0-9 _ -", "field": "products[0]"}})),
    )
)]
async fn create_key(
    State(state): State<ApiState>,
    caller: Caller,
    Json(body): Json<NewAccessKey>,
) -> ApiResult<(StatusCode, axum::Json<CreatedAccessKey>)> {
    let label = Label::parse("name", &body.name).map_err(invalid)?;
    let products = body
        .products
        .iter()
        .enumerate()
        .map(|(i, t)| {
            ProductTopic::parse(t)
                .map_err(|e| ApiError::validation(format!("products[{i}]"), e.message))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let (key, secret) = state
        .store()
        .create_access_key(&caller.actor, &label, &products, body.expires_at)
        .await
        .api()?;
    let me = caller.account.name.to_string();
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedAccessKey {
            info: AccessKeyView::new(key, &me),
            key: secret.into_string(),
        }),
    ))
}

/// Revoke an access key; sessions that used it are closed.
#[utoipa::path(
    delete, path = "/access-keys/{id}", tag = "access-keys",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The key's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such key of the caller", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such access key", "field": null}})),
    )
)]
async fn revoke_key(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .store()
        .revoke_access_key(&caller.actor, AccessKeyId(id))
        .await
        .api()?;
    Ok(StatusCode::NO_CONTENT)
}
