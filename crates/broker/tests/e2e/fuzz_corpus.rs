//! The `connection` fuzz target's corpus, replayed: the seeds below (the
//! packet flows a client can start) and every file in
//! `tests/connection-corpus/` (inputs worth keeping from fuzz runs), each
//! through the same harness the fuzz target uses (`connection_input.rs`).
//! See docs/fuzzing.md for the input layout and how to run the fuzzer.

use agora_mqtt::{
    ByteString, Packet, Properties, Protocol, PubResponse, Publish, QoS, ReasonCode, Subscribe,
    SubscriptionOptions, Unsubscribe, encode,
};
use bytes::{Bytes, BytesMut};

use crate::connection_input::run;

/// Mode byte: MQTT 5 (bit 0), a valid CONNECT first (bit 1), piece size (bits 2–7).
fn mode(v5: bool, connect: bool, piece: u8) -> u8 {
    u8::from(v5) | (u8::from(connect) << 1) | (piece << 2)
}

fn bytes_of(packets: &[Packet], protocol: Protocol) -> Vec<u8> {
    let mut out = BytesMut::new();
    for p in packets {
        encode(p, protocol, &mut out).expect("seed packets encode");
    }
    out.to_vec()
}

fn publish(topic: &str, qos: QoS, id: Option<u16>, retain: bool) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos,
        retain,
        topic: ByteString::from(topic),
        packet_id: id,
        properties: Properties::default(),
        payload: Bytes::from_static(b"21.5"),
    })
}

fn ack(id: u16) -> PubResponse {
    PubResponse {
        packet_id: id,
        reason: ReasonCode::Success,
        properties: Properties::default(),
    }
}

/// Inputs covering the flows of an accepted connection, in both protocol
/// levels and split into pieces of 1, 8 and 64 bytes.
pub(crate) fn seeds() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for protocol in [Protocol::V311, Protocol::V5] {
        let v5 = protocol == Protocol::V5;
        let flow = vec![
            Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![
                    (ByteString::from("s/#"), SubscriptionOptions::default()),
                    (
                        ByteString::from("s/+/t"),
                        SubscriptionOptions {
                            qos: QoS::ExactlyOnce,
                            ..SubscriptionOptions::default()
                        },
                    ),
                ],
                properties: Properties::default(),
            }),
            publish("s/a/t", QoS::AtMostOnce, None, false),
            publish("s/a/t", QoS::AtLeastOnce, Some(2), true),
            publish("s/a/t", QoS::ExactlyOnce, Some(3), false),
            Packet::PubRel(ack(3)),
            Packet::PubAck(ack(1)),
            Packet::PubRec(ack(2)),
            Packet::PubComp(ack(2)),
            Packet::PingReq,
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 4,
                filters: vec![ByteString::from("s/#")],
                properties: Properties::default(),
            }),
            Packet::Disconnect(agora_mqtt::Disconnect::with_reason(ReasonCode::Success, "")),
        ];
        let body = bytes_of(&flow, protocol);
        for piece in [0u8, 1, 9] {
            let name = format!("flow-{}-piece{}", if v5 { "v5" } else { "v311" }, piece);
            let mut input = vec![mode(v5, true, piece)];
            input.extend_from_slice(&body);
            out.push((name, input));
        }
        // Garbage after an accepted CONNECT, and a second CONNECT.
        let mut input = vec![mode(v5, true, 0)];
        input.extend_from_slice(&[0x30, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        out.push((format!("bad-length-{}", u8::from(v5)), input));
        let mut input = vec![mode(v5, true, 0), 0x10, 0x00];
        input.extend_from_slice(&body);
        out.push((format!("second-connect-{}", u8::from(v5)), input));
        // A publish to an unset topic alias, and one to $SYS.
        let mut input = vec![mode(v5, true, 0)];
        input.extend_from_slice(&bytes_of(
            &[publish("$SYS/x", QoS::AtLeastOnce, Some(9), false)],
            protocol,
        ));
        out.push((format!("sys-{}", u8::from(v5)), input));
    }
    // No CONNECT at all, an empty stream, and a truncated CONNECT.
    out.push(("no-connect".into(), vec![mode(true, false, 0), 0x82, 0x00]));
    out.push(("empty".into(), vec![mode(false, false, 0)]));
    out.push((
        "truncated-connect".into(),
        vec![mode(false, false, 0), 0x10, 0x0c, 0x00, 0x04, b'M'],
    ));
    out
}

/// The first byte of every packet the broker sent (type and flags), in
/// order, read from the fixed headers alone.
fn answers(mut bytes: &[u8]) -> Vec<u8> {
    let mut kinds = Vec::new();
    while let Some((&first, rest)) = bytes.split_first() {
        let (mut len, mut shift, mut used) = (0usize, 0, 0);
        for &b in rest.iter().take(4) {
            used += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        kinds.push(first);
        let Some(next) = rest.get(used + len..) else {
            break;
        };
        bytes = next;
    }
    kinds
}

#[test]
fn every_seed_and_every_kept_input_is_served_and_closed() {
    for (name, input) in seeds() {
        eprintln!("seed {name}");
        let sent = run(&input);
        if name.starts_with("flow-") {
            // CONNACK, SUBACK, PUBACK(2), PUBREC(3), PUBCOMP(3), PINGRESP, UNSUBACK,
            // with the retained and live deliveries in between.
            let kinds = answers(&sent);
            for kind in [0x20, 0x90, 0x40, 0x50, 0x70, 0xd0, 0xb0] {
                assert!(
                    kinds.contains(&kind),
                    "{name}: no {kind:#04x} in {kinds:02x?}"
                );
            }
            assert_eq!(kinds.first(), Some(&0x20), "{name}: CONNACK first");
            assert!(
                kinds.iter().any(|k| k & 0xf0 == 0x30),
                "{name}: its own publications come back (s/# matches them)"
            );
        }
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/connection-corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for path in files {
        let input = std::fs::read(&path).expect("a corpus file reads");
        eprintln!("corpus {}", path.display());
        run(&input);
    }
}

/// Writes the seeds into `tests/connection-corpus/` (run after editing them):
/// `cargo test -p agora-broker --test e2e -- --ignored write_connection_seeds`.
#[test]
#[ignore]
fn write_connection_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/connection-corpus");
    std::fs::create_dir_all(&dir).expect("the corpus directory");
    for (name, input) in seeds() {
        std::fs::write(dir.join(format!("seed-{name}.bin")), input).expect("a seed writes");
    }
}
