//! Accounts (people), their role, and the [`Actor`] every store method acts for.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, AccountName};

/// What an account may do beyond its own things.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Sells and buys.
    User,
    /// Also reads every topic, sees every purchase, suspends accounts (SPEC §3).
    Admin,
}

impl Role {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "user" => Some(Self::User),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// An account as stored (without its password hash).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Its name, lower case; also its MQTT username as a buyer.
    pub name: AccountName,
    /// Its role.
    pub role: Role,
    /// A suspended account cannot log in, connect, buy or sell; its sales stop being served.
    pub suspended: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Account {
    /// The identity to pass to store methods on this account's behalf.
    #[must_use]
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            name: self.name.clone(),
            role: self.role,
        }
    }
}

/// Who is asking. Store methods take one and decide from it what the caller may see and do,
/// so that a handler cannot forget the check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Actor {
    /// The account.
    pub id: AccountId,
    /// Its name.
    pub name: AccountName,
    /// Its role.
    pub role: Role,
}

impl Actor {
    /// The local operator: whoever runs `agora admin` on the server's data folder. An
    /// administrator that is not an account (nil id, reserved name `agora`): it may do what
    /// admins do to others (suspend, reset passwords, revoke purchases, read everything),
    /// but owns nothing, so it cannot create hubs, products or keys.
    #[must_use]
    pub fn operator() -> Self {
        Self {
            id: AccountId(uuid::Uuid::nil()),
            name: AccountName::operator(),
            role: Role::Admin,
        }
    }

    /// Whether this is [`Actor::operator`].
    #[must_use]
    pub fn is_operator(&self) -> bool {
        self.id.0.is_nil()
    }

    /// Whether the actor is an administrator.
    #[must_use]
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Whether the actor owns (or, as admin, may act for the owner of) things owned by `owner`.
    #[must_use]
    pub fn may_manage(&self, owner: AccountId) -> bool {
        self.id == owner || self.is_admin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(role: Role) -> Actor {
        Actor {
            id: AccountId::new(),
            name: AccountName::parse("alice").expect("name"),
            role,
        }
    }

    #[test]
    fn roles_round_trip_and_unknown_roles_are_refused() {
        for r in [Role::User, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn users_manage_only_their_own_things_and_admins_everything() {
        let a = actor(Role::User);
        assert!(a.may_manage(a.id));
        assert!(!a.may_manage(AccountId::new()));
        assert!(actor(Role::Admin).may_manage(AccountId::new()));
        assert!(!a.is_operator());
    }
}
