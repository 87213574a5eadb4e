//! The MQTT 3.1.1 / 5.0 wire format: [`decode`] one packet from a receive
//! buffer, [`encode`] one into a send buffer, and [`encode_publish`] /
//! [`publish_len`] for the broker's fan-out path.
//!
//! Layout, one concept per file:
//! - `decode`: fixed header, size limit, and each packet's body;
//! - `encode`: sizing, then writing, each packet; [`PublishRef`];
//! - `props`: the property table (which property in which packet) and property blocks;
//! - `reasons`: which reason codes each packet may carry;
//! - `read` / `write`: MQTT's data representations (integers, strings, binary data);
//! - `error`: [`DecodeError`] and [`EncodeError`].
//!
//! The protocol level is the connection's, not the packet's: pass `None` to
//! [`decode`] until CONNECT has been decoded, then its
//! [`Connect::protocol`](crate::Connect::protocol).

mod decode;
mod encode;
mod error;
mod props;
#[cfg(test)]
mod proptests;
mod read;
mod reasons;
mod write;

pub use decode::decode;
pub use encode::{PublishRef, encode, encode_publish, publish_len};
pub use error::{DecodeError, EncodeError};
