//! `GET·POST /hubs` · `GET·PATCH·DELETE /hubs/{owner}/{hub}`: a seller's hubs.
//!
//! `GET /hubs` lists the caller's own hubs (public and private); `GET /hubs?public=true`
//! (no token needed) is the directory of public hubs, optionally of one `owner`. A private
//! hub of another account is a 404, exactly like a hub that does not exist.

use agora_market::{AccountName, Hub, HubName};
use agora_store::HubPatch;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::{Caller, MaybeCaller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, hub_from_path, invalid, page, page_request};

/// The hub routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_hubs, create_hub))
        .routes(routes!(get_hub, update_hub, delete_hub))
}

/// A hub as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c51-0000-7000-8000-000000000001", "owner": "alice", "name": "home", "path": "alice/home", "public": true, "description": "Sensors around the house", "created_at": "2026-12-03T06:32:00Z"}))]
pub struct HubView {
    /// Its id.
    pub id: Uuid,
    /// The owner's account name.
    pub owner: String,
    /// The hub's name.
    pub name: String,
    /// `owner/name`, the first two levels of its products' topics.
    pub path: String,
    /// Listed to everyone (`true`) or only to its owner.
    pub public: bool,
    /// Free text.
    pub description: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Hub> for HubView {
    fn from(h: Hub) -> Self {
        Self {
            id: h.id.0,
            path: format!("{}/{}", h.owner, h.name),
            owner: h.owner.to_string(),
            name: h.name.to_string(),
            public: h.public,
            description: h.description,
            created_at: h.created_at,
        }
    }
}

/// A new hub.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewHub {
    /// 1–64 of `A-Z a-z 0-9 _ -`, unique among the owner's hubs (case-insensitively).
    pub name: String,
    /// Listed to everyone; default `false` (private: only its products are listed).
    #[serde(default)]
    pub public: bool,
    /// Free text, at most 2000 characters.
    #[serde(default)]
    pub description: String,
}

/// Changes to a hub; omitted fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct HubChanges {
    /// New visibility.
    #[serde(default)]
    pub public: Option<bool>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
}

/// Which hubs to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HubFilter {
    /// `true`: the directory of everyone's public hubs (no token needed).
    pub public: Option<bool>,
    /// With `public=true`: only this owner's public hubs.
    pub owner: Option<String>,
}

/// List the caller's hubs, or with `public=true` the public hubs of everyone.
#[utoipa::path(
    get, path = "/hubs", tag = "hubs",
    security((), ("bearer" = [])),
    params(HubFilter, PageParams),
    responses(
        (status = 200, description = "One page of hubs, newest first", body = Page<HubView>,
            example = json!({"items": [{"id": "01935c51-0000-7000-8000-000000000001", "owner": "alice", "name": "home", "path": "alice/home", "public": true, "description": "Sensors around the house", "created_at": "2026-12-03T06:32:00Z"}], "next_cursor": null})),
        (status = 401, description = "Own hubs need a token", body = ErrorBody),
    )
)]
async fn list_hubs(
    State(state): State<ApiState>,
    caller: MaybeCaller,
    Query(filter): Query<HubFilter>,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<HubView>>> {
    let req = page_request(params)?;
    let hubs = if filter.public == Some(true) {
        let owner = filter
            .owner
            .as_deref()
            .map(AccountName::parse)
            .transpose()
            .map_err(|e| invalid(e.with_field("owner")))?;
        state.store().list_public_hubs(owner.as_ref(), &req).await
    } else {
        let Some(caller) = caller.0 else {
            return Err(ApiError::unauthorized(
                "listing your hubs needs Authorization: Bearer <API token>; use ?public=true for the public directory",
            ));
        };
        state.store().list_hubs(&caller.actor, &req).await
    }
    .api()?;
    Ok(axum::Json(page(hubs, HubView::from)))
}

/// Create a hub owned by the caller.
#[utoipa::path(
    post, path = "/hubs", tag = "hubs",
    security(("bearer" = [])),
    request_body(content = NewHub, example = json!({"name": "home", "public": true, "description": "Sensors around the house"})),
    responses(
        (status = 201, description = "Created", body = HubView),
        (status = 409, description = "The caller already has a hub of this name", body = ErrorBody,
            example = json!({"error": {"code": "conflict", "message": "you already have a hub of this name", "field": "name"}})),
        (status = 422, description = "Bad name or description", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "must not contain '+' (an MQTT wildcard); allowed are A-Z a-z 0-9 _ -", "field": "name"}})),
    )
)]
async fn create_hub(
    State(state): State<ApiState>,
    caller: Caller,
    Json(body): Json<NewHub>,
) -> ApiResult<(StatusCode, axum::Json<HubView>)> {
    let name = HubName::parse(&body.name).map_err(|e| invalid(e.with_field("name")))?;
    let hub = state
        .store()
        .create_hub(&caller.actor, &name, body.public, &body.description)
        .await
        .api()?;
    Ok((StatusCode::CREATED, axum::Json(hub.into())))
}

/// A hub: public ones for anyone, private ones for their owner only.
#[utoipa::path(
    get, path = "/hubs/{owner}/{hub}", tag = "hubs",
    security((), ("bearer" = [])),
    params(("owner" = String, Path, description = "Owner's account name"), ("hub" = String, Path, description = "Hub name")),
    responses(
        (status = 200, description = "The hub", body = HubView),
        (status = 404, description = "No such hub, or a private hub of someone else", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such hub", "field": null}})),
    )
)]
async fn get_hub(
    State(state): State<ApiState>,
    caller: MaybeCaller,
    Path((owner, hub)): Path<(String, String)>,
) -> ApiResult<axum::Json<HubView>> {
    let (owner, hub) = hub_from_path(&owner, &hub)?;
    let hub = state
        .store()
        .get_hub(caller.actor(), &owner, &hub)
        .await
        .api()?;
    Ok(axum::Json(hub.into()))
}

/// Change a hub's visibility or description (owner only).
#[utoipa::path(
    patch, path = "/hubs/{owner}/{hub}", tag = "hubs",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner's account name"), ("hub" = String, Path, description = "Hub name")),
    request_body(content = HubChanges, example = json!({"public": false})),
    responses(
        (status = 200, description = "The changed hub", body = HubView,
            example = json!({"id": "01935c51-0000-7000-8000-000000000001", "owner": "alice", "name": "home", "path": "alice/home", "public": false, "description": "Sensors around the house", "created_at": "2026-12-03T06:32:00Z"})),
        (status = 404, description = "Not the caller's hub", body = ErrorBody),
    )
)]
async fn update_hub(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub)): Path<(String, String)>,
    Json(body): Json<HubChanges>,
) -> ApiResult<axum::Json<HubView>> {
    let (owner, hub) = hub_from_path(&owner, &hub)?;
    let patch = HubPatch {
        public: body.public,
        description: body.description,
    };
    let hub = state
        .store()
        .update_hub(&caller.actor, &owner, &hub, &patch)
        .await
        .api()?;
    Ok(axum::Json(hub.into()))
}

/// Delete a hub with its devices and products (owner only). Live purchases of its products
/// are revoked; sales history is kept.
#[utoipa::path(
    delete, path = "/hubs/{owner}/{hub}", tag = "hubs",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner's account name"), ("hub" = String, Path, description = "Hub name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not the caller's hub", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such hub", "field": null}})),
    )
)]
async fn delete_hub(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let (owner, hub) = hub_from_path(&owner, &hub)?;
    state
        .store()
        .delete_hub(&caller.actor, &owner, &hub)
        .await
        .api()?;
    Ok(StatusCode::NO_CONTENT)
}
