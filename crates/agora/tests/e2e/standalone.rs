//! The standalone broker: users and topic patterns from `agora.toml`.

use std::process::Command;

use crate::helpers::*;

const SENSOR_PW: &str = "sensor one passphrase";
const DASH_PW: &str = "dashboard passphrase";

fn config() -> String {
    let sensor = hash_password(SENSOR_PW);
    let dash = hash_password(DASH_PW);
    format!(
        r#"
[broker]
sys_interval = "1s"

[auth]
mode = "static"

[[auth.users]]
username = "sensor1"
password_hash = "{sensor}"
acl = [ {{ pattern = "sensors/%u/#", access = "write" }} ]

[[auth.users]]
username = "dashboard"
password_hash = "{dash}"
acl = [ {{ pattern = "sensors/#", access = "read" }} ]
"#
    )
}

/// `mosquitto_sub -d` reports its SUBACK on stdout; after that line a
/// publication is certain to be routed to it. `stdbuf` keeps its stdout
/// line-buffered although it is a pipe, so the test sees the line at once.
fn mosquitto_sub(agora: &Agora, tls: bool, user: &str, pw: &str, filter: &str) -> Peer {
    require("mosquitto_sub");
    require("stdbuf");
    let mut cmd = Command::new("stdbuf");
    cmd.args([
        "-oL",
        "mosquitto_sub",
        "-d",
        "-v",
        "-C",
        "1",
        "-W",
        "20",
        "-q",
        "1",
    ])
    .args(["-u", user, "-P", pw, "-t", filter]);
    if tls {
        cmd.args(["-h", "localhost", "-p", &agora.mqtts.port().to_string()])
            .arg("--cafile")
            .arg(agora.cafile());
    } else {
        cmd.args(["-h", "127.0.0.1", "-p", &agora.mqtt.port().to_string()]);
    }
    Peer::spawn(&mut cmd)
}

fn mosquitto_pub(
    agora: &Agora,
    tls: bool,
    user: &str,
    pw: &str,
    topic: &str,
    msg: &str,
) -> std::process::Output {
    require("mosquitto_pub");
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-q", "1", "-u", user, "-P", pw, "-t", topic, "-m", msg]);
    if tls {
        cmd.args(["-h", "localhost", "-p", &agora.mqtts.port().to_string()])
            .arg("--cafile")
            .arg(agora.cafile());
    } else {
        cmd.args(["-h", "127.0.0.1", "-p", &agora.mqtt.port().to_string()]);
    }
    run_with_stdin(&mut cmd, b"")
}

fn exchange_with_mosquitto(tls: bool) {
    let agora = spawn_agora(&config());
    let mut sub = mosquitto_sub(&agora, tls, "dashboard", DASH_PW, "sensors/#");
    assert!(
        sub.wait_line(|l| l.contains("received SUBACK")).is_some(),
        "no SUBACK: {:?}",
        sub.seen
    );
    let out = mosquitto_pub(
        &agora,
        tls,
        "sensor1",
        SENSOR_PW,
        "sensors/sensor1/temp",
        "21.5",
    );
    assert!(
        out.status.success(),
        "mosquitto_pub: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (status, lines, stderr) = sub.finish();
    assert_eq!(status, Some(0), "mosquitto_sub: {lines:?} {stderr}");
    assert!(
        lines.iter().any(|l| l == "sensors/sensor1/temp 21.5"),
        "{lines:?}"
    );
}

#[test]
fn mosquitto_clients_exchange_a_message_over_tcp() {
    exchange_with_mosquitto(false);
}

#[test]
fn mosquitto_clients_exchange_a_message_over_tls_trusting_the_self_signed_certificate() {
    exchange_with_mosquitto(true);
}

#[test]
fn paho_v311_and_v5_exchange_messages_over_tcp_and_websocket() {
    let agora = spawn_agora(&config());
    for protocol in ["311", "5"] {
        for transport in ["tcp", "websockets"] {
            let port = if transport == "tcp" {
                agora.mqtt.port()
            } else {
                agora.http.port()
            };
            let common = ["--protocol", protocol, "--transport", transport];
            let mut sub = paho(
                port,
                &[
                    &["sub"][..],
                    &common,
                    &[
                        "--user",
                        "dashboard",
                        "--password",
                        DASH_PW,
                        "--topic",
                        "sensors/#",
                    ],
                ]
                .concat(),
            );
            let suback = sub
                .wait_line(|l| l.starts_with("suback"))
                .unwrap_or_default();
            assert!(
                suback.starts_with("suback 1"),
                "{protocol}/{transport}: {:?}",
                sub.seen
            );
            let msg = format!("reading over {transport} v{protocol}");
            let publisher = paho(
                port,
                &[
                    &["pub"][..],
                    &common,
                    &[
                        "--user",
                        "sensor1",
                        "--password",
                        SENSOR_PW,
                        "--topic",
                        "sensors/sensor1/t",
                        "--message",
                        &msg,
                    ],
                ]
                .concat(),
            );
            let (status, lines, err) = publisher.finish();
            assert_eq!(
                status,
                Some(0),
                "{protocol}/{transport} publisher: {lines:?} {err}"
            );
            let (status, lines, err) = sub.finish();
            assert_eq!(
                status,
                Some(0),
                "{protocol}/{transport} subscriber: {lines:?} {err}"
            );
            assert!(
                lines.contains(&format!("msg sensors/sensor1/t {msg}")),
                "{lines:?}"
            );
        }
    }
}

#[test]
fn a_wrong_password_is_refused_with_bad_user_name_or_password() {
    let agora = spawn_agora(&config());
    for protocol in ["311", "5"] {
        let peer = paho(
            agora.mqtt.port(),
            &[
                "sub",
                "--protocol",
                protocol,
                "--user",
                "dashboard",
                "--password",
                "wrong",
                "--topic",
                "sensors/#",
            ],
        );
        let (status, lines, _) = peer.finish();
        assert_eq!(status, Some(2), "v{protocol}: {lines:?}");
        // paho reports MQTT 3.1.1's return code 4 as reason 0x86 too.
        assert!(
            lines.iter().any(|l| l == "connack 134"),
            "v{protocol}: {lines:?}"
        );
    }
    let out = mosquitto_pub(
        &agora,
        false,
        "sensor1",
        "not the passphrase",
        "sensors/sensor1/t",
        "x",
    );
    assert!(
        !out.status.success(),
        "mosquitto_pub must fail with a wrong password"
    );
}

#[test]
fn a_client_without_a_user_name_is_refused() {
    let agora = spawn_agora(&config());
    let peer = paho(
        agora.mqtt.port(),
        &["sub", "--protocol", "5", "--topic", "sensors/#"],
    );
    let (status, lines, _) = peer.finish();
    assert_eq!(status, Some(2), "{lines:?}");
    assert!(lines.iter().any(|l| l == "connack 135"), "{lines:?}");
}

#[test]
fn subscriptions_outside_the_users_patterns_are_refused() {
    let agora = spawn_agora(&config());
    for (protocol, code) in [("311", "128"), ("5", "135")] {
        for filter in ["#", "other/#", "$SYS/#"] {
            let peer = paho(
                agora.mqtt.port(),
                &[
                    "sub",
                    "--protocol",
                    protocol,
                    "--user",
                    "dashboard",
                    "--password",
                    DASH_PW,
                    "--topic",
                    filter,
                ],
            );
            let (status, lines, _) = peer.finish();
            assert_eq!(status, Some(3), "v{protocol} {filter}: {lines:?}");
            assert!(
                lines.contains(&format!("suback {code}")),
                "v{protocol} {filter}: {lines:?}"
            );
        }
    }
}

#[test]
fn a_publish_outside_the_users_patterns_is_refused_and_not_delivered() {
    let agora = spawn_agora(&config());
    let mut sub = paho(
        agora.mqtt.port(),
        &[
            "sub",
            "--protocol",
            "5",
            "--user",
            "dashboard",
            "--password",
            DASH_PW,
            "--topic",
            "sensors/#",
            "--count",
            "1",
        ],
    );
    assert!(
        sub.wait_line(|l| l.starts_with("suback 1")).is_some(),
        "{:?}",
        sub.seen
    );
    // sensor1 may only write below sensors/sensor1/: MQTT 5 PUBACK says 0x87.
    let refused = paho(
        agora.mqtt.port(),
        &[
            "pub",
            "--protocol",
            "5",
            "--user",
            "sensor1",
            "--password",
            SENSOR_PW,
            "--topic",
            "sensors/sensor2/t",
            "--message",
            "forged",
        ],
    );
    let (_, lines, _) = refused.finish();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("puback") && l.ends_with(" 135")),
        "{lines:?}"
    );
    // The dashboard, only user allowed to read, never sees it; the next legitimate one arrives first.
    let ok = paho(
        agora.mqtt.port(),
        &[
            "pub",
            "--protocol",
            "5",
            "--user",
            "sensor1",
            "--password",
            SENSOR_PW,
            "--topic",
            "sensors/sensor1/t",
            "--message",
            "genuine",
        ],
    );
    let (status, lines, _) = ok.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    let (status, lines, _) = sub.finish();
    assert_eq!(status, Some(0), "{lines:?}");
    assert!(
        lines.contains(&"msg sensors/sensor1/t genuine".to_owned()),
        "{lines:?}"
    );
    assert!(!lines.iter().any(|l| l.contains("forged")), "{lines:?}");
}

#[test]
fn a_restart_reuses_the_self_signed_certificate() {
    let agora = spawn_agora(&config());
    assert_eq!(
        agora.ws,
        format!("ws://{}/mqtt", agora.http),
        "the ws line names the HTTP listener"
    );
    let first = std::fs::read(agora.cafile()).expect("certificate created on first start");
    let data = agora.kill();
    let config_path = data.path().join("agora.toml");
    let again = spawn_agora_in(data, &config_path, &[]);
    let second = std::fs::read(again.cafile()).expect("certificate still there");
    assert_eq!(first, second);
}

#[test]
fn a_bad_config_value_names_the_key_and_stops_start_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("agora.toml");
    std::fs::write(&path, "[broker]\nmax_inflight = 0\n").expect("write");
    let out = run_with_stdin(
        Command::new(agora_bin())
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(["--mqtt", "0", "--http", "0", "--mqtts", "off"]),
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("broker.max_inflight"), "{err}");
    std::fs::write(&path, "[broker]\nno_such_key = 1\n").expect("write");
    let out = run_with_stdin(
        Command::new(agora_bin())
            .arg("serve")
            .arg("--config")
            .arg(&path),
        b"",
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no_such_key"), "{err}");
}
