//! Free-text labels people give to tokens and access keys ("laptop", "CI").

use std::fmt;

use serde::Serialize;

use crate::ValidationError;

/// A short human label: 1–64 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Label(String);

impl Label {
    /// Maximum length in characters.
    pub const MAX: usize = 64;

    /// Validates a label for `field`.
    pub fn parse(field: &'static str, input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if s.chars().count() > Self::MAX {
            return Err(ValidationError::new(
                field,
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                field,
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The label.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Label {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
