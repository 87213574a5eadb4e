//! Validated names (SPEC §2) and the MQTT identities built from them.
//!
//! Every name rejects `/ + # $ %`, NUL, whitespace and non-ASCII, so that no name can act as
//! an MQTT wildcard, split a topic level, or escape its owner's namespace (I3 let a product
//! title `+/+/+` read every topic). `$` is reserved as the separator of device usernames and
//! `%` because I3's ACL patterns expanded `%u`/`%c`.
//!
//! Comparison of the parsed values is exact (MQTT is case-sensitive); uniqueness in the store
//! is case-insensitive, so `Temp` and `temp` cannot both exist.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// Why a character is refused, in words, for the characters people are likely to try.
fn describe_forbidden(c: char) -> String {
    match c {
        '/' => "'/' (it separates MQTT topic levels)".to_owned(),
        '+' => "'+' (an MQTT wildcard)".to_owned(),
        '#' => "'#' (an MQTT wildcard)".to_owned(),
        '$' => "'$' (it separates the parts of a device username)".to_owned(),
        '%' => "'%'".to_owned(),
        '\0' => "NUL".to_owned(),
        c if c.is_whitespace() => "whitespace".to_owned(),
        c if !c.is_ascii() => format!("non-ASCII character {c:?}"),
        c if c.is_ascii_control() => "control characters".to_owned(),
        c => format!("{c:?}"),
    }
}

/// Checks a hub, device or product name: 1–64 of `A-Z a-z 0-9 _ -`.
fn check_segment(field: &'static str, s: &str) -> Result<(), ValidationError> {
    if s.is_empty() {
        return Err(ValidationError::new(field, "must not be empty"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '_' || *c == '-'))
    {
        return Err(ValidationError::new(
            field,
            format!(
                "must not contain {}; allowed are A-Z a-z 0-9 _ -",
                describe_forbidden(c)
            ),
        ));
    }
    if s.len() > SEGMENT_MAX {
        return Err(ValidationError::new(
            field,
            format!("must be at most {SEGMENT_MAX} characters"),
        ));
    }
    Ok(())
}

/// Maximum length of hub, device and product names.
pub const SEGMENT_MAX: usize = 64;

/// An account name: 3–32 of `a-z 0-9 _`, starting with a letter, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AccountName(String);

impl AccountName {
    /// Shortest allowed account name.
    pub const MIN: usize = 3;
    /// Longest allowed account name.
    pub const MAX: usize = 32;

    /// Parses what a person typed: upper-case letters are folded to lower case (accounts are
    /// stored lower-case), everything else must already follow the rule.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        Self::check(&input.to_ascii_lowercase())
    }

    /// Parses a name that must already be in stored form (lower case), as in MQTT usernames
    /// and topics, where comparison is exact.
    pub fn parse_exact(input: &str) -> Result<Self, ValidationError> {
        Self::check(input)
    }

    fn check(s: &str) -> Result<Self, ValidationError> {
        const FIELD: &str = "account_name";
        if let Some(c) = s
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_'))
        {
            let what = if c.is_ascii_uppercase() {
                "upper-case letters (account names are lower case)".to_owned()
            } else {
                describe_forbidden(c)
            };
            return Err(ValidationError::new(
                FIELD,
                format!("must not contain {what}; allowed are a-z 0-9 _"),
            ));
        }
        if s.len() < Self::MIN || s.len() > Self::MAX {
            return Err(ValidationError::new(
                FIELD,
                format!("must be {}–{} characters long", Self::MIN, Self::MAX),
            ));
        }
        if !s.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(ValidationError::new(FIELD, "must start with a letter"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The reserved name of [`crate::Actor::operator`].
    pub(crate) fn operator() -> Self {
        Self(RESERVED[0].to_owned())
    }

    /// Names no one may sign up with: `agora` stands for the local operator
    /// ([`crate::Actor::operator`]) in the audit log.
    #[must_use]
    pub fn is_reserved(&self) -> bool {
        RESERVED.contains(&self.0.as_str())
    }
}

/// Account names kept for Agora itself.
const RESERVED: &[&str] = &["agora"];

macro_rules! segment_name {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            /// Validates the name: 1–64 of `A-Z a-z 0-9 _ -`; case is kept.
            pub fn parse(input: &str) -> Result<Self, ValidationError> {
                check_segment($field, input)?;
                Ok(Self(input.to_owned()))
            }

            /// The name.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    };
}

segment_name!(
    /// A hub name (`home` in `alice/home`), unique per owner case-insensitively.
    HubName,
    "hub_name"
);
segment_name!(
    /// A device name (`pi` in `alice$home$pi`), unique per hub case-insensitively.
    DeviceName,
    "device_name"
);
segment_name!(
    /// A product name (`temp` in `alice/home/temp`), unique per hub case-insensitively.
    ProductName,
    "product_name"
);

macro_rules! string_impls {
    ($($name:ident),*) => {$(
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.0
            }
        }
        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    )*};
}

string_impls!(AccountName, HubName, DeviceName, ProductName);

/// A device's MQTT username, `owner$hub$device`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DeviceUsername {
    /// The account owning the hub.
    pub owner: AccountName,
    /// The hub.
    pub hub: HubName,
    /// The device.
    pub device: DeviceName,
}

impl DeviceUsername {
    /// Builds the username from its parts.
    #[must_use]
    pub fn new(owner: AccountName, hub: HubName, device: DeviceName) -> Self {
        Self { owner, hub, device }
    }

    /// Parses `owner$hub$device` exactly (no case folding: MQTT usernames compare exactly).
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let mut parts = input.split('$');
        let (Some(o), Some(h), Some(d), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ValidationError::new(
                "device_username",
                "must have the form owner$hub$device",
            ));
        };
        Ok(Self {
            owner: AccountName::parse_exact(o)?,
            hub: HubName::parse(h)?,
            device: DeviceName::parse(d)?,
        })
    }
}

impl fmt::Display for DeviceUsername {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}${}${}", self.owner, self.hub, self.device)
    }
}

/// A product's topic, `owner/hub/name`. The product owns this topic and its whole tree;
/// `T/cmd/…` is its command channel (SPEC §2, §4).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProductTopic {
    /// The account owning the hub.
    pub owner: AccountName,
    /// The hub.
    pub hub: HubName,
    /// The product.
    pub name: ProductName,
}

impl ProductTopic {
    /// Builds the topic from its parts.
    #[must_use]
    pub fn new(owner: AccountName, hub: HubName, name: ProductName) -> Self {
        Self { owner, hub, name }
    }

    /// Parses `owner/hub/name` exactly (MQTT topics compare exactly).
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let mut parts = input.split('/');
        let (Some(o), Some(h), Some(n), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(ValidationError::new(
                "topic",
                "must have the form owner/hub/name",
            ));
        };
        Ok(Self {
            owner: AccountName::parse_exact(o)?,
            hub: HubName::parse(h)?,
            name: ProductName::parse(n)?,
        })
    }

    /// The filter covering the product's whole tree, `owner/hub/name/#` (it also matches the
    /// topic itself).
    #[must_use]
    pub fn tree_filter(&self) -> String {
        format!("{self}/#")
    }

    /// The command channel's root, `owner/hub/name/cmd`.
    #[must_use]
    pub fn command_topic(&self) -> String {
        format!("{self}/cmd")
    }
}

impl fmt::Display for ProductTopic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.owner, self.hub, self.name)
    }
}

macro_rules! composite_impls {
    ($($name:ident),*) => {$(
        impl TryFrom<String> for $name {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(n: $name) -> String {
                n.to_string()
            }
        }
        impl FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }
    )*};
}

composite_impls!(DeviceUsername, ProductTopic);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn account_names_follow_the_rule() {
        for ok in [
            "alice",
            "bob",
            "a_1",
            "abc",
            "a2345678901234567890123456789012",
        ] {
            assert!(AccountName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ab",
            "1abc",
            "_abc",
            "al ice",
            "al/ice",
            "al+ice",
            "al#ice",
            "al$ice",
            "al%ice",
            "al\0ice",
            "alïce",
            "al-ice",
            "",
            "a23456789012345678901234567890123",
        ] {
            let err = AccountName::parse(bad).expect_err(bad);
            assert_eq!(err.field, "account_name");
        }
    }

    #[test]
    fn the_operator_name_is_reserved_but_parses() {
        let n = AccountName::parse("agora").expect("parses: it appears in audit entries");
        assert!(n.is_reserved());
        assert!(!AccountName::parse("alice").expect("valid").is_reserved());
        assert_eq!(crate::Actor::operator().name, n);
        assert!(crate::Actor::operator().is_operator() && crate::Actor::operator().is_admin());
    }

    #[test]
    fn account_names_are_stored_lower_case() {
        assert_eq!(
            AccountName::parse("Alice").map(|n| n.to_string()),
            Ok("alice".to_owned())
        );
        assert!(AccountName::parse_exact("Alice").is_err());
    }

    #[test]
    fn forbidden_characters_are_named_in_the_error() {
        let err = HubName::parse("a/b").expect_err("slash");
        assert_eq!(err.field, "hub_name");
        assert!(err.message.contains("'/'"), "{err}");
        assert!(
            HubName::parse("a+b")
                .expect_err("plus")
                .message
                .contains("wildcard")
        );
        assert!(
            DeviceName::parse("a b")
                .expect_err("space")
                .message
                .contains("whitespace")
        );
        assert!(
            ProductName::parse("tëmp")
                .expect_err("non-ascii")
                .message
                .contains("non-ASCII")
        );
        assert!(
            ProductName::parse("a\0")
                .expect_err("nul")
                .message
                .contains("NUL")
        );
        assert!(
            AccountName::parse("a$bc")
                .expect_err("dollar")
                .message
                .contains("'$'")
        );
    }

    #[test]
    fn segment_names_follow_the_rule() {
        for ok in ["a", "Home", "temp-1", "x_y", &"a".repeat(64)] {
            assert!(HubName::parse(ok).is_ok(), "{ok}");
            assert!(DeviceName::parse(ok).is_ok(), "{ok}");
            assert!(ProductName::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "a/b",
            "a+",
            "#",
            "a$b",
            "50%",
            "a b",
            "a\tb",
            "é",
            "a\0",
            &"a".repeat(65),
            "a.b",
        ] {
            assert!(HubName::parse(bad).is_err(), "{bad:?}");
            assert!(DeviceName::parse(bad).is_err(), "{bad:?}");
            assert!(ProductName::parse(bad).is_err(), "{bad:?}");
        }
        assert!(
            ProductName::parse(&"a".repeat(65))
                .expect_err("long")
                .message
                .contains("at most 64")
        );
    }

    #[test]
    fn device_usernames_round_trip() {
        let u = DeviceUsername::parse("alice$home$pi").expect("valid");
        assert_eq!(u.owner.as_str(), "alice");
        assert_eq!(u.to_string(), "alice$home$pi");
        for bad in [
            "alice$home",
            "alice$home$pi$x",
            "Alice$home$pi",
            "alice$ho/me$pi",
            "alice$$pi",
        ] {
            assert!(DeviceUsername::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn product_topics_round_trip() {
        let t = ProductTopic::parse("alice/home/temp").expect("valid");
        assert_eq!(t.to_string(), "alice/home/temp");
        assert_eq!(t.tree_filter(), "alice/home/temp/#");
        assert_eq!(t.command_topic(), "alice/home/temp/cmd");
        for bad in [
            "alice/home",
            "alice/home/temp/x",
            "alice/+/temp",
            "alice/home/#",
            "/home/temp",
        ] {
            assert!(ProductTopic::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<HubName>("\"home\"").is_ok());
        assert!(serde_json::from_str::<HubName>("\"ho/me\"").is_err());
    }

    proptest! {
        #[test]
        fn any_accepted_segment_is_mqtt_safe(s in "\\PC{0,80}") {
            if let Ok(n) = ProductName::parse(&s) {
                prop_assert!(!n.as_str().contains(['/', '+', '#', '$', '%', '\0']));
                prop_assert!(n.as_str().is_ascii());
                prop_assert!(!n.as_str().chars().any(char::is_whitespace));
                prop_assert!(!n.as_str().is_empty() && n.as_str().len() <= 64);
            }
        }

        #[test]
        fn valid_segments_are_accepted(s in "[A-Za-z0-9_-]{1,64}") {
            prop_assert!(HubName::parse(&s).is_ok());
        }

        #[test]
        fn a_forbidden_character_anywhere_is_refused(
            a in "[a-z]{1,20}", b in "[a-z]{0,20}",
            c in prop::sample::select(vec!['/', '+', '#', '$', '%', '\0', ' ', '\n', 'é', '中'])
        ) {
            let s = format!("{a}{c}{b}");
            prop_assert!(HubName::parse(&s).is_err());
            prop_assert!(DeviceName::parse(&s).is_err());
            prop_assert!(ProductName::parse(&s).is_err());
            prop_assert!(AccountName::parse(&s).is_err());
        }

        #[test]
        fn any_accepted_account_name_is_lower_case_and_bounded(s in "\\PC{0,40}") {
            if let Ok(n) = AccountName::parse(&s) {
                let n = n.as_str();
                prop_assert!((3..=32).contains(&n.len()));
                prop_assert!(n.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'));
                prop_assert!(n.as_bytes()[0].is_ascii_lowercase());
            }
        }

        #[test]
        fn topics_round_trip_through_display(o in "[a-z][a-z0-9_]{2,20}", h in "[A-Za-z0-9_-]{1,20}", n in "[A-Za-z0-9_-]{1,20}") {
            let s = format!("{o}/{h}/{n}");
            let t = ProductTopic::parse(&s).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(t.to_string(), s);
            let u = format!("{o}${h}${n}");
            let d = DeviceUsername::parse(&u).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(d.to_string(), u);
        }
    }
}
