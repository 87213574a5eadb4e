//! MQTT 3.1.1 and 5.0 packets: encode and decode over `bytes`, reason codes,
//! topic names and filters. No I/O.
//!
//! - [`packet`]: the packet model, one for both protocol levels.
//! - [`properties`]: MQTT 5 properties.
//! - [`reason`]: reason codes and their 3.1.1 mapping.

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
