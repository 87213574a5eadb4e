//! One error type for every page, rendered as an HTML page with the right status.
//!
//! Store errors map as the API maps them (not found 404, conflict 409, invalid input 422,
//! forbidden 403); database and other internal failures log their chain and answer an
//! opaque 500 page, never a stack trace. A missing login is not an error page but a
//! redirect to `/login?next=…`.

use agora_store::StoreError;
use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};

use crate::pages::Nav;

/// Why a page could not be served.
#[derive(Debug)]
pub enum UiError {
    /// No such thing, or not the visitor's to see (404).
    NotFound(&'static str),
    /// The form's CSRF token is missing or wrong, or the request came from another site
    /// (403).
    Csrf,
    /// The page needs a logged-in visitor: redirect to the login page, then back here.
    LoginRequired {
        /// Where to come back to (a local path).
        next: String,
    },
    /// The visitor may not do this (403).
    Forbidden(String),
    /// The form could not be read at all (400).
    BadRequest(String),
    /// The input broke a rule (422).
    Invalid(String),
    /// A name is taken or the state does not allow the change (409).
    Conflict(String),
    /// Too many attempts; wait this many seconds (429).
    RateLimited(u64),
    /// A bug or a failing database; logged, shown opaquely (500).
    Internal,
}

/// Results of handlers.
pub type UiResult<T> = Result<T, UiError>;

impl From<StoreError> for UiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound { what } => Self::NotFound(what),
            StoreError::Conflict { message, .. } => Self::Conflict(message),
            StoreError::Invalid(v) => Self::Invalid(v.to_string()),
            StoreError::Forbidden { message } => Self::Forbidden(message),
            StoreError::Transition(t) => Self::Conflict(t.to_string()),
            StoreError::Unauthenticated => Self::Forbidden("authentication failed".into()),
            StoreError::Suspended => Self::Forbidden("this account is suspended".into()),
            other => {
                tracing::error!(error = %other, "store call failed");
                Self::Internal
            }
        }
    }
}

impl From<agora_market::ValidationError> for UiError {
    fn from(v: agora_market::ValidationError) -> Self {
        Self::Invalid(v.to_string())
    }
}

#[derive(Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    nav: Nav,
    title: String,
    message: String,
}

impl UiError {
    fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Self::NotFound(what) => (
                StatusCode::NOT_FOUND,
                "Not found",
                format!("No such {what} here. It may have been deleted, or the link is wrong."),
            ),
            Self::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form could not be checked (its security token is missing or stale, or \
                 it was sent from another site). Go back, reload the page and try again."
                    .into(),
            ),
            Self::LoginRequired { .. } => (
                StatusCode::UNAUTHORIZED,
                "Log in",
                "Please log in first.".into(),
            ),
            Self::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", capitalise(m)),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, "Bad request", capitalise(m)),
            Self::Invalid(m) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                "Please check your input",
                capitalise(m),
            ),
            Self::Conflict(m) => (StatusCode::CONFLICT, "Not possible", capitalise(m)),
            Self::RateLimited(secs) => (
                StatusCode::TOO_MANY_REQUESTS,
                "Too many attempts",
                format!("Too many attempts. Please wait {secs} seconds and try again."),
            ),
            Self::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side; it has been logged. Please try again later."
                    .into(),
            ),
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if let Self::LoginRequired { next } = &self {
            let mut target = String::from("/login?next=");
            target.extend(form_urlencoded::byte_serialize(next.as_bytes()));
            return crate::pages::see_other(&target);
        }
        let (status, title, message) = self.parts();
        let page = ErrorPage {
            nav: Nav::anonymous(),
            title: title.into(),
            message,
        };
        let mut res = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "error page failed to render");
                (status, title).into_response()
            }
        };
        // The error does not know who is asking; the session layer re-renders the page with
        // the visitor's navigation bar from this copy.
        res.extensions_mut().insert(std::sync::Arc::new(page));
        if let Self::RateLimited(secs) = self
            && let Ok(v) = HeaderValue::from_str(&secs.to_string())
        {
            res.headers_mut().insert(header::RETRY_AFTER, v);
        }
        res
    }
}

impl ErrorPage {
    /// This page again with the visitor's navigation bar.
    pub(crate) fn with_nav(&self, nav: Nav) -> Option<String> {
        let page = Self {
            nav,
            title: self.title.clone(),
            message: self.message.clone(),
        };
        page.render().ok()
    }
}

/// The store's messages are lower-case sentence fragments; pages show sentences.
fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => {
            let mut out: String = first.to_uppercase().collect();
            out.push_str(c.as_str());
            if !out.ends_with(['.', '!', '?']) {
                out.push('.');
            }
            out
        }
        None => String::new(),
    }
}
