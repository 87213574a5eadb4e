//! The `agora` binary: command line, configuration, wiring and shutdown.
//!
//! Everything Agora does runs from this one binary. `main` parses the command
//! line, hands each subcommand to its module, and prints any error as a chain
//! of causes (`{:#}`) before exiting non-zero; modules return `anyhow` errors
//! with context that tells the user what to do next.

use std::io::{IsTerminal, Read};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;

mod admin;
mod cli;
mod client;
mod config;
mod demo;
mod device_key;
mod duration;
mod metrics;
mod serve;
mod ws;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => {
            let config = config::Config::load(
                args.config.as_deref(),
                config::agora_env(),
                &args.overrides(),
            )?;
            if args.print_config {
                print!("{}", config.to_redacted_toml()?);
                return Ok(());
            }
            init_logging(&config.log)?;
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("cannot start the async runtime")?;
            runtime.block_on(serve::run(config, args.demo))
        }
        Command::Keygen(args) => {
            let key = device_key::generate(args.bits)?;
            device_key::write_private_key(&args.out, &key)?;
            eprintln!(
                "wrote private key to {} (keep it on the device); register this public key with the device:",
                args.out.display()
            );
            print!("{}", key.public_pem);
            Ok(())
        }
        Command::Token(args) => {
            let token =
                device_key::sign_token_from_file(&args.key, args.iss.as_deref(), args.ttl.0)?;
            println!("{token}");
            Ok(())
        }
        Command::Admin(args) => {
            let mut overrides = Vec::new();
            if let Some(d) = &args.data_dir {
                overrides.push(("server.data_dir", d.display().to_string()));
            }
            let config =
                config::Config::load(args.config.as_deref(), config::agora_env(), &overrides)?;
            let data_dir = config.server.data_dir.clone();
            let database = config.database.url.clone();
            client_runtime()?.block_on(admin::run(args, data_dir, database))
        }
        Command::Pub(args) => client_runtime()?.block_on(client::publish(args)),
        Command::Sub(args) => client_runtime()?.block_on(client::subscribe(args)),
        Command::HashPassword => {
            if std::io::stdin().is_terminal() {
                eprintln!("type the password, then Enter and Ctrl-D:");
            }
            let mut password = String::new();
            std::io::stdin()
                .read_to_string(&mut password)
                .context("cannot read the password from stdin")?;
            // One trailing newline is the terminal's, not the password's.
            let password = password.strip_suffix('\n').unwrap_or(&password);
            let password = password.strip_suffix('\r').unwrap_or(password);
            anyhow::ensure!(!password.is_empty(), "the password is empty");
            let hash = agora_broker::static_auth::hash_password(password)
                .map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))?;
            println!("{hash}");
            Ok(())
        }
    }
}

/// The clients need one thread: a single connection, no server work.
fn client_runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

/// Structured logs to stderr, so stdout stays for the `listening …` lines scripts read.
fn init_logging(log: &config::LogSection) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&log.level)
        .with_context(|| format!("log.level = {:?}", log.level))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match log.format {
        config::LogFormat::Text => builder.try_init(),
        config::LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|e| anyhow::anyhow!("cannot start logging: {e}"))
}
