//! The broker enforcing the market: a market set up over the REST API as
//! users do, then real MQTT clients (mosquitto, paho, the examples/ scripts)
//! as devices and buyers.

use std::process::Command;

use serde_json::json;

use crate::helpers::*;

/// A market: seller alice with hub `home`, a secret device `pi`, products
/// `temp` (free sensor) and `lamp` (free actuator); buyer bob.
struct Market {
    agora: Agora,
    api: Api,
    alice: String,
    bob: String,
    pi_secret: String,
}

fn market() -> Market {
    let agora = spawn_agora("[broker]\nsys_interval = \"1s\"\n");
    let api = Api::new(&agora);
    let alice = api.account("alice");
    let bob = api.account("bob");
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
    let pi_secret = dev["secret"]
        .as_str()
        .expect("secret shown once")
        .to_owned();
    for (name, kind) in [("temp", "sensor"), ("lamp", "actuator")] {
        api.expect(
            201,
            "POST",
            "/products",
            Some(&alice),
            Some(json!({"hub": "home", "name": name, "title": format!("The {name}"), "kind": kind, "plan": {"type": "free"}})),
        );
    }
    Market {
        agora,
        api,
        alice,
        bob,
        pi_secret,
    }
}

impl Market {
    fn buy(&self, topic: &str) -> String {
        let p = self.api.expect(
            201,
            "POST",
            &format!("/products/{topic}/purchases"),
            Some(&self.bob),
            Some(json!({})),
        );
        assert_eq!(p["state"], "active", "{p}");
        p["id"].as_str().expect("purchase id").to_owned()
    }

    fn bob_key(&self) -> String {
        let k = self.api.expect(
            201,
            "POST",
            "/access-keys",
            Some(&self.bob),
            Some(json!({"name": "laptop"})),
        );
        k["key"].as_str().expect("key shown once").to_owned()
    }

    fn mqtt(&self) -> u16 {
        self.agora.mqtt.port()
    }
}

fn sub_v5(port: u16, user: &str, key: &str, topic: &str, count: &str) -> Peer {
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
            topic,
            "--count",
            count,
            "--timeout",
            "20",
        ],
    )
}

#[test]
fn a_buyer_receives_a_purchase_and_is_cut_off_the_moment_it_is_revoked() {
    let m = market();
    let purchase = m.buy("alice/home/temp");
    let key = m.bob_key();
    let mut bob = sub_v5(m.mqtt(), "bob", &key, "alice/home/temp", "100");
    assert!(
        bob.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        bob.seen
    );
    let out = mosquitto_pub(
        m.agora.mqtt,
        "alice$home$pi",
        &m.pi_secret,
        "alice/home/temp",
        "21.5",
    );
    assert!(
        out.status.success(),
        "device publish: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        bob.wait_line(|l| l == "msg alice/home/temp 21.5").is_some(),
        "{:?}",
        bob.seen
    );

    m.api.expect(
        200,
        "POST",
        &format!("/purchases/{purchase}/revoke"),
        Some(&m.alice),
        Some(json!({"reason": "test over"})),
    );
    // The revocation is in force when the API answers: nothing published after it arrives.
    let out = mosquitto_pub(
        m.agora.mqtt,
        "alice$home$pi",
        &m.pi_secret,
        "alice/home/temp",
        "after revocation",
    );
    assert!(out.status.success());
    // MQTT 5 tells the buyer why: DISCONNECT 0x87 Not authorized.
    assert!(
        bob.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        bob.seen
    );
    let (_, lines, _) = bob.finish();
    assert!(
        !lines.iter().any(|l| l.contains("after revocation")),
        "{lines:?}"
    );
    // And a new session cannot subscribe again.
    let again = sub_v5(m.mqtt(), "bob", &key, "alice/home/temp", "1");
    let (status, lines, _) = again.finish();
    assert_eq!(status, Some(3), "{lines:?}");
    assert!(lines.contains(&"suback 135".to_owned()), "{lines:?}");
}

#[test]
fn the_examples_publish_and_subscribe_with_a_device_secret_and_an_access_key() {
    let m = market();
    m.buy("alice/home/temp");
    let key = m.bob_key();
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut buyer = Peer::spawn(
        Command::new("python3")
            .arg(examples.join("buyer_subscribe.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &m.mqtt().to_string(),
                "--user",
                "bob",
                "--key",
                &key,
                "--topic",
                "alice/home/temp",
                "--count",
                "1",
            ]),
    );
    assert!(
        buyer.wait_line(|l| l.starts_with("subscribed")).is_some(),
        "{:?}",
        buyer.seen
    );
    let device = Peer::spawn(
        Command::new("python3")
            .arg(examples.join("device_secret.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &m.mqtt().to_string(),
                "--user",
                "alice$home$pi",
                "--secret",
                &m.pi_secret,
                "--topic",
                "alice/home/temp",
                "--count",
                "1",
            ]),
    );
    let (status, lines, err) = device.finish();
    assert_eq!(status, Some(0), "{lines:?} {err}");
    let (status, lines, err) = buyer.finish();
    assert_eq!(status, Some(0), "{lines:?} {err}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("alice/home/temp {\"seq\": 0")),
        "{lines:?}"
    );
}

#[test]
fn every_refusal_of_spec_section_4() {
    let m = market();
    let key = m.bob_key();
    let port = m.mqtt();
    // Wrong device secret.
    let out = mosquitto_pub(
        m.agora.mqtt,
        "alice$home$pi",
        "ags_wrong",
        "alice/home/temp",
        "x",
    );
    assert!(!out.status.success());
    // A buyer before any purchase may not subscribe.
    let (status, lines, _) = sub_v5(port, "bob", &key, "alice/home/temp", "1").finish();
    assert_eq!(
        (status, lines.contains(&"suback 135".to_owned())),
        (Some(3), true),
        "{lines:?}"
    );
    m.buy("alice/home/temp");
    // Wider filters than the product tree are refused even with a purchase.
    for filter in [
        "alice/home/+",
        "#",
        "+/+/+",
        "alice/#",
        "$SYS/#",
        "alice/home/temp/cmd",
    ] {
        let (status, lines, _) = sub_v5(port, "bob", &key, filter, "1").finish();
        assert_eq!(status, Some(3), "{filter}: {lines:?}");
        assert!(
            lines.contains(&"suback 135".to_owned()),
            "{filter}: {lines:?}"
        );
    }
    // MQTT 3.1.1 says 0x80.
    let (_, lines, _) = paho(
        port,
        &[
            "sub",
            "--protocol",
            "311",
            "--user",
            "bob",
            "--password",
            &key,
            "--topic",
            "#",
        ],
    )
    .finish();
    assert!(lines.contains(&"suback 128".to_owned()), "{lines:?}");
    // A buyer cannot inject data into the product, nor commands into a sensor.
    for topic in ["alice/home/temp", "alice/home/temp/cmd/set"] {
        let (_, lines, _) = paho(
            port,
            &[
                "pub",
                "--protocol",
                "5",
                "--user",
                "bob",
                "--password",
                &key,
                "--topic",
                topic,
            ],
        )
        .finish();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("puback") && l.ends_with(" 135")),
            "{topic}: {lines:?}"
        );
    }
    // The device cannot publish outside its hub, nor into the command channel.
    api_other_hub(&m);
    for topic in ["alice/garden/soil", "bob/x/y", "alice/home/temp/cmd/fake"] {
        let (_, lines, _) = paho(
            port,
            &[
                "pub",
                "--protocol",
                "5",
                "--user",
                "alice$home$pi",
                "--password",
                &m.pi_secret,
                "--topic",
                topic,
            ],
        )
        .finish();
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("puback") && l.ends_with(" 135")),
            "{topic}: {lines:?}"
        );
    }
    // Another account's client id never takes over bob's session.
    let alice_key = m.api.expect(
        201,
        "POST",
        "/access-keys",
        Some(&m.alice),
        Some(json!({"name": "own"})),
    )["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let mut bob = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &key,
            "--topic",
            "alice/home/temp",
            "--client-id",
            "shared-id",
            "--count",
            "1",
        ],
    );
    assert!(
        bob.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        bob.seen
    );
    let (_, lines, _) = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "alice",
            "--password",
            &alice_key,
            "--topic",
            "alice/home/temp",
            "--client-id",
            "shared-id",
            "--count",
            "1",
            "--timeout",
            "2",
        ],
    )
    .finish();
    assert!(
        lines.contains(&"suback 1".to_owned()),
        "the seller reads her own product: {lines:?}"
    );
    let out = mosquitto_pub(
        m.agora.mqtt,
        "alice$home$pi",
        &m.pi_secret,
        "alice/home/temp",
        "still bob's",
    );
    assert!(out.status.success());
    let (status, lines, _) = bob.finish();
    assert_eq!(
        status,
        Some(0),
        "bob's session survived alice's use of his client id: {lines:?}"
    );
}

fn api_other_hub(m: &Market) {
    m.api.expect(
        201,
        "POST",
        "/hubs",
        Some(&m.alice),
        Some(json!({"name": "garden", "public": true})),
    );
    m.api.expect(
        201,
        "POST",
        "/products",
        Some(&m.alice),
        Some(json!({"hub": "garden", "name": "soil", "title": "Soil", "kind": "sensor", "plan": {"type": "free"}})),
    );
}

#[test]
fn a_buyer_sends_commands_to_an_actuator_and_only_devices_receive_them() {
    let m = market();
    m.buy("alice/home/lamp");
    let key = m.bob_key();
    let port = m.mqtt();
    let mut device = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "alice$home$pi",
            "--password",
            &m.pi_secret,
            "--topic",
            "alice/home/lamp/cmd/#",
            "--count",
            "1",
        ],
    );
    assert!(
        device.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        device.seen
    );
    let (_, lines, _) = paho(
        port,
        &[
            "pub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &key,
            "--topic",
            "alice/home/lamp/cmd/power",
            "--message",
            "on",
        ],
    )
    .finish();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("puback") && l.ends_with(" 0")),
        "{lines:?}"
    );
    let (status, lines, _) = device.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    assert!(
        lines.contains(&"msg alice/home/lamp/cmd/power on".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn a_messages_plan_stops_delivery_at_exactly_its_quota() {
    let m = market();
    m.api.expect(
        201,
        "POST",
        "/products",
        Some(&m.alice),
        Some(json!({"hub": "home", "name": "air", "title": "Air", "kind": "sensor", "plan": {"type": "messages", "count": 3, "price_cents": 100}})),
    );
    let id = m.buy("alice/home/air");
    let key = m.bob_key();
    let mut bob = sub_v5(m.mqtt(), "bob", &key, "alice/home/air", "100");
    assert!(
        bob.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        bob.seen
    );
    for i in 0..5 {
        let out = mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &m.pi_secret,
            "alice/home/air",
            &format!("reading {i}"),
        );
        assert!(out.status.success());
    }
    // The quota is used up: the purchase ends and the session is told.
    assert!(
        bob.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        bob.seen
    );
    let got: Vec<_> = bob
        .seen
        .iter()
        .filter(|l| l.starts_with("msg "))
        .cloned()
        .collect();
    assert_eq!(
        got,
        [
            "msg alice/home/air reading 0",
            "msg alice/home/air reading 1",
            "msg alice/home/air reading 2"
        ]
    );
    let p = m
        .api
        .expect(200, "GET", &format!("/purchases/{id}"), Some(&m.bob), None);
    assert_eq!(p["state"], "exhausted", "{p}");
    assert_eq!(p["used_messages"], 3, "{p}");
}

#[test]
fn a_key_based_device_publishes_with_pyjwt_and_with_agora_token() {
    let m = market();
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("device.pem");
    let out = run_with_stdin(
        Command::new(agora_bin())
            .args(["keygen", "--out"])
            .arg(&pem),
        b"",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let public = String::from_utf8(out.stdout).expect("pem");
    m.api.expect(
        201,
        "POST",
        "/hubs/alice/home/devices",
        Some(&m.alice),
        Some(json!({"name": "meter", "public_key": public})),
    );
    m.buy("alice/home/temp");
    let key = m.bob_key();
    let mut bob = sub_v5(m.mqtt(), "bob", &key, "alice/home/temp", "2");
    assert!(
        bob.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        bob.seen
    );
    // The I3 way: PyJWT with iss, iat, exp.
    let examples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let py = Peer::spawn(
        Command::new("python3")
            .arg(examples.join("device_jwt.py"))
            .args([
                "--host",
                "127.0.0.1",
                "--port",
                &m.mqtt().to_string(),
                "--user",
                "alice$home$meter",
                "--topic",
                "alice/home/temp",
                "--message",
                "from pyjwt",
                "--key",
            ])
            .arg(&pem),
    );
    let (status, lines, err) = py.finish();
    assert_eq!(status, Some(0), "{lines:?} {err}");
    // And with agora token.
    let tok = run_with_stdin(
        Command::new(agora_bin())
            .args(["token", "--key"])
            .arg(&pem)
            .args(["--ttl", "10m"]),
        b"",
    );
    assert!(tok.status.success());
    let token = String::from_utf8(tok.stdout)
        .expect("token")
        .trim()
        .to_owned();
    let out = mosquitto_pub(
        m.agora.mqtt,
        "alice$home$meter",
        &token,
        "alice/home/temp",
        "from agora token",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, lines, _) = bob.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    assert!(
        lines.contains(&"msg alice/home/temp from pyjwt".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"msg alice/home/temp from agora token".to_owned()),
        "{lines:?}"
    );
    // A token signed by another key, and the private key itself as password, are refused.
    let other = dir.path().join("other.pem");
    run_with_stdin(
        Command::new(agora_bin())
            .args(["keygen", "--out"])
            .arg(&other),
        b"",
    );
    let forged = run_with_stdin(
        Command::new(agora_bin())
            .args(["token", "--key"])
            .arg(&other),
        b"",
    );
    let forged = String::from_utf8(forged.stdout)
        .expect("token")
        .trim()
        .to_owned();
    assert!(
        !mosquitto_pub(
            m.agora.mqtt,
            "alice$home$meter",
            &forged,
            "alice/home/temp",
            "x"
        )
        .status
        .success()
    );
    let private = std::fs::read_to_string(&pem).expect("pem");
    let (status, lines, _) = paho(
        m.mqtt(),
        &[
            "pub",
            "--protocol",
            "5",
            "--user",
            "alice$home$meter",
            "--password",
            &private,
            "--topic",
            "alice/home/temp",
        ],
    )
    .finish();
    assert_eq!(status, Some(2), "{lines:?}");
}

#[test]
fn the_demo_prints_credentials_and_data_flows_to_bob() {
    let data = tempfile::tempdir().expect("tempdir");
    let config = data.path().join("agora.toml");
    std::fs::write(&config, "").expect("config");
    let agora = spawn_agora_in(data, &config, &["--demo"]);
    let demo: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(agora.data.path().join("demo.json")).expect("demo.json"),
    )
    .expect("json");
    let key = demo["bob_access_key"].as_str().expect("key").to_owned();
    let mut sub = Peer::spawn(
        Command::new("stdbuf")
            .args([
                "-oL",
                "mosquitto_sub",
                "-h",
                "127.0.0.1",
                "-p",
                &agora.mqtt.port().to_string(),
            ])
            .args([
                "-u",
                "bob",
                "-P",
                &key,
                "-t",
                "alice/home/temp",
                "-C",
                "2",
                "-W",
                "20",
            ]),
    );
    let line = sub.wait_line(|l| l.contains("celsius")).unwrap_or_default();
    assert!(line.starts_with("{\"seq\":"), "{:?}", sub.seen);
    let (status, _, _) = sub.finish();
    assert_eq!(status, Some(0));
    // The marketplace pages are served by the same process.
    let catalogue = http_get(&format!("http://{}/", agora.http));
    assert!(catalogue.contains("Backyard temperature"), "{catalogue}");
    let product = http_get(&format!("http://{}/products/alice/home/temp", agora.http));
    assert!(product.contains("mosquitto_sub"), "{product}");
    let metrics = http_get(&format!("http://{}/metrics", agora.http));
    assert!(metrics.contains("agora_auth_success_total"), "{metrics}");
    assert!(
        metrics.contains("agora_revocation_latency_seconds_bucket"),
        "{metrics}"
    );
}

fn admin(agora: &Agora, args: &[&str]) -> std::process::Output {
    run_with_stdin(
        Command::new(agora_bin())
            .arg("admin")
            .arg("--data-dir")
            .arg(agora.data.path())
            .args(args),
        b"",
    )
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "agora admin failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn agora_admin_manages_a_running_server_admins_read_sys_and_suspension_cuts_off() {
    let m = market();
    m.buy("alice/home/temp");
    let key = m.bob_key();
    // An admin made on the data folder of the running server, with an access key.
    let made = stdout(&admin(&m.agora, &["create-user", "root", "--admin"]));
    assert!(
        made.contains("created admin root") && made.contains("password: "),
        "{made}"
    );
    let key_out = stdout(&admin(&m.agora, &["create-access-key", "root"]));
    let root_key = key_out
        .lines()
        .find(|l| l.starts_with("agk_"))
        .unwrap_or_default()
        .trim()
        .to_owned();
    assert!(root_key.starts_with("agk_"), "{key_out}");
    // Admins read $SYS (the test config publishes it every second).
    let (status, lines, _) = sub_v5(
        m.mqtt(),
        "root",
        &root_key,
        "$SYS/broker/clients/connected",
        "1",
    )
    .finish();
    assert_eq!(status, Some(0), "{lines:?}");
    // Bob's session shows in list-sessions; suspending bob closes it with 0x87.
    let mut bob = paho(
        m.mqtt(),
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &key,
            "--topic",
            "alice/home/temp",
            "--client-id",
            "bobs-laptop",
            "--count",
            "100",
            "--timeout",
            "20",
        ],
    );
    assert!(
        bob.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        bob.seen
    );
    let listed = stdout(&admin(&m.agora, &["list-sessions"]));
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with("bob") && l.contains("bobs-laptop") && l.contains("connected")),
        "{listed}"
    );
    stdout(&admin(&m.agora, &["suspend", "bob", "--reason", "test"]));
    assert!(
        bob.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        bob.seen
    );
    let (status, lines, _) = sub_v5(m.mqtt(), "bob", &key, "alice/home/temp", "1").finish();
    assert_eq!(
        status,
        Some(2),
        "a suspended account cannot log in: {lines:?}"
    );
    // Kick a device session.
    let mut pi = paho(
        m.mqtt(),
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "alice$home$pi",
            "--password",
            &m.pi_secret,
            "--topic",
            "alice/home/temp/cmd/#",
            "--client-id",
            "pi-1",
            "--count",
            "1",
            "--timeout",
            "20",
        ],
    );
    assert!(pi.wait_line(|l| l == "suback 1").is_some(), "{:?}", pi.seen);
    let kicked = stdout(&admin(&m.agora, &["kick", "alice$home$pi", "pi-1"]));
    assert!(kicked.contains("disconnected"), "{kicked}");
    assert!(
        pi.wait_line(|l| l == "disconnect 152").is_some(),
        "0x98 Administrative action: {:?}",
        pi.seen
    );
}

#[test]
fn agora_pub_and_sub_work_over_tls_with_the_self_signed_certificate() {
    let m = market();
    m.buy("alice/home/temp");
    let key = m.bob_key();
    let port = m.agora.mqtts.port().to_string();
    let mut sub = Peer::spawn(
        Command::new(agora_bin())
            .args(["sub", "-H", "localhost", "-p", &port, "--cafile"])
            .arg(m.agora.cafile())
            .args([
                "-u",
                "bob",
                "-P",
                &key,
                "-t",
                "alice/home/temp",
                "-C",
                "1",
                "-v",
            ]),
    );
    // `agora sub` prints nothing until a message; publish until it has one.
    let mut published = 0;
    let line = loop {
        let out = run_with_stdin(
            Command::new(agora_bin())
                .args(["pub", "-H", "localhost", "-p", &port, "--cafile"])
                .arg(m.agora.cafile())
                .args([
                    "-u",
                    "alice$home$pi",
                    "-P",
                    &m.pi_secret,
                    "-t",
                    "alice/home/temp",
                    "-m",
                    "over tls",
                ]),
            b"",
        );
        assert!(
            out.status.success(),
            "agora pub: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        published += 1;
        if let Some(l) = sub.wait_line_for(
            |l| l.contains("over tls"),
            std::time::Duration::from_millis(500),
        ) {
            break l;
        }
        assert!(published < 40, "agora sub got nothing: {:?}", sub.seen);
    };
    assert_eq!(line, "alice/home/temp over tls");
    let (status, _, err) = sub.finish();
    assert_eq!(status, Some(0), "{err}");
    // A refused subscription is an error that says what to do.
    let out = run_with_stdin(
        Command::new(agora_bin())
            .args(["sub", "-H", "localhost", "-p", &port, "--cafile"])
            .arg(m.agora.cafile())
            .args(["-u", "bob", "-P", &key, "-t", "alice/#"]),
        b"",
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refused every subscription"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn each_revocation_cuts_off_exactly_the_sessions_it_affects() {
    let m = market();
    m.buy("alice/home/temp");
    m.buy("alice/home/lamp");
    let key1 = m.bob_key();
    let key2 = m.bob_key();
    let port = m.mqtt();
    let mut a = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &key1,
            "--topic",
            "alice/home/temp",
            "--client-id",
            "a",
            "--count",
            "100",
            "--timeout",
            "25",
        ],
    );
    let mut b = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &key2,
            "--topic",
            "alice/home/lamp",
            "--client-id",
            "b",
            "--count",
            "100",
            "--timeout",
            "25",
        ],
    );
    let mut pi = paho(
        port,
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "alice$home$pi",
            "--password",
            &m.pi_secret,
            "--topic",
            "alice/home/lamp/cmd/#",
            "--client-id",
            "pi",
            "--count",
            "100",
            "--timeout",
            "25",
        ],
    );
    for p in [&mut a, &mut b, &mut pi] {
        assert!(p.wait_line(|l| l == "suback 1").is_some(), "{:?}", p.seen);
    }
    // Revoking key1 closes the session that used it, not the one on key2.
    let keys = m.api.expect(200, "GET", "/access-keys", Some(&m.bob), None);
    let key1_id = keys["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|k| k["id"].as_str().unwrap_or_default().to_owned())
        .min()
        .expect("a key");
    m.api.expect(
        204,
        "DELETE",
        &format!("/access-keys/{key1_id}"),
        Some(&m.bob),
        None,
    );
    assert!(
        a.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        a.seen
    );
    // Rotating the device's secret closes its session; the new secret works.
    let rotated = m.api.expect(
        200,
        "POST",
        "/hubs/alice/home/devices/pi/rotate",
        Some(&m.alice),
        Some(json!({})),
    );
    assert!(
        pi.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        pi.seen
    );
    let new_secret = rotated["secret"].as_str().expect("new secret").to_owned();
    assert!(
        !mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &m.pi_secret,
            "alice/home/lamp",
            "old"
        )
        .status
        .success()
    );
    assert!(
        mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &new_secret,
            "alice/home/lamp",
            "new"
        )
        .status
        .success()
    );
    // Session b was not affected: it still receives.
    assert!(
        b.wait_line(|l| l == "msg alice/home/lamp new").is_some(),
        "{:?}",
        b.seen
    );
    // Deleting the product ends the purchase: b is cut off.
    m.api.expect(
        204,
        "DELETE",
        "/products/alice/home/lamp",
        Some(&m.alice),
        None,
    );
    assert!(
        b.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        b.seen
    );
    let purchases = m.api.expect(200, "GET", "/purchases", Some(&m.bob), None);
    let lamp = purchases["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["topic"] == "alice/home/lamp")
        .cloned()
        .unwrap_or_default();
    assert_ne!(lamp["state"], "active", "{lamp}");
}

#[test]
fn buyers_receive_with_mosquitto_sub_over_tls_and_with_paho_v311() {
    let m = market();
    m.buy("alice/home/temp");
    let key = m.bob_key();
    let mut tls_sub = Peer::spawn(
        Command::new("stdbuf")
            .args([
                "-oL",
                "mosquitto_sub",
                "-d",
                "-h",
                "localhost",
                "-p",
                &m.agora.mqtts.port().to_string(),
                "--cafile",
            ])
            .arg(m.agora.cafile())
            .args([
                "-u",
                "bob",
                "-P",
                &key,
                "-t",
                "alice/home/temp",
                "-C",
                "1",
                "-W",
                "20",
                "-v",
            ]),
    );
    assert!(
        tls_sub
            .wait_line(|l| l.contains("received SUBACK"))
            .is_some(),
        "{:?}",
        tls_sub.seen
    );
    let mut v311 = paho(
        m.mqtt(),
        &[
            "sub",
            "--protocol",
            "311",
            "--user",
            "bob",
            "--password",
            &key,
            "--topic",
            "alice/home/temp",
            "--count",
            "1",
        ],
    );
    assert!(
        v311.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        v311.seen
    );
    assert!(
        mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &m.pi_secret,
            "alice/home/temp",
            "22.0"
        )
        .status
        .success()
    );
    let (status, lines, err) = tls_sub.finish();
    assert_eq!(status, Some(0), "{lines:?} {err}");
    assert!(
        lines.contains(&"alice/home/temp 22.0".to_owned()),
        "{lines:?}"
    );
    let (status, lines, _) = v311.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    assert!(
        lines.contains(&"msg alice/home/temp 22.0".to_owned()),
        "{lines:?}"
    );
}

#[test]
fn a_device_token_session_is_closed_at_its_exp_with_0xa0() {
    let m = market();
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("device.pem");
    let out = run_with_stdin(
        Command::new(agora_bin())
            .args(["keygen", "--out"])
            .arg(&pem),
        b"",
    );
    let public = String::from_utf8(out.stdout).expect("pem");
    m.api.expect(
        201,
        "POST",
        "/hubs/alice/home/devices",
        Some(&m.alice),
        Some(json!({"name": "meter", "public_key": public})),
    );
    let tok = run_with_stdin(
        Command::new(agora_bin())
            .args(["token", "--key"])
            .arg(&pem)
            .args(["--ttl", "3s"]),
        b"",
    );
    let token = String::from_utf8(tok.stdout)
        .expect("token")
        .trim()
        .to_owned();
    let mut device = paho(
        m.mqtt(),
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "alice$home$meter",
            "--password",
            &token,
            "--topic",
            "alice/home/temp/cmd/#",
            "--count",
            "1",
            "--timeout",
            "20",
        ],
    );
    assert!(
        device.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        device.seen
    );
    // The broker ends the session when the token expires: 0xA0 Maximum connect time.
    assert!(
        device.wait_line(|l| l == "disconnect 160").is_some(),
        "{:?}",
        device.seen
    );
    // And the expired token no longer logs in.
    let (status, lines, _) = paho(
        m.mqtt(),
        &[
            "pub",
            "--protocol",
            "5",
            "--user",
            "alice$home$meter",
            "--password",
            &token,
            "--topic",
            "alice/home/temp",
        ],
    )
    .finish();
    assert_eq!(status, Some(2), "{lines:?}");
}

#[test]
fn a_revoked_buyers_stored_session_gets_none_of_its_queued_messages() {
    let m = market();
    let purchase = m.buy("alice/home/temp");
    let key = m.bob_key();
    let persistent = |count: &str| {
        paho(
            m.mqtt(),
            &[
                "sub",
                "--protocol",
                "5",
                "--user",
                "bob",
                "--password",
                &key,
                "--topic",
                "alice/home/temp",
                "--client-id",
                "bob-p",
                "--session-expiry",
                "300",
                "--qos",
                "1",
                "--count",
                count,
                "--timeout",
                "5",
            ],
        )
    };
    // A persistent session, then offline: a QoS 1 message is queued for it and arrives on reconnect.
    let mut first = persistent("1");
    assert!(
        first.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        first.seen
    );
    assert!(
        mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &m.pi_secret,
            "alice/home/temp",
            "live"
        )
        .status
        .success()
    );
    let (status, lines, _) = first.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    assert!(
        mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &m.pi_secret,
            "alice/home/temp",
            "queued-before"
        )
        .status
        .success()
    );
    let (_, lines, _) = persistent("1").finish();
    assert!(
        lines.contains(&"msg alice/home/temp queued-before".to_owned()),
        "the offline queue works: {lines:?}"
    );
    // Offline again; a message is queued; then the purchase is revoked.
    assert!(
        mosquitto_pub(
            m.agora.mqtt,
            "alice$home$pi",
            &m.pi_secret,
            "alice/home/temp",
            "queued-after"
        )
        .status
        .success()
    );
    m.api.expect(
        200,
        "POST",
        &format!("/purchases/{purchase}/revoke"),
        Some(&m.alice),
        Some(json!({"reason": "ended"})),
    );
    let (_, lines, _) = persistent("1").finish();
    assert!(
        !lines.iter().any(|l| l.contains("queued-after")),
        "a revoked buyer must not get the queue: {lines:?}"
    );
    assert!(lines.contains(&"suback 135".to_owned()), "{lines:?}");
}

#[test]
fn a_period_purchase_ends_by_itself_and_cuts_the_buyer_off() {
    // One plan day lasts 2 s here, so a 1-day purchase ends 2 s after it starts.
    let agora = spawn_agora("[market]\nperiod_day = \"2s\"\n");
    let api = Api::new(&agora);
    let alice = api.account("alice");
    let bob = api.account("bob");
    api.expect(
        201,
        "POST",
        "/hubs",
        Some(&alice),
        Some(json!({"name": "home", "public": true})),
    );
    let secret = api.expect(
        201,
        "POST",
        "/hubs/alice/home/devices",
        Some(&alice),
        Some(json!({"name": "pi"})),
    )["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    api.expect(
        201,
        "POST",
        "/products",
        Some(&alice),
        Some(json!({"hub": "home", "name": "temp", "title": "Temp", "kind": "sensor", "plan": {"type": "period", "days": 1, "price_cents": 100}})),
    );
    let p = api.expect(
        201,
        "POST",
        "/products/alice/home/temp/purchases",
        Some(&bob),
        Some(json!({})),
    );
    let id = p["id"].as_str().expect("id").to_owned();
    let key = api.expect(
        201,
        "POST",
        "/access-keys",
        Some(&bob),
        Some(json!({"name": "k"})),
    )["key"]
        .as_str()
        .expect("key")
        .to_owned();
    let mut sub = paho(
        agora.mqtt.port(),
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "bob",
            "--password",
            &key,
            "--topic",
            "alice/home/temp",
            "--count",
            "100",
            "--timeout",
            "20",
        ],
    );
    assert!(
        sub.wait_line(|l| l == "suback 1").is_some(),
        "{:?}",
        sub.seen
    );
    assert!(
        mosquitto_pub(
            agora.mqtt,
            "alice$home$pi",
            &secret,
            "alice/home/temp",
            "in time"
        )
        .status
        .success()
    );
    assert!(
        sub.wait_line(|l| l == "msg alice/home/temp in time")
            .is_some(),
        "{:?}",
        sub.seen
    );
    // Nobody calls anything: the period ends and the broker says so.
    assert!(
        sub.wait_line(|l| l == "disconnect 135").is_some(),
        "{:?}",
        sub.seen
    );
    let p = api.expect(200, "GET", &format!("/purchases/{id}"), Some(&bob), None);
    assert_eq!(p["state"], "expired", "{p}");
}

#[test]
fn agora_token_output_verifies_with_pyjwt_using_the_public_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pem = dir.path().join("device.pem");
    let out = run_with_stdin(
        Command::new(agora_bin())
            .args(["keygen", "--out"])
            .arg(&pem),
        b"",
    );
    assert!(out.status.success());
    let public = dir.path().join("device.pub.pem");
    std::fs::write(&public, &out.stdout).expect("public key");
    let tok = run_with_stdin(
        Command::new(agora_bin())
            .args(["token", "--key"])
            .arg(&pem)
            .args(["--iss", "alice$home$meter", "--ttl", "10m"]),
        b"",
    );
    let token = String::from_utf8(tok.stdout)
        .expect("token")
        .trim()
        .to_owned();
    let script = "import sys, jwt\n\
        pub = open(sys.argv[1]).read()\n\
        c = jwt.decode(sys.argv[2], pub, algorithms=['RS256'], issuer='alice$home$meter', options={'require': ['exp', 'iat', 'iss']})\n\
        assert c['exp'] - c['iat'] == 600, c\n\
        print('verified', c['iss'])\n";
    require("python3");
    let out = run_with_stdin(
        Command::new("python3")
            .arg("-c")
            .arg(script)
            .arg(&public)
            .arg(&token),
        b"",
    );
    assert!(
        out.status.success(),
        "PyJWT refused agora token's output: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "verified alice$home$meter"
    );
}
