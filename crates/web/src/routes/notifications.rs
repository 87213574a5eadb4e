//! `GET /notifications` · `POST /notifications/{id}/read` · `POST /notifications/read-all`:
//! in-app notifications.

use agora_market::{Notification, NotificationId};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, page, page_request};

/// The notification routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(list_notifications))
        .routes(routes!(mark_read))
        .routes(routes!(mark_all_read))
}

/// How many notifications a call marked read.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"marked": 3}))]
pub struct Marked {
    /// Notifications that were unread and now are read.
    pub marked: u64,
}

/// A notification.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c56-0000-7000-8000-000000000007", "kind": "purchase_requested", "message": "bob asks for alice/home/temp: For a student project", "topic": "alice/home/temp", "purchase_id": "01935c54-0000-7000-8000-000000000005", "created_at": "2026-12-03T06:35:00Z", "read_at": null}))]
pub struct NotificationView {
    /// Its id.
    pub id: Uuid,
    /// `purchase_requested`, `purchase_approved`, `purchase_declined`, `access_granted`,
    /// `access_ending_soon`, `access_ended`, `product_deleted`, `device_rotated` or
    /// `account_suspended`.
    pub kind: String,
    /// A sentence for a person.
    pub message: String,
    /// The product concerned.
    pub topic: Option<String>,
    /// The purchase concerned.
    pub purchase_id: Option<Uuid>,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was marked read; `null` while unread.
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
}

impl From<Notification> for NotificationView {
    fn from(n: Notification) -> Self {
        Self {
            id: n.id.0,
            kind: n.kind.as_str().to_owned(),
            message: n.message,
            topic: n.topic.map(|t| t.to_string()),
            purchase_id: n.purchase_id.map(|p| p.0),
            created_at: n.created_at,
            read_at: n.read_at,
        }
    }
}

/// Which notifications to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NotificationFilter {
    /// `true`: unread ones only.
    pub unread: Option<bool>,
}

/// The caller's notifications, newest first.
#[utoipa::path(
    get, path = "/notifications", tag = "notifications",
    security(("bearer" = [])),
    params(NotificationFilter, PageParams),
    responses(
        (status = 200, description = "One page of notifications", body = Page<NotificationView>,
            example = json!({"items": [{"id": "01935c56-0000-7000-8000-000000000007", "kind": "purchase_approved", "message": "alice approved your request for alice/home/temp", "topic": "alice/home/temp", "purchase_id": "01935c54-0000-7000-8000-000000000005", "created_at": "2026-12-03T06:37:00Z", "read_at": null}], "next_cursor": null})),
        (status = 401, description = "No or bad token", body = ErrorBody),
    )
)]
async fn list_notifications(
    State(state): State<ApiState>,
    caller: Caller,
    Query(filter): Query<NotificationFilter>,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<NotificationView>>> {
    let list = state
        .store()
        .list_notifications(
            &caller.actor,
            filter.unread.unwrap_or(false),
            &page_request(params)?,
        )
        .await
        .api()?;
    Ok(axum::Json(page(list, NotificationView::from)))
}

/// Mark one of the caller's notifications read.
#[utoipa::path(
    post, path = "/notifications/{id}/read", tag = "notifications",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The notification's id")),
    responses(
        (status = 200, description = "Marked read", body = NotificationView,
            example = json!({"id": "01935c56-0000-7000-8000-000000000007", "kind": "purchase_approved", "message": "alice approved your request for alice/home/temp", "topic": "alice/home/temp", "purchase_id": "01935c54-0000-7000-8000-000000000005", "created_at": "2026-12-03T06:37:00Z", "read_at": "2026-12-03T06:40:00Z"})),
        (status = 404, description = "No such notification of the caller", body = ErrorBody),
    )
)]
async fn mark_read(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<NotificationView>> {
    let n = state
        .store()
        .mark_notification_read(&caller.actor, NotificationId(id))
        .await
        .api()?;
    Ok(axum::Json(n.into()))
}

/// Mark all the caller's notifications read.
#[utoipa::path(
    post, path = "/notifications/read-all", tag = "notifications",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "How many were marked", body = Marked),
        (status = 401, description = "No or bad token", body = ErrorBody),
    )
)]
async fn mark_all_read(
    State(state): State<ApiState>,
    caller: Caller,
) -> ApiResult<axum::Json<Marked>> {
    let marked = state
        .store()
        .mark_all_notifications_read(&caller.actor)
        .await
        .api()?;
    Ok(axum::Json(Marked { marked }))
}
