//! Shared helpers: decoding a whole stream the way a connection does.

use agora_mqtt::{DecodeError, Packet, Protocol, decode};
use bytes::BytesMut;

/// The maximum packet size the tests decode with.
pub(crate) const MAX: usize = 1 << 20;

/// Decodes `bytes` as one connection would: CONNECT first when `protocol` is
/// `None`, then that CONNECT's version; stops at the first error or at an
/// incomplete packet, returning what was left undecoded.
pub(crate) fn decode_stream(
    bytes: &[u8],
    mut protocol: Option<Protocol>,
    max: usize,
) -> (Vec<Packet>, Result<usize, DecodeError>) {
    let mut buf = BytesMut::from(bytes);
    let mut packets = Vec::new();
    loop {
        match decode(&mut buf, protocol, max) {
            Ok(Some(p)) => {
                if let Packet::Connect(c) = &p {
                    protocol.get_or_insert(c.protocol);
                }
                packets.push(p);
            }
            Ok(None) => return (packets, Ok(buf.len())),
            Err(e) => return (packets, Err(e)),
        }
    }
}

/// Decodes exactly one packet that must take all of `bytes`.
pub(crate) fn decode_one(bytes: &[u8], protocol: Option<Protocol>) -> Result<Packet, String> {
    let mut buf = BytesMut::from(bytes);
    match decode(&mut buf, protocol, MAX) {
        Ok(Some(p)) if buf.is_empty() => Ok(p),
        Ok(Some(p)) => Err(format!("{} bytes left after {p:?}", buf.len())),
        Ok(None) => Err("incomplete".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// How a corpus or fuzz input's first byte sets up the connection: bits 0–1
/// pick the protocol state (0 or 3: nothing received yet, 1: 3.1.1, 2: 5.0),
/// bit 2 a small maximum packet size (64 bytes) instead of [`MAX`]. The fuzz
/// targets (`fuzz/fuzz_targets/`) read their inputs the same way.
pub(crate) fn mode(first: u8) -> (Option<Protocol>, usize) {
    let protocol = match first & 0b11 {
        1 => Some(Protocol::V311),
        2 => Some(Protocol::V5),
        _ => None,
    };
    let max = if first & 0b100 != 0 { 64 } else { MAX };
    (protocol, max)
}
