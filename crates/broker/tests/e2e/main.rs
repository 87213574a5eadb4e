//! End-to-end tests: a real broker on a real socket, driven by independent
//! clients (rumqttc v4 and v5, a raw byte client, mosquitto_pub/sub where
//! installed). Every wait has an upper bound (`helpers::WAIT`) and waits for
//! an event, never for time to pass; "nothing arrives" is shown by a later
//! sentinel message arriving first.

mod connection_input;
mod durability;
mod fuzz_corpus;
mod helpers;

use std::time::Duration;

use agora_broker::{BrokerConfig, Limit};
use agora_mqtt::{ByteString, Packet, Properties, Protocol, Publish, ReasonCode};
use bytes::Bytes;
use helpers::{Raw, TestBroker, V4, V5, connect_packet, have};
use rumqttc::v5::mqttbytes::QoS as Q5;
use rumqttc::v5::mqttbytes::v5::{
    DisconnectReasonCode, Filter, LastWill, LastWillProperties, PubAckReason, PublishProperties,
    RetainForwardRule, SubscribeProperties, SubscribeReasonCode,
};

fn text(b: &[u8]) -> &str {
    std::str::from_utf8(b).unwrap_or("<binary>")
}

#[tokio::test]
async fn a_v5_subscriber_receives_qos0_qos1_and_qos2_at_the_lower_of_both_qos() {
    let t = TestBroker::start().await;
    let mut sub = V5::connect(t.addr, "sub", "u", |_| {}).await;
    assert_eq!(
        sub.sub("q/1", Q5::AtLeastOnce).await,
        SubscribeReasonCode::Success(Q5::AtLeastOnce)
    );
    assert_eq!(
        sub.sub("q/2", Q5::ExactlyOnce).await,
        SubscribeReasonCode::Success(Q5::ExactlyOnce)
    );
    let publisher = V5::connect(t.addr, "pub", "u", |_| {}).await;
    publisher
        .client
        .publish("q/1", Q5::AtMostOnce, false, "zero")
        .await
        .unwrap();
    publisher
        .client
        .publish("q/1", Q5::ExactlyOnce, false, "two-down")
        .await
        .unwrap();
    publisher
        .client
        .publish("q/2", Q5::AtLeastOnce, false, "one")
        .await
        .unwrap();
    publisher
        .client
        .publish("q/2", Q5::ExactlyOnce, false, "two")
        .await
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..4 {
        let p = sub.publish().await;
        got.push((text(&p.payload).to_owned(), p.qos));
    }
    assert_eq!(
        got,
        vec![
            ("zero".to_owned(), Q5::AtMostOnce),
            ("two-down".to_owned(), Q5::AtLeastOnce),
            ("one".to_owned(), Q5::AtLeastOnce),
            ("two".to_owned(), Q5::ExactlyOnce),
        ]
    );
    publisher.disconnect().await;
    sub.disconnect().await;
    let stats = t.broker.stats();
    assert_eq!(stats.messages_in, 4);
    assert!(stats.messages_out >= 4);
    t.stop().await;
}

#[tokio::test]
async fn a_v4_client_publishes_and_receives_qos0_qos1_and_qos2() {
    let t = TestBroker::start().await;
    let mut sub = V4::connect(t.addr, "sub4", "u", |_| {}).await;
    assert_eq!(
        sub.sub("v4/#", rumqttc::QoS::ExactlyOnce).await,
        rumqttc::SubscribeReasonCode::Success(rumqttc::QoS::ExactlyOnce)
    );
    let publisher = V4::connect(t.addr, "pub4", "u", |_| {}).await;
    for (i, qos) in [
        rumqttc::QoS::AtMostOnce,
        rumqttc::QoS::AtLeastOnce,
        rumqttc::QoS::ExactlyOnce,
    ]
    .into_iter()
    .enumerate()
    {
        publisher
            .client
            .publish(format!("v4/{i}"), qos, false, vec![i as u8])
            .await
            .unwrap();
        let p = sub.publish().await;
        assert_eq!(
            (p.topic.as_str(), p.qos, &p.payload[..]),
            (&*format!("v4/{i}"), qos, &[i as u8][..])
        );
        assert!(
            !p.retain,
            "[MQTT-3.3.1-9] live messages are not flagged retained"
        );
    }
    publisher.disconnect().await;
    sub.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_retained_message_is_set_replaced_and_deleted() {
    let t = TestBroker::start().await;
    let p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("r/a", Q5::AtLeastOnce, true, "1")
        .await
        .unwrap();
    p.client
        .publish("r/a", Q5::AtLeastOnce, true, "2")
        .await
        .unwrap();
    p.client
        .publish("r/b", Q5::AtLeastOnce, true, "b")
        .await
        .unwrap();
    p.client
        .publish("r/b", Q5::AtLeastOnce, true, "")
        .await
        .unwrap();
    p.client
        .publish("r/sentinel", Q5::AtLeastOnce, true, "s")
        .await
        .unwrap();
    // The publisher's own acks order its publishes before the subscriber arrives.
    let mut p = p;
    for _ in 0..5 {
        p.puback().await;
    }
    let mut s = V5::connect(t.addr, "sub", "u", |_| {}).await;
    s.sub("r/a", Q5::AtLeastOnce).await;
    let m = s.publish().await;
    assert_eq!((text(&m.payload), m.retain), ("2", true));
    s.sub("r/b", Q5::AtLeastOnce).await;
    s.sub("r/sentinel", Q5::AtLeastOnce).await;
    let m = s.publish().await;
    assert_eq!(
        text(&m.payload),
        "s",
        "the deleted retained message is not sent"
    );
    assert_eq!(t.broker.stats().retained, 2);
    p.disconnect().await;
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn retain_as_published_keeps_the_retain_flag_on_live_messages() {
    let t = TestBroker::start().await;
    let filter = |rap| Filter {
        path: "rap".into(),
        qos: Q5::AtLeastOnce,
        nolocal: false,
        preserve_retain: rap,
        retain_forward_rule: RetainForwardRule::OnEverySubscribe,
    };
    let mut keep = V5::connect(t.addr, "keep", "u", |_| {}).await;
    keep.client
        .subscribe_many(vec![filter(true)])
        .await
        .unwrap();
    keep.suback().await;
    let mut plain = V5::connect(t.addr, "plain", "u", |_| {}).await;
    plain
        .client
        .subscribe_many(vec![filter(false)])
        .await
        .unwrap();
    plain.suback().await;
    let p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("rap", Q5::AtLeastOnce, true, "r")
        .await
        .unwrap();
    assert!(keep.publish().await.retain);
    assert!(!plain.publish().await.retain);
    keep.disconnect().await;
    plain.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn retain_handling_1_sends_only_for_new_subscriptions_and_2_never() {
    let t = TestBroker::start().await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("rh/x", Q5::AtLeastOnce, true, "kept")
        .await
        .unwrap();
    p.puback().await;
    let mut s = V5::connect(t.addr, "sub", "u", |_| {}).await;
    let filter = |rule| Filter {
        path: "rh/x".into(),
        qos: Q5::AtLeastOnce,
        nolocal: false,
        preserve_retain: false,
        retain_forward_rule: rule,
    };
    s.client
        .subscribe_many(vec![filter(RetainForwardRule::OnNewSubscribe)])
        .await
        .unwrap();
    s.suback().await;
    assert_eq!(text(&s.publish().await.payload), "kept");
    // Again: the subscription exists now, so nothing is sent.
    s.client
        .subscribe_many(vec![filter(RetainForwardRule::OnNewSubscribe)])
        .await
        .unwrap();
    s.suback().await;
    let mut s2 = V5::connect(t.addr, "sub2", "u", |_| {}).await;
    s2.client
        .subscribe_many(vec![filter(RetainForwardRule::Never)])
        .await
        .unwrap();
    s2.suback().await;
    p.client
        .publish("rh/x", Q5::AtLeastOnce, false, "live")
        .await
        .unwrap();
    assert_eq!(text(&s.publish().await.payload), "live");
    assert_eq!(text(&s2.publish().await.payload), "live");
    p.disconnect().await;
    s.disconnect().await;
    s2.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn the_will_is_published_on_an_abnormal_close_and_not_after_a_normal_disconnect() {
    let t = TestBroker::start().await;
    let mut watcher = V5::connect(t.addr, "watcher", "u", |_| {}).await;
    watcher.sub("wills/#", Q5::AtLeastOnce).await;
    let will = |name: &str| {
        LastWill::new(
            format!("wills/{name}"),
            name.as_bytes().to_vec(),
            Q5::AtLeastOnce,
            false,
            None,
        )
    };
    let polite = V5::connect(t.addr, "polite", "u", |o| {
        o.set_last_will(will("polite"));
    })
    .await;
    polite.disconnect().await;
    let rude = V5::connect(t.addr, "rude", "u", |o| {
        o.set_last_will(will("rude"));
    })
    .await;
    rude.vanish();
    let m = watcher.publish().await;
    assert_eq!(
        text(&m.payload),
        "rude",
        "only the abnormal close sends its will"
    );
    // A v4 will too.
    let v4 = V4::connect(t.addr, "rude4", "u", |o| {
        o.set_last_will(rumqttc::LastWill::new(
            "wills/rude4",
            "rude4",
            rumqttc::QoS::AtLeastOnce,
            false,
        ));
    })
    .await;
    v4.vanish();
    assert_eq!(text(&watcher.publish().await.payload), "rude4");
    watcher.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn disconnect_with_reason_0x04_sends_the_will_and_a_refused_will_refuses_the_connect() {
    let t = TestBroker::start().await;
    let mut watcher = V5::connect(t.addr, "watcher", "u", |_| {}).await;
    watcher.sub("wills/#", Q5::AtLeastOnce).await;
    let will = |topic: &'static str| agora_mqtt::Will {
        topic: ByteString::from_static(topic),
        payload: Bytes::from_static(b"bye"),
        qos: agora_mqtt::QoS::AtLeastOnce,
        retain: false,
        properties: Properties::default(),
    };
    let mut c = connect_packet(Protocol::V5, "leaver", "u");
    c.will = Some(will("wills/leaver"));
    let (mut raw, ack) = Raw::connect(t.addr, c).await;
    assert_eq!(ack.reason, ReasonCode::Success);
    raw.send(&Packet::Disconnect(agora_mqtt::Disconnect {
        reason: ReasonCode::DisconnectWithWill,
        properties: Properties::default(),
    }))
    .await;
    let m = watcher.publish().await;
    assert_eq!((text(&m.topic), text(&m.payload)), ("wills/leaver", "bye"));

    let mut c = connect_packet(Protocol::V5, "sneaky", "u");
    c.will = Some(will("forbidden/will"));
    let (_raw, ack) = Raw::connect(t.addr, c).await;
    assert_eq!(ack.reason, ReasonCode::NotAuthorized);
    watcher.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_delayed_will_waits_for_its_delay_and_a_reconnect_cancels_it() {
    let t = TestBroker::start().await;
    let mut watcher = V5::connect(t.addr, "watcher", "u", |_| {}).await;
    watcher.sub("wills/#", Q5::AtLeastOnce).await;
    let delayed = |name: &str| {
        let props = LastWillProperties {
            delay_interval: Some(1),
            payload_format_indicator: None,
            message_expiry_interval: None,
            content_type: None,
            response_topic: None,
            correlation_data: None,
            user_properties: vec![],
        };
        LastWill::new(
            format!("wills/{name}"),
            name.as_bytes().to_vec(),
            Q5::AtLeastOnce,
            false,
            Some(props),
        )
    };
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    // One comes back within the delay: its will is cancelled.
    let back = V5::connect(t.addr, "back", "u", |o| {
        persistent(o);
        o.set_last_will(delayed("back"));
    })
    .await;
    back.vanish();
    let back = V5::connect(t.addr, "back", "u", persistent).await;
    // One stays away: its will arrives after the delay.
    let gone = V5::connect(t.addr, "gone", "u", |o| {
        persistent(o);
        o.set_last_will(delayed("gone"));
    })
    .await;
    let left = std::time::Instant::now();
    gone.vanish();
    let m = watcher.publish().await;
    assert_eq!(text(&m.payload), "gone");
    assert!(
        left.elapsed() >= Duration::from_millis(900),
        "the will waited for its delay"
    );
    back.disconnect().await;
    watcher.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_persistent_session_queues_qos1_while_offline_and_a_clean_one_does_not() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut s = V5::connect(t.addr, "keeper", "u", persistent).await;
    s.sub("offline/#", Q5::AtLeastOnce).await;
    s.disconnect().await;
    let mut c = V5::connect(t.addr, "forgetter", "u", |_| {}).await;
    c.sub("offline/#", Q5::AtLeastOnce).await;
    c.disconnect().await;

    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    for i in 0..3 {
        p.client
            .publish(
                format!("offline/{i}"),
                Q5::AtLeastOnce,
                false,
                format!("m{i}"),
            )
            .await
            .unwrap();
        p.puback().await;
    }
    p.client
        .publish("offline/q0", Q5::AtMostOnce, false, "qos0")
        .await
        .unwrap();
    // A QoS 1 publish behind it on the same connection: once it is
    // acknowledged, the QoS 0 one has been handled too.
    p.client
        .publish("sync", Q5::AtLeastOnce, false, "sync")
        .await
        .unwrap();
    p.puback().await;
    let (mut s, ack) = V5::try_connect(t.addr, "keeper", "u", "pw", persistent).await;
    assert!(ack.expect("reconnects").session_present);
    for i in 0..3 {
        assert_eq!(
            text(&s.publish().await.payload),
            format!("m{i}"),
            "queued in order"
        );
    }
    let (c, ack) = V5::try_connect(t.addr, "forgetter", "u", "pw", persistent).await;
    assert!(!ack.expect("reconnects").session_present);
    p.client
        .publish("offline/live", Q5::AtLeastOnce, false, "live")
        .await
        .unwrap();
    assert_eq!(
        text(&s.publish().await.payload),
        "live",
        "offline QoS 0 was not queued"
    );
    assert_eq!(
        t.broker
            .stats()
            .dropped(agora_broker::DropReason::OfflineQos0),
        1
    );
    c.disconnect().await;
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn the_clients_receive_maximum_bounds_unacknowledged_deliveries() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "slow", "u", |o| {
        o.set_receive_maximum(Some(1));
        o.set_manual_acks(true);
    })
    .await;
    s.sub("rm/#", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("rm/1", Q5::AtLeastOnce, false, "first")
        .await
        .unwrap();
    p.client
        .publish("rm/2", Q5::AtLeastOnce, false, "second")
        .await
        .unwrap();
    p.puback().await;
    p.puback().await;
    // QoS 0 is outside the window, so it overtakes the held-back second message.
    p.client
        .publish("rm/0", Q5::AtMostOnce, false, "sentinel")
        .await
        .unwrap();
    let first = s.publish().await;
    assert_eq!(text(&first.payload), "first");
    assert_eq!(
        text(&s.publish().await.payload),
        "sentinel",
        "the window of 1 held the second back"
    );
    s.client.ack(&first).await.unwrap();
    let second = s.publish().await;
    assert_eq!(text(&second.payload), "second");
    s.client.ack(&second).await.unwrap();
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn clean_start_discards_a_stored_session_and_its_queue() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut s = V5::connect(t.addr, "fresh", "u", persistent).await;
    s.sub("cs/#", Q5::AtLeastOnce).await;
    s.disconnect().await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("cs/old", Q5::AtLeastOnce, false, "stale")
        .await
        .unwrap();
    p.puback().await;
    let (mut s, ack) = V5::try_connect(t.addr, "fresh", "u", "pw", |o| {
        o.set_clean_start(true);
    })
    .await;
    assert!(!ack.expect("connects").session_present);
    s.sub("cs/new", Q5::AtLeastOnce).await;
    p.client
        .publish("cs/new", Q5::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(
        text(&s.publish().await.payload),
        "sentinel",
        "the stale message went with the old session"
    );
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn an_unacknowledged_qos1_message_is_resent_with_dup_after_a_reconnect() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut s = V5::connect(t.addr, "forgetful", "u", |o| {
        persistent(o);
        o.set_manual_acks(true);
    })
    .await;
    s.sub("retry", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("retry", Q5::AtLeastOnce, false, "again")
        .await
        .unwrap();
    p.puback().await;
    let first = s.publish().await;
    assert!(!first.dup);
    s.vanish();
    let (mut s, ack) = V5::try_connect(t.addr, "forgetful", "u", "pw", persistent).await;
    assert!(ack.expect("reconnects").session_present);
    let again = s.publish().await;
    assert_eq!(
        (text(&again.payload), again.dup, again.pkid),
        ("again", true, first.pkid)
    );
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_v4_persistent_session_keeps_its_subscription_and_queue() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::MqttOptions| {
        o.set_clean_session(false);
    };
    let mut s = V4::connect(t.addr, "keeper4", "u", persistent).await;
    s.sub("k4", rumqttc::QoS::AtLeastOnce).await;
    s.disconnect().await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("k4", Q5::AtLeastOnce, false, "while away")
        .await
        .unwrap();
    p.puback().await;
    let mut s = V4::connect(t.addr, "keeper4", "u", persistent).await;
    assert_eq!(text(&s.publish().await.payload), "while away");
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_second_connection_with_the_same_client_id_takes_the_session_over_with_0x8e() {
    let t = TestBroker::start().await;
    let mut first = V5::connect(t.addr, "dup", "u", |_| {}).await;
    let second = V5::connect(t.addr, "dup", "u", |_| {}).await;
    let (reason, _) = first.disconnected().await;
    assert_eq!(reason, DisconnectReasonCode::SessionTakenOver);
    second.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn two_users_with_the_same_client_id_do_not_take_over_each_other() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut alice = V5::connect(t.addr, "same", "alice", persistent).await;
    alice.sub("alice/inbox", Q5::AtLeastOnce).await;
    let (mut bob, ack) = V5::try_connect(t.addr, "same", "bob", "pw", persistent).await;
    assert!(
        !ack.expect("bob connects").session_present,
        "bob does not get alice's session"
    );
    bob.sub("bob/inbox", Q5::AtLeastOnce).await;
    let p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    p.client
        .publish("alice/inbox", Q5::AtLeastOnce, false, "for alice")
        .await
        .unwrap();
    p.client
        .publish("bob/inbox", Q5::AtLeastOnce, false, "for bob")
        .await
        .unwrap();
    assert_eq!(text(&alice.publish().await.payload), "for alice");
    assert_eq!(text(&bob.publish().await.payload), "for bob");
    assert_eq!(
        t.broker.stats().connections_current,
        3,
        "nobody was taken over"
    );
    alice.disconnect().await;
    bob.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn wildcards_match_whole_levels_and_never_dollar_topics() {
    let t = TestBroker::start().await;
    let mut plus = V5::connect(t.addr, "plus", "u", |_| {}).await;
    plus.sub("w/+/t", Q5::AtMostOnce).await;
    let mut hash = V5::connect(t.addr, "hash", "u", |_| {}).await;
    hash.sub("#", Q5::AtMostOnce).await;
    let mut p = V5::connect(t.addr, "pub", "admin", |_| {}).await;
    p.client
        .publish("w/a/b/t", Q5::AtLeastOnce, false, "deep")
        .await
        .unwrap();
    p.puback().await;
    p.client
        .publish("w/a/t", Q5::AtLeastOnce, false, "match")
        .await
        .unwrap();
    p.puback().await;
    assert_eq!(text(&plus.publish().await.payload), "match");
    assert_eq!(text(&hash.publish().await.payload), "deep");
    assert_eq!(text(&hash.publish().await.payload), "match");
    // `$SYS` is the broker's: refused to clients, and `#` never sees it.
    p.client
        .publish("$SYS/fake", Q5::AtLeastOnce, false, "spoof")
        .await
        .unwrap();
    assert_eq!(p.puback().await.reason, PubAckReason::NotAuthorized);
    p.client
        .publish("after", Q5::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(text(&hash.publish().await.payload), "sentinel");
    plus.disconnect().await;
    hash.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn sys_topics_reach_only_readers_the_authoriser_allows() {
    let config = BrokerConfig {
        sys_interval: Some(Duration::from_secs(1)),
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let mut admin = V5::connect(t.addr, "admin", "admin", |_| {}).await;
    assert_eq!(
        admin.sub("$SYS/broker/version", Q5::AtMostOnce).await,
        SubscribeReasonCode::Success(Q5::AtMostOnce)
    );
    let m = admin.publish().await;
    assert!(
        text(&m.payload).starts_with("agora-broker "),
        "{}",
        text(&m.payload)
    );
    admin
        .sub("$SYS/broker/clients/connected", Q5::AtMostOnce)
        .await;
    let m = admin.publish_on("$SYS/broker/clients/connected").await;
    assert!(
        text(&m.payload).parse::<u64>().is_ok(),
        "{}",
        text(&m.payload)
    );
    let mut user = V5::connect(t.addr, "user", "u", |_| {}).await;
    assert_eq!(
        user.sub("$SYS/#", Q5::AtMostOnce).await,
        SubscribeReasonCode::NotAuthorized
    );
    // Not even a superuser's `#` matches `$SYS` topics [MQTT-4.7.2-1]: the
    // retained `$SYS` values are not sent for it, and the next message is ours.
    let mut everything = V5::connect(t.addr, "everything", "admin", |_| {}).await;
    everything.sub("#", Q5::AtMostOnce).await;
    admin
        .client
        .publish("plain/topic", Q5::AtMostOnce, false, "sentinel")
        .await
        .unwrap();
    let m = everything.publish().await;
    assert_eq!(
        (text(&m.topic), text(&m.payload)),
        ("plain/topic", "sentinel")
    );
    everything.disconnect().await;
    admin.disconnect().await;
    user.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn shared_subscription_members_take_turns() {
    let t = TestBroker::start().await;
    let mut a = V5::connect(t.addr, "a", "u", |_| {}).await;
    let mut b = V5::connect(t.addr, "b", "u", |_| {}).await;
    a.sub("$share/g/jobs/#", Q5::AtLeastOnce).await;
    b.sub("$share/g/jobs/#", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "pub", "u", |_| {}).await;
    for i in 0..4 {
        p.client
            .publish(format!("jobs/{i}"), Q5::AtLeastOnce, false, format!("{i}"))
            .await
            .unwrap();
        p.puback().await;
    }
    let mut got_a = vec![
        text(&a.publish().await.payload).to_owned(),
        text(&a.publish().await.payload).to_owned(),
    ];
    let mut got_b = vec![
        text(&b.publish().await.payload).to_owned(),
        text(&b.publish().await.payload).to_owned(),
    ];
    got_a.append(&mut got_b);
    got_a.sort();
    assert_eq!(
        got_a,
        vec!["0", "1", "2", "3"],
        "each message went to exactly one member"
    );
    a.disconnect().await;
    b.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_shared_group_sends_to_connected_members_while_a_persistent_one_is_away() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut away = V5::connect(t.addr, "away", "u", persistent).await;
    away.sub("$share/g/work", Q5::AtLeastOnce).await;
    away.disconnect().await;
    let mut here = V5::connect(t.addr, "here", "u", |_| {}).await;
    here.sub("$share/g/work", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    for i in 0..4 {
        p.client
            .publish("work", Q5::AtLeastOnce, false, format!("{i}"))
            .await
            .unwrap();
        p.puback().await;
    }
    for i in 0..4 {
        assert_eq!(text(&here.publish().await.payload), format!("{i}"));
    }
    let away_info = t.broker.control().list_sessions();
    let away_info = away_info
        .iter()
        .find(|s| &*s.client_id == "away")
        .expect("stored");
    assert_eq!(
        away_info.queued, 0,
        "nothing piled up for the absent member"
    );
    here.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn no_local_keeps_a_clients_own_messages_from_it() {
    let t = TestBroker::start().await;
    let mut me = V5::connect(t.addr, "me", "u", |_| {}).await;
    me.client
        .subscribe_many(vec![Filter {
            path: "chat".into(),
            qos: Q5::AtLeastOnce,
            nolocal: true,
            preserve_retain: false,
            retain_forward_rule: RetainForwardRule::OnEverySubscribe,
        }])
        .await
        .unwrap();
    me.suback().await;
    me.client
        .publish("chat", Q5::AtLeastOnce, false, "mine")
        .await
        .unwrap();
    me.puback().await;
    let other = V5::connect(t.addr, "other", "u", |_| {}).await;
    other
        .client
        .publish("chat", Q5::AtLeastOnce, false, "theirs")
        .await
        .unwrap();
    assert_eq!(text(&me.publish().await.payload), "theirs");
    me.disconnect().await;
    other.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn the_subscription_identifier_is_echoed_and_user_properties_pass_through() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "s", "u", |_| {}).await;
    let props = SubscribeProperties {
        id: Some(42),
        user_properties: vec![],
    };
    s.client
        .subscribe_with_properties("ids/#", Q5::AtLeastOnce, props)
        .await
        .unwrap();
    s.suback().await;
    let p = V5::connect(t.addr, "p", "u", |_| {}).await;
    let props = PublishProperties {
        response_topic: Some("reply/here".into()),
        correlation_data: Some(Bytes::from_static(b"corr")),
        user_properties: vec![("k".into(), "v".into())],
        content_type: Some("text/plain".into()),
        ..PublishProperties::default()
    };
    p.client
        .publish_with_properties("ids/x", Q5::AtLeastOnce, false, "hi", props)
        .await
        .unwrap();
    let m = s.publish().await;
    let props = m.properties.expect("properties");
    assert_eq!(props.subscription_identifiers, vec![42]);
    assert_eq!(props.response_topic.as_deref(), Some("reply/here"));
    assert_eq!(props.correlation_data.as_deref(), Some(&b"corr"[..]));
    assert_eq!(
        props.user_properties,
        vec![("k".to_owned(), "v".to_owned())]
    );
    assert_eq!(props.content_type.as_deref(), Some("text/plain"));
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn an_inbound_topic_alias_stands_for_its_topic() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "s", "u", |_| {}).await;
    s.sub("alias/t", Q5::AtMostOnce).await;
    let (mut raw, ack) = Raw::connect(t.addr, connect_packet(Protocol::V5, "raw", "u")).await;
    assert_eq!(ack.reason, ReasonCode::Success);
    assert!(ack.properties.topic_alias_maximum.unwrap_or(0) >= 1);
    let publish = |topic: &'static str, payload: &'static [u8]| {
        Packet::Publish(Publish {
            dup: false,
            qos: agora_mqtt::QoS::AtMostOnce,
            retain: false,
            topic: ByteString::from_static(topic),
            packet_id: None,
            properties: Properties {
                topic_alias: Some(1),
                ..Properties::default()
            },
            payload: Bytes::from_static(payload),
        })
    };
    raw.send(&publish("alias/t", b"set")).await;
    raw.send(&publish("", b"used")).await;
    assert_eq!(text(&s.publish().await.payload), "set");
    let m = s.publish().await;
    assert_eq!((text(&m.topic), text(&m.payload)), ("alias/t", "used"));
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn outbound_topic_aliases_replace_repeated_topics_up_to_the_clients_maximum() {
    let t = TestBroker::start().await;
    let mut c = connect_packet(Protocol::V5, "aliased", "u");
    c.properties.topic_alias_maximum = Some(2);
    let (mut raw, _) = Raw::connect(t.addr, c).await;
    raw.send(&Packet::Subscribe(agora_mqtt::Subscribe {
        packet_id: 1,
        filters: vec![(ByteString::from_static("ta/#"), Default::default())],
        properties: Properties::default(),
    }))
    .await;
    assert!(matches!(raw.recv().await, Some(Packet::SubAck(_))));
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    for topic in ["ta/a", "ta/a", "ta/b", "ta/c"] {
        p.client
            .publish(topic, Q5::AtLeastOnce, false, "x")
            .await
            .unwrap();
        p.puback().await;
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        match raw.recv().await {
            Some(Packet::Publish(m)) => seen.push((m.topic.to_string(), m.properties.topic_alias)),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    assert_eq!(
        seen,
        vec![
            ("ta/a".to_owned(), Some(1)),
            (String::new(), Some(1)),
            ("ta/b".to_owned(), Some(2)),
            ("ta/c".to_owned(), None),
        ]
    );
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn an_expired_message_is_dropped_and_a_live_one_carries_its_remaining_time() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut s = V5::connect(t.addr, "s", "u", persistent).await;
    s.sub("exp/#", Q5::AtLeastOnce).await;
    s.disconnect().await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    let expiring = |secs| PublishProperties {
        message_expiry_interval: Some(secs),
        ..PublishProperties::default()
    };
    p.client
        .publish_with_properties("exp/short", Q5::AtLeastOnce, false, "short", expiring(1))
        .await
        .unwrap();
    p.puback().await;
    p.client
        .publish_with_properties("exp/long", Q5::AtLeastOnce, false, "long", expiring(100))
        .await
        .unwrap();
    p.puback().await;
    // Let the short one's second pass while the subscriber is away.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let mut s = V5::connect(t.addr, "s", "u", persistent).await;
    let m = s.publish().await;
    assert_eq!(text(&m.payload), "long");
    let left = m
        .properties
        .and_then(|p| p.message_expiry_interval)
        .expect("expiry forwarded");
    assert!((1..100).contains(&left), "counted down: {left}");
    assert_eq!(
        t.broker.stats().dropped(agora_broker::DropReason::Expired),
        1
    );
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_packet_over_the_maximum_size_closes_with_0x95() {
    let config = BrokerConfig {
        max_packet_size: 1024,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let (mut raw, ack) = Raw::connect(t.addr, connect_packet(Protocol::V5, "big", "u")).await;
    assert_eq!(ack.properties.maximum_packet_size, Some(1024));
    raw.send(&Packet::Publish(Publish {
        dup: false,
        qos: agora_mqtt::QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("big"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from(vec![0u8; 2048]),
    }))
    .await;
    let seen = raw.until_closed().await;
    assert!(
        matches!(seen.last(), Some(Packet::Disconnect(d)) if d.reason == ReasonCode::PacketTooLarge),
        "{seen:?}"
    );
    assert_eq!(t.broker.stats().limit_hits(Limit::PacketTooLarge), 1);
    t.stop().await;
}

#[tokio::test]
async fn a_refused_subscribe_gets_0x87_in_v5_and_0x80_in_v4() {
    let t = TestBroker::start().await;
    let mut s5 = V5::connect(t.addr, "s5", "u", |_| {}).await;
    assert_eq!(
        s5.sub("forbidden/x", Q5::AtLeastOnce).await,
        SubscribeReasonCode::NotAuthorized
    );
    let mut s4 = V4::connect(t.addr, "s4", "u", |_| {}).await;
    assert_eq!(
        s4.sub("forbidden/x", rumqttc::QoS::AtLeastOnce).await,
        rumqttc::SubscribeReasonCode::Failure
    );
    assert_eq!(t.broker.stats().subscribe_denied, 2);
    s5.disconnect().await;
    s4.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_refused_qos1_publish_gets_puback_0x87_and_goes_nowhere() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "s", "admin", |_| {}).await;
    s.sub("#", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("forbidden/x", Q5::AtLeastOnce, false, "no")
        .await
        .unwrap();
    assert_eq!(p.puback().await.reason, PubAckReason::NotAuthorized);
    p.client
        .publish("allowed", Q5::AtLeastOnce, false, "yes")
        .await
        .unwrap();
    assert_eq!(text(&s.publish().await.payload), "yes");
    assert_eq!(t.broker.stats().publish_denied, 1);
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_delivery_the_authoriser_refuses_is_skipped_for_that_reader_only() {
    let t = TestBroker::start().await;
    let mut admin = V5::connect(t.addr, "admin", "admin", |_| {}).await;
    admin.sub("secret/#", Q5::AtLeastOnce).await;
    let mut user = V5::connect(t.addr, "user", "u", |_| {}).await;
    user.sub("secret/#", Q5::AtLeastOnce).await;
    user.sub("open", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("secret/x", Q5::AtLeastOnce, false, "classified")
        .await
        .unwrap();
    p.puback().await;
    p.client
        .publish("open", Q5::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(text(&admin.publish().await.payload), "classified");
    assert_eq!(text(&user.publish().await.payload), "sentinel");
    admin.disconnect().await;
    user.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_revoked_reader_receives_nothing_more_not_even_its_queued_messages() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut buyer = V5::connect(t.addr, "b", "buyer", persistent).await;
    buyer.sub("feed/#", Q5::AtLeastOnce).await;
    buyer.disconnect().await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("feed/1", Q5::AtLeastOnce, false, "queued")
        .await
        .unwrap();
    p.puback().await;
    t.auth.revoked.lock().insert("buyer".to_owned());
    let mut buyer = V5::connect(t.addr, "b", "buyer", persistent).await;
    buyer.sub("sentinel", Q5::AtLeastOnce).await;
    p.client
        .publish("feed/2", Q5::AtLeastOnce, false, "live")
        .await
        .unwrap();
    p.puback().await;
    t.auth.revoked.lock().clear();
    p.client
        .publish("sentinel", Q5::AtLeastOnce, false, "sentinel")
        .await
        .unwrap();
    assert_eq!(text(&buyer.publish().await.payload), "sentinel");
    assert_eq!(
        t.broker
            .stats()
            .dropped(agora_broker::DropReason::DeliveryDenied),
        2
    );
    buyer.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_refused_connect_gets_bad_user_name_or_password() {
    let t = TestBroker::start().await;
    let (_c, ack) = V5::try_connect(t.addr, "x", "nobody", "pw", |_| {}).await;
    let err = ack.expect_err("refused");
    assert!(err.contains("BadUserNamePassword"), "{err}");
    assert_eq!(t.broker.stats().auth_failures, 1);
    t.stop().await;
}

#[tokio::test]
async fn an_empty_client_id_gets_one_assigned() {
    let t = TestBroker::start().await;
    let (raw, ack) = Raw::connect(t.addr, connect_packet(Protocol::V5, "", "u")).await;
    assert_eq!(ack.reason, ReasonCode::Success);
    let id = ack
        .properties
        .assigned_client_identifier
        .expect("assigned id");
    assert!(id.starts_with("agora-"), "{id}");
    drop(raw);
    // 3.1.1 without clean session may not have an empty id [MQTT-3.1.3-8].
    let mut c = connect_packet(Protocol::V311, "", "u");
    c.clean_start = false;
    let (_raw, ack) = Raw::connect(t.addr, c).await;
    assert_eq!(ack.reason, ReasonCode::ClientIdentifierNotValid);
    t.stop().await;
}

#[tokio::test]
async fn a_connection_without_connect_is_closed_after_the_connect_timeout() {
    let config = BrokerConfig {
        connect_timeout: Duration::from_millis(300),
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let mut raw = Raw::open(t.addr, Protocol::V5).await;
    assert!(raw.until_closed().await.is_empty());
    assert_eq!(t.broker.stats().limit_hits(Limit::ConnectTimeout), 1);
    t.stop().await;
}

#[tokio::test]
async fn a_silent_client_is_closed_after_one_and_a_half_keep_alives() {
    let t = TestBroker::start().await;
    let mut c = connect_packet(Protocol::V5, "quiet", "u");
    c.keep_alive = 1;
    let (mut raw, _) = Raw::connect(t.addr, c).await;
    let started = std::time::Instant::now();
    let seen = raw.until_closed().await;
    assert!(
        matches!(seen.last(), Some(Packet::Disconnect(d)) if d.reason == ReasonCode::KeepAliveTimeout),
        "{seen:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "not before 1.5 × keep-alive"
    );
    assert_eq!(t.broker.stats().limit_hits(Limit::KeepAlive), 1);
    t.stop().await;
}

#[tokio::test]
async fn garbage_bytes_close_that_connection_and_harm_no_other() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "s", "u", |_| {}).await;
    s.sub("still/works", Q5::AtLeastOnce).await;
    let mut before = Raw::open(t.addr, Protocol::V5).await;
    before
        .send_bytes(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    assert!(before.until_closed().await.is_empty());
    let (mut after, _) = Raw::connect(t.addr, connect_packet(Protocol::V311, "junk", "u")).await;
    after.send_bytes(&[0x00, 0x05, 1, 2, 3, 4, 5]).await;
    after.until_closed().await;
    let p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("still/works", Q5::AtLeastOnce, false, "ok")
        .await
        .unwrap();
    assert_eq!(text(&s.publish().await.payload), "ok");
    assert!(t.broker.stats().protocol_errors >= 2);
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn broker_control_disconnect_sends_0x87_with_its_reason_string() {
    let t = TestBroker::start().await;
    let (mut buyer, _) = V5::try_connect(t.addr, "b", "buyer", "cred-key1", |_| {}).await;
    let other = V5::connect(t.addr, "o", "other", |_| {}).await;
    let n = t.broker.control().disconnect_where(
        |id| id.credential.as_deref() == Some("key1"),
        ReasonCode::NotAuthorized,
        "access key revoked",
    );
    assert_eq!(n, 1);
    let (reason, why) = buyer.disconnected().await;
    assert_eq!(reason, DisconnectReasonCode::NotAuthorized);
    assert_eq!(why.as_deref(), Some("access key revoked"));
    let sessions = t.broker.control().list_sessions();
    assert!(
        sessions
            .iter()
            .any(|s| &*s.username == "other" && s.connected)
    );
    other.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn kick_disconnects_one_session_with_0x98() {
    let t = TestBroker::start().await;
    let mut target = V5::connect(t.addr, "target", "alice", |_| {}).await;
    let bystander = V5::connect(t.addr, "target", "bob", |_| {}).await;
    assert!(t.broker.control().kick("alice", "target"));
    assert!(!t.broker.control().kick("alice", "nobody-here"));
    let (reason, _) = target.disconnected().await;
    assert_eq!(reason, DisconnectReasonCode::AdministrativeAction);
    bystander.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_session_is_forgotten_when_its_expiry_interval_passes() {
    let t = TestBroker::start().await;
    let brief = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(1));
    };
    let mut s = V5::connect(t.addr, "brief", "u", brief).await;
    s.sub("x", Q5::AtLeastOnce).await;
    s.disconnect().await;
    assert_eq!(t.broker.stats().sessions, 1, "kept after the disconnect");
    helpers::eventually("the session expires", || t.broker.stats().sessions == 0).await;
    assert_eq!(
        t.broker.stats().subscriptions,
        0,
        "its subscription left the trie"
    );
    let (s, ack) = V5::try_connect(t.addr, "brief", "u", "pw", brief).await;
    assert!(!ack.expect("connects").session_present);
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn drop_subscriptions_removes_them_from_live_and_stored_sessions() {
    let t = TestBroker::start().await;
    let persistent = |o: &mut rumqttc::v5::MqttOptions| {
        o.set_clean_start(false);
        o.set_session_expiry_interval(Some(60));
    };
    let mut live = V5::connect(t.addr, "live", "buyer", persistent).await;
    live.sub("prod/a/#", Q5::AtLeastOnce).await;
    live.sub("prod/b/#", Q5::AtLeastOnce).await;
    let mut stored = V5::connect(t.addr, "stored", "buyer", persistent).await;
    stored.sub("prod/a/#", Q5::AtLeastOnce).await;
    stored.disconnect().await;
    let removed = t.broker.control().drop_subscriptions_where(
        |id, filter| &*id.username == "buyer" && filter.starts_with("prod/a/"),
        ReasonCode::NotAuthorized,
        "purchase ended",
    );
    assert_eq!(removed, 2);
    let (reason, why) = live.disconnected().await;
    assert_eq!(
        (reason, why.as_deref()),
        (DisconnectReasonCode::NotAuthorized, Some("purchase ended"))
    );
    let (mut live, _) = V5::try_connect(t.addr, "live", "buyer", "pw", persistent).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("prod/a/x", Q5::AtLeastOnce, false, "gone")
        .await
        .unwrap();
    p.puback().await;
    p.client
        .publish("prod/b/x", Q5::AtLeastOnce, false, "kept")
        .await
        .unwrap();
    assert_eq!(text(&live.publish().await.payload), "kept");
    let info = t.broker.control().list_sessions();
    let stored_info = info
        .iter()
        .find(|s| &*s.client_id == "stored")
        .expect("stored session");
    assert!(stored_info.subscriptions.is_empty());
    live.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn an_expiring_identity_is_disconnected_with_0xa0_at_that_instant() {
    let t = TestBroker::start().await;
    let (mut c, ack) = V5::try_connect(t.addr, "jwt", "device", "expire-300", |_| {}).await;
    ack.expect("connects");
    let (reason, why) = c.disconnected().await;
    assert_eq!(reason, DisconnectReasonCode::MaximumConnectTime);
    assert!(why.is_some());
    t.stop().await;
}

#[tokio::test]
async fn too_many_subscriptions_get_0x97_quota_exceeded() {
    let config = BrokerConfig {
        max_subscriptions: 2,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let mut s = V5::connect(t.addr, "s", "u", |_| {}).await;
    s.sub("a", Q5::AtMostOnce).await;
    s.sub("b", Q5::AtMostOnce).await;
    assert_eq!(
        s.sub("c", Q5::AtMostOnce).await,
        SubscribeReasonCode::QuotaExceeded
    );
    assert_eq!(
        s.sub("a", Q5::AtLeastOnce).await,
        SubscribeReasonCode::Success(Q5::AtLeastOnce),
        "replacing is fine"
    );
    assert_eq!(t.broker.stats().limit_hits(Limit::Subscriptions), 1);
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_client_publishing_faster_than_the_rate_limit_is_slowed_not_dropped() {
    let config = BrokerConfig {
        max_publish_rate: Some(20),
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let mut s = V5::connect(t.addr, "s", "u", |_| {}).await;
    s.sub("rate", Q5::AtMostOnce).await;
    let p = V5::connect(t.addr, "p", "u", |_| {}).await;
    let started = std::time::Instant::now();
    for i in 0..30 {
        p.client
            .publish("rate", Q5::AtMostOnce, false, format!("{i}"))
            .await
            .unwrap();
    }
    for i in 0..30 {
        assert_eq!(
            text(&s.publish().await.payload),
            format!("{i}"),
            "none lost"
        );
    }
    // A burst of 20, then 10 more at 20 per second.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(t.broker.stats().limit_hits(Limit::PublishRate) >= 1);
    s.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn more_unreleased_qos2_messages_than_our_receive_maximum_close_with_0x93() {
    let config = BrokerConfig {
        max_inflight: 2,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let (mut raw, ack) = Raw::connect(t.addr, connect_packet(Protocol::V5, "greedy", "u")).await;
    assert_eq!(ack.properties.receive_maximum, Some(2));
    for id in 1..=3u16 {
        raw.send(&Packet::Publish(Publish {
            dup: false,
            qos: agora_mqtt::QoS::ExactlyOnce,
            retain: false,
            topic: ByteString::from_static("q2"),
            packet_id: Some(id),
            properties: Properties::default(),
            payload: Bytes::from_static(b"x"),
        }))
        .await;
    }
    let seen = raw.until_closed().await;
    assert!(
        matches!(seen.last(), Some(Packet::Disconnect(d)) if d.reason == ReasonCode::ReceiveMaximumExceeded),
        "{seen:?}"
    );
    t.stop().await;
}

#[tokio::test]
async fn a_message_larger_than_the_clients_maximum_packet_size_is_not_sent_to_it() {
    let t = TestBroker::start().await;
    let mut small = V5::connect(t.addr, "small", "u", |o| {
        o.set_max_packet_size(Some(200));
    })
    .await;
    small.sub("sized/#", Q5::AtLeastOnce).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("sized/big", Q5::AtLeastOnce, false, vec![b'x'; 500])
        .await
        .unwrap();
    p.puback().await;
    p.client
        .publish("sized/small", Q5::AtLeastOnce, false, "fits")
        .await
        .unwrap();
    assert_eq!(text(&small.publish().await.payload), "fits");
    assert_eq!(
        t.broker
            .stats()
            .dropped(agora_broker::DropReason::PacketTooLarge),
        1
    );
    small.disconnect().await;
    p.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn a_resent_qos2_publish_is_routed_once_and_pubrel_completes_it() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "s", "u", |_| {}).await;
    s.sub("once", Q5::ExactlyOnce).await;
    let (mut raw, _) = Raw::connect(t.addr, connect_packet(Protocol::V5, "q2", "u")).await;
    let publish = |dup, payload: &'static [u8]| {
        Packet::Publish(Publish {
            dup,
            qos: agora_mqtt::QoS::ExactlyOnce,
            retain: false,
            topic: ByteString::from_static("once"),
            packet_id: Some(7),
            properties: Properties::default(),
            payload: Bytes::from_static(payload),
        })
    };
    raw.send(&publish(false, b"first")).await;
    assert!(matches!(raw.recv().await, Some(Packet::PubRec(r)) if r.packet_id == 7));
    raw.send(&publish(true, b"first")).await;
    assert!(matches!(raw.recv().await, Some(Packet::PubRec(r)) if r.packet_id == 7));
    raw.send(&Packet::PubRel(agora_mqtt::PubResponse::success(7)))
        .await;
    assert!(
        matches!(raw.recv().await, Some(Packet::PubComp(r)) if r.packet_id == 7 && r.reason == ReasonCode::Success)
    );
    raw.send(&publish(false, b"second")).await;
    assert_eq!(text(&s.publish().await.payload), "first");
    assert_eq!(
        text(&s.publish().await.payload),
        "second",
        "the re-send was not routed again"
    );
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn with_deny_publish_disconnect_a_refused_publish_closes_with_0x87() {
    let config = BrokerConfig {
        deny_publish: agora_broker::DenyPublish::Disconnect,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let mut p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("forbidden/x", Q5::AtMostOnce, false, "no")
        .await
        .unwrap();
    let (reason, _) = p.disconnected().await;
    assert_eq!(reason, DisconnectReasonCode::NotAuthorized);
    assert_eq!(t.broker.stats().publish_denied, 1);
    t.stop().await;
}

#[tokio::test]
async fn limits_on_subscriptions_give_their_reason_codes() {
    let config = BrokerConfig {
        shared_subscriptions: false,
        max_topic_levels: 3,
        server_keep_alive: Some(20),
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let (mut s, ack) = V5::try_connect(t.addr, "s", "u", "pw", |_| {}).await;
    let props = ack
        .expect("connects")
        .properties
        .expect("CONNACK properties");
    assert_eq!(props.shared_subscription_available, Some(0));
    assert_eq!(props.server_keep_alive, Some(20));
    assert_eq!(
        s.sub("$share/g/x", Q5::AtMostOnce).await,
        SubscribeReasonCode::SharedSubscriptionsNotSupported
    );
    assert_eq!(
        s.sub("a/b/c/d", Q5::AtMostOnce).await,
        SubscribeReasonCode::TopicFilterInvalid
    );
    assert_eq!(
        s.sub("a/b/c", Q5::AtMostOnce).await,
        SubscribeReasonCode::Success(Q5::AtMostOnce)
    );
    let stats = t.broker.stats();
    assert_eq!(stats.limit_hits(Limit::SharedSubscriptions), 1);
    assert_eq!(stats.limit_hits(Limit::Topic), 1);
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn shutdown_tells_v5_clients_0x8b_and_leaves_no_task_behind() {
    let t = TestBroker::start().await;
    let mut c = V5::connect(t.addr, "c", "u", |_| {}).await;
    let broker = t.broker.clone();
    let stopping = tokio::spawn(async move { broker.shutdown().await });
    let (reason, _) = c.disconnected().await;
    assert_eq!(reason, DisconnectReasonCode::ServerShuttingDown);
    stopping.await.expect("shutdown completes");
    t.stop().await;
}

#[tokio::test]
async fn connections_beyond_max_connections_are_closed_and_counted() {
    let config = BrokerConfig {
        max_connections: 1,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let (mut first, _) = Raw::connect(t.addr, connect_packet(Protocol::V5, "one", "u")).await;
    let mut second = Raw::open(t.addr, Protocol::V5).await;
    assert!(second.until_closed().await.is_empty());
    assert_eq!(
        t.broker
            .stats()
            .dropped(agora_broker::DropReason::ConnectionLimit),
        1
    );
    first.send(&Packet::PingReq).await;
    assert_eq!(
        first.recv().await,
        Some(Packet::PingResp),
        "the first is unharmed"
    );
    t.stop().await;
}

#[tokio::test]
async fn serve_connection_speaks_mqtt_over_any_byte_stream() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "tcp-sub", "u", |_| {}).await;
    s.sub("pipe/t", Q5::AtMostOnce).await;
    let (client_end, broker_end) = tokio::io::duplex(4096);
    let broker = t.broker.clone();
    let served = tokio::spawn(async move {
        let peer = "127.0.0.1:9".parse().expect("address");
        broker
            .serve_connection(broker_end, peer, agora_broker::Transport::WebSocket)
            .await;
    });
    let mut raw = Raw::over(client_end, Protocol::V311);
    let ack = raw
        .handshake(connect_packet(Protocol::V311, "piped", "u"))
        .await;
    assert_eq!(ack.reason, ReasonCode::Success);
    raw.send(&Packet::Publish(Publish {
        dup: false,
        qos: agora_mqtt::QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("pipe/t"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(b"through the pipe"),
    }))
    .await;
    assert_eq!(text(&s.publish().await.payload), "through the pipe");
    drop(raw);
    tokio::time::timeout(helpers::WAIT, served)
        .await
        .expect("serve_connection returns when the stream closes")
        .expect("no panic");
    s.disconnect().await;
    t.stop().await;
}

#[tokio::test]
async fn mqtt_over_tls_works_and_a_silent_tls_client_is_dropped_after_the_handshake_timeout() {
    use std::sync::Arc;
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("certificate");
    let cert = ck.cert.der().clone();
    let key = rustls_pki_types::PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
    let server = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .expect("server config");
    let config = BrokerConfig {
        tls_handshake_timeout: Duration::from_millis(300),
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let b = t.broker.clone();
    let tls_loop = tokio::spawn(async move { b.serve_tls(listener, Arc::new(server)).await });

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).expect("root");
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let name = rustls_pki_types::ServerName::try_from("localhost").expect("name");
    let tls = connector.connect(name, tcp).await.expect("TLS handshake");
    let mut raw = Raw::over(tls, Protocol::V5);
    let ack = raw
        .handshake(connect_packet(Protocol::V5, "tls", "u"))
        .await;
    assert_eq!(ack.reason, ReasonCode::Success);
    raw.send(&Packet::PingReq).await;
    assert_eq!(raw.recv().await, Some(Packet::PingResp));

    let mut silent = Raw::open(addr, Protocol::V5).await;
    assert!(
        silent.until_closed().await.is_empty(),
        "closed without a handshake"
    );
    drop(raw);
    t.stop().await;
    tls_loop.await.expect("TLS accept loop ends");
}

#[tokio::test]
async fn mosquitto_clients_publish_and_subscribe_through_the_broker() {
    if !have("mosquitto_sub") || !have("mosquitto_pub") {
        println!(
            "note: mosquitto_pub/mosquitto_sub are not installed; skipping the Mosquitto interoperability test"
        );
        return;
    }
    let t = TestBroker::start().await;
    let port = t.addr.port().to_string();
    let sub = tokio::process::Command::new("mosquitto_sub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "u",
            "-P",
            "pw",
            "-t",
            "mosq/t",
            "-C",
            "1",
            "-q",
            "1",
            "-V",
            "mqttv5",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("mosquitto_sub starts");
    // Wait until the broker holds its subscription before publishing.
    helpers::eventually("mosquitto_sub subscribed", || {
        t.broker.stats().subscriptions == 1
    })
    .await;
    let status = tokio::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "u",
            "-P",
            "pw",
            "-t",
            "mosq/t",
            "-m",
            "hello",
            "-q",
            "1",
        ])
        .status()
        .await
        .expect("mosquitto_pub runs");
    assert!(status.success());
    let out = tokio::time::timeout(helpers::WAIT, sub.wait_with_output())
        .await
        .expect("mosquitto_sub exits after one message")
        .expect("output");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hello");
    t.stop().await;
}

/// A rough throughput figure, not an assertion: run with
/// `cargo test -p agora-broker --test e2e -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test"]
async fn throughput_of_a_qos0_relay_from_one_publisher_to_one_subscriber() {
    const N: usize = 200_000;
    let config = BrokerConfig {
        // Deep enough that the in-process test subscriber, slower than the
        // broker, loses nothing: this measures the broker's pace, not the policy.
        outbound_queue: 1_000_000,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let (mut sub, _) = Raw::connect(t.addr, connect_packet(Protocol::V311, "bench-sub", "u")).await;
    sub.send(&Packet::Subscribe(agora_mqtt::Subscribe {
        packet_id: 1,
        filters: vec![(ByteString::from_static("bench/t"), Default::default())],
        properties: Properties::default(),
    }))
    .await;
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    let (mut publisher, _) =
        Raw::connect(t.addr, connect_packet(Protocol::V311, "bench-pub", "u")).await;
    let mut frame = bytes::BytesMut::new();
    let one = Packet::Publish(Publish {
        dup: false,
        qos: agora_mqtt::QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("bench/t"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(&[7u8; 64]),
    });
    for _ in 0..1000 {
        agora_mqtt::encode(&one, Protocol::V311, &mut frame).expect("encodes");
    }
    let started = std::time::Instant::now();
    let sender = tokio::spawn(async move {
        for _ in 0..N / 1000 {
            publisher.send_bytes(&frame).await;
        }
        publisher
    });
    let mut got = 0;
    while got < N {
        match sub.recv_within(Duration::from_secs(2)).await {
            Ok(Some(Packet::Publish(_))) => got += 1,
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    let _publisher = sender.await.expect("sender");
    let stats = t.broker.stats();
    println!(
        "QoS 0 relay, 64-byte payloads: {got} of {N} delivered in {elapsed:?} = {:.0} msg/s; dropped {:?}",
        got as f64 / elapsed.as_secs_f64(),
        stats.drops
    );
    t.stop().await;
}

/// Fan-out figure: one publisher, 50 subscribers, QoS 0 (and QoS 1 to a
/// QoS 1 subscriber, acknowledged by the raw client). Not an assertion; run with
/// `cargo test -p agora-broker --test e2e -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test"]
async fn throughput_of_a_qos0_fan_out_to_fifty_subscribers() {
    const SUBS: usize = 50;
    const N: usize = 20_000;
    let config = BrokerConfig {
        outbound_queue: 65_536,
        ..BrokerConfig::default()
    };
    let t = TestBroker::start_with(config).await;
    let mut counters = Vec::new();
    for i in 0..SUBS {
        let id: &'static str = Box::leak(format!("fan-{i}").into_boxed_str());
        let (mut sub, _) = Raw::connect(t.addr, connect_packet(Protocol::V311, id, "u")).await;
        sub.send(&Packet::Subscribe(agora_mqtt::Subscribe {
            packet_id: 1,
            filters: vec![(ByteString::from_static("fan/t"), Default::default())],
            properties: Properties::default(),
        }))
        .await;
        assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
        counters.push(tokio::spawn(async move {
            let mut got = 0;
            while got < N {
                match sub.recv_within(Duration::from_secs(2)).await {
                    Ok(Some(Packet::Publish(_))) => got += 1,
                    Ok(Some(_)) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            got
        }));
    }
    let (mut publisher, _) =
        Raw::connect(t.addr, connect_packet(Protocol::V311, "fan-pub", "u")).await;
    let mut frame = bytes::BytesMut::new();
    let one = Packet::Publish(Publish {
        dup: false,
        qos: agora_mqtt::QoS::AtMostOnce,
        retain: false,
        topic: ByteString::from_static("fan/t"),
        packet_id: None,
        properties: Properties::default(),
        payload: Bytes::from_static(&[7u8; 64]),
    });
    for _ in 0..100 {
        agora_mqtt::encode(&one, Protocol::V311, &mut frame).expect("encodes");
    }
    let started = std::time::Instant::now();
    for _ in 0..N / 100 {
        publisher.send_bytes(&frame).await;
    }
    let mut delivered = 0;
    for c in counters {
        delivered += c.await.expect("counter");
    }
    let elapsed = started.elapsed();
    println!(
        "QoS 0 fan-out 1 -> {SUBS}, 64-byte payloads: {delivered} of {} deliveries in {elapsed:?} = {:.0} deliveries/s; drops {:?}",
        N * SUBS,
        delivered as f64 / elapsed.as_secs_f64(),
        t.broker.stats().drops
    );
    t.stop().await;
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

/// Memory figure for idle connections (broker and raw clients share the
/// process, so this over-counts the broker). Not an assertion; run with
/// `cargo test -p agora-broker --test e2e -- --ignored --nocapture idle`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test"]
async fn memory_of_idle_connections() {
    const N: usize = 5_000;
    let t = TestBroker::start().await;
    let before = rss_kib();
    let mut clients = Vec::with_capacity(N);
    for i in 0..N {
        let id: &'static str = Box::leak(format!("idle-{i}").into_boxed_str());
        let (mut c, _) = Raw::connect(t.addr, connect_packet(Protocol::V311, id, "u")).await;
        c.send(&Packet::Subscribe(agora_mqtt::Subscribe {
            packet_id: 1,
            filters: vec![(ByteString::from(format!("idle/{i}")), Default::default())],
            properties: Properties::default(),
        }))
        .await;
        assert!(matches!(c.recv().await, Some(Packet::SubAck(_))));
        clients.push(c);
    }
    let after = rss_kib();
    println!(
        "{N} idle connections with one subscription each: {} KiB more resident, {:.1} KiB per connection (clients included)",
        after - before,
        (after - before) as f64 / N as f64
    );
    drop(clients);
    t.stop().await;
}

#[tokio::test]
async fn mosquitto_sub_gets_a_retained_message_that_mosquitto_pub_left() {
    if !have("mosquitto_sub") || !have("mosquitto_pub") {
        println!(
            "note: mosquitto_pub/mosquitto_sub are not installed; skipping the Mosquitto interoperability test"
        );
        return;
    }
    let t = TestBroker::start().await;
    let port = t.addr.port().to_string();
    let status = tokio::process::Command::new("mosquitto_pub")
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-u",
            "u",
            "-P",
            "pw",
            "-t",
            "mosq/retained",
            "-m",
            "kept",
            "-r",
            "-q",
            "1",
            "-V",
            "mqttv5",
        ])
        .status()
        .await
        .expect("mosquitto_pub runs");
    assert!(status.success());
    let out = tokio::time::timeout(
        helpers::WAIT,
        tokio::process::Command::new("mosquitto_sub")
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-u",
                "u",
                "-P",
                "pw",
                "-t",
                "mosq/#",
                "-C",
                "1",
                "-v",
                "-V",
                "mqttv311",
            ])
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("mosquitto_sub exits after one message")
    .expect("output");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "mosq/retained kept"
    );
    t.stop().await;
}

/// A tiny deterministic generator (xorshift64*), so the fuzz test below is
/// the same on every run without a dependency.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

#[tokio::test]
async fn random_bytes_after_connect_never_take_the_broker_down() {
    let t = TestBroker::start().await;
    let mut s = V5::connect(t.addr, "survivor", "u", |_| {}).await;
    s.sub("alive", Q5::AtLeastOnce).await;
    let mut noise = Noise(0x5EED_1234_ABCD_0001);
    for round in 0..60u64 {
        let protocol = if round % 2 == 0 {
            Protocol::V5
        } else {
            Protocol::V311
        };
        let id: &'static str = Box::leak(format!("fuzz-{round}").into_boxed_str());
        let (mut raw, ack) = Raw::connect(t.addr, connect_packet(protocol, id, "u")).await;
        assert_eq!(ack.reason, ReasonCode::Success);
        // Mostly valid-looking packet headers with random bodies, some pure noise.
        let mut junk = Vec::new();
        for _ in 0..(noise.next() % 8 + 1) {
            let kind = (noise.next() % 16) as u8;
            let len = (noise.next() % 40) as usize;
            junk.push(kind << 4 | (noise.next() % 16) as u8);
            junk.push(len as u8);
            junk.extend(noise.bytes(len));
        }
        raw.send_bytes(&junk).await;
        raw.send(&Packet::PingReq).await;
        // Either the junk was acceptable and PINGRESP comes, or the broker closes.
        while let Ok(Some(p)) = raw.recv_within(helpers::WAIT).await {
            if p == Packet::PingResp {
                break;
            }
        }
    }
    // A connection task that panicked would never count itself out.
    helpers::eventually("every fuzzed connection ends cleanly", || {
        t.broker.stats().connections_current == 1
    })
    .await;
    let p = V5::connect(t.addr, "p", "u", |_| {}).await;
    p.client
        .publish("alive", Q5::AtLeastOnce, false, "still here")
        .await
        .unwrap();
    assert_eq!(text(&s.publish().await.payload), "still here");
    p.disconnect().await;
    s.disconnect().await;
    t.stop().await;
}

/// QoS 1 figure: one publisher, one subscriber, both acknowledging (the
/// subscriber batches its PUBACKs). Not an assertion; run with
/// `cargo test -p agora-broker --test e2e -- --ignored --nocapture throughput`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "measurement, not a test"]
async fn throughput_of_a_qos1_relay_from_one_publisher_to_one_subscriber() {
    const N: usize = 100_000;
    let t = TestBroker::start().await;
    let (mut sub, _) = Raw::connect(t.addr, connect_packet(Protocol::V311, "q1-sub", "u")).await;
    sub.send(&Packet::Subscribe(agora_mqtt::Subscribe {
        packet_id: 1,
        filters: vec![(
            ByteString::from_static("q1/t"),
            agora_mqtt::SubscriptionOptions {
                qos: agora_mqtt::QoS::AtLeastOnce,
                ..Default::default()
            },
        )],
        properties: Properties::default(),
    }))
    .await;
    assert!(matches!(sub.recv().await, Some(Packet::SubAck(_))));
    let (mut publisher, _) =
        Raw::connect(t.addr, connect_packet(Protocol::V311, "q1-pub", "u")).await;
    let started = std::time::Instant::now();
    let sender = tokio::spawn(async move {
        let mut frame = bytes::BytesMut::new();
        for i in 0..N {
            let one = Packet::Publish(Publish {
                dup: false,
                qos: agora_mqtt::QoS::AtLeastOnce,
                retain: false,
                topic: ByteString::from_static("q1/t"),
                packet_id: Some((i % 60_000 + 1) as u16),
                properties: Properties::default(),
                payload: Bytes::from_static(&[7u8; 64]),
            });
            agora_mqtt::encode(&one, Protocol::V311, &mut frame).expect("encodes");
            if frame.len() > 32 * 1024 {
                publisher.send_bytes(&frame).await;
                frame.clear();
            }
        }
        publisher.send_bytes(&frame).await;
        // Drain the publisher's PUBACKs.
        let mut acks = 0;
        while acks < N {
            match publisher.recv_within(Duration::from_secs(5)).await {
                Ok(Some(Packet::PubAck(_))) => acks += 1,
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        acks
    });
    let mut got = 0;
    let mut acks = bytes::BytesMut::new();
    while got < N {
        match sub.recv_within(Duration::from_secs(5)).await {
            Ok(Some(Packet::Publish(p))) => {
                got += 1;
                let id = p.packet_id.expect("QoS 1 has an id");
                agora_mqtt::encode(
                    &Packet::PubAck(agora_mqtt::PubResponse::success(id)),
                    Protocol::V311,
                    &mut acks,
                )
                .expect("encodes");
                if acks.len() > 4096 || got == N {
                    sub.send_bytes(&acks).await;
                    acks.clear();
                }
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    let elapsed = started.elapsed();
    let publisher_acks = sender.await.expect("sender");
    println!(
        "QoS 1 relay, 64-byte payloads: {got} of {N} delivered (and {publisher_acks} PUBACKs to the publisher) in {elapsed:?} = {:.0} msg/s",
        got as f64 / elapsed.as_secs_f64()
    );
    t.stop().await;
}
