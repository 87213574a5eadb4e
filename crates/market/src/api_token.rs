//! Personal REST API tokens (SPEC §3): many per account, named, shown once, stored hashed,
//! revocable, optional expiry.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountId, ApiTokenId, Label};

/// An API token as listed (never with its secret or hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    /// Its id.
    pub id: ApiTokenId,
    /// The account it acts for.
    pub account_id: AccountId,
    /// The owner's label.
    pub name: Label,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last authenticated a request.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
}

impl ApiToken {
    /// Whether the token works at `now` (revoked tokens are deleted, so never listed).
    #[must_use]
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        self.expires_at.is_none_or(|e| e > now)
    }
}
