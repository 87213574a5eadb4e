//! Purchases and their state machine (SPEC §5).
//!
//! ```text
//!            approve (seller)                 expire (system, period end)
//!  pending ───────────────────▶ active ──┬──▶ expired
//!     │                                  ├──▶ exhausted  (system, quota used)
//!     │ decline (seller; system when     ├──▶ cancelled  (buyer)
//!     ▼   the product is deleted)        └──▶ revoked    (seller, admin; system on delete)
//!  declined
//! ```
//!
//! Unrestricted products start `active`; restricted ones start `pending` with the buyer's
//! message, whatever the price. Every transition is checked by [`PurchaseState::apply`] and
//! recorded with who did it and why. Ended states are final; buying again makes a new
//! purchase, or, while a purchase of the same plan is active, extends it ([`decide`]).

use serde::Serialize;
use time::{Duration, OffsetDateTime};

use crate::{AccountId, AccountName, Plan, ProductId, ProductTopic, PurchaseId, ValidationError};

/// Where a purchase is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseState {
    /// Waiting for the seller's approval.
    Pending,
    /// Grants access.
    Active,
    /// The period ended.
    Expired,
    /// The message quota was used up.
    Exhausted,
    /// The buyer ended it.
    Cancelled,
    /// The seller or an admin ended it (also when the product, hub or device goes away).
    Revoked,
    /// The seller declined the request.
    Declined,
}

impl PurchaseState {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Expired => "expired",
            Self::Exhausted => "exhausted",
            Self::Cancelled => "cancelled",
            Self::Revoked => "revoked",
            Self::Declined => "declined",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "active" => Self::Active,
            "expired" => Self::Expired,
            "exhausted" => Self::Exhausted,
            "cancelled" => Self::Cancelled,
            "revoked" => Self::Revoked,
            "declined" => Self::Declined,
            _ => return None,
        })
    }

    /// Whether no transition leaves this state.
    #[must_use]
    pub fn is_final(self) -> bool {
        !matches!(self, Self::Pending | Self::Active)
    }

    /// The state after `action` by `party`, or why it is refused.
    pub fn apply(self, action: PurchaseAction, party: Party) -> Result<Self, TransitionError> {
        use PurchaseAction as A;
        use PurchaseState as S;
        let allowed: &[Party] = match action {
            A::Approve => &[Party::Seller],
            // The system declines and revokes when a product or hub is deleted.
            A::Decline => &[Party::Seller, Party::System],
            A::Revoke => &[Party::Seller, Party::Admin, Party::System],
            A::Cancel => &[Party::Buyer],
            A::Expire | A::Exhaust => &[Party::System],
        };
        if !allowed.contains(&party) {
            return Err(TransitionError::NotAllowed { action, party });
        }
        match (self, action) {
            (S::Pending, A::Approve) => Ok(S::Active),
            (S::Pending, A::Decline) => Ok(S::Declined),
            (S::Active, A::Revoke) => Ok(S::Revoked),
            (S::Active, A::Cancel) => Ok(S::Cancelled),
            (S::Active, A::Expire) => Ok(S::Expired),
            (S::Active, A::Exhaust) => Ok(S::Exhausted),
            (from, action) => Err(TransitionError::WrongState { from, action }),
        }
    }
}

/// A change someone asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PurchaseAction {
    /// The seller grants a pending request.
    Approve,
    /// The seller refuses a pending request.
    Decline,
    /// The seller or an admin takes access away.
    Revoke,
    /// The buyer ends their purchase.
    Cancel,
    /// The period is over.
    Expire,
    /// The quota is used up.
    Exhaust,
}

impl PurchaseAction {
    /// The verb, for messages and the audit log.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Approve => "approve",
            Self::Decline => "decline",
            Self::Revoke => "revoke",
            Self::Cancel => "cancel",
            Self::Expire => "expire",
            Self::Exhaust => "exhaust",
        }
    }
}

/// Who acts on a purchase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// The account that bought.
    Buyer,
    /// The account that sells the product.
    Seller,
    /// An administrator who is neither.
    Admin,
    /// Agora itself (timers, metering, deletions).
    System,
}

impl Party {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buyer => "buyer",
            Self::Seller => "seller",
            Self::Admin => "admin",
            Self::System => "system",
        }
    }
}

/// A refused transition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// This party may never do this.
    #[error("the {} may not {} a purchase", party.as_str(), action.as_str())]
    NotAllowed {
        /// The action.
        action: PurchaseAction,
        /// Who tried.
        party: Party,
    },
    /// Not from this state.
    #[error("cannot {} a purchase that is {}", action.as_str(), from.as_str())]
    WrongState {
        /// The current state.
        from: PurchaseState,
        /// The action.
        action: PurchaseAction,
    },
}

/// A purchase as stored, with its usage.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Purchase {
    /// Its id.
    pub id: PurchaseId,
    /// The product.
    pub product_id: ProductId,
    /// The product's topic (kept after the product is deleted).
    pub topic: ProductTopic,
    /// The buyer.
    pub buyer_id: AccountId,
    /// The buyer's name.
    pub buyer: AccountName,
    /// The seller.
    pub seller_id: AccountId,
    /// The plan as it was when bought.
    pub plan: Plan,
    /// Total paid so far, in cents (grows when extended).
    pub paid_cents: i64,
    /// Its state.
    pub state: PurchaseState,
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
    /// When it left `pending`/`active` for a final state.
    #[serde(with = "time::serde::rfc3339::option")]
    pub ended_at: Option<OffsetDateTime>,
    /// Who made the last transition.
    pub decided_by: Option<Party>,
    /// Why (free text from the actor, or Agora's reason).
    pub reason: Option<String>,
}

impl Purchase {
    /// Whether it grants access at `now`.
    #[must_use]
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.state == PurchaseState::Active
            && self.ends_at.is_none_or(|e| e > now)
            && self.quota_messages.is_none_or(|q| self.used_messages < q)
    }

    /// Messages left on a messages plan.
    #[must_use]
    pub fn remaining_messages(&self) -> Option<u64> {
        self.quota_messages
            .map(|q| q.saturating_sub(self.used_messages))
    }
}

/// Longest request message, in characters.
pub const MESSAGE_MAX: usize = 2000;
/// Longest reason, in characters.
pub const REASON_MAX: usize = 500;

/// Checks a free-text reason given with a transition.
pub fn check_reason(reason: Option<&str>) -> Result<Option<String>, ValidationError> {
    match reason.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) if r.chars().count() > REASON_MAX => Err(ValidationError::new(
            "reason",
            format!("must be at most {REASON_MAX} characters"),
        )),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

/// Why a purchase cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PurchaseError {
    /// Sellers cannot buy their own products (I3 allowed it).
    #[error("a seller cannot buy their own product")]
    OwnProduct,
    /// A request for this product is already waiting for the seller.
    #[error("a request for this product is already pending")]
    AlreadyPending(PurchaseId),
    /// Bad input (the request message).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
}

/// What buying should do, decided from the product and the buyer's current purchases.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Create a new purchase in this state.
    New {
        /// `Active` or `Pending`.
        state: PurchaseState,
        /// For `Active`: end of a period plan.
        ends_at: Option<OffsetDateTime>,
        /// For `Active`: quota of a messages plan.
        quota_messages: Option<u64>,
        /// The checked request message.
        message: Option<String>,
    },
    /// Extend the live purchase: move its end or add to its quota; `paid_cents` grows by the
    /// plan's price.
    Extend {
        /// The purchase to extend.
        id: PurchaseId,
        /// Its new end (period plans).
        ends_at: Option<OffsetDateTime>,
        /// Its new quota (messages plans).
        quota_messages: Option<u64>,
    },
    /// A free purchase is already active: nothing to do.
    AlreadyActive(PurchaseId),
}

/// The real length of one plan day. Stores may shorten it for demos and end-to-end tests
/// (`Store::set_period_day`), so that a one-day plan can end within seconds.
pub const PLAN_DAY: Duration = Duration::days(1);

/// How long `days` plan days last when one day is `day`.
#[must_use]
pub fn period_length(days: u32, day: Duration) -> Duration {
    day.saturating_mul(i32::try_from(days).unwrap_or(i32::MAX))
}

/// The access window of a purchase activated at `now` on `plan`.
#[must_use]
pub fn activation(plan: &Plan, now: OffsetDateTime) -> (Option<OffsetDateTime>, Option<u64>) {
    activation_with_day(plan, now, PLAN_DAY)
}

/// [`activation`] with a plan day of `day`.
#[must_use]
pub fn activation_with_day(
    plan: &Plan,
    now: OffsetDateTime,
    day: Duration,
) -> (Option<OffsetDateTime>, Option<u64>) {
    match *plan {
        Plan::Free => (None, None),
        Plan::Period { days, .. } => (Some(now + period_length(days, day)), None),
        Plan::Messages { count, .. } => (None, Some(count)),
    }
}

/// Decides what a purchase request does (SPEC §5).
///
/// `current` are the buyer's purchases of this product that are `pending` or `active`.
/// Rules: a seller cannot buy their own product; a pending request blocks another; while a
/// purchase on the same plan is live, buying again extends a period (from its current end)
/// or adds a messages quota, with no new approval, since the seller already approved this
/// buyer; a free live purchase is returned as is. Otherwise a new purchase starts `active`,
/// or `pending` when the product is restricted, and then it needs a message.
pub fn decide(
    seller: AccountId,
    buyer: AccountId,
    plan: &Plan,
    restricted: bool,
    message: Option<&str>,
    current: &[Purchase],
    now: OffsetDateTime,
) -> Result<Decision, PurchaseError> {
    decide_with_day(
        seller, buyer, plan, restricted, message, current, now, PLAN_DAY,
    )
}

/// [`decide`] with a plan day of `day` (see [`PLAN_DAY`]).
#[allow(clippy::too_many_arguments)] // the inputs of one rule; a struct would only rename them
pub fn decide_with_day(
    seller: AccountId,
    buyer: AccountId,
    plan: &Plan,
    restricted: bool,
    message: Option<&str>,
    current: &[Purchase],
    now: OffsetDateTime,
    day: Duration,
) -> Result<Decision, PurchaseError> {
    if seller == buyer {
        return Err(PurchaseError::OwnProduct);
    }
    if let Some(p) = current.iter().find(|p| p.state == PurchaseState::Pending) {
        return Err(PurchaseError::AlreadyPending(p.id));
    }
    if let Some(live) = current
        .iter()
        .find(|p| p.is_live(now) && p.plan.kind_str() == plan.kind_str())
    {
        return Ok(match *plan {
            Plan::Free => Decision::AlreadyActive(live.id),
            Plan::Period { days, .. } => {
                let from = live.ends_at.map_or(now, |e| e.max(now));
                Decision::Extend {
                    id: live.id,
                    ends_at: Some(from + period_length(days, day)),
                    quota_messages: None,
                }
            }
            Plan::Messages { count, .. } => Decision::Extend {
                id: live.id,
                ends_at: None,
                quota_messages: Some(live.quota_messages.unwrap_or(0).saturating_add(count)),
            },
        });
    }
    let message = match message.map(str::trim) {
        None | Some("") => None,
        Some(m) if m.chars().count() > MESSAGE_MAX => {
            return Err(ValidationError::new(
                "message",
                format!("must be at most {MESSAGE_MAX} characters"),
            )
            .into());
        }
        Some(m) => Some(m.to_owned()),
    };
    if restricted {
        if message.is_none() {
            return Err(ValidationError::new(
                "message",
                "this product is restricted: tell the seller why you want it",
            )
            .into());
        }
        return Ok(Decision::New {
            state: PurchaseState::Pending,
            ends_at: None,
            quota_messages: None,
            message,
        });
    }
    let (ends_at, quota_messages) = activation_with_day(plan, now, day);
    Ok(Decision::New {
        state: PurchaseState::Active,
        ends_at,
        quota_messages,
        message,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Price;
    use time::macros::datetime;

    const NOW: OffsetDateTime = datetime!(2026-12-03 06:00 UTC);

    fn period() -> Plan {
        Plan::period(30, Price::from_cents(500).expect("price")).expect("plan")
    }

    fn messages() -> Plan {
        Plan::messages(1000, Price::from_cents(100).expect("price")).expect("plan")
    }

    fn purchase(state: PurchaseState, plan: Plan) -> Purchase {
        let (ends_at, quota_messages) = activation(&plan, NOW);
        Purchase {
            id: PurchaseId::new(),
            product_id: ProductId::new(),
            topic: ProductTopic::parse("alice/home/temp").expect("topic"),
            buyer_id: AccountId::new(),
            buyer: AccountName::parse("bob").expect("name"),
            seller_id: AccountId::new(),
            plan,
            paid_cents: plan.price_cents(),
            state,
            message: None,
            created_at: NOW,
            started_at: Some(NOW),
            ends_at,
            quota_messages,
            used_messages: 0,
            used_bytes: 0,
            ended_at: None,
            decided_by: None,
            reason: None,
        }
    }

    #[test]
    fn allowed_transitions_reach_their_states() {
        use PurchaseAction as A;
        use PurchaseState as S;
        assert_eq!(S::Pending.apply(A::Approve, Party::Seller), Ok(S::Active));
        assert_eq!(S::Pending.apply(A::Decline, Party::Seller), Ok(S::Declined));
        assert_eq!(S::Active.apply(A::Revoke, Party::Seller), Ok(S::Revoked));
        assert_eq!(S::Active.apply(A::Revoke, Party::Admin), Ok(S::Revoked));
        assert_eq!(S::Active.apply(A::Cancel, Party::Buyer), Ok(S::Cancelled));
        assert_eq!(S::Active.apply(A::Expire, Party::System), Ok(S::Expired));
        assert_eq!(S::Active.apply(A::Exhaust, Party::System), Ok(S::Exhausted));
    }

    #[test]
    fn buyers_cannot_approve_their_own_requests() {
        assert!(matches!(
            PurchaseState::Pending.apply(PurchaseAction::Approve, Party::Buyer),
            Err(TransitionError::NotAllowed { .. })
        ));
    }

    #[test]
    fn sellers_cannot_cancel_for_the_buyer_and_nobody_but_the_system_expires() {
        assert!(
            PurchaseState::Active
                .apply(PurchaseAction::Cancel, Party::Seller)
                .is_err()
        );
        assert!(
            PurchaseState::Active
                .apply(PurchaseAction::Expire, Party::Seller)
                .is_err()
        );
        assert!(
            PurchaseState::Active
                .apply(PurchaseAction::Exhaust, Party::Admin)
                .is_err()
        );
        assert!(
            PurchaseState::Pending
                .apply(PurchaseAction::Approve, Party::Admin)
                .is_err()
        );
    }

    #[test]
    fn final_states_refuse_every_transition() {
        use PurchaseAction as A;
        use PurchaseState as S;
        for from in [
            S::Expired,
            S::Exhausted,
            S::Cancelled,
            S::Revoked,
            S::Declined,
        ] {
            assert!(from.is_final());
            for (a, p) in [
                (A::Approve, Party::Seller),
                (A::Decline, Party::Seller),
                (A::Revoke, Party::Admin),
                (A::Cancel, Party::Buyer),
                (A::Expire, Party::System),
                (A::Exhaust, Party::System),
            ] {
                assert_eq!(
                    from.apply(a, p),
                    Err(TransitionError::WrongState { from, action: a })
                );
            }
        }
    }

    #[test]
    fn a_pending_request_cannot_be_revoked_cancelled_or_expired() {
        assert!(
            PurchaseState::Pending
                .apply(PurchaseAction::Revoke, Party::Seller)
                .is_err()
        );
        assert!(
            PurchaseState::Pending
                .apply(PurchaseAction::Cancel, Party::Buyer)
                .is_err()
        );
        assert!(
            PurchaseState::Pending
                .apply(PurchaseAction::Expire, Party::System)
                .is_err()
        );
        assert!(
            PurchaseState::Active
                .apply(PurchaseAction::Approve, Party::Seller)
                .is_err()
        );
    }

    #[test]
    fn states_round_trip_through_their_stored_form() {
        for s in [
            PurchaseState::Pending,
            PurchaseState::Active,
            PurchaseState::Expired,
            PurchaseState::Exhausted,
            PurchaseState::Cancelled,
            PurchaseState::Revoked,
            PurchaseState::Declined,
        ] {
            assert_eq!(PurchaseState::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_shortened_plan_day_scales_periods_and_extensions() {
        let day = Duration::seconds(2);
        assert_eq!(
            activation_with_day(&period(), NOW, day).0,
            Some(NOW + Duration::seconds(60))
        );
        let p = purchase(PurchaseState::Active, period());
        let d = decide_with_day(
            AccountId::new(),
            AccountId::new(),
            &period(),
            false,
            None,
            std::slice::from_ref(&p),
            NOW,
            day,
        );
        assert_eq!(
            d,
            Ok(Decision::Extend {
                id: p.id,
                ends_at: p.ends_at.map(|e| e + Duration::seconds(60)),
                quota_messages: None
            })
        );
        assert_eq!(
            period_length(Plan::MAX_DAYS, PLAN_DAY),
            Duration::days(3650)
        );
    }

    #[test]
    fn seller_cannot_buy_own_product() {
        let a = AccountId::new();
        assert_eq!(
            decide(a, a, &Plan::Free, false, None, &[], NOW),
            Err(PurchaseError::OwnProduct)
        );
    }

    #[test]
    fn unrestricted_purchases_are_active_at_once_with_their_window() {
        let d = decide(
            AccountId::new(),
            AccountId::new(),
            &period(),
            false,
            None,
            &[],
            NOW,
        )
        .expect("ok");
        assert_eq!(
            d,
            Decision::New {
                state: PurchaseState::Active,
                ends_at: Some(NOW + Duration::days(30)),
                quota_messages: None,
                message: None
            }
        );
        let d = decide(
            AccountId::new(),
            AccountId::new(),
            &messages(),
            false,
            None,
            &[],
            NOW,
        )
        .expect("ok");
        assert!(matches!(
            d,
            Decision::New {
                state: PurchaseState::Active,
                quota_messages: Some(1000),
                ..
            }
        ));
    }

    #[test]
    fn restricted_purchases_wait_and_need_a_message() {
        let err = decide(
            AccountId::new(),
            AccountId::new(),
            &Plan::Free,
            true,
            Some("  "),
            &[],
            NOW,
        );
        assert!(matches!(
            err,
            Err(PurchaseError::Invalid(ValidationError {
                field: "message",
                ..
            }))
        ));
        let d = decide(
            AccountId::new(),
            AccountId::new(),
            &Plan::Free,
            true,
            Some("research"),
            &[],
            NOW,
        )
        .expect("ok");
        assert_eq!(
            d,
            Decision::New {
                state: PurchaseState::Pending,
                ends_at: None,
                quota_messages: None,
                message: Some("research".into())
            }
        );
    }

    #[test]
    fn a_second_request_while_one_is_pending_is_refused() {
        let p = purchase(PurchaseState::Pending, period());
        let err = decide(
            AccountId::new(),
            AccountId::new(),
            &period(),
            true,
            Some("again"),
            std::slice::from_ref(&p),
            NOW,
        );
        assert_eq!(err, Err(PurchaseError::AlreadyPending(p.id)));
    }

    #[test]
    fn buying_a_period_again_extends_from_its_end() {
        let p = purchase(PurchaseState::Active, period());
        let d = decide(
            AccountId::new(),
            AccountId::new(),
            &period(),
            true,
            None,
            std::slice::from_ref(&p),
            NOW + Duration::days(1),
        )
        .expect("ok");
        assert_eq!(
            d,
            Decision::Extend {
                id: p.id,
                ends_at: Some(NOW + Duration::days(60)),
                quota_messages: None
            }
        );
    }

    #[test]
    fn buying_messages_again_adds_quota() {
        let mut p = purchase(PurchaseState::Active, messages());
        p.used_messages = 400;
        let d = decide(
            AccountId::new(),
            AccountId::new(),
            &messages(),
            false,
            None,
            std::slice::from_ref(&p),
            NOW,
        )
        .expect("ok");
        assert_eq!(
            d,
            Decision::Extend {
                id: p.id,
                ends_at: None,
                quota_messages: Some(2000)
            }
        );
    }

    #[test]
    fn buying_free_again_returns_the_live_purchase() {
        let p = purchase(PurchaseState::Active, Plan::Free);
        let d = decide(
            AccountId::new(),
            AccountId::new(),
            &Plan::Free,
            false,
            None,
            std::slice::from_ref(&p),
            NOW,
        )
        .expect("ok");
        assert_eq!(d, Decision::AlreadyActive(p.id));
    }

    #[test]
    fn a_purchase_past_its_end_or_quota_is_not_live() {
        let p = purchase(PurchaseState::Active, period());
        assert!(p.is_live(NOW));
        assert!(!p.is_live(NOW + Duration::days(30)));
        let mut m = purchase(PurchaseState::Active, messages());
        m.used_messages = 1000;
        assert!(!m.is_live(NOW));
        assert_eq!(m.remaining_messages(), Some(0));
        assert!(!purchase(PurchaseState::Revoked, Plan::Free).is_live(NOW));
    }

    #[test]
    fn reasons_are_trimmed_and_bounded() {
        assert_eq!(check_reason(Some("  spam ")), Ok(Some("spam".into())));
        assert_eq!(check_reason(Some("")), Ok(None));
        assert!(check_reason(Some(&"x".repeat(501))).is_err());
    }
}
