//! The resources of `/api/v1` (SPEC §6), one module per concern, each exporting its
//! `router()`; [`v1`] merges them. Also what they share: the mapping of store errors to API
//! errors, and parsing of names taken from the path (a name that cannot exist is a 404).

use agora_market::{AccountName, DeviceName, HubName, ProductName, ProductTopic, ValidationError};
use agora_store::StoreError;
use utoipa_axum::router::OpenApiRouter;

use crate::ApiState;
use crate::error::{ApiError, ErrorCode};
use crate::pagination::{Page, PageParams};

pub mod access_keys;
pub mod accounts;
pub mod devices;
pub mod health;
pub mod hubs;
pub mod me;
pub mod notifications;
pub mod products;
pub mod purchases;
pub mod ratings;
pub mod tokens;

/// Every `/api/v1` route with its OpenAPI description (paths relative to `/api/v1`).
pub fn v1() -> OpenApiRouter<ApiState> {
    OpenApiRouter::with_openapi(crate::openapi::base())
        .merge(accounts::router())
        .merge(tokens::router())
        .merge(me::router())
        .merge(hubs::router())
        .merge(devices::router())
        .merge(products::router())
        .merge(purchases::router())
        .merge(access_keys::router())
        .merge(notifications::router())
        .merge(ratings::router())
}

/// A market rule broken by the request: 422 on the rule's field.
pub(crate) fn invalid(e: ValidationError) -> ApiError {
    ApiError::validation(e.field, e.message)
}

/// The API answer for a store error.
pub(crate) fn store_error(e: StoreError) -> ApiError {
    use agora_market::purchase::TransitionError;
    match e {
        StoreError::NotFound { what } => ApiError::not_found(what),
        StoreError::Conflict { field, message } => ApiError::conflict(field, message),
        StoreError::Invalid(v) => invalid(v),
        StoreError::Forbidden { message } => ApiError::forbidden(message),
        StoreError::Transition(t @ TransitionError::NotAllowed { .. }) => {
            ApiError::forbidden(t.to_string())
        }
        StoreError::Transition(t @ TransitionError::WrongState { .. }) => {
            ApiError::new(ErrorCode::Conflict, t.to_string()).with_field("state")
        }
        StoreError::Unauthenticated => ApiError::unauthorized("authentication failed"),
        StoreError::Suspended => ApiError::forbidden("this account is suspended"),
        other => ApiError::internal(other),
    }
}

/// `Result<T, StoreError>` → `Result<T, ApiError>`.
pub(crate) trait StoreResultExt<T> {
    /// Maps the error with [`store_error`].
    fn api(self) -> Result<T, ApiError>;
}

impl<T> StoreResultExt<T> for Result<T, StoreError> {
    fn api(self) -> Result<T, ApiError> {
        self.map_err(store_error)
    }
}

/// The store's page request for the API's paging parameters.
pub(crate) fn page_request(params: PageParams) -> Result<agora_store::PageRequest, ApiError> {
    let p = params.validate()?;
    Ok(agora_store::PageRequest {
        limit: p.limit,
        cursor: p.cursor,
    })
}

/// A store page as an API page.
pub(crate) fn page<T, U>(p: agora_store::Page<T>, f: impl FnMut(T) -> U) -> Page<U> {
    Page {
        items: p.items.into_iter().map(f).collect(),
        next_cursor: p.next_cursor,
    }
}

/// An owner name from the path; one that cannot exist names nothing (404).
pub(crate) fn owner_from_path(owner: &str) -> Result<AccountName, ApiError> {
    AccountName::parse(owner).map_err(|_| ApiError::not_found("account"))
}

/// `{owner}/{hub}` from the path.
pub(crate) fn hub_from_path(owner: &str, hub: &str) -> Result<(AccountName, HubName), ApiError> {
    let owner = owner_from_path(owner).map_err(|_| ApiError::not_found("hub"))?;
    let hub = HubName::parse(hub).map_err(|_| ApiError::not_found("hub"))?;
    Ok((owner, hub))
}

/// `{owner}/{hub}/{device}` from the path.
pub(crate) fn device_from_path(
    owner: &str,
    hub: &str,
    device: &str,
) -> Result<(AccountName, HubName, DeviceName), ApiError> {
    let (owner, hub) = hub_from_path(owner, hub).map_err(|_| ApiError::not_found("device"))?;
    let device = DeviceName::parse(device).map_err(|_| ApiError::not_found("device"))?;
    Ok((owner, hub, device))
}

/// `{owner}/{hub}/{name}` from the path, as a product topic.
pub(crate) fn topic_from_path(
    owner: &str,
    hub: &str,
    name: &str,
) -> Result<ProductTopic, ApiError> {
    let not_found = |_| ApiError::not_found("product");
    let owner = AccountName::parse(owner).map_err(not_found)?;
    let hub = HubName::parse(hub).map_err(not_found)?;
    let name = ProductName::parse(name).map_err(not_found)?;
    Ok(ProductTopic::new(owner, hub, name))
}

/// Deserialises a field that may be absent (leave as is), `null` (clear) or a value (set),
/// for PATCH bodies: `Option<Option<T>>` with `#[serde(default, deserialize_with = …)]`.
pub(crate) fn double_option<'de, T, D>(de: D) -> Result<Option<Option<T>>, D::Error>
where
    T: serde::Deserialize<'de>,
    D: serde::Deserializer<'de>,
{
    serde::Deserialize::deserialize(de).map(Some)
}
