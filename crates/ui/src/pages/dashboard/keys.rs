//! `/dashboard/keys`: MQTT access keys (the buyer's password on the broker; optionally
//! limited to some products and an expiry) and personal API tokens (for the REST API).
//! Both are shown once, in the answer to the POST that made them, and can be revoked.
//! Browser sessions are API tokens too (see [`crate::session`]); they are listed apart,
//! with the current one marked, so a session left open elsewhere can be ended.

use agora_market::{AccessKeyId, ApiTokenId, Label, ProductTopic};
use agora_store::PageRequest;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;
use uuid::Uuid;

use super::{Confirm, SecretPage, Tab, chrome, confirm_page, confirmed};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::format;
use crate::pages::{Nav, render, see_other_with};
use crate::session::{Form, SESSION_TOKEN_NAME, User};

/// The key and token routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/dashboard/keys", get(page).post(create_key))
        .route("/dashboard/keys/{id}/revoke", post(revoke_key))
        .route("/dashboard/tokens", post(create_token))
        .route("/dashboard/tokens/{id}/revoke", post(revoke_token))
}

struct KeyRow {
    id: String,
    name: String,
    scope: String,
    created: String,
    expires: String,
    status: &'static str,
    live: bool,
}

struct TokenRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
    expires: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "dashboard_keys.html")]
struct KeysPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    keys: Vec<KeyRow>,
    tokens: Vec<TokenRow>,
    sessions: Vec<TokenRow>,
    /// Topics the visitor can read (live purchases and own products), for the key form.
    readable: Vec<String>,
    username: String,
}

async fn page(State(state): State<UiState>, user: User) -> UiResult<Response> {
    let store = state.store();
    let now = OffsetDateTime::now_utc();
    let keys = store
        .list_access_keys(&user.actor, &PageRequest::first(100))
        .await?
        .items
        .into_iter()
        .map(|k| {
            let live = k.is_live(now);
            KeyRow {
                id: k.id.0.to_string(),
                name: k.name.as_str().to_owned(),
                scope: if k.topics.is_empty() {
                    "everything I may read".into()
                } else {
                    k.topics
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                created: format::when(k.created_at),
                expires: k.expires_at.map_or_else(|| "never".into(), format::when),
                status: if k.revoked_at.is_some() {
                    "revoked"
                } else if live {
                    "active"
                } else {
                    "expired"
                },
                live,
            }
        })
        .collect();
    let row = |t: &agora_market::ApiToken| TokenRow {
        id: t.id.0.to_string(),
        name: t.name.as_str().to_owned(),
        created: format::when(t.created_at),
        last_used: t
            .last_used_at
            .map_or_else(|| "never".into(), |u| format::ago(u, now)),
        expires: t.expires_at.map_or_else(|| "never".into(), format::when),
        current: Some(t.id) == user.visitor.session_id,
    };
    let tokens = store
        .list_api_tokens(&user.actor, &PageRequest::first(100))
        .await?
        .items
        .iter()
        .filter(|t| t.is_live(now))
        .map(row)
        .collect();
    let sessions = store
        .list_web_sessions(&user.actor, &PageRequest::first(100))
        .await?
        .items
        .iter()
        .filter(|t| t.is_live(now))
        .map(row)
        .collect();
    let mut readable: Vec<String> = store
        .list_purchases(&user.actor, &PageRequest::first(100))
        .await?
        .items
        .iter()
        .filter(|p| p.is_live(now))
        .map(|p| p.topic.to_string())
        .collect();
    let own = agora_store::ProductQuery {
        owner: Some(user.account.name.clone()),
        ..Default::default()
    };
    readable.extend(
        store
            .search_products(&own, &PageRequest::first(100))
            .await?
            .items
            .iter()
            .map(|(p, _)| p.topic.to_string()),
    );
    readable.sort();
    readable.dedup();
    let (nav, pending_sales) = chrome(&state, &user).await;
    render(&KeysPage {
        nav,
        tab: Tab::Keys.as_str(),
        pending_sales,
        keys,
        tokens,
        sessions,
        readable,
        username: user.account.name.as_str().to_owned(),
    })
}

/// "30" → 30 days from now; empty → never.
fn expiry(days: &str) -> UiResult<Option<OffsetDateTime>> {
    match days.trim() {
        "" => Ok(None),
        d => {
            let n: i64 = d
                .parse()
                .ok()
                .filter(|n| (1..=3650).contains(n))
                .ok_or_else(|| UiError::Invalid("expiry: a number of days, 1 to 3650".into()))?;
            Ok(Some(OffsetDateTime::now_utc() + time::Duration::days(n)))
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KeyForm {
    name: String,
    days: String,
    /// The chosen topics (filled from the pairs, see `create_key`).
    #[serde(skip)]
    products: Vec<String>,
    confirm: Option<String>,
}

async fn create_key(
    State(state): State<UiState>,
    user: User,
    Form(pairs): Form<Vec<(String, String)>>,
) -> UiResult<Response> {
    // Repeated fields (`products`, one per checked box) need the pairs: a struct cannot
    // collect them with serde_urlencoded.
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let form = KeyForm {
        name: get("name"),
        days: get("days"),
        products: pairs
            .iter()
            .filter(|(n, _)| n == "products")
            .map(|(_, v)| v.clone())
            .collect(),
        confirm: None,
    };
    let name = Label::parse("name", &form.name)?;
    let topics = form
        .products
        .iter()
        .map(|t| ProductTopic::parse(t))
        .collect::<Result<Vec<_>, _>>()?;
    let expires = expiry(&form.days)?;
    let (key, secret) = state
        .store()
        .create_access_key(&user.actor, &name, &topics, expires)
        .await?;
    let s = state.settings();
    let username = user.account.name.as_str().to_owned();
    let filter = key.topics.first().map_or_else(
        || "OWNER/HUB/PRODUCT/#".to_owned(),
        ProductTopic::tree_filter,
    );
    let mut lines = Vec::new();
    if let Some(port) = s.mqtt_port {
        lines.push((
            "Subscribe:".to_owned(),
            format!(
                "mosquitto_sub -h {} -p {port} -u {username} -P '{}' -t '{filter}' -v",
                s.mqtt_host,
                secret.expose()
            ),
        ));
    }
    if let Some(port) = s.mqtts_port {
        lines.push((
            "Over TLS:".to_owned(),
            format!(
                "mosquitto_sub -h {} -p {port} --cafile agora-data/tls/cert.pem -u {username} -P '{}' -t '{filter}' -v",
                s.mqtt_host,
                secret.expose()
            ),
        ));
    }
    let nav = Nav::of(&user.visitor, &state, "dashboard").await;
    render(&SecretPage {
        nav,
        title: format!("Access key {} created", key.name),
        intro: format!(
            "Use it as the MQTT password with the username {username}. It opens {}.",
            if key.topics.is_empty() {
                "every product you may read".to_owned()
            } else {
                key.topics
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
        secret: Some(secret.expose().to_owned()),
        facts: vec![
            ("Username".into(), username.clone()),
            ("Host".into(), s.mqtt_host.clone()),
        ],
        lines,
        back: "/dashboard/keys".into(),
    })
}

async fn revoke_key(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(f): Form<KeyForm>,
) -> UiResult<Response> {
    let id = Uuid::parse_str(&id)
        .map(AccessKeyId)
        .map_err(|_| UiError::NotFound("access key"))?;
    let keys = state
        .store()
        .list_access_keys(&user.actor, &PageRequest::first(100))
        .await?;
    let key = keys
        .items
        .iter()
        .find(|k| k.id == id)
        .ok_or(UiError::NotFound("access key"))?;
    if !confirmed(f.confirm.as_deref()) {
        return confirm_page(
            &state,
            &user,
            Confirm {
                title: format!("Revoke access key {}?", key.name),
                message:
                    "It stops working at once, and MQTT sessions that logged in with it are closed."
                        .into(),
                action: format!("/dashboard/keys/{}/revoke", id.0),
                button: "Revoke key",
                fields: vec![],
                back: "/dashboard/keys",
            },
        )
        .await;
    }
    let k = state.store().revoke_access_key(&user.actor, id).await?;
    Ok(see_other_with(
        "/dashboard/keys",
        &format!("Access key {} revoked.", k.name),
        state.settings().secure_cookies,
    ))
}

async fn create_token(
    State(state): State<UiState>,
    user: User,
    Form(f): Form<KeyForm>,
) -> UiResult<Response> {
    let name = Label::parse("name", &f.name)?;
    if name.as_str() == SESSION_TOKEN_NAME {
        return Err(UiError::Invalid(format!(
            "name: \"{SESSION_TOKEN_NAME}\" is kept for browser sessions"
        )));
    }
    let expires = expiry(&f.days)?;
    let (token, secret) = state
        .store()
        .create_api_token(&user.actor, &name, expires)
        .await?;
    let nav = Nav::of(&user.visitor, &state, "dashboard").await;
    render(&SecretPage {
        nav,
        title: format!("API token {} created", token.name),
        intro: "Send it as a bearer token to the REST API under /api/v1.".into(),
        secret: Some(secret.expose().to_owned()),
        facts: vec![],
        lines: vec![(
            "Try it:".into(),
            format!(
                "curl -H 'Authorization: Bearer {}' http://HOST:PORT/api/v1/me",
                secret.expose()
            ),
        )],
        back: "/dashboard/keys".into(),
    })
}

async fn revoke_token(
    State(state): State<UiState>,
    user: User,
    Path(id): Path<String>,
    Form(f): Form<KeyForm>,
) -> UiResult<Response> {
    let id = Uuid::parse_str(&id)
        .map(ApiTokenId)
        .map_err(|_| UiError::NotFound("token"))?;
    // Personal tokens and browser sessions are listed apart; either may be revoked here.
    let store = state.store();
    let mut all = store
        .list_api_tokens(&user.actor, &PageRequest::first(100))
        .await?
        .items;
    all.extend(
        store
            .list_web_sessions(&user.actor, &PageRequest::first(100))
            .await?
            .items,
    );
    let token = all
        .iter()
        .find(|t| t.id == id)
        .ok_or(UiError::NotFound("token"))?;
    let current = Some(id) == user.visitor.session_id;
    if !confirmed(f.confirm.as_deref()) {
        return confirm_page(
            &state,
            &user,
            Confirm {
                title: format!("Revoke {}?", token.name),
                message: if current {
                    "This is the session of this browser: you will be logged out.".into()
                } else {
                    "Whatever uses it is refused from now on.".into()
                },
                action: format!("/dashboard/tokens/{}/revoke", id.0),
                button: "Revoke",
                fields: vec![],
                back: "/dashboard/keys",
            },
        )
        .await;
    }
    state.store().revoke_api_token(&user.actor, id).await?;
    let target = if current { "/" } else { "/dashboard/keys" };
    Ok(see_other_with(
        target,
        &format!("{} revoked.", token.name),
        state.settings().secure_cookies,
    ))
}
