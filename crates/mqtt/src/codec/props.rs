//! MQTT 5 properties on the wire (§2.2.2): which packet may carry which
//! property, and reading and writing a property block.
//!
//! A property block is a Variable Byte Integer length followed by
//! `identifier, value` pairs. Each packet (and the will) allows a fixed set of
//! identifiers, kept here as a bit mask over the identifier byte so that both
//! directions check against the same table. Every property may appear at most
//! once, except User Property (any number, order kept) and Subscription
//! Identifier on PUBLISH (one per matching subscription); an unknown or
//! misplaced identifier is a malformed packet, a duplicate or a forbidden value
//! a protocol error.

use bytes::{BufMut, BytesMut};

use super::error::{DecodeError, EncodeError};
use super::read::{MAX_VAR_INT, Reader};
use super::write::{put_prefixed, put_var_int, var_int_len};
use crate::properties::Properties;
use crate::topic::validate_topic_name;

/// Property identifiers (§2.2.2.2).
pub(crate) mod id {
    pub(crate) const PAYLOAD_FORMAT_INDICATOR: u8 = 0x01;
    pub(crate) const MESSAGE_EXPIRY_INTERVAL: u8 = 0x02;
    pub(crate) const CONTENT_TYPE: u8 = 0x03;
    pub(crate) const RESPONSE_TOPIC: u8 = 0x08;
    pub(crate) const CORRELATION_DATA: u8 = 0x09;
    pub(crate) const SUBSCRIPTION_IDENTIFIER: u8 = 0x0B;
    pub(crate) const SESSION_EXPIRY_INTERVAL: u8 = 0x11;
    pub(crate) const ASSIGNED_CLIENT_IDENTIFIER: u8 = 0x12;
    pub(crate) const SERVER_KEEP_ALIVE: u8 = 0x13;
    pub(crate) const AUTHENTICATION_METHOD: u8 = 0x15;
    pub(crate) const AUTHENTICATION_DATA: u8 = 0x16;
    pub(crate) const REQUEST_PROBLEM_INFORMATION: u8 = 0x17;
    pub(crate) const WILL_DELAY_INTERVAL: u8 = 0x18;
    pub(crate) const REQUEST_RESPONSE_INFORMATION: u8 = 0x19;
    pub(crate) const RESPONSE_INFORMATION: u8 = 0x1A;
    pub(crate) const SERVER_REFERENCE: u8 = 0x1C;
    pub(crate) const REASON_STRING: u8 = 0x1F;
    pub(crate) const RECEIVE_MAXIMUM: u8 = 0x21;
    pub(crate) const TOPIC_ALIAS_MAXIMUM: u8 = 0x22;
    pub(crate) const TOPIC_ALIAS: u8 = 0x23;
    pub(crate) const MAXIMUM_QOS: u8 = 0x24;
    pub(crate) const RETAIN_AVAILABLE: u8 = 0x25;
    pub(crate) const USER_PROPERTY: u8 = 0x26;
    pub(crate) const MAXIMUM_PACKET_SIZE: u8 = 0x27;
    pub(crate) const WILDCARD_SUBSCRIPTION_AVAILABLE: u8 = 0x28;
    pub(crate) const SUBSCRIPTION_IDENTIFIER_AVAILABLE: u8 = 0x29;
    pub(crate) const SHARED_SUBSCRIPTION_AVAILABLE: u8 = 0x2A;
}

use id::*;

const fn bit(id: u8) -> u64 {
    1 << id
}

/// Where a property block sits: names the packet in errors and says which
/// identifiers it may hold (the table of §2.2.2.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Context {
    pub(crate) name: &'static str,
    allowed: u64,
    /// Whether Subscription Identifier may repeat (PUBLISH only).
    repeat_subscription_id: bool,
}

impl Context {
    /// Whether identifier `id` may appear in this block.
    pub(crate) const fn allows(self, id: u8) -> bool {
        id < 64 && self.allowed & bit(id) != 0
    }
}

const ACK_PROPS: u64 = bit(REASON_STRING) | bit(USER_PROPERTY);
const MESSAGE_PROPS: u64 = bit(PAYLOAD_FORMAT_INDICATOR)
    | bit(MESSAGE_EXPIRY_INTERVAL)
    | bit(CONTENT_TYPE)
    | bit(RESPONSE_TOPIC)
    | bit(CORRELATION_DATA)
    | bit(USER_PROPERTY);

pub(crate) const CONNECT: Context = Context {
    name: "CONNECT",
    allowed: bit(SESSION_EXPIRY_INTERVAL)
        | bit(RECEIVE_MAXIMUM)
        | bit(MAXIMUM_PACKET_SIZE)
        | bit(TOPIC_ALIAS_MAXIMUM)
        | bit(REQUEST_RESPONSE_INFORMATION)
        | bit(REQUEST_PROBLEM_INFORMATION)
        | bit(USER_PROPERTY)
        | bit(AUTHENTICATION_METHOD)
        | bit(AUTHENTICATION_DATA),
    repeat_subscription_id: false,
};
pub(crate) const WILL: Context = Context {
    name: "will properties",
    allowed: MESSAGE_PROPS | bit(WILL_DELAY_INTERVAL),
    repeat_subscription_id: false,
};
pub(crate) const CONNACK: Context = Context {
    name: "CONNACK",
    allowed: bit(SESSION_EXPIRY_INTERVAL)
        | bit(RECEIVE_MAXIMUM)
        | bit(MAXIMUM_QOS)
        | bit(RETAIN_AVAILABLE)
        | bit(MAXIMUM_PACKET_SIZE)
        | bit(ASSIGNED_CLIENT_IDENTIFIER)
        | bit(TOPIC_ALIAS_MAXIMUM)
        | bit(REASON_STRING)
        | bit(USER_PROPERTY)
        | bit(WILDCARD_SUBSCRIPTION_AVAILABLE)
        | bit(SUBSCRIPTION_IDENTIFIER_AVAILABLE)
        | bit(SHARED_SUBSCRIPTION_AVAILABLE)
        | bit(SERVER_KEEP_ALIVE)
        | bit(RESPONSE_INFORMATION)
        | bit(SERVER_REFERENCE)
        | bit(AUTHENTICATION_METHOD)
        | bit(AUTHENTICATION_DATA),
    repeat_subscription_id: false,
};
pub(crate) const PUBLISH: Context = Context {
    name: "PUBLISH",
    allowed: MESSAGE_PROPS | bit(TOPIC_ALIAS) | bit(SUBSCRIPTION_IDENTIFIER),
    repeat_subscription_id: true,
};
pub(crate) const PUBACK: Context = ack("PUBACK");
pub(crate) const PUBREC: Context = ack("PUBREC");
pub(crate) const PUBREL: Context = ack("PUBREL");
pub(crate) const PUBCOMP: Context = ack("PUBCOMP");
pub(crate) const SUBSCRIBE: Context = Context {
    name: "SUBSCRIBE",
    allowed: bit(SUBSCRIPTION_IDENTIFIER) | bit(USER_PROPERTY),
    repeat_subscription_id: false,
};
pub(crate) const SUBACK: Context = ack("SUBACK");
pub(crate) const UNSUBSCRIBE: Context = Context {
    name: "UNSUBSCRIBE",
    allowed: bit(USER_PROPERTY),
    repeat_subscription_id: false,
};
pub(crate) const UNSUBACK: Context = ack("UNSUBACK");
pub(crate) const DISCONNECT: Context = Context {
    name: "DISCONNECT",
    allowed: bit(SESSION_EXPIRY_INTERVAL) | ACK_PROPS | bit(SERVER_REFERENCE),
    repeat_subscription_id: false,
};
pub(crate) const AUTH: Context = Context {
    name: "AUTH",
    allowed: bit(AUTHENTICATION_METHOD) | bit(AUTHENTICATION_DATA) | ACK_PROPS,
    repeat_subscription_id: false,
};

const fn ack(name: &'static str) -> Context {
    Context {
        name,
        allowed: ACK_PROPS,
        repeat_subscription_id: false,
    }
}

fn invalid(ctx: Context, rule: &'static str) -> DecodeError {
    DecodeError::InvalidPropertyValue {
        packet: ctx.name,
        rule,
    }
}

/// A Byte property that may only be 0 or 1.
fn flag(r: &mut Reader, ctx: Context, rule: &'static str) -> Result<u8, DecodeError> {
    match r.u8(ctx.name)? {
        v @ (0 | 1) => Ok(v),
        _ => Err(invalid(ctx, rule)),
    }
}

/// Reads a property block (its length, then the properties) for `ctx`.
pub(crate) fn read(r: &mut Reader, ctx: Context) -> Result<Properties, DecodeError> {
    let len = r.var_int("property length")?;
    // `len` only selects bytes already in the packet: `sub` fails if they are not there.
    let mut r = r.sub(len as usize, "properties")?;
    let mut p = Properties::default();
    let mut seen: u64 = 0;
    while r.remaining() > 0 {
        let raw_id = r.var_int("property identifier")?;
        let id = match u8::try_from(raw_id) {
            Ok(id) if ctx.allows(id) => id,
            _ => {
                return Err(DecodeError::PropertyNotAllowed {
                    packet: ctx.name,
                    id: raw_id,
                });
            }
        };
        let repeatable =
            id == USER_PROPERTY || (id == SUBSCRIPTION_IDENTIFIER && ctx.repeat_subscription_id);
        if !repeatable && seen & bit(id) != 0 {
            return Err(DecodeError::DuplicateProperty {
                packet: ctx.name,
                id,
            });
        }
        seen |= bit(id);
        match id {
            PAYLOAD_FORMAT_INDICATOR => {
                p.payload_format_indicator = Some(flag(
                    &mut r,
                    ctx,
                    "§3.3.2.3.2: the payload format indicator must be 0 or 1",
                )?);
            }
            MESSAGE_EXPIRY_INTERVAL => {
                p.message_expiry_interval = Some(r.u32("message expiry interval")?)
            }
            CONTENT_TYPE => p.content_type = Some(r.string("content type")?),
            RESPONSE_TOPIC => {
                let topic = r.string("response topic")?;
                if validate_topic_name(&topic).is_err() {
                    return Err(invalid(
                        ctx,
                        "[MQTT-3.3.2-14]: the response topic must be a topic name, without wildcards",
                    ));
                }
                p.response_topic = Some(topic);
            }
            CORRELATION_DATA => p.correlation_data = Some(r.binary("correlation data")?),
            SUBSCRIPTION_IDENTIFIER => {
                let v = r.var_int("subscription identifier")?;
                if v == 0 {
                    return Err(invalid(
                        ctx,
                        "§3.3.2.3.8 §3.8.2.1.2: a subscription identifier of 0 is a protocol error",
                    ));
                }
                p.subscription_identifiers.push(v);
            }
            SESSION_EXPIRY_INTERVAL => {
                p.session_expiry_interval = Some(r.u32("session expiry interval")?)
            }
            ASSIGNED_CLIENT_IDENTIFIER => {
                p.assigned_client_identifier = Some(r.string("assigned client identifier")?)
            }
            SERVER_KEEP_ALIVE => p.server_keep_alive = Some(r.u16("server keep alive")?),
            AUTHENTICATION_METHOD => {
                p.authentication_method = Some(r.string("authentication method")?)
            }
            AUTHENTICATION_DATA => p.authentication_data = Some(r.binary("authentication data")?),
            REQUEST_PROBLEM_INFORMATION => {
                p.request_problem_information = Some(flag(
                    &mut r,
                    ctx,
                    "§3.1.2.11.7: request problem information must be 0 or 1",
                )?);
            }
            WILL_DELAY_INTERVAL => p.will_delay_interval = Some(r.u32("will delay interval")?),
            REQUEST_RESPONSE_INFORMATION => {
                p.request_response_information = Some(flag(
                    &mut r,
                    ctx,
                    "§3.1.2.11.6: request response information must be 0 or 1",
                )?);
            }
            RESPONSE_INFORMATION => {
                p.response_information = Some(r.string("response information")?)
            }
            SERVER_REFERENCE => p.server_reference = Some(r.string("server reference")?),
            REASON_STRING => p.reason_string = Some(r.string("reason string")?),
            RECEIVE_MAXIMUM => match r.u16("receive maximum")? {
                0 => {
                    return Err(invalid(
                        ctx,
                        "§3.1.2.11.3 §3.2.2.3.3: a receive maximum of 0 is a protocol error",
                    ));
                }
                v => p.receive_maximum = Some(v),
            },
            TOPIC_ALIAS_MAXIMUM => p.topic_alias_maximum = Some(r.u16("topic alias maximum")?),
            TOPIC_ALIAS => match r.u16("topic alias")? {
                0 => {
                    return Err(invalid(
                        ctx,
                        "[MQTT-3.3.2-8]: a topic alias of 0 is a protocol error",
                    ));
                }
                v => p.topic_alias = Some(v),
            },
            MAXIMUM_QOS => {
                p.maximum_qos = Some(flag(&mut r, ctx, "§3.2.2.3.4: maximum QoS must be 0 or 1")?);
            }
            RETAIN_AVAILABLE => {
                p.retain_available = Some(flag(
                    &mut r,
                    ctx,
                    "§3.2.2.3.5: retain available must be 0 or 1",
                )?);
            }
            USER_PROPERTY => {
                let key = r.string("user property name")?;
                let value = r.string("user property value")?;
                p.user_properties.push((key, value));
            }
            MAXIMUM_PACKET_SIZE => match r.u32("maximum packet size")? {
                0 => {
                    return Err(invalid(
                        ctx,
                        "§3.1.2.11.4 §3.2.2.3.6: a maximum packet size of 0 is a protocol error",
                    ));
                }
                v => p.maximum_packet_size = Some(v),
            },
            WILDCARD_SUBSCRIPTION_AVAILABLE => {
                p.wildcard_subscription_available = Some(flag(
                    &mut r,
                    ctx,
                    "§3.2.2.3.11: wildcard subscription available must be 0 or 1",
                )?);
            }
            SUBSCRIPTION_IDENTIFIER_AVAILABLE => {
                p.subscription_identifier_available = Some(flag(
                    &mut r,
                    ctx,
                    "§3.2.2.3.12: subscription identifier available must be 0 or 1",
                )?);
            }
            SHARED_SUBSCRIPTION_AVAILABLE => {
                p.shared_subscription_available = Some(flag(
                    &mut r,
                    ctx,
                    "§3.2.2.3.13: shared subscription available must be 0 or 1",
                )?);
            }
            // `ctx.allows` admitted only identifiers of the table above.
            _ => {
                return Err(DecodeError::PropertyNotAllowed {
                    packet: ctx.name,
                    id: raw_id,
                });
            }
        }
    }
    if p.authentication_data.is_some() && p.authentication_method.is_none() {
        return Err(DecodeError::AuthDataWithoutMethod);
    }
    Ok(p)
}

/// The properties to encode: a [`Properties`] whose subscription identifiers
/// and topic alias may be replaced (the broker's per-subscriber values on fan-out).
#[derive(Debug, Clone, Copy)]
pub(crate) struct View<'a> {
    pub(crate) props: &'a Properties,
    pub(crate) subscription_identifiers: &'a [u32],
    pub(crate) topic_alias: Option<u16>,
}

impl<'a> View<'a> {
    /// The properties exactly as they are.
    pub(crate) fn of(props: &'a Properties) -> View<'a> {
        View {
            props,
            subscription_identifiers: &props.subscription_identifiers,
            topic_alias: props.topic_alias,
        }
    }

    /// The identifiers present, as a mask.
    fn present(&self) -> u64 {
        let p = self.props;
        let mut m = 0;
        let mut set = |cond: bool, id: u8| {
            if cond {
                m |= bit(id);
            }
        };
        set(
            p.payload_format_indicator.is_some(),
            PAYLOAD_FORMAT_INDICATOR,
        );
        set(p.message_expiry_interval.is_some(), MESSAGE_EXPIRY_INTERVAL);
        set(p.content_type.is_some(), CONTENT_TYPE);
        set(p.response_topic.is_some(), RESPONSE_TOPIC);
        set(p.correlation_data.is_some(), CORRELATION_DATA);
        set(
            !self.subscription_identifiers.is_empty(),
            SUBSCRIPTION_IDENTIFIER,
        );
        set(p.session_expiry_interval.is_some(), SESSION_EXPIRY_INTERVAL);
        set(
            p.assigned_client_identifier.is_some(),
            ASSIGNED_CLIENT_IDENTIFIER,
        );
        set(p.server_keep_alive.is_some(), SERVER_KEEP_ALIVE);
        set(p.authentication_method.is_some(), AUTHENTICATION_METHOD);
        set(p.authentication_data.is_some(), AUTHENTICATION_DATA);
        set(
            p.request_problem_information.is_some(),
            REQUEST_PROBLEM_INFORMATION,
        );
        set(p.will_delay_interval.is_some(), WILL_DELAY_INTERVAL);
        set(
            p.request_response_information.is_some(),
            REQUEST_RESPONSE_INFORMATION,
        );
        set(p.response_information.is_some(), RESPONSE_INFORMATION);
        set(p.server_reference.is_some(), SERVER_REFERENCE);
        set(p.reason_string.is_some(), REASON_STRING);
        set(p.receive_maximum.is_some(), RECEIVE_MAXIMUM);
        set(p.topic_alias_maximum.is_some(), TOPIC_ALIAS_MAXIMUM);
        set(self.topic_alias.is_some(), TOPIC_ALIAS);
        set(p.maximum_qos.is_some(), MAXIMUM_QOS);
        set(p.retain_available.is_some(), RETAIN_AVAILABLE);
        set(!p.user_properties.is_empty(), USER_PROPERTY);
        set(p.maximum_packet_size.is_some(), MAXIMUM_PACKET_SIZE);
        set(
            p.wildcard_subscription_available.is_some(),
            WILDCARD_SUBSCRIPTION_AVAILABLE,
        );
        set(
            p.subscription_identifier_available.is_some(),
            SUBSCRIPTION_IDENTIFIER_AVAILABLE,
        );
        set(
            p.shared_subscription_available.is_some(),
            SHARED_SUBSCRIPTION_AVAILABLE,
        );
        m
    }

    /// Checks that every property present may be encoded in `ctx`: allowed
    /// there, strings and binary data short enough, subscription identifiers
    /// in 1..=268,435,455 (and only one outside PUBLISH). Returns
    /// [`body_len`](Self::body_len), which the caller passes on to [`put_sized`](Self::put_sized).
    pub(crate) fn check(&self, ctx: Context) -> Result<usize, EncodeError> {
        let not_allowed = self.present() & !ctx.allowed;
        if not_allowed != 0 {
            return Err(EncodeError::PropertyNotAllowed {
                packet: ctx.name,
                // The lowest offending identifier; a mask bit index is below 64.
                id: not_allowed.trailing_zeros() as u8,
            });
        }
        let p = self.props;
        let too_long = |s: Option<&[u8]>, field: &'static str| match s {
            Some(s) if s.len() > usize::from(u16::MAX) => Err(EncodeError::FieldTooLong {
                packet: ctx.name,
                field,
            }),
            _ => Ok(()),
        };
        too_long(p.content_type.as_deref().map(str::as_bytes), "content type")?;
        too_long(
            p.response_topic.as_deref().map(str::as_bytes),
            "response topic",
        )?;
        too_long(p.correlation_data.as_deref(), "correlation data")?;
        too_long(
            p.assigned_client_identifier.as_deref().map(str::as_bytes),
            "assigned client identifier",
        )?;
        too_long(
            p.authentication_method.as_deref().map(str::as_bytes),
            "authentication method",
        )?;
        too_long(p.authentication_data.as_deref(), "authentication data")?;
        too_long(
            p.response_information.as_deref().map(str::as_bytes),
            "response information",
        )?;
        too_long(
            p.server_reference.as_deref().map(str::as_bytes),
            "server reference",
        )?;
        too_long(
            p.reason_string.as_deref().map(str::as_bytes),
            "reason string",
        )?;
        for (k, v) in &p.user_properties {
            too_long(Some(k.as_bytes()), "user property name")?;
            too_long(Some(v.as_bytes()), "user property value")?;
        }
        if self
            .subscription_identifiers
            .iter()
            .any(|&v| v == 0 || v > MAX_VAR_INT)
        {
            return Err(EncodeError::InvalidPropertyValue {
                packet: ctx.name,
                rule: "a subscription identifier must be in 1..=268,435,455",
            });
        }
        if !ctx.repeat_subscription_id && self.subscription_identifiers.len() > 1 {
            return Err(EncodeError::InvalidPropertyValue {
                packet: ctx.name,
                rule: "only PUBLISH may carry more than one subscription identifier",
            });
        }
        let bad_value = |rule| EncodeError::InvalidPropertyValue {
            packet: ctx.name,
            rule,
        };
        if self.topic_alias == Some(0) {
            return Err(bad_value("a topic alias must not be 0"));
        }
        if p.receive_maximum == Some(0) || p.maximum_packet_size == Some(0) {
            return Err(bad_value(
                "receive maximum and maximum packet size must not be 0",
            ));
        }
        let flags = [
            p.payload_format_indicator,
            p.request_problem_information,
            p.request_response_information,
            p.maximum_qos,
            p.retain_available,
            p.wildcard_subscription_available,
            p.subscription_identifier_available,
            p.shared_subscription_available,
        ];
        if flags.iter().any(|f| matches!(f, Some(v) if *v > 1)) {
            return Err(bad_value("a Byte property must be 0 or 1"));
        }
        if p.authentication_data.is_some() && p.authentication_method.is_none() {
            return Err(bad_value(
                "authentication data needs an authentication method",
            ));
        }
        let body_len = self.body_len();
        if body_len > MAX_VAR_INT as usize {
            return Err(EncodeError::PacketTooLarge { packet: ctx.name });
        }
        Ok(body_len)
    }

    /// Bytes of the properties themselves, without the length prefix.
    pub(crate) fn body_len(&self) -> usize {
        let p = self.props;
        // Every identifier is below 128, so it takes one byte.
        let byte = |o: Option<u8>| o.map_or(0, |_| 2);
        let two = |o: Option<u16>| o.map_or(0, |_| 3);
        let four = |o: Option<u32>| o.map_or(0, |_| 5);
        let bin = |o: Option<&[u8]>| o.map_or(0, |s| 3 + s.len());
        let s = |o: &Option<bytestring::ByteString>| bin(o.as_deref().map(str::as_bytes));
        byte(p.payload_format_indicator)
            + four(p.message_expiry_interval)
            + s(&p.content_type)
            + s(&p.response_topic)
            + bin(p.correlation_data.as_deref())
            + self
                .subscription_identifiers
                .iter()
                .map(|&v| 1 + var_int_len(v))
                .sum::<usize>()
            + four(p.session_expiry_interval)
            + s(&p.assigned_client_identifier)
            + two(p.server_keep_alive)
            + s(&p.authentication_method)
            + bin(p.authentication_data.as_deref())
            + byte(p.request_problem_information)
            + four(p.will_delay_interval)
            + byte(p.request_response_information)
            + s(&p.response_information)
            + s(&p.server_reference)
            + s(&p.reason_string)
            + two(p.receive_maximum)
            + two(p.topic_alias_maximum)
            + two(self.topic_alias)
            + byte(p.maximum_qos)
            + byte(p.retain_available)
            + p.user_properties
                .iter()
                .map(|(k, v)| 5 + k.len() + v.len())
                .sum::<usize>()
            + four(p.maximum_packet_size)
            + byte(p.wildcard_subscription_available)
            + byte(p.subscription_identifier_available)
            + byte(p.shared_subscription_available)
    }

    /// Bytes of the whole block: the length prefix and the properties.
    pub(crate) fn block_len(&self) -> usize {
        let n = self.body_len();
        // A body over the Variable Byte Integer range is refused by `check`;
        // here it only needs a plausible size.
        var_int_len(u32::try_from(n).unwrap_or(u32::MAX)) + n
    }

    /// Writes the block (length prefix and properties) in identifier order;
    /// `check` must have passed.
    pub(crate) fn put(&self, buf: &mut BytesMut) {
        self.put_sized(buf, self.body_len());
    }

    /// [`put`](Self::put) with the body length `check` returned, so the hot
    /// path (PUBLISH fan-out) sizes the properties once.
    pub(crate) fn put_sized(&self, buf: &mut BytesMut, body_len: usize) {
        let p = self.props;
        debug_assert_eq!(body_len, self.body_len());
        // `check` refused a body over MAX_VAR_INT, so this cannot truncate.
        put_var_int(buf, body_len as u32);
        let byte = |buf: &mut BytesMut, id: u8, o: Option<u8>| {
            if let Some(v) = o {
                buf.put_u8(id);
                buf.put_u8(v);
            }
        };
        let two = |buf: &mut BytesMut, id: u8, o: Option<u16>| {
            if let Some(v) = o {
                buf.put_u8(id);
                buf.put_u16(v);
            }
        };
        let four = |buf: &mut BytesMut, id: u8, o: Option<u32>| {
            if let Some(v) = o {
                buf.put_u8(id);
                buf.put_u32(v);
            }
        };
        let bin = |buf: &mut BytesMut, id: u8, o: Option<&[u8]>| {
            if let Some(v) = o {
                buf.put_u8(id);
                put_prefixed(buf, v);
            }
        };
        fn s(o: &Option<bytestring::ByteString>) -> Option<&[u8]> {
            o.as_deref().map(str::as_bytes)
        }
        byte(buf, PAYLOAD_FORMAT_INDICATOR, p.payload_format_indicator);
        four(buf, MESSAGE_EXPIRY_INTERVAL, p.message_expiry_interval);
        bin(buf, CONTENT_TYPE, s(&p.content_type));
        bin(buf, RESPONSE_TOPIC, s(&p.response_topic));
        bin(buf, CORRELATION_DATA, p.correlation_data.as_deref());
        for &v in self.subscription_identifiers {
            buf.put_u8(SUBSCRIPTION_IDENTIFIER);
            put_var_int(buf, v);
        }
        four(buf, SESSION_EXPIRY_INTERVAL, p.session_expiry_interval);
        bin(
            buf,
            ASSIGNED_CLIENT_IDENTIFIER,
            s(&p.assigned_client_identifier),
        );
        two(buf, SERVER_KEEP_ALIVE, p.server_keep_alive);
        bin(buf, AUTHENTICATION_METHOD, s(&p.authentication_method));
        bin(buf, AUTHENTICATION_DATA, p.authentication_data.as_deref());
        byte(
            buf,
            REQUEST_PROBLEM_INFORMATION,
            p.request_problem_information,
        );
        four(buf, WILL_DELAY_INTERVAL, p.will_delay_interval);
        byte(
            buf,
            REQUEST_RESPONSE_INFORMATION,
            p.request_response_information,
        );
        bin(buf, RESPONSE_INFORMATION, s(&p.response_information));
        bin(buf, SERVER_REFERENCE, s(&p.server_reference));
        bin(buf, REASON_STRING, s(&p.reason_string));
        two(buf, RECEIVE_MAXIMUM, p.receive_maximum);
        two(buf, TOPIC_ALIAS_MAXIMUM, p.topic_alias_maximum);
        two(buf, TOPIC_ALIAS, self.topic_alias);
        byte(buf, MAXIMUM_QOS, p.maximum_qos);
        byte(buf, RETAIN_AVAILABLE, p.retain_available);
        for (k, v) in &p.user_properties {
            buf.put_u8(USER_PROPERTY);
            put_prefixed(buf, k.as_bytes());
            put_prefixed(buf, v.as_bytes());
        }
        four(buf, MAXIMUM_PACKET_SIZE, p.maximum_packet_size);
        byte(
            buf,
            WILDCARD_SUBSCRIPTION_AVAILABLE,
            p.wildcard_subscription_available,
        );
        byte(
            buf,
            SUBSCRIPTION_IDENTIFIER_AVAILABLE,
            p.subscription_identifier_available,
        );
        byte(
            buf,
            SHARED_SUBSCRIPTION_AVAILABLE,
            p.shared_subscription_available,
        );
    }
}

/// Clears every property `ctx` does not allow (tests build arbitrary
/// properties, then keep what the packet may carry).
#[cfg(test)]
pub(crate) fn retain_allowed(p: &mut Properties, ctx: Context) {
    let keep = |id: u8| ctx.allows(id);
    macro_rules! clear {
        ($field:ident, $id:expr) => {
            if !keep($id) {
                p.$field = Default::default();
            }
        };
    }
    clear!(payload_format_indicator, PAYLOAD_FORMAT_INDICATOR);
    clear!(message_expiry_interval, MESSAGE_EXPIRY_INTERVAL);
    clear!(content_type, CONTENT_TYPE);
    clear!(response_topic, RESPONSE_TOPIC);
    clear!(correlation_data, CORRELATION_DATA);
    clear!(subscription_identifiers, SUBSCRIPTION_IDENTIFIER);
    clear!(session_expiry_interval, SESSION_EXPIRY_INTERVAL);
    clear!(assigned_client_identifier, ASSIGNED_CLIENT_IDENTIFIER);
    clear!(server_keep_alive, SERVER_KEEP_ALIVE);
    clear!(authentication_method, AUTHENTICATION_METHOD);
    clear!(authentication_data, AUTHENTICATION_DATA);
    clear!(request_problem_information, REQUEST_PROBLEM_INFORMATION);
    clear!(will_delay_interval, WILL_DELAY_INTERVAL);
    clear!(request_response_information, REQUEST_RESPONSE_INFORMATION);
    clear!(response_information, RESPONSE_INFORMATION);
    clear!(server_reference, SERVER_REFERENCE);
    clear!(reason_string, REASON_STRING);
    clear!(receive_maximum, RECEIVE_MAXIMUM);
    clear!(topic_alias_maximum, TOPIC_ALIAS_MAXIMUM);
    clear!(topic_alias, TOPIC_ALIAS);
    clear!(maximum_qos, MAXIMUM_QOS);
    clear!(retain_available, RETAIN_AVAILABLE);
    clear!(user_properties, USER_PROPERTY);
    clear!(maximum_packet_size, MAXIMUM_PACKET_SIZE);
    clear!(
        wildcard_subscription_available,
        WILDCARD_SUBSCRIPTION_AVAILABLE
    );
    clear!(
        subscription_identifier_available,
        SUBSCRIPTION_IDENTIFIER_AVAILABLE
    );
    clear!(shared_subscription_available, SHARED_SUBSCRIPTION_AVAILABLE);
    if !ctx.repeat_subscription_id {
        p.subscription_identifiers.truncate(1);
    }
    if p.authentication_method.is_none() {
        p.authentication_data = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    /// The table of §2.2.2.2, transcribed: identifier → the packets that may carry it.
    const TABLE: &[(u8, &[&str])] = &[
        (0x01, &["PUBLISH", "will properties"]),
        (0x02, &["PUBLISH", "will properties"]),
        (0x03, &["PUBLISH", "will properties"]),
        (0x08, &["PUBLISH", "will properties"]),
        (0x09, &["PUBLISH", "will properties"]),
        (0x0B, &["PUBLISH", "SUBSCRIBE"]),
        (0x11, &["CONNECT", "CONNACK", "DISCONNECT"]),
        (0x12, &["CONNACK"]),
        (0x13, &["CONNACK"]),
        (0x15, &["CONNECT", "CONNACK", "AUTH"]),
        (0x16, &["CONNECT", "CONNACK", "AUTH"]),
        (0x17, &["CONNECT"]),
        (0x18, &["will properties"]),
        (0x19, &["CONNECT"]),
        (0x1A, &["CONNACK"]),
        (0x1C, &["CONNACK", "DISCONNECT"]),
        (
            0x1F,
            &[
                "CONNACK",
                "PUBACK",
                "PUBREC",
                "PUBREL",
                "PUBCOMP",
                "SUBACK",
                "UNSUBACK",
                "DISCONNECT",
                "AUTH",
            ],
        ),
        (0x21, &["CONNECT", "CONNACK"]),
        (0x22, &["CONNECT", "CONNACK"]),
        (0x23, &["PUBLISH"]),
        (0x24, &["CONNACK"]),
        (0x25, &["CONNACK"]),
        (
            0x26,
            &[
                "CONNECT",
                "CONNACK",
                "PUBLISH",
                "will properties",
                "PUBACK",
                "PUBREC",
                "PUBREL",
                "PUBCOMP",
                "SUBSCRIBE",
                "SUBACK",
                "UNSUBSCRIBE",
                "UNSUBACK",
                "DISCONNECT",
                "AUTH",
            ],
        ),
        (0x27, &["CONNECT", "CONNACK"]),
        (0x28, &["CONNACK"]),
        (0x29, &["CONNACK"]),
        (0x2A, &["CONNACK"]),
    ];

    const CONTEXTS: [Context; 14] = [
        CONNECT,
        WILL,
        CONNACK,
        PUBLISH,
        PUBACK,
        PUBREC,
        PUBREL,
        PUBCOMP,
        SUBSCRIBE,
        SUBACK,
        UNSUBSCRIBE,
        UNSUBACK,
        DISCONNECT,
        AUTH,
    ];

    #[test]
    fn the_allowed_sets_are_the_specification_table() {
        for ctx in CONTEXTS {
            for id in 0..=255u8 {
                let listed = TABLE
                    .iter()
                    .any(|(i, packets)| *i == id && packets.contains(&ctx.name));
                assert_eq!(ctx.allows(id), listed, "{} {id:#04x}", ctx.name);
            }
        }
    }

    fn read_block(block: &[u8], ctx: Context) -> Result<Properties, DecodeError> {
        let mut r = Reader::new(Bytes::copy_from_slice(block), ctx.name);
        read(&mut r, ctx)
    }

    #[test]
    fn every_connack_property_decodes_into_its_field() {
        let block = [
            0x11, 0, 0, 0, 1, // session expiry
            0x21, 0, 2, // receive maximum
            0x24, 0, // maximum QoS
            0x25, 1, // retain available
            0x27, 0, 0, 1, 0, // maximum packet size
            0x12, 0, 1, b'c', // assigned client identifier
            0x22, 0, 3, // topic alias maximum
            0x1F, 0, 1, b'r', // reason string
            0x26, 0, 1, b'k', 0, 1, b'v', // user property
            0x28, 1, 0x29, 0, 0x2A, 1, // wildcard / sub id / shared available
            0x13, 0, 4, // server keep alive
            0x1A, 0, 1, b'i', // response information
            0x1C, 0, 1, b's', // server reference
            0x15, 0, 1, b'm', 0x16, 0, 1, 7, // authentication method and data
        ];
        let mut with_len = vec![block.len() as u8];
        with_len.extend_from_slice(&block);
        let p = read_block(&with_len, CONNACK).expect("valid CONNACK properties");
        assert_eq!(p.session_expiry_interval, Some(1));
        assert_eq!(p.receive_maximum, Some(2));
        assert_eq!(p.maximum_qos, Some(0));
        assert_eq!(p.retain_available, Some(1));
        assert_eq!(p.maximum_packet_size, Some(256));
        assert_eq!(p.assigned_client_identifier.as_deref(), Some("c"));
        assert_eq!(p.topic_alias_maximum, Some(3));
        assert_eq!(p.reason_string.as_deref(), Some("r"));
        assert_eq!(p.user_properties.len(), 1);
        assert_eq!(p.wildcard_subscription_available, Some(1));
        assert_eq!(p.subscription_identifier_available, Some(0));
        assert_eq!(p.shared_subscription_available, Some(1));
        assert_eq!(p.server_keep_alive, Some(4));
        assert_eq!(p.response_information.as_deref(), Some("i"));
        assert_eq!(p.server_reference.as_deref(), Some("s"));
        assert_eq!(p.authentication_method.as_deref(), Some("m"));
        assert_eq!(p.authentication_data.as_deref(), Some(&[7][..]));
        // And it encodes back to the same block.
        let view = View::of(&p);
        assert_eq!(view.check(CONNACK), Ok(with_len.len() - 1));
        assert_eq!(view.block_len(), with_len.len());
        let mut out = BytesMut::new();
        view.put(&mut out);
        let back = read_block(&out, CONNACK).expect("re-encoded block");
        assert_eq!(back, p);
    }

    #[test]
    fn encoder_refuses_properties_the_packet_cannot_carry() {
        let p = Properties {
            topic_alias: Some(1),
            ..Properties::default()
        };
        assert_eq!(
            View::of(&p).check(SUBSCRIBE),
            Err(EncodeError::PropertyNotAllowed {
                packet: "SUBSCRIBE",
                id: 0x23
            })
        );
        let p = Properties {
            subscription_identifiers: vec![1, 2],
            ..Properties::default()
        };
        assert!(View::of(&p).check(PUBLISH).is_ok());
        assert!(matches!(
            View::of(&p).check(SUBSCRIBE),
            Err(EncodeError::InvalidPropertyValue { .. })
        ));
        let p = Properties {
            maximum_qos: Some(2),
            ..Properties::default()
        };
        assert!(matches!(
            View::of(&p).check(CONNACK),
            Err(EncodeError::InvalidPropertyValue { .. })
        ));
    }

    #[test]
    fn an_empty_block_is_a_single_zero_byte() {
        let p = Properties::default();
        assert_eq!(View::of(&p).block_len(), 1);
        assert_eq!(read_block(&[0], AUTH), Ok(Properties::default()));
    }
}
