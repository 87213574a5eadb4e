//! `GET /metrics`: the broker's and the access layer's counters in the
//! Prometheus text format.
//!
//! Served only to loopback clients: counters reveal traffic patterns, and a
//! Prometheus scraper runs beside the server (or behind a proxy that decides
//! who may see them). Everyone else gets 403 with a JSON error.

use std::fmt::Write as _;
use std::net::SocketAddr;

use agora_access::Access;
use agora_broker::Broker;
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

#[derive(Clone)]
struct MetricsState {
    broker: Broker,
    access: Option<Access>,
}

/// The `/metrics` route.
pub(crate) fn router(broker: Broker, access: Option<Access>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .with_state(MetricsState { broker, access })
}

async fn metrics(
    State(state): State<MetricsState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> Response {
    if !peer.ip().is_loopback() {
        let body = serde_json::json!({"error": {"code": "forbidden", "message": "/metrics is served to local clients only"}});
        return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
    }
    let text = render(&state.broker, state.access.as_ref());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

fn counter(out: &mut String, name: &str, help: &str, kind: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The whole text.
pub(crate) fn render(broker: &Broker, access: Option<&Access>) -> String {
    let s = broker.stats();
    let mut out = String::with_capacity(4096);
    counter(
        &mut out,
        "agora_mqtt_connections",
        "MQTT connections open now.",
        "gauge",
        s.connections_current,
    );
    counter(
        &mut out,
        "agora_mqtt_connections_total",
        "MQTT connections accepted since start.",
        "counter",
        s.connections_total,
    );
    counter(
        &mut out,
        "agora_mqtt_sessions",
        "Sessions held (connected or stored).",
        "gauge",
        s.sessions,
    );
    counter(
        &mut out,
        "agora_mqtt_subscriptions",
        "Subscriptions held.",
        "gauge",
        s.subscriptions,
    );
    counter(
        &mut out,
        "agora_mqtt_retained_messages",
        "Retained messages held.",
        "gauge",
        s.retained,
    );
    counter(
        &mut out,
        "agora_mqtt_messages_received_total",
        "PUBLISH packets received from clients.",
        "counter",
        s.messages_in,
    );
    counter(
        &mut out,
        "agora_mqtt_messages_sent_total",
        "PUBLISH packets sent to clients.",
        "counter",
        s.messages_out,
    );
    counter(
        &mut out,
        "agora_mqtt_bytes_received_total",
        "Bytes received from clients.",
        "counter",
        s.bytes_in,
    );
    counter(
        &mut out,
        "agora_mqtt_bytes_sent_total",
        "Bytes sent to clients.",
        "counter",
        s.bytes_out,
    );
    counter(
        &mut out,
        "agora_mqtt_auth_failures_total",
        "CONNECTs refused by authentication.",
        "counter",
        s.auth_failures,
    );
    counter(
        &mut out,
        "agora_mqtt_protocol_errors_total",
        "Connections closed for a protocol violation.",
        "counter",
        s.protocol_errors,
    );
    counter(
        &mut out,
        "agora_mqtt_uptime_seconds",
        "Seconds since the broker started.",
        "counter",
        s.uptime_secs,
    );
    let _ = writeln!(
        out,
        "# HELP agora_mqtt_dropped_total Messages not delivered, by reason."
    );
    let _ = writeln!(out, "# TYPE agora_mqtt_dropped_total counter");
    for (reason, n) in &s.drops {
        let _ = writeln!(
            out,
            "agora_mqtt_dropped_total{{reason=\"{}\"}} {n}",
            reason.as_str()
        );
    }
    let _ = writeln!(
        out,
        "# HELP agora_mqtt_limit_hits_total Clients that ran into a configured limit, by limit."
    );
    let _ = writeln!(out, "# TYPE agora_mqtt_limit_hits_total counter");
    for (limit, n) in &s.limits {
        let _ = writeln!(
            out,
            "agora_mqtt_limit_hits_total{{limit=\"{}\"}} {n}",
            limit.as_str()
        );
    }
    if let Some(a) = access {
        a.metrics().render(&mut out);
    }
    out
}
