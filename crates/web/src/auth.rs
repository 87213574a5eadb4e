//! Who is calling: the `Authorization: Bearer agt_…` extractor, and the password login that
//! `POST /tokens` uses to mint a token.
//!
//! Tokens are checked by the store (hash lookup, expiry, suspension); this module only reads
//! the header and turns store errors into API errors. A handler that takes [`Caller`] cannot
//! run without a valid token; one that takes [`MaybeCaller`] runs for anyone, but a *bad*
//! token is still a 401 (a client that sends credentials wants to know they are wrong, not
//! to be silently served as anonymous).

use agora_market::{Account, Actor, ApiTokenId};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::ApiState;
use crate::error::ApiError;
use crate::routes::store_error;

/// An authenticated caller (a valid, unexpired API token of a non-suspended account).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The account the token belongs to.
    pub account: Account,
    /// The identity to hand to store methods.
    pub actor: Actor,
    /// The token this request came with (listed as `current`; revoked on log-out).
    pub token_id: ApiTokenId,
}

/// A caller who may or may not have sent a token.
#[derive(Debug, Clone)]
pub struct MaybeCaller(pub Option<Caller>);

impl MaybeCaller {
    /// The actor, if any.
    pub fn actor(&self) -> Option<&Actor> {
        self.0.as_ref().map(|c| &c.actor)
    }
}

/// The bearer token of a request: `None` without an `Authorization` header, an error for a
/// header that is not `Bearer <token>`.
fn bearer(parts: &Parts) -> Result<Option<&str>, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("the Authorization header is not valid text"))?;
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(ApiError::unauthorized(
            "expected Authorization: Bearer <API token>",
        ));
    }
    Ok(Some(token.trim()))
}

async fn authenticate(state: &ApiState, token: &str) -> Result<Caller, ApiError> {
    let (account, token_id) = state
        .store()
        .authenticate_api_token_with_id(token)
        .await
        .map_err(|e| match e {
            agora_store::StoreError::Unauthenticated => {
                ApiError::unauthorized("the API token is not valid (unknown, revoked or expired)")
            }
            other => store_error(other),
        })?;
    let actor = account.actor();
    Ok(Caller {
        account,
        actor,
        token_id,
    })
}

impl FromRequestParts<ApiState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => authenticate(state, token).await,
            None => Err(ApiError::unauthorized(
                "this route needs Authorization: Bearer <API token>; create one with POST /api/v1/tokens",
            )),
        }
    }
}

impl FromRequestParts<ApiState> for MaybeCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, ApiError> {
        match bearer(parts)? {
            Some(token) => Ok(MaybeCaller(Some(authenticate(state, token).await?))),
            None => Ok(MaybeCaller(None)),
        }
    }
}

/// The client's address as the rate limiter sees it.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl FromRequestParts<ApiState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &ApiState,
    ) -> Result<Self, std::convert::Infallible> {
        Ok(ClientIp(crate::rate_limit::client_ip(
            parts,
            state.settings().trust_proxy_headers,
        )))
    }
}

/// Checks a password login after the throttle; the same 401 for an unknown name and a
/// wrong password, so names cannot be probed.
pub(crate) async fn login(
    state: &ApiState,
    ip: ClientIp,
    name: &str,
    password: &str,
) -> Result<Account, ApiError> {
    state.login_limiter().check(name, ip.0)?;
    state
        .store()
        .verify_password(name, password)
        .await
        .map_err(|e| match e {
            agora_store::StoreError::Unauthenticated => {
                ApiError::unauthorized("wrong account name or password")
            }
            other => store_error(other),
        })
}
