//! `agora keygen` and `agora token`: what a key-based device needs on its side.
//!
//! A device keeps an RSA private key and proves itself to the broker with a
//! short-lived RS256 JWT as its MQTT password, exactly as I3's Python samples
//! did with PyJWT (`iss`, `iat`, `exp`). The private key never leaves the
//! device: `keygen` writes it with mode 0600 and prints only the public key,
//! which the seller registers with the device.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, bail};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der, PublicKeyX509Der};
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::KeyPair as _;
use serde::Serialize;

/// Installs aws-lc-rs as jsonwebtoken's crypto provider.
///
/// jsonwebtoken 11 panics at first use if feature unification leaves it
/// without exactly one provider, so the binary picks one explicitly. A second
/// call (tests) finds it installed, which is fine.
pub(crate) fn install_jwt_provider() {
    let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
}

/// A freshly generated device key pair as PEM text.
#[derive(Debug)]
pub(crate) struct GeneratedKey {
    /// PKCS#8 `PRIVATE KEY`, for the device only.
    pub(crate) private_pem: String,
    /// SPKI `PUBLIC KEY`, to register with the device.
    pub(crate) public_pem: String,
}

/// Generates an RSA key pair of `bits` (2048, 3072 or 4096).
pub(crate) fn generate(bits: u32) -> anyhow::Result<GeneratedKey> {
    let size = match bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        _ => bail!("--bits {bits}: must be 2048, 3072 or 4096"),
    };
    let pair = KeyPair::generate(size).map_err(|_| anyhow::anyhow!("RSA key generation failed"))?;
    let private: Pkcs8V1Der = pair
        .as_der()
        .map_err(|_| anyhow::anyhow!("cannot encode the private key as PKCS#8"))?;
    let public: PublicKeyX509Der = pair
        .public_key()
        .as_der()
        .map_err(|_| anyhow::anyhow!("cannot encode the public key"))?;
    Ok(GeneratedKey {
        private_pem: pem::encode(&pem::Pem::new("PRIVATE KEY", private.as_ref().to_vec())),
        public_pem: pem::encode(&pem::Pem::new("PUBLIC KEY", public.as_ref().to_vec())),
    })
}

/// Writes `key.private_pem` to `path`, readable by its owner only; refuses to overwrite.
pub(crate) fn write_private_key(path: &Path, key: &GeneratedKey) -> anyhow::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).with_context(|| {
        if path.exists() {
            format!(
                "{} already exists; choose another --out or remove it first",
                path.display()
            )
        } else {
            format!("cannot create {}", path.display())
        }
    })?;
    file.write_all(key.private_pem.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

#[derive(Serialize)]
struct Claims<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
    iat: u64,
    exp: u64,
}

/// Signs an RS256 JWT with the PKCS#8 (or PKCS#1) private key in `pem`:
/// `iat` = now, `exp` = now + `ttl`, and `iss` when given.
pub(crate) fn sign_token(
    pem: &[u8],
    iss: Option<&str>,
    ttl: Duration,
    now: SystemTime,
) -> anyhow::Result<String> {
    install_jwt_provider();
    let key = jsonwebtoken::EncodingKey::from_rsa_pem(pem)
        .context("the key file is not an RSA private key in PEM (make one with `agora keygen`)")?;
    let iat = now
        .duration_since(UNIX_EPOCH)
        .context("the system clock is before 1970")?
        .as_secs();
    let claims = Claims {
        iss,
        iat,
        exp: iat + ttl.as_secs(),
    };
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &key,
    )
    .context("cannot sign the token")
}

/// Reads a private key file and signs a token with it (for `agora token` and `agora pub --key`).
pub(crate) fn sign_token_from_file(
    path: &Path,
    iss: Option<&str>,
    ttl: Duration,
) -> anyhow::Result<String> {
    let pem =
        std::fs::read(path).with_context(|| format!("cannot read key file {}", path.display()))?;
    sign_token(&pem, iss, ttl, SystemTime::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_key_signs_a_token_its_public_key_verifies() {
        install_jwt_provider();
        let key = generate(2048).unwrap();
        assert!(key.private_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
        assert!(key.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
        let token = sign_token(
            key.private_pem.as_bytes(),
            Some("alice$home$pi"),
            Duration::from_secs(3600),
            SystemTime::now(),
        )
        .unwrap();
        let decoding = jsonwebtoken::DecodingKey::from_rsa_pem(key.public_pem.as_bytes()).unwrap();
        let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
        v.set_required_spec_claims(&["exp", "iat"]);
        let data = jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &v).unwrap();
        assert_eq!(data.claims["iss"], "alice$home$pi");
        assert_eq!(
            data.claims["exp"].as_u64().unwrap() - data.claims["iat"].as_u64().unwrap(),
            3600
        );
    }

    #[test]
    fn private_key_file_is_owner_only_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("device.pem");
        let key = generate(2048).unwrap();
        write_private_key(&path, &key).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let err = write_private_key(&path, &key).unwrap_err();
        assert!(format!("{err:#}").contains("already exists"));
    }

    #[test]
    fn odd_key_sizes_and_garbage_keys_are_refused() {
        assert!(generate(1024).is_err());
        let err = sign_token(
            b"not a key",
            None,
            Duration::from_secs(60),
            SystemTime::now(),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("agora keygen"));
    }
}
