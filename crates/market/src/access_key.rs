//! Buyers' MQTT access keys (SPEC §3): many per account, shown once, stored hashed,
//! revocable alone, optionally limited to some products and an expiry.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccessKeyId, AccountId, Label, ProductId, ProductTopic};

/// Most products one key may be limited to.
pub const PRODUCTS_MAX: usize = 100;

/// An access key as listed (never with its secret or hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AccessKey {
    /// Its id.
    pub id: AccessKeyId,
    /// The account it logs in as (MQTT username = account name).
    pub account_id: AccountId,
    /// The owner's label.
    pub name: Label,
    /// When non-empty, the key opens only these products; empty means all the account may read.
    pub products: Vec<ProductId>,
    /// The topics of `products`, in the same order (kept after a product is deleted).
    pub topics: Vec<ProductTopic>,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was revoked, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl AccessKey {
    /// Whether the key works at `now`.
    #[must_use]
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| e > now)
    }

    /// Whether the key may be used for `product`.
    #[must_use]
    pub fn covers(&self, product: ProductId) -> bool {
        self.products.is_empty() || self.products.contains(&product)
    }
}

/// Checks an expiry given at creation: it must be in the future.
pub fn check_expiry(
    expires_at: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> Result<(), crate::ValidationError> {
    match expires_at {
        Some(e) if e <= now => Err(crate::ValidationError::new(
            "expires_at",
            "must be in the future",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::Duration;

    fn key(products: Vec<ProductId>) -> AccessKey {
        AccessKey {
            id: AccessKeyId::new(),
            account_id: AccountId::new(),
            name: Label::parse("name", "laptop").expect("label"),
            topics: vec![],
            products,
            expires_at: None,
            created_at: OffsetDateTime::UNIX_EPOCH,
            revoked_at: None,
        }
    }

    #[test]
    fn an_unlimited_key_covers_every_product() {
        assert!(key(vec![]).covers(ProductId::new()));
    }

    #[test]
    fn a_limited_key_covers_only_its_products() {
        let p = ProductId::new();
        let k = key(vec![p]);
        assert!(k.covers(p));
        assert!(!k.covers(ProductId::new()));
    }

    #[test]
    fn revoked_or_expired_keys_are_not_live() {
        let now = OffsetDateTime::UNIX_EPOCH + Duration::days(1);
        let mut k = key(vec![]);
        assert!(k.is_live(now));
        k.expires_at = Some(now);
        assert!(!k.is_live(now));
        k.expires_at = None;
        k.revoked_at = Some(now);
        assert!(!k.is_live(now));
        assert!(check_expiry(Some(now), now).is_err());
        assert!(check_expiry(Some(now + Duration::seconds(1)), now).is_ok());
    }
}
