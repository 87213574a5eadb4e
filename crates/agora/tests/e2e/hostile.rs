//! Hostile clients: garbage, half packets, slow CONNECTs, oversized packets,
//! floods, a reader that never reads, bad passwords. The broker must close
//! the offender, keep serving everyone else, and keep its memory bounded.

use std::time::Duration;

use agora_mqtt::{ByteString, Packet, Properties, Protocol, Publish, QoS};
use bytes::Bytes;

use crate::helpers::*;
use crate::raw::Raw;

fn config(extra: &str) -> String {
    format!(
        r#"
[broker]
{extra}

[auth]
mode = "static"
allow_anonymous = true
anonymous_acl = [ {{ pattern = "load/#", access = "readwrite" }} ]
"#
    )
}

/// A deterministic byte stream (xorshift): the same "random" garbage every run.
fn garbage(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn publish(topic: &str, payload: Vec<u8>) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from(topic.to_owned()),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from(payload),
    })
}

/// A subscriber on `load/#` and a check that a message still reaches it.
fn still_serves(agora: &Agora, sub: &mut Raw, tag: &str) {
    let mut p = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(p.connect(&format!("pub-{tag}"), None, None), 0);
    p.send(&publish("load/check", tag.as_bytes().to_vec()))
        .expect("publish");
    loop {
        match sub.read() {
            Some(Packet::Publish(m)) if m.payload.as_ref() == tag.as_bytes() => return,
            Some(_) => continue,
            None => panic!("the well-behaved subscriber lost its connection"),
        }
    }
}

#[test]
fn garbage_and_truncated_packets_close_only_the_offending_connections() {
    let agora = spawn_agora(&config(""));
    let mut sub = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(sub.connect("good", None, None), 0);
    assert_eq!(sub.subscribe(1, "load/#", QoS::AtMostOnce), 0);
    for seed in 1..=40u64 {
        let mut bad = Raw::open(agora.mqtt, Protocol::V5);
        let bytes = garbage(seed, 64 + (seed as usize * 37) % 4000);
        let _ = bad.send_bytes(&bytes);
        assert!(
            bad.closed_by_server(),
            "garbage seed {seed} did not close the connection"
        );
    }
    // Half a CONNECT, then the client goes away; and a valid CONNECT followed by garbage.
    for cut in [1usize, 2, 5, 10] {
        let mut bad = Raw::open(agora.mqtt, Protocol::V5);
        let mut full = bytes::BytesMut::new();
        agora_mqtt::encode(
            &Packet::Connect(Box::new(agora_mqtt::Connect {
                protocol: Protocol::V5,
                clean_start: true,
                keep_alive: 10,
                client_id: ByteString::from_static("half"),
                will: None,
                username: None,
                password: None,
                properties: Properties::default(),
            })),
            Protocol::V5,
            &mut full,
        )
        .expect("encode");
        let _ = bad.send_bytes(&full[..cut.min(full.len())]);
        drop(bad);
    }
    let mut after = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(after.connect("then-garbage", None, None), 0);
    let _ = after.send_bytes(&garbage(99, 512));
    assert!(after.closed_by_server());
    still_serves(&agora, &mut sub, "after garbage");
}

#[test]
fn a_slowloris_connect_is_closed_after_the_connect_timeout() {
    let agora = spawn_agora(&config("connect_timeout = \"1s\""));
    let mut slow = Raw::open(agora.mqtt, Protocol::V5);
    slow.send_bytes(&[0x10, 0x20]).expect("two bytes");
    assert!(
        slow.closed_by_server(),
        "a CONNECT that never completes must be dropped"
    );
    let mut silent = Raw::open(agora.mqtt, Protocol::V5);
    assert!(
        silent.closed_by_server(),
        "a connection that sends nothing must be dropped"
    );
}

#[test]
fn a_packet_over_the_maximum_size_is_refused_with_0x95() {
    let agora = spawn_agora(&config("max_packet_size = 1024"));
    let mut c = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(c.connect("big", None, None), 0);
    c.send(&publish("load/big", vec![b'x'; 4096]))
        .expect("send");
    match c.read() {
        Some(Packet::Disconnect(d)) => assert_eq!(d.reason.as_u8(), 0x95),
        None => {}
        other => panic!("expected DISCONNECT 0x95, got {other:?}"),
    }
    assert!(c.closed_by_server());
}

#[test]
fn a_subscription_flood_runs_into_the_limit_with_0x97() {
    let agora = spawn_agora(&config("max_subscriptions = 10"));
    let mut c = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(c.connect("flood", None, None), 0);
    for i in 0..10u16 {
        assert_eq!(
            c.subscribe(i + 1, &format!("load/{i}"), QoS::AtMostOnce),
            0,
            "subscription {i}"
        );
    }
    assert_eq!(c.subscribe(11, "load/one-too-many", QoS::AtMostOnce), 0x97);
}

#[test]
fn a_subscriber_that_never_reads_keeps_the_broker_memory_bounded() {
    let agora = spawn_agora(&config(""));
    let mut good = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(good.connect("good", None, None), 0);
    assert_eq!(good.subscribe(1, "load/check", QoS::AtMostOnce), 0);
    let mut stuck = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(stuck.connect("stuck", None, None), 0);
    assert_eq!(stuck.subscribe(1, "load/#", QoS::AtMostOnce), 0);
    let before = agora.rss_kib();
    // 20,000 × 4 KiB = 80 MiB published at a subscriber that reads nothing.
    let mut p = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(p.connect("flooder", None, None), 0);
    let payload = vec![b'z'; 4096];
    let mut batch = bytes::BytesMut::new();
    for i in 0..20_000 {
        agora_mqtt::encode(
            &publish("load/flood", payload.clone()),
            Protocol::V5,
            &mut batch,
        )
        .expect("encode");
        if i % 100 == 99 {
            p.send_bytes(&batch).expect("flood");
            batch.clear();
        }
    }
    still_serves(&agora, &mut good, "still here");
    let after = agora.rss_kib();
    let growth_mib = after.saturating_sub(before) / 1024;
    eprintln!("broker RSS {before} KiB -> {after} KiB while a subscriber read nothing of 80 MiB");
    assert!(
        growth_mib < 48,
        "memory grew by {growth_mib} MiB: the stuck subscriber's queue is not bounded"
    );
    drop(stuck);
}

#[test]
fn ten_thousand_connections_at_once_are_served() {
    let agora = spawn_agora(&config(""));
    let before = agora.rss_kib();
    let mut conns = Vec::with_capacity(10_000);
    for i in 0..10_000 {
        let mut c = Raw::open(agora.mqtt, Protocol::V311);
        c.send(&Packet::Connect(Box::new(agora_mqtt::Connect {
            protocol: Protocol::V311,
            clean_start: true,
            keep_alive: 0,
            client_id: ByteString::from(format!("idle-{i}")),
            will: None,
            username: None,
            password: None,
            properties: Properties::default(),
        })))
        .expect("CONNECT");
        conns.push(c);
    }
    let mut accepted = 0;
    for c in &mut conns {
        if matches!(c.read(), Some(Packet::ConnAck(a)) if a.reason.as_u8() == 0) {
            accepted += 1;
        }
    }
    assert_eq!(accepted, 10_000);
    let after = agora.rss_kib();
    eprintln!(
        "10,000 idle connections: broker RSS {before} KiB -> {after} KiB ({:.2} KiB per connection)",
        after.saturating_sub(before) as f64 / 10_000.0
    );
    let mut sub = Raw::open(agora.mqtt, Protocol::V5);
    assert_eq!(sub.connect("check-sub", None, None), 0);
    assert_eq!(sub.subscribe(1, "load/check", QoS::AtMostOnce), 0);
    still_serves(&agora, &mut sub, "with 10k idle");
}

#[test]
fn a_storm_of_bad_passwords_does_not_lock_out_legitimate_clients() {
    let hash = hash_password("the right passphrase");
    let agora = spawn_agora(&format!(
        r#"
[auth]
mode = "static"
[[auth.users]]
username = "dev"
password_hash = "{hash}"
acl = [ {{ pattern = "load/#", access = "readwrite" }} ]
"#
    ));
    let addr = agora.mqtt;
    let attackers: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                let mut codes = Vec::new();
                for i in 0..25 {
                    let mut c = Raw::open(addr, Protocol::V5);
                    codes.push(c.connect(&format!("atk-{t}-{i}"), Some("dev"), Some("guess")));
                }
                codes
            })
        })
        .collect();
    // The attacker guesses from 127.0.0.1; the legitimate client is another machine.
    let mut legit = Raw::open_from(std::net::IpAddr::from([127, 0, 0, 2]), addr, Protocol::V5);
    legit
        .stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("timeout");
    assert_eq!(
        legit.connect("legit", Some("dev"), Some("the right passphrase")),
        0
    );
    assert_eq!(legit.subscribe(1, "load/#", QoS::AtMostOnce), 0);
    let codes: Vec<u8> = attackers
        .into_iter()
        .flat_map(|h| h.join().expect("attacker"))
        .collect();
    assert!(
        codes.iter().all(|c| *c >= 0x80),
        "every guess is refused: {codes:?}"
    );
    let throttled = codes.iter().filter(|c| **c == 0x9F).count();
    assert!(
        throttled >= 80,
        "after its burst the address is throttled (0x9F) without a check: {codes:?}"
    );
    legit
        .send(&publish("load/x", b"ok".to_vec()))
        .expect("publish");
    assert!(
        matches!(legit.read(), Some(Packet::Publish(_))),
        "the legitimate client still works"
    );
}
