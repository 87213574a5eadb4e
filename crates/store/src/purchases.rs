//! Purchases: buying (or requesting), the checked transitions, lists for buyers and sellers
//! with usage, metering, and time-based expiry.
//!
//! Each change runs in one transaction that also writes the audit entry and the
//! notifications, and queues the [`MarketEvent`] sent after commit.

use agora_market::purchase::{self, Decision};
use agora_market::{
    AccountId, Actor, MarketEvent, NotificationKind, Party, Plan, ProductId, ProductTopic,
    Purchase, PurchaseAction, PurchaseId, PurchaseState,
};
use serde::Serialize;
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, SqliteConnection};
use time::OffsetDateTime;

use crate::page::{Page, PageRequest};
use crate::rows::{self, opt_ts, ts};
use crate::{Result, Store, StoreError, WriteTx, audit, notifications, products, require_admin};

/// A notification to send, if any.
type Note = Option<(NotificationKind, String)>;

/// Purchase columns plus the buyer's name.
const SELECT: &str =
    "SELECT u.*, b.name AS buyer_name FROM purchases u JOIN accounts b ON b.id = u.buyer_id";

/// A seller's totals over all their sales (requests that never started are not sales).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SalesTotals {
    /// Purchases that were ever active.
    pub sales: u64,
    /// Of those, active now.
    pub active: u64,
    /// Requests waiting for approval.
    pub pending: u64,
    /// Sum paid, in cents.
    pub revenue_cents: i64,
    /// Messages delivered to buyers.
    pub messages: u64,
    /// Bytes delivered to buyers.
    pub bytes: u64,
}

pub(crate) fn purchase_from_row(r: &SqliteRow) -> Result<Purchase> {
    let state: String = r.try_get("state")?;
    let plan_kind: String = r.try_get("plan_kind")?;
    let price: i64 = r.try_get("price_cents")?;
    let decided: Option<String> = r.try_get("decided_by")?;
    Ok(Purchase {
        id: rows::parse(r, "id")?,
        product_id: rows::parse(r, "product_id")?,
        topic: rows::parse(r, "topic")?,
        buyer_id: rows::parse(r, "buyer_id")?,
        buyer: rows::parse(r, "buyer_name")?,
        seller_id: rows::parse(r, "seller_id")?,
        plan: Plan::from_parts(
            &plan_kind,
            r.try_get("plan_days")?,
            r.try_get("plan_count")?,
            (plan_kind != "free").then_some(price),
        )
        .map_err(|e| rows::corrupt_value("plan", e))?,
        paid_cents: r.try_get("paid_cents")?,
        state: PurchaseState::parse(&state)
            .ok_or_else(|| rows::corrupt_value("state", state.clone()))?,
        message: r.try_get("message")?,
        created_at: rows::time(r, "created_at")?,
        started_at: rows::opt_time(r, "started_at")?,
        ends_at: rows::opt_time(r, "ends_at")?,
        quota_messages: rows::opt_u64(r, "quota_messages")?,
        used_messages: rows::u64_col(r, "used_messages")?,
        used_bytes: rows::u64_col(r, "used_bytes")?,
        ended_at: rows::opt_time(r, "ended_at")?,
        decided_by: match decided.as_deref() {
            None => None,
            Some("buyer") => Some(Party::Buyer),
            Some("seller") => Some(Party::Seller),
            Some("admin") => Some(Party::Admin),
            Some("system") => Some(Party::System),
            Some(other) => return Err(rows::corrupt_value("decided_by", other)),
        },
        reason: r.try_get("reason")?,
    })
}

async fn load(conn: &mut SqliteConnection, id: PurchaseId) -> Result<Option<Purchase>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE u.id = ?")))
        .bind(id.to_string())
        .fetch_optional(conn)
        .await?;
    row.as_ref().map(purchase_from_row).transpose()
}

/// The part the actor plays in a purchase, or `NotFound` when they have none (others'
/// purchases must not even be confirmed to exist).
fn party_of(actor: &Actor, p: &Purchase) -> Result<Party> {
    if actor.id == p.seller_id {
        Ok(Party::Seller)
    } else if actor.id == p.buyer_id {
        Ok(Party::Buyer)
    } else if actor.is_admin() {
        Ok(Party::Admin)
    } else {
        Err(StoreError::NotFound { what: "purchase" })
    }
}

/// Applies one checked transition inside `w`: state, window, audit, notifications, event.
async fn apply(
    w: &mut WriteTx<'_>,
    actor: Option<&Actor>,
    p: &Purchase,
    action: PurchaseAction,
    party: Party,
    reason: Option<String>,
    now: OffsetDateTime,
) -> Result<Purchase> {
    let to = p.state.apply(action, party)?;
    if action == PurchaseAction::Approve {
        let (ends_at, quota) = purchase::activation_with_day(&p.plan, now, w.plan_day);
        sqlx::query("UPDATE purchases SET state = ?, started_at = ?, ends_at = ?, quota_messages = ?, paid_cents = price_cents,
             decided_by = ?, reason = ? WHERE id = ?")
        .bind(to.as_str())
        .bind(ts(now))
        .bind(opt_ts(ends_at))
        .bind(quota.map(rows::i64_of))
        .bind(party.as_str())
        .bind(reason.clone())
        .bind(p.id.to_string())
        .execute(w.conn())
        .await?;
    } else {
        sqlx::query(
            "UPDATE purchases SET state = ?, ended_at = ?, decided_by = ?, reason = ? WHERE id = ?",
        )
        .bind(to.as_str())
        .bind(ts(now))
        .bind(party.as_str())
        .bind(reason.clone())
        .bind(p.id.to_string())
        .execute(w.conn())
        .await?;
    }
    let updated = load(w.conn(), p.id)
        .await?
        .ok_or(StoreError::NotFound { what: "purchase" })?;
    audit::record(
        w.conn(),
        actor,
        &format!("purchase.{}", action.as_str()),
        &p.id.to_string(),
        json!({"topic": p.topic.to_string(), "buyer": p.buyer.as_str(), "from": p.state.as_str(), "to": to.as_str(), "by": party.as_str(), "reason": reason}),
    )
    .await?;
    let topic = &p.topic;
    let why = reason
        .as_deref()
        .map(|r| format!(" Reason: {r}"))
        .unwrap_or_default();
    let (to_buyer, to_seller): (Note, Note) = match action {
        PurchaseAction::Approve => (
            Some((
                NotificationKind::PurchaseApproved,
                format!("Your request for {topic} was approved; access is open.{why}"),
            )),
            None,
        ),
        PurchaseAction::Decline => (
            Some((
                NotificationKind::PurchaseDeclined,
                format!("Your request for {topic} was declined.{why}"),
            )),
            None,
        ),
        // Agora revokes only when the product (or its hub) is deleted.
        PurchaseAction::Revoke if party == Party::System => (
            Some((
                NotificationKind::ProductDeleted,
                format!("Product {topic} was deleted by its seller; your access ended."),
            )),
            None,
        ),
        PurchaseAction::Revoke => (
            Some((
                NotificationKind::AccessEnded,
                format!("Your access to {topic} was revoked.{why}"),
            )),
            None,
        ),
        PurchaseAction::Cancel => (
            None,
            Some((
                NotificationKind::AccessEnded,
                format!("{} cancelled their purchase of {topic}.", p.buyer),
            )),
        ),
        PurchaseAction::Expire => (
            Some((
                NotificationKind::AccessEnded,
                format!("Your access to {topic} expired."),
            )),
            None,
        ),
        PurchaseAction::Exhaust => (
            Some((
                NotificationKind::AccessEnded,
                format!("Your message quota for {topic} is used up."),
            )),
            None,
        ),
    };
    if let Some((kind, msg)) = to_buyer {
        notifications::notify(w.conn(), p.buyer_id, kind, &msg, Some(topic), Some(p.id)).await?;
    }
    if let Some((kind, msg)) = to_seller {
        notifications::notify(w.conn(), p.seller_id, kind, &msg, Some(topic), Some(p.id)).await?;
    }
    w.emit(match to {
        PurchaseState::Active => MarketEvent::PurchaseActivated {
            purchase_id: p.id,
            buyer: p.buyer.clone(),
            product_id: p.product_id,
            topic: topic.clone(),
        },
        PurchaseState::Declined => MarketEvent::PurchaseDeclined {
            purchase_id: p.id,
            buyer: p.buyer.clone(),
        },
        state => MarketEvent::PurchaseEnded {
            purchase_id: p.id,
            buyer: p.buyer.clone(),
            product_id: p.product_id,
            topic: topic.clone(),
            state,
        },
    });
    Ok(updated)
}

/// Ends every pending (declined) and active (`action`) purchase of a product, as `party`,
/// inside `w`; returns the buyers whose access ended. Used when a product or hub goes away.
pub(crate) async fn end_all_for_product(
    w: &mut WriteTx<'_>,
    product: ProductId,
    action: PurchaseAction,
    party: Party,
    reason: &str,
) -> Result<Vec<AccountId>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE u.product_id = ? AND u.state IN ('pending', 'active')"
    )))
    .bind(product.to_string())
    .fetch_all(w.conn())
    .await?;
    let now = crate::now();
    let mut ended = Vec::new();
    for r in &rows {
        let p = purchase_from_row(r)?;
        let a = if p.state == PurchaseState::Pending {
            PurchaseAction::Decline
        } else {
            action
        };
        apply(w, None, &p, a, party, Some(reason.to_owned()), now).await?;
        if p.state == PurchaseState::Active {
            ended.push(p.buyer_id);
        }
    }
    Ok(ended)
}

impl Store {
    /// Buys a product, or asks for it when it is restricted (the returned purchase is then
    /// `pending`; `active` otherwise). Buying again while a purchase on the same plan is
    /// live extends it (period) or adds to its quota (messages). Sellers cannot buy their
    /// own products; a second request while one is pending is a `Conflict`.
    pub async fn purchase(
        &self,
        actor: &Actor,
        topic: &ProductTopic,
        message: Option<&str>,
    ) -> Result<Purchase> {
        let now = crate::now();
        let mut w = self.write_as(actor).await?;
        let product = products::find(w.conn(), topic)
            .await?
            .ok_or(StoreError::NotFound { what: "product" })?;
        let seller_suspended: bool =
            sqlx::query_scalar("SELECT suspended FROM accounts WHERE id = ?")
                .bind(product.owner_id.to_string())
                .fetch_one(w.conn())
                .await?;
        if seller_suspended {
            return Err(StoreError::NotFound { what: "product" });
        }
        let current = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE u.product_id = ? AND u.buyer_id = ? AND u.state IN ('pending', 'active')")))
            .bind(product.id.to_string())
            .bind(actor.id.to_string())
            .fetch_all(w.conn())
            .await?
            .iter()
            .map(purchase_from_row)
            .collect::<Result<Vec<_>>>()?;
        let plan = product.details.plan;
        let decision = purchase::decide_with_day(
            product.owner_id,
            actor.id,
            &plan,
            product.details.restricted,
            message,
            &current,
            now,
            w.plan_day,
        )?;
        let id = match decision {
            Decision::AlreadyActive(id) => {
                w.commit().await?;
                return self.get_purchase(actor, id).await;
            }
            Decision::Extend {
                id,
                ends_at,
                quota_messages,
            } => {
                sqlx::query(
                    "UPDATE purchases SET ends_at = coalesce(?, ends_at), quota_messages = coalesce(?, quota_messages),
                     paid_cents = paid_cents + ?, ending_notified_at = NULL WHERE id = ?",
                )
                    .bind(opt_ts(ends_at))
                    .bind(quota_messages.map(rows::i64_of))
                    .bind(plan.price_cents())
                    .bind(id.to_string())
                    .execute(w.conn())
                    .await?;
                audit::record(w.conn(), Some(actor), "purchase.extend", &id.to_string(), json!({"topic": topic.to_string(), "ends_at": opt_ts(ends_at), "quota_messages": quota_messages})).await?;
                notifications::notify(
                    w.conn(),
                    actor.id,
                    NotificationKind::AccessGranted,
                    &format!("Your access to {topic} was extended."),
                    Some(topic),
                    Some(id),
                )
                .await?;
                notifications::notify(
                    w.conn(),
                    product.owner_id,
                    NotificationKind::AccessGranted,
                    &format!("{} extended their purchase of {topic}.", actor.name),
                    Some(topic),
                    Some(id),
                )
                .await?;
                w.emit(MarketEvent::PurchaseActivated {
                    purchase_id: id,
                    buyer: actor.name.clone(),
                    product_id: product.id,
                    topic: topic.clone(),
                });
                id
            }
            Decision::New {
                state,
                ends_at,
                quota_messages,
                message,
            } => {
                let id = PurchaseId::new();
                let (days, count) = match plan {
                    Plan::Free => (None, None),
                    Plan::Period { days, .. } => (Some(i64::from(days)), None),
                    Plan::Messages { count, .. } => (None, Some(rows::i64_of(count))),
                };
                let active = state == PurchaseState::Active;
                sqlx::query(
                    "INSERT INTO purchases (id, product_id, buyer_id, seller_id, topic, plan_kind, plan_days, plan_count, price_cents, paid_cents,
                     state, message, created_at, started_at, ends_at, quota_messages) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .bind(id.to_string())
                .bind(product.id.to_string())
                .bind(actor.id.to_string())
                .bind(product.owner_id.to_string())
                .bind(topic.to_string())
                .bind(plan.kind_str())
                .bind(days)
                .bind(count)
                .bind(plan.price_cents())
                // No real money moves; a request is "paid" when the seller approves it.
                .bind(if active { plan.price_cents() } else { 0 })
                .bind(state.as_str())
                .bind(message.clone())
                .bind(ts(now))
                .bind(active.then_some(ts(now)))
                .bind(opt_ts(ends_at))
                .bind(quota_messages.map(rows::i64_of))
                .execute(w.conn())
                .await?;
                audit::record(
                    w.conn(),
                    Some(actor),
                    if active {
                        "purchase.buy"
                    } else {
                        "purchase.request"
                    },
                    &id.to_string(),
                    json!({"topic": topic.to_string(), "plan": plan}),
                )
                .await?;
                if active {
                    notifications::notify(
                        w.conn(),
                        actor.id,
                        NotificationKind::AccessGranted,
                        &format!("You can now subscribe to {topic}."),
                        Some(topic),
                        Some(id),
                    )
                    .await?;
                    notifications::notify(
                        w.conn(),
                        product.owner_id,
                        NotificationKind::AccessGranted,
                        &format!("{} bought {topic}.", actor.name),
                        Some(topic),
                        Some(id),
                    )
                    .await?;
                    w.emit(MarketEvent::PurchaseActivated {
                        purchase_id: id,
                        buyer: actor.name.clone(),
                        product_id: product.id,
                        topic: topic.clone(),
                    });
                } else {
                    let msg = format!(
                        "{} asks for {topic}: {}",
                        actor.name,
                        message.as_deref().unwrap_or("")
                    );
                    notifications::notify(
                        w.conn(),
                        product.owner_id,
                        NotificationKind::PurchaseRequested,
                        &msg,
                        Some(topic),
                        Some(id),
                    )
                    .await?;
                }
                id
            }
        };
        let p = load(w.conn(), id)
            .await?
            .ok_or(StoreError::NotFound { what: "purchase" })?;
        w.commit().await?;
        Ok(p)
    }

    async fn transition(
        &self,
        actor: &Actor,
        id: PurchaseId,
        action: PurchaseAction,
        reason: Option<&str>,
    ) -> Result<Purchase> {
        let reason = purchase::check_reason(reason)?;
        // Ending access is always allowed (a suspended seller may still revoke, a suspended
        // buyer cancel); granting or refusing it needs an account in good standing.
        let mut w = if matches!(action, PurchaseAction::Approve | PurchaseAction::Decline) {
            self.write_as(actor).await?
        } else {
            self.write().await?
        };
        let p = load(w.conn(), id)
            .await?
            .ok_or(StoreError::NotFound { what: "purchase" })?;
        let party = party_of(actor, &p)?;
        let updated = apply(&mut w, Some(actor), &p, action, party, reason, crate::now()).await?;
        w.commit().await?;
        Ok(updated)
    }

    /// The seller approves a pending request: it becomes active from now.
    pub async fn approve_purchase(
        &self,
        actor: &Actor,
        id: PurchaseId,
        reason: Option<&str>,
    ) -> Result<Purchase> {
        self.transition(actor, id, PurchaseAction::Approve, reason)
            .await
    }

    /// The seller declines a pending request.
    pub async fn decline_purchase(
        &self,
        actor: &Actor,
        id: PurchaseId,
        reason: Option<&str>,
    ) -> Result<Purchase> {
        self.transition(actor, id, PurchaseAction::Decline, reason)
            .await
    }

    /// The seller (or an admin) ends an active purchase.
    pub async fn revoke_purchase(
        &self,
        actor: &Actor,
        id: PurchaseId,
        reason: Option<&str>,
    ) -> Result<Purchase> {
        self.transition(actor, id, PurchaseAction::Revoke, reason)
            .await
    }

    /// The buyer ends their active purchase.
    pub async fn cancel_purchase(
        &self,
        actor: &Actor,
        id: PurchaseId,
        reason: Option<&str>,
    ) -> Result<Purchase> {
        self.transition(actor, id, PurchaseAction::Cancel, reason)
            .await
    }

    /// One purchase, for its buyer, its seller or an admin; `NotFound` for anyone else.
    pub async fn get_purchase(&self, actor: &Actor, id: PurchaseId) -> Result<Purchase> {
        let mut conn = self.pool.acquire().await?;
        let p = load(&mut conn, id)
            .await?
            .ok_or(StoreError::NotFound { what: "purchase" })?;
        party_of(actor, &p)?;
        Ok(p)
    }

    async fn list_where(
        &self,
        column: &'static str,
        value: Option<String>,
        page: &PageRequest,
    ) -> Result<Page<Purchase>> {
        let limit = page.limit();
        let after = page.after_id()?;
        let sql = format!(
            "{SELECT} WHERE (? IS NULL OR u.{column} = ?) AND (? IS NULL OR u.id < ?) ORDER BY u.id DESC LIMIT ?"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(value.clone())
            .bind(value)
            .bind(after.clone())
            .bind(after)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(purchase_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |p| p.id.to_string()))
    }

    /// The actor's purchases as buyer, newest first, with usage.
    pub async fn list_purchases(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<Purchase>> {
        self.list_where("buyer_id", Some(actor.id.to_string()), page)
            .await
    }

    /// The actor's purchases (as buyer) of one topic, newest first, in any state, including
    /// those of an earlier, deleted product of the same topic (for the product page: "your
    /// purchase: active, 12 days left", and whether the visitor may rate).
    pub async fn list_purchases_of(
        &self,
        actor: &Actor,
        topic: &ProductTopic,
    ) -> Result<Vec<Purchase>> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE u.buyer_id = ? AND u.topic = ? ORDER BY u.id DESC LIMIT 1000"
        )))
        .bind(actor.id.to_string())
        .bind(topic.to_string())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(purchase_from_row).collect()
    }

    /// The actor's sales as seller (requests included), newest first, with usage.
    pub async fn list_sales(&self, actor: &Actor, page: &PageRequest) -> Result<Page<Purchase>> {
        self.list_where("seller_id", Some(actor.id.to_string()), page)
            .await
    }

    /// Every purchase (admins only), newest first.
    pub async fn list_all_purchases(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<Purchase>> {
        require_admin(actor)?;
        self.list_where("buyer_id", None, page).await
    }

    /// The actor's sales totals. Pending and declined requests are not sales and bring no
    /// revenue; extensions add their price.
    pub async fn sales_totals(&self, actor: &Actor) -> Result<SalesTotals> {
        let r = sqlx::query(
            "SELECT
               coalesce(sum(CASE WHEN state NOT IN ('pending', 'declined') THEN 1 ELSE 0 END), 0) AS sales,
               coalesce(sum(CASE WHEN state = 'active' THEN 1 ELSE 0 END), 0) AS active,
               coalesce(sum(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS pending,
               coalesce(sum(CASE WHEN state NOT IN ('pending', 'declined') THEN paid_cents ELSE 0 END), 0) AS revenue,
               coalesce(sum(used_messages), 0) AS messages,
               coalesce(sum(used_bytes), 0) AS bytes
             FROM purchases WHERE seller_id = ?",
        )
        .bind(actor.id.to_string())
        .fetch_one(&self.pool)
        .await?;
        Ok(SalesTotals {
            sales: rows::u64_col(&r, "sales")?,
            active: rows::u64_col(&r, "active")?,
            pending: rows::u64_col(&r, "pending")?,
            revenue_cents: r.try_get("revenue")?,
            messages: rows::u64_col(&r, "messages")?,
            bytes: rows::u64_col(&r, "bytes")?,
        })
    }

    /// Adds delivered messages and bytes to a purchase (the broker's meter). A messages
    /// purchase whose quota is reached becomes `exhausted`, with its event.
    pub async fn add_usage(
        &self,
        purchase_id: PurchaseId,
        messages: u64,
        bytes: u64,
    ) -> Result<Purchase> {
        self.add_usage_batch(&[(purchase_id, messages, bytes)])
            .await?
            .into_iter()
            .next()
            .ok_or(StoreError::NotFound { what: "purchase" })
    }

    /// [`Store::add_usage`] for many purchases in one transaction (one meter flush).
    /// Unknown ids are skipped; returns the updated purchases.
    pub async fn add_usage_batch(&self, usage: &[(PurchaseId, u64, u64)]) -> Result<Vec<Purchase>> {
        let now = crate::now();
        let mut w = self.write().await?;
        let mut out = Vec::with_capacity(usage.len());
        for &(id, messages, bytes) in usage {
            let n = sqlx::query("UPDATE purchases SET used_messages = used_messages + ?, used_bytes = used_bytes + ? WHERE id = ?")
                .bind(rows::i64_of(messages))
                .bind(rows::i64_of(bytes))
                .bind(id.to_string())
                .execute(w.conn())
                .await?
                .rows_affected();
            if n == 0 {
                continue;
            }
            let Some(p) = load(w.conn(), id).await? else {
                continue;
            };
            let p = if p.state == PurchaseState::Active
                && p.quota_messages.is_some_and(|q| p.used_messages >= q)
            {
                apply(
                    &mut w,
                    None,
                    &p,
                    PurchaseAction::Exhaust,
                    Party::System,
                    Some("message quota used up".into()),
                    now,
                )
                .await?
            } else {
                p
            };
            out.push(p);
        }
        w.commit().await?;
        Ok(out)
    }

    /// Moves every active period purchase whose end is at or before `now` to `expired`,
    /// with notifications and events; returns their ids. The server calls it on a timer.
    pub async fn expire_due(&self, now: OffsetDateTime) -> Result<Vec<PurchaseId>> {
        let mut w = self.write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{SELECT} WHERE u.state = 'active' AND u.ends_at IS NOT NULL AND u.ends_at <= ? ORDER BY u.ends_at")))
            .bind(ts(now))
            .fetch_all(w.conn())
            .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for r in &rows {
            let p = purchase_from_row(r)?;
            apply(
                &mut w,
                None,
                &p,
                PurchaseAction::Expire,
                Party::System,
                Some("the period ended".into()),
                now,
            )
            .await?;
            ids.push(p.id);
        }
        w.commit().await?;
        Ok(ids)
    }

    /// Tells buyers whose active period purchase ends within `within` of `now` that it ends
    /// soon, once per period; returns the purchases concerned. The server calls it on a
    /// timer beside [`Store::expire_due`].
    pub async fn notify_ending_soon(
        &self,
        now: OffsetDateTime,
        within: time::Duration,
    ) -> Result<Vec<PurchaseId>> {
        let mut w = self.write().await?;
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "{SELECT} WHERE u.state = 'active' AND u.ends_at > ? AND u.ends_at <= ? AND u.ending_notified_at IS NULL ORDER BY u.ends_at"
        )))
        .bind(ts(now))
        .bind(ts(now + within))
        .fetch_all(w.conn())
        .await?;
        let mut ids = Vec::with_capacity(rows.len());
        for r in &rows {
            let p = purchase_from_row(r)?;
            sqlx::query("UPDATE purchases SET ending_notified_at = ? WHERE id = ?")
                .bind(ts(now))
                .bind(p.id.to_string())
                .execute(w.conn())
                .await?;
            let when = p.ends_at.map(|e| e.to_string()).unwrap_or_default();
            notifications::notify(
                w.conn(),
                p.buyer_id,
                NotificationKind::AccessEndingSoon,
                &format!("Your access to {} ends at {when}.", p.topic),
                Some(&p.topic),
                Some(p.id),
            )
            .await?;
            ids.push(p.id);
        }
        w.commit().await?;
        Ok(ids)
    }
}
