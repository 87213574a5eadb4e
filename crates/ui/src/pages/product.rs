//! `/products/{owner}/{hub}/{name}`: one product — what it is, its plan, where it is, its
//! liveness (declared against measured rate, last message), ratings, and the way in: buy
//! (or request access with a message, for restricted products), then the exact MQTT topic,
//! host, port and a `mosquitto_sub` line to paste. `…/buy` and `…/rate` take the forms.

use agora_market::{
    AccountName, HubName, ProductName, ProductTopic, Purchase, PurchaseState, Stars,
};
use agora_store::PageRequest;
use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use time::OffsetDateTime;

use crate::UiState;
use crate::error::{UiError, UiResult};
use crate::format;
use crate::pages::{Nav, product_url, render, see_other_with};
use crate::session::{Form, User, Visitor};

/// The product routes.
pub fn router() -> Router<UiState> {
    Router::new()
        .route("/products/{owner}/{hub}/{name}", get(page))
        .route("/products/{owner}/{hub}/{name}/buy", post(buy))
        .route("/products/{owner}/{hub}/{name}/rate", post(rate))
}

/// The topic named by a product path; a malformed name is simply not found.
pub fn topic_from(owner: &str, hub: &str, name: &str) -> UiResult<ProductTopic> {
    let nf = |_| UiError::NotFound("product");
    Ok(ProductTopic::new(
        AccountName::parse_exact(owner).map_err(nf)?,
        HubName::parse(hub).map_err(nf)?,
        ProductName::parse(name).map_err(nf)?,
    ))
}

/// One review as shown.
struct Review {
    buyer: String,
    stars: String,
    text: Option<String>,
    when: String,
}

/// What the visitor has of this product.
struct Mine {
    state: &'static str,
    left: String,
    ever_active: bool,
    live: bool,
    pending: bool,
}

#[derive(Template)]
#[template(path = "product.html")]
struct ProductPage {
    nav: Nav,
    url: String,
    title: String,
    topic: String,
    owner: String,
    hub: String,
    name: String,
    description: String,
    kind: &'static str,
    takes_commands: bool,
    plan: String,
    restricted: bool,
    location: Option<String>,
    map_link: Option<String>,
    tags: Vec<String>,
    declared_rate: Option<String>,
    measured_rate: Option<String>,
    last_data: Option<String>,
    last_data_exact: Option<String>,
    published: String,
    schema: Option<String>,
    licence: String,
    rating: Option<String>,
    reviews: Vec<Review>,
    is_owner: bool,
    mine: Option<Mine>,
    live: bool,
    pending: bool,
    can_watch: bool,
    mqtt_host: String,
    mqtt_port: Option<u16>,
    mqtts_port: Option<u16>,
    username: String,
    sub_line: Option<String>,
    subs_line: Option<String>,
    pub_line: Option<String>,
    created: String,
}

async fn page(
    State(state): State<UiState>,
    visitor: Visitor,
    Path((owner, hub, name)): Path<(String, String, String)>,
) -> UiResult<Response> {
    let topic = topic_from(&owner, &hub, &name)?;
    let store = state.store();
    let p = store.get_product(&topic).await?;
    let activity = store.product_activity(p.id).await?;
    let ratings = store.list_ratings(&topic, &PageRequest::first(20)).await?;
    let now = OffsetDateTime::now_utc();
    let actor = visitor.actor();
    let is_owner = actor.as_ref().is_some_and(|a| a.id == p.owner_id);
    let mine = match &actor {
        Some(a) if !is_owner => {
            let purchases = store.list_purchases_of(a, &topic).await?;
            best_purchase(purchases.iter(), now).map(|x| {
                let ever_active = purchases.iter().any(|y| y.started_at.is_some());
                Mine {
                    state: x.state.as_str(),
                    left: format::left(x, now),
                    ever_active,
                    live: x.is_live(now),
                    pending: x.state == PurchaseState::Pending,
                }
            })
        }
        _ => None,
    };
    let s = state.settings();
    let username = visitor
        .account
        .as_ref()
        .map_or_else(|| "YOUR_NAME".to_owned(), |a| a.name.as_str().to_owned());
    let filter = topic.tree_filter();
    let sub_line = s.mqtt_port.map(|port| {
        format!(
            "mosquitto_sub -h {} -p {port} -u {username} -P 'YOUR_ACCESS_KEY' -t '{filter}' -v",
            s.mqtt_host
        )
    });
    let subs_line = s.mqtts_port.map(|port| {
        format!(
            "mosquitto_sub -h {} -p {port} --cafile agora-data/tls/cert.pem -u {username} -P 'YOUR_ACCESS_KEY' -t '{filter}' -v",
            s.mqtt_host
        )
    });
    let pub_line = (p.details.kind.takes_commands())
        .then(|| s.mqtt_port.or(s.mqtts_port))
        .flatten()
        .map(|port| {
            format!(
                "mosquitto_pub -h {} -p {port} -u {username} -P 'YOUR_ACCESS_KEY' -t '{}' -m 'on'",
                s.mqtt_host,
                topic.command_topic()
            )
        });
    let d = &p.details;
    let tpl = ProductPage {
        nav: Nav::of(&visitor, &state, "product").await,
        url: product_url(&topic),
        title: d.title.as_str().to_owned(),
        topic: topic.to_string(),
        owner: topic.owner.as_str().to_owned(),
        hub: topic.hub.as_str().to_owned(),
        name: topic.name.as_str().to_owned(),
        description: d.description.clone(),
        kind: d.kind.as_str(),
        takes_commands: d.kind.takes_commands(),
        plan: format::plan(&d.plan),
        restricted: d.restricted,
        location: d
            .location
            .map(|l| format!("{:.5}, {:.5}", l.lat(), l.lon())),
        map_link: d
            .location
            .map(|l| format!("/map?near={:.5},{:.5},50", l.lat(), l.lon())),
        tags: d.tags.iter().map(|t| t.as_str().to_owned()).collect(),
        declared_rate: d.declared_rate_secs.map(|r| format::rate(f64::from(r))),
        measured_rate: activity.measured_interval_secs.map(format::rate),
        last_data: activity.last_data_at.map(|t| format::ago(t, now)),
        last_data_exact: activity.last_data_at.map(format::when),
        published: format!(
            "{} ({})",
            format::plural(activity.published_messages, "message", "messages"),
            format::bytes(activity.published_bytes)
        ),
        schema: d
            .schema
            .as_ref()
            .and_then(|v| serde_json::to_string_pretty(v).ok()),
        licence: d.licence.clone(),
        rating: format::stars(p.rating_avg, p.rating_count),
        reviews: ratings
            .items
            .iter()
            .map(|r| Review {
                buyer: r.buyer.as_str().to_owned(),
                stars: format!(
                    "{}{}",
                    "★".repeat(usize::from(r.stars.get())),
                    "☆".repeat(5 - usize::from(r.stars.get().min(5)))
                ),
                text: r.review.clone(),
                when: format::when(r.updated_at),
            })
            .collect(),
        is_owner,
        live: mine.as_ref().is_some_and(|m| m.live),
        can_watch: is_owner || mine.as_ref().is_some_and(|m| m.live),
        pending: mine.as_ref().is_some_and(|m| m.pending),
        mine,
        mqtt_host: s.mqtt_host.clone(),
        mqtt_port: s.mqtt_port,
        mqtts_port: s.mqtts_port,
        username,
        sub_line,
        subs_line,
        pub_line,
        created: format::when(p.created_at),
    };
    render(&tpl)
}

/// The purchase that says most about the visitor's access: a live one, else a pending
/// request, else the newest.
fn best_purchase<'a>(
    mut all: impl Iterator<Item = &'a Purchase> + Clone,
    now: OffsetDateTime,
) -> Option<&'a Purchase> {
    all.clone()
        .find(|p| p.is_live(now))
        .or_else(|| all.clone().find(|p| p.state == PurchaseState::Pending))
        .or_else(|| all.next())
}

#[derive(Debug, Deserialize)]
struct BuyForm {
    #[serde(default)]
    message: String,
}

async fn buy(
    State(state): State<UiState>,
    user: User,
    Path((owner, hub, name)): Path<(String, String, String)>,
    Form(form): Form<BuyForm>,
) -> UiResult<Response> {
    let topic = topic_from(&owner, &hub, &name)?;
    let message = Some(form.message.trim()).filter(|m| !m.is_empty());
    let p = state.store().purchase(&user.actor, &topic, message).await?;
    let text = match p.state {
        PurchaseState::Pending => {
            "Request sent. The seller will approve or decline it; you will be notified."
        }
        _ => "Bought. Create an access key on your dashboard and subscribe with the line below.",
    };
    Ok(see_other_with(
        &product_url(&topic),
        text,
        state.settings().secure_cookies,
    ))
}

#[derive(Debug, Deserialize)]
struct RateForm {
    #[serde(default)]
    stars: String,
    #[serde(default)]
    review: String,
}

async fn rate(
    State(state): State<UiState>,
    user: User,
    Path((owner, hub, name)): Path<(String, String, String)>,
    Form(form): Form<RateForm>,
) -> UiResult<Response> {
    let topic = topic_from(&owner, &hub, &name)?;
    let n: i64 = form
        .stars
        .trim()
        .parse()
        .map_err(|_| UiError::Invalid("choose 1 to 5 stars".into()))?;
    let stars = Stars::new(n)?;
    let review = Some(form.review.trim()).filter(|r| !r.is_empty());
    state
        .store()
        .rate(&user.actor, &topic, stars, review)
        .await?;
    Ok(see_other_with(
        &product_url(&topic),
        "Thank you for your rating.",
        state.settings().secure_cookies,
    ))
}
