//! `POST /accounts`: sign-up (open unless `market.open_signup = false`).

use agora_market::{Account, AccountName, Password, Role};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::ClientIp;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::routes::{StoreResultExt, invalid};

/// `POST /accounts`.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new().routes(routes!(create_account))
}

/// A sign-up request.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "alice", "password": "correct horse battery"}))]
pub struct NewAccount {
    /// 3–32 of `a-z 0-9 _`, starting with a letter (upper case is folded to lower case).
    pub name: String,
    /// At least 10 characters, not a common password, not containing the name.
    pub password: String,
}

/// An account as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c4e-8a4e-7cc0-9a57-3b1f0b9e2c11", "name": "alice", "role": "user", "suspended": false, "created_at": "2026-12-03T06:30:00Z"}))]
pub struct AccountView {
    /// Its id.
    pub id: Uuid,
    /// Its name; also its MQTT username as a buyer.
    pub name: String,
    /// `user` or `admin`.
    pub role: String,
    /// A suspended account can neither log in nor buy nor sell.
    pub suspended: bool,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        Self {
            id: a.id.0,
            name: a.name.to_string(),
            role: a.role.as_str().to_owned(),
            suspended: a.suspended,
            created_at: a.created_at,
        }
    }
}

/// Create an account.
///
/// Anyone may sign up unless the server sets `market.open_signup = false` (then 403). Then
/// log in with `POST /tokens` to get an API token.
#[utoipa::path(
    post, path = "/accounts", tag = "accounts",
    request_body(content = NewAccount, example = json!({"name": "alice", "password": "correct horse battery"})),
    responses(
        (status = 201, description = "Created", body = AccountView),
        (status = 403, description = "Sign-up is closed on this server", body = ErrorBody,
            example = json!({"error": {"code": "forbidden", "message": "sign-up is closed on this server; ask an administrator for an account", "field": null}})),
        (status = 409, description = "The name is taken", body = ErrorBody,
            example = json!({"error": {"code": "conflict", "message": "this account name is taken", "field": "name"}})),
        (status = 429, description = "Too many sign-ups from this address", body = ErrorBody),
        (status = 422, description = "A name or password that breaks the rules", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "must not contain '/' (it separates MQTT topic levels); allowed are a-z 0-9 _", "field": "name"}})),
    )
)]
async fn create_account(
    State(state): State<ApiState>,
    ip: ClientIp,
    Json(body): Json<NewAccount>,
) -> ApiResult<(StatusCode, axum::Json<AccountView>)> {
    if !state.settings().open_signup {
        return Err(ApiError::forbidden(
            "sign-up is closed on this server; ask an administrator for an account",
        ));
    }
    let name = AccountName::parse(&body.name).map_err(|e| invalid(e.with_field("name")))?;
    let password = Password::new(&body.password, &name).map_err(invalid)?;
    // Counted only once the request is valid: the cost to guard is the argon2 hash and
    // the new row, and a person correcting a typo should not be locked out.
    state.login_limiter().check_signup(ip.0)?;
    let account = state
        .store()
        .create_account(&name, &password, Role::User)
        .await
        .api()?;
    tracing::info!(account = %account.name, "account created");
    Ok((StatusCode::CREATED, axum::Json(account.into())))
}
