//! `/dashboard/products…`: the seller's listings — create, edit, delete. Topic and hub are
//! fixed at creation (the edit form does not even show them as fields). The form is one
//! template for both; a rejected form comes back with what was typed and the reason.

use agora_market::{
    HubName, Location, Plan, Price, Product, ProductDetails, ProductKind, ProductName, Tag, Title,
};
use agora_store::{PageRequest, ProductPatch, ProductQuery, StoreError};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;

use super::{Confirm, Tab, chrome, confirm_page, confirmed};
use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::format;
use crate::pages::product::topic_from;
use crate::pages::{Nav, product_url, render, render_status, see_other_with};
use crate::session::{Form, User};

/// The product management routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/dashboard/products", get(list))
        .route("/dashboard/products/new", get(new_form).post(create))
        .route(
            "/dashboard/products/{hub}/{name}/edit",
            get(edit_form).post(update),
        )
        .route("/dashboard/products/{hub}/{name}/delete", post(delete))
}

struct Row {
    url: String,
    hub: String,
    name: String,
    title: String,
    topic: String,
    kind: &'static str,
    plan: String,
    restricted: bool,
    rating: Option<String>,
}

#[derive(Template)]
#[template(path = "dashboard_products.html")]
struct ListPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    rows: Vec<Row>,
    has_hubs: bool,
}

async fn list(State(state): State<UiState>, user: User) -> UiResult<Response> {
    let store = state.store();
    // The seller's own listings, through search by owner (it covers every hub, private
    // ones included, since products are listed whatever the hub's visibility).
    let query = ProductQuery {
        owner: Some(user.account.name.clone()),
        ..ProductQuery::default()
    };
    let found = store
        .search_products(&query, &PageRequest::first(100))
        .await?;
    let rows = found
        .items
        .iter()
        .map(|(p, _)| Row {
            url: product_url(&p.topic),
            hub: p.topic.hub.as_str().to_owned(),
            name: p.topic.name.as_str().to_owned(),
            title: p.details.title.as_str().to_owned(),
            topic: p.topic.to_string(),
            kind: p.details.kind.as_str(),
            plan: format::plan(&p.details.plan),
            restricted: p.details.restricted,
            rating: format::stars(p.rating_avg, p.rating_count),
        })
        .collect();
    let has_hubs = !store
        .list_hubs(&user.actor, &PageRequest::first(1))
        .await?
        .items
        .is_empty();
    let (nav, pending_sales) = chrome(&state, &user).await;
    render(&ListPage {
        nav,
        tab: Tab::Products.as_str(),
        pending_sales,
        rows,
        has_hubs,
    })
}

/// The product form's fields, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ProductForm {
    hub: String,
    name: String,
    title: String,
    description: String,
    kind: String,
    restricted: Option<String>,
    plan: String,
    days: String,
    count: String,
    price: String,
    lat: String,
    lon: String,
    tags: String,
    rate: String,
    schema: String,
    licence: String,
    confirm: Option<String>,
}

impl ProductForm {
    fn of(p: &Product) -> Self {
        let d = &p.details;
        let (plan, days, count, price) = match d.plan {
            Plan::Free => ("free", String::new(), String::new(), String::new()),
            Plan::Period { days, price } => {
                ("period", days.to_string(), String::new(), price.to_string())
            }
            Plan::Messages { count, price } => (
                "messages",
                String::new(),
                count.to_string(),
                price.to_string(),
            ),
        };
        Self {
            hub: p.topic.hub.as_str().to_owned(),
            name: p.topic.name.as_str().to_owned(),
            title: d.title.as_str().to_owned(),
            description: d.description.clone(),
            kind: d.kind.as_str().to_owned(),
            restricted: d.restricted.then(|| "yes".to_owned()),
            plan: plan.to_owned(),
            days,
            count,
            price,
            lat: d.location.map(|l| l.lat().to_string()).unwrap_or_default(),
            lon: d.location.map(|l| l.lon().to_string()).unwrap_or_default(),
            tags: d
                .tags
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            rate: d
                .declared_rate_secs
                .map(|r| r.to_string())
                .unwrap_or_default(),
            schema: d
                .schema
                .as_ref()
                .and_then(|s| serde_json::to_string_pretty(s).ok())
                .unwrap_or_default(),
            licence: d.licence.clone(),
            confirm: None,
        }
    }

    /// The validated details, or the first problem as a sentence.
    fn details(&self) -> Result<ProductDetails, String> {
        let title = Title::parse(&self.title).map_err(|e| format!("Title: {}", e.message))?;
        let kind = ProductKind::parse(if self.kind.is_empty() {
            "sensor"
        } else {
            &self.kind
        })
        .map_err(|e| format!("Kind: {}", e.message))?;
        let plan = self.plan()?;
        let location = match (self.lat.trim(), self.lon.trim()) {
            ("", "") => None,
            (lat, lon) => {
                let bad = || {
                    "Location: give latitude and longitude as numbers, e.g. 48.137 and 11.575"
                        .to_owned()
                };
                let lat: f64 = lat.parse().map_err(|_| bad())?;
                let lon: f64 = lon.parse().map_err(|_| bad())?;
                Some(Location::new(lat, lon).map_err(|e| format!("Location: {}", e.message))?)
            }
        };
        let tags = self
            .tags
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| Tag::parse(t).map_err(|e| format!("Tags: {}", e.message)))
            .collect::<Result<Vec<_>, _>>()?;
        let declared_rate_secs = match self.rate.trim() {
            "" => None,
            r => Some(r.parse::<u32>().map_err(|_| {
                "Declared rate: seconds between messages, a whole number".to_owned()
            })?),
        };
        let schema = match self.schema.trim() {
            "" => None,
            s => Some(
                serde_json::from_str(s).map_err(|e| format!("Payload schema: not JSON ({e})"))?,
            ),
        };
        ProductDetails {
            title,
            description: self.description.trim().to_owned(),
            kind,
            restricted: self.restricted.is_some(),
            plan,
            location,
            tags,
            declared_rate_secs,
            schema,
            licence: self.licence.trim().to_owned(),
        }
        .validate()
        .map_err(|e| format!("{}: {}", capital(e.field), e.message))
    }

    fn plan(&self) -> Result<Plan, String> {
        let price = || {
            parse_price(&self.price)
                .and_then(|c| Price::from_cents(c).map_err(|e| e.message))
                .map_err(|e| format!("Price: {e}"))
        };
        match self.plan.as_str() {
            "" | "free" => Ok(Plan::Free),
            "period" => {
                let days: u32 = self
                    .days
                    .trim()
                    .parse()
                    .map_err(|_| "Days: a whole number of days".to_owned())?;
                Plan::period(days, price()?).map_err(|e| format!("Plan: {}", e.message))
            }
            "messages" => {
                let count: u64 = self
                    .count
                    .trim()
                    .parse()
                    .map_err(|_| "Messages: a whole number of messages".to_owned())?;
                Plan::messages(count, price()?).map_err(|e| format!("Plan: {}", e.message))
            }
            _ => Err("Plan: choose free, per period or per messages".into()),
        }
    }
}

fn capital(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

/// "2.50" → 250 cents; "3" → 300; "0.5" → 50.
pub fn parse_price(s: &str) -> Result<i64, String> {
    let s = s.trim();
    let bad = || "write an amount such as 2.50".to_owned();
    if s.is_empty() {
        return Err(bad());
    }
    let (whole, frac) = s.split_once(['.', ',']).unwrap_or((s, ""));
    if whole.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    if !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || whole.len() > 12
    {
        return Err(bad());
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().map_err(|_| bad())?
    };
    let frac: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().map_err(|_| bad())? * 10,
        _ => frac.parse().map_err(|_| bad())?,
    };
    whole
        .checked_mul(100)
        .and_then(|w| w.checked_add(frac))
        .ok_or_else(bad)
}

#[derive(Template)]
#[template(path = "product_form.html")]
struct FormPage {
    nav: Nav,
    tab: &'static str,
    pending_sales: u64,
    editing: bool,
    action: String,
    hubs: Vec<String>,
    f: ProductForm,
    error: Option<String>,
    url: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct NewQuery {
    hub: String,
}

async fn form_page(
    state: &UiState,
    user: &User,
    editing: bool,
    f: ProductForm,
    error: Option<String>,
) -> UiResult<FormPage> {
    let hubs = state
        .store()
        .list_hubs(&user.actor, &PageRequest::first(100))
        .await?
        .items
        .into_iter()
        .map(|h| h.name.as_str().to_owned())
        .collect();
    let (nav, pending_sales) = chrome(state, user).await;
    let action = if editing {
        format!("/dashboard/products/{}/{}/edit", f.hub, f.name)
    } else {
        "/dashboard/products/new".to_owned()
    };
    Ok(FormPage {
        nav,
        tab: Tab::Products.as_str(),
        pending_sales,
        editing,
        url: format!(
            "/products/{}/{}/{}",
            user.account.name.as_str(),
            f.hub,
            f.name
        ),
        action,
        hubs,
        f,
        error,
    })
}

async fn new_form(
    State(state): State<UiState>,
    user: User,
    Query(q): Query<NewQuery>,
) -> UiResult<Response> {
    let f = ProductForm {
        hub: q.hub,
        kind: "sensor".into(),
        plan: "free".into(),
        ..ProductForm::default()
    };
    render(&form_page(&state, &user, false, f, None).await?)
}

async fn create(
    State(state): State<UiState>,
    user: User,
    Form(f): Form<ProductForm>,
) -> UiResult<Response> {
    let problem = async |f: ProductForm, e: String| {
        render_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form_page(&state, &user, false, f, Some(e)).await?,
        )
    };
    let Ok(hub) = HubName::parse(f.hub.trim()) else {
        return problem(f, "Hub: choose one of your hubs".into()).await;
    };
    let name = match ProductName::parse(f.name.trim()) {
        Ok(n) => n,
        Err(e) => return problem(f, format!("Name: {}", e.message)).await,
    };
    let details = match f.details() {
        Ok(d) => d,
        Err(e) => return problem(f, e).await,
    };
    let owner = user.account.name.clone();
    match state
        .store()
        .create_product(&user.actor, &owner, &hub, &name, details)
        .await
    {
        Ok(p) => Ok(see_other_with(
            &product_url(&p.topic),
            "Product created. Devices of its hub may now publish to its topic.",
            state.settings().secure_cookies,
        )),
        Err(StoreError::Conflict { .. }) => {
            let e = format!(
                "Hub {} already has a product named {}.",
                hub.as_str(),
                name.as_str()
            );
            problem(f, e).await
        }
        Err(StoreError::NotFound { .. }) => problem(f, "Hub: choose one of your hubs".into()).await,
        Err(StoreError::Invalid(e)) => problem(f, e.to_string()).await,
        Err(e) => Err(e.into()),
    }
}

async fn edit_form(
    State(state): State<UiState>,
    user: User,
    Path((hub, name)): Path<(String, String)>,
) -> UiResult<Response> {
    let topic = topic_from(user.account.name.as_str(), &hub, &name)?;
    let p = state.store().get_product(&topic).await?;
    render(&form_page(&state, &user, true, ProductForm::of(&p), None).await?)
}

async fn update(
    State(state): State<UiState>,
    user: User,
    Path((hub, name)): Path<(String, String)>,
    Form(mut f): Form<ProductForm>,
) -> UiResult<Response> {
    let topic = topic_from(user.account.name.as_str(), &hub, &name)?;
    // The path names the product; whatever the body says of hub and name is ignored.
    f.hub = topic.hub.as_str().to_owned();
    f.name = topic.name.as_str().to_owned();
    let d = match f.details() {
        Ok(d) => d,
        Err(e) => {
            return render_status(
                StatusCode::UNPROCESSABLE_ENTITY,
                &form_page(&state, &user, true, f, Some(e)).await?,
            );
        }
    };
    let patch = ProductPatch {
        title: Some(d.title),
        description: Some(d.description),
        kind: Some(d.kind),
        restricted: Some(d.restricted),
        plan: Some(d.plan),
        location: Some(d.location),
        tags: Some(d.tags),
        declared_rate_secs: Some(d.declared_rate_secs),
        schema: Some(d.schema),
        licence: Some(d.licence),
    };
    state
        .store()
        .update_product(&user.actor, &topic, &patch)
        .await?;
    Ok(see_other_with(
        &product_url(&topic),
        "Product saved.",
        state.settings().secure_cookies,
    ))
}

async fn delete(
    State(state): State<UiState>,
    user: User,
    Path((hub, name)): Path<(String, String)>,
    Form(f): Form<ProductForm>,
) -> UiResult<Response> {
    let topic = topic_from(user.account.name.as_str(), &hub, &name)?;
    let p = state.store().get_product(&topic).await?;
    if p.owner_id != user.actor.id {
        return Err(UiError::NotFound("product"));
    }
    if !confirmed(f.confirm.as_deref()) {
        return confirm_page(
            &state,
            &user,
            Confirm {
                title: format!("Delete product {topic}?"),
                message:
                    "It leaves the catalogue, its live purchases are revoked and their buyers are \
             notified. Sales history and ratings stay."
                        .into(),
                action: format!(
                    "/dashboard/products/{}/{}/delete",
                    topic.hub.as_str(),
                    topic.name.as_str()
                ),
                button: "Delete product",
                fields: vec![],
                back: "/dashboard/products",
            },
        )
        .await;
    }
    state.store().delete_product(&user.actor, &topic).await?;
    Ok(see_other_with(
        "/dashboard/products",
        &format!("Product {topic} deleted."),
        state.settings().secure_cookies,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_are_read_as_money() {
        assert_eq!(parse_price("2.50"), Ok(250));
        assert_eq!(parse_price("3"), Ok(300));
        assert_eq!(parse_price("0,5"), Ok(50));
        assert_eq!(parse_price(".99"), Ok(99));
        assert!(parse_price("1.234").is_err());
        assert!(parse_price("-1").is_err());
        assert!(parse_price("").is_err());
        assert!(parse_price("1e5").is_err());
    }
}
