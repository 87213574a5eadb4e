//! MQTT 3.1.1 and 5.0 packets: encode and decode over `bytes`, reason codes,
//! topic names and filters. No I/O.
//!
//! The broker (`agora-broker`) owns the sockets; this crate turns bytes into
//! [`Packet`]s and back, and answers the topic questions routing and
//! authorisation ask. Its central pieces:
//!
//! - [`packet`]: the packet model, **one for both protocol levels**. The level
//!   is the connection's, fixed by CONNECT; MQTT 5-only fields (properties,
//!   most reason codes) sit at their defaults on 3.1.1.
//! - [`codec`]: [`decode`] one packet from the front of a receive buffer
//!   (`Ok(None)` while incomplete; the maximum packet size is enforced from the
//!   fixed header alone), [`encode`] any packet for a given level (3.1.1 maps or
//!   drops what it cannot express), and [`encode_publish`] / [`publish_len`] over
//!   a borrowed [`PublishRef`] for fan-out. Validation is strict and every
//!   [`DecodeError`] cites the rule it enforces and maps to the reason code
//!   to disconnect with ([`DecodeError::reason_code`]).
//! - [`properties`]: MQTT 5 properties, one flat struct; the codec enforces
//!   which property may appear in which packet.
//! - [`reason`]: reason codes and their 3.1.1 mapping.
//! - [`topic`]: topic name and filter validation, matching (with the `$` rule
//!   and `$share`), and filter containment for authorisation.
//!
//! Decoding is zero-copy: strings, binary fields and the PUBLISH payload are
//! slices of the receive buffer ([`Bytes`](bytes::Bytes) / [`ByteString`]),
//! so a payload fanned out to many subscribers is never copied.
//!
//! ```
//! use agora_mqtt::{Packet, Protocol, decode, encode};
//! use bytes::BytesMut;
//!
//! let mut out = BytesMut::new();
//! encode(&Packet::PingReq, Protocol::V311, &mut out).unwrap();
//! assert_eq!(&out[..], [0xC0, 0x00]);
//! // Incomplete input is not an error: wait for more bytes.
//! let mut partial = BytesMut::from(&out[..1]);
//! assert_eq!(decode(&mut partial, Some(Protocol::V311), 1024), Ok(None));
//! assert_eq!(decode(&mut out, Some(Protocol::V311), 1024), Ok(Some(Packet::PingReq)));
//! ```

pub mod codec;
pub mod packet;
pub mod properties;
pub mod reason;
pub mod topic;

pub use codec::{
    DecodeError, EncodeError, PublishRef, decode, encode, encode_publish, publish_len,
};
pub use packet::*;
pub use properties::Properties;
pub use reason::ReasonCode;
