//! Cursor pagination: `limit` plus an opaque `cursor`; a page says where the next one starts.
//!
//! Lists are newest first and keyed by id (UUID v7, time-ordered), so a cursor is the last id
//! served and pages stay correct while rows come and go. Search, whose order may be by
//! title, price or distance, uses an offset inside the cursor instead. Either way the cursor
//! is base64url text that clients pass back untouched.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use agora_market::ValidationError;

/// Default page size.
pub const DEFAULT_LIMIT: u32 = 50;
/// Largest page size.
pub const MAX_LIMIT: u32 = 100;

/// What page to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Items per page (clamped to 1..=100).
    pub limit: u32,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIMIT,
            cursor: None,
        }
    }
}

impl PageRequest {
    /// The first page of `limit` items.
    #[must_use]
    pub fn first(limit: u32) -> Self {
        Self {
            limit,
            cursor: None,
        }
    }

    /// The page after `page`, if any.
    #[must_use]
    pub fn after<T>(limit: u32, page: &Page<T>) -> Option<Self> {
        page.next_cursor.clone().map(|c| Self {
            limit,
            cursor: Some(c),
        })
    }

    pub(crate) fn limit(&self) -> u32 {
        self.limit.clamp(1, MAX_LIMIT)
    }

    /// The id after which to continue (keyset lists).
    pub(crate) fn after_id(&self) -> Result<Option<String>, ValidationError> {
        self.cursor.as_deref().map(|c| decode(c, "k:")).transpose()
    }

    /// The offset to continue at (search).
    pub(crate) fn offset(&self) -> Result<u64, ValidationError> {
        match self.cursor.as_deref() {
            None => Ok(0),
            Some(c) => decode(c, "o:")?.parse().map_err(|_| bad_cursor()),
        }
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// Pass back as `cursor` for the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a keyset page from `limit + 1` fetched rows: the extra row only proves there is
    /// a next page.
    pub(crate) fn keyset(mut items: Vec<T>, limit: u32, id: impl Fn(&T) -> String) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = if more {
            items.last().map(|t| encode(&format!("k:{}", id(t))))
        } else {
            None
        };
        Self { items, next_cursor }
    }

    /// Builds an offset page from `limit + 1` fetched rows starting at `offset`.
    pub(crate) fn offset(mut items: Vec<T>, limit: u32, offset: u64) -> Self {
        let more = items.len() > limit as usize;
        items.truncate(limit as usize);
        let next_cursor = more.then(|| encode(&format!("o:{}", offset + u64::from(limit))));
        Self { items, next_cursor }
    }

    /// Maps the items, keeping the cursor.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_cursor: self.next_cursor,
        }
    }
}

fn encode(s: &str) -> String {
    URL_SAFE_NO_PAD.encode(s)
}

fn decode(cursor: &str, prefix: &str) -> Result<String, ValidationError> {
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad_cursor())?;
    let s = String::from_utf8(raw).map_err(|_| bad_cursor())?;
    s.strip_prefix(prefix)
        .map(str::to_owned)
        .ok_or_else(bad_cursor)
}

fn bad_cursor() -> ValidationError {
    ValidationError::new("cursor", "is not a cursor this list handed out")
}
