//! [`StoreError`]: what callers match on to pick an HTTP status or an MQTT reason.

use agora_market::ValidationError;
use agora_market::purchase::{PurchaseError, TransitionError};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No such thing, or it belongs to someone the actor may not see (404).
    #[error("{what} not found")]
    NotFound {
        /// What was looked for (`hub`, `device`, `product`, `purchase`, …).
        what: &'static str,
    },
    /// A unique name is taken, case-insensitively, or the change collides with the current
    /// state (409).
    #[error("{field}: {message}")]
    Conflict {
        /// The field that collides (`name`, `purchase`, …).
        field: &'static str,
        /// A sentence for a person.
        message: String,
    },
    /// Input broke a market rule (422).
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The actor can see the thing but may not do this (403).
    #[error("{message}")]
    Forbidden {
        /// A sentence for a person.
        message: String,
    },
    /// A purchase transition that its state or the actor's part does not allow (409 for a
    /// wrong state, 403 for a wrong party).
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Wrong name, password, token or key; deliberately not saying which (401).
    #[error("authentication failed")]
    Unauthenticated,
    /// The account is suspended (403; MQTT "not authorized").
    #[error("account suspended")]
    Suspended,
    /// The database failed (500; logged, not shown).
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed at start-up.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored row does not parse: a bug or a hand-edited database (500).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// The database file or its folder could not be created.
    #[error("cannot create the database file {}: {source}", path.display())]
    Io {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Password hashing failed or its task died (500).
    #[error("password hashing: {0}")]
    Hash(String),
}

impl From<PurchaseError> for StoreError {
    fn from(e: PurchaseError) -> Self {
        match e {
            PurchaseError::OwnProduct => Self::Forbidden {
                message: e.to_string(),
            },
            PurchaseError::AlreadyPending(_) => Self::Conflict {
                field: "purchase",
                message: e.to_string(),
            },
            PurchaseError::Invalid(v) => Self::Invalid(v),
        }
    }
}

/// Maps a unique-constraint hit on an insert or update to [`StoreError::Conflict`] on `field`.
pub(crate) fn conflict_on(
    field: &'static str,
    message: &'static str,
) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |e| match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => StoreError::Conflict {
            field,
            message: message.to_owned(),
        },
        _ => StoreError::Database(e),
    }
}
