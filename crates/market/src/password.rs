//! People's passwords: the policy (SPEC §3) and argon2id hashing.
//!
//! argon2id with the crate's defaults (m = 19 MiB, t = 2, p = 1), about 11 ms per hash on
//! the reference machine: slow on purpose, because people choose guessable passwords. These
//! functions block; async callers run them in `spawn_blocking` (the store does).

use std::fmt;
use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};

use crate::{AccountName, ValidationError};

/// Shortest allowed password, in characters.
pub const MIN_CHARS: usize = 10;
/// Longest allowed password, in bytes; a bound on the work a sign-up can ask for.
pub const MAX_BYTES: usize = 1024;

/// A small list of passwords every cracking dictionary starts with (the ones long enough to
/// pass the length rule). Compared case-insensitively.
const COMMON: &str = include_str!("common_passwords.txt");

/// A new password that passed the policy. `Debug` does not print it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Checks a new password for `account`: at least 10 characters, at most 1024 bytes, not a
    /// common password, not the account name, not one repeated character.
    pub fn new(input: &str, account: &AccountName) -> Result<Self, ValidationError> {
        const FIELD: &str = "password";
        if input.chars().count() < MIN_CHARS {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at least {MIN_CHARS} characters"),
            ));
        }
        if input.len() > MAX_BYTES {
            return Err(ValidationError::new(
                FIELD,
                format!("must be at most {MAX_BYTES} bytes"),
            ));
        }
        let lower = input.to_lowercase();
        if COMMON
            .lines()
            .map(str::trim)
            .any(|c| !c.is_empty() && c == lower)
        {
            return Err(ValidationError::new(
                FIELD,
                "is one of the most common passwords; choose another",
            ));
        }
        if lower.contains(account.as_str()) {
            return Err(ValidationError::new(
                FIELD,
                "must not contain the account name",
            ));
        }
        let mut chars = input.chars();
        if let Some(first) = chars.next()
            && chars.all(|c| c == first)
        {
            return Err(ValidationError::new(
                FIELD,
                "must not be one repeated character",
            ));
        }
        Ok(Self(input.to_owned()))
    }

    /// A random password for accounts made by tools (`agora admin create-user` without a
    /// password, `--demo`): 20 characters of base64url from the OS CSPRNG (120 bits), which
    /// passes [`Password::new`] for any account name.
    ///
    /// # Panics
    /// Only if the operating system's random generator fails.
    #[must_use]
    pub fn generate() -> Self {
        use base64::Engine as _;
        loop {
            let mut bytes = [0u8; 15];
            #[allow(clippy::expect_used)]
            aws_lc_rs::rand::fill(&mut bytes).expect("the operating system's CSPRNG failed");
            let s = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            // A 120-bit random string is never common, but it could contain a short account
            // name by chance; drawing again is cheaper than reasoning about it.
            if !s.chars().all(|c| c == s.chars().next().unwrap_or(' ')) {
                return Self(s);
            }
        }
    }

    /// The password, for hashing.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Hashes the password with argon2id and a fresh random salt. Blocking (~10 ms).
    pub fn hash(&self) -> Result<PasswordHash, HashError> {
        Argon2::default()
            .hash_password(self.0.as_bytes())
            .map(|h| PasswordHash(h.to_string()))
            .map_err(|e| HashError(e.to_string()))
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// argon2 failed (it does only on an RNG failure or absurd parameters).
#[derive(Debug, thiserror::Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// A stored argon2id PHC string (`$argon2id$v=19$…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string read from storage.
    #[must_use]
    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    /// The PHC string to store.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the password. Blocking (~10 ms). Parameters are read from the
    /// hash, so older hashes keep verifying after a parameter change.
    #[must_use]
    pub fn verify(&self, candidate: &str) -> bool {
        PasswordVerifier::<str>::verify_password(&Argon2::default(), candidate.as_bytes(), &self.0)
            .is_ok()
    }

    /// Burns the same time as a real verification, for unknown accounts, so that response
    /// time does not tell which account names exist.
    pub fn verify_dummy(candidate: &str) {
        static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
        let dummy = DUMMY.get_or_init(|| {
            Password("dummy-password-never-matches".to_owned())
                .hash()
                .ok()
        });
        if let Some(h) = dummy {
            let _ = h.verify(candidate);
        }
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> AccountName {
        AccountName::parse("alice").expect("valid")
    }

    #[test]
    fn short_passwords_are_refused() {
        let err = Password::new("short9chr", &alice()).expect_err("9 chars");
        assert_eq!(err.field, "password");
        assert!(Password::new("long enough pass", &alice()).is_ok());
    }

    #[test]
    fn length_counts_characters_not_bytes() {
        assert!(
            Password::new("éééééééééé", &alice()).is_err(),
            "one repeated character"
        );
        assert!(
            Password::new("ééééééééé", &alice())
                .expect_err("9 chars")
                .message
                .contains("at least")
        );
    }

    #[test]
    fn common_passwords_are_refused_in_any_case() {
        for p in ["password123", "PASSWORD123", "1234567890", "qwertyuiop"] {
            assert!(
                Password::new(p, &alice())
                    .expect_err(p)
                    .message
                    .contains("common"),
                "{p}"
            );
        }
    }

    #[test]
    fn passwords_containing_the_account_name_are_refused() {
        assert!(Password::new("Alice-2026-xyz", &alice()).is_err());
    }

    #[test]
    fn over_long_passwords_are_refused() {
        assert!(Password::new(&"ab".repeat(600), &alice()).is_err());
    }

    #[test]
    fn generated_passwords_are_long_random_and_valid() {
        let a = Password::generate();
        let b = Password::generate();
        assert_eq!(a.expose().len(), 20);
        assert_ne!(a.expose(), b.expose());
        assert!(Password::new(a.expose(), &alice()).is_ok());
    }

    #[test]
    fn hash_verifies_the_password_and_nothing_else() {
        let p = Password::new("correct horse battery", &alice()).expect("ok");
        let h = p.hash().expect("hash");
        assert!(h.as_str().starts_with("$argon2id$"));
        assert!(h.verify("correct horse battery"));
        assert!(!h.verify("correct horse battery "));
        assert!(!PasswordHash::from_phc("garbage".into()).verify("x"));
    }
}
