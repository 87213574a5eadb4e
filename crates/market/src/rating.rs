//! Ratings (SPEC §5): 1–5 stars, an optional review, one per buyer and product, only by
//! accounts that hold or held a purchase, so every rating is verified.

use serde::Serialize;
use time::OffsetDateTime;

use crate::{AccountName, ProductId, ValidationError};

/// Longest review, in characters.
pub const REVIEW_MAX: usize = 2000;

/// 1 to 5 stars.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Stars(u8);

impl Stars {
    /// Validates a star count (I3 never range-checked it).
    pub fn new(n: i64) -> Result<Self, ValidationError> {
        u8::try_from(n)
            .ok()
            .filter(|n| (1..=5).contains(n))
            .map(Self)
            .ok_or_else(|| ValidationError::new("stars", "must be 1 to 5"))
    }

    /// The count.
    #[must_use]
    pub fn get(self) -> u8 {
        self.0
    }
}

/// Checks a review text.
pub fn check_review(review: Option<&str>) -> Result<Option<String>, ValidationError> {
    match review.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r) if r.chars().count() > REVIEW_MAX => Err(ValidationError::new(
            "review",
            format!("must be at most {REVIEW_MAX} characters"),
        )),
        Some(r) => Ok(Some(r.to_owned())),
    }
}

/// A verified rating.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Rating {
    /// The product.
    pub product_id: ProductId,
    /// The buyer who rated.
    pub buyer: AccountName,
    /// The stars.
    pub stars: Stars,
    /// The review.
    pub review: Option<String>,
    /// When it was last written.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_must_be_one_to_five() {
        for ok in 1..=5 {
            assert!(Stars::new(ok).is_ok());
        }
        for bad in [0, 6, -1, 256, i64::MAX] {
            assert_eq!(Stars::new(bad).map_err(|e| e.field), Err("stars"));
        }
    }

    #[test]
    fn reviews_are_bounded() {
        assert_eq!(check_review(Some(" great ")), Ok(Some("great".into())));
        assert!(check_review(Some(&"x".repeat(REVIEW_MAX + 1))).is_err());
    }
}
