//! Products (SPEC §5): a topic tree on sale, with its plan, price and description.
//!
//! Money is integer cents ([`Price`]); no real money moves (as in I3, the market is
//! simulated). Editing a product never changes its topic or hub.

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{AccountId, HubId, ProductId, ProductTopic, ValidationError};

/// Whether a product produces data, takes commands, or both (SPEC §4 decides the rights).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProductKind {
    /// Data only: buyers receive.
    Sensor,
    /// Commands: buyers publish to `T/cmd/…`.
    Actuator,
    /// Both.
    Both,
}

impl ProductKind {
    /// The stored and wire form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Sensor => "sensor",
            Self::Actuator => "actuator",
            Self::Both => "both",
        }
    }

    /// Parses the stored and wire form.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        match s {
            "sensor" => Ok(Self::Sensor),
            "actuator" => Ok(Self::Actuator),
            "both" => Ok(Self::Both),
            _ => Err(ValidationError::new(
                "kind",
                "must be sensor, actuator or both",
            )),
        }
    }

    /// Whether buyers may publish commands (`T/cmd/…`).
    #[must_use]
    pub fn takes_commands(self) -> bool {
        matches!(self, Self::Actuator | Self::Both)
    }
}

/// A price in integer cents, 1 cent to 1 000 000.00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Price(i64);

impl Price {
    /// Highest allowed price, in cents.
    pub const MAX_CENTS: i64 = 100_000_000;

    /// Validates a price in cents.
    pub fn from_cents(cents: i64) -> Result<Self, ValidationError> {
        if cents < 1 {
            return Err(ValidationError::new(
                "price_cents",
                "must be at least 1 cent; use the free plan for no charge",
            ));
        }
        if cents > Self::MAX_CENTS {
            return Err(ValidationError::new(
                "price_cents",
                "must be at most 100000000 (1 000 000.00)",
            ));
        }
        Ok(Self(cents))
    }

    /// The price in cents.
    #[must_use]
    pub fn cents(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Price {
    type Error = ValidationError;
    fn try_from(c: i64) -> Result<Self, Self::Error> {
        Self::from_cents(c)
    }
}

impl From<Price> for i64 {
    fn from(p: Price) -> i64 {
        p.0
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// How a product is sold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Plan {
    /// No charge, no end.
    Free,
    /// `price` per `days` days.
    Period {
        /// Days bought per purchase, 1–3650.
        days: u32,
        /// Price per period.
        #[serde(rename = "price_cents")]
        price: Price,
    },
    /// `price` per `count` delivered messages (the I3 model).
    Messages {
        /// Messages bought per purchase, 1–1 000 000 000.
        count: u64,
        /// Price per bundle.
        #[serde(rename = "price_cents")]
        price: Price,
    },
}

impl Plan {
    /// Longest period.
    pub const MAX_DAYS: u32 = 3650;
    /// Largest message bundle.
    pub const MAX_COUNT: u64 = 1_000_000_000;

    /// A validated period plan.
    pub fn period(days: u32, price: Price) -> Result<Self, ValidationError> {
        let p = Self::Period { days, price };
        p.validate()?;
        Ok(p)
    }

    /// A validated messages plan.
    pub fn messages(count: u64, price: Price) -> Result<Self, ValidationError> {
        let p = Self::Messages { count, price };
        p.validate()?;
        Ok(p)
    }

    /// Checks the plan's numbers.
    pub fn validate(&self) -> Result<(), ValidationError> {
        match *self {
            Self::Free => Ok(()),
            Self::Period { days, price } => {
                if !(1..=Self::MAX_DAYS).contains(&days) {
                    return Err(ValidationError::new(
                        "plan.days",
                        format!("must be 1–{}", Self::MAX_DAYS),
                    ));
                }
                Price::from_cents(price.cents()).map(|_| ())
            }
            Self::Messages { count, price } => {
                if !(1..=Self::MAX_COUNT).contains(&count) {
                    return Err(ValidationError::new(
                        "plan.count",
                        format!("must be 1–{}", Self::MAX_COUNT),
                    ));
                }
                Price::from_cents(price.cents()).map(|_| ())
            }
        }
    }

    /// The stored name of the plan's kind.
    #[must_use]
    pub fn kind_str(&self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Period { .. } => "period",
            Self::Messages { .. } => "messages",
        }
    }

    /// The price of one purchase, 0 when free.
    #[must_use]
    pub fn price_cents(&self) -> i64 {
        match self {
            Self::Free => 0,
            Self::Period { price, .. } | Self::Messages { price, .. } => price.cents(),
        }
    }

    /// Rebuilds a plan from its stored columns.
    pub fn from_parts(
        kind: &str,
        days: Option<i64>,
        count: Option<i64>,
        price_cents: Option<i64>,
    ) -> Result<Self, ValidationError> {
        let bad = || ValidationError::new("plan", format!("stored plan {kind:?} is incomplete"));
        let plan = match kind {
            "free" => Self::Free,
            "period" => Self::Period {
                days: days.and_then(|d| u32::try_from(d).ok()).ok_or_else(bad)?,
                price: Price::from_cents(price_cents.ok_or_else(bad)?)?,
            },
            "messages" => Self::Messages {
                count: count.and_then(|c| u64::try_from(c).ok()).ok_or_else(bad)?,
                price: Price::from_cents(price_cents.ok_or_else(bad)?)?,
            },
            _ => {
                return Err(ValidationError::new(
                    "plan",
                    "must be free, period or messages",
                ));
            }
        };
        plan.validate()?;
        Ok(plan)
    }
}

/// A point on Earth, validated: latitude −90..90, longitude −180..180, finite.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "LocationRepr", into = "LocationRepr")]
pub struct Location {
    lat: f64,
    lon: f64,
}

#[derive(Serialize, Deserialize)]
struct LocationRepr {
    lat: f64,
    lon: f64,
}

impl TryFrom<LocationRepr> for Location {
    type Error = ValidationError;
    fn try_from(r: LocationRepr) -> Result<Self, Self::Error> {
        Self::new(r.lat, r.lon)
    }
}

impl From<Location> for LocationRepr {
    fn from(l: Location) -> Self {
        Self {
            lat: l.lat,
            lon: l.lon,
        }
    }
}

/// Mean Earth radius used for distances.
const EARTH_RADIUS_KM: f64 = 6371.0088;

impl Location {
    /// Validates a point.
    pub fn new(lat: f64, lon: f64) -> Result<Self, ValidationError> {
        if !lat.is_finite() || !(-90.0..=90.0).contains(&lat) {
            return Err(ValidationError::new(
                "lat",
                "must be a latitude between -90 and 90",
            ));
        }
        if !lon.is_finite() || !(-180.0..=180.0).contains(&lon) {
            return Err(ValidationError::new(
                "lon",
                "must be a longitude between -180 and 180",
            ));
        }
        Ok(Self { lat, lon })
    }

    /// Latitude in degrees.
    #[must_use]
    pub fn lat(self) -> f64 {
        self.lat
    }

    /// Longitude in degrees.
    #[must_use]
    pub fn lon(self) -> f64 {
        self.lon
    }

    /// Great-circle (haversine) distance in kilometres.
    #[must_use]
    pub fn distance_km(self, other: Location) -> f64 {
        let (p1, p2) = (self.lat.to_radians(), other.lat.to_radians());
        let dp = p2 - p1;
        let dl = (other.lon - self.lon).to_radians();
        let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
        2.0 * EARTH_RADIUS_KM * a.sqrt().min(1.0).asin()
    }

    /// A latitude/longitude box containing every point within `km` (for an index-friendly
    /// pre-filter): `(min_lat, max_lat, min_lon, max_lon)`. Near the poles or the
    /// antimeridian the longitude range becomes the whole circle.
    #[must_use]
    pub fn bounding_box(self, km: f64) -> (f64, f64, f64, f64) {
        // J. Matuschek, "Finding points within a distance of a latitude/longitude": the
        // longitude half-width is asin(sin r / cos φ), wider than r / cos φ away from the
        // equator (proptest found the naive box too narrow).
        let r = km / EARTH_RADIUS_KM;
        let lat = self.lat.to_radians();
        let (min_lat, max_lat) = (lat - r, lat + r);
        let half_pi = std::f64::consts::FRAC_PI_2;
        let full = |a: f64, b: f64| {
            (
                a.max(-half_pi).to_degrees(),
                b.min(half_pi).to_degrees(),
                -180.0,
                180.0,
            )
        };
        if min_lat <= -half_pi || max_lat >= half_pi {
            return full(min_lat, max_lat); // a pole lies inside the circle
        }
        let ratio = r.sin() / lat.cos();
        if ratio.is_nan() || ratio >= 1.0 {
            return full(min_lat, max_lat);
        }
        let dlon = ratio.asin().to_degrees();
        if self.lon - dlon < -180.0 || self.lon + dlon > 180.0 {
            // Crossing the antimeridian: one wide box is simpler than two narrow ones.
            return full(min_lat, max_lat);
        }
        (
            min_lat.to_degrees(),
            max_lat.to_degrees(),
            self.lon - dlon,
            self.lon + dlon,
        )
    }
}

/// A product title: 1–120 characters, no control characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Title(String);

impl Title {
    /// Longest title.
    pub const MAX: usize = 120;

    /// Validates a title.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim();
        if s.is_empty() {
            return Err(ValidationError::new("title", "must not be empty"));
        }
        if s.chars().count() > Self::MAX {
            return Err(ValidationError::new(
                "title",
                format!("must be at most {} characters", Self::MAX),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                "title",
                "must not contain control characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The title.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Title {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Title> for String {
    fn from(t: Title) -> String {
        t.0
    }
}

/// A tag: 1–32 of `a-z 0-9 -`, folded to lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Tag(String);

impl Tag {
    /// Longest tag.
    pub const MAX: usize = 32;

    /// Validates a tag.
    pub fn parse(input: &str) -> Result<Self, ValidationError> {
        let s = input.trim().to_ascii_lowercase();
        if s.is_empty() || s.len() > Self::MAX {
            return Err(ValidationError::new(
                "tags",
                format!("each tag must be 1–{} characters", Self::MAX),
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(ValidationError::new(
                "tags",
                "tags may contain only a-z 0-9 -",
            ));
        }
        Ok(Self(s))
    }

    /// The tag.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Tag {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<Tag> for String {
    fn from(t: Tag) -> String {
        t.0
    }
}

/// Everything a seller describes about a product. The store calls
/// [`ProductDetails::validate`] before every write.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductDetails {
    /// A short title.
    pub title: Title,
    /// A description (≤ 10 000 characters).
    pub description: String,
    /// Sensor, actuator or both.
    pub kind: ProductKind,
    /// Whether purchases need the seller's approval.
    pub restricted: bool,
    /// Plan and price.
    pub plan: Plan,
    /// Where the data comes from, if it has a place.
    pub location: Option<Location>,
    /// Up to 10 distinct tags.
    pub tags: Vec<Tag>,
    /// The declared message rate: one message every this many seconds (1 s – 7 days).
    pub declared_rate_secs: Option<u32>,
    /// A JSON schema of payloads (a JSON object, ≤ 64 KiB).
    pub schema: Option<serde_json::Value>,
    /// Licence text (≤ 10 000 characters).
    pub licence: String,
}

/// Longest description or licence, in characters.
pub const TEXT_MAX: usize = 10_000;
/// Most tags per product.
pub const TAGS_MAX: usize = 10;
/// Largest schema, serialised, in bytes.
pub const SCHEMA_MAX_BYTES: usize = 64 * 1024;
/// Slowest declared rate, in seconds.
pub const RATE_MAX_SECS: u32 = 7 * 24 * 3600;

impl ProductDetails {
    /// Checks every rule that the field types alone do not, and removes duplicate tags.
    pub fn validate(mut self) -> Result<Self, ValidationError> {
        if self.description.chars().count() > TEXT_MAX {
            return Err(ValidationError::new(
                "description",
                format!("must be at most {TEXT_MAX} characters"),
            ));
        }
        if self.licence.chars().count() > TEXT_MAX {
            return Err(ValidationError::new(
                "licence",
                format!("must be at most {TEXT_MAX} characters"),
            ));
        }
        self.plan.validate()?;
        if let Some(l) = self.location {
            Location::new(l.lat, l.lon)?;
        }
        self.tags.sort();
        self.tags.dedup();
        if self.tags.len() > TAGS_MAX {
            return Err(ValidationError::new(
                "tags",
                format!("at most {TAGS_MAX} tags"),
            ));
        }
        if let Some(r) = self.declared_rate_secs
            && !(1..=RATE_MAX_SECS).contains(&r)
        {
            return Err(ValidationError::new(
                "declared_rate_secs",
                format!("must be 1–{RATE_MAX_SECS} seconds between messages"),
            ));
        }
        if let Some(s) = &self.schema {
            if !s.is_object() {
                return Err(ValidationError::new(
                    "schema",
                    "must be a JSON object (a JSON Schema)",
                ));
            }
            if s.to_string().len() > SCHEMA_MAX_BYTES {
                return Err(ValidationError::new("schema", "must be at most 64 KiB"));
            }
        }
        Ok(self)
    }
}

/// A product as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Product {
    /// Its id.
    pub id: ProductId,
    /// Its hub.
    pub hub_id: HubId,
    /// The seller.
    pub owner_id: AccountId,
    /// Its topic, `owner/hub/name`; fixed for the product's life.
    pub topic: ProductTopic,
    /// What the seller describes.
    #[serde(flatten)]
    pub details: ProductDetails,
    /// Average stars, if rated.
    pub rating_avg: Option<f64>,
    /// Number of ratings.
    pub rating_count: u32,
    /// When it was created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When it was last edited.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn details() -> ProductDetails {
        ProductDetails {
            title: Title::parse("Temperature").expect("title"),
            description: String::new(),
            kind: ProductKind::Sensor,
            restricted: false,
            plan: Plan::Free,
            location: None,
            tags: vec![],
            declared_rate_secs: Some(5),
            schema: None,
            licence: String::new(),
        }
    }

    #[test]
    fn prices_must_be_positive_and_bounded() {
        assert!(Price::from_cents(1).is_ok());
        assert!(Price::from_cents(Price::MAX_CENTS).is_ok());
        for bad in [0, -1, Price::MAX_CENTS + 1, i64::MIN] {
            assert_eq!(
                Price::from_cents(bad).map_err(|e| e.field),
                Err("price_cents"),
                "{bad}"
            );
        }
        assert_eq!(
            Price::from_cents(1999).map(|p| p.to_string()),
            Ok("19.99".to_owned())
        );
    }

    #[test]
    fn plans_check_their_numbers() {
        let p = Price::from_cents(100).expect("price");
        assert!(Plan::period(30, p).is_ok());
        assert!(Plan::period(0, p).is_err());
        assert!(Plan::period(Plan::MAX_DAYS + 1, p).is_err());
        assert!(Plan::messages(1000, p).is_ok());
        assert!(Plan::messages(0, p).is_err());
        assert!(Plan::messages(Plan::MAX_COUNT + 1, p).is_err());
    }

    #[test]
    fn plans_round_trip_through_their_stored_parts() {
        let p = Plan::period(7, Price::from_cents(500).expect("price")).expect("plan");
        assert_eq!(Plan::from_parts("period", Some(7), None, Some(500)), Ok(p));
        assert_eq!(Plan::from_parts("free", None, None, None), Ok(Plan::Free));
        assert!(Plan::from_parts("messages", None, None, Some(5)).is_err());
        assert!(Plan::from_parts("barter", None, None, None).is_err());
    }

    #[test]
    fn plans_serialise_with_a_type_tag_and_cents() {
        let p = Plan::messages(100, Price::from_cents(250).expect("price")).expect("plan");
        let json = serde_json::to_value(p).expect("json");
        assert_eq!(
            json,
            serde_json::json!({"type": "messages", "count": 100, "price_cents": 250})
        );
        assert!(
            serde_json::from_value::<Plan>(
                serde_json::json!({"type": "period", "days": 1, "price_cents": 0})
            )
            .is_err()
        );
    }

    #[test]
    fn coordinates_are_range_checked() {
        assert!(Location::new(34.02, -118.29).is_ok());
        assert!(Location::new(90.0, 180.0).is_ok());
        assert_eq!(Location::new(90.1, 0.0).map_err(|e| e.field), Err("lat"));
        assert_eq!(Location::new(0.0, -180.5).map_err(|e| e.field), Err("lon"));
        assert!(Location::new(f64::NAN, 0.0).is_err());
        assert!(Location::new(0.0, f64::INFINITY).is_err());
        assert!(serde_json::from_str::<Location>(r#"{"lat": 91, "lon": 0}"#).is_err());
    }

    #[test]
    fn distances_are_great_circle_kilometres() {
        let la = Location::new(34.05, -118.25).expect("la");
        let sf = Location::new(37.77, -122.42).expect("sf");
        let d = la.distance_km(sf);
        assert!((d - 559.0).abs() < 5.0, "{d}");
        assert!(la.distance_km(la) < 1e-9);
        let (min_lat, max_lat, min_lon, max_lon) = la.bounding_box(600.0);
        assert!(
            sf.lat() > min_lat && sf.lat() < max_lat && sf.lon() > min_lon && sf.lon() < max_lon
        );
    }

    #[test]
    fn titles_and_tags_are_checked() {
        assert!(Title::parse("  ").is_err());
        assert!(Title::parse(&"x".repeat(121)).is_err());
        assert!(Title::parse("a\u{7}b").is_err());
        assert_eq!(
            Tag::parse("Air-Quality").map(|t| t.as_str().to_owned()),
            Ok("air-quality".to_owned())
        );
        assert!(Tag::parse("a b").is_err());
        assert!(Tag::parse("").is_err());
    }

    #[test]
    fn product_details_enforce_text_tags_rate_and_schema() {
        assert!(details().validate().is_ok());
        let mut d = details();
        d.description = "x".repeat(TEXT_MAX + 1);
        assert_eq!(d.validate().map_err(|e| e.field), Err("description"));
        let mut d = details();
        d.tags = (0..11)
            .map(|i| Tag::parse(&format!("t{i}")).expect("tag"))
            .collect();
        assert_eq!(d.validate().map_err(|e| e.field), Err("tags"));
        let mut d = details();
        d.tags = vec![Tag::parse("a").expect("tag"), Tag::parse("A").expect("tag")];
        assert_eq!(d.validate().map(|d| d.tags.len()), Ok(1));
        let mut d = details();
        d.declared_rate_secs = Some(0);
        assert_eq!(d.validate().map_err(|e| e.field), Err("declared_rate_secs"));
        let mut d = details();
        d.schema = Some(serde_json::json!([1, 2]));
        assert_eq!(d.validate().map_err(|e| e.field), Err("schema"));
        let mut d = details();
        d.schema = Some(serde_json::json!({"type": "object"}));
        assert!(d.validate().is_ok());
    }

    proptest::proptest! {
        #[test]
        fn accepted_locations_are_in_range_and_distances_are_sane(
            lat1 in -100.0f64..100.0, lon1 in -200.0f64..200.0, lat2 in -90.0f64..=90.0, lon2 in -180.0f64..=180.0,
        ) {
            let Ok(a) = Location::new(lat1, lon1) else {
                proptest::prop_assert!(!(-90.0..=90.0).contains(&lat1) || !(-180.0..=180.0).contains(&lon1));
                return Ok(());
            };
            let b = Location::new(lat2, lon2).map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let d = a.distance_km(b);
            proptest::prop_assert!((0.0..=20_016.0).contains(&d), "{d}");
            proptest::prop_assert!((d - b.distance_km(a)).abs() < 1e-6);
            let (min_lat, max_lat, min_lon, max_lon) = a.bounding_box(d + 1.0);
            proptest::prop_assert!(b.lat() >= min_lat && b.lat() <= max_lat && b.lon() >= min_lon && b.lon() <= max_lon,
                "the pre-filter box must contain every point within the radius");
        }

        #[test]
        fn prices_accept_exactly_one_cent_to_the_maximum(c in proptest::num::i64::ANY) {
            proptest::prop_assert_eq!(Price::from_cents(c).is_ok(), (1..=Price::MAX_CENTS).contains(&c));
        }
    }

    #[test]
    fn only_actuators_and_both_take_commands() {
        assert!(!ProductKind::Sensor.takes_commands());
        assert!(ProductKind::Actuator.takes_commands());
        assert!(ProductKind::Both.takes_commands());
        assert!(ProductKind::parse("actuactor").is_err());
    }
}
