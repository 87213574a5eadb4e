//! `/signup`, `/login`, `POST /logout` and `/settings` (change password).
//!
//! A successful sign-up or login starts a session (see [`crate::session`]) and redirects to
//! where the visitor was going (`next`, local paths only, so the login page cannot be made
//! to send people elsewhere). Failed attempts show the form again with the name kept and
//! the password cleared. Login and sign-up are throttled per address and account.

use agora_market::{AccountName, Password, Role};
use agora_store::{PageRequest, StoreError};
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::limits::ClientIp;
use crate::pages::{Nav, render, render_status, see_other, see_other_with};
use crate::session::{Form, SESSION_COOKIE, SESSION_DAYS, User, Visitor, cookie, removal};

/// The account routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/signup", get(signup_page).post(signup))
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route("/settings", get(settings_page).post(change_password))
}

#[derive(Template)]
#[template(path = "signup.html")]
struct SignupPage {
    nav: Nav,
    name: String,
    error: Option<String>,
    open: bool,
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    name: String,
    next: String,
    error: Option<String>,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    nav: Nav,
    name: String,
    role: &'static str,
    created: String,
    error: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NextQuery {
    next: String,
}

/// `next` if it is a path on this site, else the dashboard.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && !next.contains(['\r', '\n'])
        && !next.starts_with("/logout");
    if ok {
        next.to_owned()
    } else {
        "/dashboard".to_owned()
    }
}

async fn signup_page(State(state): State<UiState>, visitor: Visitor) -> UiResult<Response> {
    if visitor.account.is_some() {
        return Ok(see_other("/dashboard"));
    }
    render(&SignupPage {
        nav: Nav::of(&visitor, &state, "signup").await,
        name: String::new(),
        error: None,
        open: state.settings().open_signup,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct SignupForm {
    name: String,
    password: String,
    password2: String,
}

async fn signup(
    State(state): State<UiState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    Form(form): Form<SignupForm>,
) -> UiResult<Response> {
    if !state.settings().open_signup {
        return Err(UiError::Forbidden(
            "sign-up is closed on this server; ask its operator for an account".into(),
        ));
    }
    state
        .limiter()
        .check_signup(ip)
        .map_err(UiError::RateLimited)?;
    let again = |error: String| async {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &SignupPage {
                nav: Nav::of(&visitor, &state, "signup").await,
                name: form.name.clone(),
                error: Some(error),
                open: true,
            },
        )
    };
    let name = match AccountName::parse(form.name.trim()) {
        Ok(n) => n,
        Err(e) => return again(format!("Name: {}", e.message)).await,
    };
    if form.password != form.password2 {
        return again("The two passwords differ.".into()).await;
    }
    let password = match Password::new(&form.password, &name) {
        Ok(p) => p,
        Err(e) => return again(format!("Password: {}", e.message)).await,
    };
    let account = match state
        .store()
        .create_account(&name, &password, Role::User)
        .await
    {
        Ok(a) => a,
        Err(StoreError::Conflict { .. }) => {
            return again("That name is taken; please choose another.".into()).await;
        }
        Err(StoreError::Invalid(e)) => return again(e.to_string()).await,
        Err(e) => return Err(e.into()),
    };
    start_session(
        &state,
        &visitor,
        &account,
        "/dashboard",
        "Welcome to Agora!",
    )
    .await
}

async fn login_page(
    State(state): State<UiState>,
    visitor: Visitor,
    Query(q): Query<NextQuery>,
) -> UiResult<Response> {
    render(&LoginPage {
        nav: Nav::of(&visitor, &state, "login").await,
        name: String::new(),
        next: safe_next(&q.next),
        error: None,
    })
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct LoginForm {
    name: String,
    password: String,
    next: String,
}

async fn login(
    State(state): State<UiState>,
    visitor: Visitor,
    ClientIp(ip): ClientIp,
    Form(form): Form<LoginForm>,
) -> UiResult<Response> {
    let name = form.name.trim();
    state
        .limiter()
        .check_login(name, ip)
        .map_err(UiError::RateLimited)?;
    let next = safe_next(&form.next);
    let (error, status) = match state.store().verify_password(name, &form.password).await {
        Ok(account) => {
            return start_session(&state, &visitor, &account, &next, "Logged in.").await;
        }
        Err(StoreError::Unauthenticated | StoreError::Invalid(_)) => {
            ("Wrong name or password.", StatusCode::UNAUTHORIZED)
        }
        Err(StoreError::Suspended) => ("This account is suspended.", StatusCode::FORBIDDEN),
        Err(e) => return Err(e.into()),
    };
    render_status(
        status,
        &LoginPage {
            nav: Nav::of(&visitor, &state, "login").await,
            name: name.to_owned(),
            next,
            error: Some(error.to_owned()),
        },
    )
}

/// Creates the session token, sets its cookie and redirects to `next`. A session the
/// browser already had is ended, and expired sessions of the account are cleaned away.
async fn start_session(
    state: &UiState,
    visitor: &Visitor,
    account: &agora_market::Account,
    next: &str,
    message: &str,
) -> UiResult<Response> {
    let store = state.store();
    let actor = account.actor();
    if let (Some(old), Some(old_actor)) = (visitor.session_id, visitor.actor()) {
        // Best effort: the old token expires anyway.
        let _ = store.revoke_api_token(&old_actor, old).await;
    }
    let now = OffsetDateTime::now_utc();
    if let Ok(sessions) = store
        .list_web_sessions(&actor, &PageRequest::first(100))
        .await
    {
        for t in sessions.items {
            if !t.is_live(now) {
                let _ = store.revoke_api_token(&actor, t.id).await;
            }
        }
    }
    let expires = now + time::Duration::days(SESSION_DAYS);
    let (_, secret) = store.create_web_session(&actor, expires).await?;
    let secure = state.settings().secure_cookies;
    let mut res = see_other_with(next, message, secure);
    let c = cookie(
        SESSION_COOKIE,
        secret.expose(),
        Some(SESSION_DAYS * 86_400),
        secure,
    );
    let v = HeaderValue::from_str(&c).map_err(|_| UiError::Internal)?;
    res.headers_mut().append(header::SET_COOKIE, v);
    Ok(res)
}

#[derive(Debug, Default, Deserialize)]
struct Empty {}

async fn logout(
    State(state): State<UiState>,
    visitor: Visitor,
    Form(_): Form<Empty>,
) -> UiResult<Response> {
    if let (Some(id), Some(actor)) = (visitor.session_id, visitor.actor()) {
        match state.store().revoke_api_token(&actor, id).await {
            Ok(()) | Err(StoreError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let secure = state.settings().secure_cookies;
    let mut res = see_other_with("/", "Logged out.", secure);
    if let Ok(v) = HeaderValue::from_str(&removal(SESSION_COOKIE, secure)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(res)
}

async fn settings_page(State(state): State<UiState>, user: User) -> UiResult<Response> {
    render(&settings(&state, &user, None).await)
}

async fn settings(state: &UiState, user: &User, error: Option<String>) -> SettingsPage {
    SettingsPage {
        nav: Nav::of(&user.visitor, state, "settings").await,
        name: user.account.name.as_str().to_owned(),
        role: user.account.role.as_str(),
        created: crate::format::when(user.account.created_at),
        error,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct PasswordForm {
    current: String,
    password: String,
    password2: String,
}

async fn change_password(
    State(state): State<UiState>,
    ClientIp(ip): ClientIp,
    user: User,
    Form(form): Form<PasswordForm>,
) -> UiResult<Response> {
    // Checking the current password is a password guess like a login.
    state
        .limiter()
        .check_login(user.account.name.as_str(), ip)
        .map_err(UiError::RateLimited)?;
    let again = |e: String| async {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &settings(&state, &user, Some(e)).await,
        )
    };
    if form.password != form.password2 {
        return again("The two new passwords differ.".into()).await;
    }
    let new = match Password::new(&form.password, &user.account.name) {
        Ok(p) => p,
        Err(e) => return again(format!("New password: {}", e.message)).await,
    };
    match state
        .store()
        .change_password(&user.actor, &form.current, &new)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Unauthenticated) => {
            return again("The current password is wrong.".into()).await;
        }
        Err(StoreError::Invalid(e)) => return again(e.to_string()).await,
        Err(e) => return Err(e.into()),
    }
    // A changed password should shut out whoever knew the old one: end the account's
    // other browser sessions (API tokens are the owner's to manage on the dashboard).
    let store = state.store();
    let mut ended = 0;
    if let Ok(sessions) = store
        .list_web_sessions(&user.actor, &PageRequest::first(100))
        .await
    {
        for t in sessions.items {
            if Some(t.id) != user.visitor.session_id
                && store.revoke_api_token(&user.actor, t.id).await.is_ok()
            {
                ended += 1;
            }
        }
    }
    let message = if ended > 0 {
        format!("Password changed; {ended} other browser session(s) logged out.")
    } else {
        "Password changed.".to_owned()
    };
    Ok(see_other_with(
        "/settings",
        &message,
        state.settings().secure_cookies,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_only_goes_to_local_paths() {
        assert_eq!(safe_next("/products/a/b/c"), "/products/a/b/c");
        assert_eq!(safe_next("//evil.example"), "/dashboard");
        assert_eq!(safe_next("https://evil.example"), "/dashboard");
        assert_eq!(safe_next("/\\evil.example"), "/dashboard");
        assert_eq!(safe_next(""), "/dashboard");
    }
}
