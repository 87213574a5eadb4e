//! The one validation error of the domain: which field, and why.
//!
//! Every constructor in this crate that checks input returns a [`ValidationError`]. It names
//! the field so that the web layer can answer `{"error": {"code": "invalid", "field": …}}`
//! without knowing the rule.

use std::fmt;

/// Input that breaks a market rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// The field (e.g. `hub_name`, `price_cents`); web layers may rename it with
    /// [`ValidationError::with_field`].
    pub field: &'static str,
    /// A sentence for a person, saying what is allowed.
    pub message: String,
}

impl ValidationError {
    /// A new error for `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        Self {
            field,
            message: message.into(),
        }
    }

    /// The same error reported under another field name (e.g. `name` in a request body).
    #[must_use]
    pub fn with_field(mut self, field: &'static str) -> Self {
        self.field = field;
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for ValidationError {}
