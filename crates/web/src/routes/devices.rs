//! `GET·POST /hubs/{owner}/{hub}/devices` · `GET·DELETE /hubs/{owner}/{hub}/devices/{device}`
//! · `POST …/{device}/rotate`: devices and their MQTT credentials (owner only).
//!
//! A device authenticates either with a secret Agora generates (the `secret` of the
//! register/rotate answer, shown there once and never again) or with an RSA public key the
//! seller registers (the device then signs RS256 JWTs). Devices of someone else's hub are a
//! 404, even in a public hub: I3 listed device usernames of public hubs to everyone.

use agora_market::{Device, DeviceName, RsaPublicKey, Secret};
use agora_store::NewCredential;
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
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, JsonOrEmpty, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, device_from_path, hub_from_path, invalid, page, page_request};

/// The device routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_devices, register_device))
        .routes(routes!(get_device, delete_device))
        .routes(routes!(rotate_device))
}

/// A device as listed: never with a secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c52-0000-7000-8000-000000000002", "hub": "alice/home", "name": "pi", "username": "alice$home$pi", "credential": "secret", "public_key_pem": null, "created_at": "2026-12-03T06:33:00Z", "rotated_at": null}))]
pub struct DeviceView {
    /// Its id.
    pub id: Uuid,
    /// Its hub, `owner/hub`.
    pub hub: String,
    /// Its name in the hub.
    pub name: String,
    /// Its MQTT username, `owner$hub$device`.
    pub username: String,
    /// `secret` (MQTT password = the generated secret) or `public_key` (MQTT password = an
    /// RS256 JWT signed with the device's private key).
    pub credential: String,
    /// For key-based devices, the registered public key (SPKI PEM).
    pub public_key_pem: Option<String>,
    /// When it was registered.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When its credential was last replaced.
    #[serde(with = "time::serde::rfc3339::option")]
    pub rotated_at: Option<OffsetDateTime>,
}

impl From<Device> for DeviceView {
    fn from(d: Device) -> Self {
        Self {
            id: d.id.0,
            hub: format!("{}/{}", d.username.owner, d.username.hub),
            name: d.name.to_string(),
            username: d.username.to_string(),
            credential: d.credential.as_str().to_owned(),
            public_key_pem: d.public_key_pem,
            created_at: d.created_at,
            rotated_at: d.rotated_at,
        }
    }
}

/// A device just registered or rotated, with its new secret (secret devices only).
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceWithSecret {
    /// The device.
    #[serde(flatten)]
    pub device: DeviceView,
    /// The MQTT password of a secret device: shown in this answer only; absent for
    /// key-based devices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

fn with_secret((device, secret): (Device, Option<Secret>)) -> DeviceWithSecret {
    DeviceWithSecret {
        device: device.into(),
        secret: secret.map(Secret::into_string),
    }
}

/// A device to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewDevice {
    /// 1–64 of `A-Z a-z 0-9 _ -`, unique in the hub (case-insensitively).
    pub name: String,
    /// An RSA public key (PEM `PUBLIC KEY` or `RSA PUBLIC KEY`, or the bare base64 body;
    /// 2048–4096 bits). Omit it to have Agora generate a secret instead.
    #[serde(default)]
    pub public_key: Option<String>,
}

/// A new credential for a device.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// A new RSA public key; omit it for a new generated secret.
    #[serde(default)]
    pub public_key: Option<String>,
}

fn credential(public_key: Option<&str>) -> ApiResult<NewCredential> {
    match public_key {
        None => Ok(NewCredential::GenerateSecret),
        Some(pem) => RsaPublicKey::parse(pem)
            .map(NewCredential::PublicKey)
            .map_err(|e| invalid(e.with_field("public_key"))),
    }
}

/// The hub path parameters.
type HubPath = Path<(String, String)>;
/// The device path parameters.
type DevicePath = Path<(String, String, String)>;

/// List a hub's devices (owner only).
#[utoipa::path(
    get, path = "/hubs/{owner}/{hub}/devices", tag = "devices",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner"), ("hub" = String, Path, description = "Hub"), PageParams),
    responses(
        (status = 200, description = "One page of devices, newest first", body = Page<DeviceView>,
            example = json!({"items": [{"id": "01935c52-0000-7000-8000-000000000002", "hub": "alice/home", "name": "pi", "username": "alice$home$pi", "credential": "secret", "public_key_pem": null, "created_at": "2026-12-03T06:33:00Z", "rotated_at": null}], "next_cursor": null})),
        (status = 404, description = "Not the caller's hub", body = ErrorBody),
    )
)]
async fn list_devices(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub)): HubPath,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<DeviceView>>> {
    let (owner, hub) = hub_from_path(&owner, &hub)?;
    let devices = state
        .store()
        .list_devices(&caller.actor, &owner, &hub, &page_request(params)?)
        .await
        .api()?;
    Ok(axum::Json(page(devices, DeviceView::from)))
}

/// Register a device; a secret device's secret is in this answer only.
#[utoipa::path(
    post, path = "/hubs/{owner}/{hub}/devices", tag = "devices",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner"), ("hub" = String, Path, description = "Hub")),
    request_body(content = NewDevice, example = json!({"name": "pi"})),
    responses(
        (status = 201, description = "Registered", body = DeviceWithSecret,
            example = json!({"id": "01935c52-0000-7000-8000-000000000002", "hub": "alice/home", "name": "pi", "username": "alice$home$pi", "credential": "secret", "public_key_pem": null, "created_at": "2026-12-03T06:33:00Z", "rotated_at": null, "secret": "ags_Vq1x0cB9s8m2KJd7fYw3Lr6ZpN4hTgEaUoQiXyC5bMk"})),
        (status = 404, description = "Not the caller's hub", body = ErrorBody),
        (status = 409, description = "The hub has a device of this name", body = ErrorBody),
        (status = 422, description = "Bad name or public key", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "the key has 1024 bits; 2048–4096 are accepted", "field": "public_key"}})),
    )
)]
async fn register_device(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub)): HubPath,
    Json(body): Json<NewDevice>,
) -> ApiResult<(StatusCode, axum::Json<DeviceWithSecret>)> {
    let (owner, hub) = hub_from_path(&owner, &hub)?;
    let name = DeviceName::parse(&body.name).map_err(|e| invalid(e.with_field("name")))?;
    let credential = credential(body.public_key.as_deref())?;
    let created = state
        .store()
        .register_device(&caller.actor, &owner, &hub, &name, &credential)
        .await
        .api()?;
    Ok((StatusCode::CREATED, axum::Json(with_secret(created))))
}

/// A device (owner only); never its secret.
#[utoipa::path(
    get, path = "/hubs/{owner}/{hub}/devices/{device}", tag = "devices",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner"), ("hub" = String, Path, description = "Hub"), ("device" = String, Path, description = "Device")),
    responses(
        (status = 200, description = "The device", body = DeviceView),
        (status = 404, description = "No such device of the caller", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such device", "field": null}})),
    )
)]
async fn get_device(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, device)): DevicePath,
) -> ApiResult<axum::Json<DeviceView>> {
    let (owner, hub, device) = device_from_path(&owner, &hub, &device)?;
    let device = state
        .store()
        .get_device(&caller.actor, &owner, &hub, &device)
        .await
        .api()?;
    Ok(axum::Json(device.into()))
}

/// Delete a device; its sessions are disconnected.
#[utoipa::path(
    delete, path = "/hubs/{owner}/{hub}/devices/{device}", tag = "devices",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner"), ("hub" = String, Path, description = "Hub"), ("device" = String, Path, description = "Device")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such device of the caller", body = ErrorBody),
    )
)]
async fn delete_device(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, device)): DevicePath,
) -> ApiResult<StatusCode> {
    let (owner, hub, device) = device_from_path(&owner, &hub, &device)?;
    state
        .store()
        .delete_device(&caller.actor, &owner, &hub, &device)
        .await
        .api()?;
    Ok(StatusCode::NO_CONTENT)
}

/// Replace a device's credential: a new secret (shown once), or a new public key. Sessions
/// that used the old credential are disconnected.
#[utoipa::path(
    post, path = "/hubs/{owner}/{hub}/devices/{device}/rotate", tag = "devices",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Owner"), ("hub" = String, Path, description = "Hub"), ("device" = String, Path, description = "Device")),
    request_body(content = Rotation, example = json!({})),
    responses(
        (status = 200, description = "Rotated", body = DeviceWithSecret,
            example = json!({"id": "01935c52-0000-7000-8000-000000000002", "hub": "alice/home", "name": "pi", "username": "alice$home$pi", "credential": "secret", "public_key_pem": null, "created_at": "2026-12-03T06:33:00Z", "rotated_at": "2026-12-03T07:00:00Z", "secret": "ags_n3Jx8QmB2vK7cY0wR5tL9pZ1hG4dF6sAeUoWiTyXbNq"})),
        (status = 404, description = "No such device of the caller", body = ErrorBody),
    )
)]
async fn rotate_device(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, device)): DevicePath,
    JsonOrEmpty(body): JsonOrEmpty<Rotation>,
) -> ApiResult<axum::Json<DeviceWithSecret>> {
    let (owner, hub, device) = device_from_path(&owner, &hub, &device)?;
    let credential = credential(body.public_key.as_deref())?;
    let rotated = state
        .store()
        .rotate_device(&caller.actor, &owner, &hub, &device, &credential)
        .await
        .api()?;
    Ok(axum::Json(with_secret(rotated)))
}
