//! One broker connection driven by arbitrary bytes: the harness of the
//! `connection` fuzz target (`fuzz/fuzz_targets/connection.rs` includes this
//! file) and of the corpus replay in `cargo test` (`fuzz_corpus.rs`), so the
//! two cannot drift apart. It uses only the broker's public API.
//!
//! Input layout: byte 0 is a mode, the rest is what the client sends.
//! - bit 0: MQTT 5 (else 3.1.1), for the CONNECT of bit 1;
//! - bit 1: a valid CONNECT goes first, so that the rest reaches the packet
//!   loop of an accepted connection (subscribe, publish, QoS flows, aliases);
//! - bits 2–7: the size of the pieces the bytes are written in (1 + 7 × n),
//!   so that packets arrive split at every possible point.
//!
//! What must hold: the broker never panics, and it ends the connection by
//! itself once the client has sent everything and closed its side (no hang).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use agora_broker::static_auth::{Access, AclRule, StaticAuth, StaticAuthConfig};
use agora_broker::{Broker, BrokerConfig, Transport};
use agora_mqtt::{ByteString, Connect, Packet, Properties, Protocol, encode};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One runtime and one broker for every input: building a broker (and the
/// static authoriser's timing hash) per input would leave no time to fuzz.
struct Harness {
    rt: tokio::runtime::Runtime,
    broker: Broker,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let auth = StaticAuth::new(StaticAuthConfig {
            allow_anonymous: true,
            anonymous_acl: vec![AclRule {
                pattern: "#".into(),
                access: Access::ReadWrite,
            }],
            users: Vec::new(),
        })
        .expect("a valid static configuration");
        let config = BrokerConfig {
            // Sessions and retained messages would otherwise pile up over
            // millions of inputs; small limits also reach the limit paths.
            max_session_expiry: Duration::from_secs(1),
            max_queued_messages: 16,
            max_inflight: 8,
            outbound_queue: 16,
            max_packet_size: 4096,
            topic_alias_maximum: 4,
            sys_interval: None,
            close_flush_timeout: Duration::from_millis(200),
            ..BrokerConfig::default()
        };
        let broker = Broker::new(config, Arc::new(auth));
        Harness { rt, broker }
    })
}

/// A valid CONNECT with a client id of its own (ids repeat across inputs
/// only through the fuzzer's own CONNECTs).
fn connect(protocol: Protocol) -> Vec<u8> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let packet = Packet::Connect(Box::new(Connect {
        protocol,
        clean_start: true,
        keep_alive: 30,
        client_id: ByteString::from(format!("fuzz-{id}")),
        will: None,
        username: None,
        password: None,
        properties: Properties::default(),
    }));
    let mut out = BytesMut::new();
    encode(&packet, protocol, &mut out).expect("a CONNECT encodes");
    out.to_vec()
}

/// Runs one input and returns what the broker sent; panics if the broker
/// panics or does not close in time.
pub(crate) fn run(input: &[u8]) -> Vec<u8> {
    let Some((&mode, rest)) = input.split_first() else {
        return Vec::new();
    };
    let protocol = if mode & 1 == 1 {
        Protocol::V5
    } else {
        Protocol::V311
    };
    let mut bytes = if mode & 2 == 2 {
        connect(protocol)
    } else {
        Vec::new()
    };
    bytes.extend_from_slice(rest);
    let piece = 1 + 7 * usize::from(mode >> 2);
    let h = harness();
    h.rt.block_on(async {
        let (client, server) = tokio::io::duplex(16 * 1024);
        let peer: SocketAddr = ([127, 0, 0, 1], 1883).into();
        let serve = h.broker.serve_connection(server, peer, Transport::Tcp);
        let (mut rd, mut wr) = tokio::io::split(client);
        let send = async move {
            for chunk in bytes.chunks(piece) {
                if wr.write_all(chunk).await.is_err() {
                    return; // the broker closed: fine
                }
                tokio::task::yield_now().await;
            }
            let _ = wr.shutdown().await;
        };
        // Read everything the broker answers, so that it never waits on us.
        let receive = async move {
            let mut seen = Vec::new();
            let _ = rd.read_to_end(&mut seen).await;
            seen
        };
        let all = async { tokio::join!(serve, send, receive) };
        match tokio::time::timeout(Duration::from_secs(10), all).await {
            Ok(((), (), seen)) => seen,
            Err(_) => panic!("the broker did not close the connection after the client's EOF"),
        }
    })
}
