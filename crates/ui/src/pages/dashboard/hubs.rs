//! `/dashboard`: the seller's hubs with their devices and products, and the forms to
//! create a hub, register a device (generated secret or RSA public key), rotate a device's
//! credential, and delete devices and hubs. A new secret is shown once, in the answer to
//! the POST that made it.

use agora_market::{AccountName, Device, DeviceCredentialKind, DeviceName, HubName, RsaPublicKey};
use agora_store::{HubPatch, NewCredential, PageRequest, StoreError};
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use super::{Confirm, SecretPage, Tab, chrome, confirm_page, confirmed};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::format;
use crate::pages::{Nav, product_url, render, render_status, see_other_with};
use crate::session::{Form, User};

/// The hub and device routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/dashboard", get(page))
        .route("/dashboard/hubs", post(create_hub))
        .route("/dashboard/hubs/{hub}/delete", post(delete_hub))
        .route("/dashboard/hubs/{hub}/edit", post(edit_hub))
        .route("/dashboard/hubs/{hub}/devices", post(register_device))
        .route(
            "/dashboard/hubs/{hub}/devices/{device}/rotate",
            post(rotate_device),
        )
        .route(
            "/dashboard/hubs/{hub}/devices/{device}/delete",
            post(delete_device),
        )
}

struct DeviceRow {
    name: String,
    username: String,
    credential: &'static str,
    created: String,
    rotated: Option<String>,
}

struct ProductRow {
    url: String,
    name: String,
    title: String,
    plan: String,
}

struct HubView {
    name: String,
    public: bool,
    description: String,
    devices: Vec<DeviceRow>,
    products: Vec<ProductRow>,
}

struct NoticeRow {
    message: String,
    when: String,
    unread: bool,
}

#[derive(Template)]
#[template(path = "dashboard_hubs.html")]
struct HubsPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    hubs: Vec<HubView>,
    notices: Vec<NoticeRow>,
    error: Option<String>,
    form_name: String,
    form_description: String,
}

async fn page(State(state): State<UiState>, user: User) -> UiResult<Response> {
    let tpl = hubs_page(&state, &user, None, String::new(), String::new()).await?;
    render(&tpl)
}

async fn hubs_page(
    state: &UiState,
    user: &User,
    error: Option<String>,
    form_name: String,
    form_description: String,
) -> UiResult<HubsPage> {
    let store = state.store();
    let actor = &user.actor;
    let all = store.list_hubs(actor, &PageRequest::first(100)).await?;
    let mut hubs = Vec::with_capacity(all.items.len());
    for h in all.items {
        let devices = store
            .list_devices(actor, &h.owner, &h.name, &PageRequest::first(100))
            .await?;
        let products = store
            .list_hub_products(&h.owner, &h.name, &PageRequest::first(100))
            .await?;
        hubs.push(HubView {
            name: h.name.as_str().to_owned(),
            public: h.public,
            description: h.description,
            devices: devices.items.iter().map(device_row).collect(),
            products: products
                .items
                .iter()
                .map(|p| ProductRow {
                    url: product_url(&p.topic),
                    name: p.topic.name.as_str().to_owned(),
                    title: p.details.title.as_str().to_owned(),
                    plan: format::plan(&p.details.plan),
                })
                .collect(),
        });
    }
    let notices = store
        .list_notifications(actor, false, &PageRequest::first(5))
        .await?
        .items
        .into_iter()
        .map(|n| NoticeRow {
            message: n.message,
            when: format::ago(n.created_at, OffsetDateTime::now_utc()),
            unread: n.read_at.is_none(),
        })
        .collect();
    let (nav, pending_sales) = chrome(state, user).await;
    Ok(HubsPage {
        nav,
        tab: Tab::Hubs.as_str(),
        pending_sales,
        hubs,
        notices,
        error,
        form_name,
        form_description,
    })
}

fn device_row(d: &Device) -> DeviceRow {
    DeviceRow {
        name: d.name.as_str().to_owned(),
        username: d.username.to_string(),
        credential: match d.credential {
            DeviceCredentialKind::Secret => "secret",
            DeviceCredentialKind::PublicKey => "public key (JWT)",
        },
        created: format::when(d.created_at),
        rotated: d.rotated_at.map(format::when),
    }
}

fn hub_name(s: &str) -> UiResult<HubName> {
    HubName::parse(s).map_err(|_| UiError::NotFound("hub"))
}

fn device_name(s: &str) -> UiResult<DeviceName> {
    DeviceName::parse(s).map_err(|_| UiError::NotFound("device"))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct HubForm {
    name: String,
    public: Option<String>,
    description: String,
}

async fn create_hub(
    State(state): State<UiState>,
    user: User,
    Form(form): Form<HubForm>,
) -> UiResult<Response> {
    let again = |e: String| async {
        let tpl = hubs_page(
            &state,
            &user,
            Some(e),
            form.name.clone(),
            form.description.clone(),
        )
        .await?;
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
    };
    let name = match HubName::parse(form.name.trim()) {
        Ok(n) => n,
        Err(e) => return again(format!("Hub name: {}", e.message)).await,
    };
    match state
        .store()
        .create_hub(
            &user.actor,
            &name,
            form.public.is_some(),
            form.description.trim(),
        )
        .await
    {
        Ok(_) => Ok(see_other_with(
            "/dashboard",
            &format!("Hub {} created.", name.as_str()),
            state.settings().secure_cookies,
        )),
        Err(StoreError::Conflict { .. }) => {
            again(format!("You already have a hub named {}.", name.as_str())).await
        }
        Err(StoreError::Invalid(e)) => again(e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

/// Changes a hub's visibility and description (its name is fixed).
async fn edit_hub(
    State(state): State<UiState>,
    user: User,
    Path(hub): Path<String>,
    Form(form): Form<HubForm>,
) -> UiResult<Response> {
    let name = hub_name(&hub)?;
    let patch = HubPatch {
        public: Some(form.public.is_some()),
        description: Some(form.description.trim().to_owned()),
    };
    let h = state
        .store()
        .update_hub(&user.actor, &user.account.name, &name, &patch)
        .await?;
    Ok(see_other_with(
        "/dashboard",
        &format!(
            "Hub {} saved; it is {} now.",
            h.name.as_str(),
            if h.public { "public" } else { "private" }
        ),
        state.settings().secure_cookies,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ConfirmForm {
    confirm: Option<String>,
}

async fn delete_hub(
    State(state): State<UiState>,
    user: User,
    Path(hub): Path<String>,
    Form(form): Form<ConfirmForm>,
) -> UiResult<Response> {
    let name = hub_name(&hub)?;
    let owner = user.account.name.clone();
    // Look it up first so that a wrong name is a 404, not a confirmation page.
    state
        .store()
        .get_hub(Some(&user.actor), &owner, &name)
        .await?;
    if !confirmed(form.confirm.as_deref()) {
        return confirm_page(&state, &user, Confirm { title: format!("Delete hub {}?", name.as_str()), message: "Its devices are disconnected and deleted, its products are delisted, and every \
             live purchase of them is revoked. Sales history stays."
                .into(), action: format!("/dashboard/hubs/{}/delete", name.as_str()), button: "Delete hub", fields: vec![], back: "/dashboard" })
        .await;
    }
    state.store().delete_hub(&user.actor, &owner, &name).await?;
    Ok(see_other_with(
        "/dashboard",
        &format!("Hub {} deleted.", name.as_str()),
        state.settings().secure_cookies,
    ))
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct DeviceForm {
    name: String,
    credential: String,
    public_key: String,
    confirm: Option<String>,
}

/// The credential chosen in a device form.
fn credential(form: &DeviceForm) -> Result<NewCredential, String> {
    match form.credential.as_str() {
        "" | "secret" => Ok(NewCredential::GenerateSecret),
        "public_key" => RsaPublicKey::parse(form.public_key.trim())
            .map(NewCredential::PublicKey)
            .map_err(|e| format!("Public key: {}", e.message)),
        _ => Err("Choose a secret or a public key.".into()),
    }
}

async fn register_device(
    State(state): State<UiState>,
    user: User,
    Path(hub): Path<String>,
    Form(form): Form<DeviceForm>,
) -> UiResult<Response> {
    let hub = hub_name(&hub)?;
    let owner = user.account.name.clone();
    let again = |e: String| async {
        let tpl = hubs_page(&state, &user, Some(e), String::new(), String::new()).await?;
        render_status(StatusCode::UNPROCESSABLE_ENTITY, &tpl)
    };
    let name = match DeviceName::parse(form.name.trim()) {
        Ok(n) => n,
        Err(e) => return again(format!("Device name: {}", e.message)).await,
    };
    let cred = match credential(&form) {
        Ok(c) => c,
        Err(e) => return again(e).await,
    };
    let (device, secret) = match state
        .store()
        .register_device(&user.actor, &owner, &hub, &name, &cred)
        .await
    {
        Ok(x) => x,
        Err(StoreError::Conflict { .. }) => {
            return again(format!(
                "Hub {} already has a device named {}.",
                hub.as_str(),
                name.as_str()
            ))
            .await;
        }
        Err(StoreError::Invalid(e)) => return again(e.to_string()).await,
        Err(e) => return Err(e.into()),
    };
    credential_page(&state, &user, &owner, &device, secret, "Device registered").await
}

/// The answer to registering or rotating: the new secret once, or how to sign tokens.
async fn credential_page(
    state: &UiState,
    user: &User,
    owner: &AccountName,
    device: &Device,
    secret: Option<agora_market::Secret>,
    title: &str,
) -> UiResult<Response> {
    let s = state.settings();
    let username = device.username.to_string();
    let port = s.mqtt_port.or(s.mqtts_port).unwrap_or(1883);
    let example_topic = format!(
        "{}/{}/PRODUCT",
        owner.as_str(),
        device.username.hub.as_str()
    );
    let (intro, password, lines) = match &secret {
        Some(secret) => (
            format!(
                "{username} logs in to MQTT with this username and secret. It may publish into the products of hub {}.",
                device.username.hub.as_str()
            ),
            secret.expose().to_owned(),
            vec![(
                "Publish a reading:".to_owned(),
                format!(
                    "mosquitto_pub -h {} -p {port} -u '{username}' -P '{}' -t '{example_topic}' -m '21.5'",
                    s.mqtt_host,
                    secret.expose()
                ),
            )],
        ),
        None => (
            format!(
                "{username} logs in with a JWT signed by its private key (RS256), which never leaves the device."
            ),
            String::new(),
            vec![(
                "Sign a token and publish:".to_owned(),
                format!(
                    "mosquitto_pub -h {} -p {port} -u '{username}' -P \"$(agora token --key device.pem --iss '{username}' --ttl 1h)\" -t '{example_topic}' -m '21.5'",
                    s.mqtt_host
                ),
            )],
        ),
    };
    let nav = Nav::of(&user.visitor, state, "dashboard").await;
    render(&SecretPage {
        nav,
        title: title.into(),
        intro,
        secret: Some(password).filter(|p| !p.is_empty()),
        facts: vec![
            ("MQTT username".into(), username.clone()),
            ("Host".into(), s.mqtt_host.clone()),
            ("Port".into(), port.to_string()),
        ],
        lines,
        back: "/dashboard".into(),
    })
}

async fn rotate_device(
    State(state): State<UiState>,
    user: User,
    Path((hub, device)): Path<(String, String)>,
    Form(form): Form<DeviceForm>,
) -> UiResult<Response> {
    let hub = hub_name(&hub)?;
    let name = device_name(&device)?;
    let owner = user.account.name.clone();
    let current = state
        .store()
        .get_device(&user.actor, &owner, &hub, &name)
        .await?;
    let cred = credential(&form).map_err(UiError::Invalid)?;
    if !confirmed(form.confirm.as_deref()) {
        return confirm_page(
            &state,
            &user,
            Confirm {
                title: format!("Rotate the credential of {}?", current.username),
                message: "The old credential stops working at once and sessions that used it are \
             disconnected; the device needs the new one to connect again."
                    .into(),
                action: format!(
                    "/dashboard/hubs/{}/devices/{}/rotate",
                    hub.as_str(),
                    name.as_str()
                ),
                button: "Rotate",
                fields: vec![
                    ("credential".into(), form.credential.clone()),
                    ("public_key".into(), form.public_key.clone()),
                ],
                back: "/dashboard",
            },
        )
        .await;
    }
    let (device, secret) = state
        .store()
        .rotate_device(&user.actor, &owner, &hub, &name, &cred)
        .await?;
    credential_page(&state, &user, &owner, &device, secret, "Credential rotated").await
}

async fn delete_device(
    State(state): State<UiState>,
    user: User,
    Path((hub, device)): Path<(String, String)>,
    Form(form): Form<ConfirmForm>,
) -> UiResult<Response> {
    let hub = hub_name(&hub)?;
    let name = device_name(&device)?;
    let owner = user.account.name.clone();
    let d = state
        .store()
        .get_device(&user.actor, &owner, &hub, &name)
        .await?;
    if !confirmed(form.confirm.as_deref()) {
        return confirm_page(
            &state,
            &user,
            Confirm {
                title: format!("Delete device {}?", d.username),
                message: "It is disconnected at once and can no longer log in.".into(),
                action: format!(
                    "/dashboard/hubs/{}/devices/{}/delete",
                    hub.as_str(),
                    name.as_str()
                ),
                button: "Delete device",
                fields: vec![],
                back: "/dashboard",
            },
        )
        .await;
    }
    state
        .store()
        .delete_device(&user.actor, &owner, &hub, &name)
        .await?;
    Ok(see_other_with(
        "/dashboard",
        &format!("Device {} deleted.", d.username),
        state.settings().secure_cookies,
    ))
}
