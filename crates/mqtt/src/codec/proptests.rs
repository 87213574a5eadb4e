//! Property tests of the codec as a whole: arbitrary valid packets of both
//! versions survive encode → decode unchanged; arbitrary bytes never panic;
//! a stream split at arbitrary points decodes as it does whole; and anything
//! the decoder accepts re-encodes to something it decodes to the same packet.

use bytes::{Bytes, BytesMut};
use proptest::collection::vec;
use proptest::option::of as opt;
use proptest::prelude::*;

use super::props::{self, Context, retain_allowed};
use super::reasons::{self, ReasonSet};
use super::{DecodeError, PublishRef, decode, encode, encode_publish, publish_len};
use crate::packet::*;
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::topic::{SHARED_PREFIX, validate_topic_filter};

const MAX: usize = 1 << 20;

fn text() -> impl Strategy<Value = ByteString> {
    "[a-zA-Z0-9 é/_$-]{0,8}".prop_map(ByteString::from)
}

fn topic_name() -> impl Strategy<Value = ByteString> {
    "[a-z0-9$/ é]{1,10}".prop_map(ByteString::from)
}

fn topic_filter() -> impl Strategy<Value = ByteString> {
    let level = prop_oneof![Just("a"), Just("b"), Just(""), Just("+"), Just("$x")];
    (any::<bool>(), vec(level, 1..4), any::<bool>())
        .prop_map(|(shared, levels, hash)| {
            let mut f = if shared {
                format!("{SHARED_PREFIX}g/")
            } else {
                String::new()
            };
            f.push_str(&levels.join("/"));
            if hash {
                f.push_str("/#");
            }
            f
        })
        .prop_filter("valid filters only", |f| validate_topic_filter(f).is_ok())
        .prop_map(ByteString::from)
}

fn bin() -> impl Strategy<Value = Bytes> {
    vec(any::<u8>(), 0..12).prop_map(Bytes::from)
}

fn qos() -> impl Strategy<Value = QoS> {
    prop_oneof![
        Just(QoS::AtMostOnce),
        Just(QoS::AtLeastOnce),
        Just(QoS::ExactlyOnce)
    ]
}

fn flag() -> impl Strategy<Value = Option<u8>> {
    opt(0..=1u8)
}

/// Any valid value of every property; [`props_for`] keeps those a packet allows.
fn properties() -> impl Strategy<Value = Properties> {
    let a = (
        flag(),
        opt(any::<u32>()),
        opt(text()),
        opt(topic_name()),
        opt(bin()),
        vec(1..=268_435_455u32, 0..3),
        opt(any::<u32>()),
        opt(text()),
        opt(any::<u16>()),
        opt(text()),
        opt(bin()),
        flag(),
    );
    let b = (
        opt(any::<u32>()),
        flag(),
        opt(text()),
        opt(text()),
        opt(text()),
        opt(1..=u16::MAX),
        opt(any::<u16>()),
        opt(1..=u16::MAX),
        flag(),
        flag(),
        vec((text(), text()), 0..3),
        opt(1..=u32::MAX),
    );
    let c = (flag(), flag(), flag());
    (a, b, c).prop_map(|(a, b, c)| Properties {
        payload_format_indicator: a.0,
        message_expiry_interval: a.1,
        content_type: a.2,
        response_topic: a.3,
        correlation_data: a.4,
        subscription_identifiers: a.5,
        session_expiry_interval: a.6,
        assigned_client_identifier: a.7,
        server_keep_alive: a.8,
        authentication_method: a.9,
        authentication_data: a.10,
        request_problem_information: a.11,
        will_delay_interval: b.0,
        request_response_information: b.1,
        response_information: b.2,
        server_reference: b.3,
        reason_string: b.4,
        receive_maximum: b.5,
        topic_alias_maximum: b.6,
        topic_alias: b.7,
        maximum_qos: b.8,
        retain_available: b.9,
        user_properties: b.10,
        maximum_packet_size: b.11,
        wildcard_subscription_available: c.0,
        subscription_identifier_available: c.1,
        shared_subscription_available: c.2,
    })
}

fn props_for(v5: bool, ctx: Context) -> BoxedStrategy<Properties> {
    if v5 {
        properties()
            .prop_map(move |mut p| {
                retain_allowed(&mut p, ctx);
                p
            })
            .boxed()
    } else {
        Just(Properties::default()).boxed()
    }
}

fn codes(set: &ReasonSet) -> Vec<ReasonCode> {
    (0..=255u8).filter_map(|c| set.parse(c)).collect()
}

/// A reason code from `set` on v5, `v311` (what 3.1.1 can express) otherwise.
fn reason(v5: bool, set: &ReasonSet, v311: &[ReasonCode]) -> BoxedStrategy<ReasonCode> {
    let choices = if v5 { codes(set) } else { v311.to_vec() };
    prop::sample::select(choices).boxed()
}

fn connect(v5: bool) -> impl Strategy<Value = Packet> {
    let protocol = if v5 { Protocol::V5 } else { Protocol::V311 };
    let will = (
        topic_name(),
        bin(),
        qos(),
        any::<bool>(),
        props_for(v5, props::WILL),
    )
        .prop_map(|(topic, payload, qos, retain, properties)| Will {
            topic,
            payload,
            qos,
            retain,
            properties,
        });
    (
        any::<bool>(),
        any::<u16>(),
        text(),
        opt(will),
        opt(text()),
        opt(bin()),
        props_for(v5, props::CONNECT),
    )
        .prop_map(
            move |(clean_start, keep_alive, client_id, will, username, password, properties)| {
                let mut c = Connect {
                    protocol,
                    clean_start,
                    keep_alive,
                    client_id,
                    will,
                    username,
                    password,
                    properties,
                };
                if !v5 && c.username.is_none() {
                    c.password = None;
                }
                Packet::Connect(Box::new(c))
            },
        )
}

fn publish(v5: bool) -> impl Strategy<Value = Packet> {
    (
        any::<bool>(),
        qos(),
        any::<bool>(),
        topic_name(),
        1..=u16::MAX,
        props_for(v5, props::PUBLISH),
        bin(),
        any::<bool>(),
    )
        .prop_map(
            move |(dup, qos, retain, mut topic, id, properties, payload, empty_topic)| {
                if v5 && empty_topic && properties.topic_alias.is_some() {
                    topic = ByteString::new();
                }
                let qos0 = qos == QoS::AtMostOnce;
                Packet::Publish(Publish {
                    dup: dup && !qos0,
                    qos,
                    retain,
                    topic,
                    packet_id: (!qos0).then_some(id),
                    properties,
                    payload,
                })
            },
        )
}

fn pub_response(v5: bool, set: &ReasonSet, ctx: Context) -> impl Strategy<Value = PubResponse> {
    (
        1..=u16::MAX,
        reason(v5, set, &[ReasonCode::Success]),
        props_for(v5, ctx),
    )
        .prop_map(|(packet_id, reason, properties)| PubResponse {
            packet_id,
            reason,
            properties,
        })
}

fn subscription_options(v5: bool) -> impl Strategy<Value = SubscriptionOptions> {
    let rh = prop_oneof![
        Just(RetainHandling::SendAtSubscribe),
        Just(RetainHandling::SendIfNew),
        Just(RetainHandling::DoNotSend)
    ];
    (qos(), any::<bool>(), any::<bool>(), rh).prop_map(move |(qos, nl, rap, rh)| {
        if v5 {
            SubscriptionOptions {
                qos,
                no_local: nl,
                retain_as_published: rap,
                retain_handling: rh,
            }
        } else {
            SubscriptionOptions {
                qos,
                ..SubscriptionOptions::default()
            }
        }
    })
}

fn packet(v5: bool) -> impl Strategy<Value = Packet> {
    use ReasonCode::*;
    let v311_connack = [
        Success,
        UnsupportedProtocolVersion,
        ClientIdentifierNotValid,
        ServerUnavailable,
        BadUserNameOrPassword,
        NotAuthorized,
    ];
    let v311_suback = [Success, GrantedQoS1, GrantedQoS2, UnspecifiedError];
    let connack = (
        any::<bool>(),
        reason(v5, &reasons::CONNACK, &v311_connack),
        props_for(v5, props::CONNACK),
    )
        .prop_map(|(sp, reason, properties)| {
            Packet::ConnAck(ConnAck {
                session_present: sp && reason == Success,
                reason,
                properties,
            })
        });
    let subscribe = (
        1..=u16::MAX,
        vec((topic_filter(), subscription_options(v5)), 1..4),
        props_for(v5, props::SUBSCRIBE),
    )
        .prop_map(|(packet_id, mut filters, properties)| {
            for (f, o) in &mut filters {
                if f.starts_with(SHARED_PREFIX) {
                    o.no_local = false;
                }
            }
            Packet::Subscribe(Subscribe {
                packet_id,
                filters,
                properties,
            })
        });
    let suback = (
        1..=u16::MAX,
        vec(reason(v5, &reasons::SUBACK, &v311_suback), 1..4),
        props_for(v5, props::SUBACK),
    )
        .prop_map(|(packet_id, reasons, properties)| {
            Packet::SubAck(SubAck {
                packet_id,
                reasons,
                properties,
            })
        });
    let unsubscribe = (
        1..=u16::MAX,
        vec(topic_filter(), 1..4),
        props_for(v5, props::UNSUBSCRIBE),
    )
        .prop_map(|(packet_id, filters, properties)| {
            Packet::Unsubscribe(Unsubscribe {
                packet_id,
                filters,
                properties,
            })
        });
    let unsuback = (
        1..=u16::MAX,
        vec(reason(v5, &reasons::UNSUBACK, &[Success]), 1..4),
        props_for(v5, props::UNSUBACK),
    )
        .prop_map(move |(packet_id, reasons, properties)| {
            Packet::UnsubAck(UnsubAck {
                packet_id,
                reasons: if v5 { reasons } else { Vec::new() },
                properties,
            })
        });
    let disconnect = (
        reason(v5, &reasons::DISCONNECT, &[Success]),
        props_for(v5, props::DISCONNECT),
    )
        .prop_map(|(reason, properties)| Packet::Disconnect(Disconnect { reason, properties }));
    let auth = (
        reason(true, &reasons::AUTH, &[]),
        props_for(true, props::AUTH),
    )
        .prop_map(|(reason, mut properties)| {
            let short_form = reason == Success && properties.is_empty();
            if !short_form && properties.authentication_method.is_none() {
                properties.authentication_method = Some(ByteString::from_static("m"));
            }
            Packet::Auth(Auth { reason, properties })
        });
    let common = prop_oneof![
        connect(v5),
        connack,
        publish(v5),
        pub_response(v5, &reasons::PUBACK, props::PUBACK).prop_map(Packet::PubAck),
        pub_response(v5, &reasons::PUBREC, props::PUBREC).prop_map(Packet::PubRec),
        pub_response(v5, &reasons::PUBREL, props::PUBREL).prop_map(Packet::PubRel),
        pub_response(v5, &reasons::PUBCOMP, props::PUBCOMP).prop_map(Packet::PubComp),
        subscribe,
        suback,
        unsubscribe,
        unsuback,
        Just(Packet::PingReq),
        Just(Packet::PingResp),
        disconnect,
    ];
    if v5 {
        prop_oneof![14 => common, 1 => auth].boxed()
    } else {
        common.boxed()
    }
}

fn protocol_of(v5: bool) -> Protocol {
    if v5 { Protocol::V5 } else { Protocol::V311 }
}

/// Decodes a whole stream the way a connection does: CONNECT first when
/// `protocol` is `None`, then that CONNECT's version. Stops at the first
/// error or incomplete packet.
pub(crate) fn decode_stream(
    bytes: &[u8],
    protocol: Option<Protocol>,
) -> (Vec<Packet>, Option<DecodeError>) {
    let mut chunks = std::iter::once(bytes);
    decode_chunks(&mut chunks, protocol)
}

fn decode_chunks(
    chunks: &mut dyn Iterator<Item = &[u8]>,
    mut protocol: Option<Protocol>,
) -> (Vec<Packet>, Option<DecodeError>) {
    let mut buf = BytesMut::new();
    let mut packets = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decode(&mut buf, protocol, MAX) {
                Ok(Some(p)) => {
                    if let Packet::Connect(c) = &p {
                        protocol.get_or_insert(c.protocol);
                    }
                    packets.push(p);
                }
                Ok(None) => break,
                Err(e) => return (packets, Some(e)),
            }
        }
    }
    (packets, None)
}

fn encoded(packet: &Packet, protocol: Protocol) -> BytesMut {
    let mut out = BytesMut::new();
    if let Err(e) = encode(packet, protocol, &mut out) {
        panic!("valid packet refused: {e}: {packet:?}");
    }
    out
}

fn split_points(len: usize, cuts: &[prop::sample::Index]) -> Vec<usize> {
    let mut points: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    points.sort_unstable();
    points
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn valid_v311_packets_round_trip(p in packet(false)) {
        let mut buf = encoded(&p, Protocol::V311);
        let first = if matches!(p, Packet::Connect(_)) { None } else { Some(Protocol::V311) };
        prop_assert_eq!(decode(&mut buf, first, MAX), Ok(Some(p)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn valid_v5_packets_round_trip(p in packet(true)) {
        let mut buf = encoded(&p, Protocol::V5);
        let first = if matches!(p, Packet::Connect(_)) { None } else { Some(Protocol::V5) };
        prop_assert_eq!(decode(&mut buf, first, MAX), Ok(Some(p)));
        prop_assert!(buf.is_empty());
    }

    #[test]
    fn publish_len_is_the_encoded_size(
        p in publish(true),
        ids in vec(1..=268_435_455u32, 0..3),
        alias in opt(1..=u16::MAX),
        v5 in any::<bool>(),
    ) {
        let Packet::Publish(p) = p else { unreachable!() };
        let mut r = PublishRef::from_publish(&p);
        r.subscription_identifiers = &ids;
        r.topic_alias = alias;
        let protocol = protocol_of(v5);
        let mut out = BytesMut::new();
        if encode_publish(&r, protocol, &mut out).is_ok() {
            prop_assert_eq!(out.len(), publish_len(&r, protocol));
            let Ok(Some(Packet::Publish(back))) = decode(&mut out, Some(protocol), MAX) else {
                panic!("encoded PUBLISH does not decode");
            };
            if v5 {
                prop_assert_eq!(&back.properties.subscription_identifiers, &ids);
                prop_assert_eq!(back.properties.topic_alias, alias);
            } else {
                prop_assert!(back.properties.is_empty());
            }
            prop_assert_eq!(&back.payload, &p.payload);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in vec(any::<u8>(), 0..256)) {
        for protocol in [None, Some(Protocol::V311), Some(Protocol::V5)] {
            let _ = decode_stream(&bytes, protocol);
        }
    }

    #[test]
    fn whatever_decodes_re_encodes_to_the_same_packet(
        bytes in vec(any::<u8>(), 0..128),
        v5 in any::<bool>(),
    ) {
        let protocol = protocol_of(v5);
        let (packets, _) = decode_stream(&bytes, Some(protocol));
        for p in packets {
            let mut buf = encoded(&p, protocol);
            prop_assert_eq!(decode(&mut buf, Some(protocol), MAX), Ok(Some(p)));
        }
    }

    #[test]
    fn streams_split_anywhere_decode_as_whole(
        packets in vec(packet(true), 1..5),
        v5 in any::<bool>(),
        flip in opt((any::<prop::sample::Index>(), any::<u8>())),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
    ) {
        let protocol = protocol_of(v5);
        let mut bytes = BytesMut::new();
        for p in &packets {
            // Some v5 packets cannot be encoded for 3.1.1 (AUTH); skip them.
            let _ = encode(p, protocol, &mut bytes);
        }
        let mut bytes = bytes.to_vec();
        if let Some((at, value)) = flip
            && !bytes.is_empty()
        {
            let i = at.index(bytes.len());
            bytes[i] ^= value;
        }
        let whole = decode_stream(&bytes, Some(protocol));
        let points = split_points(bytes.len(), &cuts);
        let mut pieces = Vec::new();
        let mut start = 0;
        for &p in &points {
            pieces.push(&bytes[start..p]);
            start = p;
        }
        pieces.push(&bytes[start..]);
        let split = decode_chunks(&mut pieces.into_iter(), Some(protocol));
        prop_assert_eq!(whole, split);
    }

    #[test]
    fn arbitrary_bytes_split_anywhere_decode_as_whole(
        bytes in vec(any::<u8>(), 0..200),
        cuts in vec(any::<prop::sample::Index>(), 0..6),
        state in 0..3u8,
    ) {
        let protocol = [None, Some(Protocol::V311), Some(Protocol::V5)][usize::from(state)];
        let whole = decode_stream(&bytes, protocol);
        let points = split_points(bytes.len(), &cuts);
        let mut pieces = Vec::new();
        let mut start = 0;
        for &p in &points {
            pieces.push(&bytes[start..p]);
            start = p;
        }
        pieces.push(&bytes[start..]);
        prop_assert_eq!(whole, decode_chunks(&mut pieces.into_iter(), protocol));
    }
}
