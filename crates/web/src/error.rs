//! One error type for the whole API: [`ApiError`] becomes
//! `{"error": {"code": …, "message": …, "field": …}}` with the matching 4xx/5xx.
//!
//! Codes are stable strings ([`ErrorCode`]): clients match on them, so they
//! never change meaning. A 5xx logs the full error chain through `tracing`
//! (linked to the request span) and answers with an opaque message: the
//! client learns nothing about our internals, the operator reads the log.
//! Everything that can reject a request before a handler runs (JSON bodies,
//! query strings, path segments, unknown routes, body limits, panics) is
//! funnelled into this same shape by [`crate::extract`] and the router.

use std::borrow::Cow;
use std::error::Error as StdError;
use std::fmt;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// Result type of every handler.
pub type ApiResult<T> = Result<T, ApiError>;

/// The stable, machine-readable error codes of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// 400: the request cannot be read (malformed JSON, bad query string).
    BadRequest,
    /// 422: the request was read but a value is not acceptable; `field` names it.
    Validation,
    /// 401: no credentials, or credentials that are not valid.
    Unauthorized,
    /// 403: the caller is known but may not do this (e.g. sign-up is closed).
    Forbidden,
    /// 404: no such resource, or one the caller may not see (we never say which).
    NotFound,
    /// 405: the path exists but not with this method.
    MethodNotAllowed,
    /// 409: the request clashes with the current state (name taken, wrong state).
    Conflict,
    /// 413: the request body is larger than the configured limit.
    PayloadTooLarge,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 429: too many attempts; `Retry-After` says when to try again.
    RateLimited,
    /// 500: our fault; details are in the server log only.
    Internal,
}

impl ErrorCode {
    /// The HTTP status that goes with this code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::BadRequest => StatusCode::BAD_REQUEST,
            Self::Validation => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict => StatusCode::CONFLICT,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::Validation => "validation",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Conflict => "conflict",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
        }
    }
}

/// An error answer of the API.
///
/// Build one with the constructors ([`ApiError::validation`],
/// [`ApiError::not_found`], …); an internal error keeps its source for the log.
#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: Cow<'static, str>,
    field: Option<Cow<'static, str>>,
    retry_after_secs: Option<u64>,
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl ApiError {
    /// An error with a code and a message, no field.
    pub fn new(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            code,
            message: message.into(),
            field: None,
            retry_after_secs: None,
            source: None,
        }
    }

    /// Names the request field the error is about.
    pub fn with_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// 400 `bad_request`.
    pub fn bad_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// 422 `validation` about `field`.
    pub fn validation(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorCode::Validation, message).with_field(field)
    }

    /// 401 `unauthorized`.
    pub fn unauthorized(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Unauthorized, message)
    }

    /// 403 `forbidden`.
    pub fn forbidden(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// 404 `not_found` for a kind of thing ("hub", "purchase", …).
    ///
    /// The same answer is given for "does not exist" and "belongs to someone
    /// else", so that ids and names of other accounts cannot be probed.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("no such {what}"))
    }

    /// 409 `conflict` about `field`.
    pub fn conflict(
        field: impl Into<Cow<'static, str>>,
        message: impl Into<Cow<'static, str>>,
    ) -> Self {
        Self::new(ErrorCode::Conflict, message).with_field(field)
    }

    /// 409 `conflict` about the state of a resource, not about one field.
    pub fn conflict_state(message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// 429 `rate_limited`, with the seconds after which to retry.
    pub fn rate_limited(retry_after_secs: u64) -> Self {
        let mut e = Self::new(ErrorCode::RateLimited, "too many attempts; try again later");
        e.retry_after_secs = Some(retry_after_secs.max(1));
        e
    }

    /// 413 `payload_too_large`.
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            ErrorCode::PayloadTooLarge,
            format!("the request body is larger than {limit} bytes"),
        )
    }

    /// 500 `internal`: the source is logged with its chain, the client sees
    /// an opaque message.
    pub fn internal(source: impl Into<Box<dyn StdError + Send + Sync + 'static>>) -> Self {
        let mut e = Self::new(ErrorCode::Internal, "internal error; it has been logged");
        e.source = Some(source.into());
        e
    }

    /// The stable code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The field the error is about, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The human-readable message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)?;
        if let Some(field) = &self.field {
            write!(f, " (field {field})")?;
        }
        Ok(())
    }
}

impl StdError for ApiError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"error": {"code": "validation", "message": "a hub name may only contain A-Z a-z 0-9 _ -", "field": "name"}}))]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The inside of [`ErrorBody`].
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code.
    pub code: ErrorCode,
    /// Human-readable explanation; may change wording between versions.
    pub message: String,
    /// The request field at fault (`null` when the error is not about one field).
    pub field: Option<String>,
}

/// Writes an error chain as `outer: inner: innermost` for the log.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        out.push_str(": ");
        out.push_str(&inner.to_string());
        cur = inner.source();
    }
    out
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        if status.is_server_error() {
            match &self.source {
                Some(source) => tracing::error!(error = %chain(source.as_ref()), "request failed"),
                None => tracing::error!(error = %self.message, "request failed"),
            }
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.into_owned(),
                field: self.field.map(Cow::into_owned),
            },
        };
        let mut response = (status, Json(body)).into_response();
        let headers = response.headers_mut();
        if self.code == ErrorCode::Unauthorized {
            // RFC 9110 §11.6.1: a 401 names the scheme the client should use.
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_maps_to_its_documented_status_and_name() {
        assert_eq!(ErrorCode::Validation.status(), 422);
        assert_eq!(ErrorCode::Validation.as_str(), "validation");
        assert_eq!(ErrorCode::PayloadTooLarge.status(), 413);
        assert_eq!(ErrorCode::RateLimited.as_str(), "rate_limited");
        let json = serde_json::to_value(ErrorCode::MethodNotAllowed).unwrap_or_default();
        assert_eq!(json, "method_not_allowed");
    }

    #[test]
    fn an_internal_error_hides_its_source_from_the_client() {
        let e = ApiError::internal(std::io::Error::other("disk on fire at /var/db"));
        assert_eq!(e.code(), ErrorCode::Internal);
        assert!(!e.message().contains("disk"));
        assert!(chain(&e).contains("disk on fire"));
    }
}
