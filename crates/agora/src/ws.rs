//! MQTT over WebSocket at `/mqtt` on the HTTP port.
//!
//! MQTT packets may span WebSocket frames and one frame may carry several
//! packets, so the broker must not see frames at all: this module turns the
//! WebSocket into a byte stream (an in-memory duplex pipe pumped in both
//! directions) and hands that to [`Broker::serve_connection`], the same
//! pipeline TCP and TLS connections use. Browsers thus reach the broker on the
//! web UI's own origin, port and certificate.

use std::net::SocketAddr;

use agora_broker::Broker;
use agora_broker::auth::Transport;
use axum::Router;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::response::IntoResponse;
use axum::routing::get;
use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Buffer of the in-memory pipe between the WebSocket and the broker, per direction.
const PIPE_BYTES: usize = 64 * 1024;

/// State of the `/mqtt` route.
#[derive(Clone)]
struct WsState {
    broker: Broker,
    max_message: usize,
}

/// The `/mqtt` route, to merge into the HTTP router.
pub(crate) fn router(broker: Broker, max_packet_size: usize) -> Router {
    Router::new()
        .route("/mqtt", get(upgrade))
        .with_state(WsState {
            broker,
            // A frame never needs to hold more than one maximal packet plus its header.
            max_message: max_packet_size + 8,
        })
}

async fn upgrade(
    ws: WebSocketUpgrade,
    State(state): State<WsState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
) -> impl IntoResponse {
    // MQTT over WebSocket names the subprotocol "mqtt" (5.0 §6, 3.1.1 §6);
    // "mqttv3.1" is what some older clients still send.
    ws.protocols(["mqtt", "mqttv3.1"])
        .max_message_size(state.max_message)
        .max_frame_size(state.max_message)
        .on_upgrade(move |socket| bridge(socket, state.broker, peer))
}

/// Pumps bytes between `socket` and a broker connection until either side closes.
async fn bridge(socket: WebSocket, broker: Broker, peer: SocketAddr) {
    let (client_end, broker_end) = tokio::io::duplex(PIPE_BYTES);
    let (mut from_broker, mut to_broker) = tokio::io::split(client_end);
    let (mut ws_tx, mut ws_rx) = socket.split();

    let inbound = async move {
        while let Some(msg) = ws_rx.next().await {
            match msg {
                Ok(Message::Binary(data)) => {
                    if to_broker.write_all(&data).await.is_err() {
                        break;
                    }
                }
                // MQTT must travel in binary frames [MQTT-6.0.0-1]: a text
                // frame is a protocol violation, so the connection is closed.
                Ok(Message::Text(_)) => {
                    tracing::debug!(%peer, "text frame on /mqtt, closing");
                    break;
                }
                Ok(Message::Ping(_) | Message::Pong(_)) => {}
                Ok(Message::Close(_)) | Err(_) => break,
            }
        }
        // EOF tells the broker the client is gone (it then publishes the will).
        let _ = to_broker.shutdown().await;
    };

    let outbound = async move {
        let mut buf = BytesMut::with_capacity(PIPE_BYTES);
        loop {
            buf.reserve(PIPE_BYTES);
            match from_broker.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                // Everything the broker wrote since the last wake-up goes out
                // as one frame: batching, as on TCP.
                Ok(_) => {
                    if ws_tx
                        .send(Message::Binary(buf.split().freeze()))
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
            }
        }
        let _ = ws_tx.send(Message::Close(None)).await;
    };

    // When the broker ends the connection the client may never close its
    // side, so outbound finishing drops inbound (and with it the socket);
    // when the client leaves first, outbound still drains what the broker sends.
    let pump = async move {
        tokio::pin!(inbound, outbound);
        tokio::select! {
            () = &mut outbound => {}
            () = &mut inbound => outbound.await,
        }
    };
    let serve = broker.serve_connection(broker_end, peer, Transport::WebSocket);
    tokio::join!(serve, pump);
}
