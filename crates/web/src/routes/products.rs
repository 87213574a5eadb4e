//! `GET·POST /products` · `GET·PATCH·DELETE /products/{owner}/{hub}/{name}`: data products,
//! and the catalogue search.
//!
//! A product is the MQTT topic `owner/hub/name` and the tree below it. Editing never
//! changes its topic or hub (the body of a PATCH cannot even name them); deleting keeps its
//! sales history and ends its live purchases.

use agora_market::{
    AccountName, HubName, Location, Plan, Price, Product, ProductDetails, ProductKind, ProductName,
    Tag, Title, ValidationError,
};
use agora_store::{ProductPatch, ProductQuery, ProductSort};
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, double_option, invalid, page, page_request, topic_from_path};

/// The product routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(search_products, create_product))
        .routes(routes!(get_product, update_product, delete_product))
}

/// What a product is for (decides the MQTT rights of its buyers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Data: buyers receive `T` and `T/…`.
    Sensor,
    /// Commands: buyers also publish to `T/cmd/…`.
    Actuator,
    /// Both.
    Both,
}

impl From<Kind> for ProductKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Sensor => Self::Sensor,
            Kind::Actuator => Self::Actuator,
            Kind::Both => Self::Both,
        }
    }
}

impl From<ProductKind> for Kind {
    fn from(k: ProductKind) -> Self {
        match k {
            ProductKind::Sensor => Self::Sensor,
            ProductKind::Actuator => Self::Actuator,
            ProductKind::Both => Self::Both,
        }
    }
}

/// How a product is sold (no real money moves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum PlanView {
    /// No charge, no end.
    #[default]
    Free,
    /// `price_cents` per `days` days.
    Period {
        /// Days per purchase, 1–3650.
        days: u32,
        /// Price per period in cents.
        price_cents: i64,
    },
    /// `price_cents` per `count` delivered messages.
    Messages {
        /// Messages per purchase, 1–1 000 000 000.
        count: u64,
        /// Price per bundle in cents.
        price_cents: i64,
    },
}

impl From<Plan> for PlanView {
    fn from(p: Plan) -> Self {
        match p {
            Plan::Free => Self::Free,
            Plan::Period { days, price } => Self::Period {
                days,
                price_cents: price.cents(),
            },
            Plan::Messages { count, price } => Self::Messages {
                count,
                price_cents: price.cents(),
            },
        }
    }
}

fn plan(p: PlanView) -> Result<Plan, ValidationError> {
    let price = |c| Price::from_cents(c).map_err(|e| e.with_field("plan.price_cents"));
    match p {
        PlanView::Free => Ok(Plan::Free),
        PlanView::Period { days, price_cents } => Plan::period(days, price(price_cents)?),
        PlanView::Messages { count, price_cents } => Plan::messages(count, price(price_cents)?),
    }
}

/// A point on Earth.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LocationView {
    /// Latitude, −90..90.
    pub lat: f64,
    /// Longitude, −180..180.
    pub lon: f64,
}

fn location(l: LocationView) -> Result<Location, ValidationError> {
    Location::new(l.lat, l.lon).map_err(|e| {
        let field = if e.field == "lon" {
            "location.lon"
        } else {
            "location.lat"
        };
        e.with_field(field)
    })
}

fn tags(tags: &[String]) -> Result<Vec<Tag>, ValidationError> {
    tags.iter().map(|t| Tag::parse(t)).collect()
}

/// A product as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"id": "01935c53-0000-7000-8000-000000000003", "topic": "alice/home/temp", "owner": "alice", "hub": "home", "name": "temp", "title": "Living-room temperature", "description": "°C every 5 s", "kind": "sensor", "restricted": false, "plan": {"type": "free"}, "location": {"lat": 48.8566, "lon": 2.3522}, "tags": ["temperature"], "declared_rate_secs": 5, "schema": null, "licence": "CC-BY-4.0", "rating_avg": 4.5, "rating_count": 2, "created_at": "2026-12-03T06:34:00Z", "updated_at": "2026-12-03T06:34:00Z", "liveness": {"last_data_at": "2026-12-03T06:59:55Z", "measured_interval_secs": 5.02, "published_messages": 1440, "published_bytes": 57600}}))]
pub struct ProductView {
    /// Its id.
    pub id: Uuid,
    /// Its MQTT topic, `owner/hub/name`; the product owns this topic and the tree below.
    pub topic: String,
    /// The seller.
    pub owner: String,
    /// The hub.
    pub hub: String,
    /// The product's name in the hub.
    pub name: String,
    /// Short title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Sensor, actuator or both.
    pub kind: Kind,
    /// Whether purchases need the seller's approval.
    pub restricted: bool,
    /// Plan and price.
    pub plan: PlanView,
    /// Where the data comes from.
    pub location: Option<LocationView>,
    /// Tags.
    pub tags: Vec<String>,
    /// Declared rate: one message every this many seconds.
    pub declared_rate_secs: Option<u32>,
    /// JSON schema of the payloads.
    pub schema: Option<serde_json::Value>,
    /// Licence text.
    pub licence: String,
    /// Average stars (verified buyers only).
    pub rating_avg: Option<f64>,
    /// Number of ratings.
    pub rating_count: u32,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last edited.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Distance from `near` in km (searches with `near` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distance_km: Option<f64>,
    /// When data last arrived and how often it comes (`GET` of one product only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub liveness: Option<LivenessView>,
}

/// What the broker measured of a product, beside what the seller declared.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"last_data_at": "2026-12-03T06:59:55Z", "measured_interval_secs": 5.02, "published_messages": 1440, "published_bytes": 57600}))]
pub struct LivenessView {
    /// When the product last received data; `null` if never.
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_data_at: Option<OffsetDateTime>,
    /// Measured seconds between messages (compare `declared_rate_secs`).
    pub measured_interval_secs: Option<f64>,
    /// Messages published in all.
    pub published_messages: u64,
    /// Bytes published in all.
    pub published_bytes: u64,
}

impl From<agora_store::ProductActivity> for LivenessView {
    fn from(a: agora_store::ProductActivity) -> Self {
        Self {
            last_data_at: a.last_data_at,
            measured_interval_secs: a.measured_interval_secs,
            published_messages: a.published_messages,
            published_bytes: a.published_bytes,
        }
    }
}

impl ProductView {
    fn new(p: Product, distance_km: Option<f64>) -> Self {
        let d = p.details;
        Self {
            id: p.id.0,
            topic: p.topic.to_string(),
            owner: p.topic.owner.to_string(),
            hub: p.topic.hub.to_string(),
            name: p.topic.name.to_string(),
            title: d.title.as_str().to_owned(),
            description: d.description,
            kind: d.kind.into(),
            restricted: d.restricted,
            plan: d.plan.into(),
            location: d.location.map(|l| LocationView {
                lat: l.lat(),
                lon: l.lon(),
            }),
            tags: d.tags.iter().map(|t| t.as_str().to_owned()).collect(),
            declared_rate_secs: d.declared_rate_secs,
            schema: d.schema,
            licence: d.licence,
            rating_avg: p.rating_avg,
            rating_count: p.rating_count,
            created_at: p.created_at,
            updated_at: p.updated_at,
            distance_km,
            liveness: None,
        }
    }
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self::new(p, None)
    }
}

/// A new product.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProduct {
    /// The hub: `home` (one of the caller's) or `owner/home`.
    pub hub: String,
    /// 1–64 of `A-Z a-z 0-9 _ -`, unique in the hub; the last level of the topic.
    pub name: String,
    /// 1–120 characters.
    pub title: String,
    /// Up to 10 000 characters.
    #[serde(default)]
    pub description: String,
    /// Default `sensor`.
    #[serde(default = "default_kind")]
    pub kind: Kind,
    /// Purchases need the seller's approval; default `false`.
    #[serde(default)]
    pub restricted: bool,
    /// Default `{"type": "free"}`.
    #[serde(default)]
    pub plan: PlanView,
    /// Optional location.
    #[serde(default)]
    pub location: Option<LocationView>,
    /// Up to 10 tags of `a-z 0-9 -`.
    #[serde(default)]
    pub tags: Vec<String>,
    /// One message every this many seconds (1 s – 7 days).
    #[serde(default)]
    pub declared_rate_secs: Option<u32>,
    /// A JSON Schema (object) of the payloads, up to 64 KiB.
    #[serde(default)]
    pub schema: Option<serde_json::Value>,
    /// Licence text.
    #[serde(default)]
    pub licence: String,
}

fn default_kind() -> Kind {
    Kind::Sensor
}

/// Changes to a product; omitted fields stay, `null` clears the nullable ones. The topic,
/// hub and name cannot change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductChanges {
    /// New title.
    #[serde(default)]
    pub title: Option<String>,
    /// New description.
    #[serde(default)]
    pub description: Option<String>,
    /// New kind.
    #[serde(default)]
    pub kind: Option<Kind>,
    /// New approval rule (for purchases from now on).
    #[serde(default)]
    pub restricted: Option<bool>,
    /// New plan (for purchases from now on).
    #[serde(default)]
    pub plan: Option<PlanView>,
    /// New location, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<LocationView>)]
    pub location: Option<Option<LocationView>>,
    /// New tags (replacing all).
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    /// New declared rate, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<u32>)]
    pub declared_rate_secs: Option<Option<u32>>,
    /// New schema, or `null` to clear it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Object>)]
    pub schema: Option<Option<serde_json::Value>>,
    /// New licence text.
    #[serde(default)]
    pub licence: Option<String>,
}

/// `home` → the caller's hub; `owner/home` → that owner's hub (the store checks the caller
/// may manage it).
fn hub_ref(caller: &Caller, s: &str) -> Result<(AccountName, HubName), ApiError> {
    let (owner, hub) = match s.split_once('/') {
        Some((owner, hub)) => (
            AccountName::parse(owner).map_err(|e| invalid(e.with_field("hub")))?,
            hub,
        ),
        None => (caller.account.name.clone(), s),
    };
    let hub = HubName::parse(hub).map_err(|e| invalid(e.with_field("hub")))?;
    Ok((owner, hub))
}

/// Create a product in one of the caller's hubs.
#[utoipa::path(
    post, path = "/products", tag = "products",
    security(("bearer" = [])),
    request_body(content = NewProduct, example = json!({"hub": "home", "name": "temp", "title": "Living-room temperature", "description": "°C every 5 s", "kind": "sensor", "plan": {"type": "period", "days": 30, "price_cents": 500}, "location": {"lat": 48.8566, "lon": 2.3522}, "tags": ["temperature"], "declared_rate_secs": 5, "licence": "CC-BY-4.0"})),
    responses(
        (status = 201, description = "Created", body = ProductView),
        (status = 404, description = "Not the caller's hub", body = ErrorBody),
        (status = 409, description = "The hub has a product of this name", body = ErrorBody,
            example = json!({"error": {"code": "conflict", "message": "this hub already has a product of this name", "field": "name"}})),
        (status = 422, description = "A field breaks a rule", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "must not contain '#' (an MQTT wildcard); allowed are A-Z a-z 0-9 _ -", "field": "name"}})),
    )
)]
async fn create_product(
    State(state): State<ApiState>,
    caller: Caller,
    Json(body): Json<NewProduct>,
) -> ApiResult<(StatusCode, axum::Json<ProductView>)> {
    let (owner, hub) = hub_ref(&caller, &body.hub)?;
    let name = ProductName::parse(&body.name).map_err(|e| invalid(e.with_field("name")))?;
    let details = ProductDetails {
        title: Title::parse(&body.title).map_err(invalid)?,
        description: body.description,
        kind: body.kind.into(),
        restricted: body.restricted,
        plan: plan(body.plan).map_err(invalid)?,
        location: body.location.map(location).transpose().map_err(invalid)?,
        tags: tags(&body.tags).map_err(invalid)?,
        declared_rate_secs: body.declared_rate_secs,
        schema: body.schema,
        licence: body.licence,
    }
    .validate()
    .map_err(invalid)?;
    let product = state
        .store()
        .create_product(&caller.actor, &owner, &hub, &name, details)
        .await
        .api()?;
    Ok((StatusCode::CREATED, axum::Json(product.into())))
}

/// Search filters of `GET /products`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchParams {
    /// Words to find in title, description or topic (case-insensitive).
    pub q: Option<String>,
    /// Only this seller's products.
    pub owner: Option<String>,
    /// Only this hub's products: `home` (with `owner`, or any owner's) or `owner/home`.
    pub hub: Option<String>,
    /// `sensor`, `actuator` or `both`.
    pub kind: Option<String>,
    /// `true`: only products that need approval; `false`: only those that do not.
    pub restricted: Option<bool>,
    /// Only products with this tag.
    pub tag: Option<String>,
    /// `lat,lon,km`: only products within km of the point, each with its `distance_km`.
    #[param(example = "48.85,2.35,25")]
    pub near: Option<String>,
    /// `newest` (default), `title`, `price_asc`, `price_desc`, `rating`, `distance` (needs
    /// `near`).
    pub sort: Option<String>,
}

fn near(s: &str) -> Result<(Location, f64), ApiError> {
    let bad = || ApiError::validation("near", "must be lat,lon,km (e.g. 48.85,2.35,25)");
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let [lat, lon, km] = parts.as_slice() else {
        return Err(bad());
    };
    let lat: f64 = lat.parse().map_err(|_| bad())?;
    let lon: f64 = lon.parse().map_err(|_| bad())?;
    let km: f64 = km.parse().map_err(|_| bad())?;
    let at = Location::new(lat, lon).map_err(|e| ApiError::validation("near", e.message))?;
    if !(km.is_finite() && km > 0.0) {
        return Err(ApiError::validation(
            "near",
            "the radius must be a positive number of km",
        ));
    }
    Ok((at, km))
}

impl SearchParams {
    fn query(self) -> Result<ProductQuery, ApiError> {
        let mut owner = self
            .owner
            .as_deref()
            .map(AccountName::parse)
            .transpose()
            .map_err(|e| invalid(e.with_field("owner")))?;
        let hub = match self.hub.as_deref() {
            None => None,
            Some(h) => {
                let name = match h.split_once('/') {
                    Some((o, name)) => {
                        owner =
                            Some(AccountName::parse(o).map_err(|e| invalid(e.with_field("hub")))?);
                        name
                    }
                    None => h,
                };
                Some(HubName::parse(name).map_err(|e| invalid(e.with_field("hub")))?)
            }
        };
        let near = self.near.as_deref().map(near).transpose()?;
        let sort = match self.sort.as_deref() {
            Some(s) => ProductSort::parse(s).map_err(invalid)?,
            // Nearest first is what a search around a point means unless told otherwise.
            None if near.is_some() => ProductSort::Distance,
            None => ProductSort::Newest,
        };
        Ok(ProductQuery {
            q: self.q.filter(|q| !q.trim().is_empty()),
            owner,
            hub,
            kind: self
                .kind
                .as_deref()
                .map(ProductKind::parse)
                .transpose()
                .map_err(|e| invalid(e.with_field("kind")))?,
            restricted: self.restricted,
            tag: self
                .tag
                .as_deref()
                .map(Tag::parse)
                .transpose()
                .map_err(|e| invalid(e.with_field("tag")))?,
            near,
            sort,
        })
    }
}

/// Search the catalogue (no token needed).
#[utoipa::path(
    get, path = "/products", tag = "products",
    params(SearchParams, PageParams),
    responses(
        (status = 200, description = "One page of products", body = Page<ProductView>,
            example = json!({"items": [{"id": "01935c53-0000-7000-8000-000000000003", "topic": "alice/home/temp", "owner": "alice", "hub": "home", "name": "temp", "title": "Living-room temperature", "description": "°C every 5 s", "kind": "sensor", "restricted": false, "plan": {"type": "free"}, "location": {"lat": 48.8566, "lon": 2.3522}, "tags": ["temperature"], "declared_rate_secs": 5, "schema": null, "licence": "CC-BY-4.0", "rating_avg": null, "rating_count": 0, "created_at": "2026-12-03T06:34:00Z", "updated_at": "2026-12-03T06:34:00Z", "distance_km": 1.2}], "next_cursor": "bzo1MA"})),
        (status = 422, description = "A bad filter", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "must be lat,lon,km (e.g. 48.85,2.35,25)", "field": "near"}})),
    )
)]
async fn search_products(
    State(state): State<ApiState>,
    Query(search): Query<SearchParams>,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<ProductView>>> {
    let query = search.query()?;
    let found = state
        .store()
        .search_products(&query, &page_request(params)?)
        .await
        .api()?;
    Ok(axum::Json(page(found, |(p, d)| ProductView::new(p, d))))
}

/// The product path parameters.
type ProductPath = Path<(String, String, String)>;

/// A product, with its liveness (no token needed).
#[utoipa::path(
    get, path = "/products/{owner}/{hub}/{name}", tag = "products",
    params(("owner" = String, Path, description = "Seller"), ("hub" = String, Path, description = "Hub"), ("name" = String, Path, description = "Product")),
    responses(
        (status = 200, description = "The product", body = ProductView),
        (status = 404, description = "No such product", body = ErrorBody,
            example = json!({"error": {"code": "not_found", "message": "no such product", "field": null}})),
    )
)]
async fn get_product(
    State(state): State<ApiState>,
    Path((owner, hub, name)): ProductPath,
) -> ApiResult<axum::Json<ProductView>> {
    let topic = topic_from_path(&owner, &hub, &name)?;
    let product = state.store().get_product(&topic).await.api()?;
    let activity = state.store().product_activity(product.id).await.api()?;
    let mut view = ProductView::from(product);
    view.liveness = Some(activity.into());
    Ok(axum::Json(view))
}

/// Edit a product (owner only); its topic and hub never change.
#[utoipa::path(
    patch, path = "/products/{owner}/{hub}/{name}", tag = "products",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Seller"), ("hub" = String, Path, description = "Hub"), ("name" = String, Path, description = "Product")),
    request_body(content = ProductChanges, example = json!({"title": "Kitchen temperature", "restricted": true, "location": null})),
    responses(
        (status = 200, description = "The edited product", body = ProductView),
        (status = 404, description = "Not the caller's product", body = ErrorBody),
        (status = 422, description = "A field breaks a rule, or names the topic", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "unknown field `topic`, expected one of `title`, `description`, `kind`, `restricted`, `plan`, `location`, `tags`, `declared_rate_secs`, `schema`, `licence`", "field": "topic"}})),
    )
)]
async fn update_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, name)): ProductPath,
    Json(body): Json<ProductChanges>,
) -> ApiResult<axum::Json<ProductView>> {
    let topic = topic_from_path(&owner, &hub, &name)?;
    let patch = ProductPatch {
        title: body
            .title
            .as_deref()
            .map(Title::parse)
            .transpose()
            .map_err(invalid)?,
        description: body.description,
        kind: body.kind.map(Into::into),
        restricted: body.restricted,
        plan: body.plan.map(plan).transpose().map_err(invalid)?,
        location: body
            .location
            .map(|l| l.map(location).transpose())
            .transpose()
            .map_err(invalid)?,
        tags: body
            .tags
            .as_deref()
            .map(tags)
            .transpose()
            .map_err(invalid)?,
        declared_rate_secs: body.declared_rate_secs,
        schema: body.schema,
        licence: body.licence,
    };
    let product = state
        .store()
        .update_product(&caller.actor, &topic, &patch)
        .await
        .api()?;
    Ok(axum::Json(product.into()))
}

/// Delete a product (owner only). Its live purchases end (buyers are notified and cut off);
/// its sales history stays.
#[utoipa::path(
    delete, path = "/products/{owner}/{hub}/{name}", tag = "products",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Seller"), ("hub" = String, Path, description = "Hub"), ("name" = String, Path, description = "Product")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "Not the caller's product", body = ErrorBody),
    )
)]
async fn delete_product(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, name)): ProductPath,
) -> ApiResult<StatusCode> {
    let topic = topic_from_path(&owner, &hub, &name)?;
    state
        .store()
        .delete_product(&caller.actor, &topic)
        .await
        .api()?;
    Ok(StatusCode::NO_CONTENT)
}
