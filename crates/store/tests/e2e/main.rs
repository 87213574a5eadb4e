//! Integration tests of the store against a real SQLite file (one binary, linked once).

mod helpers;

mod accounts;
mod devices_and_hubs;
mod keys_ratings_entitlements;
mod products;
mod purchases;
