//! Input layout shared by the targets and by the corpus replay test
//! (`crates/mqtt/tests/codec/helpers.rs`, which must stay in step): the first
//! byte is the mode, the rest what a connection receives.

use agora_mqtt::Protocol;

/// Bits 0–1 of the mode byte pick the protocol state (0 or 3: nothing
/// received yet, 1: 3.1.1, 2: 5.0); bit 2 a maximum packet size of 64 bytes
/// instead of 1 MiB. Bits 3–7 are free for the target's own use.
pub fn mode(first: u8) -> (Option<Protocol>, usize) {
    let protocol = match first & 0b11 {
        1 => Some(Protocol::V311),
        2 => Some(Protocol::V5),
        _ => None,
    };
    let max = if first & 0b100 != 0 { 64 } else { 1 << 20 };
    (protocol, max)
}
