//! RS256 device tokens (SPEC §3): the device signs a JWT with its private
//! key and sends it as the MQTT password; Agora checks it against the public
//! key registered for the device.
//!
//! jsonwebtoken checks the signature, the algorithm (pinned to RS256, so
//! `none` and HS256-with-the-public-key are refused), `exp`, `nbf` and `iss`.
//! It does not check `iat`, so we do: no more than `clock_skew` in the
//! future, and `exp - iat` no longer than `max_lifetime`, so a device cannot
//! mint a token that lives for a year. Claims are listed as required so a
//! malformed `exp` (e.g. a string) is an error, not a missing check.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde::Deserialize;

/// How device tokens are judged (`[jwt]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JwtPolicy {
    /// How far in the future `iat` may be, and the leeway on `exp`/`nbf`.
    pub clock_skew: Duration,
    /// Longest `exp - iat` accepted.
    pub max_lifetime: Duration,
    /// Whether `iss` must equal the device's MQTT user name.
    pub require_iss: bool,
    /// Whether the session is closed when the token expires.
    pub disconnect_on_expiry: bool,
}

impl Default for JwtPolicy {
    fn default() -> JwtPolicy {
        JwtPolicy {
            clock_skew: Duration::from_secs(60),
            max_lifetime: Duration::from_secs(24 * 3600),
            require_iss: false,
            disconnect_on_expiry: true,
        }
    }
}

/// Why a token was refused; the text goes to the device (it says what to fix).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not a JWT at all, or its header or claims cannot be read.
    #[error("the password is not a valid JWT: {0}")]
    Malformed(String),
    /// The header names another algorithm.
    #[error("the token must be signed with RS256")]
    WrongAlgorithm,
    /// The signature does not match the registered key.
    #[error("the token's signature does not match the device's registered public key")]
    BadSignature,
    /// `exp` or `iat` missing or not numbers.
    #[error("the token must carry numeric exp and iat claims")]
    MissingClaim,
    /// Past `exp`.
    #[error("the token has expired; sign a new one")]
    Expired,
    /// Before `nbf`.
    #[error("the token is not valid yet (nbf)")]
    NotYetValid,
    /// `iat` too far in the future.
    #[error("the token's iat is in the future; check the device's clock")]
    IssuedInFuture,
    /// `exp - iat` too long.
    #[error("the token lives longer than the server allows ({0} s); use a shorter exp")]
    TooLong(u64),
    /// `iss` required and different.
    #[error("the token's iss must be the device's MQTT user name")]
    WrongIssuer,
}

#[derive(Debug, Deserialize)]
struct Claims {
    exp: u64,
    iat: u64,
    #[serde(default)]
    nbf: Option<u64>,
}

/// Installs aws-lc-rs as jsonwebtoken's crypto provider (once per process;
/// later calls find it installed). jsonwebtoken panics at first use without one.
pub fn install_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

/// Verifies `token` for the device `username` with its public `key`; returns
/// the instant the token expires.
pub fn verify(
    token: &str,
    key: &DecodingKey,
    username: &str,
    policy: &JwtPolicy,
    now: SystemTime,
) -> Result<SystemTime, TokenError> {
    let mut v = Validation::new(Algorithm::RS256);
    v.set_required_spec_claims(&["exp", "iat"]);
    // No leeway on `exp`: the session is closed at `exp`, so a token accepted
    // "within the leeway" would be cut off at once. Clock skew is allowed on
    // `iat` and `nbf` (checked below), where a fast device clock shows.
    v.leeway = 0;
    v.validate_nbf = false;
    v.validate_aud = false;
    if policy.require_iss {
        v.set_issuer(&[username]);
        v.required_spec_claims.insert("iss".to_owned());
    }
    let data = jsonwebtoken::decode::<Claims>(token, key, &v).map_err(|e| match e.kind() {
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::InvalidKeyFormat => TokenError::WrongAlgorithm,
        ErrorKind::InvalidSignature => TokenError::BadSignature,
        ErrorKind::ExpiredSignature => TokenError::Expired,
        ErrorKind::ImmatureSignature => TokenError::NotYetValid,
        ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(c) if c == "iss" => TokenError::WrongIssuer,
        ErrorKind::MissingRequiredClaim(_) => TokenError::MissingClaim,
        ErrorKind::Json(_) => TokenError::MissingClaim,
        _ => TokenError::Malformed(e.to_string()),
    })?;
    let now_s = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let Claims { exp, iat, nbf } = data.claims;
    let skew = policy.clock_skew.as_secs();
    // jsonwebtoken accepts `exp == now`; the session would be closed in the same breath.
    if exp <= now_s {
        return Err(TokenError::Expired);
    }
    if iat > now_s + skew {
        return Err(TokenError::IssuedInFuture);
    }
    if nbf.is_some_and(|nbf| nbf > now_s + skew) {
        return Err(TokenError::NotYetValid);
    }
    let max = policy.max_lifetime.as_secs();
    if exp.saturating_sub(iat) > max {
        return Err(TokenError::TooLong(max));
    }
    Ok(UNIX_EPOCH + Duration::from_secs(exp))
}

/// Whether a password is a PEM private key, which a device must never send (I3's
/// documentation had to warn about it): refused with a reason of its own.
pub fn looks_like_private_key(password: &[u8]) -> bool {
    let text = String::from_utf8_lossy(&password[..password.len().min(64)]);
    text.trim_start().starts_with("-----BEGIN") && text.contains("PRIVATE KEY")
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::KeyPair as _;
    use base64::Engine as _;
    use jsonwebtoken::{EncodingKey, Header, encode};

    struct Keys {
        sign: EncodingKey,
        verify: DecodingKey,
        public_der: Vec<u8>,
    }

    fn keys() -> Keys {
        install_provider();
        let pair = KeyPair::generate(KeySize::Rsa2048).expect("keygen");
        let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair)
            .expect("pkcs8");
        let public_der = pair.public_key().as_ref().to_vec();
        // EncodingKey::from_rsa_der wants PKCS#1; a PKCS#8 PEM is what `agora keygen` writes.
        let b64 = base64::engine::general_purpose::STANDARD.encode(pkcs8.as_ref());
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap_or_default())
            .collect();
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            lines.join("\n")
        );
        Keys {
            sign: EncodingKey::from_rsa_pem(pem.as_bytes()).expect("pkcs8 pem"),
            verify: DecodingKey::from_rsa_der(&public_der),
            public_der,
        }
    }

    fn now() -> SystemTime {
        SystemTime::now()
    }

    fn secs(t: SystemTime) -> u64 {
        t.duration_since(UNIX_EPOCH).expect("after epoch").as_secs()
    }

    fn token(k: &Keys, claims: serde_json::Value) -> String {
        encode(&Header::new(Algorithm::RS256), &claims, &k.sign).expect("sign")
    }

    #[test]
    fn a_token_signed_like_i3s_samples_is_accepted_until_its_exp() {
        let k = keys();
        let t = secs(now());
        let tok = token(
            &k,
            serde_json::json!({"iss": "anything", "iat": t, "exp": t + 60}),
        );
        let exp = verify(
            &tok,
            &k.verify,
            "alice$home$pi",
            &JwtPolicy::default(),
            now(),
        )
        .expect("valid");
        assert_eq!(secs(exp), t + 60);
    }

    #[test]
    fn expired_future_and_overlong_tokens_are_refused() {
        let k = keys();
        let t = secs(now());
        let p = JwtPolicy::default();
        let expired = token(&k, serde_json::json!({"iat": t - 7200, "exp": t - 3600}));
        assert_eq!(
            verify(&expired, &k.verify, "d", &p, now()),
            Err(TokenError::Expired)
        );
        let future = token(&k, serde_json::json!({"iat": t + 3600, "exp": t + 7200}));
        assert_eq!(
            verify(&future, &k.verify, "d", &p, now()),
            Err(TokenError::IssuedInFuture)
        );
        let long = token(&k, serde_json::json!({"iat": t, "exp": t + 400 * 86400}));
        assert_eq!(
            verify(&long, &k.verify, "d", &p, now()),
            Err(TokenError::TooLong(86400))
        );
        let no_iat = token(&k, serde_json::json!({"exp": t + 60}));
        assert_eq!(
            verify(&no_iat, &k.verify, "d", &p, now()),
            Err(TokenError::MissingClaim)
        );
        let string_exp = token(&k, serde_json::json!({"iat": t, "exp": "never"}));
        assert!(verify(&string_exp, &k.verify, "d", &p, now()).is_err());
        let nbf = token(
            &k,
            serde_json::json!({"iat": t, "exp": t + 600, "nbf": t + 300}),
        );
        assert_eq!(
            verify(&nbf, &k.verify, "d", &p, now()),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn another_key_none_and_hs256_are_refused() {
        let k = keys();
        let other = keys();
        let t = secs(now());
        let p = JwtPolicy::default();
        let claims = serde_json::json!({"iat": t, "exp": t + 60});
        let forged = token(&other, claims.clone());
        assert_eq!(
            verify(&forged, &k.verify, "d", &p, now()),
            Err(TokenError::BadSignature)
        );
        let b64 = |v: &serde_json::Value| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
        };
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            b64(&claims)
        );
        assert!(verify(&none, &k.verify, "d", &p, now()).is_err());
        // The classic confusion: HS256 keyed with the public key's bytes.
        let hs = encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(&k.public_der),
        )
        .expect("sign");
        assert_eq!(
            verify(&hs, &k.verify, "d", &p, now()),
            Err(TokenError::WrongAlgorithm)
        );
    }

    #[test]
    fn iss_is_checked_only_when_required() {
        let k = keys();
        let t = secs(now());
        let strict = JwtPolicy {
            require_iss: true,
            ..JwtPolicy::default()
        };
        let good = token(
            &k,
            serde_json::json!({"iss": "alice$home$pi", "iat": t, "exp": t + 60}),
        );
        assert!(verify(&good, &k.verify, "alice$home$pi", &strict, now()).is_ok());
        let bad = token(
            &k,
            serde_json::json!({"iss": "someone", "iat": t, "exp": t + 60}),
        );
        assert_eq!(
            verify(&bad, &k.verify, "alice$home$pi", &strict, now()),
            Err(TokenError::WrongIssuer)
        );
        let missing = token(&k, serde_json::json!({"iat": t, "exp": t + 60}));
        assert_eq!(
            verify(&missing, &k.verify, "alice$home$pi", &strict, now()),
            Err(TokenError::WrongIssuer)
        );
    }

    #[test]
    fn a_pem_private_key_is_recognised() {
        assert!(looks_like_private_key(b"-----BEGIN PRIVATE KEY-----\nMIIE"));
        assert!(looks_like_private_key(
            b"  -----BEGIN RSA PRIVATE KEY-----\n"
        ));
        assert!(!looks_like_private_key(b"ags_0123456789abcdef"));
        assert!(!looks_like_private_key(b"-----BEGIN PUBLIC KEY-----"));
    }
}
