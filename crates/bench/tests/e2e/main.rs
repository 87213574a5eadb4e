//! agora-bench against Agora's broker in process: every message accounted
//! for, at every QoS and both protocol levels, and the connection scenarios.

mod helpers;

use helpers::TestBroker;

const SHORT: [&str; 6] = [
    "--duration",
    "400ms",
    "--warmup",
    "100ms",
    "--drain-idle",
    "500ms",
];

fn flow(b: &TestBroker, scenario: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = scenario.iter().chain(SHORT.iter()).copied().collect();
    b.bench(&args)
        .unwrap_or_else(|e| panic!("{scenario:?} failed: {e}"))
}

fn assert_every_message_arrived_once(r: &serde_json::Value, what: &str) {
    let seq = &r["result"]["sequence"];
    assert!(
        seq["expected"].as_u64().unwrap_or(0) > 0,
        "{what}: nothing was published: {r}"
    );
    assert_eq!(seq["lost"], 0, "{what}: {r}");
    assert_eq!(seq["duplicates"], 0, "{what}: {r}");
    assert_eq!(seq["reordered"], 0, "{what}: {r}");
    assert_eq!(r["result"]["unexpected"], 0, "{what}: {r}");
    assert!(
        r["result"]["latency_us"]["count"].as_u64().unwrap_or(0) > 0,
        "{what}: no latency samples"
    );
}

#[test]
fn pairs_deliver_every_message_once_at_every_qos_and_protocol() {
    let b = TestBroker::start();
    for v in ["3.1.1", "5"] {
        for q in ["0", "1", "2"] {
            let r = flow(&b, &["pairs", "--pairs", "3", "-q", q, "-V", v]);
            assert_every_message_arrived_once(&r, &format!("pairs QoS {q} MQTT {v}"));
            assert_eq!(r["target"]["protocol"], v);
        }
    }
}

#[test]
fn fan_in_and_fan_out_count_deliveries_per_subscriber() {
    let b = TestBroker::start();
    let r = flow(&b, &["fan-in", "--publishers", "5", "-q", "1"]);
    assert_every_message_arrived_once(&r, "fan-in");
    let r = flow(&b, &["fan-out", "--subscribers", "4", "-q", "1"]);
    assert_every_message_arrived_once(&r, "fan-out");
    let seq = &r["result"]["sequence"];
    // Four subscribers each expect everything the one publisher sent.
    assert_eq!(
        seq["expected"].as_u64(),
        r["result"]["published_total"].as_u64().map(|n| n * 4)
    );
}

#[test]
fn a_fixed_rate_is_kept_and_lateness_reported() {
    let b = TestBroker::start();
    let r = flow(&b, &["pairs", "--pairs", "2", "--rate", "2000"]);
    assert_every_message_arrived_once(&r, "fixed rate");
    let rate = r["result"]["published_per_sec"].as_f64().unwrap_or(0.0);
    assert!(
        (1_000.0..3_000.0).contains(&rate),
        "published {rate} msg/s at --rate 2000"
    );
    assert!(
        r["result"]["send_lateness_us"]["count"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
}

#[test]
fn a_stalled_subscriber_does_not_stop_the_run() {
    let b = TestBroker::start();
    let r = flow(&b, &["stall", "--publishers", "2"]);
    assert!(
        r["result"]["delivered_per_sec"].as_f64().unwrap_or(0.0) > 0.0,
        "{r}"
    );
}

#[test]
fn storm_counts_accepted_and_refused_handshakes() {
    let b = TestBroker::start();
    let r = b
        .bench(&["storm", "--connections", "200", "--concurrency", "10"])
        .expect("storm");
    assert_eq!(r["result"]["accepted"], 200, "{r}");
    assert!(
        r["result"]["connack_latency_us"]["p99"]
            .as_f64()
            .unwrap_or(0.0)
            > 0.0
    );
    let r = b
        .bench(&["storm", "--connections", "20", "-u", "nobody", "-P", "x"])
        .expect("storm with a refused user still reports");
    assert_eq!(r["result"]["refused"], 20, "{r}");
    assert_eq!(r["result"]["accepted"], 0, "{r}");
}

#[test]
fn idle_needs_the_broker_pid_and_refused_logins_fail_clearly() {
    let b = TestBroker::start();
    let e = b
        .bench(&["idle", "--connections", "10"])
        .expect_err("no pid");
    assert!(e.contains("--broker-pid"), "{e}");
    let e = b
        .bench(&["pairs", "-u", "nobody", "-d", "200ms"])
        .expect_err("refused");
    assert!(e.contains("BadUserNameOrPassword"), "{e}");
    // This test process stands in for the broker: it is where the broker runs.
    let pid = std::process::id().to_string();
    let r = b
        .bench(&[
            "idle",
            "--connections",
            "50",
            "--settle",
            "100ms",
            "--broker-pid",
            &pid,
        ])
        .expect("idle");
    assert_eq!(r["result"]["open"], 50, "{r}");
}
