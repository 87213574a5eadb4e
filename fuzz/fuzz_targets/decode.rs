//! Arbitrary bytes through `decode`, in every protocol state: it must never
//! panic, an incomplete packet must leave the buffer untouched, no packet may
//! exceed the maximum size, and feeding the bytes in two pieces (split where
//! the mode byte's upper bits say) must give the same packets and outcome.

#![no_main]

use agora_mqtt::{DecodeError, Packet, Protocol, decode};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

mod common;

/// Decodes `chunks` in order as one connection; the packets, then the error
/// (if any) that stopped decoding.
fn run(
    chunks: &[&[u8]],
    mut protocol: Option<Protocol>,
    max: usize,
) -> (Vec<Packet>, Option<DecodeError>) {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.clone();
            match decode(&mut buf, protocol, max) {
                Ok(Some(p)) => {
                    let consumed = before.len() - buf.len();
                    assert!(consumed <= max, "a {consumed}-byte packet passed a {max}-byte limit");
                    assert_eq!(&before[consumed..], &buf[..], "decode consumed more than its packet");
                    if let Packet::Connect(c) = &p {
                        protocol.get_or_insert(c.protocol);
                    }
                    packets.push(p);
                }
                Ok(None) => {
                    assert_eq!(before, buf, "an incomplete packet changed the buffer");
                    break;
                }
                Err(e) => return (packets, Some(e)),
            }
        }
    }
    (packets, None)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let (protocol, max) = common::mode(first);
    let whole = run(&[stream], protocol, max);
    // Upper five bits: where to split, as a fraction of the stream.
    let at = stream.len() * usize::from(first >> 3) / 31;
    let (a, b) = stream.split_at(at.min(stream.len()));
    assert_eq!(whole, run(&[a, b], protocol, max), "splitting at {at} changed the outcome");
});
