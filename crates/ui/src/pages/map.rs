//! `/map`: products with a location, drawn as an inline SVG on a plain background, so the
//! map works offline and without JavaScript. Markers are links to the products; markers
//! that would overlap are merged into a cluster showing their count, which links to the
//! map zoomed in around them. The view fits the points (Web Mercator, like every tile
//! server, so that tiles line up when [`crate::UiSettings::tile_url`] is set: then the
//! tiles of the fitting zoom level are laid under the markers as SVG images).
//!
//! The same filters as the catalogue apply; a table below the map lists the same products
//! for screen readers and small screens.

use std::f64::consts::PI;

use agora_store::PageRequest;
use askama::Template;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::routing::get;

use crate::UiState;
use crate::error::UiResult;
use crate::pages::catalogue::Filters;
use crate::pages::{Nav, product_url, render};
use crate::session::Visitor;

/// Most products placed on one map (a bound on the page's size).
const MAX_POINTS: usize = 400;
/// The SVG's size in its own units (it scales to the page's width).
const W: f64 = 960.0;
const H: f64 = 540.0;
/// Markers closer than this (in SVG units) are merged.
const CELL: f64 = 34.0;

/// The map route.
pub fn router() -> Router<UiState> {
    Router::new().route("/map", get(page))
}

/// A product on the map.
#[derive(Debug, Clone)]
pub struct Point {
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Title.
    pub title: String,
    /// Page.
    pub url: String,
    /// Topic.
    pub topic: String,
}

/// A marker as drawn.
#[derive(Debug)]
pub struct Marker {
    /// Position in SVG units.
    pub x: String,
    /// Position in SVG units.
    pub y: String,
    /// One product: its page; a cluster: the map zoomed around it.
    pub url: String,
    /// Tooltip and accessible name.
    pub label: String,
    /// The title to print beside a single marker.
    pub text: Option<String>,
    /// Products in it (1 for a single marker).
    pub count: usize,
    /// Radius.
    pub r: String,
}

/// A grid line with its label.
#[derive(Debug)]
pub struct Line {
    /// x1, y1, x2, y2.
    pub coords: (String, String, String, String),
    /// The label's position and text.
    pub label: (String, String, String),
}

/// A tile image.
#[derive(Debug)]
pub struct Tile {
    /// Its URL.
    pub href: String,
    /// x, y, size.
    pub pos: (String, String, String),
}

/// The fitted view: world coordinates (0..1 Mercator) of the top-left corner and SVG
/// units per world unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct View {
    x0: f64,
    y0: f64,
    scale: f64,
}

/// Longitude → world x in 0..1.
pub fn world_x(lon: f64) -> f64 {
    (lon + 180.0) / 360.0
}

/// Latitude → world y in 0..1 (north up), clamped where Mercator is.
pub fn world_y(lat: f64) -> f64 {
    let lat = lat.clamp(-85.0511, 85.0511).to_radians();
    (1.0 - (lat.tan() + 1.0 / lat.cos()).ln() / PI) / 2.0
}

/// World y → latitude.
fn lat_of(y: f64) -> f64 {
    (PI * (1.0 - 2.0 * y)).sinh().atan().to_degrees()
}

impl View {
    /// The view that shows all points with a margin; the whole world without points.
    pub fn fit(points: &[Point]) -> Self {
        let (mut minx, mut maxx, mut miny, mut maxy) = (1.0f64, 0.0f64, 1.0f64, 0.0f64);
        for p in points {
            let (x, y) = (world_x(p.lon), world_y(p.lat));
            minx = minx.min(x);
            maxx = maxx.max(x);
            miny = miny.min(y);
            maxy = maxy.max(y);
        }
        if points.is_empty() {
            (minx, maxx, miny, maxy) = (0.0, 1.0, 0.1, 0.9);
        }
        // At least about a kilometre across (so a zoomed-in cluster falls apart into its
        // markers), and a margin of a fifth on every side.
        let min_span = 0.00002;
        let (cx, cy) = ((minx + maxx) / 2.0, (miny + maxy) / 2.0);
        let span_x = (maxx - minx).max(min_span) * 1.4;
        let span_y = (maxy - miny).max(min_span) * 1.4;
        let scale = (W / span_x).min(H / span_y).max(W);
        Self {
            x0: cx - W / scale / 2.0,
            y0: cy - H / scale / 2.0,
            scale,
        }
    }

    fn px(&self, lat: f64, lon: f64) -> (f64, f64) {
        (
            (world_x(lon) - self.x0) * self.scale,
            (world_y(lat) - self.y0) * self.scale,
        )
    }

    /// The tile zoom level whose tiles are closest to 256 SVG units wide.
    pub fn zoom(&self) -> u32 {
        let z = (self.scale / 256.0).log2().round();
        // Clamped to the zoom levels tile servers offer, so the cast is exact.
        z.clamp(0.0, 18.0) as u32
    }

    /// The visible latitude and longitude ranges: (south, north, west, east).
    fn bounds(&self) -> (f64, f64, f64, f64) {
        let west = self.x0 * 360.0 - 180.0;
        let east = (self.x0 + W / self.scale) * 360.0 - 180.0;
        let north = lat_of(self.y0.max(0.0));
        let south = lat_of((self.y0 + H / self.scale).min(1.0));
        (south, north, west, east)
    }
}

/// Merges points closer than [`CELL`] into clusters (greedy, in order: each point joins
/// the first cluster whose centre is within a cell, else starts one).
pub fn cluster(points: &[Point], view: &View) -> Vec<Marker> {
    struct Group<'a> {
        x: f64,
        y: f64,
        members: Vec<&'a Point>,
    }
    let mut groups: Vec<Group<'_>> = Vec::new();
    for p in points {
        let (x, y) = view.px(p.lat, p.lon);
        match groups
            .iter_mut()
            .find(|g| (g.x - x).abs() < CELL && (g.y - y).abs() < CELL)
        {
            Some(g) => g.members.push(p),
            None => groups.push(Group {
                x,
                y,
                members: vec![p],
            }),
        }
    }
    groups
        .into_iter()
        .map(|g| {
            let n = g.members.len();
            if n == 1 {
                let p = g.members[0];
                return Marker {
                    x: fmt(g.x),
                    y: fmt(g.y),
                    url: p.url.clone(),
                    label: format!("{} ({})", p.title, p.topic),
                    text: Some(p.title.chars().take(40).collect()),
                    count: 1,
                    r: "7".into(),
                };
            }
            // Usize → f64 is exact for any realistic count.
            #[allow(clippy::cast_precision_loss)]
            let nf = n as f64;
            let lat = g.members.iter().map(|p| p.lat).sum::<f64>() / nf;
            let lon = g.members.iter().map(|p| p.lon).sum::<f64>() / nf;
            // Zoom in: a radius of about two cells on the ground.
            let km_per_unit = 40_075.0 * lat.to_radians().cos().abs().max(0.01) / view.scale;
            let km = (CELL * 2.5 * km_per_unit).max(0.2);
            let mut names: Vec<String> =
                g.members.iter().take(5).map(|p| p.title.clone()).collect();
            if n > 5 {
                names.push(format!("and {} more", n - 5));
            }
            Marker {
                x: fmt(g.x),
                y: fmt(g.y),
                url: format!("/map?near={lat:.5},{lon:.5},{km:.2}"),
                label: format!("{n} products: {}", names.join(", ")),
                text: None,
                count: n,
                r: fmt(11.0 + 3.0 * nf.log2()),
            }
        })
        .collect()
}

/// Grid lines every "nice" step of degrees, labelled.
fn graticule(view: &View) -> Vec<Line> {
    let (south, north, west, east) = view.bounds();
    let step = nice_step((east - west) / 6.0);
    let mut lines = Vec::new();
    let mut lon = (west / step).ceil() * step;
    while lon <= east && lines.len() < 40 {
        let (x, _) = view.px(0.0, lon);
        lines.push(Line {
            coords: (fmt(x), "0".into(), fmt(x), fmt(H)),
            label: (fmt(x + 3.0), fmt(H - 4.0), deg(lon, step, 'E', 'W')),
        });
        lon += step;
    }
    let mut lat = (south / step).ceil() * step;
    let start = lines.len();
    while lat <= north && lines.len() < start + 40 {
        let (_, y) = view.px(lat, 0.0);
        lines.push(Line {
            coords: ("0".into(), fmt(y), fmt(W), fmt(y)),
            label: ("3".into(), fmt(y - 3.0), deg(lat, step, 'N', 'S')),
        });
        lat += step;
    }
    lines
}

fn nice_step(raw: f64) -> f64 {
    const STEPS: [f64; 16] = [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
    ];
    STEPS.into_iter().find(|s| *s >= raw).unwrap_or(60.0)
}

fn deg(v: f64, step: f64, pos: char, neg: char) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        // −log10 of a step in 0.001..1 is 0..3: the cast is exact.
        (-step.log10()).ceil() as usize
    };
    let hemi = if v >= 0.0 { pos } else { neg };
    format!("{:.*}°{hemi}", decimals, v.abs())
}

/// The tiles under the view, at most 6×4 of them.
fn tiles(template: &str, view: &View) -> Vec<Tile> {
    let z = view.zoom();
    let n = f64::from(1u32 << z);
    let size = view.scale / n;
    let (tx0, ty0) = ((view.x0 * n).floor(), (view.y0 * n).floor());
    let (tx1, ty1) = (
        ((view.x0 + W / view.scale) * n).ceil(),
        ((view.y0 + H / view.scale) * n).ceil(),
    );
    let mut out = Vec::new();
    let mut ty = ty0.max(0.0);
    while ty < ty1.min(n) && out.len() < 48 {
        let mut tx = tx0;
        while tx < tx1 && out.len() < 48 {
            // Wrap around the date line; both values are small non-negative integers.
            let wrapped = tx.rem_euclid(n) as u64;
            let href = template
                .replace("{z}", &z.to_string())
                .replace("{x}", &wrapped.to_string())
                .replace("{y}", &(ty as u64).to_string());
            out.push(Tile {
                href,
                pos: (
                    fmt((tx / n - view.x0) * view.scale),
                    fmt((ty / n - view.y0) * view.scale),
                    fmt(size + 0.5),
                ),
            });
            tx += 1.0;
        }
        ty += 1.0;
    }
    out
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    nav: Nav,
    f: Filters,
    problems: Vec<String>,
    markers: Vec<Marker>,
    lines: Vec<Line>,
    tiles: Vec<Tile>,
    tile_origin: Option<String>,
    points: Vec<Point>,
    truncated: bool,
    width: String,
    height: String,
}

async fn page(
    State(state): State<UiState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
) -> UiResult<Response> {
    let f = Filters::from_query(raw.as_deref());
    let (query, problems) = f.query();
    let mut points = Vec::new();
    let mut req = PageRequest::first(100);
    let mut truncated = false;
    loop {
        let page = state.store().search_products(&query, &req).await?;
        for (p, _) in &page.items {
            if let Some(l) = p.details.location {
                points.push(Point {
                    lat: l.lat(),
                    lon: l.lon(),
                    title: p.details.title.as_str().to_owned(),
                    url: product_url(&p.topic),
                    topic: p.topic.to_string(),
                });
            }
        }
        if points.len() >= MAX_POINTS {
            truncated = page.next_cursor.is_some() || points.len() > MAX_POINTS;
            points.truncate(MAX_POINTS);
            break;
        }
        match PageRequest::after(100, &page) {
            Some(next) => req = next,
            None => break,
        }
    }
    let view = View::fit(&points);
    let tile_url = state.settings().tile_url.as_deref();
    let tpl = MapPage {
        nav: Nav::of(&visitor, &state, "map").await,
        f,
        problems,
        markers: cluster(&points, &view),
        lines: graticule(&view),
        tiles: tile_url.map(|t| tiles(t, &view)).unwrap_or_default(),
        tile_origin: tile_url
            .and_then(|t| t.split('/').nth(2))
            .map(str::to_owned),
        points,
        truncated,
        width: fmt(W),
        height: fmt(H),
    };
    render(&tpl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(lat: f64, lon: f64) -> Point {
        Point {
            lat,
            lon,
            title: format!("{lat},{lon}"),
            url: String::new(),
            topic: String::new(),
        }
    }

    #[test]
    fn the_view_keeps_every_point_inside_the_picture() {
        let pts = [point(48.1, 11.5), point(53.5, 10.0), point(52.5, 13.4)];
        let v = View::fit(&pts);
        for p in &pts {
            let (x, y) = v.px(p.lat, p.lon);
            assert!((0.0..=W).contains(&x) && (0.0..=H).contains(&y), "{x},{y}");
        }
    }

    #[test]
    fn nearby_points_become_one_cluster_and_far_ones_stay_apart() {
        let pts = [
            point(48.0, 11.0),
            point(48.0001, 11.0001),
            point(-33.9, 151.2),
        ];
        let v = View::fit(&pts);
        let m = cluster(&pts, &v);
        assert_eq!(m.len(), 2);
        assert_eq!(m.iter().map(|m| m.count).max(), Some(2));
        assert!(m.iter().any(|m| m.url.starts_with("/map?near=")));
    }

    #[test]
    fn an_empty_map_shows_the_world() {
        let v = View::fit(&[]);
        assert_eq!(v.zoom(), 2);
    }

    #[test]
    fn tiles_cover_the_view_at_the_fitting_zoom() {
        let pts = [point(48.1, 11.5), point(48.2, 11.6)];
        let v = View::fit(&pts);
        let t = tiles("https://t.example/{z}/{x}/{y}.png", &v);
        assert!(!t.is_empty() && t.len() <= 48);
        assert!(
            t[0].href
                .starts_with(&format!("https://t.example/{}/", v.zoom()))
        );
    }

    #[test]
    fn mercator_round_trips_latitude() {
        for lat in [-80.0, -45.0, 0.0, 33.3, 70.0] {
            assert!((lat_of(world_y(lat)) - lat).abs() < 1e-9);
        }
    }
}
