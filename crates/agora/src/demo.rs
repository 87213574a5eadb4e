//! `agora serve --demo`: a small market with data flowing, so that a newcomer
//! sees the whole product within a minute.
//!
//! It creates (once; later starts reuse them) the seller `alice` and the buyer
//! `bob`, alice's public hub `home` with a secret-based device `pi` and a
//! key-based device `meter`, four products with locations, a purchase of
//! `alice/home/temp` by bob and an access key for him. The credentials are
//! kept in `<data_dir>/demo.json` (mode 0600) and printed at every start with
//! ready-to-paste subscriber commands.
//!
//! Two simulated devices then publish realistic JSON readings every second
//! through the broker itself, over in-process pipes that take exactly the
//! path a TCP client takes (CONNECT with the device's credential,
//! authorisation, routing): `pi` with its secret into `alice/home/temp`, and
//! `meter` with a fresh RS256 token into `alice/home/power`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use agora_broker::Broker;
use agora_broker::auth::Transport;
use agora_market::{
    AccountName, DeviceName, HubName, Label, Location, Password, Plan, Price, ProductDetails,
    ProductKind, ProductName, ProductTopic, Role, RsaPublicKey, Tag, Title,
};
use agora_mqtt::{ByteString, Packet, Properties, Protocol, Publish, QoS};
use agora_store::{NewCredential, Store};
use anyhow::Context;
use bytes::Bytes;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::client::Client;

/// Where the server listens, for the printed commands.
pub(crate) struct Endpoints {
    pub(crate) mqtt: Option<SocketAddr>,
    pub(crate) mqtts: Option<SocketAddr>,
    pub(crate) http: Option<SocketAddr>,
    pub(crate) cafile: PathBuf,
}

/// The demo's credentials, as stored in `demo.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Seeded {
    alice_password: String,
    bob_password: String,
    pi_secret: String,
    bob_access_key: String,
    meter_key: PathBuf,
}

const FILE: &str = "demo.json";

fn name<T>(
    parse: fn(&str) -> Result<T, agora_market::ValidationError>,
    s: &str,
) -> anyhow::Result<T> {
    parse(s).map_err(|e| anyhow::anyhow!("demo data: {s:?}: {e}"))
}

fn random_password() -> String {
    let mut rng = rand::rng();
    let tail: String = (0..14)
        .map(|_| char::from(b"abcdefghjkmnpqrstuvwxyz23456789"[rng.random_range(0..31)]))
        .collect();
    format!("demo-{tail}")
}

/// Creates the demo market if the data folder has none, and returns its credentials.
pub(crate) async fn seed(store: &Store, data_dir: &Path) -> anyhow::Result<Seeded> {
    let file = data_dir.join(FILE);
    let alice_name: AccountName = name(AccountName::parse, "alice")?;
    if let Some(existing) = store.account_by_name(&alice_name).await? {
        let text = std::fs::read_to_string(&file).with_context(|| {
            format!(
                "the data folder already has an account alice (id {}) but no {}; use a fresh --data-dir for the demo",
                existing.id,
                file.display()
            )
        })?;
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged; use a fresh --data-dir", file.display()));
    }
    let alice_password = random_password();
    let bob_password = random_password();
    let bob_name: AccountName = name(AccountName::parse, "bob")?;
    let alice = store
        .create_account(
            &alice_name,
            &Password::new(&alice_password, &alice_name)?,
            Role::User,
        )
        .await?
        .actor();
    let bob = store
        .create_account(
            &bob_name,
            &Password::new(&bob_password, &bob_name)?,
            Role::User,
        )
        .await?
        .actor();
    let home: HubName = name(HubName::parse, "home")?;
    store
        .create_hub(
            &alice,
            &home,
            true,
            "Alice's house near USC: weather, power and a lamp.",
        )
        .await?;
    let (_, secret) = store
        .register_device(
            &alice,
            &alice_name,
            &home,
            &name(DeviceName::parse, "pi")?,
            &NewCredential::GenerateSecret,
        )
        .await?;
    let pi_secret = secret
        .context("a secret-based device gets a secret")?
        .into_string();
    let key = crate::device_key::generate(2048)?;
    let meter_key = data_dir.join("demo-meter.pem");
    if meter_key.exists() {
        std::fs::remove_file(&meter_key)
            .with_context(|| format!("cannot replace {}", meter_key.display()))?;
    }
    crate::device_key::write_private_key(&meter_key, &key)?;
    let public = RsaPublicKey::parse(&key.public_pem)?;
    store
        .register_device(
            &alice,
            &alice_name,
            &home,
            &name(DeviceName::parse, "meter")?,
            &NewCredential::PublicKey(public),
        )
        .await?;

    let usc = Location::new(34.0224, -118.2851)?;
    // (name, title, kind, restricted, plan, location, tags, declared seconds between messages)
    type DemoProduct<'a> = (
        &'a str,
        &'a str,
        ProductKind,
        bool,
        Plan,
        Location,
        &'a [&'a str],
        u32,
    );
    let products: [DemoProduct<'_>; 4] = [
        (
            "temp",
            "Backyard temperature",
            ProductKind::Sensor,
            false,
            Plan::Free,
            usc,
            &["weather", "temperature"],
            1,
        ),
        (
            "power",
            "Household power draw",
            ProductKind::Sensor,
            false,
            Plan::period(30, Price::from_cents(499)?)?,
            Location::new(34.0230, -118.2860)?,
            &["energy"],
            1,
        ),
        (
            "air",
            "Air quality (PM2.5)",
            ProductKind::Sensor,
            true,
            Plan::messages(1000, Price::from_cents(100)?)?,
            Location::new(34.0522, -118.2437)?,
            &["air", "health"],
            10,
        ),
        (
            "lamp",
            "Porch lamp",
            ProductKind::Actuator,
            false,
            Plan::Free,
            usc,
            &["actuator"],
            60,
        ),
    ];
    for (pname, title, kind, restricted, plan, location, tags, rate) in products {
        let details = ProductDetails {
            title: Title::parse(title)?,
            description: format!("{title}, from the Agora demo. Live JSON readings."),
            kind,
            restricted,
            plan,
            location: Some(location),
            tags: tags
                .iter()
                .map(|t| Tag::parse(t))
                .collect::<Result<_, _>>()?,
            declared_rate_secs: Some(rate),
            schema: None,
            licence: "CC-BY-4.0".into(),
        }
        .validate()?;
        store
            .create_product(
                &alice,
                &alice_name,
                &home,
                &name(ProductName::parse, pname)?,
                details,
            )
            .await?;
    }
    let temp = ProductTopic::new(
        alice_name.clone(),
        home.clone(),
        name(ProductName::parse, "temp")?,
    );
    store.purchase(&bob, &temp, None).await?;
    let (_, access_key) = store
        .create_access_key(&bob, &Label::parse("name", "demo")?, &[], None)
        .await?;
    let seeded = Seeded {
        alice_password,
        bob_password,
        pi_secret,
        bob_access_key: access_key.into_string(),
        meter_key,
    };
    write_secret_file(&file, &serde_json::to_vec_pretty(&seeded)?)?;
    Ok(seeded)
}

/// Writes a file only its owner may read (mode 0600 on Unix).
pub(crate) fn write_secret_file(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    f.write_all(contents)
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Prints the credentials and commands to stdout (after the `listening` lines).
pub(crate) fn print_welcome(s: &Seeded, e: &Endpoints) {
    let mut out = String::new();
    out.push_str(
        "\nAgora demo is running: alice sells, bob buys, two devices publish every second.\n",
    );
    out.push_str(&format!(
        "  web login  alice / {}   bob / {}\n",
        s.alice_password, s.bob_password
    ));
    if let Some(h) = e.http {
        out.push_str(&format!(
            "  REST API   http://{h}/api/v1   (docs: http://{h}/api/docs)\n"
        ));
    }
    out.push_str(&format!(
        "  device     alice$home$pi, secret {}\n",
        s.pi_secret
    ));
    out.push_str(&format!(
        "  device     alice$home$meter, private key {}\n",
        s.meter_key.display()
    ));
    out.push_str(&format!("  buyer key  bob: {}\n\n", s.bob_access_key));
    if let Some(m) = e.mqtt {
        out.push_str("Watch bob's purchase (alice/home/temp) arrive:\n");
        out.push_str(&format!(
            "  mosquitto_sub -h {} -p {} -u bob -P '{}' -t alice/home/temp -v\n",
            m.ip(),
            m.port(),
            s.bob_access_key
        ));
        out.push_str(&format!(
            "  agora sub -H {} -p {} -u bob -P '{}' -t alice/home/temp -v\n",
            m.ip(),
            m.port(),
            s.bob_access_key
        ));
        out.push_str("Publish as the device yourself:\n");
        out.push_str(&format!(
            "  mosquitto_pub -h {} -p {} -u 'alice$home$pi' -P '{}' -t alice/home/temp -m '{{\"celsius\": 30}}'\n",
            m.ip(),
            m.port(),
            s.pi_secret
        ));
    }
    if let Some(t) = e.mqtts {
        out.push_str("Over TLS, trusting the self-signed certificate:\n");
        out.push_str(&format!(
            "  mosquitto_sub -h localhost -p {} --cafile {} -u bob -P '{}' -t alice/home/temp -v\n",
            t.port(),
            e.cafile.display(),
            s.bob_access_key
        ));
    }
    print!("{out}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
}

/// Runs both simulated devices until `stop`.
pub(crate) async fn simulate(broker: Broker, s: Seeded, stop: CancellationToken) {
    let pi = device_loop(
        broker.clone(),
        "alice$home$pi",
        Credential::Secret(s.pi_secret.clone()),
        "alice/home/temp",
        stop.clone(),
    );
    let meter = device_loop(
        broker,
        "alice$home$meter",
        Credential::Key(s.meter_key.clone()),
        "alice/home/power",
        stop,
    );
    tokio::join!(pi, meter);
}

enum Credential {
    Secret(String),
    Key(PathBuf),
}

async fn device_loop(
    broker: Broker,
    username: &'static str,
    cred: Credential,
    topic: &'static str,
    stop: CancellationToken,
) {
    let mut seq: u64 = 0;
    while !stop.is_cancelled() {
        match run_device(&broker, username, &cred, topic, &stop, &mut seq).await {
            Ok(()) => break,
            Err(e) => {
                // A token expires, a credential is rotated in the UI: say so and reconnect.
                tracing::info!(device = username, error = %format!("{e:#}"), "simulated device disconnected; reconnecting");
                tokio::select! {
                    () = stop.cancelled() => break,
                    () = tokio::time::sleep(Duration::from_secs(2)) => {}
                }
            }
        }
    }
}

async fn run_device(
    broker: &Broker,
    username: &str,
    cred: &Credential,
    topic: &str,
    stop: &CancellationToken,
    seq: &mut u64,
) -> anyhow::Result<()> {
    let password = match cred {
        Credential::Secret(s) => s.clone(),
        Credential::Key(path) => crate::device_key::sign_token_from_file(
            path,
            Some(username),
            Duration::from_secs(3600),
        )?,
    };
    let (client_end, broker_end) = tokio::io::duplex(64 * 1024);
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    let b = broker.clone();
    tokio::spawn(async move { b.serve_connection(broker_end, peer, Transport::Tcp).await });
    let mut client = Client::handshake(
        Box::new(client_end),
        Protocol::V5,
        &format!("demo-{}", username.replace('$', "-")),
        Some(username.to_owned()),
        Some(Bytes::from(password)),
        0,
    )
    .await?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let started = std::time::Instant::now();
    loop {
        tokio::select! {
            () = stop.cancelled() => {
                let _ = client.disconnect().await;
                return Ok(());
            }
            packet = client.read() => {
                if let Packet::Disconnect(d) = packet? {
                    anyhow::bail!("the broker closed the session: 0x{:02X} {:?}", d.reason.as_u8(), d.properties.reason_string);
                }
            }
            _ = tick.tick() => {
                *seq += 1;
                let t = started.elapsed().as_secs_f64();
                let payload = reading(topic, *seq, t);
                client
                    .send(&Packet::Publish(Publish {
                        dup: false,
                        qos: QoS::AtMostOnce,
                        retain: true,
                        topic: ByteString::from(topic.to_owned()),
                        packet_id: None,
                        properties: Properties::default(),
                        payload: Bytes::from(payload),
                    }))
                    .await?;
            }
        }
    }
}

/// A plausible reading: a slow daily-like wave plus noise.
fn reading(topic: &str, seq: u64, t: f64) -> String {
    let noise: f64 = rand::rng().random_range(-0.15..0.15);
    let ts = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    if topic.ends_with("power") {
        let watts = 420.0 + 180.0 * (t / 90.0).sin() + noise * 100.0;
        format!("{{\"seq\":{seq},\"ts\":\"{ts}\",\"watts\":{watts:.0}}}")
    } else {
        let celsius = 21.0 + 3.0 * (t / 120.0).sin() + noise;
        format!("{{\"seq\":{seq},\"ts\":\"{ts}\",\"celsius\":{celsius:.2}}}")
    }
}
