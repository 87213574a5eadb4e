//! TLS server configuration for the MQTT-over-TLS listener.
//!
//! Two sources: certificate and key files the operator configured
//! ([`from_pem_files`]), or a self-signed pair that [`self_signed`] creates
//! in a folder on first start and reuses afterwards. Reuse matters: clients
//! pin the self-signed certificate (`mosquitto_sub --cafile
//! agora-data/tls/cert.pem`), so a restart must not invalidate it.
//!
//! One crypto provider (aws-lc-rs) is named explicitly rather than relying on
//! a process-wide default, so that feature unification elsewhere in the
//! binary can never make the choice ambiguous (rustls would panic).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// Why TLS material could not be loaded or created.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{path}: {what}")]
    Pem {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it.
        what: String,
    },
    /// rustls refused the certificate/key pair (e.g. the key does not match).
    #[error("the certificate and key cannot be used together: {0}")]
    Rustls(#[from] rustls::Error),
    /// The self-signed certificate could not be generated.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The file names [`self_signed`] uses inside its folder.
pub const CERT_FILE: &str = "cert.pem";
/// The private key's file name inside the self-signed folder (mode 0600).
pub const KEY_FILE: &str = "key.pem";

/// Loads a certificate chain and its private key from PEM files.
pub fn from_pem_files(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let certs = load_certs(cert)?;
    let key = load_key(key)?;
    server_config(certs, key)
}

/// Uses `<dir>/cert.pem` and `<dir>/key.pem`, creating them first if they do
/// not exist. A new certificate names every entry of `names` (DNS names or IP
/// addresses) as a subject alternative name.
pub fn self_signed(dir: &Path, names: &[String]) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    if !cert_path.exists() || !key_path.exists() {
        create_self_signed(dir, &cert_path, &key_path, names)?;
    }
    from_pem_files(&cert_path, &key_path)
}

fn create_self_signed(
    dir: &Path,
    cert_path: &Path,
    key_path: &Path,
    names: &[String],
) -> Result<(), TlsError> {
    fs::create_dir_all(dir).map_err(|source| TlsError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for n in names {
        if !unique.contains(n) {
            unique.push(n.clone());
        }
    }
    let pair = rcgen::generate_simple_self_signed(unique)?;
    // The key first, then the certificate: `self_signed` regenerates when
    // either is missing, so a crash between the two writes heals itself.
    write_atomically(key_path, pair.signing_key.serialize_pem().as_bytes(), true)?;
    write_atomically(cert_path, pair.cert.pem().as_bytes(), false)?;
    tracing::info!(path = %cert_path.display(), "created a self-signed TLS certificate");
    Ok(())
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_atomically(path: &Path, contents: &[u8], secret: bool) -> Result<(), TlsError> {
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = path.with_extension("tmp");
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    if secret {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = secret;
    let mut file = options.open(&tmp).map_err(io)?;
    file.write_all(contents).map_err(io)?;
    file.sync_all().map_err(io)?;
    fs::rename(&tmp, path).map_err(io)
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem_err = |what: String| TlsError::Pem {
        path: path.to_owned(),
        what,
    };
    let iter = CertificateDer::pem_file_iter(path).map_err(|e| pem_err(e.to_string()))?;
    let certs = iter
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_err(format!("not a valid PEM certificate file: {e}")))?;
    if certs.is_empty() {
        return Err(pem_err("no CERTIFICATE block found".to_owned()));
    }
    Ok(certs)
}

fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::Pem {
        path: path.to_owned(),
        what: format!("no usable private key (PKCS#8, PKCS#1 or SEC1 PEM): {e}"),
    })
}

fn server_config(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_certificate_is_created_once_and_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        self_signed(dir.path(), &names).expect("first start creates the pair");
        let first = fs::read(dir.path().join(CERT_FILE)).expect("cert written");
        self_signed(dir.path(), &names).expect("second start reuses it");
        let second = fs::read(dir.path().join(CERT_FILE)).expect("cert still there");
        assert_eq!(first, second, "a restart must not replace the certificate");
    }

    #[cfg(unix)]
    #[test]
    fn self_signed_key_is_readable_only_by_its_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        self_signed(dir.path(), &["localhost".to_owned()]).expect("created");
        let mode = fs::metadata(dir.path().join(KEY_FILE))
            .expect("key written")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn a_file_without_certificates_is_a_clear_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        fs::write(&cert, "not pem at all\n").expect("write");
        fs::write(&key, "not pem either\n").expect("write");
        let err = from_pem_files(&cert, &key).expect_err("must refuse");
        assert!(err.to_string().contains("cert.pem"), "{err}");
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let err = from_pem_files(
            Path::new("/nonexistent/c.pem"),
            Path::new("/nonexistent/k.pem"),
        )
        .expect_err("must refuse");
        assert!(err.to_string().contains("/nonexistent/c.pem"), "{err}");
    }
}
