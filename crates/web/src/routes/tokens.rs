//! `POST /tokens` · `GET /tokens` · `DELETE /tokens/{id}` · `DELETE /tokens/current`:
//! personal API tokens.
//!
//! `POST /tokens` is also the login: with `account` + `password` it mints a token for that
//! account (throttled per account and per address); with a bearer token instead it mints
//! another one for the caller. The token is in the answer once and never again.

use agora_market::{ApiToken, ApiTokenId, Label};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::{self, Caller, ClientIp, MaybeCaller};
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, invalid, page, page_request};

/// The token routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(create_token, list_tokens))
        .routes(routes!(revoke_token))
        .routes(routes!(log_out))
}

/// A request for a new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    /// A label for the token ("laptop", "CI"), 1–64 characters; default `api`.
    #[serde(default = "default_token_name")]
    pub name: String,
    /// The account to log in as (with `password`); omit when sending a bearer token.
    #[serde(default)]
    pub account: Option<String>,
    /// The account's password (with `account`).
    #[serde(default)]
    pub password: Option<String>,
    /// When the token stops working (RFC 3339); never when omitted.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

fn default_token_name() -> String {
    "api".to_owned()
}

/// A token as listed: never with its secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c50-1f2a-7d41-8b7e-9a0c1d2e3f40", "name": "laptop", "expires_at": null, "created_at": "2026-12-03T06:31:00Z", "last_used_at": "2026-12-03T06:40:00Z", "current": true}))]
pub struct TokenView {
    /// Its id (for `DELETE /tokens/{id}`).
    pub id: Uuid,
    /// Its label.
    pub name: String,
    /// When it stops working, if ever.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it last authenticated a request (to the minute or so).
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    /// Whether it is the token of the request that lists it.
    pub current: bool,
}

impl TokenView {
    fn new(t: ApiToken, current: Option<ApiTokenId>) -> Self {
        Self {
            current: current == Some(t.id),
            id: t.id.0,
            name: t.name.to_string(),
            expires_at: t.expires_at,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
        }
    }
}

/// A new token, with its secret: shown in this answer only.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    /// The token as it will be listed.
    #[serde(flatten)]
    pub info: TokenView,
    /// Send as `Authorization: Bearer <token>`. Not shown again: store it now.
    pub token: String,
}

/// Create an API token (log in).
///
/// With `account` and `password`, logs in (wrong credentials: 401; too many attempts for
/// the account or from the address: 429 with `Retry-After`). Without them, needs a bearer
/// token and creates another token for the caller.
#[utoipa::path(
    post, path = "/tokens", tag = "tokens",
    request_body(content = NewToken, example = json!({"name": "laptop", "account": "alice", "password": "correct horse battery"})),
    responses(
        (status = 201, description = "Created; `token` is shown only here", body = CreatedToken,
            example = json!({"id": "01935c50-1f2a-7d41-8b7e-9a0c1d2e3f40", "name": "laptop", "expires_at": null, "created_at": "2026-12-03T06:31:00Z", "last_used_at": null, "current": false, "token": "agt_3q2-7wGm0Zb1kq9Yx4vXc8Jr5TtH6uNfL2pEaSdWoI0"})),
        (status = 401, description = "Wrong account or password, or bad token", body = ErrorBody,
            example = json!({"error": {"code": "unauthorized", "message": "wrong account name or password", "field": null}})),
        (status = 429, description = "Too many login attempts", body = ErrorBody,
            example = json!({"error": {"code": "rate_limited", "message": "too many attempts; try again later", "field": null}})),
    )
)]
async fn create_token(
    State(state): State<ApiState>,
    ip: ClientIp,
    caller: MaybeCaller,
    Json(body): Json<NewToken>,
) -> ApiResult<(StatusCode, axum::Json<CreatedToken>)> {
    let label = Label::parse("name", &body.name).map_err(invalid)?;
    let account = match (&body.account, &body.password, caller.0) {
        (Some(account), Some(password), _) => auth::login(&state, ip, account, password).await?,
        (None, None, Some(caller)) => caller.account,
        (None, None, None) => {
            return Err(ApiError::unauthorized(
                "send account and password, or an Authorization: Bearer token",
            ));
        }
        (None, Some(_), _) => {
            return Err(ApiError::validation("account", "required with password"));
        }
        (Some(_), None, _) => {
            return Err(ApiError::validation("password", "required with account"));
        }
    };
    let (token, secret) = state
        .store()
        .create_api_token(&account.actor(), &label, body.expires_at)
        .await
        .map_err(|e| match e {
            agora_store::StoreError::Invalid(v) if v.field == "expires_at" => invalid(v),
            other => crate::routes::store_error(other),
        })?;
    Ok((
        StatusCode::CREATED,
        axum::Json(CreatedToken {
            info: TokenView::new(token, None),
            token: secret.into_string(),
        }),
    ))
}

/// List the caller's API tokens (newest first), without their secrets.
#[utoipa::path(
    get, path = "/tokens", tag = "tokens",
    security(("bearer" = [])),
    params(PageParams),
    responses(
        (status = 200, description = "One page of tokens", body = Page<TokenView>,
            example = json!({"items": [{"id": "01935c50-1f2a-7d41-8b7e-9a0c1d2e3f40", "name": "laptop", "expires_at": null, "created_at": "2026-12-03T06:31:00Z", "last_used_at": "2026-12-03T06:40:00Z", "current": true}], "next_cursor": null})),
        (status = 401, description = "No or bad token", body = ErrorBody),
    )
)]
async fn list_tokens(
    State(state): State<ApiState>,
    caller: Caller,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<TokenView>>> {
    let tokens = state
        .store()
        .list_api_tokens(&caller.actor, &page_request(params)?)
        .await
        .api()?;
    Ok(axum::Json(page(tokens, |t| {
        TokenView::new(t, Some(caller.token_id))
    })))
}

/// Revoke one of the caller's tokens; it stops working at once.
#[utoipa::path(
    delete, path = "/tokens/{id}", tag = "tokens",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The token's id")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 404, description = "No such token of the caller", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such token", "field": null}})),
    )
)]
async fn revoke_token(
    State(state): State<ApiState>,
    caller: Caller,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    state
        .store()
        .revoke_api_token(&caller.actor, ApiTokenId(id))
        .await
        .api()?;
    Ok(StatusCode::NO_CONTENT)
}

/// Log out: revoke the token this request is made with.
#[utoipa::path(
    delete, path = "/tokens/current", tag = "tokens",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Revoked; the token no longer works"),
        (status = 401, description = "No or bad token", body = ErrorBody),
    )
)]
async fn log_out(State(state): State<ApiState>, caller: Caller) -> ApiResult<StatusCode> {
    state
        .store()
        .revoke_api_token(&caller.actor, caller.token_id)
        .await
        .api()?;
    Ok(StatusCode::NO_CONTENT)
}
