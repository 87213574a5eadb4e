//! The pages, one module per page or group: [`catalogue`] (`/`), [`map`] (`/map`),
//! [`product`] (`/products/{owner}/{hub}/{name}`, buying and rating), [`account`]
//! (sign-up, login, logout, settings) and [`dashboard`] (everything a seller or buyer
//! manages). Shared here: the navigation bar every page shows ([`Nav`]), the product card
//! of lists, and the responses of POST-redirect-GET.

pub mod account;
pub mod catalogue;
pub mod dashboard;
pub mod map;
pub mod product;

use agora_market::Product;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::error::UiError;
use crate::format;
use crate::session::{Visitor, flash_cookie};

/// What the layout needs: who is logged in, the CSRF token (for the logout button), the
/// flash message and the unread notification count.
#[derive(Debug, Clone, Default)]
pub struct Nav {
    /// The logged-in account's name.
    pub user: Option<String>,
    /// The visitor's CSRF token.
    pub csrf: String,
    /// A message from the previous action.
    pub flash: Option<String>,
    /// Unread notifications.
    pub unread: u64,
    /// Which top-level page this is ("catalogue", "map", "dashboard", …), to mark the link.
    pub current: &'static str,
}

impl Nav {
    /// The bar for error pages (who is asking is not known there).
    pub fn anonymous() -> Self {
        Self::default()
    }

    /// The bar for `visitor` on page `current`.
    pub async fn of(visitor: &Visitor, state: &crate::UiState, current: &'static str) -> Self {
        let unread = match visitor.actor() {
            // A failing count must not break the page; the bell just shows nothing.
            Some(actor) => state
                .store()
                .unread_notifications(&actor)
                .await
                .unwrap_or(0),
            None => 0,
        };
        Self {
            user: visitor.account.as_ref().map(|a| a.name.as_str().to_owned()),
            csrf: visitor.csrf.clone(),
            flash: visitor.flash.clone(),
            unread,
            current,
        }
    }
}

/// Renders a template as a 200 page.
pub fn render<T: Template>(t: &T) -> Result<Response, UiError> {
    render_status(StatusCode::OK, t)
}

/// Renders a template with a status (a form shown again with its errors is 422).
pub fn render_status<T: Template>(status: StatusCode, t: &T) -> Result<Response, UiError> {
    let html = t.render().map_err(|e| {
        tracing::error!(error = %e, "template failed to render");
        UiError::Internal
    })?;
    Ok((status, Html(html)).into_response())
}

/// `303 See Other` to a local path (the R of POST-redirect-GET).
pub fn see_other(path: &str) -> Response {
    let mut res = StatusCode::SEE_OTHER.into_response();
    if let Ok(v) = HeaderValue::from_str(path) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}

/// `303 See Other` with a message for the next page.
pub fn see_other_with(path: &str, message: &str, secure: bool) -> Response {
    let mut res = see_other(path);
    if let Ok(v) = HeaderValue::from_str(&flash_cookie(message, secure)) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// A product as a list shows it.
#[derive(Debug, Clone)]
pub struct Card {
    /// Its page.
    pub url: String,
    /// Its title.
    pub title: String,
    /// `owner/hub/name`.
    pub topic: String,
    /// The seller.
    pub owner: String,
    /// `sensor`, `actuator` or `both`.
    pub kind: &'static str,
    /// Plan and price.
    pub plan: String,
    /// Whether purchases need approval.
    pub restricted: bool,
    /// The first lines of the description.
    pub summary: String,
    /// Rating stars, if rated.
    pub rating: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// Distance from the searched place.
    pub distance: Option<String>,
    /// "lat, lon".
    pub location: Option<String>,
}

impl Card {
    /// The card of `p`, `distance` km from the searched place.
    pub fn of(p: &Product, distance: Option<f64>) -> Self {
        let d = &p.details;
        let mut summary: String = d.description.chars().take(180).collect();
        if d.description.chars().count() > 180 {
            summary.push('…');
        }
        Self {
            url: product_url(&p.topic),
            title: d.title.as_str().to_owned(),
            topic: p.topic.to_string(),
            owner: p.topic.owner.as_str().to_owned(),
            kind: d.kind.as_str(),
            plan: format::plan(&d.plan),
            restricted: d.restricted,
            summary,
            rating: format::stars(p.rating_avg, p.rating_count),
            tags: d.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            distance: distance.map(|km| format!("{km:.1} km")),
            location: d
                .location
                .map(|l| format!("{:.4}, {:.4}", l.lat(), l.lon())),
        }
    }
}

/// The page of a product. Names are restricted to `A-Z a-z 0-9 _ -`, so they need no
/// escaping in a path.
pub fn product_url(topic: &agora_market::ProductTopic) -> String {
    format!("/products/{topic}")
}
