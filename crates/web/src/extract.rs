//! Request extractors that fail with an [`ApiError`] instead of axum's
//! plain-text rejections, and that name the field at fault.
//!
//! - [`Json`]: 415 `unsupported_media_type` unless the body is JSON,
//!   413 `payload_too_large` past the body limit, 400 `bad_request` for JSON
//!   that does not parse, 422 `validation` with `field` for JSON that parses
//!   but has a missing, unknown or ill-typed field.
//! - [`Query`]: 422 `validation` with `field` (a query string always parses;
//!   only its values can be wrong).
//! - [`Path`]: 404 `not_found`: a path segment that cannot name a resource
//!   names none.
//!
//! Axum's own `Json`/`Query` already use `serde_path_to_error`, but only
//! expose the path inside a message meant for people; doing the
//! deserialisation here gives us the path as data.

use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// A JSON request body, rejected in the API's error format.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

fn is_json_content_type(req: &Request) -> bool {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

impl<S, T> FromRequest<S> for Json<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json_content_type(&req) {
            return Err(unsupported_media_type());
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(Json)
    }
}

/// A JSON body that may be left out entirely: an empty body reads as `T::default()`
/// (for actions such as `POST /purchases/{id}/approve`, whose body is optional).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrEmpty<T>(pub T);

impl<S, T> FromRequest<S> for JsonOrEmpty<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Default,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let json = is_json_content_type(&req);
        let bytes = read_body(req, state).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonOrEmpty(T::default()));
        }
        if !json {
            return Err(unsupported_media_type());
        }
        parse_json(&bytes).map(JsonOrEmpty)
    }
}

fn unsupported_media_type() -> ApiError {
    ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "expected a body with Content-Type: application/json",
    )
}

async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                ErrorCode::PayloadTooLarge,
                "the request body is larger than this server accepts",
            )
        } else {
            ApiError::bad_request(format!("cannot read the request body: {rejection}"))
        }
    })
}

/// Deserialises a JSON document, classifying failures as the API reports them.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(json_error)?;
    // Trailing garbage after the document is a syntax error, not a value.
    de.end()
        .map_err(|e| ApiError::bad_request(format!("malformed JSON: {e}")))?;
    Ok(value)
}

fn json_error(e: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    use serde_json::error::Category;
    let path = e.path().to_string();
    let inner = e.into_inner();
    match inner.classify() {
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::bad_request(format!("malformed JSON: {inner}"))
        }
        Category::Data => {
            let message = inner.to_string();
            let field = field_of(&path, &message);
            let mut err = ApiError::new(ErrorCode::Validation, strip_position(&message));
            if let Some(field) = field {
                err = err.with_field(field);
            }
            err
        }
    }
}

/// The field a serde data error is about: its path, except for "missing field `x`",
/// which serde reports at the parent, so the parent path plus `x`.
fn field_of(path: &str, message: &str) -> Option<String> {
    let parent = if path == "." { None } else { Some(path) };
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let unknown = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next());
    match (parent, missing, unknown) {
        (Some(p), Some(n), _) => Some(format!("{p}.{n}")),
        (None, Some(n), _) | (None, None, Some(n)) => Some(n.to_owned()),
        (Some(p), None, _) => Some(p.to_owned()),
        (None, None, None) => None,
    }
}

/// serde_json appends " at line L column C"; the field is more useful.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// A query string, rejected in the API's error format with the field named.
///
/// Unknown parameters are ignored, so one request may be read by several
/// `Query<_>` extractors (filters and pagination, for instance).
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        parse_query(parts.uri.query().unwrap_or_default()).map(Query)
    }
}

/// Deserialises a query string, naming the parameter at fault.
pub(crate) fn parse_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let message = e.into_inner().to_string();
        let mut err = ApiError::new(ErrorCode::Validation, message.clone());
        if let Some(field) = field_of(&path, &message) {
            err = err.with_field(field);
        }
        err
    })
}

/// Path parameters; a segment that does not parse is a 404.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<S, T> FromRequestParts<S> for Path<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => {
                Err(ApiError::new(ErrorCode::NotFound, "no such resource"))
            }
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)] // fields exist to be deserialised into
    struct Body {
        name: String,
        limits: Option<Limits>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Limits {
        rate: u32,
    }

    fn err_of(json: &str) -> ApiError {
        match parse_json::<Body>(json.as_bytes()) {
            Ok(b) => panic!("expected an error, got {b:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn malformed_json_is_a_bad_request_without_field() {
        let e = err_of("{\"name\": ");
        assert_eq!(e.code(), ErrorCode::BadRequest);
        assert_eq!(e.field(), None);
        assert_eq!(
            err_of("{\"name\": \"a\"} trailing").code(),
            ErrorCode::BadRequest
        );
    }

    #[test]
    fn a_missing_field_is_named() {
        let e = err_of("{}");
        assert_eq!(e.code(), ErrorCode::Validation);
        assert_eq!(e.field(), Some("name"));
        let e = err_of(r#"{"name":"a","limits":{}}"#);
        assert_eq!(e.field(), Some("limits.rate"));
    }

    #[test]
    fn an_ill_typed_or_unknown_field_is_named() {
        let e = err_of(r#"{"name": 5}"#);
        assert_eq!(e.field(), Some("name"));
        assert!(!e.message().contains("line"), "{}", e.message());
        let e = err_of(r#"{"name":"a","limits":{"rate":"fast"}}"#);
        assert_eq!(e.field(), Some("limits.rate"));
        let e = err_of(r#"{"name":"a","colour":"red"}"#);
        assert_eq!(e.field(), Some("colour"));
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Params {
        limit: Option<u32>,
        restricted: Option<bool>,
    }

    #[test]
    fn a_query_value_of_the_wrong_type_names_its_parameter() {
        let e = match parse_query::<Params>("limit=ten") {
            Ok(p) => panic!("expected an error, got {p:?}"),
            Err(e) => e,
        };
        assert_eq!(e.code(), ErrorCode::Validation);
        assert_eq!(e.field(), Some("limit"));
        let ok = parse_query::<Params>("limit=10&restricted=true&other=x");
        assert!(matches!(
            ok,
            Ok(Params {
                limit: Some(10),
                restricted: Some(true)
            })
        ));
    }
}
