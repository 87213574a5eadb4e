//! Buying and selling: `POST /products/{owner}/{hub}/{name}/purchases` (buy, or ask when
//! the product is restricted), `GET /purchases` (as buyer) · `GET /sales` (as seller),
//! `GET /purchases/{id}`, and the state changes `POST /purchases/{id}/approve · decline ·
//! revoke · cancel`.
//!
//! Who may do what is the purchase state machine's (in `agora-market`), applied by the
//! store: the seller approves, declines or revokes; the buyer cancels. A purchase that is
//! neither the caller's nor one of their sales is a 404.

use agora_market::{Purchase, PurchaseId, PurchaseState};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{JsonOrEmpty, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::products::PlanView;
use crate::routes::{StoreResultExt, page, page_request, topic_from_path};

/// The purchase routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(buy))
        .routes(routes!(list_purchases))
        .routes(routes!(list_sales))
        .routes(routes!(get_purchase))
        .routes(routes!(approve))
        .routes(routes!(decline))
        .routes(routes!(revoke))
        .routes(routes!(cancel))
}

/// A purchase with its usage, as buyer and seller see it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c54-0000-7000-8000-000000000004", "product_id": "01935c53-0000-7000-8000-000000000003", "topic": "alice/home/temp", "buyer": "bob", "seller": "alice", "plan": {"type": "messages", "count": 1000, "price_cents": 100}, "paid_cents": 100, "state": "active", "message": null, "created_at": "2026-12-03T06:35:00Z", "started_at": "2026-12-03T06:35:00Z", "ends_at": null, "quota_messages": 1000, "used_messages": 12, "used_bytes": 480, "remaining_messages": 988, "ended_at": null, "decided_by": null, "reason": null}))]
pub struct PurchaseView {
    /// Its id.
    pub id: Uuid,
    /// The product's id.
    pub product_id: Uuid,
    /// The product's topic (kept after the product is deleted).
    pub topic: String,
    /// The buyer's account name (their MQTT username).
    pub buyer: String,
    /// The seller's account name.
    pub seller: String,
    /// The plan as it was when bought.
    pub plan: PlanView,
    /// Paid so far, in cents (simulated).
    pub paid_cents: i64,
    /// `pending`, `active`, `expired`, `exhausted`, `cancelled`, `revoked` or `declined`.
    pub state: String,
    /// The buyer's request message (restricted products).
    pub message: Option<String>,
    /// When it was requested or bought.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When access started.
    #[serde(with = "time::serde::rfc3339::option")]
    pub started_at: Option<OffsetDateTime>,
    /// When a period purchase ends.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ends_at: Option<OffsetDateTime>,
    /// Messages bought (messages plan).
    pub quota_messages: Option<u64>,
    /// Messages delivered so far.
    pub used_messages: u64,
    /// Bytes delivered so far.
    pub used_bytes: u64,
    /// Messages left (messages plan).
    pub remaining_messages: Option<u64>,
    /// When it ended.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Who made the last change: `buyer`, `seller`, `admin` or `system`.
    pub decided_by: Option<String>,
    /// Why (the actor's words, or Agora's reason).
    pub reason: Option<String>,
}

impl From<Purchase> for PurchaseView {
    fn from(p: Purchase) -> Self {
        let remaining = p.remaining_messages();
        Self {
            id: p.id.0,
            product_id: p.product_id.0,
            seller: p.topic.owner.to_string(),
            topic: p.topic.to_string(),
            buyer: p.buyer.to_string(),
            plan: p.plan.into(),
            paid_cents: p.paid_cents,
            state: p.state.as_str().to_owned(),
            message: p.message,
            created_at: p.created_at,
            started_at: p.started_at,
            ends_at: p.ends_at,
            quota_messages: p.quota_messages,
            used_messages: p.used_messages,
            used_bytes: p.used_bytes,
            remaining_messages: remaining,
            ended_at: p.ended_at,
            decided_by: p.decided_by.map(|d| d.as_str().to_owned()),
            reason: p.reason,
        }
    }
}

/// A purchase request; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPurchase {
    /// For restricted products: what the data is for (shown to the seller; ≤ 2000 chars).
    #[serde(default)]
    pub message: Option<String>,
}

/// A state change; the body may be omitted.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Why, in a few words (≤ 500 characters); shown to the other party.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Buy a product, or ask for it when it is restricted.
///
/// 201 with an `active` purchase; 202 with a `pending` one when the seller must approve
/// first. Buying again while a purchase is live extends it (period) or adds to its quota
/// (messages). Sellers cannot buy their own products (403).
#[utoipa::path(
    post, path = "/products/{owner}/{hub}/{name}/purchases", tag = "purchases",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Seller"), ("hub" = String, Path, description = "Hub"), ("name" = String, Path, description = "Product")),
    request_body(content = NewPurchase, example = json!({"message": "For a student project on indoor climate"})),
    responses(
        (status = 201, description = "Bought: access is live", body = PurchaseView),
        (status = 202, description = "Requested: waiting for the seller", body = PurchaseView,
            example = json!({"id": "01935c54-0000-7000-8000-000000000005", "product_id": "01935c53-0000-7000-8000-000000000003", "topic": "alice/home/temp", "buyer": "bob", "seller": "alice", "plan": {"type": "free"}, "paid_cents": 0, "state": "pending", "message": "For a student project on indoor climate", "created_at": "2026-12-03T06:35:00Z", "started_at": null, "ends_at": null, "quota_messages": null, "used_messages": 0, "used_bytes": 0, "remaining_messages": null, "ended_at": null, "decided_by": null, "reason": null})),
        (status = 403, description = "The seller's own product", body = ErrorBody,
            example = json!({"error": {"code": "forbidden", "message": "sellers cannot buy their own products", "field": null}})),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 409, description = "A request is already pending", body = ErrorBody),
    )
)]
async fn buy(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, name)): Path<(String, String, String)>,
    JsonOrEmpty(body): JsonOrEmpty<NewPurchase>,
) -> ApiResult<(StatusCode, axum::Json<PurchaseView>)> {
    let topic = topic_from_path(&owner, &hub, &name)?;
    let purchase = state
        .store()
        .purchase(&caller.actor, &topic, body.message.as_deref())
        .await
        .api()?;
    let status = if purchase.state == PurchaseState::Pending {
        StatusCode::ACCEPTED
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(purchase.into())))
}

/// Which purchases to list.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PurchaseScope {
    /// `true` (administrators only, else 403): every purchase of every account.
    pub all: Option<bool>,
}

/// The caller's purchases (as buyer), newest first, with usage; for administrators with
/// `all=true`, every purchase.
#[utoipa::path(
    get, path = "/purchases", tag = "purchases",
    security(("bearer" = [])),
    params(PurchaseScope, PageParams),
    responses(
        (status = 200, description = "One page of purchases", body = Page<PurchaseView>,
            example = json!({"items": [{"id": "01935c54-0000-7000-8000-000000000004", "product_id": "01935c53-0000-7000-8000-000000000003", "topic": "alice/home/temp", "buyer": "bob", "seller": "alice", "plan": {"type": "free"}, "paid_cents": 0, "state": "active", "message": null, "created_at": "2026-12-03T06:35:00Z", "started_at": "2026-12-03T06:35:00Z", "ends_at": null, "quota_messages": null, "used_messages": 12, "used_bytes": 480, "remaining_messages": null, "ended_at": null, "decided_by": null, "reason": null}], "next_cursor": null})),
        (status = 401, description = "No or bad token", body = ErrorBody),
        (status = 403, description = "`all=true` by someone who is not an administrator", body = ErrorBody),
    )
)]
async fn list_purchases(
    State(state): State<ApiState>,
    caller: Caller,
    Query(scope): Query<PurchaseScope>,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<PurchaseView>>> {
    let req = page_request(params)?;
    let list = if scope.all == Some(true) {
        state.store().list_all_purchases(&caller.actor, &req).await
    } else {
        state.store().list_purchases(&caller.actor, &req).await
    }
    .api()?;
    Ok(axum::Json(page(list, PurchaseView::from)))
}

/// The caller's sales (as seller), newest first, with usage; pending requests included.
#[utoipa::path(
    get, path = "/sales", tag = "purchases",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page of sales", body = Page<PurchaseView>,
            example = json!({"items": [{"id": "01935c54-0000-7000-8000-000000000005", "product_id": "01935c53-0000-7000-8000-000000000003", "topic": "alice/home/temp", "buyer": "bob", "seller": "alice", "plan": {"type": "free"}, "paid_cents": 0, "state": "pending", "message": "For a student project", "created_at": "2026-12-03T06:35:00Z", "started_at": null, "ends_at": null, "quota_messages": null, "used_messages": 0, "used_bytes": 0, "remaining_messages": null, "ended_at": null, "decided_by": null, "reason": null}], "next_cursor": null})),
        (status = 401, description = "No or bad token", body = ErrorBody),
    )
)]
async fn list_sales(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<PurchaseView>>> {
    let list = state
        .store()
        .list_sales(&caller.actor, &page_request(params)?)
        .await
        .api()?;
    Ok(axum::Json(page(list, PurchaseView::from)))
}

/// One purchase (its buyer or seller only).
#[utoipa::path(
    get, path = "/purchases/{id}", tag = "purchases",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The purchase's id")),
    responses(
        (status = 200, description = "The purchase", body = PurchaseView),
        (status = 404, description = "Neither the caller's purchase nor sale", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such purchase", "field": null}})),
    )
)]
async fn get_purchase(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<axum::Json<PurchaseView>> {
    let p = state
        .store()
        .get_purchase(&caller.actor, PurchaseId(id))
        .await
        .api()?;
    Ok(axum::Json(p.into()))
}

/// Which state change.
#[derive(Clone, Copy)]
enum Change {
    Approve,
    Decline,
    Revoke,
    Cancel,
}

async fn change(
    state: &ApiState,
    caller: &Caller,
    id: Uuid,
    body: Decision,
    change: Change,
) -> ApiResult<axum::Json<PurchaseView>> {
    let store = state.store();
    let (actor, id, reason) = (&caller.actor, PurchaseId(id), body.reason.as_deref());
    let p = match change {
        Change::Approve => store.approve_purchase(actor, id, reason).await,
        Change::Decline => store.decline_purchase(actor, id, reason).await,
        Change::Revoke => store.revoke_purchase(actor, id, reason).await,
        Change::Cancel => store.cancel_purchase(actor, id, reason).await,
    }
    .api()?;
    Ok(axum::Json(p.into()))
}

/// Approve a pending request (seller): access starts, the buyer is notified.
#[utoipa::path(
    post, path = "/purchases/{id}/approve", tag = "purchases",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The purchase's id")),
    request_body(content = Decision, example = json!({"reason": "Welcome aboard"})),
    responses(
        (status = 200, description = "Now active", body = PurchaseView),
        (status = 403, description = "Only the seller approves", body = ErrorBody,
            example = json!({"error": {"code": "forbidden", "message": "the buyer may not approve a purchase", "field": null}})),
        (status = 404, description = "Neither the caller's purchase nor sale", body = ErrorBody),
        (status = 409, description = "Not pending", body = ErrorBody,
            example = json!({"error": {"code": "conflict", "message": "cannot approve a purchase that is active", "field": "state"}})),
    )
)]
async fn approve(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<Decision>,
) -> ApiResult<axum::Json<PurchaseView>> {
    change(&state, &caller, id, body, Change::Approve).await
}

/// Decline a pending request (seller): the buyer is notified, with the reason.
#[utoipa::path(
    post, path = "/purchases/{id}/decline", tag = "purchases",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The purchase's id")),
    request_body(content = Decision, example = json!({"reason": "Commercial use is not allowed"})),
    responses(
        (status = 200, description = "Now declined", body = PurchaseView),
        (status = 403, description = "Only the seller declines", body = ErrorBody),
        (status = 404, description = "Neither the caller's purchase nor sale", body = ErrorBody),
        (status = 409, description = "Not pending", body = ErrorBody),
    )
)]
async fn decline(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<Decision>,
) -> ApiResult<axum::Json<PurchaseView>> {
    change(&state, &caller, id, body, Change::Decline).await
}

/// Revoke a live purchase (seller): access ends at once, the buyer is notified.
#[utoipa::path(
    post, path = "/purchases/{id}/revoke", tag = "purchases",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The purchase's id")),
    request_body(content = Decision, example = json!({"reason": "Terms of use broken"})),
    responses(
        (status = 200, description = "Now revoked", body = PurchaseView),
        (status = 403, description = "Only the seller revokes", body = ErrorBody),
        (status = 404, description = "Neither the caller's purchase nor sale", body = ErrorBody),
        (status = 409, description = "Not live", body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<Decision>,
) -> ApiResult<axum::Json<PurchaseView>> {
    change(&state, &caller, id, body, Change::Revoke).await
}

/// Cancel one's own purchase or request (buyer): access ends at once.
#[utoipa::path(
    post, path = "/purchases/{id}/cancel", tag = "purchases",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The purchase's id")),
    request_body(content = Decision, example = json!({"reason": "No longer needed"})),
    responses(
        (status = 200, description = "Now cancelled", body = PurchaseView),
        (status = 403, description = "Only the buyer cancels", body = ErrorBody),
        (status = 404, description = "Not the caller's purchase", body = ErrorBody),
        (status = 409, description = "Already ended", body = ErrorBody),
    )
)]
async fn cancel(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
    JsonOrEmpty(body): JsonOrEmpty<Decision>,
) -> ApiResult<axum::Json<PurchaseView>> {
    change(&state, &caller, id, body, Change::Cancel).await
}
