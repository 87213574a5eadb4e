//! Codec hot paths: decoding and encoding a typical 64-byte-payload PUBLISH
//! (3.1.1 and 5.0) and a CONNECT.
//!
//! Decoding a PUBLISH slices the payload and topic out of the receive buffer
//! (no copy); the only allocation a PUBLISH may cause is in the properties it
//! carries (user properties, subscription identifiers). The setup that
//! refills the buffer is outside the measurement (`iter_batched_ref`).

#![allow(missing_docs)]

use std::hint::black_box;

use agora_mqtt::{
    ByteString, Connect, Packet, Properties, Protocol, PublishRef, QoS, Will, decode, encode,
    encode_publish,
};
use bytes::{Bytes, BytesMut};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};

const TOPIC: &str = "hub-7/device-42/temperature";
const MAX: usize = 1 << 20;

fn publish_ref<'a>(props: &'a Properties, payload: &'a [u8]) -> PublishRef<'a> {
    PublishRef {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: TOPIC,
        packet_id: Some(17),
        properties: props,
        subscription_identifiers: &[3],
        topic_alias: None,
        payload,
    }
}

fn v5_props() -> Properties {
    Properties {
        message_expiry_interval: Some(60),
        content_type: Some(ByteString::from_static("application/json")),
        ..Properties::default()
    }
}

fn connect(protocol: Protocol) -> Packet {
    let v5 = protocol == Protocol::V5;
    Packet::Connect(Box::new(Connect {
        protocol,
        clean_start: true,
        keep_alive: 60,
        client_id: ByteString::from_static("device-42"),
        will: Some(Will {
            topic: ByteString::from_static("hub-7/device-42/status"),
            payload: Bytes::from_static(b"offline"),
            qos: QoS::AtLeastOnce,
            retain: true,
            properties: Properties::default(),
        }),
        username: Some(ByteString::from_static("hub-7.device-42")),
        password: Some(Bytes::from_static(b"0123456789abcdef0123456789abcdef")),
        properties: if v5 {
            Properties {
                session_expiry_interval: Some(3600),
                receive_maximum: Some(32),
                ..Properties::default()
            }
        } else {
            Properties::default()
        },
    }))
}

/// Packets per decode batch: a reader drains a buffer holding many packets,
/// and the one-off cost of turning a fresh `BytesMut` into a shared buffer
/// (its first `split_to`) is paid once per buffer, not once per packet.
const BATCH: usize = 100;

fn bench_publish(c: &mut Criterion) {
    let payload = [0x5Au8; 64];
    let none = Properties::default();
    let props = v5_props();
    let mut group = c.benchmark_group("publish");
    for (name, protocol, props) in [
        ("v311", Protocol::V311, &none),
        ("v5", Protocol::V5, &props),
    ] {
        // What a client sends (no subscription identifiers) ...
        let incoming = PublishRef {
            subscription_identifiers: &[],
            ..publish_ref(props, &payload)
        };
        let mut frame = BytesMut::new();
        encode_publish(&incoming, protocol, &mut frame).expect("valid PUBLISH");
        let mut batch = BytesMut::new();
        for _ in 0..BATCH {
            batch.extend_from_slice(&frame);
        }
        group.throughput(Throughput::Elements(BATCH as u64));
        group.bench_function(format!("decode/{name}/{}B", frame.len()), |b| {
            b.iter_batched_ref(
                || batch.clone(),
                |buf| {
                    while let Ok(Some(p)) = decode(buf, Some(protocol), MAX) {
                        black_box(p);
                    }
                },
                BatchSize::SmallInput,
            )
        });
        // ... and what the broker fans out (with a subscription identifier on v5).
        let outgoing = publish_ref(props, &payload);
        let len = agora_mqtt::publish_len(&outgoing, protocol);
        let mut out = BytesMut::with_capacity(4096);
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("encode/{name}/{len}B"), |b| {
            b.iter(|| {
                out.clear();
                encode_publish(black_box(&outgoing), protocol, &mut out).expect("valid PUBLISH");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

fn bench_connect(c: &mut Criterion) {
    let mut group = c.benchmark_group("connect");
    for (name, protocol) in [("v311", Protocol::V311), ("v5", Protocol::V5)] {
        let packet = connect(protocol);
        let mut frame = BytesMut::new();
        encode(&packet, protocol, &mut frame).expect("valid CONNECT");
        group.bench_function(format!("decode/{name}/{}B", frame.len()), |b| {
            b.iter_batched_ref(
                || frame.clone(),
                |buf| black_box(decode(buf, None, MAX)),
                BatchSize::SmallInput,
            )
        });
        let mut out = BytesMut::with_capacity(4096);
        group.bench_function(format!("encode/{name}/{}B", frame.len()), |b| {
            b.iter(|| {
                out.clear();
                encode(black_box(&packet), protocol, &mut out).expect("valid CONNECT");
                black_box(out.len())
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_publish, bench_connect);
criterion_main!(benches);
