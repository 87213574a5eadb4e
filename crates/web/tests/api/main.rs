//! End-to-end tests of the REST API: the real router on a random port over a fresh SQLite
//! store, driven through HTTP as users drive it (one integration binary, linked once).

mod access_keys;
mod accounts;
mod devices;
mod errors;
mod helpers;
mod hubs;
mod journey;
mod notifications_and_ratings;
mod openapi;
mod products;
mod purchases;
mod tokens;
