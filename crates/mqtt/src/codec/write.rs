//! Writing MQTT's data representations (§1.5) into a caller's buffer.
//!
//! The encoder first computes a packet's exact size (validating lengths on the
//! way), reserves it once, then writes with these helpers, which therefore
//! never fail and never allocate.

use bytes::{BufMut, BytesMut};

use super::error::EncodeError;
use super::read::MAX_VAR_INT;

/// Bytes a Variable Byte Integer takes (`v` must be at most [`MAX_VAR_INT`]).
pub(crate) const fn var_int_len(v: u32) -> usize {
    match v {
        0..=127 => 1,
        128..=16_383 => 2,
        16_384..=2_097_151 => 3,
        _ => 4,
    }
}

/// Writes a Variable Byte Integer; callers check `v <= MAX_VAR_INT` first.
pub(crate) fn put_var_int(buf: &mut BytesMut, mut v: u32) {
    debug_assert!(v <= MAX_VAR_INT);
    loop {
        let mut byte = (v & 0x7F) as u8;
        v >>= 7;
        if v > 0 {
            byte |= 0x80;
        }
        buf.put_u8(byte);
        if v == 0 {
            break;
        }
    }
}

/// Size of a length-prefixed string or binary field, or an error if it is too long.
pub(crate) fn prefixed_len(
    data: &[u8],
    packet: &'static str,
    field: &'static str,
) -> Result<usize, EncodeError> {
    if data.len() > usize::from(u16::MAX) {
        return Err(EncodeError::FieldTooLong { packet, field });
    }
    Ok(2 + data.len())
}

/// Writes a length-prefixed string or binary field whose length was checked by [`prefixed_len`].
pub(crate) fn put_prefixed(buf: &mut BytesMut, data: &[u8]) {
    // Checked by `prefixed_len` while sizing the packet; truncating here would
    // corrupt the stream, so a violation is a bug worth a debug assertion.
    debug_assert!(data.len() <= usize::from(u16::MAX));
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

/// A remaining length as a `u32`, or an error if it exceeds the protocol's maximum.
pub(crate) fn remaining_length(len: usize, packet: &'static str) -> Result<u32, EncodeError> {
    match u32::try_from(len) {
        Ok(v) if v <= MAX_VAR_INT => Ok(v),
        _ => Err(EncodeError::PacketTooLarge { packet }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::read::parse_var_int;

    #[test]
    fn var_ints_round_trip_at_their_boundaries() {
        for v in [
            0,
            127,
            128,
            16_383,
            16_384,
            2_097_151,
            2_097_152,
            MAX_VAR_INT,
        ] {
            let mut buf = BytesMut::new();
            put_var_int(&mut buf, v);
            assert_eq!(buf.len(), var_int_len(v));
            assert_eq!(parse_var_int(&buf, "x"), Ok(Some((v, buf.len()))));
        }
    }

    #[test]
    fn oversized_fields_and_packets_are_refused() {
        let long = vec![0u8; 65_536];
        assert_eq!(
            prefixed_len(&long, "P", "f"),
            Err(EncodeError::FieldTooLong {
                packet: "P",
                field: "f"
            })
        );
        assert_eq!(prefixed_len(&long[..65_535], "P", "f"), Ok(65_537));
        assert!(remaining_length(MAX_VAR_INT as usize + 1, "P").is_err());
        assert_eq!(remaining_length(MAX_VAR_INT as usize, "P"), Ok(MAX_VAR_INT));
    }
}
