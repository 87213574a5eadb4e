//! `/dashboard…`: everything a person manages, in tabs — [`hubs`] (hubs and their
//! devices, the overview), [`products`] (the seller's listings), [`trade`] (purchases as a
//! buyer, sales and approvals as a seller), [`keys`] (MQTT access keys and API tokens) and
//! [`notifications`].
//!
//! Conventions: every change is a POST form with the CSRF token, answered with a redirect
//! and a flash message; a secret (device secret, access key, API token) is instead shown
//! in the direct answer to the POST that made it, on a page that says it will not be shown
//! again, and is never stored anywhere to be shown later. Destructive actions (delete,
//! revoke, cancel, decline) first answer with a confirmation page; only a form sent with
//! `confirm=yes` acts.

pub mod hubs;
pub mod keys;
pub mod notifications;
pub mod products;
pub mod trade;

use askama::Template;
use axum::Router;
use axum::response::Response;

use crate::UiState;
use crate::error::UiResult;
use crate::pages::{Nav, render};

/// The dashboard routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .merge(hubs::router())
        .merge(products::router())
        .merge(trade::router())
        .merge(keys::router())
        .merge(notifications::router())
}

/// The dashboard's tabs, to mark the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// Hubs and devices.
    Hubs,
    /// The seller's products.
    Products,
    /// Purchases as a buyer.
    Purchases,
    /// Sales as a seller.
    Sales,
    /// Access keys and API tokens.
    Keys,
    /// Notifications.
    Notifications,
}

impl Tab {
    /// The tab's name as the template compares it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hubs => "hubs",
            Self::Products => "products",
            Self::Purchases => "purchases",
            Self::Sales => "sales",
            Self::Keys => "keys",
            Self::Notifications => "notifications",
        }
    }
}

/// The confirmation step of a destructive action: the same form again, with a checkbox.
#[derive(Template)]
#[template(path = "confirm.html")]
pub struct ConfirmPage {
    /// The bar.
    pub nav: Nav,
    /// "Delete device alice$home$pi?"
    pub title: String,
    /// What will happen.
    pub message: String,
    /// Where the form goes (the same action).
    pub action: String,
    /// The button's words.
    pub button: String,
    /// Fields to send again (e.g. the reason typed).
    pub fields: Vec<(String, String)>,
    /// Where "Cancel" leads.
    pub back: String,
}

/// Whether a destructive form was confirmed.
pub fn confirmed(confirm: Option<&str>) -> bool {
    confirm == Some("yes")
}

/// What a confirmation page says and where its form goes.
#[derive(Debug)]
pub struct Confirm {
    /// "Delete device alice$home$pi?"
    pub title: String,
    /// What will happen.
    pub message: String,
    /// Where the form goes (the same action).
    pub action: String,
    /// The button's words.
    pub button: &'static str,
    /// Fields to send again (e.g. the reason typed).
    pub fields: Vec<(String, String)>,
    /// Where "Cancel" leads.
    pub back: &'static str,
}

/// Renders the confirmation page.
pub async fn confirm_page(
    state: &UiState,
    user: &crate::session::User,
    c: Confirm,
) -> UiResult<Response> {
    render(&ConfirmPage {
        nav: Nav::of(&user.visitor, state, "dashboard").await,
        title: c.title,
        message: c.message,
        action: c.action,
        button: c.button.into(),
        fields: c.fields,
        back: c.back.into(),
    })
}

/// A secret shown once, with how to use it.
#[derive(Template)]
#[template(path = "secret.html")]
pub struct SecretPage {
    /// The bar.
    pub nav: Nav,
    /// "Device registered".
    pub title: String,
    /// What the secret is.
    pub intro: String,
    /// The secret itself (absent for key-based devices).
    pub secret: Option<String>,
    /// Facts as (label, value).
    pub facts: Vec<(String, String)>,
    /// Commands as (label, command).
    pub lines: Vec<(String, String)>,
    /// Where to go next.
    pub back: String,
}

/// What every dashboard page shows above its tab: the bar, and the count of requests
/// waiting for the seller (for the Sales tab's badge).
pub async fn chrome(state: &UiState, user: &crate::session::User) -> (Nav, u64) {
    let nav = Nav::of(&user.visitor, state, "dashboard").await;
    // A failing count must not break the page; the badge just shows nothing.
    let pending = state
        .store()
        .sales_totals(&user.actor)
        .await
        .map(|t| t.pending)
        .unwrap_or(0);
    (nav, pending)
}
