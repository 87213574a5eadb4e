//! Whatever `decode` accepts must survive `encode`: the re-encoding decodes to
//! the same packet, and encoding that again gives the same bytes (the encoder
//! is canonical). For PUBLISH, `publish_len` must equal the encoded size.

#![no_main]

use agora_mqtt::{Packet, PublishRef, decode, encode, publish_len};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

mod common;

fuzz_target!(|data: &[u8]| {
    let Some((&first, stream)) = data.split_first() else {
        return;
    };
    let (mut protocol, max) = common::mode(first);
    let mut buf = BytesMut::from(stream);
    while let Ok(Some(p)) = decode(&mut buf, protocol, max) {
        let proto = match (&p, protocol) {
            (Packet::Connect(c), _) => c.protocol,
            (_, Some(proto)) => proto,
            // Only CONNECT decodes without a protocol.
            (_, None) => unreachable!("a non-CONNECT packet decoded before CONNECT"),
        };
        let mut once = BytesMut::new();
        if let Err(e) = encode(&p, proto, &mut once) {
            panic!("decoded but cannot re-encode: {e}: {p:?}");
        }
        if let Packet::Publish(publish) = &p {
            assert_eq!(publish_len(&PublishRef::from_publish(publish), proto), once.len());
        }
        let state = if matches!(p, Packet::Connect(_)) { None } else { Some(proto) };
        let mut again = once.clone();
        match decode(&mut again, state, usize::MAX) {
            Ok(Some(back)) => {
                assert_eq!(back, p, "re-encoding changed the packet");
                assert!(again.is_empty(), "re-encoding left bytes over");
                let mut twice = BytesMut::new();
                if let Err(e) = encode(&back, proto, &mut twice) {
                    panic!("cannot encode a second time: {e}");
                }
                assert_eq!(once, twice, "the encoder is not canonical");
            }
            other => panic!("re-encoded {p:?} decodes to {other:?}"),
        }
        if let Packet::Connect(c) = &p {
            protocol.get_or_insert(c.protocol);
        }
    }
});
