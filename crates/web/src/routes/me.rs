//! `GET /me`: the caller.

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::routes::StoreResultExt;
use crate::routes::accounts::AccountView;

/// `GET /me`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(me))
}

/// The caller's account and what waits for them.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"account": {"id": "01935c4e-8a4e-7cc0-9a57-3b1f0b9e2c11", "name": "alice", "role": "user", "suspended": false, "created_at": "2026-12-03T06:30:00Z"}, "unread_notifications": 2}))]
pub struct MeView {
    /// The account.
    pub account: AccountView,
    /// Notifications not yet marked read.
    pub unread_notifications: u64,
}

/// The caller's account.
#[utoipa::path(
    get, path = "/me", tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller", body = MeView),
        (status = 401, description = "No or bad token", body = ErrorBody,
            example = json!({"error": {"code": "unauthorized", "message": "this route needs Authorization: Bearer <API token>; create one with POST /api/v1/tokens", "field": null}})),
    )
)]
async fn me(State(state): State<ApiState>, caller: Caller) -> ApiResult<axum::Json<MeView>> {
    let unread = state
        .store()
        .unread_notifications(&caller.actor)
        .await
        .api()?;
    Ok(axum::Json(MeView {
        account: caller.account.into(),
        unread_notifications: unread,
    }))
}
