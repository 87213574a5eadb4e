//! Secrets Agora generates: device secrets (`ags_`), buyer access keys (`agk_`) and API
//! tokens (`agt_`).
//!
//! Each is 32 bytes (256 bits) from the operating system's CSPRNG (aws-lc-rs), written as a
//! prefix plus unpadded base64url. The prefix tells people (and secret scanners) what a
//! leaked string is, and lets us refuse a token pasted where an access key belongs.
//!
//! **Stored as SHA-256, not HMAC and not argon2.** The secrets carry 256 bits of entropy, so
//! a stolen hash cannot be brute-forced and a slow hash would only turn a reconnect storm
//! into a CPU denial of service (deps.md §4). A keyed HMAC would protect only if its key lived
//! somewhere the database does not; in Agora both live in the same data folder, and the
//! broker's access layer would need the key too. Plain SHA-256 keeps verification a
//! self-contained, 1 µs, constant-time comparison.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use subtle::ConstantTimeEq;

/// Random bytes in every generated secret.
pub const SECRET_BYTES: usize = 32;

/// What a generated secret is for; decides its prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecretKind {
    /// A device's MQTT password (`ags_…`).
    DeviceSecret,
    /// A buyer's MQTT access key (`agk_…`).
    AccessKey,
    /// A personal REST API token (`agt_…`).
    ApiToken,
}

impl SecretKind {
    /// The prefix that starts every secret of this kind.
    #[must_use]
    pub fn prefix(self) -> &'static str {
        match self {
            Self::DeviceSecret => "ags_",
            Self::AccessKey => "agk_",
            Self::ApiToken => "agt_",
        }
    }
}

/// A freshly generated secret in clear: shown to its owner once, then dropped. `Debug` does
/// not print it, so it cannot leak into logs by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Generates a secret of `kind` and returns it with the hash to store.
    ///
    /// # Panics
    /// Only if the operating system's random generator fails, which leaves no safe way to go
    /// on issuing credentials.
    #[must_use]
    pub fn generate(kind: SecretKind) -> (Self, SecretHash) {
        let mut bytes = [0u8; SECRET_BYTES];
        // A failing OS RNG is not a recoverable condition for a credential issuer.
        #[allow(clippy::expect_used)]
        aws_lc_rs::rand::fill(&mut bytes).expect("the operating system's CSPRNG failed");
        let secret = Self(format!(
            "{}{}",
            kind.prefix(),
            URL_SAFE_NO_PAD.encode(bytes)
        ));
        let hash = SecretHash::of(&secret.0);
        (secret, hash)
    }

    /// The secret, to show once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Takes the secret, to show once.
    #[must_use]
    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

/// Whether `candidate` has the shape of a secret of `kind` (prefix and length); a cheap
/// first check before any lookup.
#[must_use]
pub fn looks_like(kind: SecretKind, candidate: &str) -> bool {
    candidate.strip_prefix(kind.prefix()).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

/// The stored form of a secret: SHA-256 of the whole string, prefix included.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a presented secret.
    #[must_use]
    pub fn of(secret: &str) -> Self {
        let d = digest::digest(&digest::SHA256, secret.as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref());
        Self(out)
    }

    /// Whether `candidate` is the secret behind this hash, compared in constant time.
    #[must_use]
    pub fn verify(&self, candidate: &str) -> bool {
        Self::of(candidate).0.ct_eq(&self.0).into()
    }

    /// Lower-case hex, the form stored in the database.
    #[must_use]
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0.iter().fold(String::with_capacity(64), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
    }

    /// Parses the stored hex form.
    pub fn from_hex(hex: &str) -> Option<Self> {
        if hex.len() != 64 || !hex.is_ascii() {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(Self(out))
    }

    /// The raw digest.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A hash is not the secret, but there is no reason to print it either.
        f.write_str("SecretHash(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_carry_their_prefix_and_256_bits() {
        for kind in [
            SecretKind::DeviceSecret,
            SecretKind::AccessKey,
            SecretKind::ApiToken,
        ] {
            let (s, _) = Secret::generate(kind);
            assert!(s.expose().starts_with(kind.prefix()));
            assert!(looks_like(kind, s.expose()));
            let body = &s.expose()[4..];
            assert_eq!(
                URL_SAFE_NO_PAD.decode(body).map(|b| b.len()),
                Ok(SECRET_BYTES)
            );
        }
        assert!(!looks_like(
            SecretKind::AccessKey,
            Secret::generate(SecretKind::ApiToken).0.expose()
        ));
    }

    #[test]
    fn two_generated_secrets_differ() {
        let (a, ha) = Secret::generate(SecretKind::AccessKey);
        let (b, hb) = Secret::generate(SecretKind::AccessKey);
        assert_ne!(a, b);
        assert_ne!(ha, hb);
    }

    #[test]
    fn hash_verifies_only_its_secret() {
        let (s, h) = Secret::generate(SecretKind::DeviceSecret);
        assert!(h.verify(s.expose()));
        assert!(!h.verify(&format!("{}x", s.expose())));
        assert!(!h.verify(""));
    }

    #[test]
    fn hash_round_trips_through_hex() {
        let (_, h) = Secret::generate(SecretKind::ApiToken);
        assert_eq!(SecretHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(SecretHash::from_hex("zz"), None);
        assert_eq!(SecretHash::from_hex(&"g".repeat(64)), None);
    }

    #[test]
    fn debug_output_never_shows_the_secret() {
        let (s, h) = Secret::generate(SecretKind::ApiToken);
        assert!(!format!("{s:?}{h:?}").contains(&s.expose()[4..]));
    }
}
