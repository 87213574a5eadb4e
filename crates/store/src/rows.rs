//! Reading typed values out of rows: every stored value is parsed back through the domain's
//! constructors, so a hand-edited database cannot smuggle an invalid name in.

use std::str::FromStr;

use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::{Result, StoreError};

pub(crate) fn ts(t: OffsetDateTime) -> i64 {
    t.unix_timestamp()
}

pub(crate) fn opt_ts(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(ts)
}

fn corrupt(col: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("column {col}: {e}"))
}

pub(crate) fn time(row: &SqliteRow, col: &str) -> Result<OffsetDateTime> {
    let s: i64 = row.try_get(col)?;
    OffsetDateTime::from_unix_timestamp(s).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_time(row: &SqliteRow, col: &str) -> Result<Option<OffsetDateTime>> {
    let s: Option<i64> = row.try_get(col)?;
    s.map(|s| OffsetDateTime::from_unix_timestamp(s).map_err(|e| corrupt(col, e)))
        .transpose()
}

/// Parses a column through `FromStr` (ids, names, topics).
pub(crate) fn parse<T>(row: &SqliteRow, col: &str) -> Result<T>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: String = row.try_get(col)?;
    s.parse().map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_parse<T>(row: &SqliteRow, col: &str) -> Result<Option<T>>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    let s: Option<String> = row.try_get(col)?;
    s.map(|s| s.parse().map_err(|e| corrupt(col, e)))
        .transpose()
}

pub(crate) fn u64_col(row: &SqliteRow, col: &str) -> Result<u64> {
    let v: i64 = row.try_get(col)?;
    u64::try_from(v).map_err(|e| corrupt(col, e))
}

pub(crate) fn opt_u64(row: &SqliteRow, col: &str) -> Result<Option<u64>> {
    let v: Option<i64> = row.try_get(col)?;
    v.map(|v| u64::try_from(v).map_err(|e| corrupt(col, e)))
        .transpose()
}

pub(crate) fn corrupt_value(col: &str, e: impl std::fmt::Display) -> StoreError {
    corrupt(col, e)
}

/// SQLite stores integers as i64; our counters are u64 but never near 2^63.
pub(crate) fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
pub(crate) fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

pub(crate) fn time_of(s: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp(s).map_err(|e| corrupt("time", e))
}
