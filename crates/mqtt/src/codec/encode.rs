//! Encoding: appends packets to a caller's (reused) `BytesMut`.
//!
//! Each packet is sized first, which is also where the encoder checks what the
//! decoder would refuse (string lengths, packet identifiers, reason codes and
//! properties allowed in the packet); then the buffer is reserved once and
//! written. On an error nothing has been appended.
//!
//! The protocol level decides what is written. For MQTT 3.1.1 the encoder maps
//! or drops what 3.1.1 cannot express: no properties, a CONNACK reason becomes
//! the closest return code (0–5), a SUBACK failure becomes 0x80, PUBACK/PUBREC/
//! PUBREL/PUBCOMP, UNSUBACK and DISCONNECT lose their reason codes. AUTH does
//! not exist in 3.1.1 and is refused.
//!
//! [`encode_publish`] and [`publish_len`] take a [`PublishRef`] so the broker's
//! fan-out path can encode one message per subscriber with that subscriber's
//! packet identifier, subscription identifiers and topic alias, without
//! building (or cloning into) a [`Publish`].

use bytes::{BufMut, BytesMut};

use super::error::EncodeError;
use super::props::{self, View};
use super::reasons::{self, ReasonSet};
use super::write::{prefixed_len, put_prefixed, put_var_int, remaining_length, var_int_len};
use crate::packet::{
    Auth, ConnAck, Connect, Disconnect, Packet, Protocol, PubResponse, Publish, QoS, SubAck,
    Subscribe, UnsubAck, Unsubscribe,
};
use crate::properties::Properties;
use crate::reason::ReasonCode;

/// A PUBLISH to encode without building a [`Packet`]: the broker's fan-out
/// path, which must not clone properties or payload per subscriber.
#[derive(Debug, Clone, Copy)]
pub struct PublishRef<'a> {
    /// DUP flag.
    pub dup: bool,
    /// QoS of this transmission.
    pub qos: QoS,
    /// RETAIN flag.
    pub retain: bool,
    /// Topic name; may be empty in MQTT 5 when `topic_alias` is set.
    pub topic: &'a str,
    /// Packet identifier: `Some` (non-zero) exactly when `qos > 0`.
    pub packet_id: Option<u16>,
    /// The message's properties as forwarded; its `subscription_identifiers`
    /// and `topic_alias` are IGNORED in favour of the two fields below.
    pub properties: &'a Properties,
    /// Subscription identifiers of the subscriptions this delivery matches.
    pub subscription_identifiers: &'a [u32],
    /// Topic alias for this subscriber, if any.
    pub topic_alias: Option<u16>,
    /// Application payload.
    pub payload: &'a [u8],
}

impl<'a> PublishRef<'a> {
    /// Borrows a decoded or built [`Publish`], with its own subscription
    /// identifiers and topic alias.
    pub fn from_publish(p: &'a Publish) -> PublishRef<'a> {
        PublishRef {
            dup: p.dup,
            qos: p.qos,
            retain: p.retain,
            topic: &p.topic,
            packet_id: p.packet_id,
            properties: &p.properties,
            subscription_identifiers: &p.properties.subscription_identifiers,
            topic_alias: p.properties.topic_alias,
            payload: &p.payload,
        }
    }

    fn view(&self) -> View<'a> {
        View {
            props: self.properties,
            subscription_identifiers: self.subscription_identifiers,
            topic_alias: self.topic_alias,
        }
    }

    /// The remaining length (everything after the fixed header).
    fn body_len(&self, protocol: Protocol) -> usize {
        let mut len = 2 + self.topic.len() + self.payload.len();
        if self.packet_id.is_some() {
            len += 2;
        }
        if protocol == Protocol::V5 {
            len += self.view().block_len();
        }
        len
    }
}

/// Appends the encoding of `packet` for `protocol` to `out`.
///
/// MQTT 3.1.1 maps or drops what it cannot express (see the module docs); a
/// packet that cannot be encoded at all (a field over 65,535 bytes, a property
/// or reason code not allowed in the packet, AUTH on 3.1.1…) is an error and
/// leaves `out` as it was.
pub fn encode(packet: &Packet, protocol: Protocol, out: &mut BytesMut) -> Result<(), EncodeError> {
    let v5 = protocol == Protocol::V5;
    match packet {
        Packet::Connect(c) => connect(c, protocol, out),
        Packet::ConnAck(c) => connack(c, v5, out),
        Packet::Publish(p) => encode_publish(&PublishRef::from_publish(p), protocol, out),
        Packet::PubAck(p) => pub_response(p, v5, 0x40, &reasons::PUBACK, props::PUBACK, out),
        Packet::PubRec(p) => pub_response(p, v5, 0x50, &reasons::PUBREC, props::PUBREC, out),
        Packet::PubRel(p) => pub_response(p, v5, 0x62, &reasons::PUBREL, props::PUBREL, out),
        Packet::PubComp(p) => pub_response(p, v5, 0x70, &reasons::PUBCOMP, props::PUBCOMP, out),
        Packet::Subscribe(s) => subscribe(s, v5, out),
        Packet::SubAck(s) => suback(s, v5, out),
        Packet::Unsubscribe(u) => unsubscribe(u, v5, out),
        Packet::UnsubAck(u) => unsuback(u, v5, out),
        Packet::PingReq => {
            out.put_slice(&[0xC0, 0]);
            Ok(())
        }
        Packet::PingResp => {
            out.put_slice(&[0xD0, 0]);
            Ok(())
        }
        Packet::Disconnect(d) => disconnect(d, v5, out),
        Packet::Auth(a) => auth(a, v5, out),
    }
}

/// Appends a PUBLISH for `protocol` to `out` (see [`PublishRef`]).
pub fn encode_publish(
    p: &PublishRef<'_>,
    protocol: Protocol,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    const NAME: &str = "PUBLISH";
    let v5 = protocol == Protocol::V5;
    match (p.qos, p.packet_id) {
        (QoS::AtMostOnce, None) => {}
        (QoS::AtLeastOnce | QoS::ExactlyOnce, Some(id)) if id != 0 => {}
        _ => return Err(EncodeError::InvalidPacketId { packet: NAME }),
    }
    if p.dup && p.qos == QoS::AtMostOnce {
        return Err(EncodeError::DupWithQoS0);
    }
    if p.topic.is_empty() && !(v5 && p.topic_alias.is_some()) {
        return Err(EncodeError::EmptyTopic);
    }
    let mut len = prefixed_len(p.topic.as_bytes(), NAME, "topic name")? + p.payload.len();
    if p.packet_id.is_some() {
        len += 2;
    }
    let view = p.view();
    let props_body = if v5 {
        let body = view.check(props::PUBLISH)?;
        // `check` bounded `body` by MAX_VAR_INT.
        len += var_int_len(body as u32) + body;
        body
    } else {
        0
    };
    let first = 0x30 | (u8::from(p.dup) << 3) | ((p.qos as u8) << 1) | u8::from(p.retain);
    header(out, first, len, NAME)?;
    put_prefixed(out, p.topic.as_bytes());
    if let Some(id) = p.packet_id {
        out.put_u16(id);
    }
    if v5 {
        view.put_sized(out, props_body);
    }
    out.put_slice(p.payload);
    Ok(())
}

/// Total encoded size (fixed header included) of that PUBLISH for `protocol`,
/// as [`encode_publish`] would write it, so the broker can respect a client's
/// Maximum Packet Size: a PUBLISH that would exceed it is not sent at all, but
/// discarded as if it had been ([MQTT-3.1.2-25]).
pub fn publish_len(p: &PublishRef<'_>, protocol: Protocol) -> usize {
    let body = p.body_len(protocol);
    1 + var_int_len(u32::try_from(body).unwrap_or(u32::MAX)) + body
}

/// Writes the fixed header after checking the remaining length, and reserves the body.
fn header(
    out: &mut BytesMut,
    first: u8,
    len: usize,
    packet: &'static str,
) -> Result<(), EncodeError> {
    let remaining = remaining_length(len, packet)?;
    out.reserve(1 + var_int_len(remaining) + len);
    out.put_u8(first);
    put_var_int(out, remaining);
    Ok(())
}

fn reason_byte(set: &ReasonSet, reason: ReasonCode) -> Result<u8, EncodeError> {
    let code = reason.as_u8();
    if set.contains(code) {
        Ok(code)
    } else {
        Err(EncodeError::InvalidReasonCode {
            packet: set.packet,
            code,
        })
    }
}

fn nonzero_id(id: u16, packet: &'static str) -> Result<u16, EncodeError> {
    if id == 0 {
        Err(EncodeError::InvalidPacketId { packet })
    } else {
        Ok(id)
    }
}

/// The size of a property block, after checking it, or 0 on 3.1.1.
fn props_len(props: &Properties, v5: bool, ctx: props::Context) -> Result<usize, EncodeError> {
    if !v5 {
        return Ok(0);
    }
    let body = View::of(props).check(ctx)?;
    // `check` bounded `body` by MAX_VAR_INT.
    Ok(var_int_len(body as u32) + body)
}

fn connect(c: &Connect, protocol: Protocol, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "CONNECT";
    if c.protocol != protocol {
        return Err(EncodeError::ProtocolMismatch {
            packet_level: c.protocol.level(),
            requested: protocol.level(),
        });
    }
    let v5 = protocol == Protocol::V5;
    if !v5 && c.password.is_some() && c.username.is_none() {
        return Err(EncodeError::PasswordWithoutUsername);
    }
    // Protocol name, level, flags, keep alive.
    let mut len = 6 + 1 + 1 + 2;
    len += props_len(&c.properties, v5, props::CONNECT)?;
    len += prefixed_len(c.client_id.as_bytes(), NAME, "client identifier")?;
    let mut flags = u8::from(c.clean_start) << 1;
    if let Some(w) = &c.will {
        len += props_len(&w.properties, v5, props::WILL)?;
        len += prefixed_len(w.topic.as_bytes(), NAME, "will topic")?;
        len += prefixed_len(&w.payload, NAME, "will payload")?;
        flags |= 0b100 | ((w.qos as u8) << 3) | (u8::from(w.retain) << 5);
    }
    if let Some(u) = &c.username {
        len += prefixed_len(u.as_bytes(), NAME, "user name")?;
        flags |= 0b1000_0000;
    }
    if let Some(p) = &c.password {
        len += prefixed_len(p, NAME, "password")?;
        flags |= 0b0100_0000;
    }
    header(out, 0x10, len, NAME)?;
    put_prefixed(out, b"MQTT");
    out.put_u8(protocol.level());
    out.put_u8(flags);
    out.put_u16(c.keep_alive);
    if v5 {
        View::of(&c.properties).put(out);
    }
    put_prefixed(out, c.client_id.as_bytes());
    if let Some(w) = &c.will {
        if v5 {
            View::of(&w.properties).put(out);
        }
        put_prefixed(out, w.topic.as_bytes());
        put_prefixed(out, &w.payload);
    }
    if let Some(u) = &c.username {
        put_prefixed(out, u.as_bytes());
    }
    if let Some(p) = &c.password {
        put_prefixed(out, p);
    }
    Ok(())
}

fn connack(c: &ConnAck, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    let code = if v5 {
        reason_byte(&reasons::CONNACK, c.reason)?
    } else {
        c.reason.to_v311_connack()
    };
    // [MQTT-3.2.2-6] / [MQTT-3.2.2-4] (3.1.1): no session on a refused connection.
    let session_present = c.session_present && code == 0;
    let len = 2 + props_len(&c.properties, v5, props::CONNACK)?;
    header(out, 0x20, len, "CONNACK")?;
    out.put_u8(u8::from(session_present));
    out.put_u8(code);
    if v5 {
        View::of(&c.properties).put(out);
    }
    Ok(())
}

fn pub_response(
    p: &PubResponse,
    v5: bool,
    first: u8,
    set: &ReasonSet,
    ctx: props::Context,
    out: &mut BytesMut,
) -> Result<(), EncodeError> {
    let id = nonzero_id(p.packet_id, set.packet)?;
    if !v5 {
        header(out, first, 2, set.packet)?;
        out.put_u16(id);
        return Ok(());
    }
    let code = reason_byte(set, p.reason)?;
    let props_len = props_len(&p.properties, v5, ctx)?;
    // The short forms of §3.4.2.1: no properties, and then no reason if success.
    let len = match (code, p.properties.is_empty()) {
        (0, true) => 2,
        (_, true) => 3,
        _ => 3 + props_len,
    };
    header(out, first, len, set.packet)?;
    out.put_u16(id);
    if len > 2 {
        out.put_u8(code);
    }
    if len > 3 {
        View::of(&p.properties).put(out);
    }
    Ok(())
}

fn subscribe(s: &Subscribe, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "SUBSCRIBE";
    let id = nonzero_id(s.packet_id, NAME)?;
    if s.filters.is_empty() {
        return Err(EncodeError::NoTopicFilters { packet: NAME });
    }
    let mut len = 2 + props_len(&s.properties, v5, props::SUBSCRIBE)?;
    for (filter, _) in &s.filters {
        len += prefixed_len(filter.as_bytes(), NAME, "topic filter")? + 1;
    }
    header(out, 0x82, len, NAME)?;
    out.put_u16(id);
    if v5 {
        View::of(&s.properties).put(out);
    }
    for (filter, o) in &s.filters {
        put_prefixed(out, filter.as_bytes());
        let mut byte = o.qos as u8;
        if v5 {
            byte |= u8::from(o.no_local) << 2
                | u8::from(o.retain_as_published) << 3
                | (o.retain_handling as u8) << 4;
        }
        out.put_u8(byte);
    }
    Ok(())
}

fn suback(s: &SubAck, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "SUBACK";
    let id = nonzero_id(s.packet_id, NAME)?;
    if s.reasons.is_empty() {
        return Err(EncodeError::NoReasonCodes { packet: NAME });
    }
    if v5 {
        for &r in &s.reasons {
            reason_byte(&reasons::SUBACK, r)?;
        }
    }
    let len = 2 + props_len(&s.properties, v5, props::SUBACK)? + s.reasons.len();
    header(out, 0x90, len, NAME)?;
    out.put_u16(id);
    if v5 {
        View::of(&s.properties).put(out);
    }
    for &r in &s.reasons {
        let code = r.as_u8();
        // 3.1.1 knows granted QoS 0–2 and one failure code.
        let code = if v5 || code <= 2 { code } else { 0x80 };
        out.put_u8(code);
    }
    Ok(())
}

fn unsubscribe(u: &Unsubscribe, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "UNSUBSCRIBE";
    let id = nonzero_id(u.packet_id, NAME)?;
    if u.filters.is_empty() {
        return Err(EncodeError::NoTopicFilters { packet: NAME });
    }
    let mut len = 2 + props_len(&u.properties, v5, props::UNSUBSCRIBE)?;
    for filter in &u.filters {
        len += prefixed_len(filter.as_bytes(), NAME, "topic filter")?;
    }
    header(out, 0xA2, len, NAME)?;
    out.put_u16(id);
    if v5 {
        View::of(&u.properties).put(out);
    }
    for filter in &u.filters {
        put_prefixed(out, filter.as_bytes());
    }
    Ok(())
}

fn unsuback(u: &UnsubAck, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "UNSUBACK";
    let id = nonzero_id(u.packet_id, NAME)?;
    if !v5 {
        header(out, 0xB0, 2, NAME)?;
        out.put_u16(id);
        return Ok(());
    }
    if u.reasons.is_empty() {
        return Err(EncodeError::NoReasonCodes { packet: NAME });
    }
    for &r in &u.reasons {
        reason_byte(&reasons::UNSUBACK, r)?;
    }
    let len = 2 + props_len(&u.properties, v5, props::UNSUBACK)? + u.reasons.len();
    header(out, 0xB0, len, NAME)?;
    out.put_u16(id);
    View::of(&u.properties).put(out);
    for &r in &u.reasons {
        out.put_u8(r.as_u8());
    }
    Ok(())
}

fn disconnect(d: &Disconnect, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "DISCONNECT";
    if !v5 {
        header(out, 0xE0, 0, NAME)?;
        return Ok(());
    }
    let code = reason_byte(&reasons::DISCONNECT, d.reason)?;
    let props_len = props_len(&d.properties, v5, props::DISCONNECT)?;
    // The short forms of §3.14.2.1.
    let len = match (code, d.properties.is_empty()) {
        (0, true) => 0,
        (_, true) => 1,
        _ => 1 + props_len,
    };
    header(out, 0xE0, len, NAME)?;
    if len > 0 {
        out.put_u8(code);
    }
    if len > 1 {
        View::of(&d.properties).put(out);
    }
    Ok(())
}

fn auth(a: &Auth, v5: bool, out: &mut BytesMut) -> Result<(), EncodeError> {
    const NAME: &str = "AUTH";
    if !v5 {
        return Err(EncodeError::NotInProtocol { packet: NAME });
    }
    let code = reason_byte(&reasons::AUTH, a.reason)?;
    if code == 0 && a.properties.is_empty() {
        header(out, 0xF0, 0, NAME)?;
        return Ok(());
    }
    if a.properties.authentication_method.is_none() {
        return Err(EncodeError::InvalidPropertyValue {
            packet: NAME,
            rule: "§3.15.2.2.2: AUTH needs an authentication method",
        });
    }
    let len = 1 + props_len(&a.properties, v5, props::AUTH)?;
    header(out, 0xF0, len, NAME)?;
    out.put_u8(code);
    View::of(&a.properties).put(out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode;
    use crate::packet::{ByteString, SubscriptionOptions, Will};
    use bytes::Bytes;

    fn enc(p: &Packet, protocol: Protocol) -> Result<Vec<u8>, EncodeError> {
        let mut out = BytesMut::new();
        encode(p, protocol, &mut out).map(|()| out.to_vec())
    }

    fn ok(p: &Packet, protocol: Protocol) -> Vec<u8> {
        match enc(p, protocol) {
            Ok(v) => v,
            Err(e) => panic!("{p:?}: {e}"),
        }
    }

    fn connack(session_present: bool, reason: ReasonCode) -> Packet {
        Packet::ConnAck(ConnAck {
            session_present,
            reason,
            properties: Properties::default(),
        })
    }

    fn with_reason_string() -> Properties {
        Properties {
            reason_string: Some(ByteString::from_static("why")),
            ..Properties::default()
        }
    }

    #[test]
    fn v311_connect_has_the_well_known_bytes() {
        let c = Connect {
            protocol: Protocol::V311,
            clean_start: true,
            keep_alive: 60,
            client_id: ByteString::from_static("c"),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        };
        assert_eq!(
            ok(&Packet::Connect(Box::new(c)), Protocol::V311),
            [
                0x10, 13, 0, 4, b'M', b'Q', b'T', b'T', 4, 0x02, 0, 60, 0, 1, b'c'
            ]
        );
    }

    #[test]
    fn v311_connack_maps_reasons_to_return_codes_and_drops_session_present_on_failure() {
        let cases = [
            (ReasonCode::Success, 0),
            (ReasonCode::UnsupportedProtocolVersion, 1),
            (ReasonCode::ClientIdentifierNotValid, 2),
            (ReasonCode::ServerBusy, 3),
            (ReasonCode::BadAuthenticationMethod, 4),
            (ReasonCode::NotAuthorized, 5),
            (ReasonCode::QuotaExceeded, 5),
        ];
        for (reason, code) in cases {
            let session = u8::from(code == 0);
            assert_eq!(
                ok(&connack(true, reason), Protocol::V311),
                [0x20, 2, session, code],
                "{reason:?}"
            );
        }
        // The same CONNACK on v5 keeps its reason and writes an empty property block.
        assert_eq!(
            ok(&connack(true, ReasonCode::QuotaExceeded), Protocol::V5),
            [0x20, 3, 0, 0x97, 0]
        );
    }

    #[test]
    fn v311_suback_failures_become_0x80() {
        let p = Packet::SubAck(SubAck {
            packet_id: 1,
            reasons: vec![
                ReasonCode::NotAuthorized,
                ReasonCode::GrantedQoS1,
                ReasonCode::QuotaExceeded,
            ],
            properties: with_reason_string(),
        });
        assert_eq!(ok(&p, Protocol::V311), [0x90, 5, 0, 1, 0x80, 0x01, 0x80]);
        assert_eq!(
            ok(&p, Protocol::V5),
            [
                0x90, 12, 0, 1, 6, 0x1F, 0, 3, b'w', b'h', b'y', 0x87, 0x01, 0x97
            ]
        );
    }

    #[test]
    fn v311_drops_properties_and_reasons_it_cannot_express() {
        let ack = PubResponse {
            packet_id: 7,
            reason: ReasonCode::NotAuthorized,
            properties: with_reason_string(),
        };
        assert_eq!(
            ok(&Packet::PubAck(ack.clone()), Protocol::V311),
            [0x40, 2, 0, 7]
        );
        let d = Packet::Disconnect(Disconnect::with_reason(
            ReasonCode::ServerShuttingDown,
            "bye",
        ));
        assert_eq!(ok(&d, Protocol::V311), [0xE0, 0]);
        let u = Packet::UnsubAck(UnsubAck {
            packet_id: 2,
            reasons: vec![ReasonCode::NoSubscriptionExisted],
            properties: Properties::default(),
        });
        assert_eq!(ok(&u, Protocol::V311), [0xB0, 2, 0, 2]);
        let s = Packet::Subscribe(Subscribe {
            packet_id: 3,
            filters: vec![(
                ByteString::from_static("a"),
                SubscriptionOptions {
                    qos: QoS::AtLeastOnce,
                    no_local: true,
                    retain_as_published: true,
                    retain_handling: crate::RetainHandling::DoNotSend,
                },
            )],
            properties: Properties::default(),
        });
        assert_eq!(ok(&s, Protocol::V311), [0x82, 6, 0, 3, 0, 1, b'a', 0x01]);
        assert_eq!(ok(&s, Protocol::V5), [0x82, 7, 0, 3, 0, 0, 1, b'a', 0x2D]);
    }

    #[test]
    fn v5_acks_and_disconnect_use_their_short_forms() {
        let ack = |reason, properties| {
            Packet::PubAck(PubResponse {
                packet_id: 1,
                reason,
                properties,
            })
        };
        assert_eq!(
            ok(
                &ack(ReasonCode::Success, Properties::default()),
                Protocol::V5
            ),
            [0x40, 2, 0, 1]
        );
        assert_eq!(
            ok(
                &ack(ReasonCode::NoMatchingSubscribers, Properties::default()),
                Protocol::V5
            ),
            [0x40, 3, 0, 1, 0x10]
        );
        assert_eq!(
            ok(
                &ack(ReasonCode::Success, with_reason_string()),
                Protocol::V5
            ),
            [0x40, 10, 0, 1, 0, 6, 0x1F, 0, 3, b'w', b'h', b'y']
        );
        let normal = Packet::Disconnect(Disconnect {
            reason: ReasonCode::NormalDisconnection,
            properties: Properties::default(),
        });
        assert_eq!(ok(&normal, Protocol::V5), [0xE0, 0]);
        let with_will = Packet::Disconnect(Disconnect {
            reason: ReasonCode::DisconnectWithWill,
            properties: Properties::default(),
        });
        assert_eq!(ok(&with_will, Protocol::V5), [0xE0, 1, 0x04]);
        let auth = Packet::Auth(Auth {
            reason: ReasonCode::Success,
            properties: Properties::default(),
        });
        assert_eq!(ok(&auth, Protocol::V5), [0xF0, 0]);
    }

    #[test]
    fn refused_packets_leave_the_buffer_as_it_was() {
        let mut out = BytesMut::from(&b"prefix"[..]);
        let auth = Packet::Auth(Auth {
            reason: ReasonCode::ContinueAuthentication,
            properties: Properties {
                authentication_method: Some(ByteString::from_static("m")),
                ..Properties::default()
            },
        });
        assert_eq!(
            encode(&auth, Protocol::V311, &mut out),
            Err(EncodeError::NotInProtocol { packet: "AUTH" })
        );
        let ack = Packet::PubAck(PubResponse {
            packet_id: 1,
            reason: ReasonCode::Success,
            properties: Properties {
                session_expiry_interval: Some(1),
                ..Properties::default()
            },
        });
        assert_eq!(
            encode(&ack, Protocol::V5, &mut out),
            Err(EncodeError::PropertyNotAllowed {
                packet: "PUBACK",
                id: 0x11
            })
        );
        let rel = Packet::PubRel(PubResponse {
            packet_id: 1,
            reason: ReasonCode::NoMatchingSubscribers,
            properties: Properties::default(),
        });
        assert_eq!(
            encode(&rel, Protocol::V5, &mut out),
            Err(EncodeError::InvalidReasonCode {
                packet: "PUBREL",
                code: 0x10
            })
        );
        assert_eq!(&out[..], b"prefix");
        // Success appends after what is there.
        encode(&Packet::PingReq, Protocol::V5, &mut out).expect("PINGREQ");
        assert_eq!(&out[..], b"prefix\xC0\x00");
    }

    #[test]
    fn connect_encoding_checks_version_and_credentials() {
        let mut c = Connect {
            protocol: Protocol::V5,
            clean_start: false,
            keep_alive: 0,
            client_id: ByteString::new(),
            will: Some(Will {
                topic: ByteString::from_static("w"),
                payload: Bytes::from_static(b"x"),
                qos: QoS::ExactlyOnce,
                retain: true,
                properties: Properties {
                    will_delay_interval: Some(5),
                    ..Properties::default()
                },
            }),
            username: None,
            password: Some(Bytes::from_static(b"p")),
            properties: Properties::default(),
        };
        assert_eq!(
            enc(&Packet::Connect(Box::new(c.clone())), Protocol::V311),
            Err(EncodeError::ProtocolMismatch {
                packet_level: 5,
                requested: 4
            })
        );
        let v5 = ok(&Packet::Connect(Box::new(c.clone())), Protocol::V5);
        // Flags: password, will retain, will QoS 2, will.
        assert_eq!(v5[9], 0b0111_0100);
        c.protocol = Protocol::V311;
        assert_eq!(
            enc(&Packet::Connect(Box::new(c.clone())), Protocol::V311),
            Err(EncodeError::PasswordWithoutUsername)
        );
        c.username = Some(ByteString::from_static("u"));
        let v4 = ok(&Packet::Connect(Box::new(c)), Protocol::V311);
        // Will properties are dropped on 3.1.1.
        let mut buf = BytesMut::from(&v4[..]);
        let Ok(Some(Packet::Connect(back))) = decode(&mut buf, None, 1024) else {
            panic!()
        };
        assert!(back.will.as_ref().is_some_and(|w| w.properties.is_empty()));
    }

    fn publish_ref<'a>(props: &'a Properties, ids: &'a [u32]) -> PublishRef<'a> {
        PublishRef {
            dup: false,
            qos: QoS::AtLeastOnce,
            retain: false,
            topic: "a/b",
            packet_id: Some(1),
            properties: props,
            subscription_identifiers: ids,
            topic_alias: None,
            payload: b"payload",
        }
    }

    #[test]
    fn publish_ref_replaces_subscription_identifiers_and_topic_alias() {
        let props = Properties {
            subscription_identifiers: vec![99],
            topic_alias: Some(3),
            content_type: Some(ByteString::from_static("text/plain")),
            ..Properties::default()
        };
        let mut r = publish_ref(&props, &[1, 200]);
        r.topic_alias = Some(4);
        let mut out = BytesMut::new();
        encode_publish(&r, Protocol::V5, &mut out).expect("valid PUBLISH");
        assert_eq!(out.len(), publish_len(&r, Protocol::V5));
        let Ok(Some(Packet::Publish(p))) = decode(&mut out, Some(Protocol::V5), 1024) else {
            panic!()
        };
        assert_eq!(p.properties.subscription_identifiers, vec![1, 200]);
        assert_eq!(p.properties.topic_alias, Some(4));
        assert_eq!(p.properties.content_type.as_deref(), Some("text/plain"));
        // On 3.1.1 none of it is written.
        assert_eq!(publish_len(&r, Protocol::V311), 2 + 2 + 3 + 2 + 7);
    }

    #[test]
    fn publish_ref_rules_are_checked() {
        let props = Properties::default();
        let mut out = BytesMut::new();
        let mut r = publish_ref(&props, &[]);
        r.packet_id = None;
        assert!(matches!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::InvalidPacketId { .. })
        ));
        r.packet_id = Some(0);
        assert!(matches!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::InvalidPacketId { .. })
        ));
        let mut r = publish_ref(&props, &[]);
        r.qos = QoS::AtMostOnce;
        assert!(matches!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::InvalidPacketId { .. })
        ));
        r.packet_id = None;
        r.dup = true;
        assert_eq!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::DupWithQoS0)
        );
        let mut r = publish_ref(&props, &[0]);
        assert!(matches!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::InvalidPropertyValue { .. })
        ));
        r.subscription_identifiers = &[];
        r.topic = "";
        assert_eq!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::EmptyTopic)
        );
        r.topic_alias = Some(1);
        assert_eq!(
            encode_publish(&r, Protocol::V311, &mut out),
            Err(EncodeError::EmptyTopic)
        );
        assert!(out.is_empty());
        assert_eq!(encode_publish(&r, Protocol::V5, &mut out), Ok(()));
        let long = "a".repeat(65_536);
        r.topic = &long;
        assert!(matches!(
            encode_publish(&r, Protocol::V5, &mut out),
            Err(EncodeError::FieldTooLong { .. })
        ));
    }

    #[test]
    fn empty_subscribe_and_acks_without_reasons_are_refused() {
        let s = Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![],
            properties: Properties::default(),
        });
        assert!(matches!(
            enc(&s, Protocol::V311),
            Err(EncodeError::NoTopicFilters { .. })
        ));
        let u = Packet::Unsubscribe(Unsubscribe {
            packet_id: 1,
            filters: vec![],
            properties: Properties::default(),
        });
        assert!(matches!(
            enc(&u, Protocol::V5),
            Err(EncodeError::NoTopicFilters { .. })
        ));
        let a = Packet::UnsubAck(UnsubAck {
            packet_id: 1,
            reasons: vec![],
            properties: Properties::default(),
        });
        assert!(matches!(
            enc(&a, Protocol::V5),
            Err(EncodeError::NoReasonCodes { .. })
        ));
        let a = Packet::SubAck(SubAck {
            packet_id: 0,
            reasons: vec![ReasonCode::Success],
            properties: Properties::default(),
        });
        assert!(matches!(
            enc(&a, Protocol::V5),
            Err(EncodeError::InvalidPacketId { .. })
        ));
    }
}
