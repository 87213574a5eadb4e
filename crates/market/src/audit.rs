//! The audit log: who changed what, kept when the thing itself is deleted.

use serde::Serialize;
use time::OffsetDateTime;

use crate::AccountName;

/// One audited change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Sequence number.
    pub id: i64,
    /// When.
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who, or `None` for Agora itself.
    pub actor: Option<AccountName>,
    /// What, e.g. `purchase.approve`, `device.rotate`.
    pub action: String,
    /// On what, e.g. a topic, a device username, a purchase id.
    pub subject: String,
    /// Details (never secrets).
    pub detail: serde_json::Value,
}
