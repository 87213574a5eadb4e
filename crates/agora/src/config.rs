//! `agora.toml`: one typed configuration, layered and validated before anything binds.
//!
//! Layers, later wins: defaults in code → the TOML file (`--config`) →
//! environment variables `AGORA_<SECTION>_<KEY>` → command-line flags. Every
//! layer is merged as a TOML table and deserialised once into [`Config`] with
//! `deny_unknown_fields`, so a misspelt key in any layer is an error that names
//! it, and every value then goes through [`Config::validate`], whose errors name
//! the key, the value and what is allowed. Secrets never reach `Display`
//! output: `--print-config` redacts them.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

/// The whole configuration, as written in `agora.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct Config {
    /// Where data lives and which sockets to open.
    pub(crate) server: ServerSection,
    /// TLS certificate for MQTT over TLS (self-signed when unset).
    pub(crate) tls: TlsSection,
    /// Broker limits (SPEC §9).
    pub(crate) broker: BrokerSection,
    /// Who may connect when the broker runs without the market (`auth.mode = "static"`).
    pub(crate) auth: AuthSection,
    /// The market database.
    pub(crate) database: DatabaseSection,
    /// Rules for device JWTs (SPEC §3).
    pub(crate) jwt: JwtSection,
    /// Market policy.
    pub(crate) market: MarketSection,
    /// Logging.
    pub(crate) log: LogSection,
}

/// `[server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct ServerSection {
    /// Data folder: database, TLS material, broker state.
    pub(crate) data_dir: PathBuf,
    /// Host for listeners given as a bare port.
    pub(crate) bind: String,
    /// MQTT over TCP: `HOST:PORT`, `PORT`, or `off`.
    pub(crate) mqtt: String,
    /// MQTT over TLS: `HOST:PORT`, `PORT`, or `off`.
    pub(crate) mqtts: String,
    /// HTTP (web UI, REST API, MQTT over WebSocket at `/mqtt`): `HOST:PORT`, `PORT`, or `off`.
    pub(crate) http: String,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            data_dir: PathBuf::from("agora-data"),
            bind: "127.0.0.1".into(),
            mqtt: "1883".into(),
            mqtts: "8883".into(),
            http: "8080".into(),
        }
    }
}

/// `[tls]`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct TlsSection {
    /// PEM certificate chain; unset = a self-signed certificate in `<data_dir>/tls/`.
    pub(crate) cert: Option<PathBuf>,
    /// PEM private key matching `cert`.
    pub(crate) key: Option<PathBuf>,
}

/// `[broker]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct BrokerSection {
    /// Largest packet accepted or sent, in bytes.
    pub(crate) max_packet_size: u32,
    /// How long a new connection has to send CONNECT.
    pub(crate) connect_timeout: HumanDuration,
    /// Messages kept per session while its client is slow or offline.
    pub(crate) max_queued_messages: usize,
    /// Unacknowledged QoS 1/2 messages in flight per session.
    pub(crate) max_inflight: u16,
    /// Subscriptions per client.
    pub(crate) max_subscriptions: usize,
    /// Topic length in bytes.
    pub(crate) max_topic_length: usize,
    /// Topic levels.
    pub(crate) max_topic_levels: usize,
    /// Simultaneous connections.
    pub(crate) max_connections: usize,
    /// What happens to an unauthorised PUBLISH: `drop` (MQTT 5 acks carry 0x87) or `disconnect`.
    pub(crate) deny_publish: DenyPublish,
    /// How often `$SYS/broker/...` is published.
    pub(crate) sys_interval: HumanDuration,
    /// Keep retained messages and persistent sessions in `<data_dir>/broker.redb`.
    pub(crate) persistence: bool,
}

impl Default for BrokerSection {
    fn default() -> Self {
        BrokerSection {
            max_packet_size: 256 * 1024,
            connect_timeout: HumanDuration(std::time::Duration::from_secs(10)),
            max_queued_messages: 1000,
            max_inflight: 65_535,
            max_subscriptions: 100,
            max_topic_length: 512,
            max_topic_levels: 16,
            max_connections: 100_000,
            deny_publish: DenyPublish::Drop,
            sys_interval: HumanDuration(std::time::Duration::from_secs(10)),
            persistence: true,
        }
    }
}

/// `broker.deny_publish`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DenyPublish {
    /// Drop the message (MQTT 5 QoS ≥ 1: acknowledge with 0x87).
    Drop,
    /// Close the connection.
    Disconnect,
}

/// `[auth]`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct AuthSection {
    /// `market` (default): the marketplace's rules; `static`: users and topic patterns from this file (a plain broker).
    pub(crate) mode: AuthMode,
    /// Accept clients without a username (static mode only; off unless set explicitly).
    pub(crate) allow_anonymous: bool,
    /// Topic patterns for anonymous clients.
    pub(crate) anonymous_acl: Vec<AclEntry>,
    /// Users of the static mode.
    pub(crate) users: Vec<UserEntry>,
}

/// `auth.mode`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AuthMode {
    /// The marketplace decides: devices, buyers' access keys, purchases (SPEC §3, §4).
    #[default]
    Market,
    /// Users and patterns from `[auth]`: a plain broker, no market.
    Static,
}

/// One `[[auth.users]]` entry.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserEntry {
    /// MQTT username.
    pub(crate) username: String,
    /// argon2id PHC string (`agora hash-password` prints one).
    pub(crate) password_hash: String,
    /// May do everything, including reading `$SYS/#`.
    #[serde(default)]
    pub(crate) superuser: bool,
    /// Topic patterns this user may use.
    #[serde(default)]
    pub(crate) acl: Vec<AclEntry>,
}

/// One topic pattern: `%u` is the username, `%c` the client id.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AclEntry {
    /// MQTT topic filter.
    pub(crate) pattern: String,
    /// `read`, `write` or `readwrite`.
    pub(crate) access: AclAccess,
}

/// `access` of an ACL entry.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AclAccess {
    /// Subscribe and receive.
    Read,
    /// Publish.
    Write,
    /// Both.
    Readwrite,
}

/// `[database]`.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct DatabaseSection {
    /// `sqlite://…` or `postgres://…`; unset = `<data_dir>/agora.db`.
    pub(crate) url: Option<String>,
}

/// `[jwt]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct JwtSection {
    /// How far in the future `iat` may be.
    pub(crate) clock_skew: HumanDuration,
    /// Longest allowed `exp - iat`.
    pub(crate) max_lifetime: HumanDuration,
    /// `iss` must equal the device's MQTT username.
    pub(crate) require_iss: bool,
    /// Close a device's session when its token expires.
    pub(crate) disconnect_on_expiry: bool,
}

impl Default for JwtSection {
    fn default() -> Self {
        JwtSection {
            clock_skew: HumanDuration(std::time::Duration::from_secs(60)),
            max_lifetime: HumanDuration(std::time::Duration::from_secs(24 * 3600)),
            require_iss: false,
            disconnect_on_expiry: true,
        }
    }
}

/// `[market]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct MarketSection {
    /// Anyone may create an account.
    pub(crate) open_signup: bool,
    /// Take the client address from `X-Forwarded-For` (only behind a trusted reverse proxy).
    pub(crate) trust_proxy_headers: bool,
    /// How long one day of a `period` plan lasts (a demo and testing knob; 1s to 1d).
    pub(crate) period_day: HumanDuration,
}

impl Default for MarketSection {
    fn default() -> Self {
        MarketSection {
            open_signup: true,
            trust_proxy_headers: false,
            period_day: HumanDuration(std::time::Duration::from_secs(86_400)),
        }
    }
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct LogSection {
    /// A `tracing` filter: `info`, `debug`, `agora_broker=trace,info`, …
    pub(crate) level: String,
    /// `text` or `json`.
    pub(crate) format: LogFormat,
}

impl Default for LogSection {
    fn default() -> Self {
        LogSection {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// `log.format`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where a listener goes, once validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Listen {
    /// Not opened.
    Off,
    /// Opened on this address (port 0 = any free port).
    On(SocketAddr),
}

impl Config {
    /// Builds the configuration from its layers: defaults, `file` (if any),
    /// the `AGORA_*` variables in `env`, then `overrides` (flags, as dotted keys).
    pub(crate) fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
        overrides: &[(&str, String)],
    ) -> anyhow::Result<Config> {
        let mut table = toml::Table::try_from(Config::default())
            .context("internal error: default configuration does not serialise")?;
        let types = table.clone();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read config file {}", path.display()))?;
            let from_file: toml::Table = text
                .parse()
                .with_context(|| format!("config file {} is not valid TOML", path.display()))?;
            merge(&mut table, from_file);
        }
        for (name, value) in env {
            let Some(rest) = name.strip_prefix("AGORA_") else {
                continue;
            };
            let Some((section, key)) = rest.split_once('_') else {
                bail!("environment variable {name}: expected AGORA_<SECTION>_<KEY>");
            };
            let (section, key) = (section.to_ascii_lowercase(), key.to_ascii_lowercase());
            set_key(&mut table, &types, &section, &key, &value)
                .with_context(|| format!("environment variable {name}"))?;
        }
        for (dotted, value) in overrides {
            let (section, key) = dotted
                .split_once('.')
                .context("internal error: override key without a section")?;
            set_key(&mut table, &types, section, key, value)?;
        }
        let config: Config = table.try_into().map_err(|e: toml::de::Error| {
            anyhow::anyhow!("invalid configuration: {}", e.message().trim())
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks every value against what is allowed; the error names the key.
    pub(crate) fn validate(&self) -> anyhow::Result<()> {
        self.bind_ip()?;
        self.listen("mqtt")?;
        self.listen("mqtts")?;
        self.listen("http")?;
        let b = &self.broker;
        range(
            "broker.max_packet_size",
            b.max_packet_size as u64,
            64,
            268_435_455,
        )?;
        range(
            "broker.max_queued_messages",
            b.max_queued_messages as u64,
            1,
            10_000_000,
        )?;
        range("broker.max_inflight", b.max_inflight as u64, 1, 65_535)?;
        range(
            "broker.max_subscriptions",
            b.max_subscriptions as u64,
            1,
            1_000_000,
        )?;
        range(
            "broker.max_topic_length",
            b.max_topic_length as u64,
            1,
            65_535,
        )?;
        range(
            "broker.max_topic_levels",
            b.max_topic_levels as u64,
            1,
            1_000,
        )?;
        range(
            "broker.max_connections",
            b.max_connections as u64,
            1,
            10_000_000,
        )?;
        if b.connect_timeout.0.is_zero() {
            bail!(
                "config error: broker.connect_timeout = {}: must be more than 0",
                b.connect_timeout
            );
        }
        if b.sys_interval.0.as_secs() < 1 {
            bail!(
                "config error: broker.sys_interval = {}: must be at least 1s",
                b.sys_interval
            );
        }
        let day = self.market.period_day.0;
        if day.subsec_nanos() != 0 || day.as_secs() < 1 || day.as_secs() > 86_400 {
            bail!(
                "config error: market.period_day = {}: must be whole seconds between 1s and 1d",
                self.market.period_day
            );
        }
        if self.jwt.max_lifetime.0.is_zero() {
            bail!(
                "config error: jwt.max_lifetime = {}: must be more than 0",
                self.jwt.max_lifetime
            );
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            bail!(
                "config error: tls.cert and tls.key must be set together (or neither, for a self-signed certificate)"
            );
        }
        if let Some(url) = &self.database.url
            && !(url.starts_with("sqlite:")
                || url.starts_with("postgres://")
                || url.starts_with("postgresql://"))
        {
            bail!(
                "config error: database.url = {:?}: must start with sqlite: or postgres://",
                redact_url(url)
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|e| {
            anyhow::anyhow!(
                "config error: log.level = {:?}: {e} (try info, debug or agora_broker=debug,info)",
                self.log.level
            )
        })?;
        for (i, u) in self.auth.users.iter().enumerate() {
            if u.username.is_empty() {
                bail!("config error: auth.users[{i}].username is empty");
            }
            if !u.password_hash.starts_with("$argon2") {
                bail!(
                    "config error: auth.users[{i}].password_hash for {:?} is not an argon2 PHC string; make one with `agora hash-password`",
                    u.username
                );
            }
        }
        Ok(())
    }

    /// The address for listener `name` (`mqtt`, `mqtts` or `http`).
    pub(crate) fn listen(&self, name: &str) -> anyhow::Result<Listen> {
        let raw = match name {
            "mqtt" => &self.server.mqtt,
            "mqtts" => &self.server.mqtts,
            "http" => &self.server.http,
            _ => bail!("internal error: no listener {name}"),
        };
        let key = format!("server.{name}");
        parse_listen(raw, self.bind_ip()?).map_err(|why| {
            anyhow::anyhow!("config error: {key} = {raw:?}: {why}; expected HOST:PORT, PORT or off")
        })
    }

    /// `server.bind` as an address.
    pub(crate) fn bind_ip(&self) -> anyhow::Result<IpAddr> {
        let b = &self.server.bind;
        if b == "localhost" {
            return Ok(IpAddr::from([127, 0, 0, 1]));
        }
        IpAddr::from_str(b).map_err(|_| {
            anyhow::anyhow!(
                "config error: server.bind = {b:?}: not an IP address (e.g. 127.0.0.1, 0.0.0.0, ::)"
            )
        })
    }

    /// The configuration as TOML with secrets redacted, for `--print-config`.
    pub(crate) fn to_redacted_toml(&self) -> anyhow::Result<String> {
        let mut c = self.clone();
        for u in &mut c.auth.users {
            u.password_hash = "<redacted>".into();
        }
        if let Some(url) = &c.database.url {
            c.database.url = Some(redact_url(url));
        }
        toml::to_string_pretty(&c).context("cannot print configuration")
    }
}

fn parse_listen(raw: &str, bind: IpAddr) -> Result<Listen, &'static str> {
    let raw = raw.trim();
    if raw.eq_ignore_ascii_case("off") {
        return Ok(Listen::Off);
    }
    if let Ok(port) = raw.parse::<u16>() {
        return Ok(Listen::On(SocketAddr::new(bind, port)));
    }
    if let Ok(addr) = raw.parse::<SocketAddr>() {
        return Ok(Listen::On(addr));
    }
    if let Some(port) = raw.strip_prefix("localhost:") {
        let port = port.parse::<u16>().map_err(|_| "bad port")?;
        return Ok(Listen::On(SocketAddr::from(([127, 0, 0, 1], port))));
    }
    Err("not an address")
}

fn range(key: &str, v: u64, lo: u64, hi: u64) -> anyhow::Result<()> {
    if v < lo || v > hi {
        bail!("config error: {key} = {v}: must be between {lo} and {hi}");
    }
    Ok(())
}

/// Hides the password in `scheme://user:password@host/...`.
fn redact_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://")
        && let Some((creds, host)) = rest.split_once('@')
        && let Some((user, _)) = creds.split_once(':')
    {
        return format!("{scheme}://{user}:<redacted>@{host}");
    }
    url.to_owned()
}

/// Deep-merges `from` into `into` (tables merge, everything else replaces).
fn merge(into: &mut toml::Table, from: toml::Table) {
    for (k, v) in from {
        match (into.get_mut(&k), v) {
            (Some(toml::Value::Table(a)), toml::Value::Table(b)) => merge(a, b),
            (_, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// Sets `section.key` from a string, typed like the default value at that key.
fn set_key(
    table: &mut toml::Table,
    types: &toml::Table,
    section: &str,
    key: &str,
    raw: &str,
) -> anyhow::Result<()> {
    let known = types.get(section).and_then(|s| s.as_table());
    let Some(known) = known else {
        bail!(
            "unknown configuration section {section:?}; sections are {}",
            types.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    let value = match known.get(key) {
        Some(toml::Value::Integer(_)) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| {
                anyhow::anyhow!("config error: {section}.{key} = {raw:?}: must be a whole number")
            })?)
        }
        Some(toml::Value::Boolean(_)) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => bail!("config error: {section}.{key} = {raw:?}: must be true or false"),
        }),
        Some(toml::Value::Array(_)) | Some(toml::Value::Table(_)) => {
            bail!("config error: {section}.{key} can only be set in the config file")
        }
        // Strings, and optional keys absent from the defaults (tls.cert, database.url).
        _ => toml::Value::String(raw.to_owned()),
    };
    let entry = table
        .entry(section.to_owned())
        .or_insert_with(|| toml::Value::Table(toml::Table::new()));
    let toml::Value::Table(t) = entry else {
        bail!("config error: {section} must be a table");
    };
    t.insert(key.to_owned(), value);
    Ok(())
}

/// Collects the `AGORA_*` variables of this process, sorted for determinism.
pub(crate) fn agora_env() -> Vec<(String, String)> {
    let map: BTreeMap<String, String> = std::env::vars()
        .filter(|(k, _)| k.starts_with("AGORA_"))
        .collect();
    map.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(toml: &str, env: &[(&str, &str)], flags: &[(&str, &str)]) -> anyhow::Result<Config> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("agora.toml");
        std::fs::write(&path, toml)?;
        let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string()));
        let flags: Vec<(&str, String)> = flags.iter().map(|(k, v)| (*k, v.to_string())).collect();
        Config::load(Some(&path), env, &flags)
    }

    #[test]
    fn defaults_match_the_spec() {
        let c = load("", &[], &[]).unwrap();
        assert_eq!(
            c.listen("mqtt").unwrap(),
            Listen::On("127.0.0.1:1883".parse().unwrap())
        );
        assert_eq!(
            c.listen("mqtts").unwrap(),
            Listen::On("127.0.0.1:8883".parse().unwrap())
        );
        assert_eq!(
            c.listen("http").unwrap(),
            Listen::On("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(c.broker.max_packet_size, 262_144);
        assert_eq!(c.broker.max_queued_messages, 1000);
        assert_eq!(c.broker.max_subscriptions, 100);
        assert!(!c.auth.allow_anonymous);
    }

    #[test]
    fn layers_apply_in_order_file_env_flags() {
        let c = load(
            "[broker]\nmax_subscriptions = 5\nmax_inflight = 10\n[server]\nbind = \"0.0.0.0\"\n",
            &[
                ("AGORA_BROKER_MAX_INFLIGHT", "20"),
                ("AGORA_BROKER_MAX_QUEUED_MESSAGES", "7"),
            ],
            &[("broker.max_queued_messages", "9"), ("server.mqtt", "off")],
        )
        .unwrap();
        assert_eq!(c.broker.max_subscriptions, 5);
        assert_eq!(c.broker.max_inflight, 20);
        assert_eq!(c.broker.max_queued_messages, 9);
        assert_eq!(c.listen("mqtt").unwrap(), Listen::Off);
        assert_eq!(
            c.listen("http").unwrap(),
            Listen::On("0.0.0.0:8080".parse().unwrap())
        );
    }

    #[test]
    fn unknown_key_in_file_is_named() {
        let err = load("[broker]\nmax_packet_sise = 5\n", &[], &[]).unwrap_err();
        assert!(format!("{err:#}").contains("max_packet_sise"), "{err:#}");
    }

    #[test]
    fn unknown_env_section_is_named() {
        let err = load("", &[("AGORA_BROKR_MAX_INFLIGHT", "1")], &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("AGORA_BROKR_MAX_INFLIGHT"),
            "{err:#}"
        );
    }

    #[test]
    fn bad_values_name_key_value_and_range() {
        let err = load("[broker]\nmax_packet_size = 1\n", &[], &[]).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("broker.max_packet_size = 1") && msg.contains("between"),
            "{msg}"
        );

        let err = load("", &[("AGORA_BROKER_MAX_INFLIGHT", "lots")], &[]).unwrap_err();
        assert!(format!("{err:#}").contains("whole number"), "{err:#}");

        let err = load("[server]\nmqtt = \"nowhere\"\n", &[], &[]).unwrap_err();
        assert!(
            format!("{err:#}").contains("server.mqtt = \"nowhere\""),
            "{err:#}"
        );

        let err = load("[broker]\nconnect_timeout = \"soon\"\n", &[], &[]).unwrap_err();
        assert!(format!("{err:#}").contains("soon"), "{err:#}");
    }

    #[test]
    fn print_config_redacts_secrets() {
        let c = load(
            "[database]\nurl = \"postgres://agora:hunter2@db/agora\"\n[[auth.users]]\nusername = \"u\"\npassword_hash = \"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaA\"\n",
            &[],
            &[],
        )
        .unwrap();
        let out = c.to_redacted_toml().unwrap();
        assert!(!out.contains("hunter2") && !out.contains("aGFzaA"), "{out}");
        assert!(
            out.contains("postgres://agora:<redacted>@db/agora"),
            "{out}"
        );
    }

    #[test]
    fn the_example_configuration_loads_and_matches_the_defaults() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../agora.example.toml");
        let loaded =
            Config::load(Some(&path), Vec::new(), &[]).expect("agora.example.toml is valid");
        let defaults = Config::load(None, Vec::new(), &[]).expect("defaults are valid");
        assert_eq!(
            loaded.auth.mode, defaults.auth.mode,
            "the example shows the default mode"
        );
        assert_eq!(
            loaded.broker.max_packet_size,
            defaults.broker.max_packet_size
        );
        assert_eq!(loaded.server.mqtt, defaults.server.mqtt);
    }
}
