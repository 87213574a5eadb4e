//! Which reason codes each MQTT 5 packet may carry (§2.4 and each packet's
//! "Reason Code" section), shared by the decoder (a code outside the set is a
//! malformed packet) and the encoder (a code outside the set is a caller bug).

use crate::reason::ReasonCode;

/// A set of reason code bytes as a 256-bit mask.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReasonSet {
    /// Packet name, for errors.
    pub(crate) packet: &'static str,
    mask: [u64; 4],
}

impl ReasonSet {
    const fn new(packet: &'static str, codes: &[u8]) -> ReasonSet {
        let mut mask = [0u64; 4];
        let mut i = 0;
        while i < codes.len() {
            let c = codes[i] as usize;
            mask[c / 64] |= 1 << (c % 64);
            i += 1;
        }
        ReasonSet { packet, mask }
    }

    /// Whether `code` is defined for this packet.
    pub(crate) const fn contains(&self, code: u8) -> bool {
        let c = code as usize;
        self.mask[c / 64] & (1 << (c % 64)) != 0
    }

    /// The reason code for `code`, if it is defined for this packet.
    pub(crate) fn parse(&self, code: u8) -> Option<ReasonCode> {
        if self.contains(code) {
            ReasonCode::from_u8(code)
        } else {
            None
        }
    }
}

/// §3.2.2.2.
pub(crate) const CONNACK: ReasonSet = ReasonSet::new(
    "CONNACK",
    &[
        0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95,
        0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
    ],
);

/// §3.4.2.1 and §3.5.2.1: PUBACK and PUBREC share their codes.
const PUB_ACK_CODES: &[u8] = &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
/// §3.4.2.1.
pub(crate) const PUBACK: ReasonSet = ReasonSet::new("PUBACK", PUB_ACK_CODES);
/// §3.5.2.1.
pub(crate) const PUBREC: ReasonSet = ReasonSet::new("PUBREC", PUB_ACK_CODES);
/// §3.6.2.1.
pub(crate) const PUBREL: ReasonSet = ReasonSet::new("PUBREL", &[0x00, 0x92]);
/// §3.7.2.1.
pub(crate) const PUBCOMP: ReasonSet = ReasonSet::new("PUBCOMP", &[0x00, 0x92]);

/// §3.9.3.
pub(crate) const SUBACK: ReasonSet = ReasonSet::new(
    "SUBACK",
    &[
        0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2,
    ],
);
/// MQTT 3.1.1 §3.9.3: granted QoS 0–2 or failure 0x80.
pub(crate) const SUBACK_V311: ReasonSet = ReasonSet::new("SUBACK", &[0x00, 0x01, 0x02, 0x80]);

/// §3.11.3.
pub(crate) const UNSUBACK: ReasonSet =
    ReasonSet::new("UNSUBACK", &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]);

/// §3.14.2.1.
pub(crate) const DISCONNECT: ReasonSet = ReasonSet::new(
    "DISCONNECT",
    &[
        0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93, 0x94,
        0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2,
    ],
);

/// §3.15.2.1.
pub(crate) const AUTH: ReasonSet = ReasonSet::new("AUTH", &[0x00, 0x18, 0x19]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_code_is_a_known_reason_code() {
        for set in [
            CONNACK,
            PUBACK,
            PUBREC,
            PUBREL,
            PUBCOMP,
            SUBACK,
            SUBACK_V311,
            UNSUBACK,
            DISCONNECT,
            AUTH,
        ] {
            for code in 0..=255u8 {
                if set.contains(code) {
                    assert!(
                        ReasonCode::from_u8(code).is_some(),
                        "{} {code:#04x}",
                        set.packet
                    );
                }
            }
        }
    }

    #[test]
    fn sets_hold_what_the_specification_lists_and_nothing_else() {
        assert!(PUBREL.contains(0x92));
        assert!(!PUBREL.contains(0x10));
        assert!(DISCONNECT.contains(0x04));
        assert!(!CONNACK.contains(0x04));
        assert!(AUTH.contains(0x18));
        assert!(!AUTH.contains(0x80));
        assert!(SUBACK.contains(0xA2));
        assert!(!SUBACK_V311.contains(0x87));
        assert_eq!(CONNACK.parse(0x87), Some(ReasonCode::NotAuthorized));
        assert_eq!(CONNACK.parse(0x03), None);
    }
}
