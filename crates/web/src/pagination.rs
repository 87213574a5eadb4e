//! Lists: `?limit=&cursor=` in, `{"items": [...], "next_cursor": …}` out.
//!
//! Cursors are opaque to clients: a client passes back the `next_cursor` it
//! was given and nothing else. `next_cursor` is `null` on the last page.
//! The store makes the cursors (keyset on the id for lists, so pages stay
//! correct while rows come and go; an offset for searches sorted otherwise);
//! this module checks the parameters and gives the page its OpenAPI schema.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::error::ApiError;

/// Items per page when the client does not say, and the largest page a client may ask
/// for: the store's, so that the API never promises what the store would clamp.
pub use agora_store::page::{DEFAULT_LIMIT, MAX_LIMIT};

/// The paging parameters of every list.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1–100 (default 50).
    #[param(minimum = 1, maximum = 100, example = 20)]
    pub limit: Option<u32>,
    /// The `next_cursor` of the previous page; omit for the first page.
    pub cursor: Option<String>,
}

/// Validated paging parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page, within 1..=[`MAX_LIMIT`].
    pub limit: u32,
    /// Where the previous page stopped.
    pub cursor: Option<String>,
}

impl PageParams {
    /// Checks the limit (422 `validation` on `limit` when out of range).
    pub fn validate(self) -> Result<PageRequest, ApiError> {
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            return Err(ApiError::validation(
                "limit",
                format!("limit must be between 1 and {MAX_LIMIT}"),
            ));
        }
        let cursor = self.cursor.filter(|c| !c.is_empty());
        Ok(PageRequest { limit, cursor })
    }
}

/// One page of a list.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Page<T> {
    /// The items of this page, in the list's order.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Maps every item, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_outside_the_range_are_refused_with_the_field() {
        for bad in [0, MAX_LIMIT + 1] {
            let p = PageParams {
                limit: Some(bad),
                cursor: None,
            };
            let e = p.validate().err().map(|e| e.field().map(str::to_owned));
            assert_eq!(e, Some(Some("limit".to_owned())));
        }
        let ok = PageParams::default().validate().ok().map(|r| r.limit);
        assert_eq!(ok, Some(DEFAULT_LIMIT));
    }
}
