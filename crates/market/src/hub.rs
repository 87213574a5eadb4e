//! Hubs: a seller's group of devices and products (`alice/home`).

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountId, AccountName, HubId, HubName};

/// A hub. Public hubs are listed to everyone; private hubs only to their owner, though their
/// products can still be listed and bought (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hub {
    /// Its id.
    pub id: HubId,
    /// The owner's id.
    pub owner_id: AccountId,
    /// The owner's name.
    pub owner: AccountName,
    /// The hub's name.
    pub name: HubName,
    /// Whether it is listed to everyone.
    pub public: bool,
    /// A free description (≤ 2000 characters).
    pub description: String,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Longest hub description, in characters.
pub const DESCRIPTION_MAX: usize = 2000;

/// Checks a hub description.
pub fn check_description(s: &str) -> Result<(), crate::ValidationError> {
    if s.chars().count() > DESCRIPTION_MAX {
        return Err(crate::ValidationError::new(
            "description",
            format!("must be at most {DESCRIPTION_MAX} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn hub_descriptions_are_bounded() {
        assert!(super::check_description("").is_ok());
        assert!(super::check_description(&"é".repeat(super::DESCRIPTION_MAX)).is_ok());
        assert_eq!(
            super::check_description(&"x".repeat(super::DESCRIPTION_MAX + 1)).map_err(|e| e.field),
            Err("description")
        );
    }
}
