//! Reading MQTT's data representations (§1.5) from one packet's frozen bytes.
//!
//! A [`Reader`] owns the packet body as [`Bytes`]; strings and binary fields
//! are split off it, so they share the receive buffer instead of being copied.
//! Every read checks the length first: a length field can only select bytes
//! that are already there, it never sizes an allocation.

use bytes::{Buf, Bytes};
use bytestring::ByteString;

use super::error::DecodeError;

/// The largest value of a Variable Byte Integer (four bytes).
pub(crate) const MAX_VAR_INT: u32 = 268_435_455;

/// Parses a Variable Byte Integer at the start of `bytes`.
///
/// `Ok(None)` when more bytes are needed; on success the value and the number
/// of bytes it took. Longer than four bytes or not minimally encoded is an error
/// ([MQTT-1.5.5-1]).
pub(crate) fn parse_var_int(
    bytes: &[u8],
    field: &'static str,
) -> Result<Option<(u32, usize)>, DecodeError> {
    let mut value: u32 = 0;
    for (i, &b) in bytes.iter().enumerate().take(4) {
        value |= u32::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            // A final zero group after others means a shorter encoding existed.
            if i > 0 && b == 0 {
                return Err(DecodeError::InvalidVarInt(field));
            }
            return Ok(Some((value, i + 1)));
        }
    }
    if bytes.len() >= 4 {
        Err(DecodeError::InvalidVarInt(field))
    } else {
        Ok(None)
    }
}

/// A cursor over one packet's body.
pub(crate) struct Reader {
    buf: Bytes,
    packet: &'static str,
}

impl Reader {
    /// Reads `buf`, naming `packet` in errors.
    pub(crate) fn new(buf: Bytes, packet: &'static str) -> Reader {
        Reader { buf, packet }
    }

    /// The packet name this reader reports errors for.
    pub(crate) fn packet(&self) -> &'static str {
        self.packet
    }

    /// Bytes left.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    fn need(&self, n: usize, field: &'static str) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated {
                packet: self.packet,
                field,
            });
        }
        Ok(())
    }

    /// One byte.
    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        self.need(1, field)?;
        Ok(self.buf.get_u8())
    }

    /// A Two Byte Integer (big-endian).
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        self.need(2, field)?;
        Ok(self.buf.get_u16())
    }

    /// A Four Byte Integer (big-endian).
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        self.need(4, field)?;
        Ok(self.buf.get_u32())
    }

    /// A Variable Byte Integer.
    pub(crate) fn var_int(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        match parse_var_int(&self.buf, field)? {
            Some((value, len)) => {
                self.buf.advance(len);
                Ok(value)
            }
            None => Err(DecodeError::Truncated {
                packet: self.packet,
                field,
            }),
        }
    }

    /// The next `n` bytes, shared with the packet.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        self.need(n, field)?;
        Ok(self.buf.split_to(n))
    }

    /// A sub-reader over the next `n` bytes (a property block).
    pub(crate) fn sub(&mut self, n: usize, field: &'static str) -> Result<Reader, DecodeError> {
        let buf = self.take(n, field)?;
        Ok(Reader {
            buf,
            packet: self.packet,
        })
    }

    /// Binary Data: a two-byte length and that many bytes.
    pub(crate) fn binary(&mut self, field: &'static str) -> Result<Bytes, DecodeError> {
        let len = self.u16(field)?;
        self.take(usize::from(len), field)
    }

    /// A UTF-8 Encoded String: well-formed UTF-8 and no U+0000.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<ByteString, DecodeError> {
        let raw = self.binary(field)?;
        if raw.contains(&0) {
            return Err(DecodeError::NulInString(field));
        }
        ByteString::try_from(raw).map_err(|_| DecodeError::InvalidUtf8(field))
    }

    /// Everything left (a PUBLISH payload).
    pub(crate) fn rest(&mut self) -> Bytes {
        std::mem::take(&mut self.buf)
    }

    /// Fails if any byte is left.
    pub(crate) fn finish(self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::TrailingBytes {
                packet: self.packet,
                count: self.buf.len(),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn var_ints_decode_at_their_boundaries() {
        let cases: &[(&[u8], u32)] = &[
            (&[0x00], 0),
            (&[0x7F], 127),
            (&[0x80, 0x01], 128),
            (&[0xFF, 0x7F], 16_383),
            (&[0x80, 0x80, 0x01], 16_384),
            (&[0xFF, 0xFF, 0x7F], 2_097_151),
            (&[0x80, 0x80, 0x80, 0x01], 2_097_152),
            (&[0xFF, 0xFF, 0xFF, 0x7F], MAX_VAR_INT),
        ];
        for (bytes, value) in cases {
            assert_eq!(
                parse_var_int(bytes, "x"),
                Ok(Some((*value, bytes.len()))),
                "{bytes:x?}"
            );
        }
    }

    #[test]
    fn var_int_of_five_bytes_is_malformed() {
        assert_eq!(
            parse_var_int(&[0xFF, 0xFF, 0xFF, 0xFF, 0x7F], "x"),
            Err(DecodeError::InvalidVarInt("x"))
        );
        assert_eq!(
            parse_var_int(&[0x80, 0x80, 0x80, 0x80], "x"),
            Err(DecodeError::InvalidVarInt("x"))
        );
    }

    #[test]
    fn var_int_not_minimally_encoded_is_malformed() {
        assert_eq!(
            parse_var_int(&[0x80, 0x00], "x"),
            Err(DecodeError::InvalidVarInt("x"))
        );
        assert_eq!(
            parse_var_int(&[0xFF, 0x80, 0x00], "x"),
            Err(DecodeError::InvalidVarInt("x"))
        );
    }

    #[test]
    fn incomplete_var_int_needs_more_bytes() {
        assert_eq!(parse_var_int(&[], "x"), Ok(None));
        assert_eq!(parse_var_int(&[0x80], "x"), Ok(None));
        assert_eq!(parse_var_int(&[0x80, 0x80, 0x80], "x"), Ok(None));
    }

    #[test]
    fn strings_reject_nul_and_invalid_utf8() {
        let mut r = Reader::new(Bytes::from_static(&[0, 3, b'a', 0, b'b']), "T");
        assert_eq!(r.string("s"), Err(DecodeError::NulInString("s")));
        // An encoded surrogate (U+D800) is not well-formed UTF-8.
        let mut r = Reader::new(Bytes::from_static(&[0, 3, 0xED, 0xA0, 0x80]), "T");
        assert_eq!(r.string("s"), Err(DecodeError::InvalidUtf8("s")));
        let mut r = Reader::new(Bytes::from_static(&[0, 4, b'a']), "T");
        assert_eq!(
            r.string("s"),
            Err(DecodeError::Truncated {
                packet: "T",
                field: "s"
            })
        );
    }

    #[test]
    fn strings_are_slices_of_the_packet() {
        let packet = Bytes::from_static(&[0, 2, b'h', b'i', 9]);
        let start = packet.as_ptr() as usize;
        let mut r = Reader::new(packet, "T");
        let s = r.string("s").expect("valid string");
        assert_eq!(&*s, "hi");
        assert_eq!(s.as_bytes().as_ptr() as usize, start + 2);
        assert_eq!(r.remaining(), 1);
    }
}
