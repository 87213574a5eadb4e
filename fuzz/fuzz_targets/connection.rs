//! Arbitrary bytes through one broker connection, after an optional valid
//! CONNECT: the broker must never panic and must close the connection by
//! itself once the client is done. The harness is the one `cargo test`
//! replays the corpus with (`crates/broker/tests/e2e/connection_input.rs`).

#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../../crates/broker/tests/e2e/connection_input.rs"]
mod connection_input;

fuzz_target!(|data: &[u8]| {
    connection_input::run(data);
});
