//! `/dashboard/purchases` (as a buyer: state, usage, time or quota left, cancel) and
//! `/dashboard/sales` (as a seller: totals, requests waiting with approve/decline, all
//! sales with revoke). Each action names the purchase by id in the path; the store refuses
//! anyone who is not the right party.

use agora_market::{Purchase, PurchaseId, PurchaseState};
use agora_store::PageRequest;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Confirm, Tab, chrome, confirm_page, confirmed};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::format;
use crate::pages::{Nav, product_url, render, see_other_with};
use crate::session::{Form, User};

/// The purchase and sale routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/dashboard/purchases", get(purchases))
        .route("/dashboard/purchases/{id}/cancel", post(cancel))
        .route("/dashboard/sales", get(sales))
        .route("/dashboard/sales/{id}/approve", post(approve))
        .route("/dashboard/sales/{id}/decline", post(decline))
        .route("/dashboard/sales/{id}/revoke", post(revoke))
}

/// A purchase as a row.
struct Row {
    id: String,
    url: String,
    topic: String,
    buyer: String,
    state: &'static str,
    plan: String,
    paid: String,
    since: String,
    usage: String,
    left: String,
    message: Option<String>,
    reason: Option<String>,
    active: bool,
}

fn row(p: &Purchase, now: OffsetDateTime) -> Row {
    Row {
        id: p.id.0.to_string(),
        url: product_url(&p.topic),
        topic: p.topic.to_string(),
        buyer: p.buyer.as_str().to_owned(),
        state: p.state.as_str(),
        plan: format::plan(&p.plan),
        paid: format::cents(p.paid_cents),
        since: format::when(p.started_at.unwrap_or(p.created_at)),
        usage: format!(
            "{} · {}",
            format::plural(p.used_messages, "message", "messages"),
            format::bytes(p.used_bytes)
        ),
        left: format::left(p, now),
        message: p.message.clone(),
        reason: p.reason.clone(),
        active: p.state == PurchaseState::Active,
    }
}

#[derive(Template)]
#[template(path = "dashboard_purchases.html")]
struct PurchasesPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    rows: Vec<Row>,
}

async fn purchases(State(state): State<UiState>, user: User) -> UiResult<Response> {
    let now = OffsetDateTime::now_utc();
    let list = state
        .store()
        .list_purchases(&user.actor, &PageRequest::first(100))
        .await?;
    let (nav, pending_sales) = chrome(&state, &user).await;
    render(&PurchasesPage {
        nav,
        tab: Tab::Purchases.as_str(),
        pending_sales,
        rows: list.items.iter().map(|p| row(p, now)).collect(),
    })
}

#[derive(Template)]
#[template(path = "dashboard_sales.html")]
struct SalesPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    pending: Vec<Row>,
    rows: Vec<Row>,
    sales: u64,
    active: u64,
    revenue: String,
    delivered: String,
}

async fn sales(State(state): State<UiState>, user: User) -> UiResult<Response> {
    let now = OffsetDateTime::now_utc();
    let store = state.store();
    let list = store
        .list_sales(&user.actor, &PageRequest::first(100))
        .await?;
    let totals = store.sales_totals(&user.actor).await?;
    let (pending, rows): (Vec<_>, Vec<_>) = list
        .items
        .iter()
        .partition(|p| p.state == PurchaseState::Pending);
    let (nav, pending_sales) = chrome(&state, &user).await;
    render(&SalesPage {
        nav,
        tab: Tab::Sales.as_str(),
        pending_sales,
        pending: pending.into_iter().map(|p| row(p, now)).collect(),
        rows: rows.into_iter().map(|p| row(p, now)).collect(),
        sales: totals.sales,
        active: totals.active,
        revenue: format::cents(totals.revenue_cents),
        delivered: format!(
            "{} · {}",
            format::plural(totals.messages, "message", "messages"),
            format::bytes(totals.bytes)
        ),
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DecisionForm {
    reason: String,
    confirm: Option<String>,
}

impl DecisionForm {
    fn reason(&self) -> Option<&str> {
        Some(self.reason.trim()).filter(|r| !r.is_empty())
    }
}

fn purchase_id(s: &str) -> UiResult<PurchaseId> {
    Uuid::parse_str(s)
        .map(PurchaseId)
        .map_err(|_| UiError::NotFound("purchase"))
}

async fn approve(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> UiResult<Response> {
    let id = purchase_id(&id)?;
    let p = state
        .store()
        .approve_purchase(&user.actor, id, f.reason())
        .await?;
    Ok(see_other_with(
        "/dashboard/sales",
        &format!(
            "Approved: {} now has access to {}.",
            p.buyer.as_str(),
            p.topic
        ),
        state.settings().secure_cookies,
    ))
}

/// Decline, revoke and cancel share their shape: confirm, act, say what happened.
async fn decide(
    state: &UiState,
    user: &User,
    id: &str,
    f: &DecisionForm,
    what: Decision,
) -> UiResult<Response> {
    let pid = purchase_id(id)?;
    let p = state.store().get_purchase(&user.actor, pid).await?;
    let (verb, path, back, warning) = match what {
        Decision::Decline => (
            "Decline",
            "sales",
            "/dashboard/sales",
            format!("{} will be told that you declined.", p.buyer.as_str()),
        ),
        Decision::Revoke => (
            "Revoke",
            "sales",
            "/dashboard/sales",
            format!(
                "{} loses access to {} at once and is notified.",
                p.buyer.as_str(),
                p.topic
            ),
        ),
        Decision::Cancel => (
            "Cancel",
            "purchases",
            "/dashboard/purchases",
            format!(
                "You lose access to {} at once; nothing is refunded.",
                p.topic
            ),
        ),
    };
    if !confirmed(f.confirm.as_deref()) {
        return confirm_page(
            state,
            user,
            Confirm {
                title: format!("{verb} the purchase of {}?", p.topic),
                message: warning,
                action: format!("/dashboard/{path}/{id}/{}", verb.to_ascii_lowercase()),
                button: verb,
                fields: vec![("reason".into(), f.reason.clone())],
                back,
            },
        )
        .await;
    }
    let store = state.store();
    let done = match what {
        Decision::Decline => store.decline_purchase(&user.actor, pid, f.reason()).await?,
        Decision::Revoke => store.revoke_purchase(&user.actor, pid, f.reason()).await?,
        Decision::Cancel => store.cancel_purchase(&user.actor, pid, f.reason()).await?,
    };
    Ok(see_other_with(
        back,
        &format!(
            "The purchase of {} is {} now.",
            done.topic,
            done.state.as_str()
        ),
        state.settings().secure_cookies,
    ))
}

#[derive(Debug, Clone, Copy)]
enum Decision {
    Decline,
    Revoke,
    Cancel,
}

async fn decline(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> UiResult<Response> {
    decide(&state, &user, &id, &f, Decision::Decline).await
}

async fn revoke(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> UiResult<Response> {
    decide(&state, &user, &id, &f, Decision::Revoke).await
}

async fn cancel(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(f): Form<DecisionForm>,
) -> UiResult<Response> {
    decide(&state, &user, &id, &f, Decision::Cancel).await
}
