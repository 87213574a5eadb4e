//! `agora serve`: opens the data folder, builds the broker and the HTTP app,
//! binds every listener, announces them, and shuts all down on SIGTERM/Ctrl-C.
//!
//! Start-up order matters for users and scripts: everything that can fail
//! because of configuration (TLS material, the database, the static users)
//! is done before any socket is bound, and the `listening <name> <addr>`
//! lines are printed to stdout only once every listener is bound, with the
//! real port, so a test can start `agora serve --mqtt 0 --http 0` and read
//! where it went.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;

use agora_access::{Access, AccessConfig};
use agora_broker::Broker;
use agora_broker::auth::Authorizer;
use agora_broker::static_auth::{
    Access as RuleAccess, AclRule, StaticAuth, StaticAuthConfig, StaticUser,
};
use anyhow::Context;
use axum::Router;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::{AclAccess, AclEntry, AuthMode, Config, Listen};

/// The market's side of a running server: what the HTTP app and the shutdown need.
struct MarketParts {
    store: agora_store::Store,
    access: Access,
    inputs: Option<agora_access::authorizer::SyncInputs>,
}

/// Runs the server until a shutdown signal arrives.
pub(crate) async fn run(config: Config, demo: bool) -> anyhow::Result<()> {
    let data_dir = config.server.data_dir.clone();
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create data folder {}", data_dir.display()))?;

    let mqtt = config.listen("mqtt")?;
    let mqtts = config.listen("mqtts")?;
    let http = config.listen("http")?;

    let tls = match mqtts {
        Listen::Off => None,
        Listen::On(addr) => Some(tls_config(&config, &data_dir, addr.ip())?),
    };

    let mut market = None;
    let mut seeded = None;
    let authorizer: Arc<dyn Authorizer> = match config.auth.mode {
        AuthMode::Static => {
            anyhow::ensure!(
                !demo,
                "--demo needs the market: remove auth.mode = \"static\" (or AGORA_AUTH_MODE) to run it"
            );
            Arc::new(static_authorizer(&config)?)
        }
        AuthMode::Market => {
            let store = open_store(&config, &data_dir).await?;
            store
                .set_period_day(config.market.period_day.0)
                .map_err(|e| anyhow::anyhow!("config error: {e}"))?;
            if demo {
                // Before the index loads and before any `listening` line: a
                // script that sees the lines finds the demo ready.
                seeded = Some(
                    crate::demo::seed(&store, &data_dir)
                        .await
                        .context("cannot create the demo data")?,
                );
            }
            let (access, inputs) = Access::load(&store, access_config(&config))
                .await
                .context("cannot load the market's entitlements")?;
            // Writes that change rights return once the broker enforces them.
            store.set_commit_hook(access.commit_hook());
            let authorizer = Arc::new(access.clone());
            market = Some(MarketParts {
                store,
                access,
                inputs: Some(inputs),
            });
            authorizer
        }
    };
    let mut broker_config = broker_config(&config);
    broker_config.persistence = config
        .broker
        .persistence
        .then(|| data_dir.join("broker.redb"));
    let broker = Broker::open(broker_config, authorizer)
        .await
        .context("cannot open the broker store <data_dir>/broker.redb")?;

    // Bind everything first, then announce: a script reading our stdout
    // can connect as soon as it sees a line.
    let mqtt = bind(mqtt, "mqtt").await?;
    let mqtts = bind(mqtts, "mqtts").await?;
    let http = bind(http, "http").await?;

    let shutdown = CancellationToken::new();
    let mut tasks = tokio::task::JoinSet::new();
    let mut lines = Vec::new();
    let mut sync_task = None;

    if let Some(m) = &mut market
        && let Some(inputs) = m.inputs.take()
    {
        let (access, store, control, stop) = (
            m.access.clone(),
            m.store.clone(),
            broker.control(),
            shutdown.clone(),
        );
        sync_task = Some(tokio::spawn(access.run_sync(store, control, inputs, stop)));
    }

    let mqtt_addr = mqtt.as_ref().map(|(_, a)| *a);
    let mqtts_addr = mqtts.as_ref().map(|(_, a)| *a);
    if let Some((listener, addr)) = mqtt {
        lines.push(format!("listening mqtt {addr}"));
        let b = broker.clone();
        tasks.spawn(async move { b.serve_tcp(listener).await });
    }
    if let (Some((listener, addr)), Some(tls)) = (mqtts, tls) {
        lines.push(format!("listening mqtts {addr}"));
        let b = broker.clone();
        tasks.spawn(async move { b.serve_tls(listener, tls).await });
    }
    let control_token = crate::admin::new_token();
    let mut http_addr = None;
    if let Some((listener, addr)) = http {
        http_addr = Some(addr);
        lines.push(format!("listening http {addr}"));
        lines.push(format!("listening ws ws://{addr}/mqtt"));
        let mqtt_ports = (mqtt_addr, mqtts_addr);
        let app = http_app(
            &broker,
            &config,
            market.as_ref(),
            &control_token,
            mqtt_ports,
        );
        let stop = shutdown.clone();
        tasks.spawn(async move {
            let served = axum::serve(
                listener,
                app.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(async move { stop.cancelled().await })
            .await;
            if let Err(e) = served {
                tracing::error!(error = %e, "HTTP server failed");
            }
        });
    }
    anyhow::ensure!(
        !lines.is_empty(),
        "every listener is off (server.mqtt, server.mqtts, server.http): nothing to serve"
    );
    crate::admin::write_server_file(&data_dir, http_addr, &control_token)?;
    announce(&lines)?;

    if let Some(seeded) = seeded {
        let endpoints = crate::demo::Endpoints {
            mqtt: mqtt_addr,
            mqtts: mqtts_addr,
            http: http_addr,
            cafile: data_dir.join("tls").join(agora_broker::tls::CERT_FILE),
        };
        let stop = shutdown.clone();
        crate::demo::print_welcome(&seeded, &endpoints);
        let b = broker.clone();
        tasks.spawn(async move { crate::demo::simulate(b, seeded, stop).await });
    }

    wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    broker.shutdown().await;
    while tasks.join_next().await.is_some() {}
    if let Some(task) = sync_task {
        // The sync task flushes the meters once more as it stops.
        let _ = task.await;
    }
    if let Some(m) = market {
        m.store.close().await;
    }
    crate::admin::remove_server_file(&data_dir);
    Ok(())
}

async fn open_store(config: &Config, data_dir: &Path) -> anyhow::Result<agora_store::Store> {
    open_store_at(data_dir, config.database.url.as_deref()).await
}

/// Opens the market database: `database.url`, or `agora.db` in the data folder.
pub(crate) async fn open_store_at(
    data_dir: &Path,
    url: Option<&str>,
) -> anyhow::Result<agora_store::Store> {
    let path = match url {
        None => data_dir.join("agora.db"),
        Some(url) if url.starts_with("sqlite:") => {
            let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
            Path::new(rest).to_owned()
        }
        Some(_) => anyhow::bail!(
            "config error: database.url: PostgreSQL is not supported by this build yet; leave database.url unset (SQLite in the data folder) or use sqlite:PATH"
        ),
    };
    agora_store::Store::open(&path)
        .await
        .with_context(|| format!("cannot open the market database {}", path.display()))
}

fn access_config(config: &Config) -> AccessConfig {
    AccessConfig {
        jwt: agora_access::JwtPolicy {
            clock_skew: config.jwt.clock_skew.0,
            max_lifetime: config.jwt.max_lifetime.0,
            require_iss: config.jwt.require_iss,
            disconnect_on_expiry: config.jwt.disconnect_on_expiry,
        },
        ..AccessConfig::default()
    }
}

/// The HTTP application: REST API, MQTT over WebSocket, health and metrics.
fn http_app(
    broker: &Broker,
    config: &Config,
    market: Option<&MarketParts>,
    control_token: &str,
    mqtt_ports: (Option<SocketAddr>, Option<SocketAddr>),
) -> Router {
    let app = Router::new()
        .merge(crate::admin::control_router(
            control_token.to_owned(),
            broker.clone(),
            market.map(|m| (m.access.clone(), m.store.clone())),
        ))
        .merge(crate::ws::router(
            broker.clone(),
            config.broker.max_packet_size as usize,
        ))
        .merge(crate::metrics::router(
            broker.clone(),
            market.map(|m| m.access.clone()),
        ));
    match market {
        Some(m) => {
            let settings = agora_web::ApiSettings {
                open_signup: config.market.open_signup,
                trust_proxy_headers: config.market.trust_proxy_headers,
                ..agora_web::ApiSettings::default()
            };
            // The API brings its own /healthz (which also checks the database).
            let ui = ui_settings(config, mqtt_ports);
            app.merge(agora_web::api_router(agora_web::ApiState::new(
                m.store.clone(),
                settings,
            )))
            // The web marketplace: `/`, `/map`, `/products/…`, `/dashboard…` (HTML).
            .merge(agora_ui::router(agora_ui::UiState::new(
                m.store.clone(),
                ui,
            )))
        }
        None => app.route("/healthz", get(|| async { "ok\n" })),
    }
}

/// What the pages show for connecting (host, the real MQTT ports) and how they set cookies.
fn ui_settings(
    config: &Config,
    (mqtt, mqtts): (Option<SocketAddr>, Option<SocketAddr>),
) -> agora_ui::UiSettings {
    let host = match mqtt.or(mqtts).map(|a| a.ip()) {
        Some(ip) if !ip.is_loopback() && !ip.is_unspecified() => ip.to_string(),
        _ => "localhost".to_owned(),
    };
    agora_ui::UiSettings {
        mqtt_host: host,
        mqtt_port: mqtt.map(|a| a.port()),
        mqtts_port: mqtts.map(|a| a.port()),
        open_signup: config.market.open_signup,
        trust_proxy_headers: config.market.trust_proxy_headers,
        ..agora_ui::UiSettings::default()
    }
}

async fn bind(listen: Listen, name: &str) -> anyhow::Result<Option<(TcpListener, SocketAddr)>> {
    let Listen::On(addr) = listen else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr).await.with_context(|| {
        format!("cannot listen for {name} on {addr} (is another server using it? set --{name} PORT, 0 for any free port, or off)")
    })?;
    let real = listener
        .local_addr()
        .with_context(|| format!("cannot read the {name} listener's address"))?;
    Ok(Some((listener, real)))
}

fn announce(lines: &[String]) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{line}").context("cannot write to stdout")?;
    }
    out.flush().context("cannot write to stdout")
}

/// TLS for the MQTT listener: the configured certificate, or a self-signed one
/// in `<data_dir>/tls/` naming every address a local client might use.
fn tls_config(
    config: &Config,
    data_dir: &Path,
    bind: IpAddr,
) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    if let (Some(cert), Some(key)) = (&config.tls.cert, &config.tls.key) {
        return agora_broker::tls::from_pem_files(cert, key)
            .with_context(|| "tls.cert / tls.key: cannot load the configured certificate");
    }
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    if let Ok(host) = hostname::get()
        && let Some(host) = host.to_str()
        && !host.is_empty()
    {
        names.push(host.to_owned());
    }
    if !bind.is_unspecified() && !bind.is_loopback() {
        names.push(bind.to_string());
    }
    let dir = data_dir.join("tls");
    agora_broker::tls::self_signed(&dir, &names).with_context(|| {
        format!(
            "cannot create or load the self-signed certificate in {}",
            dir.display()
        )
    })
}

fn static_authorizer(config: &Config) -> anyhow::Result<StaticAuth> {
    let rules = |acl: &[AclEntry]| -> Vec<AclRule> {
        acl.iter()
            .map(|a| AclRule {
                pattern: a.pattern.clone(),
                access: match a.access {
                    AclAccess::Read => RuleAccess::Read,
                    AclAccess::Write => RuleAccess::Write,
                    AclAccess::Readwrite => RuleAccess::ReadWrite,
                },
            })
            .collect()
    };
    let auth = &config.auth;
    StaticAuth::new(StaticAuthConfig {
        allow_anonymous: auth.allow_anonymous,
        anonymous_acl: rules(&auth.anonymous_acl),
        users: auth
            .users
            .iter()
            .map(|u| StaticUser {
                username: u.username.clone(),
                password_hash: u.password_hash.clone(),
                superuser: u.superuser,
                acl: rules(&u.acl),
            })
            .collect(),
    })
    .context("config error in [auth]")
}

fn broker_config(config: &Config) -> agora_broker::BrokerConfig {
    let b = &config.broker;
    agora_broker::BrokerConfig {
        max_packet_size: b.max_packet_size,
        connect_timeout: b.connect_timeout.0,
        max_queued_messages: b.max_queued_messages,
        max_inflight: b.max_inflight,
        max_subscriptions: b.max_subscriptions,
        max_topic_len: b.max_topic_length,
        max_topic_levels: b.max_topic_levels,
        max_connections: b.max_connections,
        deny_publish: match b.deny_publish {
            crate::config::DenyPublish::Drop => agora_broker::DenyPublish::Refuse,
            crate::config::DenyPublish::Disconnect => agora_broker::DenyPublish::Disconnect,
        },
        sys_interval: Some(b.sys_interval.0),
        ..agora_broker::BrokerConfig::default()
    }
}

/// Resolves on Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
