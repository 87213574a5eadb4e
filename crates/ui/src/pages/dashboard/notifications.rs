//! `/dashboard/notifications`: what happened to the visitor's purchases, sales, products
//! and devices, newest first; mark one or all read.

use agora_market::NotificationId;
use agora_store::PageRequest;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Tab, chrome};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::format;
use crate::pages::{Nav, product_url, render, see_other_with};
use crate::session::{Form, User};

/// The notification routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/dashboard/notifications", get(page))
        .route("/dashboard/notifications/read-all", post(read_all))
        .route("/dashboard/notifications/{id}/read", post(read_one))
}

struct Row {
    id: String,
    kind: &'static str,
    message: String,
    link: Option<String>,
    when: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "dashboard_notifications.html")]
struct NotificationsPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    rows: Vec<Row>,
}

async fn page(State(state): State<UiState>, user: User) -> UiResult<Response> {
    let now = OffsetDateTime::now_utc();
    let list = state
        .store()
        .list_notifications(&user.actor, false, &PageRequest::first(100))
        .await?;
    let rows = list
        .items
        .into_iter()
        .map(|n| Row {
            id: n.id.0.to_string(),
            kind: n.kind.as_str(),
            link: n.topic.as_ref().map(product_url),
            message: n.message,
            when: format::ago(n.created_at, now),
            unread: n.read_at.is_none(),
        })
        .collect();
    let (nav, pending_sales) = chrome(&state, &user).await;
    render(&NotificationsPage {
        nav,
        tab: Tab::Notifications.as_str(),
        pending_sales,
        rows,
    })
}

#[derive(Debug, Default, Deserialize)]
struct Empty {}

async fn read_all(
    State(state): State<UiState>,
    user: User,
    Form(_): Form<Empty>,
) -> UiResult<Response> {
    let n = state
        .store()
        .mark_all_notifications_read(&user.actor)
        .await?;
    Ok(see_other_with(
        "/dashboard/notifications",
        &format!(
            "{} marked read.",
            format::plural(n, "notification", "notifications")
        ),
        state.settings().secure_cookies,
    ))
}

async fn read_one(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(_): Form<Empty>,
) -> UiResult<Response> {
    let id = Uuid::parse_str(&id)
        .map(NotificationId)
        .map_err(|_| UiError::NotFound("notification"))?;
    state
        .store()
        .mark_notification_read(&user.actor, id)
        .await?;
    Ok(see_other_with(
        "/dashboard/notifications",
        "Marked read.",
        state.settings().secure_cookies,
    ))
}
