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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_trimmed_bounded_and_printable() {
        assert_eq!(
            Label::parse("name", "  laptop ").map(|l| l.to_string()),
            Ok("laptop".to_owned())
        );
        assert!(
            Label::parse("name", "Büro-PC ☕").is_ok(),
            "labels are free text"
        );
        assert_eq!(
            Label::parse("name", "   ").map_err(|e| e.field),
            Err("name")
        );
        assert!(Label::parse("name", &"x".repeat(Label::MAX + 1)).is_err());
        assert!(Label::parse("name", "a\u{7}b").is_err());
        assert!(Label::parse("name", "a\nb").is_err());
    }
}
