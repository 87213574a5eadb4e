//! `GET /healthz`: the process answers and the database does too.
//!
//! Not under `/api/v1` (load balancers and `curl` in scripts expect a fixed path), and not
//! in the OpenAPI document (it is for operators, not API clients).

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::ApiState;

/// `GET /healthz`.
pub fn router() -> Router<ApiState> {
    Router::new().route("/healthz", get(healthz))
}

async fn healthz(State(state): State<ApiState>) -> impl IntoResponse {
    match state.store().ping().await {
        Ok(_) => (StatusCode::OK, "ok\n"),
        Err(e) => {
            tracing::error!(error = %e, "health check: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n")
        }
    }
}
