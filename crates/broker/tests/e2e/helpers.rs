//! Test scaffolding: a broker on 127.0.0.1:0 with a small authoriser, rumqttc
//! clients (v4 and v5) whose events arrive on a channel, and a raw client
//! speaking bytes for what well-behaved libraries refuse to send.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use agora_broker::auth::{AuthFuture, ConnectRequest, Refusal};
use agora_broker::{Authorizer, Broker, BrokerConfig, DeliveryKind, Identity};
use agora_mqtt::{Packet, Protocol, QoS, ReasonCode};
use bytes::BytesMut;
use parking_lot::Mutex;
use rumqttc::v5;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Upper bound for anything a test waits for; hitting it is a failure, not a pass.
pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// Allows everything except:
/// - user `nobody` (or no user name) cannot connect (0x86);
/// - `forbidden/...` may be neither published nor subscribed (0x87);
/// - `$SYS/...` may be subscribed only by `admin` (a superuser);
/// - `secret/...` is delivered only to `admin`;
/// - users in `revoked` receive nothing;
/// - a password `expire-<ms>` gives an identity expiring after that many ms,
///   `cred-<name>` names the credential.
#[derive(Default)]
pub(crate) struct TestAuth {
    pub(crate) revoked: Mutex<HashSet<String>>,
}

impl Authorizer for TestAuth {
    fn authenticate(&self, req: ConnectRequest) -> AuthFuture<'_> {
        Box::pin(async move {
            let user = req.username.as_deref().unwrap_or("");
            if user.is_empty() || user == "nobody" {
                return Err(Refusal::new(
                    ReasonCode::BadUserNameOrPassword,
                    "bad user name or password",
                ));
            }
            let mut id = Identity::new(user);
            id.superuser = user == "admin";
            let password = req
                .password
                .as_deref()
                .and_then(|p| std::str::from_utf8(p).ok())
                .unwrap_or("");
            if let Some(ms) = password
                .strip_prefix("expire-")
                .and_then(|s| s.parse::<u64>().ok())
            {
                id.expires_at = Some(SystemTime::now() + Duration::from_millis(ms));
            }
            if let Some(c) = password.strip_prefix("cred-") {
                id.credential = Some(Arc::from(c));
            }
            Ok(id)
        })
    }

    fn authorize_subscribe(&self, who: &Identity, filter: &str) -> Result<(), ReasonCode> {
        if filter.starts_with("forbidden") || (filter.starts_with("$SYS") && !who.superuser) {
            return Err(ReasonCode::NotAuthorized);
        }
        Ok(())
    }

    fn authorize_publish(
        &self,
        _: &Identity,
        topic: &str,
        _: QoS,
        _: bool,
    ) -> Result<(), ReasonCode> {
        if topic.starts_with("forbidden") {
            return Err(ReasonCode::NotAuthorized);
        }
        Ok(())
    }

    fn authorize_delivery(&self, who: &Identity, topic: &str, _: usize, _: DeliveryKind) -> bool {
        if self.revoked.lock().contains(&*who.username) {
            return false;
        }
        !topic.starts_with("secret/") || who.superuser
    }
}

/// A running broker and the task serving its TCP listener.
pub(crate) struct TestBroker {
    pub(crate) addr: SocketAddr,
    pub(crate) broker: Broker,
    pub(crate) auth: Arc<TestAuth>,
    serve: JoinHandle<()>,
}

impl TestBroker {
    /// A broker with default limits, without `$SYS` publishing (so that
    /// counts of retained messages are the test's own).
    pub(crate) async fn start() -> TestBroker {
        TestBroker::start_with(BrokerConfig::default()).await
    }

    /// A broker with these limits; `$SYS` only if `sys_interval` is not the default.
    pub(crate) async fn start_with(mut config: BrokerConfig) -> TestBroker {
        if config.sys_interval == BrokerConfig::default().sys_interval {
            config.sys_interval = None;
        }
        config.validate().expect("test configuration is valid");
        let auth = Arc::new(TestAuth::default());
        // `open` is `new` when `persistence` is `None`.
        let broker = Broker::open(config, Arc::clone(&auth) as Arc<dyn Authorizer>)
            .await
            .expect("the broker store opens");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("local addr");
        let b = broker.clone();
        let serve = tokio::spawn(async move { b.serve_tcp(listener).await });
        TestBroker {
            addr,
            broker,
            auth,
            serve,
        }
    }

    /// Shuts the broker down and checks that its accept loop ended.
    pub(crate) async fn stop(self) {
        tokio::time::timeout(WAIT, self.broker.shutdown())
            .await
            .expect("shutdown finishes");
        tokio::time::timeout(WAIT, self.serve)
            .await
            .expect("accept loop ends")
            .expect("accept loop did not panic");
    }
}

/// What a rumqttc event loop reported.
#[derive(Debug)]
pub(crate) enum Ev<P, E> {
    Packet(P),
    Error(E),
}

/// A rumqttc v5 client whose event loop runs in a task.
pub(crate) struct V5 {
    pub(crate) client: v5::AsyncClient,
    events: mpsc::UnboundedReceiver<Ev<v5::mqttbytes::v5::Packet, v5::ConnectionError>>,
    task: JoinHandle<()>,
}

pub(crate) type V5Packet = v5::mqttbytes::v5::Packet;

impl V5 {
    /// Connects and waits for a successful CONNACK.
    pub(crate) async fn connect(
        addr: SocketAddr,
        id: &str,
        user: &str,
        f: impl FnOnce(&mut v5::MqttOptions),
    ) -> V5 {
        let (c, ack) = V5::try_connect(addr, id, user, "pw", f).await;
        let ack = ack.unwrap_or_else(|e| panic!("{id}: connect failed: {e:?}"));
        assert_eq!(
            ack.code,
            v5::mqttbytes::v5::ConnectReturnCode::Success,
            "{id}"
        );
        c
    }

    /// Connects and returns the CONNACK or the error.
    pub(crate) async fn try_connect(
        addr: SocketAddr,
        id: &str,
        user: &str,
        password: &str,
        f: impl FnOnce(&mut v5::MqttOptions),
    ) -> (V5, Result<v5::mqttbytes::v5::ConnAck, String>) {
        let mut opts = v5::MqttOptions::new(id, addr.ip().to_string(), addr.port());
        opts.set_credentials(user, password);
        opts.set_keep_alive(Duration::from_secs(30));
        f(&mut opts);
        let (client, mut eventloop) = v5::AsyncClient::new(opts, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(v5::Event::Incoming(p)) => {
                        if tx.send(Ev::Packet(p)).is_err() {
                            break;
                        }
                    }
                    Ok(v5::Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Ev::Error(e));
                        break;
                    }
                }
            }
        });
        let mut c = V5 {
            client,
            events,
            task,
        };
        let ack = match c.next().await {
            Ev::Packet(V5Packet::ConnAck(ack)) => Ok(ack),
            Ev::Packet(other) => Err(format!("expected CONNACK, got {other:?}")),
            Ev::Error(e) => Err(format!("{e:?}")),
        };
        (c, ack)
    }

    pub(crate) async fn next(&mut self) -> Ev<V5Packet, v5::ConnectionError> {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an event within the wait")
            .expect("event loop still running")
    }

    /// The next PUBLISH, skipping acknowledgements and pings.
    pub(crate) async fn publish(&mut self) -> v5::mqttbytes::v5::Publish {
        loop {
            match self.next().await {
                Ev::Packet(V5Packet::Publish(p)) => return p,
                Ev::Packet(_) => continue,
                Ev::Error(e) => panic!("expected PUBLISH, got error {e:?}"),
            }
        }
    }

    /// The next PUBLISH on `topic`, skipping others.
    pub(crate) async fn publish_on(&mut self, topic: &str) -> v5::mqttbytes::v5::Publish {
        loop {
            let p = self.publish().await;
            if p.topic == topic.as_bytes() {
                return p;
            }
        }
    }

    /// The next SUBACK.
    pub(crate) async fn suback(&mut self) -> v5::mqttbytes::v5::SubAck {
        loop {
            match self.next().await {
                Ev::Packet(V5Packet::SubAck(s)) => return s,
                Ev::Packet(_) => continue,
                Ev::Error(e) => panic!("expected SUBACK, got error {e:?}"),
            }
        }
    }

    /// The next PUBACK.
    pub(crate) async fn puback(&mut self) -> v5::mqttbytes::v5::PubAck {
        loop {
            match self.next().await {
                Ev::Packet(V5Packet::PubAck(s)) => return s,
                Ev::Packet(_) => continue,
                Ev::Error(e) => panic!("expected PUBACK, got error {e:?}"),
            }
        }
    }

    /// Subscribes to one filter and waits for its SUBACK.
    pub(crate) async fn sub(
        &mut self,
        filter: &str,
        qos: v5::mqttbytes::QoS,
    ) -> v5::mqttbytes::v5::SubscribeReasonCode {
        self.client
            .subscribe(filter, qos)
            .await
            .expect("subscribe queued");
        let ack = self.suback().await;
        ack.return_codes[0]
    }

    /// Waits for the server's DISCONNECT: its reason code and reason string.
    pub(crate) async fn disconnected(
        &mut self,
    ) -> (v5::mqttbytes::v5::DisconnectReasonCode, Option<String>) {
        loop {
            match self.next().await {
                Ev::Packet(_) => continue,
                Ev::Error(v5::ConnectionError::MqttState(v5::StateError::ServerDisconnect {
                    reason_code,
                    reason_string,
                })) => return (reason_code, reason_string),
                Ev::Error(e) => panic!("expected a server DISCONNECT, got {e:?}"),
            }
        }
    }

    /// Sends DISCONNECT and waits for the event loop to end.
    pub(crate) async fn disconnect(mut self) {
        let _ = self.client.disconnect().await;
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(Ev::Error(_))) | Ok(None) => break,
                Ok(Some(_)) => continue,
                Err(_) => panic!("no close after DISCONNECT"),
            }
        }
        self.task.abort();
    }

    /// Drops the connection without DISCONNECT (the will is then due).
    pub(crate) fn vanish(self) {
        self.task.abort();
    }
}

impl Drop for V5 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A rumqttc v4 (MQTT 3.1.1) client whose event loop runs in a task.
pub(crate) struct V4 {
    pub(crate) client: rumqttc::AsyncClient,
    events: mpsc::UnboundedReceiver<Ev<rumqttc::Packet, rumqttc::ConnectionError>>,
    task: JoinHandle<()>,
}

impl V4 {
    pub(crate) async fn connect(
        addr: SocketAddr,
        id: &str,
        user: &str,
        f: impl FnOnce(&mut rumqttc::MqttOptions),
    ) -> V4 {
        let mut opts = rumqttc::MqttOptions::new(id, addr.ip().to_string(), addr.port());
        opts.set_credentials(user, "pw");
        opts.set_keep_alive(Duration::from_secs(30));
        f(&mut opts);
        let (client, mut eventloop) = rumqttc::AsyncClient::new(opts, 64);
        let (tx, events) = mpsc::unbounded_channel();
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(rumqttc::Event::Incoming(p)) => {
                        if tx.send(Ev::Packet(p)).is_err() {
                            break;
                        }
                    }
                    Ok(rumqttc::Event::Outgoing(_)) => {}
                    Err(e) => {
                        let _ = tx.send(Ev::Error(e));
                        break;
                    }
                }
            }
        });
        let mut c = V4 {
            client,
            events,
            task,
        };
        match c.next().await {
            Ev::Packet(rumqttc::Packet::ConnAck(ack)) => {
                assert_eq!(ack.code, rumqttc::ConnectReturnCode::Success, "{id}");
            }
            other => panic!("{id}: expected CONNACK, got {other:?}"),
        }
        c
    }

    pub(crate) async fn next(&mut self) -> Ev<rumqttc::Packet, rumqttc::ConnectionError> {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("an event within the wait")
            .expect("event loop still running")
    }

    pub(crate) async fn publish(&mut self) -> rumqttc::Publish {
        loop {
            match self.next().await {
                Ev::Packet(rumqttc::Packet::Publish(p)) => return p,
                Ev::Packet(_) => continue,
                Ev::Error(e) => panic!("expected PUBLISH, got error {e:?}"),
            }
        }
    }

    pub(crate) async fn sub(
        &mut self,
        filter: &str,
        qos: rumqttc::QoS,
    ) -> rumqttc::SubscribeReasonCode {
        self.client
            .subscribe(filter, qos)
            .await
            .expect("subscribe queued");
        loop {
            match self.next().await {
                Ev::Packet(rumqttc::Packet::SubAck(s)) => return s.return_codes[0],
                Ev::Packet(_) => continue,
                Ev::Error(e) => panic!("expected SUBACK, got error {e:?}"),
            }
        }
    }

    pub(crate) async fn disconnect(mut self) {
        let _ = self.client.disconnect().await;
        loop {
            match tokio::time::timeout(WAIT, self.events.recv()).await {
                Ok(Some(Ev::Error(_))) | Ok(None) => break,
                Ok(Some(_)) => continue,
                Err(_) => panic!("no close after DISCONNECT"),
            }
        }
        self.task.abort();
    }

    pub(crate) fn vanish(self) {
        self.task.abort();
    }
}

impl Drop for V4 {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Any byte stream a raw client can speak over (TCP, an in-memory pipe).
pub(crate) trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

/// A client that speaks bytes, encoding and decoding with `agora_mqtt`.
pub(crate) struct Raw {
    stream: Box<dyn Io>,
    buf: BytesMut,
    protocol: Protocol,
}

impl Raw {
    pub(crate) async fn open(addr: SocketAddr, protocol: Protocol) -> Raw {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Raw::over(stream, protocol)
    }

    /// A raw client over any stream.
    pub(crate) fn over(stream: impl Io + 'static, protocol: Protocol) -> Raw {
        Raw {
            stream: Box::new(stream),
            buf: BytesMut::new(),
            protocol,
        }
    }

    /// Sends CONNECT over an already open stream; returns the CONNACK.
    pub(crate) async fn handshake(&mut self, connect: agora_mqtt::Connect) -> agora_mqtt::ConnAck {
        self.send(&Packet::Connect(Box::new(connect))).await;
        match self.recv().await {
            Some(Packet::ConnAck(ack)) => ack,
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Opens a connection and sends CONNECT; returns the client and the CONNACK.
    pub(crate) async fn connect(
        addr: SocketAddr,
        connect: agora_mqtt::Connect,
    ) -> (Raw, agora_mqtt::ConnAck) {
        let mut raw = Raw::open(addr, connect.protocol).await;
        raw.send(&Packet::Connect(Box::new(connect))).await;
        match raw.recv().await {
            Some(Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    pub(crate) async fn send(&mut self, p: &Packet) {
        let mut out = BytesMut::new();
        agora_mqtt::encode(p, self.protocol, &mut out).expect("test packet encodes");
        self.stream.write_all(&out).await.expect("write");
    }

    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next packet from the server, or `None` once it closed the connection.
    pub(crate) async fn recv(&mut self) -> Option<Packet> {
        self.recv_within(WAIT)
            .await
            .expect("a packet or a close within the wait")
    }

    /// Like [`recv`](Raw::recv), but `Err` if nothing came within `limit`.
    pub(crate) async fn recv_within(
        &mut self,
        limit: Duration,
    ) -> Result<Option<Packet>, tokio::time::error::Elapsed> {
        tokio::time::timeout(limit, async {
            loop {
                match agora_mqtt::decode(&mut self.buf, Some(self.protocol), 1 << 24) {
                    Ok(Some(p)) => return Some(p),
                    Ok(None) => {}
                    Err(e) => panic!("server sent a bad packet: {e}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
    }

    /// Reads until the server closes, returning the packets seen on the way.
    pub(crate) async fn until_closed(&mut self) -> Vec<Packet> {
        let mut seen = Vec::new();
        while let Some(p) = self.recv().await {
            seen.push(p);
        }
        seen
    }
}

/// A CONNECT with sensible defaults for raw clients.
pub(crate) fn connect_packet(
    protocol: Protocol,
    client_id: &'static str,
    user: &'static str,
) -> agora_mqtt::Connect {
    agora_mqtt::Connect {
        protocol,
        clean_start: true,
        keep_alive: 30,
        client_id: agora_mqtt::ByteString::from_static(client_id),
        will: None,
        username: Some(agora_mqtt::ByteString::from_static(user)),
        password: Some(bytes::Bytes::from_static(b"pw")),
        properties: Default::default(),
    }
}

/// Whether a command-line tool is on PATH.
pub(crate) fn have(tool: &str) -> bool {
    std::process::Command::new(tool)
        .arg("--help")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok()
}

/// Polls `cond` until it holds; fails after [`WAIT`]. For state that has no
/// event to wait for (counters the broker updates after a close).
pub(crate) async fn eventually(what: &str, cond: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within the wait: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
