//! Device RSA public keys (SPEC §3): parse what sellers paste, refuse what is unsafe, and keep
//! one normalised form.
//!
//! Accepted: PEM `PUBLIC KEY` (X.509 SubjectPublicKeyInfo), PEM `RSA PUBLIC KEY` (PKCS#1), or
//! I3's bare base64 body of either. Keys must be 2048–4096 bits. Whatever came in, the stored
//! form is the SPKI PEM (`-----BEGIN PUBLIC KEY-----`, LF line ends), which
//! `jsonwebtoken::DecodingKey::from_rsa_pem` and every other tool read.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::ValidationError;

/// Smallest accepted modulus.
pub const MIN_BITS: usize = 2048;
/// Largest accepted modulus: bigger keys cost connect-time CPU for no practical gain.
pub const MAX_BITS: usize = 4096;

const FIELD: &str = "public_key";

/// A validated RSA public key of 2048–4096 bits.
#[derive(Clone, PartialEq, Eq)]
pub struct RsaPublicKey {
    spki_der: Vec<u8>,
    bits: usize,
}

impl RsaPublicKey {
    /// Parses a public key as a seller pastes it; the error says what was wrong.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let input = input.trim();
        if input.is_empty() {
            return Err(ValidationError::new(
                FIELD,
                "is empty; paste an RSA public key (PEM)",
            ));
        }
        let der = if input.contains("-----BEGIN") {
            let pem = pem::parse(input)
                .map_err(|e| ValidationError::new(FIELD, format!("is not valid PEM: {e}")))?;
            match pem.tag() {
                "PUBLIC KEY" | "RSA PUBLIC KEY" => pem.into_contents(),
                tag if tag.contains("PRIVATE KEY") => {
                    return Err(ValidationError::new(
                        FIELD,
                        "is a private key; register the public key only and keep the private key on the device",
                    ));
                }
                "CERTIFICATE" => {
                    return Err(ValidationError::new(
                        FIELD,
                        "is a certificate; paste its public key (PEM PUBLIC KEY)",
                    ));
                }
                other => {
                    return Err(ValidationError::new(
                        FIELD,
                        format!("is a PEM {other:?}; expected PUBLIC KEY or RSA PUBLIC KEY"),
                    ));
                }
            }
        } else {
            let body: String = input.chars().filter(|c| !c.is_whitespace()).collect();
            STANDARD
                .decode(body)
                .map_err(|_| ValidationError::new(FIELD, "is neither PEM nor a base64 key body"))?
        };
        Self::from_der(&der)
    }

    /// Parses DER, either SubjectPublicKeyInfo or PKCS#1 `RSAPublicKey`.
    pub fn from_der(der: &[u8]) -> Result<Self, ValidationError> {
        let key = rsa::PublicKey::from_der(der).map_err(|e| rejected(e.description_()))?;
        let spki = key
            .as_der()
            .map_err(|_| ValidationError::new(FIELD, "could not be re-encoded"))?
            .as_ref()
            .to_vec();
        let bits = rsa::PublicEncryptingKey::from_der(&spki)
            .map_err(|e| rejected(e.description_()))?
            .key_size_bits();
        if !(MIN_BITS..=MAX_BITS).contains(&bits) {
            return Err(ValidationError::new(
                FIELD,
                format!("has {bits} bits; RSA keys must have {MIN_BITS}–{MAX_BITS} bits"),
            ));
        }
        Ok(Self {
            spki_der: spki,
            bits,
        })
    }

    /// The key size in bits.
    #[must_use]
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// The normalised SubjectPublicKeyInfo DER.
    #[must_use]
    pub fn spki_der(&self) -> &[u8] {
        &self.spki_der
    }

    /// The normalised SPKI PEM (`-----BEGIN PUBLIC KEY-----`, LF line ends).
    #[must_use]
    pub fn spki_pem(&self) -> String {
        let p = pem::Pem::new("PUBLIC KEY", self.spki_der.clone());
        pem::encode_config(
            &p,
            pem::EncodeConfig::new().set_line_ending(pem::LineEnding::LF),
        )
    }
}

fn rejected(reason: &str) -> ValidationError {
    match reason {
        "TooSmall" => ValidationError::new(
            FIELD,
            format!("is too small; RSA keys must have {MIN_BITS}–{MAX_BITS} bits"),
        ),
        "TooLarge" => ValidationError::new(
            FIELD,
            format!("is too large; RSA keys must have {MIN_BITS}–{MAX_BITS} bits"),
        ),
        _ => ValidationError::new(
            FIELD,
            "is not an RSA public key (expected PEM PUBLIC KEY or RSA PUBLIC KEY)",
        ),
    }
}

impl fmt::Debug for RsaPublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RsaPublicKey({} bits)", self.bits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P2048: &str = include_str!("../testdata/p2048.pem");
    const P2048_PKCS1: &str = include_str!("../testdata/p2048_pkcs1.pem");
    const P1024: &str = include_str!("../testdata/p1024.pem");
    const P5120: &str = include_str!("../testdata/p5120.pem");
    const EC: &str = include_str!("../testdata/ecpub.pem");

    fn body(pem: &str) -> String {
        pem.lines().filter(|l| !l.starts_with("-----")).collect()
    }

    #[test]
    fn spki_pkcs1_and_bare_base64_give_the_same_key() {
        let a = RsaPublicKey::parse(P2048).expect("spki");
        let b = RsaPublicKey::parse(P2048_PKCS1).expect("pkcs1");
        let c = RsaPublicKey::parse(&body(P2048)).expect("bare spki body");
        let d = RsaPublicKey::parse(&body(P2048_PKCS1)).expect("bare pkcs1 body");
        assert_eq!(a.bits(), 2048);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a, d);
    }

    #[test]
    fn normalised_pem_is_spki_and_reparses() {
        let k = RsaPublicKey::parse(P2048_PKCS1).expect("pkcs1");
        let pem = k.spki_pem();
        assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----\n"));
        assert!(!pem.contains('\r'));
        assert_eq!(RsaPublicKey::parse(&pem).expect("reparse"), k);
    }

    #[test]
    fn generated_keys_of_each_allowed_size_parse() {
        let pair = rsa::KeyPair::generate(rsa::KeySize::Rsa2048).expect("keygen");
        let der = aws_lc_rs::signature::KeyPair::public_key(&pair)
            .as_der()
            .expect("der");
        assert_eq!(
            RsaPublicKey::from_der(der.as_ref()).expect("parse").bits(),
            2048
        );
    }

    #[test]
    fn keys_below_2048_bits_are_refused() {
        let err = RsaPublicKey::parse(P1024).expect_err("1024");
        assert_eq!(err.field, "public_key");
        assert!(err.message.contains("2048"), "{err}");
    }

    #[test]
    fn keys_above_4096_bits_are_refused() {
        let err = RsaPublicKey::parse(P5120).expect_err("5120");
        assert!(err.message.contains("5120 bits"), "{err}");
    }

    #[test]
    fn private_keys_are_refused_with_a_clear_reason() {
        let fake = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(
            RsaPublicKey::parse(fake)
                .expect_err("private")
                .message
                .contains("private key")
        );
        let fake = "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n";
        assert!(
            RsaPublicKey::parse(fake)
                .expect_err("private")
                .message
                .contains("private key")
        );
    }

    #[test]
    fn non_rsa_and_garbage_are_refused() {
        assert!(
            RsaPublicKey::parse(EC)
                .expect_err("ec")
                .message
                .contains("not an RSA")
        );
        assert!(RsaPublicKey::parse("hello world!").is_err());
        assert!(RsaPublicKey::parse("").is_err());
        assert!(
            RsaPublicKey::parse("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----")
                .is_err()
        );
    }
}
