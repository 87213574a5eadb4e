//! Persistence: a broker restarted on the same store file gets back its
//! retained messages and its persistent sessions with their queues.

use std::path::Path;

use agora_broker::BrokerConfig;
use rumqttc::v5::MqttOptions;
use rumqttc::v5::mqttbytes::QoS as Q5;

use super::text;
use crate::helpers::{Ev, TestBroker, V4, V5, V5Packet};

fn persistent(o: &mut MqttOptions) {
    o.set_clean_start(false);
    o.set_session_expiry_interval(Some(600));
}

async fn start_on(file: &Path) -> TestBroker {
    TestBroker::start_with(BrokerConfig {
        persistence: Some(file.to_path_buf()),
        ..BrokerConfig::default()
    })
    .await
}

#[tokio::test]
async fn retained_messages_and_a_persistent_sessions_queue_survive_a_restart_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broker.redb");

    let t = start_on(&file).await;
    let mut s = V5::connect(t.addr, "keeper", "u", persistent).await;
    s.sub("q/#", Q5::AtLeastOnce).await;
    s.disconnect().await;
    let mut c = V5::connect(t.addr, "forgetter", "u", |_| {}).await;
    c.sub("q/#", Q5::AtLeastOnce).await;
    c.disconnect().await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("r/a", Q5::AtLeastOnce, true, "kept")
        .await
        .expect("publish");
    p.puback().await;
    for i in 0..5 {
        p.client
            .publish(format!("q/{i}"), Q5::AtLeastOnce, false, format!("m{i}"))
            .await
            .expect("publish");
        // Acknowledged only once on disk.
        p.puback().await;
    }
    p.disconnect().await;
    t.stop().await;

    let t = start_on(&file).await;
    let (mut s, ack) = V5::try_connect(t.addr, "keeper", "u", "pw", persistent).await;
    assert!(ack.expect("reconnects").session_present);
    for i in 0..5 {
        assert_eq!(text(&s.publish().await.payload), format!("m{i}"));
    }
    let (c, ack) = V5::try_connect(t.addr, "forgetter", "u", "pw", |_| {}).await;
    assert!(
        !ack.expect("reconnects").session_present,
        "a clean session is not stored"
    );
    c.disconnect().await;
    let mut r = V5::connect(t.addr, "reader", "u", |_| {}).await;
    r.sub("r/a", Q5::AtLeastOnce).await;
    let m = r.publish().await;
    assert_eq!((text(&m.payload), m.retain), ("kept", true));
    r.disconnect().await;
    // rumqttc acknowledged the five; they must not come back.
    s.disconnect().await;
    t.stop().await;

    let t = start_on(&file).await;
    let (mut s, ack) = V5::try_connect(t.addr, "keeper", "u", "pw", persistent).await;
    assert!(ack.expect("reconnects").session_present);
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("q/sentinel", Q5::AtLeastOnce, false, "sentinel")
        .await
        .expect("publish");
    p.puback().await;
    assert_eq!(
        text(&s.publish().await.payload),
        "sentinel",
        "acknowledged messages are not delivered again, and the subscription came back"
    );
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_retained_delete_and_a_session_ended_by_clean_start_stay_gone_after_a_restart() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broker.redb");

    let t = start_on(&file).await;
    let mut s = V5::connect(t.addr, "keeper", "u", persistent).await;
    s.sub("q/#", Q5::AtLeastOnce).await;
    s.disconnect().await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    for (topic, body) in [("r/a", "1"), ("r/a", ""), ("r/b", "2"), ("q/x", "x")] {
        p.client
            .publish(topic, Q5::AtLeastOnce, true, body)
            .await
            .expect("publish");
        p.puback().await;
    }
    p.disconnect().await;
    // Clean Start discards the stored session and its queue.
    let c = V5::connect(t.addr, "keeper", "u", |o| {
        o.set_clean_start(true);
    })
    .await;
    c.disconnect().await;
    t.stop().await;

    let t = start_on(&file).await;
    assert_eq!(t.broker.stats().retained, 2, "r/b and q/x");
    let (s, ack) = V5::try_connect(t.addr, "keeper", "u", "pw", persistent).await;
    assert!(!ack.expect("reconnects").session_present);
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_v311_persistent_sessions_qos2_queue_survives_a_restart_and_is_delivered_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("broker.redb");
    let persistent = |o: &mut rumqttc::MqttOptions| {
        o.set_clean_session(false);
    };

    let t = start_on(&file).await;
    let mut s = V4::connect(t.addr, "keeper4", "u", persistent).await;
    s.sub("k4", rumqttc::QoS::ExactlyOnce).await;
    s.disconnect().await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    for body in ["one", "two"] {
        p.client
            .publish("k4", Q5::ExactlyOnce, false, body)
            .await
            .expect("publish");
        // PUBREC (what waits for the disk), then PUBCOMP.
        loop {
            if let Ev::Packet(V5Packet::PubComp(_)) = p.next().await {
                break;
            }
        }
    }
    p.disconnect().await;
    t.stop().await;

    let t = start_on(&file).await;
    let mut s = V4::connect(t.addr, "keeper4", "u", persistent).await;
    for body in ["one", "two"] {
        let m = s.publish().await;
        assert_eq!((text(&m.payload), m.qos), (body, rumqttc::QoS::ExactlyOnce));
    }
    s.disconnect().await;
    t.stop().await;

    let t = start_on(&file).await;
    let mut s = V4::connect(t.addr, "keeper4", "u", persistent).await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("k4", Q5::AtLeastOnce, false, "sentinel")
        .await
        .expect("publish");
    p.puback().await;
    assert_eq!(
        text(&s.publish().await.payload),
        "sentinel",
        "messages the client took (PUBREC) are not stored any more"
    );
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}
