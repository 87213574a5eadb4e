//! `PUT /products/{owner}/{hub}/{name}/rating` (rate, verified buyers only) and
//! `GET /products/{owner}/{hub}/{name}/ratings` (anyone).
//!
//! Only accounts that hold or held a purchase of the product may rate it, once (a second
//! PUT replaces the first), so every rating is a verified one; sellers cannot rate their
//! own products.

use agora_market::{Rating, Stars};
use axum::extract::State;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::ApiState;
use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::{Json, Path, Query};
use crate::pagination::{Page, PageParams};
use crate::routes::{StoreResultExt, invalid, page, page_request, topic_from_path};

/// The rating routes.
pub fn router() -> OpenApiRouter<ApiState> {
    OpenApiRouter::new()
        .routes(routes!(rate))
        .routes(routes!(list_ratings))
}

/// A rating.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"topic": "alice/home/temp", "buyer": "bob", "stars": 5, "review": "Steady, well documented", "updated_at": "2026-12-03T06:38:00Z"}))]
pub struct RatingView {
    /// The product.
    pub topic: String,
    /// Who rated (a verified buyer).
    pub buyer: String,
    /// 1–5.
    pub stars: u8,
    /// Optional review text.
    pub review: Option<String>,
    /// When it was last given.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl RatingView {
    fn new(r: Rating, topic: String) -> Self {
        Self {
            topic,
            buyer: r.buyer.to_string(),
            stars: r.stars.get(),
            review: r.review,
            updated_at: r.updated_at,
        }
    }
}

/// A rating to give.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRating {
    /// 1–5 stars.
    pub stars: i64,
    /// Optional review, at most 2000 characters.
    #[serde(default)]
    pub review: Option<String>,
}

/// The product path parameters.
type ProductPath = Path<(String, String, String)>;

/// Rate a product (accounts that hold or held a purchase of it); replaces the caller's
/// earlier rating.
#[utoipa::path(
    put, path = "/products/{owner}/{hub}/{name}/rating", tag = "ratings",
    security(("bearer" = [])),
    params(("owner" = String, Path, description = "Seller"), ("hub" = String, Path, description = "Hub"), ("name" = String, Path, description = "Product")),
    request_body(content = NewRating, example = json!({"stars": 5, "review": "Steady, well documented"})),
    responses(
        (status = 200, description = "The rating as stored", body = RatingView),
        (status = 403, description = "The caller never bought it, or sells it", body = ErrorBody,
            example = json!({"error": {"code": "forbidden", "message": "only buyers of this product may rate it", "field": null}})),
        (status = 404, description = "No such product", body = ErrorBody),
        (status = 422, description = "Stars not 1–5, or review too long", body = ErrorBody,
            example = json!({"error": {"code": "validation", "message": "must be 1–5", "field": "stars"}})),
    )
)]
async fn rate(
    State(state): State<ApiState>,
    caller: Caller,
    Path((owner, hub, name)): ProductPath,
    Json(body): Json<NewRating>,
) -> ApiResult<axum::Json<RatingView>> {
    let topic = topic_from_path(&owner, &hub, &name)?;
    let stars = Stars::new(body.stars).map_err(|e| invalid(e.with_field("stars")))?;
    let rating = state
        .store()
        .rate(&caller.actor, &topic, stars, body.review.as_deref())
        .await
        .api()?;
    Ok(axum::Json(RatingView::new(rating, topic.to_string())))
}

/// A product's ratings, newest first (no token needed).
#[utoipa::path(
    get, path = "/products/{owner}/{hub}/{name}/ratings", tag = "ratings",
    params(("owner" = String, Path, description = "Seller"), ("hub" = String, Path, description = "Hub"), ("name" = String, Path, description = "Product"), PageParams),
    responses(
        (status = 200, description = "One page of ratings", body = Page<RatingView>,
            example = json!({"items": [{"topic": "alice/home/temp", "buyer": "bob", "stars": 5, "review": "Steady, well documented", "updated_at": "2026-12-03T06:38:00Z"}], "next_cursor": null})),
        (status = 404, description = "No such product", body = ErrorBody),
    )
)]
async fn list_ratings(
    State(state): State<ApiState>,
    Path((owner, hub, name)): ProductPath,
    Query(params): Query<PageParams>,
) -> ApiResult<axum::Json<Page<RatingView>>> {
    let topic = topic_from_path(&owner, &hub, &name)?;
    let list = state
        .store()
        .list_ratings(&topic, &page_request(params)?)
        .await
        .api()?;
    let t = topic.to_string();
    Ok(axum::Json(page(list, |r| RatingView::new(r, t.clone()))))
}
