//! Products: create, read, edit (never the topic or hub), soft delete, and search.

use agora_market::{
    AccountName, Actor, HubName, Location, MarketEvent, Party, Plan, Product, ProductDetails,
    ProductId, ProductKind, ProductName, ProductTopic, PurchaseAction, Tag, Title,
};
use serde_json::json;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite, SqliteConnection};

use crate::error::conflict_on;
use crate::page::{Page, PageRequest};
use crate::rows::{self, ts};
use crate::{Result, Store, StoreError, audit, hubs, purchases};

/// The product columns plus rating aggregates; `p` is products, `a` the owner's account.
pub(crate) const SELECT: &str = "SELECT p.*,
    (SELECT avg(stars) FROM ratings r WHERE r.product_id = p.id) AS rating_avg,
    (SELECT count(*) FROM ratings r WHERE r.product_id = p.id) AS rating_count
    FROM products p JOIN accounts a ON a.id = p.owner_id";

/// Changes to a product; `None` leaves a field as it is. For the optional fields,
/// `Some(None)` clears them. Topic and hub cannot change.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductPatch {
    /// New title.
    pub title: Option<Title>,
    /// New description.
    pub description: Option<String>,
    /// New kind.
    pub kind: Option<ProductKind>,
    /// New approval rule (applies to purchases made from now on).
    pub restricted: Option<bool>,
    /// New plan and price (applies to purchases made from now on).
    pub plan: Option<Plan>,
    /// New or cleared location.
    pub location: Option<Option<Location>>,
    /// New tags (replacing all).
    pub tags: Option<Vec<Tag>>,
    /// New or cleared declared rate.
    pub declared_rate_secs: Option<Option<u32>>,
    /// New or cleared payload schema.
    pub schema: Option<Option<serde_json::Value>>,
    /// New licence text.
    pub licence: Option<String>,
}

impl ProductPatch {
    fn apply(&self, mut d: ProductDetails) -> Result<ProductDetails> {
        if let Some(v) = &self.title {
            d.title = v.clone();
        }
        if let Some(v) = &self.description {
            d.description = v.clone();
        }
        if let Some(v) = self.kind {
            d.kind = v;
        }
        if let Some(v) = self.restricted {
            d.restricted = v;
        }
        if let Some(v) = self.plan {
            d.plan = v;
        }
        if let Some(v) = self.location {
            d.location = v;
        }
        if let Some(v) = &self.tags {
            d.tags = v.clone();
        }
        if let Some(v) = self.declared_rate_secs {
            d.declared_rate_secs = v;
        }
        if let Some(v) = &self.schema {
            d.schema = v.clone();
        }
        if let Some(v) = &self.licence {
            d.licence = v.clone();
        }
        Ok(d.validate()?)
    }
}

/// Search order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProductSort {
    /// Newest first (default).
    #[default]
    Newest,
    /// Title A–Z.
    Title,
    /// Cheapest first (free first).
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Best rated first.
    Rating,
    /// Nearest first; needs [`ProductQuery::near`].
    Distance,
}

impl ProductSort {
    /// Parses the API's `sort` value.
    pub fn parse(s: &str) -> Result<Self, agora_market::ValidationError> {
        Ok(match s {
            "newest" => Self::Newest,
            "title" => Self::Title,
            "price_asc" | "price" => Self::PriceAsc,
            "price_desc" => Self::PriceDesc,
            "rating" => Self::Rating,
            "distance" => Self::Distance,
            _ => {
                return Err(agora_market::ValidationError::new(
                    "sort",
                    "must be newest, title, price_asc, price_desc, rating or distance",
                ));
            }
        })
    }
}

/// Search filters, combined with AND.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductQuery {
    /// Words to find in the title, description or topic (case-insensitive substring).
    pub q: Option<String>,
    /// Only this seller's products.
    pub owner: Option<AccountName>,
    /// Only this hub's products (with `owner`, or any owner's hub of this name).
    pub hub: Option<HubName>,
    /// Only this kind.
    pub kind: Option<ProductKind>,
    /// Only restricted (`true`) or unrestricted (`false`) products.
    pub restricted: Option<bool>,
    /// Only products with this tag.
    pub tag: Option<Tag>,
    /// Only products within this many km of this point (products without a location are left
    /// out); each result's distance is returned.
    pub near: Option<(Location, f64)>,
    /// Order.
    pub sort: ProductSort,
}

/// Longest search text.
const Q_MAX: usize = 200;

/// Most candidate rows a distance search looks at; a bound on its memory.
const NEAR_CANDIDATES: i64 = 5000;

pub(crate) fn product_from_row(r: &SqliteRow) -> Result<Product> {
    let kind: String = r.try_get("kind")?;
    let plan_kind: String = r.try_get("plan_kind")?;
    let price: i64 = r.try_get("price_cents")?;
    let plan = Plan::from_parts(
        &plan_kind,
        r.try_get("plan_days")?,
        r.try_get("plan_count")?,
        (plan_kind != "free").then_some(price),
    )
    .map_err(|e| rows::corrupt_value("plan", e))?;
    let lat: Option<f64> = r.try_get("lat")?;
    let lon: Option<f64> = r.try_get("lon")?;
    let location = match (lat, lon) {
        (Some(lat), Some(lon)) => {
            Some(Location::new(lat, lon).map_err(|e| rows::corrupt_value("lat", e))?)
        }
        _ => None,
    };
    let tags: String = r.try_get("tags")?;
    let tags = tags
        .split(',')
        .filter(|t| !t.is_empty())
        .map(Tag::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| rows::corrupt_value("tags", e))?;
    let schema: Option<String> = r.try_get("payload_schema")?;
    let schema = schema
        .map(|s| serde_json::from_str(&s))
        .transpose()
        .map_err(|e| rows::corrupt_value("payload_schema", e))?;
    let rate: Option<i64> = r.try_get("declared_rate_secs")?;
    let title: String = r.try_get("title")?;
    let count: i64 = r.try_get("rating_count")?;
    Ok(Product {
        id: rows::parse(r, "id")?,
        hub_id: rows::parse(r, "hub_id")?,
        owner_id: rows::parse(r, "owner_id")?,
        topic: rows::parse(r, "topic")?,
        details: ProductDetails {
            title: Title::parse(&title).map_err(|e| rows::corrupt_value("title", e))?,
            description: r.try_get("description")?,
            kind: ProductKind::parse(&kind).map_err(|e| rows::corrupt_value("kind", e))?,
            restricted: r.try_get("restricted")?,
            plan,
            location,
            tags,
            declared_rate_secs: rate.and_then(|r| u32::try_from(r).ok()),
            schema,
            licence: r.try_get("licence")?,
        },
        rating_avg: r.try_get("rating_avg")?,
        rating_count: u32::try_from(count).unwrap_or(0),
        created_at: rows::time(r, "created_at")?,
        updated_at: rows::time(r, "updated_at")?,
    })
}

fn tags_column(tags: &[Tag]) -> String {
    let mut s = String::from(",");
    for t in tags {
        s.push_str(t.as_str());
        s.push(',');
    }
    s
}

fn plan_columns(plan: &Plan) -> (Option<i64>, Option<i64>) {
    match *plan {
        Plan::Free => (None, None),
        Plan::Period { days, .. } => (Some(i64::from(days)), None),
        Plan::Messages { count, .. } => (None, Some(rows::i64_of(count))),
    }
}

/// A live product by topic (exact, as MQTT compares), whatever its owner's state.
pub(crate) async fn find(
    conn: &mut SqliteConnection,
    topic: &ProductTopic,
) -> Result<Option<Product>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.topic = ? AND p.deleted_at IS NULL"
    )))
    .bind(topic.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(product_from_row).transpose()
}

/// A live product by id.
pub(crate) async fn find_by_id(
    conn: &mut SqliteConnection,
    id: ProductId,
) -> Result<Option<Product>> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "{SELECT} WHERE p.id = ? AND p.deleted_at IS NULL"
    )))
    .bind(id.to_string())
    .fetch_optional(conn)
    .await?;
    row.as_ref().map(product_from_row).transpose()
}

async fn find_managed(
    conn: &mut SqliteConnection,
    actor: &Actor,
    topic: &ProductTopic,
) -> Result<Product> {
    let p = find(conn, topic)
        .await?
        .ok_or(StoreError::NotFound { what: "product" })?;
    if actor.may_manage(p.owner_id) {
        Ok(p)
    } else {
        // Products are public, so pretending it does not exist would be odd: say no.
        Err(StoreError::Forbidden {
            message: "only the seller may change this product".into(),
        })
    }
}

impl Store {
    /// Creates a product in a hub the actor manages; its topic is `owner/hub/name` for
    /// life. Names are unique per hub case-insensitively.
    pub async fn create_product(
        &self,
        actor: &Actor,
        owner: &AccountName,
        hub: &HubName,
        name: &ProductName,
        details: ProductDetails,
    ) -> Result<Product> {
        let d = details.validate()?;
        let mut w = self.write_as(actor).await?;
        let h = hubs::find_managed(w.conn(), actor, owner, hub).await?;
        let topic = ProductTopic::new(h.owner.clone(), h.name.clone(), name.clone());
        let id = ProductId::new();
        let now = ts(crate::now());
        let (days, count) = plan_columns(&d.plan);
        sqlx::query(
            "INSERT INTO products (id, hub_id, owner_id, name, topic, title, description, kind, restricted, plan_kind, plan_days, plan_count,
             price_cents, lat, lon, tags, declared_rate_secs, payload_schema, licence, created_at, updated_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(id.to_string())
        .bind(h.id.to_string())
        .bind(h.owner_id.to_string())
        .bind(name.as_str())
        .bind(topic.to_string())
        .bind(d.title.as_str())
        .bind(&d.description)
        .bind(d.kind.as_str())
        .bind(d.restricted)
        .bind(d.plan.kind_str())
        .bind(days)
        .bind(count)
        .bind(d.plan.price_cents())
        .bind(d.location.map(Location::lat))
        .bind(d.location.map(Location::lon))
        .bind(tags_column(&d.tags))
        .bind(d.declared_rate_secs.map(i64::from))
        .bind(d.schema.as_ref().map(ToString::to_string))
        .bind(&d.licence)
        .bind(now)
        .bind(now)
        .execute(w.conn())
        .await
        .map_err(conflict_on("name", "this hub already has a product with this name"))?;
        let product = find_by_id(w.conn(), id)
            .await?
            .ok_or(StoreError::NotFound { what: "product" })?;
        audit::record(
            w.conn(),
            Some(actor),
            "product.create",
            &topic.to_string(),
            json!({"plan": d.plan, "restricted": d.restricted}),
        )
        .await?;
        w.emit(MarketEvent::ProductCreated {
            product_id: id,
            topic,
        });
        w.commit().await?;
        Ok(product)
    }

    /// A live product by topic (anyone may read products, even in private hubs).
    pub async fn get_product(&self, topic: &ProductTopic) -> Result<Product> {
        let mut conn = self.pool.acquire().await?;
        find(&mut conn, topic)
            .await?
            .ok_or(StoreError::NotFound { what: "product" })
    }

    /// A live product by id.
    pub async fn get_product_by_id(&self, id: ProductId) -> Result<Product> {
        let mut conn = self.pool.acquire().await?;
        find_by_id(&mut conn, id)
            .await?
            .ok_or(StoreError::NotFound { what: "product" })
    }

    /// Edits a product (seller or admin). Plan, price and approval rule apply to purchases
    /// made from now on; running purchases keep what they bought.
    pub async fn update_product(
        &self,
        actor: &Actor,
        topic: &ProductTopic,
        patch: &ProductPatch,
    ) -> Result<Product> {
        let mut w = self.write_as(actor).await?;
        let p = find_managed(w.conn(), actor, topic).await?;
        let d = patch.apply(p.details.clone())?;
        let (days, count) = plan_columns(&d.plan);
        sqlx::query(
            "UPDATE products SET title = ?, description = ?, kind = ?, restricted = ?, plan_kind = ?, plan_days = ?, plan_count = ?,
             price_cents = ?, lat = ?, lon = ?, tags = ?, declared_rate_secs = ?, payload_schema = ?, licence = ?, updated_at = ? WHERE id = ?",
        )
        .bind(d.title.as_str())
        .bind(&d.description)
        .bind(d.kind.as_str())
        .bind(d.restricted)
        .bind(d.plan.kind_str())
        .bind(days)
        .bind(count)
        .bind(d.plan.price_cents())
        .bind(d.location.map(Location::lat))
        .bind(d.location.map(Location::lon))
        .bind(tags_column(&d.tags))
        .bind(d.declared_rate_secs.map(i64::from))
        .bind(d.schema.as_ref().map(ToString::to_string))
        .bind(&d.licence)
        .bind(ts(crate::now()))
        .bind(p.id.to_string())
        .execute(w.conn())
        .await?;
        let updated = find_by_id(w.conn(), p.id)
            .await?
            .ok_or(StoreError::NotFound { what: "product" })?;
        audit::record(
            w.conn(),
            Some(actor),
            "product.update",
            &topic.to_string(),
            json!({"plan": d.plan, "kind": d.kind, "restricted": d.restricted}),
        )
        .await?;
        w.emit(MarketEvent::ProductUpdated {
            product_id: p.id,
            topic: topic.clone(),
        });
        w.commit().await?;
        Ok(updated)
    }

    /// Deletes a product (soft; purchases, sales and ratings stay). Its live and pending
    /// purchases are revoked and their buyers notified.
    pub async fn delete_product(&self, actor: &Actor, topic: &ProductTopic) -> Result<()> {
        let mut w = self.write_as(actor).await?;
        let p = find_managed(w.conn(), actor, topic).await?;
        // Each buyer is told by the revocation itself (a ProductDeleted notification).
        purchases::end_all_for_product(
            &mut w,
            p.id,
            PurchaseAction::Revoke,
            Party::System,
            "the product was deleted",
        )
        .await?;
        sqlx::query("UPDATE products SET deleted_at = ? WHERE id = ?")
            .bind(ts(crate::now()))
            .bind(p.id.to_string())
            .execute(w.conn())
            .await?;
        audit::record(
            w.conn(),
            Some(actor),
            "product.delete",
            &topic.to_string(),
            json!({}),
        )
        .await?;
        w.emit(MarketEvent::ProductDeleted {
            product_id: p.id,
            topic: topic.clone(),
        });
        w.commit().await
    }

    /// Searches live products of active sellers. Returns each product with its distance in
    /// km when `near` is set. Pages use an offset cursor (orders other than by id).
    pub async fn search_products(
        &self,
        query: &ProductQuery,
        page: &PageRequest,
    ) -> Result<Page<(Product, Option<f64>)>> {
        let limit = page.limit();
        let offset = page.offset()?;
        if query.sort == ProductSort::Distance && query.near.is_none() {
            return Err(agora_market::ValidationError::new(
                "sort",
                "distance order needs near=lat,lon,km",
            )
            .into());
        }
        if let Some((_, km)) = query.near
            && !(km.is_finite() && km > 0.0 && km <= 20_037.5)
        {
            return Err(agora_market::ValidationError::new(
                "near",
                "radius must be more than 0 and at most 20037.5 km",
            )
            .into());
        }
        if query
            .q
            .as_deref()
            .is_some_and(|q| q.chars().count() > Q_MAX)
        {
            return Err(agora_market::ValidationError::new(
                "q",
                format!("must be at most {Q_MAX} characters"),
            )
            .into());
        }
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(SELECT);
        b.push(" WHERE p.deleted_at IS NULL AND a.suspended = 0");
        if let Some(q) = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
            let pat = format!("%{}%", rows::like_escape(&q.to_lowercase()));
            b.push(" AND (lower(p.title) LIKE ")
                .push_bind(pat.clone())
                .push(" ESCAPE '\\'");
            b.push(" OR lower(p.description) LIKE ")
                .push_bind(pat.clone())
                .push(" ESCAPE '\\'");
            b.push(" OR lower(p.topic) LIKE ")
                .push_bind(pat)
                .push(" ESCAPE '\\')");
        }
        if let Some(o) = &query.owner {
            b.push(" AND a.name = ").push_bind(o.as_str().to_owned());
        }
        if let Some(h) = &query.hub {
            b.push(" AND p.hub_id IN (SELECT id FROM hubs WHERE lower(name) = lower(")
                .push_bind(h.as_str().to_owned())
                .push("))");
        }
        if let Some(k) = query.kind {
            b.push(" AND p.kind = ").push_bind(k.as_str());
        }
        if let Some(r) = query.restricted {
            b.push(" AND p.restricted = ").push_bind(r);
        }
        if let Some(t) = &query.tag {
            b.push(" AND p.tags LIKE ")
                .push_bind(format!("%,{},%", t.as_str()));
        }
        if let Some((at, km)) = query.near {
            // An index-friendly box first; the exact great-circle test runs below.
            let (min_lat, max_lat, min_lon, max_lon) = at.bounding_box(km);
            b.push(" AND p.lat BETWEEN ")
                .push_bind(min_lat)
                .push(" AND ")
                .push_bind(max_lat);
            b.push(" AND p.lon BETWEEN ")
                .push_bind(min_lon)
                .push(" AND ")
                .push_bind(max_lon);
        }
        let order = match query.sort {
            ProductSort::Newest | ProductSort::Distance => " ORDER BY p.id DESC",
            ProductSort::Title => " ORDER BY lower(p.title), p.id DESC",
            ProductSort::PriceAsc => " ORDER BY p.price_cents, p.id DESC",
            ProductSort::PriceDesc => " ORDER BY p.price_cents DESC, p.id DESC",
            ProductSort::Rating => {
                " ORDER BY rating_avg IS NULL, rating_avg DESC, rating_count DESC, p.id DESC"
            }
        };
        b.push(order);
        let Some((at, km)) = query.near else {
            b.push(" LIMIT ")
                .push_bind(i64::from(limit) + 1)
                .push(" OFFSET ")
                .push_bind(rows::i64_of(offset));
            let rows = b.build().fetch_all(&self.pool).await?;
            let items = rows
                .iter()
                .map(|r| product_from_row(r).map(|p| (p, None)))
                .collect::<Result<Vec<_>>>()?;
            return Ok(Page::offset(items, limit, offset));
        };
        b.push(" LIMIT ").push_bind(NEAR_CANDIDATES);
        let rows = b.build().fetch_all(&self.pool).await?;
        let mut hits = Vec::new();
        for r in &rows {
            let p = product_from_row(r)?;
            if let Some(d) = p.details.location.map(|l| at.distance_km(l))
                && d <= km
            {
                hits.push((p, Some(d)));
            }
        }
        if query.sort == ProductSort::Distance {
            hits.sort_by(|a, b| a.1.unwrap_or(f64::MAX).total_cmp(&b.1.unwrap_or(f64::MAX)));
        }
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(hits.len());
        let items: Vec<_> = hits
            .into_iter()
            .skip(start)
            .take(limit as usize + 1)
            .collect();
        Ok(Page::offset(items, limit, offset))
    }

    /// The products of one seller's hub, for the hub page (live ones, newest first).
    pub async fn list_hub_products(
        &self,
        owner: &AccountName,
        hub: &HubName,
        page: &PageRequest,
    ) -> Result<Page<Product>> {
        let q = ProductQuery {
            owner: Some(owner.clone()),
            hub: Some(hub.clone()),
            ..ProductQuery::default()
        };
        Ok(self.search_products(&q, page).await?.map(|(p, _)| p))
    }
}
