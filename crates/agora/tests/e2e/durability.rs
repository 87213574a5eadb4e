//! Durability (issue "Proof", item 4): the real process is killed with
//! SIGKILL in the middle of a stream of QoS 1 messages for offline persistent
//! sessions, restarted in the same data folder, and must deliver every
//! acknowledged message in order to the buyer who still has the right, none
//! to the buyer revoked before the crash, and keep the retained message.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;

/// Messages the device would publish while the buyers are offline…
const STREAM: usize = 20_000;
/// …and how many must be acknowledged before the server is killed.
const MIN_ACKED: usize = 200;

/// `alice` with hub `home`, device `pi` and the free sensor product `temp`;
/// returns alice's API token and the device secret.
fn seller(api: &Api) -> (String, String) {
    let alice = api.account("alice");
    api.expect(
        201,
        "POST",
        "/hubs",
        Some(&alice),
        Some(json!({"name": "home", "public": true})),
    );
    let dev = api.expect(
        201,
        "POST",
        "/hubs/alice/home/devices",
        Some(&alice),
        Some(json!({"name": "pi"})),
    );
    api.expect(
        201,
        "POST",
        "/products",
        Some(&alice),
        Some(json!({"hub": "home", "name": "temp", "title": "The temp", "kind": "sensor", "plan": {"type": "free"}})),
    );
    let secret = dev["secret"].as_str().expect("secret shown once");
    (alice, secret.to_owned())
}

/// A buyer who bought `alice/home/temp`: (purchase id, access key).
fn buyer(api: &Api, name: &str) -> (String, String) {
    let token = api.account(name);
    let p = api.expect(
        201,
        "POST",
        "/products/alice/home/temp/purchases",
        Some(&token),
        Some(json!({})),
    );
    let k = api.expect(
        201,
        "POST",
        "/access-keys",
        Some(&token),
        Some(json!({"name": "laptop"})),
    );
    (
        p["id"].as_str().expect("purchase id").to_owned(),
        k["key"].as_str().expect("key shown once").to_owned(),
    )
}

/// A persistent MQTT 5 session (expiry 300 s) subscribed to the sensor at
/// QoS 1, waiting for `count` messages or `timeout` seconds.
fn persistent(port: u16, user: &str, key: &str, count: usize, timeout: &str) -> Peer {
    paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            user,
            "--password",
            key,
            "--topic",
            "alice/home/temp",
            "--client-id",
            &format!("{user}-p"),
            "--session-expiry",
            "300",
            "--qos",
            "1",
            "--count",
            &count.to_string(),
            "--timeout",
            timeout,
        ],
    )
}

fn received(lines: &[String]) -> Vec<&str> {
    lines
        .iter()
        .filter_map(|l| l.strip_prefix("msg alice/home/temp "))
        .collect()
}

#[test]
fn acknowledged_messages_survive_kill_9_in_order_and_a_revoked_buyer_gets_none() {
    let agora = spawn_agora("[broker]\nsys_interval = \"1s\"\n");
    let api = Api::new(&agora);
    let (alice, secret) = seller(&api);
    let (_, bob_key) = buyer(&api, "bob");
    let (carol_purchase, carol_key) = buyer(&api, "carol");
    let port = agora.mqtt.port();

    // Both buyers subscribe with a persistent session, then go offline.
    for (user, key) in [("bob", &bob_key), ("carol", &carol_key)] {
        let mut s = persistent(port, user, key, 1, "1");
        assert!(s.wait_line(|l| l == "suback 1").is_some(), "{:?}", s.seen);
        s.finish();
    }

    // A retained message first (queued for both), then carol's purchase is
    // revoked: her queue holds it on disk, and she may not have it.
    require("mosquitto_pub");
    let retained = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-q", "1", "-r", "-u", "alice$home$pi", "-P", &secret])
        .args(["-t", "alice/home/temp", "-m", "last"])
        .output()
        .expect("mosquitto_pub");
    assert!(retained.status.success(), "{retained:?}");
    api.expect(
        200,
        "POST",
        &format!("/purchases/{carol_purchase}/revoke"),
        Some(&alice),
        Some(json!({"reason": "ended"})),
    );

    // The device streams QoS 1 messages; the server is killed (SIGKILL)
    // once MIN_ACKED of them have been acknowledged, mid-stream.
    let mut device = paho(
        port,
        &[
            "pub",
            "--user",
            "alice$home$pi",
            "--password",
            &secret,
            "--topic",
            "alice/home/temp",
            "--message",
            "m",
            "--count",
            &STREAM.to_string(),
            "--qos",
            "1",
            "--timeout",
            "60",
        ],
    );
    let threshold = format!("puback {MIN_ACKED} ");
    assert!(
        device.wait_line(|l| l.starts_with(&threshold)).is_some(),
        "{:?}",
        device.seen
    );
    let data = agora.kill();
    let (_, lines, _) = device.finish();
    // paho numbers its publishes from 1 and the broker acknowledges in order,
    // so the acknowledged messages are exactly "m 0" .. "m {acked - 1}".
    let acked = lines.iter().filter(|l| l.starts_with("puback ")).count();
    let last_mid = format!("puback {acked} ");
    assert!(
        lines.iter().any(|l| l.starts_with(&last_mid)),
        "acknowledgements in order: {lines:?}"
    );
    assert!(
        (MIN_ACKED..STREAM).contains(&acked),
        "killed mid-stream: {acked} of {STREAM} acknowledged"
    );

    // Start again in the same data folder.
    let config = data.path().join("agora.toml");
    let agora = spawn_agora_in(data, &config, &[]);
    let port = agora.mqtt.port();

    let (status, lines, err) = persistent(port, "bob", &bob_key, acked + 1, "30").finish();
    assert_eq!(status, Some(0), "bob got everything: {lines:?} {err}");
    let mut expected = vec!["last".to_owned()];
    expected.extend((0..acked).map(|i| format!("m {i}")));
    let got = received(&lines);
    assert_eq!(
        got[..acked + 1],
        expected,
        "every acknowledged message, in order"
    );

    let (_, lines, _) = persistent(port, "carol", &carol_key, 1, "3").finish();
    assert!(
        received(&lines).is_empty(),
        "a buyer revoked before the crash gets none of the stored queue: {lines:?}"
    );

    let (status, lines, err) = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &bob_key,
            "--topic",
            "alice/home/temp",
            "--count",
            "1",
            "--timeout",
            "10",
        ],
    )
    .finish();
    assert_eq!(status, Some(0), "{lines:?} {err}");
    assert_eq!(
        received(&lines),
        vec!["last"],
        "the retained message survived"
    );
}
