//! Decoding: one packet at a time from the front of a receive buffer.
//!
//! [`decode`] first looks at the fixed header only: the packet type and its
//! flags are checked, and the remaining length is checked against the
//! connection's maximum packet size before the body has arrived, so a peer
//! cannot make the broker buffer more than it allows. Once the whole packet is
//! there it is split off the buffer and frozen; every string, binary field and
//! the PUBLISH payload are then slices of that one allocation (the receive
//! buffer's), never copies. Validation is strict: anything the 3.1.1 or 5.0
//! specification calls malformed or a protocol error is an error whose
//! message cites the rule.
//!
//! The decoder accepts packets of both directions (a CONNACK as well as a
//! CONNECT): rules that depend on who sent a packet (a client must not send a
//! Subscription Identifier on PUBLISH, a server must not send Session Expiry
//! on DISCONNECT, a second CONNECT…) are the broker's to enforce.

use bytes::{Buf, BytesMut};

use super::error::DecodeError;
use super::props;
use super::read::{Reader, parse_var_int};
use super::reasons::{self, ReasonSet};
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, Protocol, PubResponse, Publish, QoS,
    RetainHandling, SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};
use crate::properties::Properties;
use crate::reason::ReasonCode;
use crate::topic::{SHARED_PREFIX, validate_topic_filter, validate_topic_name};

/// Packet names by control packet type, for errors.
const NAMES: [&str; 16] = [
    "reserved",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
];

/// Decodes one packet from the front of `buf`, consuming exactly its bytes.
///
/// `Ok(None)` means the packet is incomplete; `buf` is then untouched and the
/// caller reads more bytes and calls again.
///
/// `protocol` is the connection's protocol level, `None` while nothing has been
/// received: then only CONNECT is accepted ([`DecodeError::FirstPacketNotConnect`]),
/// and its protocol name and level pick the version ("MQTT" level 4 is
/// [`Protocol::V311`], level 5 [`Protocol::V5`]; anything else, e.g. MQTT 3.1's
/// "MQIsdp" level 3, is an error whose
/// [`is_unsupported_protocol`](DecodeError::is_unsupported_protocol) is true).
///
/// `max_packet_size` bounds the total packet size (fixed header included). It is
/// checked as soon as the fixed header is readable, before waiting for the body.
///
/// After an error the connection must be closed; how much of `buf` was consumed
/// is unspecified.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Option<Protocol>,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet_type = first >> 4;
    let flags = first & 0x0F;
    if protocol.is_none() && packet_type != 1 {
        return Err(DecodeError::FirstPacketNotConnect(packet_type));
    }
    check_fixed_header(packet_type, flags, protocol)?;
    let Some((remaining, len_bytes)) = parse_var_int(&buf[1..], "remaining length")? else {
        return Ok(None);
    };
    let header_len = 1 + len_bytes;
    let size = header_len + remaining as usize;
    if size > max_packet_size {
        return Err(DecodeError::PacketTooLarge {
            size,
            max: max_packet_size,
        });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let mut frame = buf.split_to(size);
    frame.advance(header_len);
    let r = Reader::new(frame.freeze(), NAMES[usize::from(packet_type)]);
    // Only CONNECT gets here without a protocol, and it carries its own.
    let protocol = protocol.unwrap_or(Protocol::V5);
    decode_body(packet_type, flags, r, protocol).map(Some)
}

/// Checks the first byte: a defined packet type with the flags the specification fixes.
fn check_fixed_header(
    packet_type: u8,
    flags: u8,
    protocol: Option<Protocol>,
) -> Result<(), DecodeError> {
    let expected = match packet_type {
        0 => return Err(DecodeError::ReservedPacketType(0)),
        15 if protocol == Some(Protocol::V311) => {
            return Err(DecodeError::ReservedPacketType(15));
        }
        3 => {
            let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?;
            if flags & 0b1000 != 0 && qos == QoS::AtMostOnce {
                return Err(DecodeError::DupWithQoS0);
            }
            return Ok(());
        }
        6 | 8 | 10 => 0b0010,
        _ => 0,
    };
    if flags != expected {
        return Err(DecodeError::InvalidFixedHeaderFlags {
            packet: NAMES[usize::from(packet_type & 0x0F)],
            expected,
            actual: flags,
        });
    }
    Ok(())
}

fn decode_body(
    packet_type: u8,
    flags: u8,
    mut r: Reader,
    protocol: Protocol,
) -> Result<Packet, DecodeError> {
    let v5 = protocol == Protocol::V5;
    let packet = match packet_type {
        1 => Packet::Connect(Box::new(connect(&mut r)?)),
        2 => Packet::ConnAck(connack(&mut r, v5)?),
        3 => Packet::Publish(publish(&mut r, flags, v5)?),
        4 => Packet::PubAck(pub_response(&mut r, v5, &reasons::PUBACK, props::PUBACK)?),
        5 => Packet::PubRec(pub_response(&mut r, v5, &reasons::PUBREC, props::PUBREC)?),
        6 => Packet::PubRel(pub_response(&mut r, v5, &reasons::PUBREL, props::PUBREL)?),
        7 => Packet::PubComp(pub_response(&mut r, v5, &reasons::PUBCOMP, props::PUBCOMP)?),
        8 => Packet::Subscribe(subscribe(&mut r, v5)?),
        9 => Packet::SubAck(suback(&mut r, v5)?),
        10 => Packet::Unsubscribe(unsubscribe(&mut r, v5)?),
        11 => Packet::UnsubAck(unsuback(&mut r, v5)?),
        12 => Packet::PingReq,
        13 => Packet::PingResp,
        14 => Packet::Disconnect(disconnect(&mut r, v5)?),
        15 => Packet::Auth(auth(&mut r)?),
        // `check_fixed_header` refused type 0, and a nibble cannot exceed 15.
        _ => return Err(DecodeError::ReservedPacketType(packet_type)),
    };
    if let Packet::Publish(_) = packet {
        // The payload took the rest.
        return Ok(packet);
    }
    r.finish()?;
    Ok(packet)
}

/// A packet identifier that must not be 0.
fn packet_id(r: &mut Reader) -> Result<u16, DecodeError> {
    match r.u16("packet identifier")? {
        0 => Err(DecodeError::ZeroPacketId(r.packet())),
        id => Ok(id),
    }
}

fn reason(r: &mut Reader, set: &ReasonSet) -> Result<ReasonCode, DecodeError> {
    let code = r.u8("reason code")?;
    set.parse(code).ok_or(DecodeError::InvalidReasonCode {
        packet: set.packet,
        code,
    })
}

fn properties_if(r: &mut Reader, v5: bool, ctx: props::Context) -> Result<Properties, DecodeError> {
    if v5 {
        props::read(r, ctx)
    } else {
        Ok(Properties::default())
    }
}

fn connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name = r.binary("protocol name")?;
    let level = r.u8("protocol level")?;
    let name_is_mqtt = name.as_ref() == b"MQTT";
    let protocol = match (name_is_mqtt, level) {
        (true, 4) => Protocol::V311,
        (true, 5) => Protocol::V5,
        _ => {
            return Err(DecodeError::UnsupportedProtocol {
                name_is_mqtt,
                level,
            });
        }
    };
    let v5 = protocol == Protocol::V5;
    let flags = r.u8("connect flags")?;
    if flags & 0b0000_0001 != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let clean_start = flags & 0b0000_0010 != 0;
    let will_flag = flags & 0b0000_0100 != 0;
    let will_qos = QoS::from_u8((flags >> 3) & 0b11).ok_or(DecodeError::InvalidWillQoS)?;
    let will_retain = flags & 0b0010_0000 != 0;
    let password_flag = flags & 0b0100_0000 != 0;
    let username_flag = flags & 0b1000_0000 != 0;
    if !will_flag && (will_qos != QoS::AtMostOnce || will_retain) {
        return Err(DecodeError::WillFlagsWithoutWill);
    }
    if !v5 && password_flag && !username_flag {
        return Err(DecodeError::PasswordWithoutUsername);
    }
    let keep_alive = r.u16("keep alive")?;
    let properties = properties_if(r, v5, props::CONNECT)?;
    let client_id = r.string("client identifier")?;
    let will = if will_flag {
        let properties = properties_if(r, v5, props::WILL)?;
        let topic = r.string("will topic")?;
        validate_topic_name(&topic).map_err(DecodeError::InvalidWillTopic)?;
        let payload = r.binary("will payload")?;
        Some(Will {
            topic,
            payload,
            qos: will_qos,
            retain: will_retain,
            properties,
        })
    } else {
        None
    };
    let username = if username_flag {
        Some(r.string("user name")?)
    } else {
        None
    };
    let password = if password_flag {
        Some(r.binary("password")?)
    } else {
        None
    };
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

fn connack(r: &mut Reader, v5: bool) -> Result<ConnAck, DecodeError> {
    let flags = r.u8("connect acknowledge flags")?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags);
    }
    let session_present = flags & 1 != 0;
    let reason = if v5 {
        reason(r, &reasons::CONNACK)?
    } else {
        let code = r.u8("return code")?;
        ReasonCode::from_v311_connack(code).ok_or(DecodeError::InvalidReasonCode {
            packet: "CONNACK",
            code,
        })?
    };
    if session_present && reason != ReasonCode::Success {
        return Err(DecodeError::SessionPresentWithFailure);
    }
    let properties = properties_if(r, v5, props::CONNACK)?;
    Ok(ConnAck {
        session_present,
        reason,
        properties,
    })
}

fn publish(r: &mut Reader, flags: u8, v5: bool) -> Result<Publish, DecodeError> {
    // `check_fixed_header` already refused QoS 3 and DUP with QoS 0.
    let qos = QoS::from_u8((flags >> 1) & 0b11).ok_or(DecodeError::InvalidQoS)?;
    let topic = r.string("topic name")?;
    let packet_id = if qos == QoS::AtMostOnce {
        None
    } else {
        Some(packet_id(r)?)
    };
    let properties = properties_if(r, v5, props::PUBLISH)?;
    if topic.is_empty() {
        if !v5 {
            return Err(DecodeError::InvalidTopicName(
                crate::topic::TopicError::Empty,
            ));
        }
        if properties.topic_alias.is_none() {
            return Err(DecodeError::EmptyTopicWithoutAlias);
        }
    } else {
        validate_topic_name(&topic).map_err(DecodeError::InvalidTopicName)?;
    }
    Ok(Publish {
        dup: flags & 0b1000 != 0,
        qos,
        retain: flags & 1 != 0,
        topic,
        packet_id,
        properties,
        payload: r.rest(),
    })
}

/// PUBACK, PUBREC, PUBREL, PUBCOMP. In MQTT 5 the reason code may be left out
/// (meaning success) and then the property length too (§3.4.2.1).
fn pub_response(
    r: &mut Reader,
    v5: bool,
    set: &ReasonSet,
    ctx: props::Context,
) -> Result<PubResponse, DecodeError> {
    let packet_id = packet_id(r)?;
    if !v5 || r.remaining() == 0 {
        return Ok(PubResponse::success(packet_id));
    }
    let reason = reason(r, set)?;
    let properties = if r.remaining() == 0 {
        Properties::default()
    } else {
        props::read(r, ctx)?
    };
    Ok(PubResponse {
        packet_id,
        reason,
        properties,
    })
}

fn subscribe(r: &mut Reader, v5: bool) -> Result<Subscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = properties_if(r, v5, props::SUBSCRIBE)?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let filter = r.string("topic filter")?;
        validate_topic_filter(&filter).map_err(|error| DecodeError::InvalidTopicFilter {
            packet: "SUBSCRIBE",
            error,
        })?;
        let byte = r.u8("subscription options")?;
        let reserved = if v5 { 0b1100_0000 } else { 0b1111_1100 };
        if byte & reserved != 0 {
            return Err(DecodeError::SubscriptionOptionsReserved);
        }
        let qos = QoS::from_u8(byte & 0b11).ok_or(DecodeError::InvalidQoS)?;
        let no_local = byte & 0b0100 != 0;
        let retain_handling = match (byte >> 4) & 0b11 {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(DecodeError::InvalidRetainHandling),
        };
        if no_local && filter.starts_with(SHARED_PREFIX) {
            return Err(DecodeError::NoLocalOnSharedSubscription);
        }
        filters.push((
            filter,
            SubscriptionOptions {
                qos,
                no_local,
                retain_as_published: byte & 0b1000 != 0,
                retain_handling,
            },
        ));
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters("SUBSCRIBE"));
    }
    Ok(Subscribe {
        packet_id,
        filters,
        properties,
    })
}

fn suback(r: &mut Reader, v5: bool) -> Result<SubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = properties_if(r, v5, props::SUBACK)?;
    let set = if v5 {
        &reasons::SUBACK
    } else {
        &reasons::SUBACK_V311
    };
    let mut reasons = Vec::with_capacity(r.remaining().min(64));
    while r.remaining() > 0 {
        reasons.push(reason(r, set)?);
    }
    if reasons.is_empty() {
        return Err(DecodeError::NoReasonCodes("SUBACK"));
    }
    Ok(SubAck {
        packet_id,
        reasons,
        properties,
    })
}

fn unsubscribe(r: &mut Reader, v5: bool) -> Result<Unsubscribe, DecodeError> {
    let packet_id = packet_id(r)?;
    let properties = properties_if(r, v5, props::UNSUBSCRIBE)?;
    let mut filters = Vec::new();
    while r.remaining() > 0 {
        let filter = r.string("topic filter")?;
        validate_topic_filter(&filter).map_err(|error| DecodeError::InvalidTopicFilter {
            packet: "UNSUBSCRIBE",
            error,
        })?;
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(DecodeError::NoTopicFilters("UNSUBSCRIBE"));
    }
    Ok(Unsubscribe {
        packet_id,
        filters,
        properties,
    })
}

fn unsuback(r: &mut Reader, v5: bool) -> Result<UnsubAck, DecodeError> {
    let packet_id = packet_id(r)?;
    if !v5 {
        return Ok(UnsubAck {
            packet_id,
            reasons: Vec::new(),
            properties: Properties::default(),
        });
    }
    let properties = props::read(r, props::UNSUBACK)?;
    let mut reasons = Vec::with_capacity(r.remaining().min(64));
    while r.remaining() > 0 {
        reasons.push(reason(r, &reasons::UNSUBACK)?);
    }
    if reasons.is_empty() {
        return Err(DecodeError::NoReasonCodes("UNSUBACK"));
    }
    Ok(UnsubAck {
        packet_id,
        reasons,
        properties,
    })
}

/// In MQTT 5 an empty DISCONNECT means "normal disconnection", and one byte is
/// a reason code without properties (§3.14.2.1, §3.14.2.2.1).
fn disconnect(r: &mut Reader, v5: bool) -> Result<Disconnect, DecodeError> {
    let mut d = Disconnect {
        reason: ReasonCode::NormalDisconnection,
        properties: Properties::default(),
    };
    if v5 && r.remaining() > 0 {
        d.reason = reason(r, &reasons::DISCONNECT)?;
        if r.remaining() > 0 {
            d.properties = props::read(r, props::DISCONNECT)?;
        }
    }
    Ok(d)
}

/// An empty AUTH means success without properties (§3.15.2.1); otherwise the
/// reason code, the properties and an authentication method are all required.
fn auth(r: &mut Reader) -> Result<Auth, DecodeError> {
    if r.remaining() == 0 {
        return Ok(Auth {
            reason: ReasonCode::Success,
            properties: Properties::default(),
        });
    }
    let reason = reason(r, &reasons::AUTH)?;
    let properties = props::read(r, props::AUTH)?;
    if properties.authentication_method.is_none() {
        return Err(DecodeError::AuthWithoutMethod);
    }
    Ok(Auth { reason, properties })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::topic::TopicError;
    use bytes::Bytes;

    const MAX: usize = 1 << 20;

    /// A packet with a one-byte remaining length.
    fn frame(first: u8, body: &[u8]) -> Vec<u8> {
        assert!(body.len() < 128);
        let mut v = vec![first, body.len() as u8];
        v.extend_from_slice(body);
        v
    }

    fn dec(bytes: &[u8], p: Option<Protocol>) -> Result<Option<Packet>, DecodeError> {
        let mut buf = BytesMut::from(bytes);
        let r = decode(&mut buf, p, MAX);
        if let Ok(Some(_)) = r {
            assert!(buf.is_empty(), "decode must consume the whole packet");
        }
        r
    }

    fn ok(bytes: &[u8], p: Option<Protocol>) -> Packet {
        match dec(bytes, p) {
            Ok(Some(packet)) => packet,
            other => panic!("expected a packet from {bytes:02x?}, got {other:?}"),
        }
    }

    fn err(bytes: &[u8], p: Option<Protocol>) -> DecodeError {
        match dec(bytes, p) {
            Err(e) => e,
            other => panic!("expected an error from {bytes:02x?}, got {other:?}"),
        }
    }

    const V4: Option<Protocol> = Some(Protocol::V311);
    const V5: Option<Protocol> = Some(Protocol::V5);

    /// CONNECT variable header for "MQTT" at `level` with `flags`, keep alive 60.
    fn connect_body(level: u8, flags: u8, rest: &[u8]) -> Vec<u8> {
        let mut v = vec![0, 4, b'M', b'Q', b'T', b'T', level, flags, 0, 60];
        v.extend_from_slice(rest);
        v
    }

    #[test]
    fn minimal_v311_connect_picks_protocol_3_1_1() {
        let p = ok(&frame(0x10, &connect_body(4, 0x02, &[0, 1, b'c'])), None);
        let Packet::Connect(c) = p else {
            panic!("{p:?}")
        };
        assert_eq!(c.protocol, Protocol::V311);
        assert!(c.clean_start);
        assert_eq!(c.keep_alive, 60);
        assert_eq!(&*c.client_id, "c");
        assert!(c.will.is_none() && c.username.is_none() && c.password.is_none());
    }

    #[test]
    fn full_v5_connect_decodes_properties_will_and_credentials() {
        // Flags: user name, password, will retain, will QoS 1, will, clean start.
        let mut body = connect_body(5, 0b1110_1110, &[]);
        body.extend_from_slice(&[5, 0x11, 0, 0, 0, 30]); // session expiry 30
        body.extend_from_slice(&[0, 2, b'i', b'd']);
        body.extend_from_slice(&[2, 0x01, 1]); // will: payload format 1
        body.extend_from_slice(&[0, 1, b't', 0, 2, b'h', b'i']);
        body.extend_from_slice(&[0, 1, b'u', 0, 1, b'p']);
        let Packet::Connect(c) = ok(&frame(0x10, &body), None) else {
            panic!()
        };
        assert_eq!(c.protocol, Protocol::V5);
        assert_eq!(c.properties.session_expiry_interval, Some(30));
        let w = c.will.as_ref().expect("will");
        assert_eq!((w.qos, w.retain, &*w.topic), (QoS::AtLeastOnce, true, "t"));
        assert_eq!(w.payload, Bytes::from_static(b"hi"));
        assert_eq!(w.properties.payload_format_indicator, Some(1));
        assert_eq!(c.username.as_deref(), Some("u"));
        assert_eq!(c.password, Some(Bytes::from_static(b"p")));
    }

    #[test]
    fn mqisdp_level_3_and_unknown_levels_are_unsupported_protocols() {
        let mut body = vec![0, 6, b'M', b'Q', b'I', b's', b'd', b'p', 3, 2, 0, 60];
        body.extend_from_slice(&[0, 1, b'c']);
        let e = err(&frame(0x10, &body), None);
        assert!(e.is_unsupported_protocol());
        assert_eq!(e.reason_code(), ReasonCode::UnsupportedProtocolVersion);
        for level in [0, 3, 6, 255] {
            let e = err(&frame(0x10, &connect_body(level, 2, &[0, 0])), None);
            assert_eq!(
                e,
                DecodeError::UnsupportedProtocol {
                    name_is_mqtt: true,
                    level
                }
            );
        }
    }

    #[test]
    fn the_first_packet_must_be_connect() {
        assert_eq!(
            err(&[0xC0, 0], None),
            DecodeError::FirstPacketNotConnect(12)
        );
        // Refused from the first byte, before the rest has arrived.
        assert_eq!(err(&[0x30], None), DecodeError::FirstPacketNotConnect(3));
        assert_eq!(
            err(&[0x10, 2, 0, 0], None).reason_code(),
            ReasonCode::MalformedPacket
        );
    }

    #[test]
    fn connect_flag_rules_are_enforced() {
        let c = |flags, rest: &[u8]| frame(0x10, &connect_body(4, flags, rest));
        assert_eq!(
            err(&c(0x03, &[0, 0]), None),
            DecodeError::ConnectReservedFlag
        );
        assert_eq!(
            err(&c(0b0001_1100, &[0, 0]), None),
            DecodeError::InvalidWillQoS
        );
        assert_eq!(
            err(&c(0b0000_1000, &[0, 0]), None),
            DecodeError::WillFlagsWithoutWill
        );
        assert_eq!(
            err(&c(0b0010_0000, &[0, 0]), None),
            DecodeError::WillFlagsWithoutWill
        );
        assert_eq!(
            err(&c(0b0100_0000, &[0, 0, 0, 1, b'p']), None),
            DecodeError::PasswordWithoutUsername
        );
        // MQTT 5 allows a password without a user name.
        let v5 = frame(0x10, &connect_body(5, 0b0100_0000, &[0, 0, 0, 0, 1, b'p']));
        let Packet::Connect(c) = ok(&v5, None) else {
            panic!()
        };
        assert_eq!(c.password, Some(Bytes::from_static(b"p")));
        assert!(c.username.is_none());
    }

    #[test]
    fn will_topics_must_be_topic_names() {
        let body = connect_body(4, 0b0000_0100, &[0, 0, 0, 3, b'a', b'/', b'#', 0, 0]);
        assert_eq!(
            err(&frame(0x10, &body), None),
            DecodeError::InvalidWillTopic(TopicError::WildcardInName)
        );
    }

    #[test]
    fn connect_with_bytes_after_the_password_is_malformed() {
        let body = connect_body(4, 0b1100_0000, &[0, 0, 0, 1, b'u', 0, 1, b'p', 9]);
        assert_eq!(
            err(&frame(0x10, &body), None),
            DecodeError::TrailingBytes {
                packet: "CONNECT",
                count: 1
            }
        );
    }

    #[test]
    fn client_identifier_must_be_valid_utf8_without_nul() {
        let nul = connect_body(4, 2, &[0, 2, b'a', 0]);
        assert_eq!(
            err(&frame(0x10, &nul), None),
            DecodeError::NulInString("client identifier")
        );
        let bad = connect_body(4, 2, &[0, 2, 0xC3, 0x28]);
        assert_eq!(
            err(&frame(0x10, &bad), None),
            DecodeError::InvalidUtf8("client identifier")
        );
        // A UTF-8 encoded surrogate, U+D800.
        let surrogate = connect_body(4, 2, &[0, 3, 0xED, 0xA0, 0x80]);
        assert_eq!(
            err(&frame(0x10, &surrogate), None),
            DecodeError::InvalidUtf8("client identifier")
        );
    }

    #[test]
    fn v311_connack_return_codes_map_to_reason_codes() {
        let p = ok(&[0x20, 2, 1, 0], V4);
        assert_eq!(
            p,
            Packet::ConnAck(ConnAck {
                session_present: true,
                reason: ReasonCode::Success,
                properties: Properties::default()
            })
        );
        let Packet::ConnAck(c) = ok(&[0x20, 2, 0, 5], V4) else {
            panic!()
        };
        assert_eq!(c.reason, ReasonCode::NotAuthorized);
        assert_eq!(
            err(&[0x20, 2, 0, 6], V4),
            DecodeError::InvalidReasonCode {
                packet: "CONNACK",
                code: 6
            }
        );
        assert_eq!(err(&[0x20, 2, 2, 0], V4), DecodeError::ConnAckReservedFlags);
        assert_eq!(
            err(&[0x20, 2, 1, 4], V4),
            DecodeError::SessionPresentWithFailure
        );
    }

    #[test]
    fn v5_connack_carries_properties_and_v5_reason_codes() {
        let p = ok(&frame(0x20, &[0, 0x87, 5, 0x21, 0, 10, 0x24, 1]), V5);
        let Packet::ConnAck(c) = p else { panic!() };
        assert_eq!(c.reason, ReasonCode::NotAuthorized);
        assert_eq!(c.properties.receive_maximum, Some(10));
        assert_eq!(c.properties.maximum_qos, Some(1));
        assert_eq!(
            err(&frame(0x20, &[0, 0x05, 0]), V5),
            DecodeError::InvalidReasonCode {
                packet: "CONNACK",
                code: 5
            }
        );
        // A v5 CONNACK always carries a property length.
        assert!(matches!(
            err(&frame(0x20, &[0, 0]), V5),
            DecodeError::Truncated { .. }
        ));
    }

    #[test]
    fn publish_payload_is_a_slice_of_the_receive_buffer() {
        let bytes = frame(0x31, &[0, 3, b'a', b'/', b'b', 1, 2, 3, 4]);
        let mut buf = BytesMut::from(&bytes[..]);
        let start = buf.as_ptr() as usize;
        let Ok(Some(Packet::Publish(p))) = decode(&mut buf, V4, MAX) else {
            panic!()
        };
        assert!(p.retain && !p.dup);
        assert_eq!(
            (p.qos, p.packet_id, &*p.topic),
            (QoS::AtMostOnce, None, "a/b")
        );
        assert_eq!(&p.payload[..], &[1, 2, 3, 4]);
        assert_eq!(p.payload.as_ptr() as usize, start + 7);
        assert_eq!(p.topic.as_bytes().as_ptr() as usize, start + 4);
    }

    #[test]
    fn v5_publish_strings_and_properties_are_slices_of_the_receive_buffer() {
        let body = [
            0, 1, b't', 0, 1, // topic, packet id 1
            11, 0x26, 0, 1, b'k', 0, 1, b'v', 0x09, 0, 1, // user property, correlation data
            7, b'p',
        ];
        let bytes = frame(0x32, &[&body[..], &[9]].concat());
        let mut buf = BytesMut::from(&bytes[..]);
        let start = buf.as_ptr() as usize;
        let range = start..start + bytes.len();
        let Ok(Some(Packet::Publish(p))) = decode(&mut buf, V5, MAX) else {
            panic!()
        };
        let (k, v) = &p.properties.user_properties[0];
        let cd = p
            .properties
            .correlation_data
            .as_ref()
            .expect("correlation data");
        for ptr in [
            p.topic.as_bytes().as_ptr(),
            k.as_bytes().as_ptr(),
            v.as_bytes().as_ptr(),
            cd.as_ptr(),
            p.payload.as_ptr(),
        ] {
            assert!(range.contains(&(ptr as usize)), "copied out of the buffer");
        }
        assert_eq!(&p.payload[..], b"p\x09");
    }

    #[test]
    fn publish_with_qos_2_and_v5_properties() {
        let body = [
            0, 1, b't', 0, 7, // topic, packet id 7
            7, 0x0B, 1, 0x0B, 2, 0x23, 0, 3, // sub ids 1, 2; topic alias 3
            b'x',
        ];
        let Packet::Publish(p) = ok(&frame(0x3C, &body), V5) else {
            panic!()
        };
        assert!(p.dup && !p.retain);
        assert_eq!((p.qos, p.packet_id), (QoS::ExactlyOnce, Some(7)));
        assert_eq!(p.properties.subscription_identifiers, vec![1, 2]);
        assert_eq!(p.properties.topic_alias, Some(3));
        assert_eq!(&p.payload[..], b"x");
    }

    #[test]
    fn publish_flag_and_topic_rules_are_enforced() {
        assert_eq!(err(&[0x36], V4), DecodeError::InvalidQoS);
        assert_eq!(err(&[0x38], V4), DecodeError::DupWithQoS0);
        assert_eq!(
            err(&frame(0x32, &[0, 1, b't', 0, 0]), V4),
            DecodeError::ZeroPacketId("PUBLISH")
        );
        assert_eq!(
            err(&frame(0x30, &[0, 3, b'a', b'/', b'+']), V4),
            DecodeError::InvalidTopicName(TopicError::WildcardInName)
        );
        assert_eq!(
            err(&frame(0x30, &[0, 0]), V4),
            DecodeError::InvalidTopicName(TopicError::Empty)
        );
        assert_eq!(
            err(&frame(0x30, &[0, 0, 0]), V5),
            DecodeError::EmptyTopicWithoutAlias
        );
        assert_eq!(
            err(&frame(0x30, &[0, 0, 0]), V5).reason_code(),
            ReasonCode::ProtocolError
        );
        let Packet::Publish(p) = ok(&frame(0x30, &[0, 0, 3, 0x23, 0, 1]), V5) else {
            panic!()
        };
        assert_eq!((&*p.topic, p.properties.topic_alias), ("", Some(1)));
        assert_eq!(
            err(&frame(0x30, &[0, 2, b'a', 0]), V4),
            DecodeError::NulInString("topic name")
        );
    }

    #[test]
    fn v311_acks_are_exactly_a_packet_identifier() {
        for first in [0x40, 0x50, 0x62, 0x70] {
            let p = ok(&[first, 2, 0, 9], V4);
            let r = match p {
                Packet::PubAck(r) | Packet::PubRec(r) | Packet::PubRel(r) | Packet::PubComp(r) => r,
                other => panic!("{other:?}"),
            };
            assert_eq!(r, PubResponse::success(9));
            assert!(matches!(
                err(&[first, 3, 0, 9, 0], V4),
                DecodeError::TrailingBytes { count: 1, .. }
            ));
            assert!(matches!(
                err(&[first, 2, 0, 0], V4),
                DecodeError::ZeroPacketId(_)
            ));
        }
    }

    #[test]
    fn v5_acks_accept_their_short_forms() {
        assert_eq!(
            ok(&[0x40, 2, 0, 1], V5),
            Packet::PubAck(PubResponse::success(1))
        );
        let Packet::PubRec(r) = ok(&[0x50, 3, 0, 1, 0x10], V5) else {
            panic!()
        };
        assert_eq!(r.reason, ReasonCode::NoMatchingSubscribers);
        let Packet::PubComp(r) = ok(&[0x70, 8, 0, 1, 0x92, 4, 0x1F, 0, 1, b'r'], V5) else {
            panic!()
        };
        assert_eq!(r.reason, ReasonCode::PacketIdentifierNotFound);
        assert_eq!(r.properties.reason_string.as_deref(), Some("r"));
        assert_eq!(
            err(&[0x62, 3, 0, 1, 0x10], V5),
            DecodeError::InvalidReasonCode {
                packet: "PUBREL",
                code: 0x10
            }
        );
    }

    #[test]
    fn fixed_header_flags_are_checked_before_the_body() {
        assert_eq!(
            err(&[0x60], V4),
            DecodeError::InvalidFixedHeaderFlags {
                packet: "PUBREL",
                expected: 2,
                actual: 0
            }
        );
        for first in [0x80, 0xA0, 0x41, 0xC1, 0xE8, 0x2F] {
            assert!(
                matches!(
                    err(&[first], V4),
                    DecodeError::InvalidFixedHeaderFlags { .. }
                ),
                "{first:#04x}"
            );
        }
        assert_eq!(err(&[0x00, 0], V4), DecodeError::ReservedPacketType(0));
        assert_eq!(err(&[0xF0, 0], V4), DecodeError::ReservedPacketType(15));
    }

    #[test]
    fn subscribe_decodes_filters_and_options_in_both_versions() {
        let body = [0, 5, 0, 3, b'a', b'/', b'#', 0x01, 0, 1, b'b', 0x02];
        let Packet::Subscribe(s) = ok(&frame(0x82, &body), V4) else {
            panic!()
        };
        assert_eq!(s.packet_id, 5);
        assert_eq!(s.filters.len(), 2);
        assert_eq!(s.filters[0].1.qos, QoS::AtLeastOnce);
        assert_eq!(s.filters[1].1.qos, QoS::ExactlyOnce);
        // v5: sub id 4, options: QoS 1, no local, retain as published, retain handling 2.
        let body = [0, 5, 2, 0x0B, 4, 0, 1, b'a', 0b0010_1101];
        let Packet::Subscribe(s) = ok(&frame(0x82, &body), V5) else {
            panic!()
        };
        assert_eq!(s.properties.subscription_identifiers, vec![4]);
        assert_eq!(
            s.filters[0].1,
            SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                no_local: true,
                retain_as_published: true,
                retain_handling: RetainHandling::DoNotSend
            }
        );
    }

    #[test]
    fn subscribe_rules_are_enforced() {
        let sub = |p: Option<Protocol>, entry: &[u8]| {
            let mut body = vec![0, 1];
            if p == V5 {
                body.push(0);
            }
            body.extend_from_slice(entry);
            err(&frame(0x82, &body), p)
        };
        assert_eq!(
            sub(V4, &[0, 1, b'a', 0x04]),
            DecodeError::SubscriptionOptionsReserved
        );
        assert_eq!(
            sub(V5, &[0, 1, b'a', 0x40]),
            DecodeError::SubscriptionOptionsReserved
        );
        assert_eq!(sub(V4, &[0, 1, b'a', 0x03]), DecodeError::InvalidQoS);
        assert_eq!(
            sub(V5, &[0, 1, b'a', 0x30]),
            DecodeError::InvalidRetainHandling
        );
        assert_eq!(
            sub(V5, b"\x00\x0a$share/g/a\x04"),
            DecodeError::NoLocalOnSharedSubscription
        );
        assert_eq!(sub(V4, &[]), DecodeError::NoTopicFilters("SUBSCRIBE"));
        assert_eq!(sub(V5, &[]), DecodeError::NoTopicFilters("SUBSCRIBE"));
        assert_eq!(
            sub(V4, &[0, 2, b'a', b'#', 0]),
            DecodeError::InvalidTopicFilter {
                packet: "SUBSCRIBE",
                error: TopicError::InvalidWildcard
            }
        );
        assert!(matches!(
            sub(V4, &[0, 1, b'a']),
            DecodeError::Truncated {
                field: "subscription options",
                ..
            }
        ));
        assert_eq!(
            err(&frame(0x82, &[0, 0, 0, 1, b'a', 0]), V4),
            DecodeError::ZeroPacketId("SUBSCRIBE")
        );
        // Only one subscription identifier on SUBSCRIBE.
        assert_eq!(
            err(
                &frame(0x82, &[0, 1, 4, 0x0B, 1, 0x0B, 2, 0, 1, b'a', 0]),
                V5
            ),
            DecodeError::DuplicateProperty {
                packet: "SUBSCRIBE",
                id: 0x0B
            }
        );
    }

    #[test]
    fn suback_reason_codes_depend_on_the_version() {
        let Packet::SubAck(s) = ok(&frame(0x90, &[0, 1, 0, 2, 0x80]), V4) else {
            panic!()
        };
        assert_eq!(
            s.reasons,
            vec![
                ReasonCode::GrantedQoS0,
                ReasonCode::GrantedQoS2,
                ReasonCode::UnspecifiedError
            ]
        );
        assert!(matches!(
            err(&frame(0x90, &[0, 1, 0x87]), V4),
            DecodeError::InvalidReasonCode { code: 0x87, .. }
        ));
        let Packet::SubAck(s) = ok(&frame(0x90, &[0, 1, 0, 0x87]), V5) else {
            panic!()
        };
        assert_eq!(s.reasons, vec![ReasonCode::NotAuthorized]);
        assert_eq!(
            err(&frame(0x90, &[0, 1]), V4),
            DecodeError::NoReasonCodes("SUBACK")
        );
    }

    #[test]
    fn unsubscribe_and_unsuback_in_both_versions() {
        let Packet::Unsubscribe(u) = ok(&frame(0xA2, &[0, 2, 0, 1, b'a', 0, 1, b'+']), V4) else {
            panic!()
        };
        assert_eq!(
            u.filters,
            vec![ByteStringExt::s("a"), ByteStringExt::s("+")]
        );
        assert_eq!(
            err(&frame(0xA2, &[0, 2]), V4),
            DecodeError::NoTopicFilters("UNSUBSCRIBE")
        );
        assert_eq!(
            err(&frame(0xA2, &[0, 2, 0]), V5),
            DecodeError::NoTopicFilters("UNSUBSCRIBE")
        );
        assert_eq!(
            ok(&[0xB0, 2, 0, 3], V4),
            Packet::UnsubAck(UnsubAck {
                packet_id: 3,
                reasons: vec![],
                properties: Properties::default()
            })
        );
        let Packet::UnsubAck(u) = ok(&frame(0xB0, &[0, 3, 0, 0x11, 0x00]), V5) else {
            panic!()
        };
        assert_eq!(
            u.reasons,
            vec![ReasonCode::NoSubscriptionExisted, ReasonCode::Success]
        );
        assert_eq!(
            err(&frame(0xB0, &[0, 3, 0]), V5),
            DecodeError::NoReasonCodes("UNSUBACK")
        );
        // UNSUBSCRIBE allows user properties only.
        assert_eq!(
            err(&frame(0xA2, &[0, 2, 2, 0x0B, 1, 0, 1, b'a']), V5),
            DecodeError::PropertyNotAllowed {
                packet: "UNSUBSCRIBE",
                id: 0x0B
            }
        );
    }

    /// `ByteString` from a literal, for comparisons.
    struct ByteStringExt;
    impl ByteStringExt {
        fn s(v: &'static str) -> crate::ByteString {
            crate::ByteString::from_static(v)
        }
    }

    #[test]
    fn ping_and_v311_disconnect_have_no_body() {
        assert_eq!(ok(&[0xC0, 0], V4), Packet::PingReq);
        assert_eq!(ok(&[0xD0, 0], V5), Packet::PingResp);
        assert!(matches!(
            err(&[0xC0, 1, 0], V4),
            DecodeError::TrailingBytes { count: 1, .. }
        ));
        assert!(matches!(
            ok(&[0xE0, 0], V4),
            Packet::Disconnect(Disconnect {
                reason: ReasonCode::Success,
                ..
            })
        ));
        assert!(matches!(
            err(&[0xE0, 1, 0x04], V4),
            DecodeError::TrailingBytes { .. }
        ));
    }

    #[test]
    fn v5_disconnect_forms() {
        let Packet::Disconnect(d) = ok(&[0xE0, 1, 0x04], V5) else {
            panic!()
        };
        assert_eq!(d.reason, ReasonCode::DisconnectWithWill);
        let Packet::Disconnect(d) = ok(&frame(0xE0, &[0x8E, 5, 0x11, 0, 0, 0, 9]), V5) else {
            panic!()
        };
        assert_eq!(d.reason, ReasonCode::SessionTakenOver);
        assert_eq!(d.properties.session_expiry_interval, Some(9));
        assert!(matches!(
            err(&[0xE0, 1, 0x01], V5),
            DecodeError::InvalidReasonCode { code: 1, .. }
        ));
    }

    #[test]
    fn auth_exists_only_in_v5_and_needs_a_method() {
        assert_eq!(err(&[0xF0, 0], V4), DecodeError::ReservedPacketType(15));
        assert!(matches!(
            ok(&[0xF0, 0], V5),
            Packet::Auth(Auth {
                reason: ReasonCode::Success,
                ..
            })
        ));
        let body = [0x18, 9, 0x15, 0, 2, b'm', b'1', 0x16, 0, 1, 7];
        let Packet::Auth(a) = ok(&frame(0xF0, &body), V5) else {
            panic!()
        };
        assert_eq!(a.reason, ReasonCode::ContinueAuthentication);
        assert_eq!(a.properties.authentication_method.as_deref(), Some("m1"));
        assert_eq!(
            a.properties.authentication_data,
            Some(Bytes::from_static(&[7]))
        );
        assert_eq!(
            err(&frame(0xF0, &[0x18, 0]), V5),
            DecodeError::AuthWithoutMethod
        );
        assert_eq!(
            err(&frame(0xF0, &[0x18, 4, 0x16, 0, 1, 7]), V5),
            DecodeError::AuthDataWithoutMethod
        );
        assert!(matches!(
            err(&[0xF0, 1, 0x18], V5),
            DecodeError::Truncated { .. }
        ));
    }

    #[test]
    fn property_rules_are_enforced() {
        let publish = |props: &[u8]| {
            let mut body = vec![0, 1, b't', props.len() as u8];
            body.extend_from_slice(props);
            dec(&frame(0x30, &body), V5)
        };
        assert_eq!(
            publish(&[0x01, 1, 0x01, 0]),
            Err(DecodeError::DuplicateProperty {
                packet: "PUBLISH",
                id: 1
            })
        );
        assert_eq!(
            publish(&[0x11, 0, 0, 0, 1]),
            Err(DecodeError::PropertyNotAllowed {
                packet: "PUBLISH",
                id: 0x11
            })
        );
        assert_eq!(
            publish(&[0x7F, 0]),
            Err(DecodeError::PropertyNotAllowed {
                packet: "PUBLISH",
                id: 0x7F
            })
        );
        // Identifier as a two-byte Variable Byte Integer: 128, unknown.
        assert_eq!(
            publish(&[0x80, 0x01]),
            Err(DecodeError::PropertyNotAllowed {
                packet: "PUBLISH",
                id: 128
            })
        );
        assert!(matches!(
            publish(&[0x0B, 0]),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert!(matches!(
            publish(&[0x23, 0, 0]),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert!(matches!(
            publish(&[0x01, 2]),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert!(matches!(
            publish(&[0x08, 0, 1, b'#']),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert!(matches!(
            publish(&[0x02, 0, 0]),
            Err(DecodeError::Truncated { .. })
        ));
        // User properties repeat, in order.
        let Ok(Some(Packet::Publish(p))) =
            publish(&[0x26, 0, 1, b'k', 0, 1, b'1', 0x26, 0, 1, b'k', 0, 1, b'2'])
        else {
            panic!()
        };
        assert_eq!(p.properties.user_properties.len(), 2);
        assert_eq!(&*p.properties.user_properties[1].1, "2");
        // A property length past the end of the packet.
        assert!(matches!(
            dec(&frame(0x30, &[0, 1, b't', 9, 0x01]), V5),
            Err(DecodeError::Truncated { .. })
        ));
        // CONNECT value rules.
        let connect = |props: &[u8]| {
            let mut rest = vec![props.len() as u8];
            rest.extend_from_slice(props);
            rest.extend_from_slice(&[0, 0]);
            dec(&frame(0x10, &connect_body(5, 2, &rest)), None)
        };
        assert!(matches!(
            connect(&[0x21, 0, 0]),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert!(matches!(
            connect(&[0x27, 0, 0, 0, 0]),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert!(matches!(
            connect(&[0x17, 2]),
            Err(DecodeError::InvalidPropertyValue { .. })
        ));
        assert_eq!(
            connect(&[0x16, 0, 0]),
            Err(DecodeError::AuthDataWithoutMethod)
        );
        assert!(matches!(
            connect(&[0x21, 0, 1, 0x27, 0, 0, 1, 0]),
            Ok(Some(_))
        ));
    }

    #[test]
    fn remaining_length_must_be_at_most_four_bytes_and_minimal() {
        assert_eq!(
            err(&[0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F], V4),
            DecodeError::InvalidVarInt("remaining length")
        );
        assert_eq!(
            err(&[0xC0, 0x80, 0x00], V4),
            DecodeError::InvalidVarInt("remaining length")
        );
    }

    #[test]
    fn oversized_packets_are_refused_from_the_fixed_header_alone() {
        // Remaining length 1000; only the fixed header is there.
        let mut buf = BytesMut::from(&[0x30, 0xE8, 0x07][..]);
        assert_eq!(
            decode(&mut buf, V4, 100),
            Err(DecodeError::PacketTooLarge {
                size: 1003,
                max: 100
            })
        );
        assert_eq!(
            decode(&mut buf, V4, 100).map_err(|e| e.reason_code()),
            Err(ReasonCode::PacketTooLarge)
        );
        // Exactly at the limit is fine.
        let mut buf = BytesMut::from(&[0xC0, 0][..]);
        assert_eq!(decode(&mut buf, V4, 2), Ok(Some(Packet::PingReq)));
    }

    #[test]
    fn incomplete_packets_leave_the_buffer_untouched() {
        let whole = frame(0x30, &[0, 1, b't', 1, 2, 3]);
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(decode(&mut buf, V4, MAX), Ok(None), "cut at {cut}");
            assert_eq!(&buf[..], &whole[..cut]);
        }
    }

    #[test]
    fn a_length_field_never_sizes_an_allocation() {
        // The fixed header announces 2 MiB; the decoder must neither fail nor
        // reserve room for it, just wait for the bytes.
        let mut buf = BytesMut::with_capacity(16);
        buf.extend_from_slice(&[0x30, 0x80, 0x80, 0x80, 0x01, 0, 1]);
        let capacity = buf.capacity();
        assert_eq!(decode(&mut buf, V4, 4 << 20), Ok(None));
        assert_eq!(buf.capacity(), capacity);
        assert_eq!(buf.len(), 7);
    }

    #[test]
    fn a_connect_brings_its_own_level_whatever_the_connection_state() {
        let v5 = frame(0x10, &connect_body(5, 2, &[0, 0, 0]));
        for state in [None, V4, V5] {
            let Packet::Connect(c) = ok(&v5, state) else {
                panic!()
            };
            assert_eq!(c.protocol, Protocol::V5);
        }
    }

    #[test]
    fn back_to_back_packets_decode_one_at_a_time() {
        let mut buf = BytesMut::from(&[0xC0, 0, 0xE0, 0, 0xC0][..]);
        assert_eq!(decode(&mut buf, V4, MAX), Ok(Some(Packet::PingReq)));
        assert!(matches!(
            decode(&mut buf, V4, MAX),
            Ok(Some(Packet::Disconnect(_)))
        ));
        assert_eq!(decode(&mut buf, V4, MAX), Ok(None));
        assert_eq!(&buf[..], &[0xC0]);
    }

    #[test]
    fn errors_map_to_the_reason_codes_the_broker_sends() {
        assert_eq!(
            DecodeError::InvalidVarInt("x").reason_code(),
            ReasonCode::MalformedPacket
        );
        assert_eq!(
            DecodeError::DuplicateProperty { packet: "P", id: 1 }.reason_code(),
            ReasonCode::ProtocolError
        );
        assert_eq!(
            DecodeError::InvalidTopicName(TopicError::WildcardInName).reason_code(),
            ReasonCode::TopicNameInvalid
        );
        assert!(!DecodeError::InvalidQoS.is_unsupported_protocol());
    }
}
