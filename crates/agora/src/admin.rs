//! `agora admin`: the operator's commands, run on the server's data folder.
//!
//! Account changes (create users and admins, access keys, suspensions) go
//! straight to the database through the same checked store methods the API
//! uses, so they work whether the server runs or not. A running server
//! learns of them at once: it leaves `<data_dir>/server.json` (mode 0600:
//! reading it is the permission) with its HTTP address and a random control
//! token, and the command asks it to reload through `POST /internal/reload`.
//! `list-sessions` and `kick` need the running server and use the same
//! channel. The control endpoints answer loopback clients holding the token
//! only.

use std::io::Read;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use agora_access::Access;
use agora_broker::Broker;
use agora_market::{AccountName, Actor, Label, Password, ProductTopic, Role};
use anyhow::{Context, bail};
use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use clap::{Args, Subcommand};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// Flags of `agora admin`.
#[derive(Debug, Args)]
pub(crate) struct AdminArgs {
    /// The server's data folder. Default: ./agora-data (or server.data_dir of --config).
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) data_dir: Option<PathBuf>,
    /// The server's configuration file, for server.data_dir and database.url.
    #[arg(long, short, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: AdminCommand,
}

/// The `agora admin` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AdminCommand {
    /// Create an account (a generated password is printed unless --password-stdin).
    #[command(after_help = "\
Examples:
  agora admin create-user carol
  agora admin create-user root --admin
  echo 'a long passphrase' | agora admin create-user dave --password-stdin")]
    CreateUser {
        /// Account name: 3–32 of a-z 0-9 _, starting with a letter.
        name: String,
        /// Make it an administrator (reads every topic and $SYS/#, suspends accounts).
        #[arg(long)]
        admin: bool,
        /// Read the password from stdin (one trailing newline is not part of it).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an MQTT access key for an account and print it (shown once).
    #[command(after_help = "\
Examples:
  agora admin create-access-key bob
  agora admin create-access-key bob --label sensor-gateway --product alice/home/temp --ttl 30d")]
    CreateAccessKey {
        /// The account.
        name: String,
        /// The key's label.
        #[arg(long, default_value = "cli")]
        label: String,
        /// Limit the key to this product topic (repeatable); default: all the account may read.
        #[arg(long = "product", value_name = "TOPIC")]
        products: Vec<String>,
        /// Lifetime (90s, 10m, 1h, 1d); default: no expiry.
        #[arg(long)]
        ttl: Option<HumanDuration>,
    },
    /// Suspend an account: its sessions and its devices' sessions are closed.
    Suspend {
        /// The account.
        name: String,
        /// Why (recorded in the audit log).
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift a suspension.
    Unsuspend {
        /// The account.
        name: String,
    },
    /// List the running server's MQTT sessions.
    ListSessions,
    /// Disconnect one MQTT session of the running server (0x98 Administrative action).
    Kick {
        /// The session's user name.
        username: String,
        /// The session's client identifier.
        client_id: String,
    },
}

/// What `agora serve` leaves in the data folder while it runs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ServerFile {
    pid: u32,
    http: Option<SocketAddr>,
    token: String,
}

const SERVER_FILE: &str = "server.json";

/// A fresh random control token (120 bits).
pub(crate) fn new_token() -> String {
    agora_market::Password::generate().expose().to_owned()
}

/// Writes `server.json` (mode 0600) with the token the control endpoints require.
pub(crate) fn write_server_file(
    data_dir: &Path,
    http: Option<SocketAddr>,
    token: &str,
) -> anyhow::Result<()> {
    let file = ServerFile {
        pid: std::process::id(),
        http,
        token: token.to_owned(),
    };
    let path = data_dir.join(SERVER_FILE);
    crate::demo::write_secret_file(&path, &serde_json::to_vec_pretty(&file)?)
}

/// Removes `server.json` at shutdown.
pub(crate) fn remove_server_file(data_dir: &Path) {
    let _ = std::fs::remove_file(data_dir.join(SERVER_FILE));
}

#[derive(Clone)]
struct ControlState {
    token: Arc<str>,
    broker: Broker,
    market: Option<(Access, agora_store::Store)>,
}

/// The `/internal/...` routes of a running server.
pub(crate) fn control_router(
    token: String,
    broker: Broker,
    market: Option<(Access, agora_store::Store)>,
) -> Router {
    Router::new()
        .route("/internal/sessions", get(sessions))
        .route("/internal/kick", post(kick))
        .route("/internal/reload", post(reload))
        .with_state(ControlState {
            token: Arc::from(token),
            broker,
            market,
        })
}

/// `None` when the caller may use the control endpoints, else the 403 to send.
fn refused(state: &ControlState, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
    use subtle::ConstantTimeEq as _;
    let presented = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let ok: bool = presented.as_bytes().ct_eq(state.token.as_bytes()).into();
    if peer.ip().is_loopback() && ok {
        return None;
    }
    let body = serde_json::json!({"error": {"code": "forbidden", "message": "the control endpoints answer `agora admin` on the server's machine only"}});
    Some((StatusCode::FORBIDDEN, axum::Json(body)).into_response())
}

#[derive(Debug, Serialize, Deserialize)]
struct SessionRow {
    username: String,
    client_id: String,
    connected: bool,
    subscriptions: usize,
}

async fn sessions(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&state, peer, &headers) {
        return r;
    }
    let rows: Vec<SessionRow> = state
        .broker
        .control()
        .list_sessions()
        .into_iter()
        .map(|s| SessionRow {
            username: s.username.to_string(),
            client_id: s.client_id.to_string(),
            connected: s.connected,
            subscriptions: s.subscriptions.len(),
        })
        .collect();
    axum::Json(rows).into_response()
}

#[derive(Debug, Serialize, Deserialize)]
struct KickRequest {
    username: String,
    client_id: String,
}

async fn kick(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    axum::Json(req): axum::Json<KickRequest>,
) -> Response {
    if let Some(r) = refused(&state, peer, &headers) {
        return r;
    }
    let kicked = state.broker.control().kick(&req.username, &req.client_id);
    axum::Json(serde_json::json!({"kicked": kicked})).into_response()
}

async fn reload(
    State(state): State<ControlState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
) -> Response {
    if let Some(r) = refused(&state, peer, &headers) {
        return r;
    }
    if let Some((access, store)) = &state.market
        && access.reload(store).await
    {
        access.enforce(&state.broker.control());
    }
    axum::Json(serde_json::json!({"reloaded": state.market.is_some()})).into_response()
}

/// Runs `agora admin`.
pub(crate) async fn run(
    args: AdminArgs,
    data_dir: PathBuf,
    database: Option<String>,
) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::ListSessions => {
            let rows: Vec<SessionRow> = serde_json::from_value(
                call_server(&data_dir, "GET", "/internal/sessions", None).await?,
            )
            .context("the server's answer is not a session list")?;
            if rows.is_empty() {
                println!("no sessions");
            }
            for r in rows {
                println!(
                    "{:<32} {:<32} {:<12} {} subscription(s)",
                    r.username,
                    r.client_id,
                    if r.connected { "connected" } else { "stored" },
                    r.subscriptions
                );
            }
            Ok(())
        }
        AdminCommand::Kick {
            username,
            client_id,
        } => {
            let body = serde_json::json!({"username": username, "client_id": client_id});
            let answer = call_server(&data_dir, "POST", "/internal/kick", Some(body)).await?;
            if answer["kicked"].as_bool() == Some(true) {
                println!("disconnected {username} / {client_id}");
                Ok(())
            } else {
                bail!(
                    "no connected session of {username} with client id {client_id} (see agora admin list-sessions)"
                )
            }
        }
        command => {
            let store = crate::serve::open_store_at(&data_dir, database.as_deref()).await?;
            let result = market_command(&store, command).await;
            store.close().await;
            result?;
            notify_server(&data_dir).await;
            Ok(())
        }
    }
}

fn account_name(name: &str) -> anyhow::Result<AccountName> {
    AccountName::parse(name).map_err(|e| anyhow::anyhow!("{name:?} is not an account name: {e}"))
}

async fn market_command(store: &agora_store::Store, command: AdminCommand) -> anyhow::Result<()> {
    match command {
        AdminCommand::CreateUser {
            name,
            admin,
            password_stdin,
        } => {
            let name = account_name(&name)?;
            let (password, generated) = if password_stdin {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("cannot read the password from stdin")?;
                let text = text.strip_suffix('\n').unwrap_or(&text);
                let text = text.strip_suffix('\r').unwrap_or(text);
                (
                    Password::new(text, &name).map_err(|e| anyhow::anyhow!("password: {e}"))?,
                    false,
                )
            } else {
                (Password::generate(), true)
            };
            let role = if admin { Role::Admin } else { Role::User };
            let account = store
                .create_account(&name, &password, role)
                .await
                .with_context(|| format!("cannot create the account {name}"))?;
            println!(
                "created {} {}",
                if admin { "admin" } else { "user" },
                account.name
            );
            if generated {
                println!("password: {}", password.expose());
            }
            Ok(())
        }
        AdminCommand::CreateAccessKey {
            name,
            label,
            products,
            ttl,
        } => {
            let name = account_name(&name)?;
            let account = store
                .account_by_name(&name)
                .await?
                .with_context(|| format!("no account {name}"))?;
            let topics = products
                .iter()
                .map(|t| {
                    ProductTopic::parse(t).map_err(|e| anyhow::anyhow!("--product {t:?}: {e}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let label =
                Label::parse("label", &label).map_err(|e| anyhow::anyhow!("--label: {e}"))?;
            let expires = ttl.map(|t| time::OffsetDateTime::now_utc() + t.0);
            let actor: Actor = account.actor();
            let (key, secret) = store
                .create_access_key(&actor, &label, &topics, expires)
                .await
                .context("cannot create the access key")?;
            println!(
                "access key {} for {} (MQTT user name {}):",
                key.id, name, name
            );
            println!("{}", secret.expose());
            Ok(())
        }
        AdminCommand::Suspend { name, reason } => {
            let name = account_name(&name)?;
            store
                .set_suspended(&Actor::operator(), &name, true, reason.as_deref())
                .await
                .with_context(|| format!("cannot suspend {name}"))?;
            println!("suspended {name}");
            Ok(())
        }
        AdminCommand::Unsuspend { name } => {
            let name = account_name(&name)?;
            store
                .set_suspended(&Actor::operator(), &name, false, None)
                .await
                .with_context(|| format!("cannot lift the suspension of {name}"))?;
            println!("restored {name}");
            Ok(())
        }
        AdminCommand::ListSessions | AdminCommand::Kick { .. } => {
            bail!("internal error: not a market command")
        }
    }
}

fn read_server_file(data_dir: &Path) -> anyhow::Result<ServerFile> {
    let path = data_dir.join(SERVER_FILE);
    let text = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "no running server found ({} is missing); start `agora serve --data-dir {}` first",
            path.display(),
            data_dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))
}

async fn call_server(
    data_dir: &Path,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
) -> anyhow::Result<serde_json::Value> {
    let server = read_server_file(data_dir)?;
    let http = server.http.context(
        "the running server has no HTTP listener (server.http = off), which `agora admin` talks to",
    )?;
    let url = format!("http://{}{path}", loopback(http));
    let client = reqwest::Client::new();
    let mut req = client
        .request(
            reqwest::Method::from_bytes(method.as_bytes()).context("method")?,
            &url,
        )
        .bearer_auth(&server.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.with_context(|| {
        format!(
            "the server (pid {}) does not answer at {url}; is it still running?",
            server.pid
        )
    })?;
    let status = resp.status();
    let json: serde_json::Value = resp
        .json()
        .await
        .context("the server's answer is not JSON")?;
    if !status.is_success() {
        bail!("the server refused: {status} {json}");
    }
    Ok(json)
}

/// The address to reach a listener from this machine (a wildcard bind is reached on loopback).
fn loopback(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        let ip = if addr.is_ipv4() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)
        };
        SocketAddr::new(ip, addr.port())
    } else {
        addr
    }
}

/// Tells a running server to reload; silent when none runs.
async fn notify_server(data_dir: &Path) {
    if !data_dir.join(SERVER_FILE).exists() {
        return;
    }
    match call_server(data_dir, "POST", "/internal/reload", None).await {
        Ok(_) => println!("the running server applied the change"),
        Err(e) => eprintln!(
            "warning: the change is saved, but the running server did not confirm it: {e:#}"
        ),
    }
}
