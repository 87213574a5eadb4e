//! The command line: one subcommand per scenario, shared connection flags.

use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// agora-bench: load and latency tool for MQTT brokers (Agora, Mosquitto, any other).
///
/// Every message carries its publisher, a sequence number and a send
/// timestamp, so a run reports throughput, publish-to-deliver latency
/// (p50/p99/p99.9), loss, duplicates and reordering. With --broker-pid it
/// also samples the broker's CPU and memory from /proc.
#[derive(Debug, Parser)]
#[command(
    name = "agora-bench",
    version,
    // -V is the MQTT version, as in emqtt-bench; --version stays.
    disable_version_flag = true,
    arg_required_else_help = true,
    after_help = "\
Examples:
  agora-bench fan-in                          # 100 publishers -> 1 subscriber, QoS 0, max rate
  agora-bench fan-in -q 1 -V 5 -d 20s         # MQTT 5, QoS 1, 20 s window
  agora-bench fan-out --subscribers 200 -r 500   # 500 msg/s in, 100,000 msg/s out
  agora-bench pairs --pairs 50 -r 20000       # latency at a fixed 20,000 msg/s
  agora-bench storm -u bench -P secret -d 10s
  agora-bench idle -c 10000 --broker-pid \"$(pidof mosquitto)\"
  agora-bench stall --broker-pid \"$(pidof mosquitto)\" -d 20s
  agora-bench fan-in --json | jq .result.delivered_per_sec

The human summary goes to stdout (--json: one JSON object instead); errors to stderr.
Each scenario has its own --help."
)]
pub(crate) struct Cli {
    /// The scenario to run.
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
    /// Connection and output flags shared by every scenario.
    #[command(flatten, next_help_heading = "Connection and output (any scenario)")]
    pub(crate) common: CommonArgs,
    /// Print the version.
    #[arg(long, action = clap::ArgAction::Version)]
    pub(crate) version: Option<bool>,
}

/// MQTT protocol level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Version {
    /// MQTT 3.1.1 (protocol level 4).
    #[value(name = "3.1.1", alias = "3", alias = "4", alias = "311")]
    V311,
    /// MQTT 5.0.
    #[value(name = "5", alias = "5.0")]
    V5,
}

/// Flags every scenario takes.
#[derive(Debug, Args)]
pub(crate) struct CommonArgs {
    /// Broker host.
    #[arg(long, short = 'H', global = true, default_value = "127.0.0.1")]
    pub(crate) host: String,
    /// Broker MQTT port.
    #[arg(long, short, global = true, default_value_t = 1883)]
    pub(crate) port: u16,
    /// MQTT protocol version.
    #[arg(
        long = "mqtt-version",
        short = 'V',
        global = true,
        value_enum,
        default_value = "3.1.1"
    )]
    pub(crate) mqtt_version: Version,
    /// QoS of publishes and subscriptions (0, 1 or 2).
    #[arg(long, short, global = true, default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub(crate) qos: u8,
    /// User name for every connection.
    #[arg(long, short, global = true)]
    pub(crate) username: Option<String>,
    /// Password for every connection.
    #[arg(
        long,
        short = 'P',
        global = true,
        env = "AGORA_BENCH_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) password: Option<String>,
    /// User name for the subscribers instead of --username (e.g. a buyer,
    /// while the publishers log in as a device).
    #[arg(long, global = true)]
    pub(crate) sub_username: Option<String>,
    /// Password for the subscribers instead of --password.
    #[arg(
        long,
        global = true,
        env = "AGORA_BENCH_SUB_PASSWORD",
        hide_env_values = true
    )]
    pub(crate) sub_password: Option<String>,
    /// Keep-alive sent in CONNECT, seconds.
    #[arg(long, global = true, default_value_t = 120)]
    pub(crate) keep_alive: u16,
    /// Wait at most this long for CONNACK / SUBACK (e.g. 10s, 500ms).
    #[arg(long, global = true, default_value = "10s", value_parser = parse_duration)]
    pub(crate) handshake_timeout: Duration,
    /// Topic prefix; each run adds a unique level below it.
    #[arg(long, global = true, default_value = "bench")]
    pub(crate) topic_prefix: String,
    /// Broker process id: sample its CPU and RSS from /proc/<pid>.
    #[arg(long, global = true, value_name = "PID")]
    pub(crate) broker_pid: Option<u32>,
    /// Print the result as one JSON object instead of the human summary.
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Worker threads of the tool's runtime; 1 runs everything on one
    /// thread, which leaves the most CPU to the broker on a small machine.
    #[arg(long, global = true, default_value_t = 1)]
    pub(crate) threads: usize,
}

/// The scenarios.
#[derive(Debug, Subcommand)]
pub(crate) enum Scenario {
    /// Many publishers, each on its own topic, into one wildcard subscriber.
    #[command(after_help = "\
Topics: <prefix>/<run>/fanin/<i>; the subscriber takes <prefix>/<run>/fanin/+.
Examples:
  agora-bench fan-in --publishers 100
  agora-bench fan-in --qos 1 --rate 20000")]
    FanIn(FanInArgs),
    /// One publisher (or a few) on one topic, many subscribers to it.
    #[command(after_help = "\
Throughput counts deliveries: --rate 1000 with 100 subscribers delivers 100,000 msg/s.
Examples:
  agora-bench fan-out --subscribers 100
  agora-bench fan-out --subscribers 1000 --rate 200 --qos 1")]
    FanOut(FanOutArgs),
    /// Independent streams: publisher i to subscriber i, each on its own topic.
    #[command(after_help = "\
Examples:
  agora-bench pairs --pairs 100 --rate 20000      # the p99-at-20k-msg/s scenario
  agora-bench pairs --pairs 10 --qos 2")]
    Pairs(PairsArgs),
    /// Connection storm: CONNECT/CONNACK/DISCONNECT as fast as the broker allows.
    #[command(after_help = "\
Pass -u/-P to include password checking in the cost.
Examples:
  agora-bench storm --connections 5000 --concurrency 50
  agora-bench storm -u bench -P secret -V 5")]
    Storm(StormArgs),
    /// Idle connections: broker memory per open, silent connection (needs --broker-pid).
    #[command(after_help = "\
Keep --connections under the open-file limit (ulimit -n) of both the tool and the broker.
Examples:
  agora-bench idle --connections 10000 --broker-pid \"$(pidof mosquitto)\"
  agora-bench idle --connections 5000 --subscribe --broker-pid 1234")]
    Idle(IdleArgs),
    /// A subscriber that never reads while publishers go flat out: does broker memory stay bounded?
    #[command(after_help = "\
A second, healthy subscriber on the same filter shows whether it still gets its messages.
Examples:
  agora-bench stall --broker-pid \"$(pidof mosquitto)\" --duration 20s
  agora-bench stall --qos 1 --size 1024 --broker-pid 1234")]
    Stall(StallArgs),
}

/// How messages flow: shared by the message scenarios.
#[derive(Debug, Args)]
pub(crate) struct FlowArgs {
    /// Total publish rate in msg/s over all publishers; omit for max rate.
    #[arg(long, short, value_name = "MSG/S")]
    pub(crate) rate: Option<f64>,
    /// Payload bytes (at least 24, the stamp).
    #[arg(long, short, default_value_t = 64)]
    pub(crate) size: usize,
    /// Measured window (e.g. 10s, 1m).
    #[arg(long, short, default_value = "10s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// Unmeasured traffic before the window.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) warmup: Duration,
    /// Unacknowledged QoS 1/2 publishes per publisher (capped by the broker's Receive Maximum).
    #[arg(long, default_value_t = 100)]
    pub(crate) inflight: u16,
    /// After the window, a subscriber hearing nothing for this long stops waiting.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) drain_idle: Duration,
    /// Connections opened at once during setup.
    #[arg(long, default_value_t = 50)]
    pub(crate) connect_concurrency: usize,
    /// Messages a subscriber may fall behind its publishers (all together) before they
    /// wait for it; 0 = never wait (open loop: backlog piles up in socket buffers).
    #[arg(long, default_value_t = 500)]
    pub(crate) max_lag: u64,
}

/// `fan-in` flags.
#[derive(Debug, Args)]
pub(crate) struct FanInArgs {
    /// Publishing connections.
    #[arg(long, default_value_t = 100)]
    pub(crate) publishers: usize,
    /// Wildcard subscribers (each receives everything).
    #[arg(long, default_value_t = 1)]
    pub(crate) subscribers: usize,
    /// Traffic flags.
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
}

/// `fan-out` flags.
#[derive(Debug, Args)]
pub(crate) struct FanOutArgs {
    /// Subscribing connections.
    #[arg(long, default_value_t = 100)]
    pub(crate) subscribers: usize,
    /// Publishing connections, all on the one topic.
    #[arg(long, default_value_t = 1)]
    pub(crate) publishers: usize,
    /// Traffic flags.
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
}

/// `pairs` flags.
#[derive(Debug, Args)]
pub(crate) struct PairsArgs {
    /// Publisher/subscriber pairs.
    #[arg(long, default_value_t = 100)]
    pub(crate) pairs: usize,
    /// Traffic flags.
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
}

/// `storm` flags.
#[derive(Debug, Args)]
pub(crate) struct StormArgs {
    /// Handshakes in total.
    #[arg(long, short, default_value_t = 2000)]
    pub(crate) connections: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 50)]
    pub(crate) concurrency: usize,
    /// Start no new handshake after this long, even if fewer than --connections were made
    /// (password hashing can make a handshake take milliseconds).
    #[arg(long, short, default_value = "30s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
}

/// `idle` flags.
#[derive(Debug, Args)]
pub(crate) struct IdleArgs {
    /// Connections to open and hold.
    #[arg(long, short, default_value_t = 10_000)]
    pub(crate) connections: usize,
    /// Connections opened at once.
    #[arg(long, default_value_t = 100)]
    pub(crate) concurrency: usize,
    /// Subscribe each connection to a topic of its own.
    #[arg(long)]
    pub(crate) subscribe: bool,
    /// Wait before each memory reading.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) settle: Duration,
}

/// `stall` flags.
#[derive(Debug, Args)]
pub(crate) struct StallArgs {
    /// Publishing connections.
    #[arg(long, default_value_t = 4)]
    pub(crate) publishers: usize,
    /// Traffic flags.
    #[command(flatten)]
    pub(crate) flow: FlowArgs,
}

/// Parses `10`, `10s`, `500ms`, `2m`, `1.5s` into a duration (a bare number is seconds).
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = match s.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a duration; use e.g. 10s, 500ms, 2m"))?;
    let secs = match unit {
        "ms" => n / 1_000.0,
        "s" => n,
        "m" => n * 60.0,
        _ => return Err(format!("`{s}`: unknown unit `{unit}`; use ms, s or m")),
    };
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{s}` must be a non-negative duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_accept_the_usual_units() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5h").is_err());
    }

    #[test]
    fn global_flags_may_follow_the_scenario() {
        let cli = Cli::try_parse_from([
            "agora-bench",
            "fan-in",
            "--qos",
            "1",
            "-V",
            "5",
            "--rate",
            "20000",
        ])
        .expect("parses");
        assert_eq!(cli.common.qos, 1);
        assert_eq!(cli.common.mqtt_version, Version::V5);
        let Scenario::FanIn(a) = cli.scenario else {
            panic!("fan-in expected")
        };
        assert_eq!(a.flow.rate, Some(20_000.0));
    }

    #[test]
    fn qos_three_is_rejected() {
        assert!(Cli::try_parse_from(["agora-bench", "pairs", "--qos", "3"]).is_err());
    }
}
