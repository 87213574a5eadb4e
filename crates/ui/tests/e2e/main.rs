//! Handler tests: the real router on a real port over a temp SQLite store, driven with a
//! cookie-keeping HTTP client as a browser without JavaScript would.

mod browser;
mod dashboard;
mod helpers;
mod pages;
mod security;

pub(crate) use helpers::*;
