//! In-app notifications (SPEC §5).

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountId, NotificationId, ProductTopic, PurchaseId};

/// What a notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// To the seller: a buyer asks for a restricted product.
    PurchaseRequested,
    /// To the buyer: the seller approved.
    PurchaseApproved,
    /// To the buyer: the seller declined.
    PurchaseDeclined,
    /// To both: access started (or was extended).
    AccessGranted,
    /// To the buyer: access ends soon.
    AccessEndingSoon,
    /// To both: access ended (expired, exhausted, cancelled, revoked).
    AccessEnded,
    /// To buyers: a product they held was deleted.
    ProductDeleted,
    /// To the owner: a device credential was replaced.
    DeviceRotated,
    /// To the owner: the account was suspended or restored.
    AccountSuspended,
}

impl NotificationKind {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PurchaseRequested => "purchase_requested",
            Self::PurchaseApproved => "purchase_approved",
            Self::PurchaseDeclined => "purchase_declined",
            Self::AccessGranted => "access_granted",
            Self::AccessEndingSoon => "access_ending_soon",
            Self::AccessEnded => "access_ended",
            Self::ProductDeleted => "product_deleted",
            Self::DeviceRotated => "device_rotated",
            Self::AccountSuspended => "account_suspended",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "purchase_requested" => Self::PurchaseRequested,
            "purchase_approved" => Self::PurchaseApproved,
            "purchase_declined" => Self::PurchaseDeclined,
            "access_granted" => Self::AccessGranted,
            "access_ending_soon" => Self::AccessEndingSoon,
            "access_ended" => Self::AccessEnded,
            "product_deleted" => Self::ProductDeleted,
            "device_rotated" => Self::DeviceRotated,
            "account_suspended" => Self::AccountSuspended,
            _ => return None,
        })
    }
}

/// A notification for one account.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// Its id.
    pub id: NotificationId,
    /// Who it is for.
    pub account_id: AccountId,
    /// What it is about.
    pub kind: NotificationKind,
    /// A sentence for a person.
    pub message: String,
    /// The product concerned, if any.
    pub topic: Option<ProductTopic>,
    /// The purchase concerned, if any.
    pub purchase_id: Option<PurchaseId>,
    /// When it was made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was read.
    #[serde(with = "time::serde::rfc3339::option")]
    pub read_at: Option<OffsetDateTime>,
}

#[cfg(test)]
mod tests {
    use super::NotificationKind as K;

    #[test]
    fn kinds_round_trip_through_their_stored_form() {
        for k in [
            K::PurchaseRequested,
            K::PurchaseApproved,
            K::PurchaseDeclined,
            K::AccessGranted,
            K::AccessEndingSoon,
            K::AccessEnded,
            K::ProductDeleted,
            K::DeviceRotated,
            K::AccountSuspended,
        ] {
            assert_eq!(K::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).ok(),
                Some(serde_json::Value::String(k.as_str().to_owned()))
            );
        }
        assert_eq!(K::parse("nope"), None);
    }
}
