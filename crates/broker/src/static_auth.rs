//! An [`Authorizer`] for the standalone broker: users, argon2id password
//! hashes and topic patterns from the configuration file.
//!
//! Deny by default: a client without a user name is refused unless
//! `allow_anonymous` is set, a user may only touch topics one of its rules
//! names, and a rule grants read, write or both. `%u` and `%c` in a pattern
//! stand for the user name and client id of the session, so one rule such as
//! `sensors/%u/#` serves every device.
//!
//! Substitution is where brokers have been bitten before: a client id of `#`
//! turning `devices/%c/#` into `devices/#/#` would read everything. So a rule
//! whose placeholder value contains `/`, `+`, `#` or NUL is dropped for that
//! session (it grants nothing), and every resolved pattern is re-validated.
//!
//! Rules are resolved once per CONNECT and carried in the session's
//! [`Identity`] attachment; the per-packet checks are then a walk over a few
//! strings, with no lock and no allocation.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use agora_mqtt::topic::{filter_contains, matches, validate_topic_filter};
use agora_mqtt::{QoS, ReasonCode};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

use crate::auth::{AuthFuture, Authorizer, ConnectRequest, DeliveryKind, Identity, Refusal};
use crate::throttle::{LoginThrottle, ThrottleConfig};

/// What a rule allows on the topics its pattern matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Subscribe and receive.
    Read,
    /// Publish.
    Write,
    /// Both.
    ReadWrite,
}

impl Access {
    fn reads(self) -> bool {
        matches!(self, Access::Read | Access::ReadWrite)
    }
    fn writes(self) -> bool {
        matches!(self, Access::Write | Access::ReadWrite)
    }
}

/// One topic pattern (a topic filter, possibly with `%u` / `%c`) and its access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclRule {
    /// A topic filter; `%u` is replaced by the user name, `%c` by the client id.
    pub pattern: String,
    /// What the rule allows.
    pub access: Access,
}

/// One configured user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaticUser {
    /// The MQTT user name.
    pub username: String,
    /// An argon2 PHC string (`$argon2id$v=19$...`), as `agora hash-password` prints.
    pub password_hash: String,
    /// A superuser may do everything, including reading `$SYS/#`.
    pub superuser: bool,
    /// The user's rules.
    pub acl: Vec<AclRule>,
}

/// Everything [`StaticAuth::new`] needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticAuthConfig {
    /// Accept clients without a user name (they get `anonymous_acl`). Off by default.
    pub allow_anonymous: bool,
    /// Rules for anonymous clients.
    pub anonymous_acl: Vec<AclRule>,
    /// The users.
    pub users: Vec<StaticUser>,
}

/// A configuration the static authoriser refuses, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StaticAuthError {
    /// A user entry has an empty name.
    #[error("a user has an empty username")]
    EmptyUsername,
    /// Two entries share a user name.
    #[error("user {0:?} is listed twice")]
    DuplicateUser(String),
    /// A password hash is not an argon2 PHC string.
    #[error(
        "user {user:?}: password_hash is not an argon2 hash ({reason}); make one with `agora hash-password`"
    )]
    BadHash {
        /// The user.
        user: String,
        /// What the parser said.
        reason: String,
    },
    /// A pattern is not a valid topic filter.
    #[error("{owner}: acl pattern {pattern:?} is not a valid topic filter: {reason}")]
    BadPattern {
        /// The user (or "anonymous").
        owner: String,
        /// The pattern.
        pattern: String,
        /// Why.
        reason: String,
    },
}

struct User {
    username: String,
    hash: String,
    superuser: bool,
    acl: Vec<AclRule>,
    /// Name and rules as every session of the user shares them.
    shared: Shared,
}

/// What every session of one ACL can share: the user name, and the rules
/// when no pattern has a placeholder (most do not). Sharing them costs a
/// session two reference counts instead of a few hundred bytes of copies.
struct Shared {
    name: Arc<str>,
    rules: Option<Arc<SessionRules>>,
}

impl Shared {
    fn new(name: &str, acl: &[AclRule]) -> Shared {
        let fixed = acl
            .iter()
            .all(|r| !r.pattern.contains("%u") && !r.pattern.contains("%c"));
        Shared {
            name: Arc::from(name),
            rules: fixed.then(|| Arc::new(SessionRules::resolve(acl, name, ""))),
        }
    }
}

/// The config-file authoriser. Cheap to share behind an `Arc`.
pub struct StaticAuth {
    allow_anonymous: bool,
    anonymous_acl: Vec<AclRule>,
    anonymous: Shared,
    users: HashMap<String, Arc<User>>,
    /// Verified against for unknown users, so that "no such user" and "wrong
    /// password" take the same time and cannot be told apart.
    dummy_hash: String,
    /// Addresses that keep failing are refused without a verification.
    throttle: LoginThrottle,
    /// argon2 costs ~19 MiB and milliseconds per verification: at most this
    /// many run at once, so a login storm cannot take every core or the memory.
    verifications: tokio::sync::Semaphore,
    /// Recently verified (user, SHA-256 of the password): a device that
    /// reconnects with the same password skips argon2. A hit needs the
    /// password itself, so the cache grants nothing a guess could not.
    recent: parking_lot::Mutex<HashMap<String, ([u8; 32], std::time::Instant)>>,
}

/// How long a verified password is remembered.
const RECENT_TTL: std::time::Duration = std::time::Duration::from_secs(600);
/// Most users remembered at once.
const RECENT_MAX: usize = 10_000;

fn digest(password: &[u8]) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(password).into()
}

/// The rules of one session, with placeholders resolved.
#[derive(Debug)]
struct SessionRules {
    read: Vec<String>,
    write: Vec<String>,
}

impl SessionRules {
    /// The rules of `acl` for one session, placeholders resolved.
    fn resolve(acl: &[AclRule], username: &str, client_id: &str) -> SessionRules {
        let mut rules = SessionRules {
            read: Vec::new(),
            write: Vec::new(),
        };
        for rule in acl {
            let Some(pattern) = resolve(&rule.pattern, username, client_id) else {
                continue;
            };
            if rule.access.reads() {
                rules.read.push(pattern.clone());
            }
            if rule.access.writes() {
                rules.write.push(pattern);
            }
        }
        rules.read.shrink_to_fit();
        rules.write.shrink_to_fit();
        rules
    }
}

impl StaticAuth {
    /// Validates the configuration: names, hashes and patterns.
    pub fn new(config: StaticAuthConfig) -> Result<StaticAuth, StaticAuthError> {
        let mut users = HashMap::new();
        for u in config.users {
            if u.username.is_empty() {
                return Err(StaticAuthError::EmptyUsername);
            }
            PasswordHash::new(&u.password_hash).map_err(|e| StaticAuthError::BadHash {
                user: u.username.clone(),
                reason: e.to_string(),
            })?;
            check_patterns(&u.username, &u.acl)?;
            if users.contains_key(&u.username) {
                return Err(StaticAuthError::DuplicateUser(u.username));
            }
            let user = User {
                shared: Shared::new(&u.username, &u.acl),
                username: u.username.clone(),
                hash: u.password_hash,
                superuser: u.superuser,
                acl: u.acl,
            };
            users.insert(u.username, Arc::new(user));
        }
        check_patterns("anonymous", &config.anonymous_acl)?;
        let dummy_hash = hash_password("agora-dummy-password-for-timing").map_err(|reason| {
            StaticAuthError::BadHash {
                user: "(internal)".to_owned(),
                reason,
            }
        })?;
        Ok(StaticAuth {
            allow_anonymous: config.allow_anonymous,
            anonymous: Shared::new("", &config.anonymous_acl),
            anonymous_acl: config.anonymous_acl,
            users,
            dummy_hash,
            throttle: LoginThrottle::new(ThrottleConfig::default()),
            verifications: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
            recent: parking_lot::Mutex::new(HashMap::new()),
        })
    }

    fn identity(
        &self,
        shared: &Shared,
        client_id: &str,
        superuser: bool,
        acl: &[AclRule],
    ) -> Identity {
        let rules = match &shared.rules {
            Some(rules) => Arc::clone(rules),
            None => Arc::new(SessionRules::resolve(acl, &shared.name, client_id)),
        };
        let mut id = Identity::new(Arc::clone(&shared.name));
        id.superuser = superuser;
        id.attachment = Some(rules);
        id
    }
}

impl StaticAuth {
    fn recently_verified(&self, username: &str, presented: &[u8; 32]) -> bool {
        use subtle::ConstantTimeEq as _;
        let recent = self.recent.lock();
        recent
            .get(username)
            .is_some_and(|(d, at)| at.elapsed() < RECENT_TTL && bool::from(d.ct_eq(presented)))
    }

    fn remember(&self, username: &str, presented: [u8; 32]) {
        let mut recent = self.recent.lock();
        if recent.len() >= RECENT_MAX {
            recent.retain(|_, (_, at)| at.elapsed() < RECENT_TTL);
            if recent.len() >= RECENT_MAX {
                recent.clear();
            }
        }
        recent.insert(username.to_owned(), (presented, std::time::Instant::now()));
    }
}

/// Hashes a password with argon2id and the library's default parameters,
/// returning the PHC string to put in the configuration.
pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn check_patterns(owner: &str, acl: &[AclRule]) -> Result<(), StaticAuthError> {
    for rule in acl {
        let probe = rule.pattern.replace("%u", "u").replace("%c", "c");
        validate_topic_filter(&probe).map_err(|e| StaticAuthError::BadPattern {
            owner: owner.to_owned(),
            pattern: rule.pattern.clone(),
            reason: e.to_string(),
        })?;
    }
    Ok(())
}

/// Replaces `%u` and `%c`; `None` when a value could act as a wildcard or
/// a level separator, or the result is not a valid filter.
fn resolve(pattern: &str, username: &str, client_id: &str) -> Option<String> {
    let unsafe_value = |v: &str| v.is_empty() || v.contains(['/', '+', '#', '\0']);
    let mut out = pattern.to_owned();
    if out.contains("%u") {
        if unsafe_value(username) {
            return None;
        }
        out = out.replace("%u", username);
    }
    if out.contains("%c") {
        if unsafe_value(client_id) {
            return None;
        }
        out = out.replace("%c", client_id);
    }
    validate_topic_filter(&out).ok()?;
    Some(out)
}

fn rules(who: &Identity) -> Option<&SessionRules> {
    who.attachment.as_ref()?.downcast_ref::<SessionRules>()
}

fn bad_credentials() -> Refusal {
    Refusal::new(
        ReasonCode::BadUserNameOrPassword,
        "bad user name or password",
    )
}

impl Authorizer for StaticAuth {
    fn authenticate(&self, req: ConnectRequest) -> AuthFuture<'_> {
        Box::pin(async move {
            let client_id = req.client_id.to_string();
            let Some(username) = req.username.as_deref() else {
                if self.allow_anonymous {
                    return Ok(self.identity(
                        &self.anonymous,
                        &client_id,
                        false,
                        &self.anonymous_acl,
                    ));
                }
                return Err(Refusal::new(
                    ReasonCode::NotAuthorized,
                    "a user name is required",
                ));
            };
            if !self.throttle.allows(req.peer.ip()) {
                return Err(Refusal::new(
                    ReasonCode::ConnectionRateExceeded,
                    "too many failed logins from this address; wait a minute",
                ));
            }
            let user = self.users.get(username).cloned();
            let hash = user
                .as_ref()
                .map_or_else(|| self.dummy_hash.clone(), |u| u.hash.clone());
            let password = req.password.clone().unwrap_or_default();
            let presented = digest(&password);
            if let Some(u) = &user
                && self.recently_verified(&u.username, &presented)
            {
                log_accept(&u.username, req.peer);
                return Ok(self.identity(&u.shared, &client_id, u.superuser, &u.acl));
            }
            // argon2 takes milliseconds of CPU: keep it off the runtime's workers.
            let Ok(_permit) = self.verifications.acquire().await else {
                return Err(bad_credentials());
            };
            let verified = tokio::task::spawn_blocking(move || {
                let Ok(parsed) = PasswordHash::new(&hash) else {
                    return false;
                };
                Argon2::default()
                    .verify_password(&password, &parsed)
                    .is_ok()
            })
            .await
            .unwrap_or(false);
            match user {
                Some(u) if verified => {
                    self.remember(&u.username, presented);
                    log_accept(&u.username, req.peer);
                    Ok(self.identity(&u.shared, &client_id, u.superuser, &u.acl))
                }
                _ => {
                    self.throttle.failed(req.peer.ip());
                    Err(bad_credentials())
                }
            }
        })
    }

    fn authorize_subscribe(&self, who: &Identity, filter: &str) -> Result<(), ReasonCode> {
        if who.superuser {
            return Ok(());
        }
        match rules(who) {
            Some(r) if r.read.iter().any(|p| filter_contains(p, filter)) => Ok(()),
            _ => Err(ReasonCode::NotAuthorized),
        }
    }

    fn authorize_publish(
        &self,
        who: &Identity,
        topic: &str,
        _qos: QoS,
        _retain: bool,
    ) -> Result<(), ReasonCode> {
        if who.superuser {
            return Ok(());
        }
        match rules(who) {
            Some(r) if r.write.iter().any(|p| matches(p, topic)) => Ok(()),
            _ => Err(ReasonCode::NotAuthorized),
        }
    }

    fn authorize_delivery(
        &self,
        who: &Identity,
        topic: &str,
        _payload_len: usize,
        _kind: DeliveryKind,
    ) -> bool {
        who.superuser || rules(who).is_some_and(|r| r.read.iter().any(|p| matches(p, topic)))
    }
}

fn log_accept(username: &str, peer: SocketAddr) {
    tracing::debug!(username, %peer, "static user authenticated");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Transport;
    use agora_mqtt::{ByteString, Protocol};
    use bytes::Bytes;
    use std::net::{IpAddr, Ipv4Addr};

    fn rule(pattern: &str, access: Access) -> AclRule {
        AclRule {
            pattern: pattern.to_owned(),
            access,
        }
    }

    fn auth(allow_anonymous: bool) -> StaticAuth {
        let hash = hash_password("correct horse battery").expect("hash");
        StaticAuth::new(StaticAuthConfig {
            allow_anonymous,
            anonymous_acl: vec![rule("public/#", Access::Read)],
            users: vec![
                StaticUser {
                    username: "sensor1".into(),
                    password_hash: hash.clone(),
                    superuser: false,
                    acl: vec![
                        rule("sensors/%u/#", Access::Write),
                        rule("devices/%c/cmd", Access::Read),
                    ],
                },
                StaticUser {
                    username: "dashboard".into(),
                    password_hash: hash.clone(),
                    superuser: false,
                    acl: vec![rule("sensors/#", Access::Read)],
                },
                StaticUser {
                    username: "admin".into(),
                    password_hash: hash,
                    superuser: true,
                    acl: vec![],
                },
            ],
        })
        .expect("valid config")
    }

    fn req(user: Option<&str>, password: &str, client_id: &str) -> ConnectRequest {
        ConnectRequest {
            client_id: ByteString::from(client_id.to_owned()),
            username: user.map(|u| ByteString::from(u.to_owned())),
            password: Some(Bytes::from(password.to_owned())),
            peer: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40000),
            transport: Transport::Tcp,
            protocol: Protocol::V5,
        }
    }

    #[tokio::test]
    async fn right_password_is_accepted_and_wrong_one_refused_with_0x86() {
        let a = auth(false);
        let id = a
            .authenticate(req(Some("sensor1"), "correct horse battery", "c1"))
            .await
            .expect("accepted");
        assert_eq!(&*id.username, "sensor1");
        let refused = a
            .authenticate(req(Some("sensor1"), "wrong", "c1"))
            .await
            .expect_err("refused");
        assert_eq!(refused.reason, ReasonCode::BadUserNameOrPassword);
        let unknown = a
            .authenticate(req(Some("nobody"), "correct horse battery", "c1"))
            .await
            .expect_err("refused");
        assert_eq!(
            unknown, refused,
            "unknown user and wrong password look the same"
        );
    }

    #[tokio::test]
    async fn no_user_name_is_refused_unless_anonymous_is_allowed() {
        let refused = auth(false)
            .authenticate(req(None, "", "c1"))
            .await
            .expect_err("deny by default");
        assert_eq!(refused.reason, ReasonCode::NotAuthorized);
        let a = auth(true);
        let anon = a.authenticate(req(None, "", "c1")).await.expect("allowed");
        assert!(a.authorize_subscribe(&anon, "public/x").is_ok());
        assert!(a.authorize_subscribe(&anon, "sensors/#").is_err());
    }

    #[tokio::test]
    async fn placeholders_scope_each_session_to_its_own_topics() {
        let a = auth(false);
        let id = a
            .authenticate(req(Some("sensor1"), "correct horse battery", "pi"))
            .await
            .expect("accepted");
        assert!(
            a.authorize_publish(&id, "sensors/sensor1/temp", QoS::AtMostOnce, false)
                .is_ok()
        );
        assert!(
            a.authorize_publish(&id, "sensors/sensor2/temp", QoS::AtMostOnce, false)
                .is_err()
        );
        assert!(a.authorize_subscribe(&id, "devices/pi/cmd").is_ok());
        assert!(a.authorize_subscribe(&id, "devices/other/cmd").is_err());
        assert!(!a.authorize_delivery(&id, "sensors/sensor1/temp", 4, DeliveryKind::Live));
    }

    #[tokio::test]
    async fn a_wildcard_client_id_cannot_widen_a_pattern() {
        let a = auth(false);
        for cid in ["#", "+", "a/b"] {
            let id = a
                .authenticate(req(Some("sensor1"), "correct horse battery", cid))
                .await
                .expect("accepted");
            assert!(
                a.authorize_subscribe(&id, "devices/#").is_err(),
                "client id {cid:?}"
            );
            assert!(
                a.authorize_subscribe(&id, "devices/x/cmd").is_err(),
                "client id {cid:?}"
            );
        }
    }

    #[tokio::test]
    async fn subscribe_must_lie_inside_a_readable_tree() {
        let a = auth(false);
        let id = a
            .authenticate(req(Some("dashboard"), "correct horse battery", "d"))
            .await
            .expect("accepted");
        assert!(a.authorize_subscribe(&id, "sensors/+/temp").is_ok());
        assert!(a.authorize_subscribe(&id, "#").is_err());
        assert!(a.authorize_subscribe(&id, "$SYS/#").is_err());
        assert!(a.authorize_delivery(&id, "sensors/a/temp", 4, DeliveryKind::Retained));
        assert!(!a.authorize_delivery(&id, "$SYS/broker/uptime", 4, DeliveryKind::Live));
    }

    #[tokio::test]
    async fn superuser_reads_sys() {
        let a = auth(false);
        let id = a
            .authenticate(req(Some("admin"), "correct horse battery", "a"))
            .await
            .expect("accepted");
        assert!(a.authorize_subscribe(&id, "$SYS/#").is_ok());
        assert!(a.authorize_delivery(&id, "$SYS/broker/uptime", 4, DeliveryKind::Live));
    }

    #[tokio::test]
    async fn an_address_that_keeps_failing_is_throttled_and_others_are_not() {
        let a = auth(false);
        for _ in 0..10 {
            let r = a
                .authenticate(req(Some("sensor1"), "guess", "c"))
                .await
                .expect_err("wrong");
            assert_eq!(r.reason, ReasonCode::BadUserNameOrPassword);
        }
        let r = a
            .authenticate(req(Some("sensor1"), "correct horse battery", "c"))
            .await
            .expect_err("throttled, even with the right password");
        assert_eq!(r.reason, ReasonCode::ConnectionRateExceeded);
        let mut other = req(Some("sensor1"), "correct horse battery", "c");
        other.peer = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)), 40000);
        assert!(
            a.authenticate(other).await.is_ok(),
            "another address is unaffected"
        );
    }

    #[tokio::test]
    async fn a_reconnect_with_the_same_password_skips_argon2_but_a_wrong_one_does_not_pass() {
        let a = auth(false);
        a.authenticate(req(Some("sensor1"), "correct horse battery", "c"))
            .await
            .expect("first");
        assert!(a.recently_verified("sensor1", &digest(b"correct horse battery")));
        assert!(!a.recently_verified("sensor1", &digest(b"wrong")));
        assert!(!a.recently_verified("dashboard", &digest(b"correct horse battery")));
        a.authenticate(req(Some("sensor1"), "correct horse battery", "c"))
            .await
            .expect("again");
        let refused = a
            .authenticate(req(Some("sensor1"), "wrong", "c"))
            .await
            .expect_err("refused");
        assert_eq!(refused.reason, ReasonCode::BadUserNameOrPassword);
    }

    #[test]
    fn bad_hash_and_bad_pattern_name_the_user() {
        let err = StaticAuth::new(StaticAuthConfig {
            users: vec![StaticUser {
                username: "u1".into(),
                password_hash: "plaintext".into(),
                superuser: false,
                acl: vec![],
            }],
            ..StaticAuthConfig::default()
        })
        .err()
        .expect("refused");
        assert!(err.to_string().contains("u1"), "{err}");
        let err = StaticAuth::new(StaticAuthConfig {
            anonymous_acl: vec![rule("a/#/b", Access::Read)],
            ..StaticAuthConfig::default()
        })
        .err()
        .expect("refused");
        assert!(err.to_string().contains("a/#/b"), "{err}");
    }
}
