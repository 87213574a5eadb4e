//! `/`: the catalogue. Search and filters are a plain GET form (`q`, `kind`,
//! `restricted`, `owner`, `tag`, `near=lat,lon,km`, `sort`), so every result page has a
//! link of its own; the next page is a link with the store's cursor.
//!
//! Filters are read leniently: a value that does not parse is reported above the results
//! and left out, rather than failing the whole page.

use agora_market::{AccountName, Location, ProductKind, Tag};
use agora_store::{PageRequest, ProductQuery, ProductSort};
use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;

use crate::UiState;
use crate::error::UiResult;
use crate::pages::{Card, Nav, render};
use crate::session::Visitor;

/// Products per catalogue page.
const PER_PAGE: u32 = 24;

/// The catalogue route.
pub fn router() -> Router<UiState> {
    Router::new().route("/", get(page))
}

/// The search form's fields, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filters {
    /// Words.
    pub q: String,
    /// `sensor`, `actuator`, `both` or empty.
    pub kind: String,
    /// `yes`, `no` or empty.
    pub restricted: String,
    /// A seller's name.
    pub owner: String,
    /// A tag.
    pub tag: String,
    /// `lat,lon,km`.
    pub near: String,
    /// `newest`, `title`, `price_asc`, `price_desc`, `rating`, `distance`.
    pub sort: String,
    /// The next page's cursor.
    pub cursor: String,
}

impl Filters {
    /// Reads the query string; anything unreadable is ignored.
    pub fn from_query(raw: Option<&str>) -> Self {
        raw.and_then(|q| serde_urlencoded::from_str(q).ok())
            .unwrap_or_default()
    }

    /// The store query, and the problems with fields that were left out.
    pub fn query(&self) -> (ProductQuery, Vec<String>) {
        let mut q = ProductQuery::default();
        let mut problems = Vec::new();
        let text = self.q.trim();
        if !text.is_empty() {
            q.q = Some(text.chars().take(200).collect());
        }
        match self.kind.as_str() {
            "" => {}
            k => match ProductKind::parse(k) {
                Ok(k) => q.kind = Some(k),
                Err(e) => problems.push(e.to_string()),
            },
        }
        match self.restricted.as_str() {
            "yes" => q.restricted = Some(true),
            "no" => q.restricted = Some(false),
            _ => {}
        }
        let owner = self.owner.trim();
        if !owner.is_empty() {
            match AccountName::parse(owner) {
                Ok(o) => q.owner = Some(o),
                Err(e) => problems.push(format!("seller: {}", e.message)),
            }
        }
        let tag = self.tag.trim();
        if !tag.is_empty() {
            match Tag::parse(tag) {
                Ok(t) => q.tag = Some(t),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let near = self.near.trim();
        if !near.is_empty() {
            match parse_near(near) {
                Ok(n) => q.near = Some(n),
                Err(e) => problems.push(e),
            }
        }
        match self.sort.as_str() {
            "" => {}
            s => match ProductSort::parse(s) {
                Ok(ProductSort::Distance) if q.near.is_none() => {
                    problems.push("sorting by distance needs a place (near)".into());
                }
                Ok(s) => q.sort = s,
                Err(e) => problems.push(e.to_string()),
            },
        }
        (q, problems)
    }

    /// The query string of these filters with another cursor (for "next page").
    pub fn with_cursor(&self, cursor: &str) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("kind", &self.kind),
            ("restricted", &self.restricted),
            ("owner", &self.owner),
            ("tag", &self.tag),
            ("near", &self.near),
            ("sort", &self.sort),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if !cursor.is_empty() {
            s.append_pair("cursor", cursor);
        }
        s.finish()
    }
}

/// `lat,lon,km` → a place and a radius.
fn parse_near(s: &str) -> Result<(Location, f64), String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let bad = || "near: write latitude, longitude and km, e.g. 52.52,13.40,25".to_string();
    let [lat, lon, km] = parts.as_slice() else {
        return Err(bad());
    };
    let lat: f64 = lat.parse().map_err(|_| bad())?;
    let lon: f64 = lon.parse().map_err(|_| bad())?;
    let km: f64 = km.parse().map_err(|_| bad())?;
    if !(km.is_finite() && km > 0.0 && km <= 20_000.0) {
        return Err("near: the distance must be between 0 and 20000 km".into());
    }
    let place = Location::new(lat, lon).map_err(|e| format!("near: {}", e.message))?;
    Ok((place, km))
}

#[derive(Template)]
#[template(path = "catalogue.html")]
struct CataloguePage {
    nav: Nav,
    f: Filters,
    problems: Vec<String>,
    cards: Vec<Card>,
    next: Option<String>,
    first_page: bool,
}

async fn page(
    State(state): State<UiState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
) -> UiResult<Response> {
    let f = Filters::from_query(raw.as_deref());
    let (query, problems) = f.query();
    let req = PageRequest {
        limit: PER_PAGE,
        cursor: Some(f.cursor.clone()).filter(|c| !c.is_empty()),
    };
    let page = match state.store().search_products(&query, &req).await {
        Ok(p) => p,
        // A stale or hand-made cursor: start from the first page rather than fail.
        Err(agora_store::StoreError::Invalid(_)) if req.cursor.is_some() => {
            state
                .store()
                .search_products(&query, &PageRequest::first(PER_PAGE))
                .await?
        }
        Err(e) => return Err(e.into()),
    };
    let cards = page.items.iter().map(|(p, d)| Card::of(p, *d)).collect();
    let next = page
        .next_cursor
        .as_deref()
        .map(|c| format!("/?{}", f.with_cursor(c)));
    let tpl = CataloguePage {
        nav: Nav::of(&visitor, &state, "catalogue").await,
        first_page: f.cursor.is_empty(),
        f,
        problems,
        cards,
        next,
    };
    render(&tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn near_takes_latitude_longitude_and_radius() {
        let (p, km) = parse_near("52.5, 13.4, 25").unwrap_or_else(|e| panic!("{e}"));
        assert!((p.lat() - 52.5).abs() < 1e-9 && (km - 25.0).abs() < 1e-9);
        assert!(parse_near("52.5,13.4").is_err());
        assert!(parse_near("95,13.4,5").is_err());
        assert!(parse_near("52,13,-1").is_err());
    }

    #[test]
    fn bad_filters_are_reported_not_fatal() {
        let f = Filters::from_query(Some("kind=spaceship&owner=A%20B&q=temp"));
        let (q, problems) = f.query();
        assert_eq!(problems.len(), 2);
        assert_eq!(q.q.as_deref(), Some("temp"));
    }

    #[test]
    fn the_next_page_link_keeps_the_filters() {
        let f = Filters::from_query(Some("q=a+b&kind=sensor&cursor=old"));
        assert_eq!(f.with_cursor("x1"), "q=a+b&kind=sensor&cursor=x1");
    }
}
