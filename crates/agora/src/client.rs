//! `agora pub` and `agora sub`: small MQTT clients for sellers' devices and
//! buyers, speaking 3.1.1 or 5.0 over TCP or TLS through Agora's own codec.
//!
//! They exist so that a newcomer needs nothing but `agora` to see data flow,
//! and so that a key-based device can publish without a JWT library: with
//! `--key device.pem` the client signs a fresh RS256 token itself. Errors
//! name what the broker said (the CONNACK / SUBACK / PUBACK reason code and,
//! on MQTT 5, its reason string) and what to try next.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use agora_mqtt::{
    ByteString, Connect, Disconnect, Packet, Properties, Protocol, PubResponse, Publish, QoS,
    ReasonCode, Subscribe, SubscriptionOptions,
};
use anyhow::{Context, bail};
use bytes::{Bytes, BytesMut};
use clap::Args;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::duration::HumanDuration;

/// Connection flags shared by `agora pub` and `agora sub`.
#[derive(Debug, Args)]
pub(crate) struct ConnectArgs {
    /// Broker host name or address.
    #[arg(long = "host", short = 'H', default_value = "localhost")]
    pub(crate) host: String,
    /// Broker port. Default: 1883, or 8883 with --tls.
    #[arg(long, short = 'p')]
    pub(crate) port: Option<u16>,
    /// Use TLS (implied by --cafile and --insecure).
    #[arg(long)]
    pub(crate) tls: bool,
    /// Trust this CA certificate (PEM), e.g. agora-data/tls/cert.pem for a self-signed server.
    #[arg(long, value_name = "FILE")]
    pub(crate) cafile: Option<PathBuf>,
    /// Do not verify the server's certificate (testing only: anyone can impersonate the server).
    #[arg(long)]
    pub(crate) insecure: bool,
    /// MQTT user name: an account (buyers), or owner$hub$device (devices).
    #[arg(long, short = 'u')]
    pub(crate) username: Option<String>,
    /// MQTT password: an access key, a device secret, or a device JWT.
    #[arg(long, short = 'P')]
    pub(crate) password: Option<String>,
    /// Sign a fresh RS256 token with this device private key and use it as the password.
    #[arg(long, value_name = "FILE", conflicts_with = "password")]
    pub(crate) key: Option<PathBuf>,
    /// `iss` claim of the token signed with --key.
    #[arg(long, value_name = "NAME", requires = "key")]
    pub(crate) iss: Option<String>,
    /// Lifetime of the token signed with --key.
    #[arg(long, default_value = "1h", requires = "key")]
    pub(crate) ttl: HumanDuration,
    /// Client identifier. Default: one the broker assigns.
    #[arg(long, short = 'i', default_value = "")]
    pub(crate) client_id: String,
    /// MQTT protocol version: 5 or 311.
    #[arg(long, default_value = "5", value_parser = ["5", "311"])]
    pub(crate) protocol: String,
    /// Keep-alive in seconds.
    #[arg(long, short = 'k', default_value_t = 60)]
    pub(crate) keep_alive: u16,
}

/// Flags of `agora pub`.
#[derive(Debug, Args)]
pub(crate) struct PubArgs {
    #[command(flatten)]
    pub(crate) conn: ConnectArgs,
    /// Topic to publish to, e.g. alice/home/temp.
    #[arg(long, short = 't')]
    pub(crate) topic: String,
    /// The message. Without it, the whole of stdin is sent as one message.
    #[arg(long, short = 'm')]
    pub(crate) message: Option<String>,
    /// Quality of service: 0, 1 or 2.
    #[arg(long, short = 'q', default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub(crate) qos: u8,
    /// Ask the broker to retain the message for future subscribers.
    #[arg(long, short = 'r')]
    pub(crate) retain: bool,
}

/// Flags of `agora sub`.
#[derive(Debug, Args)]
pub(crate) struct SubArgs {
    #[command(flatten)]
    pub(crate) conn: ConnectArgs,
    /// Topic filter(s) to subscribe to, e.g. alice/home/temp/#. Repeatable.
    #[arg(long, short = 't', required = true)]
    pub(crate) topic: Vec<String>,
    /// Maximum quality of service: 0, 1 or 2.
    #[arg(long, short = 'q', default_value_t = 1, value_parser = clap::value_parser!(u8).range(0..=2))]
    pub(crate) qos: u8,
    /// Exit after this many messages.
    #[arg(long, short = 'C')]
    pub(crate) count: Option<u64>,
    /// Print the topic before each payload.
    #[arg(long, short = 'v')]
    pub(crate) verbose: bool,
}

/// Any byte stream a client can speak MQTT over (TCP, TLS, an in-process pipe).
pub(crate) trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// One connected client: the stream, its protocol and a receive buffer.
pub(crate) struct Client {
    io: Box<dyn Stream>,
    protocol: Protocol,
    buf: BytesMut,
    out: BytesMut,
    next_id: u16,
    /// Idle time after which a PINGREQ goes out: half the keep-alive.
    ping_after: Duration,
}

/// Runs `agora pub`.
pub(crate) async fn publish(args: PubArgs) -> anyhow::Result<()> {
    let payload = match args.message {
        Some(m) => Bytes::from(m),
        None => {
            let mut all = Vec::new();
            std::io::stdin()
                .read_to_end(&mut all)
                .context("cannot read the message from stdin (or give it with -m)")?;
            Bytes::from(all)
        }
    };
    let qos = QoS::from_u8(args.qos).context("--qos must be 0, 1 or 2")?;
    let mut c = Client::connect(&args.conn).await?;
    let packet_id = (qos != QoS::AtMostOnce).then(|| c.packet_id());
    c.send(&Packet::Publish(Publish {
        dup: false,
        qos,
        retain: args.retain,
        topic: ByteString::from(args.topic.clone()),
        packet_id,
        properties: Properties::default(),
        payload,
    }))
    .await?;
    match qos {
        QoS::AtMostOnce => {}
        QoS::AtLeastOnce => {
            let ack = c.expect(|p| matches!(p, Packet::PubAck(_))).await?;
            if let Packet::PubAck(r) = ack {
                check_ack(&r, &args.topic)?;
            }
        }
        QoS::ExactlyOnce => {
            let rec = c.expect(|p| matches!(p, Packet::PubRec(_))).await?;
            if let Packet::PubRec(r) = rec {
                check_ack(&r, &args.topic)?;
                c.send(&Packet::PubRel(PubResponse::success(r.packet_id)))
                    .await?;
                c.expect(|p| matches!(p, Packet::PubComp(_))).await?;
            }
        }
    }
    c.disconnect().await
}

/// Runs `agora sub`: prints each message (payload, or `topic payload` with -v) on a line.
pub(crate) async fn subscribe(args: SubArgs) -> anyhow::Result<()> {
    let qos = QoS::from_u8(args.qos).context("--qos must be 0, 1 or 2")?;
    let mut c = Client::connect(&args.conn).await?;
    let packet_id = c.packet_id();
    let options = SubscriptionOptions {
        qos,
        ..SubscriptionOptions::default()
    };
    c.send(&Packet::Subscribe(Subscribe {
        packet_id,
        filters: args
            .topic
            .iter()
            .map(|t| (ByteString::from(t.clone()), options))
            .collect(),
        properties: Properties::default(),
    }))
    .await?;
    let mut received = 0u64;
    loop {
        let packet = c.read().await?;
        match packet {
            Packet::SubAck(ack) => {
                let refused: Vec<_> = ack
                    .reasons
                    .iter()
                    .zip(&args.topic)
                    .filter(|(r, _)| r.as_u8() >= 0x80)
                    .map(|(r, t)| format!("{t} (0x{:02X})", r.as_u8()))
                    .collect();
                if refused.len() == args.topic.len() {
                    bail!(
                        "the broker refused every subscription: {}; a buyer needs a live purchase of the product and may only subscribe inside its topic (e.g. owner/hub/product/#)",
                        refused.join(", ")
                    );
                }
                for r in &refused {
                    eprintln!("warning: subscription refused: {r}");
                }
            }
            Packet::Publish(p) => {
                if let Some(id) = p.packet_id {
                    match p.qos {
                        QoS::AtLeastOnce => {
                            c.send(&Packet::PubAck(PubResponse::success(id))).await?
                        }
                        QoS::ExactlyOnce => {
                            c.send(&Packet::PubRec(PubResponse::success(id))).await?
                        }
                        QoS::AtMostOnce => {}
                    }
                }
                let text = String::from_utf8_lossy(&p.payload);
                if args.verbose {
                    println!("{} {text}", p.topic);
                } else {
                    println!("{text}");
                }
                received += 1;
                if args.count.is_some_and(|n| received >= n) {
                    return c.disconnect().await;
                }
            }
            Packet::PubRel(r) => {
                c.send(&Packet::PubComp(PubResponse::success(r.packet_id)))
                    .await?
            }
            Packet::Disconnect(d) => bail!(
                "the broker closed the session: {}",
                describe(d.reason, &d.properties)
            ),
            Packet::PingResp => {}
            other => tracing::debug!(packet = other.name(), "ignored"),
        }
    }
}

fn check_ack(r: &PubResponse, topic: &str) -> anyhow::Result<()> {
    if r.reason.as_u8() >= 0x80 {
        bail!(
            "the broker refused the message to {topic}: {}; a device may only publish inside its own products' topics",
            describe(r.reason, &r.properties)
        );
    }
    Ok(())
}

fn describe(reason: ReasonCode, props: &Properties) -> String {
    match &props.reason_string {
        Some(s) => format!("{s} (0x{:02X})", reason.as_u8()),
        None => format!("{reason:?} (0x{:02X})", reason.as_u8()),
    }
}

impl Client {
    async fn connect(args: &ConnectArgs) -> anyhow::Result<Client> {
        let tls = args.tls || args.cafile.is_some() || args.insecure;
        let port = args.port.unwrap_or(if tls { 8883 } else { 1883 });
        let tcp = TcpStream::connect((args.host.as_str(), port))
            .await
            .with_context(|| {
                format!(
                    "cannot connect to {}:{port} (is `agora serve` running?)",
                    args.host
                )
            })?;
        let _ = tcp.set_nodelay(true);
        let io: Box<dyn Stream> = if tls {
            let config = tls_client_config(args)?;
            let name = rustls_pki_types::ServerName::try_from(args.host.clone())
                .with_context(|| format!("{:?} is not a valid TLS server name", args.host))?;
            let stream = tokio_rustls::TlsConnector::from(config)
                .connect(name, tcp)
                .await
                .with_context(|| format!("TLS handshake with {}:{port} failed (for a self-signed server, pass --cafile agora-data/tls/cert.pem)", args.host))?;
            Box::new(stream)
        } else {
            Box::new(tcp)
        };
        let password = match (&args.key, &args.password) {
            (Some(key), _) => Some(Bytes::from(crate::device_key::sign_token_from_file(
                key,
                args.iss.as_deref(),
                args.ttl.0,
            )?)),
            (None, Some(p)) => Some(Bytes::from(p.clone())),
            (None, None) => None,
        };
        let protocol = if args.protocol == "311" {
            Protocol::V311
        } else {
            Protocol::V5
        };
        Client::handshake(
            io,
            protocol,
            &args.client_id,
            args.username.clone(),
            password,
            args.keep_alive,
        )
        .await
    }

    /// Sends CONNECT over `io` and waits for a successful CONNACK.
    pub(crate) async fn handshake(
        io: Box<dyn Stream>,
        protocol: Protocol,
        client_id: &str,
        username: Option<String>,
        password: Option<Bytes>,
        keep_alive: u16,
    ) -> anyhow::Result<Client> {
        let mut c = Client {
            io,
            protocol,
            buf: BytesMut::with_capacity(8 * 1024),
            out: BytesMut::with_capacity(1024),
            next_id: 0,
            ping_after: match keep_alive {
                0 => Duration::from_secs(3600),
                k => Duration::from_millis(u64::from(k) * 500),
            },
        };
        c.send(&Packet::Connect(Box::new(Connect {
            protocol,
            clean_start: true,
            keep_alive,
            client_id: ByteString::from(client_id.to_owned()),
            will: None,
            username: username.map(ByteString::from),
            password,
            properties: Properties::default(),
        })))
        .await?;
        match c.read().await? {
            Packet::ConnAck(ack) if ack.reason == ReasonCode::Success => Ok(c),
            Packet::ConnAck(ack) => bail!(
                "the broker refused the connection: {}; check the user name and the password (an access key, device secret or token)",
                describe(ack.reason, &ack.properties)
            ),
            other => bail!("the broker answered CONNECT with {}", other.name()),
        }
    }

    fn packet_id(&mut self) -> u16 {
        self.next_id = self.next_id.wrapping_add(1).max(1);
        self.next_id
    }

    pub(crate) async fn send(&mut self, packet: &Packet) -> anyhow::Result<()> {
        self.out.clear();
        agora_mqtt::encode(packet, self.protocol, &mut self.out)
            .with_context(|| format!("cannot encode {}", packet.name()))?;
        self.io
            .write_all(&self.out)
            .await
            .context("connection lost")?;
        self.io.flush().await.context("connection lost")
    }

    pub(crate) async fn read(&mut self) -> anyhow::Result<Packet> {
        loop {
            if let Some(p) = agora_mqtt::decode(&mut self.buf, Some(self.protocol), 268_435_460)
                .map_err(|e| anyhow::anyhow!("the broker sent a malformed packet: {e}"))?
            {
                return Ok(p);
            }
            // Reading doubles as the keep-alive timer.
            let n = tokio::time::timeout(self.ping_after, self.io.read_buf(&mut self.buf)).await;
            match n {
                Ok(Ok(0)) => bail!("the broker closed the connection"),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e).context("connection lost"),
                Err(_) => self.send(&Packet::PingReq).await?,
            }
        }
    }

    /// Reads until a packet matching `want`; a DISCONNECT on the way is an error.
    async fn expect(&mut self, want: impl Fn(&Packet) -> bool) -> anyhow::Result<Packet> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let p = tokio::time::timeout_at(deadline, self.read())
                .await
                .context("the broker did not answer within 30 s")??;
            if let Packet::Disconnect(d) = &p {
                bail!(
                    "the broker closed the session: {}",
                    describe(d.reason, &d.properties)
                );
            }
            if want(&p) {
                return Ok(p);
            }
        }
    }

    pub(crate) async fn disconnect(&mut self) -> anyhow::Result<()> {
        self.send(&Packet::Disconnect(Disconnect {
            reason: ReasonCode::Success,
            properties: Properties::default(),
        }))
        .await?;
        let _ = self.io.shutdown().await;
        Ok(())
    }
}

fn tls_client_config(args: &ConnectArgs) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS setup")?;
    if args.insecure {
        return Ok(Arc::new(
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(insecure::AcceptAnyCertificate(
                    provider,
                )))
                .with_no_client_auth(),
        ));
    }
    let mut roots = rustls::RootCertStore::empty();
    match &args.cafile {
        Some(path) => {
            use rustls_pki_types::pem::PemObject;
            for cert in rustls_pki_types::CertificateDer::pem_file_iter(path)
                .with_context(|| format!("cannot read --cafile {}", path.display()))?
            {
                let cert = cert.with_context(|| {
                    format!("--cafile {} is not a PEM certificate", path.display())
                })?;
                roots.add(cert).with_context(|| {
                    format!("--cafile {}: unusable certificate", path.display())
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                let _ = roots.add(cert);
            }
        }
    }
    Ok(Arc::new(
        builder.with_root_certificates(roots).with_no_client_auth(),
    ))
}

/// `--insecure`: a verifier that accepts any certificate but still checks the
/// handshake signature, so the connection is encrypted, just not authenticated.
mod insecure {
    use std::sync::Arc;

    use rustls::DigitallySignedStruct;
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    pub(super) struct AcceptAnyCertificate(pub(super) Arc<CryptoProvider>);

    impl ServerCertVerifier for AcceptAnyCertificate {
        fn verify_server_cert(
            &self,
            _end_entity: &CertificateDer<'_>,
            _intermediates: &[CertificateDer<'_>],
            _server_name: &ServerName<'_>,
            _ocsp_response: &[u8],
            _now: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            Ok(ServerCertVerified::assertion())
        }

        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls12_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            verify_tls13_signature(
                message,
                cert,
                dss,
                &self.0.signature_verification_algorithms,
            )
        }

        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.0.signature_verification_algorithms.supported_schemes()
        }
    }
}
