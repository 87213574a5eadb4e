//! Replays the stored corpus (`tests/corpus/`) through `decode` in every
//! `cargo test`, so inputs found by fuzzing stay fixed.
//!
//! Each file is a fuzz input: a mode byte (see [`helpers::mode`]) then the
//! bytes a connection receives. The name says what must happen:
//! - `ok-*`: everything decodes, nothing is left over;
//! - `err-XX-*`: decoding stops with an error whose reason code is 0xXX;
//! - anything else (e.g. files copied from a fuzz run): no panic.
//!
//! For every file, each packet decoded must re-encode to bytes that decode to
//! the same packet. The seed files are written by `write_seed_corpus`
//! (`cargo test -p agora-mqtt --test codec -- --ignored write_seed_corpus`).

use std::path::{Path, PathBuf};

use agora_mqtt::{Packet, Protocol, decode, encode};
use bytes::BytesMut;

use crate::helpers::{self, decode_stream};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

#[test]
fn every_corpus_file_decodes_as_its_name_says() {
    let mut entries: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .map(|e| e.expect("readable entry").path())
        .collect();
    entries.sort();
    assert!(entries.len() >= 30, "the corpus lost its seeds");
    let mut failures = Vec::new();
    for path in &entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        let data = std::fs::read(path).expect("readable file");
        if let Err(why) = check(name, &data) {
            failures.push(format!("{name}: {why}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn check(name: &str, data: &[u8]) -> Result<(), String> {
    let Some((&first, stream)) = data.split_first() else {
        return Ok(());
    };
    let (state, max) = helpers::mode(first);
    let (packets, end) = decode_stream(stream, state, max);
    let protocol = state.or_else(|| match packets.first() {
        Some(Packet::Connect(c)) => Some(c.protocol),
        _ => None,
    });
    if let Some(protocol) = protocol {
        for p in &packets {
            reencodes(p, protocol)?;
        }
    }
    if name.starts_with("ok-") {
        match end {
            Ok(0) if !packets.is_empty() => Ok(()),
            other => Err(format!(
                "expected clean packets, got {other:?} after {packets:?}"
            )),
        }
    } else if let Some(rest) = name.strip_prefix("err-") {
        let want = rest
            .get(..2)
            .and_then(|hex| u8::from_str_radix(hex, 16).ok())
            .ok_or("err- files are named err-XX-…")?;
        match end {
            Err(e) if e.reason_code().as_u8() == want => Ok(()),
            other => Err(format!("expected reason {want:#04x}, got {other:?}")),
        }
    } else {
        Ok(())
    }
}

fn reencodes(p: &Packet, protocol: Protocol) -> Result<(), String> {
    let mut out = BytesMut::new();
    encode(p, protocol, &mut out).map_err(|e| format!("re-encoding {p:?}: {e}"))?;
    let state = (!matches!(p, Packet::Connect(_))).then_some(protocol);
    match decode(&mut out, state, helpers::MAX) {
        Ok(Some(back)) if back == *p && out.is_empty() => Ok(()),
        other => Err(format!("{p:?} re-encoded decodes to {other:?}")),
    }
}

/// Seeds: (file name, mode byte, bytes). Valid ones are built with our
/// encoder; malformed ones by hand, each breaking one rule.
fn seeds() -> Vec<(&'static str, u8, Vec<u8>)> {
    use seed::*;
    let mut v: Vec<(&'static str, u8, Vec<u8>)> = vec![
        ("ok-v311-connect-minimal", 0, connect_v311(false)),
        ("ok-v311-connect-will-login", 0, connect_v311(true)),
        ("ok-v5-connect-properties-will", 0, connect_v5()),
        ("ok-v311-client-session", 0, client_session(Protocol::V311)),
        ("ok-v5-client-session", 0, client_session(Protocol::V5)),
        ("ok-v311-server-packets", 1, server_packets(Protocol::V311)),
        ("ok-v5-server-packets", 2, server_packets(Protocol::V5)),
        ("ok-v5-publish-alias-empty-topic", 2, publish_alias()),
        ("ok-v311-publish-two-byte-length", 1, long_publish()),
        ("ok-v5-auth-exchange", 2, auth_exchange()),
    ];
    let body = |level: u8, flags: u8, rest: &[u8]| {
        let mut b = vec![0, 4, b'M', b'Q', b'T', b'T', level, flags, 0, 60];
        b.extend_from_slice(rest);
        frame(0x10, &b)
    };
    let mut mqisdp = vec![
        0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60, 0, 1, b'c',
    ];
    mqisdp = frame(0x10, &mqisdp);
    let errors: Vec<(&'static str, u8, Vec<u8>)> = vec![
        ("err-81-reserved-type-0", 1, vec![0x00, 0]),
        (
            "err-82-first-packet-not-connect",
            0,
            vec![0x30, 3, 0, 1, b't'],
        ),
        ("err-84-mqisdp-level-3", 0, mqisdp),
        ("err-84-level-6", 0, body(6, 2, &[0, 0])),
        ("err-81-connect-reserved-flag", 0, body(4, 3, &[0, 0])),
        ("err-81-will-qos-3", 0, body(4, 0b0001_1100, &[0, 0])),
        (
            "err-81-will-retain-without-will",
            0,
            body(4, 0b0010_0000, &[0, 0]),
        ),
        (
            "err-81-v311-password-without-username",
            0,
            body(4, 0x40, &[0, 0, 0, 1, b'p']),
        ),
        (
            "err-90-will-topic-wildcard",
            0,
            body(4, 0x04, &[0, 0, 0, 1, b'#', 0, 0]),
        ),
        ("err-81-connect-trailing-byte", 0, body(4, 2, &[0, 0, 7])),
        ("err-81-publish-qos-3", 1, frame(0x36, &[0, 1, b't', 0, 1])),
        ("err-81-publish-dup-qos-0", 1, frame(0x38, &[0, 1, b't'])),
        (
            "err-82-publish-packet-id-0",
            1,
            frame(0x32, &[0, 1, b't', 0, 0]),
        ),
        (
            "err-90-publish-topic-wildcard",
            1,
            frame(0x30, &[0, 3, b'a', b'/', b'+']),
        ),
        (
            "err-81-publish-topic-nul",
            1,
            frame(0x30, &[0, 3, b'a', 0, b'b']),
        ),
        (
            "err-81-publish-topic-surrogate",
            1,
            frame(0x30, &[0, 3, 0xED, 0xA0, 0x80]),
        ),
        ("err-90-v311-publish-empty-topic", 1, frame(0x30, &[0, 0])),
        (
            "err-82-v5-empty-topic-without-alias",
            2,
            frame(0x30, &[0, 0, 0]),
        ),
        (
            "err-81-remaining-length-5-bytes",
            1,
            vec![0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F],
        ),
        (
            "err-81-remaining-length-not-minimal",
            1,
            vec![0xC0, 0x80, 0x00],
        ),
        ("err-95-too-large-before-body", 5, vec![0x30, 0xE8, 0x07]),
        ("err-81-pubrel-flags", 1, vec![0x60, 2, 0, 1]),
        (
            "err-81-subscribe-flags",
            1,
            frame(0x80, &[0, 1, 0, 1, b'a', 0]),
        ),
        ("err-82-subscribe-empty", 1, frame(0x82, &[0, 1])),
        (
            "err-81-v311-subscribe-options-reserved",
            1,
            frame(0x82, &[0, 1, 0, 1, b'a', 4]),
        ),
        (
            "err-81-v5-subscribe-options-reserved",
            2,
            frame(0x82, &[0, 1, 0, 0, 1, b'a', 0x80]),
        ),
        (
            "err-82-retain-handling-3",
            2,
            frame(0x82, &[0, 1, 0, 0, 1, b'a', 0x30]),
        ),
        (
            "err-82-no-local-shared",
            2,
            frame(0x82, b"\x00\x01\x00\x00\x0a$share/g/a\x04"),
        ),
        (
            "err-8f-subscribe-bad-filter",
            1,
            frame(0x82, &[0, 1, 0, 3, b'a', b'#', b'b', 0]),
        ),
        ("err-82-unsubscribe-empty", 2, frame(0xA2, &[0, 1, 0])),
        (
            "err-82-duplicate-property",
            2,
            frame(0x30, &[0, 1, b't', 4, 0x01, 1, 0x01, 1]),
        ),
        (
            "err-81-property-not-allowed",
            2,
            frame(0x30, &[0, 1, b't', 2, 0x24, 1]),
        ),
        (
            "err-82-subscription-id-0",
            2,
            frame(0x30, &[0, 1, b't', 2, 0x0B, 0]),
        ),
        (
            "err-82-topic-alias-0",
            2,
            frame(0x30, &[0, 1, b't', 3, 0x23, 0, 0]),
        ),
        (
            "err-82-auth-data-without-method",
            2,
            frame(0xF0, &[0x18, 4, 0x16, 0, 1, 9]),
        ),
        ("err-81-auth-on-v311", 1, vec![0xF0, 0]),
        ("err-81-pingreq-trailing-byte", 1, vec![0xC0, 1, 0]),
        (
            "err-81-property-length-past-end",
            2,
            frame(0x30, &[0, 1, b't', 9, 0x01]),
        ),
        ("err-81-v311-suback-v5-code", 1, frame(0x90, &[0, 1, 0x87])),
        ("err-81-connack-reserved-flags", 1, frame(0x20, &[2, 0])),
    ];
    v.extend(errors);
    v
}

/// Builders for the valid seeds.
mod seed {
    use agora_mqtt::*;
    use bytes::{Bytes, BytesMut};

    pub(super) fn frame(first: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128);
        let mut v = vec![first, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn enc(packets: &[Packet], protocol: Protocol) -> Vec<u8> {
        let mut out = BytesMut::new();
        for p in packets {
            encode(p, protocol, &mut out).expect("valid seed");
        }
        out.to_vec()
    }

    fn s(v: &'static str) -> ByteString {
        ByteString::from_static(v)
    }

    fn connect(protocol: Protocol, full: bool) -> Packet {
        let v5 = protocol == Protocol::V5;
        let props = |p: Properties| if v5 { p } else { Properties::default() };
        Packet::Connect(Box::new(Connect {
            protocol,
            clean_start: true,
            keep_alive: 60,
            client_id: s("sensor-1"),
            will: full.then(|| Will {
                topic: s("devices/sensor-1/status"),
                payload: Bytes::from_static(b"offline"),
                qos: QoS::AtLeastOnce,
                retain: true,
                properties: props(Properties {
                    will_delay_interval: Some(10),
                    content_type: Some(s("text/plain")),
                    ..Properties::default()
                }),
            }),
            username: full.then(|| s("alice")),
            password: full.then(|| Bytes::from_static(b"secret")),
            properties: props(Properties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(20),
                maximum_packet_size: Some(65_536),
                topic_alias_maximum: Some(10),
                user_properties: vec![(s("k"), s("v"))],
                ..Properties::default()
            }),
        }))
    }

    pub(super) fn connect_v311(full: bool) -> Vec<u8> {
        enc(&[connect(Protocol::V311, full)], Protocol::V311)
    }

    pub(super) fn connect_v5() -> Vec<u8> {
        enc(&[connect(Protocol::V5, true)], Protocol::V5)
    }

    fn publish(qos: QoS, id: Option<u16>, properties: Properties) -> Packet {
        Packet::Publish(Publish {
            dup: false,
            qos,
            retain: false,
            topic: s("hub/device/temperature"),
            packet_id: id,
            properties,
            payload: Bytes::from_static(b"{\"t\":21.5}"),
        })
    }

    pub(super) fn client_session(protocol: Protocol) -> Vec<u8> {
        let v5 = protocol == Protocol::V5;
        let props = |p: Properties| if v5 { p } else { Properties::default() };
        let options = SubscriptionOptions {
            qos: QoS::ExactlyOnce,
            no_local: v5,
            retain_as_published: v5,
            retain_handling: if v5 {
                RetainHandling::SendIfNew
            } else {
                RetainHandling::SendAtSubscribe
            },
        };
        let packets = [
            connect(protocol, true),
            Packet::Subscribe(Subscribe {
                packet_id: 1,
                filters: vec![
                    (s("hub/+/temperature"), options),
                    (s("$SYS/#"), SubscriptionOptions::default()),
                ],
                properties: props(Properties {
                    subscription_identifiers: vec![7],
                    ..Properties::default()
                }),
            }),
            publish(QoS::AtMostOnce, None, Properties::default()),
            publish(
                QoS::AtLeastOnce,
                Some(2),
                props(Properties {
                    message_expiry_interval: Some(30),
                    payload_format_indicator: Some(1),
                    response_topic: Some(s("reply/here")),
                    correlation_data: Some(Bytes::from_static(&[1, 2, 3])),
                    user_properties: vec![(s("a"), s("1")), (s("a"), s("2"))],
                    ..Properties::default()
                }),
            ),
            publish(QoS::ExactlyOnce, Some(3), Properties::default()),
            Packet::PubAck(PubResponse::success(9)),
            Packet::PubRec(PubResponse::success(10)),
            Packet::PubRel(PubResponse::success(3)),
            Packet::PubComp(PubResponse::success(10)),
            Packet::PingReq,
            Packet::Unsubscribe(Unsubscribe {
                packet_id: 4,
                filters: vec![s("hub/+/temperature")],
                properties: Properties::default(),
            }),
            Packet::Disconnect(Disconnect {
                reason: if v5 {
                    ReasonCode::DisconnectWithWill
                } else {
                    ReasonCode::NormalDisconnection
                },
                properties: Properties::default(),
            }),
        ];
        enc(&packets, protocol)
    }

    pub(super) fn server_packets(protocol: Protocol) -> Vec<u8> {
        let v5 = protocol == Protocol::V5;
        let props = |p: Properties| if v5 { p } else { Properties::default() };
        let packets = [
            Packet::ConnAck(ConnAck {
                session_present: true,
                reason: ReasonCode::Success,
                properties: props(Properties {
                    assigned_client_identifier: Some(s("auto-1")),
                    maximum_qos: Some(1),
                    retain_available: Some(1),
                    server_keep_alive: Some(30),
                    topic_alias_maximum: Some(5),
                    ..Properties::default()
                }),
            }),
            Packet::SubAck(SubAck {
                packet_id: 1,
                reasons: vec![ReasonCode::GrantedQoS1, ReasonCode::UnspecifiedError],
                properties: Properties::default(),
            }),
            publish(
                QoS::AtLeastOnce,
                Some(1),
                props(Properties {
                    subscription_identifiers: vec![7, 8],
                    topic_alias: Some(2),
                    ..Properties::default()
                }),
            ),
            Packet::UnsubAck(UnsubAck {
                packet_id: 4,
                reasons: if v5 {
                    vec![ReasonCode::NoSubscriptionExisted]
                } else {
                    vec![]
                },
                properties: Properties::default(),
            }),
            Packet::PubAck(PubResponse {
                packet_id: 2,
                reason: if v5 {
                    ReasonCode::NotAuthorized
                } else {
                    ReasonCode::Success
                },
                properties: props(Properties {
                    reason_string: Some(s("no purchase")),
                    ..Properties::default()
                }),
            }),
            Packet::PingResp,
        ];
        let mut v = enc(&packets, protocol);
        if v5 {
            v.extend(enc(
                &[Packet::Disconnect(Disconnect {
                    reason: ReasonCode::UseAnotherServer,
                    properties: Properties {
                        server_reference: Some(s("other.example:1883")),
                        reason_string: Some(s("moving")),
                        ..Properties::default()
                    },
                })],
                protocol,
            ));
        }
        v
    }

    pub(super) fn publish_alias() -> Vec<u8> {
        let mut first = publish(
            QoS::AtMostOnce,
            None,
            Properties {
                topic_alias: Some(1),
                ..Properties::default()
            },
        );
        let mut second = first.clone();
        if let Packet::Publish(p) = &mut second {
            p.topic = ByteString::new();
        }
        if let Packet::Publish(p) = &mut first {
            p.retain = true;
        }
        enc(&[first, second], Protocol::V5)
    }

    pub(super) fn long_publish() -> Vec<u8> {
        let mut p = publish(QoS::AtMostOnce, None, Properties::default());
        if let Packet::Publish(p) = &mut p {
            p.payload = Bytes::from(vec![0xAB; 200]);
        }
        enc(&[p], Protocol::V311)
    }

    pub(super) fn auth_exchange() -> Vec<u8> {
        let step = |reason, data: &'static [u8]| {
            Packet::Auth(Auth {
                reason,
                properties: Properties {
                    authentication_method: Some(s("SCRAM-SHA-256")),
                    authentication_data: Some(Bytes::from_static(data)),
                    ..Properties::default()
                },
            })
        };
        enc(
            &[
                step(ReasonCode::ContinueAuthentication, b"client-first"),
                step(ReasonCode::ContinueAuthentication, b"server-first"),
                step(ReasonCode::ReAuthenticate, b"again"),
                Packet::Auth(Auth {
                    reason: ReasonCode::Success,
                    properties: Properties::default(),
                }),
            ],
            Protocol::V5,
        )
    }
}

/// Rewrites the seed files (fuzz-found files are left alone).
#[test]
#[ignore = "writes tests/corpus; run by hand after changing the seeds"]
fn write_seed_corpus() {
    let dir = corpus_dir();
    std::fs::create_dir_all(&dir).expect("create tests/corpus");
    for (name, mode, bytes) in seeds() {
        let mut data = vec![mode];
        data.extend_from_slice(&bytes);
        std::fs::write(dir.join(format!("{name}.bin")), data).expect("write seed");
    }
}

#[test]
fn the_seeds_behave_as_named() {
    for (name, mode, bytes) in seeds() {
        let mut data = vec![mode];
        data.extend_from_slice(&bytes);
        if let Err(why) = check(name, &data) {
            panic!("{name}: {why}");
        }
    }
}

/// Prints one line per file of `$CORPUS_DIR`: the file name and what decoding
/// it gives (packet names, then the error variant). Used to pick one input per
/// distinct outcome from a fuzz run's corpus (see docs/fuzzing.md).
#[test]
#[ignore = "a tool: CORPUS_DIR=fuzz/corpus/decode cargo test … -- --ignored --nocapture classify"]
fn classify_corpus_dir() {
    let Ok(dir) = std::env::var("CORPUS_DIR") else {
        return;
    };
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable CORPUS_DIR")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let data = std::fs::read(&path).expect("readable file");
        let Some((&first, stream)) = data.split_first() else {
            continue;
        };
        let (state, max) = helpers::mode(first);
        let (packets, end) = decode_stream(stream, state, max);
        let names: Vec<&str> = packets.iter().map(Packet::name).collect();
        let end = match end {
            Ok(0) => "clean".to_string(),
            Ok(n) => format!("incomplete({})", n.min(1)),
            Err(e) => format!("{e:?}")
                .split([' ', '(', '{'])
                .next()
                .unwrap_or("")
                .to_string(),
        };
        let file = path.file_name().and_then(|n| n.to_str()).unwrap_or("?");
        println!("CLASSIFY\t{file}\t{}\t{end}", names.join(","));
    }
}
