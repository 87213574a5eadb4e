//! Accounts, password checks, suspension, and personal API tokens.

use agora_market::secret::{self, Secret, SecretHash, SecretKind};
use agora_market::{
    Account, AccountId, AccountName, Actor, ApiToken, ApiTokenId, ApiTokenKind, Label, MarketEvent,
    NotificationKind, Password, PasswordHash, Role,
};
use serde_json::json;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::{Duration, OffsetDateTime};

use crate::error::conflict_on;
use crate::page::{Page, PageRequest};
use crate::rows::{self, opt_ts, ts};
use crate::{Result, Store, StoreError, audit, notifications, require_admin};

/// The label of browser sessions.
const WEB_SESSION_NAME: &str = "web session";

/// How often `last_used_at` of a token is rewritten: at most once a minute, so that API
/// traffic does not turn every read into a write.
const LAST_USED_GRANULARITY: Duration = Duration::minutes(1);

pub(crate) fn account_from_row(r: &SqliteRow) -> Result<Account> {
    let role: String = r.try_get("role")?;
    Ok(Account {
        id: rows::parse(r, "id")?,
        name: rows::parse(r, "name")?,
        role: Role::parse(&role).ok_or_else(|| rows::corrupt_value("role", role.clone()))?,
        suspended: r.try_get("suspended")?,
        created_at: rows::time(r, "created_at")?,
    })
}

fn token_from_row(r: &SqliteRow) -> Result<ApiToken> {
    let name: String = r.try_get("name")?;
    let kind: String = r.try_get("kind")?;
    Ok(ApiToken {
        kind: ApiTokenKind::parse(&kind)
            .ok_or_else(|| rows::corrupt_value("kind", kind.clone()))?,
        id: rows::parse(r, "id")?,
        account_id: rows::parse(r, "account_id")?,
        name: Label::parse("name", &name).map_err(|e| rows::corrupt_value("name", e))?,
        expires_at: rows::opt_time(r, "expires_at")?,
        created_at: rows::time(r, "created_at")?,
        last_used_at: rows::opt_time(r, "last_used_at")?,
    })
}

impl Store {
    /// Creates an account. The name is unique case-insensitively (`Conflict { field: "name" }`).
    pub async fn create_account(
        &self,
        name: &AccountName,
        password: &Password,
        role: Role,
    ) -> Result<Account> {
        if name.is_reserved() {
            return Err(agora_market::ValidationError::new(
                "account_name",
                "is reserved for Agora itself",
            )
            .into());
        }
        let password = password.clone();
        let hash = self
            .hash_blocking(move || password.hash())
            .await?
            .map_err(|e| StoreError::Hash(e.to_string()))?;
        let account = Account {
            id: AccountId::new(),
            name: name.clone(),
            role,
            suspended: false,
            created_at: crate::now(),
        };
        let mut w = self.write().await?;
        sqlx::query("INSERT INTO accounts (id, name, password_hash, role, suspended, created_at) VALUES (?, ?, ?, ?, 0, ?)")
            .bind(account.id.to_string())
            .bind(account.name.as_str())
            .bind(hash.as_str())
            .bind(role.as_str())
            .bind(ts(account.created_at))
            .execute(w.conn())
            .await
            .map_err(conflict_on("name", "this account name is taken"))?;
        audit::record(
            w.conn(),
            Some(&account.actor()),
            "account.create",
            account.name.as_str(),
            json!({"role": role.as_str()}),
        )
        .await?;
        w.commit().await?;
        Ok(account)
    }

    /// The account with this name, if any.
    pub async fn account_by_name(&self, name: &AccountName) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE lower(name) = lower(?)")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// The account with this id, if any.
    pub async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>> {
        let row = sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Checks a login. Unknown name and wrong password both give `Unauthenticated` after the
    /// same argon2 work; a right password on a suspended account gives `Suspended`.
    pub async fn verify_password(&self, name: &str, password: &str) -> Result<Account> {
        let found = match AccountName::parse(name) {
            Ok(n) => sqlx::query("SELECT * FROM accounts WHERE name = ?")
                .bind(n.as_str().to_owned())
                .fetch_optional(&self.pool)
                .await?
                .map(|r| {
                    Ok::<_, StoreError>((
                        account_from_row(&r)?,
                        r.try_get::<String, _>("password_hash")?,
                    ))
                })
                .transpose()?,
            Err(_) => None,
        };
        // A candidate longer than any password we accept cannot match; cut it so that a
        // huge body cannot make argon2 hash megabytes, but still spend the usual time.
        let too_long = password.len() > agora_market::password::MAX_BYTES;
        let candidate = if too_long {
            String::new()
        } else {
            password.to_owned()
        };
        let found = found.filter(|_| !too_long);
        match found {
            None => {
                self.hash_blocking(move || PasswordHash::verify_dummy(&candidate))
                    .await?;
                Err(StoreError::Unauthenticated)
            }
            Some((account, phc)) => {
                let ok = self
                    .hash_blocking(move || PasswordHash::from_phc(phc).verify(&candidate))
                    .await?;
                if !ok {
                    Err(StoreError::Unauthenticated)
                } else if account.suspended {
                    Err(StoreError::Suspended)
                } else {
                    Ok(account)
                }
            }
        }
    }

    /// Changes the actor's password after checking the current one.
    pub async fn change_password(
        &self,
        actor: &Actor,
        current: &str,
        new: &Password,
    ) -> Result<()> {
        self.verify_password(actor.name.as_str(), current).await?;
        let new = new.clone();
        let hash = self
            .hash_blocking(move || new.hash())
            .await?
            .map_err(|e| StoreError::Hash(e.to_string()))?;
        let mut w = self.write().await?;
        sqlx::query("UPDATE accounts SET password_hash = ? WHERE id = ?")
            .bind(hash.as_str())
            .bind(actor.id.to_string())
            .execute(w.conn())
            .await?;
        audit::record(
            w.conn(),
            Some(actor),
            "account.password",
            actor.name.as_str(),
            json!({}),
        )
        .await?;
        w.commit().await
    }

    /// Sets a new password without the old one (admin CLI, `agora admin`).
    pub async fn reset_password(
        &self,
        actor: &Actor,
        name: &AccountName,
        new: &Password,
    ) -> Result<()> {
        require_admin(actor)?;
        let new = new.clone();
        let hash = self
            .hash_blocking(move || new.hash())
            .await?
            .map_err(|e| StoreError::Hash(e.to_string()))?;
        let mut w = self.write().await?;
        let n = sqlx::query("UPDATE accounts SET password_hash = ? WHERE name = ?")
            .bind(hash.as_str())
            .bind(name.as_str())
            .execute(w.conn())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { what: "account" });
        }
        audit::record(
            w.conn(),
            Some(actor),
            "account.reset_password",
            name.as_str(),
            json!({}),
        )
        .await?;
        w.commit().await
    }

    /// Suspends or restores an account (admins only). A suspended account cannot log in,
    /// connect, buy or sell; the broker drops its sessions on the event.
    pub async fn set_suspended(
        &self,
        actor: &Actor,
        name: &AccountName,
        suspended: bool,
        reason: Option<&str>,
    ) -> Result<Account> {
        require_admin(actor)?;
        let reason = agora_market::purchase::check_reason(reason)?;
        let mut w = self.write_as(actor).await?;
        let row = sqlx::query("UPDATE accounts SET suspended = ? WHERE name = ? RETURNING *")
            .bind(suspended)
            .bind(name.as_str())
            .fetch_optional(w.conn())
            .await?
            .ok_or(StoreError::NotFound { what: "account" })?;
        let account = account_from_row(&row)?;
        let action = if suspended {
            "account.suspend"
        } else {
            "account.restore"
        };
        audit::record(
            w.conn(),
            Some(actor),
            action,
            name.as_str(),
            json!({ "reason": reason }),
        )
        .await?;
        let message = if suspended {
            "Your account was suspended."
        } else {
            "Your account was restored."
        };
        notifications::notify(
            w.conn(),
            account.id,
            NotificationKind::AccountSuspended,
            message,
            None,
            None,
        )
        .await?;
        w.emit(if suspended {
            MarketEvent::AccountSuspended {
                account_id: account.id,
                account: account.name.clone(),
            }
        } else {
            MarketEvent::AccountRestored {
                account_id: account.id,
                account: account.name.clone(),
            }
        });
        w.commit().await?;
        Ok(account)
    }

    /// Every account, by name (admins only).
    pub async fn list_accounts(&self, actor: &Actor, page: &PageRequest) -> Result<Page<Account>> {
        require_admin(actor)?;
        let limit = page.limit();
        let after = page.after_id()?;
        let rows = sqlx::query(
            "SELECT * FROM accounts WHERE (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?",
        )
        .bind(after.clone())
        .bind(after)
        .bind(i64::from(limit) + 1)
        .fetch_all(&self.pool)
        .await?;
        let items = rows
            .iter()
            .map(account_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |a| a.id.to_string()))
    }

    /// Creates a personal API token; the secret (`agt_…`) is returned once and never stored.
    pub async fn create_api_token(
        &self,
        actor: &Actor,
        name: &Label,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<(ApiToken, Secret)> {
        self.create_token(actor, name, expires_at, ApiTokenKind::Personal)
            .await
    }

    /// Creates a browser session for the web UI's cookie: an API token of kind
    /// `web_session` (hashed, revocable with [`Store::revoke_api_token`], authenticated with
    /// [`Store::authenticate_api_token`]), left out of [`Store::list_api_tokens`] and listed
    /// by [`Store::list_web_sessions`].
    pub async fn create_web_session(
        &self,
        actor: &Actor,
        expires_at: OffsetDateTime,
    ) -> Result<(ApiToken, Secret)> {
        let name = Label::parse("name", WEB_SESSION_NAME)?;
        self.create_token(actor, &name, Some(expires_at), ApiTokenKind::WebSession)
            .await
    }

    async fn create_token(
        &self,
        actor: &Actor,
        name: &Label,
        expires_at: Option<OffsetDateTime>,
        kind: ApiTokenKind,
    ) -> Result<(ApiToken, Secret)> {
        let now = crate::now();
        agora_market::access_key::check_expiry(expires_at, now)?;
        let (secret, hash) = Secret::generate(SecretKind::ApiToken);
        let token = ApiToken {
            id: ApiTokenId::new(),
            account_id: actor.id,
            name: name.clone(),
            kind,
            expires_at,
            created_at: now,
            last_used_at: None,
        };
        let mut w = self.write_as(actor).await?;
        sqlx::query("INSERT INTO api_tokens (id, account_id, name, kind, token_hash, expires_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(token.id.to_string())
            .bind(actor.id.to_string())
            .bind(name.as_str())
            .bind(kind.as_str())
            .bind(hash.to_hex())
            .bind(opt_ts(expires_at))
            .bind(ts(now))
            .execute(w.conn())
            .await?;
        audit::record(
            w.conn(),
            Some(actor),
            "token.create",
            &token.id.to_string(),
            json!({"name": name.as_str(), "kind": kind.as_str()}),
        )
        .await?;
        w.commit().await?;
        Ok((token, secret))
    }

    /// The account behind a bearer token. Unknown, expired or malformed tokens give
    /// `Unauthenticated`; a suspended account gives `Suspended`.
    pub async fn authenticate_api_token(&self, token: &str) -> Result<Account> {
        self.authenticate_api_token_with_id(token)
            .await
            .map(|(a, _)| a)
    }

    /// [`Store::authenticate_api_token`], also saying which token it was (to mark it
    /// "current" in lists, or to revoke it on log-out).
    pub async fn authenticate_api_token_with_id(
        &self,
        token: &str,
    ) -> Result<(Account, ApiTokenId)> {
        if !secret::looks_like(SecretKind::ApiToken, token) {
            return Err(StoreError::Unauthenticated);
        }
        // The lookup is by hash of a 256-bit secret: the index reveals nothing useful through
        // timing, so no separate constant-time compare is needed here.
        let hash = SecretHash::of(token);
        let row = sqlx::query(
            "SELECT a.*, t.id AS token_id, t.expires_at AS token_expires, t.last_used_at AS token_used
             FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = ?",
        )
        .bind(hash.to_hex())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::Unauthenticated)?;
        let now = crate::now();
        if rows::opt_time(&row, "token_expires")?.is_some_and(|e| e <= now) {
            return Err(StoreError::Unauthenticated);
        }
        let account = account_from_row(&row)?;
        if account.suspended {
            return Err(StoreError::Suspended);
        }
        let token_id: ApiTokenId = rows::parse(&row, "token_id")?;
        let used = rows::opt_time(&row, "token_used")?;
        if used.is_none_or(|u| now - u >= LAST_USED_GRANULARITY) {
            let id: String = row.try_get("token_id")?;
            // Outside the write lock on purpose: a best-effort timestamp must not queue
            // behind market writes; a lost update here is harmless.
            sqlx::query("UPDATE api_tokens SET last_used_at = ? WHERE id = ?")
                .bind(ts(now))
                .bind(id)
                .execute(&self.pool)
                .await?;
        }
        Ok((account, token_id))
    }

    /// The actor's API tokens, newest first.
    pub async fn list_api_tokens(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<ApiToken>> {
        self.list_tokens(actor, ApiTokenKind::Personal, page).await
    }

    /// The actor's browser sessions, newest first.
    pub async fn list_web_sessions(
        &self,
        actor: &Actor,
        page: &PageRequest,
    ) -> Result<Page<ApiToken>> {
        self.list_tokens(actor, ApiTokenKind::WebSession, page)
            .await
    }

    async fn list_tokens(
        &self,
        actor: &Actor,
        kind: ApiTokenKind,
        page: &PageRequest,
    ) -> Result<Page<ApiToken>> {
        let limit = page.limit();
        let after = page.after_id()?;
        let rows = sqlx::query("SELECT * FROM api_tokens WHERE account_id = ? AND kind = ? AND (? IS NULL OR id < ?) ORDER BY id DESC LIMIT ?")
            .bind(actor.id.to_string())
            .bind(kind.as_str())
            .bind(after.clone())
            .bind(after)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        let items = rows
            .iter()
            .map(token_from_row)
            .collect::<Result<Vec<_>>>()?;
        Ok(Page::keyset(items, limit, |t| t.id.to_string()))
    }

    /// Revokes (deletes) one of the actor's tokens; another account's token is `NotFound`.
    pub async fn revoke_api_token(&self, actor: &Actor, id: ApiTokenId) -> Result<()> {
        let mut w = self.write().await?;
        let n = sqlx::query("DELETE FROM api_tokens WHERE id = ? AND account_id = ?")
            .bind(id.to_string())
            .bind(actor.id.to_string())
            .execute(w.conn())
            .await?
            .rows_affected();
        if n == 0 {
            return Err(StoreError::NotFound { what: "token" });
        }
        audit::record(
            w.conn(),
            Some(actor),
            "token.revoke",
            &id.to_string(),
            json!({}),
        )
        .await?;
        w.commit().await
    }
}

/// An account from columns `a_id`, `a_name`, `a_role`, `a_suspended`, `a_created` (joins).
pub(crate) fn account_from_row_prefixed(r: &SqliteRow) -> Result<Account> {
    let role: String = r.try_get("a_role")?;
    Ok(Account {
        id: rows::parse(r, "a_id")?,
        name: rows::parse(r, "a_name")?,
        role: Role::parse(&role).ok_or_else(|| rows::corrupt_value("a_role", role.clone()))?,
        suspended: r.try_get("a_suspended")?,
        created_at: rows::time(r, "a_created")?,
    })
}
