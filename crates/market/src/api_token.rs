//! Personal REST API tokens (SPEC §3): many per account, named, shown once, stored hashed,
//! revocable, optional expiry.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountId, ApiTokenId, Label};

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiTokenKind {
    /// Made by its owner for the REST API (listed under `/tokens`).
    Personal,
    /// Made by the web UI at login and kept in a cookie (listed apart).
    WebSession,
}

impl ApiTokenKind {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Personal => "personal",
            Self::WebSession => "web_session",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "personal" => Some(Self::Personal),
            "web_session" => Some(Self::WebSession),
            _ => None,
        }
    }
}

/// An API token as listed (never with its secret or hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiToken {
    /// Its id.
    pub id: ApiTokenId,
    /// The account it acts for.
    pub account_id: AccountId,
    /// The owner's label.
    pub name: Label,
    /// Personal token or browser session.
    pub kind: ApiTokenKind,
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
