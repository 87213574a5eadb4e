//! `agora-bench`: the project's load tool for MQTT brokers.
//!
//! It drives any MQTT 3.1.1/5.0 broker (Agora, Mosquitto, …) with the
//! scenarios the benchmark comparison is made of — fan-in, fan-out, pairs,
//! connection storm, idle connections and a stalled subscriber — speaking
//! MQTT through Agora's own codec (`agora-mqtt`).
//!
//! - [`cli`]: flags and `--help`.
//! - [`client`]: one MQTT connection with batched reads and writes.
//! - [`flow`]: publishers, subscribers and the measured window.
//! - [`storm`], [`idle`]: the connection scenarios.
//! - [`stamp`], [`sequence`], [`histogram`]: what a payload carries and what
//!   a subscriber learns from it (latency, loss, duplicates, reordering).
//! - [`procstat`]: broker CPU and RSS from `/proc/<pid>`.
//! - [`report`]: the human summary and the JSON object.
//!
//! `bench/compare.sh` runs the same scenarios against Mosquitto and Agora
//! and writes `docs/benchmarks.md`.

mod cli;
mod client;
mod flow;
mod histogram;
mod idle;
mod procstat;
mod report;
mod sequence;
mod stamp;
mod storm;

use std::net::ToSocketAddrs;
use std::process::ExitCode;

use agora_mqtt::{Protocol, QoS};
use anyhow::{Context, Result, bail};
use clap::Parser;

use crate::cli::{Cli, CommonArgs, FlowArgs, Scenario, Version};
use crate::client::Target;
use crate::flow::{FlowSettings, Plan, Sources, SubPlan};
use crate::report::{Outcome, Report};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("agora-bench: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<()> {
    let rt = if cli.common.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.common.threads)
            .enable_all()
            .build()
    }
    .context("starting the tokio runtime")?;
    let json = cli.common.json;
    let report = rt.block_on(scenario(cli))?;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&report).context("serialising the report")?
        );
    } else {
        print!("{}", report.human());
    }
    Ok(())
}

/// A run id unique enough to keep concurrent runs (and retained leftovers)
/// apart: the process id and the time.
fn run_id() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() % 100_000_000);
    format!("ab{}x{t}", std::process::id())
}

fn target(c: &CommonArgs) -> Result<Target> {
    let addr = (c.host.as_str(), c.port)
        .to_socket_addrs()
        .with_context(|| format!("resolving {}:{}", c.host, c.port))?
        .next()
        .with_context(|| format!("{}:{} resolves to no address", c.host, c.port))?;
    Ok(Target {
        addr,
        protocol: match c.mqtt_version {
            Version::V311 => Protocol::V311,
            Version::V5 => Protocol::V5,
        },
        username: c.username.clone(),
        password: c.password.clone(),
        sub_username: c.sub_username.clone(),
        sub_password: c.sub_password.clone(),
        keep_alive: c.keep_alive,
        handshake_timeout: c.handshake_timeout,
    })
}

fn qos(c: &CommonArgs) -> QoS {
    QoS::from_u8(c.qos).unwrap_or_default()
}

fn flow_settings(c: &CommonArgs, f: &FlowArgs) -> Result<FlowSettings> {
    if let Some(r) = f.rate
        && !(r.is_finite() && r > 0.0)
    {
        bail!("--rate must be a positive number of messages per second, got {r}");
    }
    if f.duration.is_zero() {
        bail!("--duration must be longer than zero");
    }
    Ok(FlowSettings {
        qos: qos(c),
        payload_bytes: f.size.max(stamp::STAMP_LEN),
        rate: f.rate,
        warmup: f.warmup,
        duration: f.duration,
        inflight: f.inflight.max(1),
        drain_idle: f.drain_idle,
        connect_concurrency: f.connect_concurrency.max(1),
        max_lag: f.max_lag,
    })
}

fn check_count(name: &str, n: usize) -> Result<()> {
    if n == 0 {
        bail!("{name} must be at least 1");
    }
    Ok(())
}

async fn scenario(cli: Cli) -> Result<Report> {
    let c = &cli.common;
    let t = target(c)?;
    let id = run_id();
    let base = format!("{}/{id}", c.topic_prefix.trim_end_matches('/'));
    let pid = c.broker_pid;
    let (name, outcome) = match &cli.scenario {
        Scenario::FanIn(a) => {
            check_count("--publishers", a.publishers)?;
            check_count("--subscribers", a.subscribers)?;
            let plan = Plan {
                publishers: (0..a.publishers)
                    .map(|i| format!("{base}/fanin/{i}"))
                    .collect(),
                subscribers: (0..a.subscribers)
                    .map(|_| SubPlan {
                        filter: format!("{base}/fanin/+"),
                        sources: Sources::All,
                        stalled: false,
                    })
                    .collect(),
            };
            let s = flow_settings(c, &a.flow)?;
            let r = flow::run(&t, &plan, &s, &id, pid).await?;
            (
                "fan-in",
                Outcome::Flow {
                    settings: s,
                    result: r,
                },
            )
        }
        Scenario::FanOut(a) => {
            check_count("--publishers", a.publishers)?;
            check_count("--subscribers", a.subscribers)?;
            let topic = format!("{base}/fanout");
            let plan = Plan {
                publishers: vec![topic.clone(); a.publishers],
                subscribers: (0..a.subscribers)
                    .map(|_| SubPlan {
                        filter: topic.clone(),
                        sources: Sources::All,
                        stalled: false,
                    })
                    .collect(),
            };
            let s = flow_settings(c, &a.flow)?;
            let r = flow::run(&t, &plan, &s, &id, pid).await?;
            (
                "fan-out",
                Outcome::Flow {
                    settings: s,
                    result: r,
                },
            )
        }
        Scenario::Pairs(a) => {
            check_count("--pairs", a.pairs)?;
            let plan = Plan {
                publishers: (0..a.pairs).map(|i| format!("{base}/pair/{i}")).collect(),
                subscribers: (0..a.pairs)
                    .map(|i| SubPlan {
                        filter: format!("{base}/pair/{i}"),
                        sources: Sources::One(i as u32),
                        stalled: false,
                    })
                    .collect(),
            };
            let s = flow_settings(c, &a.flow)?;
            let r = flow::run(&t, &plan, &s, &id, pid).await?;
            (
                "pairs",
                Outcome::Flow {
                    settings: s,
                    result: r,
                },
            )
        }
        Scenario::Stall(a) => {
            check_count("--publishers", a.publishers)?;
            let filter = format!("{base}/stall/+");
            let plan = Plan {
                publishers: (0..a.publishers)
                    .map(|i| format!("{base}/stall/{i}"))
                    .collect(),
                subscribers: vec![
                    SubPlan {
                        filter: filter.clone(),
                        sources: Sources::All,
                        stalled: true,
                    },
                    SubPlan {
                        filter,
                        sources: Sources::All,
                        stalled: false,
                    },
                ],
            };
            let s = flow_settings(c, &a.flow)?;
            let r = flow::run(&t, &plan, &s, &id, pid).await?;
            (
                "stall",
                Outcome::Flow {
                    settings: s,
                    result: r,
                },
            )
        }
        Scenario::Storm(a) => {
            check_count("--connections", a.connections)?;
            let s = storm::StormSettings {
                connections: a.connections,
                concurrency: a.concurrency.max(1),
                max_duration: a.duration,
            };
            let r = storm::run(&t, &s, &id, pid).await?;
            (
                "storm",
                Outcome::Storm {
                    settings: s,
                    result: r,
                },
            )
        }
        Scenario::Idle(a) => {
            check_count("--connections", a.connections)?;
            let Some(pid) = pid else {
                bail!("idle measures broker memory: pass --broker-pid <PID>");
            };
            let s = idle::IdleSettings {
                connections: a.connections,
                concurrency: a.concurrency.max(1),
                subscribe: a.subscribe,
                settle: a.settle,
            };
            let r = idle::run(&t, &s, &id, &base, pid).await?;
            (
                "idle",
                Outcome::Idle {
                    settings: s,
                    result: r,
                },
            )
        }
    };
    Ok(Report::new(name, &t, c, outcome))
}
