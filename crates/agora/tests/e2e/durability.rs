//! Durability (issue "Proof", item 4): the real process is killed with
//! SIGKILL after acknowledging QoS 1 messages for offline persistent
//! sessions, restarted in the same data folder, and must deliver every
//! acknowledged message in order to the buyer who still has the right, none
//! to the buyer revoked before the crash, and keep the retained message.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;

/// Messages the device publishes while the buyers are offline.
const N: usize = 20;

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

    // The device publishes N QoS 1 messages, each acknowledged, then a retained one.
    let (status, lines, err) = paho(
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
            &N.to_string(),
            "--qos",
            "1",
        ],
    )
    .finish();
    assert_eq!(status, Some(0), "{lines:?} {err}");
    assert_eq!(lines.iter().filter(|l| l.starts_with("puback ")).count(), N);
    require("mosquitto_pub");
    let retained = Command::new("mosquitto_pub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(["-q", "1", "-r", "-u", "alice$home$pi", "-P", &secret])
        .args(["-t", "alice/home/temp", "-m", "last"])
        .output()
        .expect("mosquitto_pub");
    assert!(retained.status.success(), "{retained:?}");

    // Carol's purchase is revoked; her queue is already on disk.
    api.expect(
        200,
        "POST",
        &format!("/purchases/{carol_purchase}/revoke"),
        Some(&alice),
        Some(json!({"reason": "ended"})),
    );

    // kill -9, and start again in the same data folder.
    let data = agora.kill();
    let config = data.path().join("agora.toml");
    let agora = spawn_agora_in(data, &config, &[]);
    let port = agora.mqtt.port();

    let (status, lines, err) = persistent(port, "bob", &bob_key, N + 1, "20").finish();
    assert_eq!(status, Some(0), "bob got everything: {lines:?} {err}");
    let mut expected: Vec<String> = (0..N).map(|i| format!("m {i}")).collect();
    expected.push("last".into());
    let got = received(&lines);
    assert_eq!(
        got[..N + 1],
        expected,
        "every acknowledged message, in order: {got:?}"
    );
    // The client's SUBSCRIBE at reconnect may also bring the retained copy
    // (Retain Handling 0), after the queue; nothing else may follow.
    assert!(got[N + 1..].iter().all(|m| *m == "last"), "{got:?}");

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
