//! The command line: every command, its flags and examples in its `--help`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::duration::HumanDuration;

/// Agora: a real-time IoT data marketplace with its own MQTT broker.
///
/// Sellers register devices and list data products (MQTT topics); buyers purchase
/// them and subscribe with credentials Agora issues; the broker enforces every sale.
#[derive(Debug, Parser)]
#[command(
    name = "agora",
    version,
    propagate_version = true,
    arg_required_else_help = true
)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The `agora` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the broker, the REST API and the web UI in one process.
    #[command(after_help = "\
Examples:
  agora serve                          # MQTT on 127.0.0.1:1883, TLS on 8883, HTTP on 8080
  agora serve --config agora.toml      # settings from a file (see agora.example.toml)
  agora serve --mqtt 0 --mqtts off --http 0
                                       # any free ports, no TLS; prints `listening …` lines
  agora serve --bind 0.0.0.0           # reachable from other machines
  agora serve --print-config           # show the effective configuration and exit

Every config key can also be set as AGORA_<SECTION>_<KEY>, e.g. AGORA_BROKER_MAX_INFLIGHT=100.")]
    Serve(ServeArgs),

    /// Generate an RSA key pair for a key-based device.
    #[command(after_help = "\
Writes the private key (PKCS#8 PEM, mode 0600) and prints the public key to register
with the device. The private key never needs to leave the device.

Examples:
  agora keygen --out device.pem
  agora keygen --out device.pem --bits 4096")]
    Keygen(KeygenArgs),

    /// Print an RS256 JWT, signed with a device key, to use as its MQTT password.
    #[command(after_help = "\
Examples:
  agora token --key device.pem                       # valid for 1 hour
  agora token --key device.pem --iss 'alice$home$pi' --ttl 10m
  mosquitto_pub -u 'alice$home$pi' -P \"$(agora token --key device.pem)\" -t alice/home/temp -m 21.5")]
    Token(TokenArgs),

    /// Print an argon2id hash of a password, for `[[auth.users]]` in agora.toml.
    #[command(after_help = "\
Examples:
  agora hash-password                  # asks for nothing: reads the password from stdin
  echo -n 's3cret-passw0rd' | agora hash-password")]
    HashPassword,

    /// Publish one message (a device's reading, or a buyer's command).
    #[command(after_help = "\
Examples:
  agora pub -u 'alice$home$pi' -P \"$SECRET\" -t alice/home/temp -m 21.5
  agora pub -u 'alice$home$meter' --key device.pem -t alice/home/power -m '{\"w\": 412}'
  agora pub --cafile agora-data/tls/cert.pem -u 'alice$home$pi' -P \"$SECRET\" -t alice/home/temp -m 21.5
  sensor-read | agora pub -u 'alice$home$pi' -P \"$SECRET\" -t alice/home/temp   # message from stdin")]
    Pub(crate::client::PubArgs),

    /// Subscribe and print messages, one per line.
    #[command(after_help = "\
Examples:
  agora sub -u bob -P \"$ACCESS_KEY\" -t alice/home/temp -v
  agora sub -u bob -P \"$ACCESS_KEY\" -t 'alice/home/temp/#' -C 10
  agora sub --tls --insecure -u bob -P \"$ACCESS_KEY\" -t alice/home/temp   # testing only")]
    Sub(crate::client::SubArgs),

    /// Operator commands on the server's data folder: users, access keys, suspensions, sessions.
    #[command(after_help = "\
Examples:
  agora admin create-user root --admin
  agora admin create-access-key bob
  agora admin suspend mallory --reason 'reselling data'
  agora admin list-sessions
  agora admin kick bob laptop-1

Account commands work whether the server runs or not; a running server applies them at once.
list-sessions and kick talk to the running server (through <data_dir>/server.json).")]
    Admin(crate::admin::AdminArgs),
}

/// Flags of `agora serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Configuration file (TOML).
    #[arg(long, short, value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Data folder (database, TLS certificate, broker state). Default: ./agora-data
    #[arg(long, value_name = "DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// Address listeners bind to when given only a port. Default: 127.0.0.1
    #[arg(long, value_name = "ADDR")]
    pub(crate) bind: Option<String>,
    /// MQTT listener: HOST:PORT, PORT (0 = any free port) or off. Default: 1883
    #[arg(long, value_name = "ADDR")]
    pub(crate) mqtt: Option<String>,
    /// MQTT over TLS listener: HOST:PORT, PORT or off. Default: 8883
    #[arg(long, value_name = "ADDR")]
    pub(crate) mqtts: Option<String>,
    /// HTTP listener (API, web UI, MQTT over WebSocket at /mqtt): HOST:PORT, PORT or off. Default: 8080
    #[arg(long, value_name = "ADDR")]
    pub(crate) http: Option<String>,
    /// Seed demo accounts, devices and products, and run a simulated device.
    #[arg(long)]
    pub(crate) demo: bool,
    /// Print the effective configuration (secrets redacted) and exit.
    #[arg(long)]
    pub(crate) print_config: bool,
}

impl ServeArgs {
    /// The flags that override configuration keys, as (dotted key, value).
    pub(crate) fn overrides(&self) -> Vec<(&'static str, String)> {
        let mut o = Vec::new();
        if let Some(d) = &self.data_dir {
            o.push(("server.data_dir", d.display().to_string()));
        }
        for (key, v) in [
            ("server.bind", &self.bind),
            ("server.mqtt", &self.mqtt),
            ("server.mqtts", &self.mqtts),
            ("server.http", &self.http),
        ] {
            if let Some(v) = v {
                o.push((key, v.clone()));
            }
        }
        o
    }
}

/// Flags of `agora keygen`.
#[derive(Debug, Args)]
pub(crate) struct KeygenArgs {
    /// Where to write the private key (must not exist yet).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Key size: 2048, 3072 or 4096.
    #[arg(long, default_value_t = 2048)]
    pub(crate) bits: u32,
}

/// Flags of `agora token`.
#[derive(Debug, Args)]
pub(crate) struct TokenArgs {
    /// The device's private key (PEM), e.g. from `agora keygen`.
    #[arg(long, value_name = "FILE")]
    pub(crate) key: PathBuf,
    /// `iss` claim; Agora accepts any unless the server sets jwt.require_iss, then the device's MQTT username.
    #[arg(long, value_name = "NAME")]
    pub(crate) iss: Option<String>,
    /// Lifetime: 90s, 10m, 1h, 1d (the server's maximum is jwt.max_lifetime, 24h by default).
    #[arg(long, default_value = "1h")]
    pub(crate) ttl: HumanDuration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_become_config_overrides() {
        let cli = Cli::try_parse_from([
            "agora", "serve", "--mqtt", "0", "--http", "off", "--bind", "0.0.0.0",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("not serve")
        };
        let o = args.overrides();
        assert!(o.contains(&("server.mqtt", "0".into())));
        assert!(o.contains(&("server.http", "off".into())));
        assert!(o.contains(&("server.bind", "0.0.0.0".into())));
    }

    #[test]
    fn token_ttl_is_parsed_as_a_human_duration() {
        let cli =
            Cli::try_parse_from(["agora", "token", "--key", "k.pem", "--ttl", "10m"]).unwrap();
        let Command::Token(args) = cli.command else {
            panic!("not token")
        };
        assert_eq!(args.ttl.0.as_secs(), 600);
        assert!(
            Cli::try_parse_from(["agora", "token", "--key", "k.pem", "--ttl", "forever"]).is_err()
        );
    }
}
