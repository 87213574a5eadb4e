//! The load tool's MQTT client: connect, subscribe, and the buffers every
//! scenario reads and writes through, speaking Agora's own codec.
//!
//! Deliberately thin: a [`Conn`] is a TCP stream plus one receive and one send
//! buffer. Scenarios encode many packets into the send buffer and write them
//! with one system call, and decode every complete packet out of the receive
//! buffer after each read, so the tool spends its time in the broker's system
//! calls rather than its own.

use std::net::SocketAddr;
use std::time::Duration;

use agora_mqtt::{
    ConnAck, Connect, Packet, Properties, Protocol, PubResponse, QoS, Subscribe,
    SubscriptionOptions,
};
use anyhow::{Context, Result, bail};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Largest packet the tool accepts from a broker.
pub(crate) const MAX_PACKET: usize = 1 << 20;

/// Where and how to connect: shared by every connection of a run.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// Broker address.
    pub(crate) addr: SocketAddr,
    /// Protocol level spoken by every connection.
    pub(crate) protocol: Protocol,
    /// User name sent in CONNECT, if any.
    pub(crate) username: Option<String>,
    /// Password sent in CONNECT, if any.
    pub(crate) password: Option<String>,
    /// Subscribers' user name, when it differs from `username`.
    pub(crate) sub_username: Option<String>,
    /// Subscribers' password, when it differs from `password`.
    pub(crate) sub_password: Option<String>,
    /// Keep-alive (seconds) sent in CONNECT.
    pub(crate) keep_alive: u16,
    /// How long to wait for CONNACK or SUBACK.
    pub(crate) handshake_timeout: Duration,
}

impl Target {
    /// The target as subscribers connect to it: their own credentials, if set.
    pub(crate) fn for_subscribers(&self) -> Target {
        let mut t = self.clone();
        if let Some(u) = &self.sub_username {
            t.username = Some(u.clone());
        }
        if let Some(p) = &self.sub_password {
            t.password = Some(p.clone());
        }
        t
    }
}

/// One open MQTT connection with its buffers.
#[derive(Debug)]
pub(crate) struct Conn {
    /// The socket.
    pub(crate) stream: TcpStream,
    /// Bytes received and not yet decoded.
    pub(crate) rbuf: BytesMut,
    /// Encoded packets not yet written.
    pub(crate) wbuf: BytesMut,
    /// Protocol level of the connection.
    pub(crate) protocol: Protocol,
    /// The broker's Receive Maximum (MQTT 5), or 65,535.
    pub(crate) receive_maximum: u16,
}

/// A CONNECT with clean start and no will.
pub(crate) fn connect_packet(target: &Target, client_id: &str) -> Packet {
    Packet::Connect(Box::new(Connect {
        protocol: target.protocol,
        clean_start: true,
        keep_alive: target.keep_alive,
        client_id: client_id.into(),
        will: None,
        username: target.username.as_deref().map(Into::into),
        password: target
            .password
            .as_ref()
            .map(|p| Bytes::copy_from_slice(p.as_bytes())),
        properties: Properties::default(),
    }))
}

impl Conn {
    /// Opens TCP, sends CONNECT and waits for CONNACK; fails on a refusal.
    pub(crate) async fn open(target: &Target, client_id: &str) -> Result<Conn> {
        let (conn, ack) = Conn::open_raw(target, client_id).await?;
        if !ack.reason.is_success() {
            bail!(
                "{client_id}: CONNACK refused the connection: {:?}",
                ack.reason
            );
        }
        Ok(conn)
    }

    /// Like [`Conn::open`], but hands back the CONNACK, accepted or not.
    pub(crate) async fn open_raw(target: &Target, client_id: &str) -> Result<(Conn, ConnAck)> {
        let stream = TcpStream::connect(target.addr)
            .await
            .with_context(|| format!("connecting to {}", target.addr))?;
        // We batch packets ourselves; Nagle would only add delay to the last one.
        stream.set_nodelay(true).context("setting TCP_NODELAY")?;
        let mut conn = Conn {
            stream,
            rbuf: BytesMut::with_capacity(4096),
            wbuf: BytesMut::with_capacity(256),
            protocol: target.protocol,
            receive_maximum: u16::MAX,
        };
        conn.queue(&connect_packet(target, client_id))?;
        conn.flush().await?;
        let ack = match conn.recv_within(target.handshake_timeout).await? {
            Packet::ConnAck(ack) => ack,
            other => bail!("{client_id}: expected CONNACK, got {}", other.name()),
        };
        if let Some(rm) = ack.properties.receive_maximum {
            conn.receive_maximum = rm;
        }
        Ok((conn, ack))
    }

    /// Subscribes to one filter and waits for SUBACK; fails if it was refused.
    pub(crate) async fn subscribe(
        &mut self,
        filter: &str,
        qos: QoS,
        timeout: Duration,
    ) -> Result<()> {
        let sub = Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![(
                filter.into(),
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            )],
            properties: Properties::default(),
        });
        self.queue(&sub)?;
        self.flush().await?;
        loop {
            match self.recv_within(timeout).await? {
                Packet::SubAck(ack) => {
                    return match ack.reasons.first() {
                        Some(r) if r.is_success() => Ok(()),
                        Some(r) => bail!("SUBSCRIBE {filter}: refused with {r:?}"),
                        None => bail!("SUBSCRIBE {filter}: SUBACK without a reason code"),
                    };
                }
                // Retained messages may arrive before the SUBACK; a fresh
                // topic prefix per run means there should be none.
                Packet::Publish(_) => {}
                other => bail!("SUBSCRIBE {filter}: expected SUBACK, got {}", other.name()),
            }
        }
    }

    /// Encodes `packet` into the send buffer.
    pub(crate) fn queue(&mut self, packet: &Packet) -> Result<()> {
        agora_mqtt::encode(packet, self.protocol, &mut self.wbuf)
            .with_context(|| format!("encoding {}", packet.name()))
    }

    /// Queues the acknowledgement a received QoS 1 or 2 PUBLISH needs.
    pub(crate) fn queue_ack(&mut self, qos: QoS, packet_id: Option<u16>) -> Result<()> {
        match (qos, packet_id) {
            (QoS::AtMostOnce, _) => Ok(()),
            (QoS::AtLeastOnce, Some(id)) => self.queue(&Packet::PubAck(PubResponse::success(id))),
            (QoS::ExactlyOnce, Some(id)) => self.queue(&Packet::PubRec(PubResponse::success(id))),
            (_, None) => bail!("QoS {qos:?} PUBLISH without a packet identifier"),
        }
    }

    /// Writes the whole send buffer.
    pub(crate) async fn flush(&mut self) -> Result<()> {
        if !self.wbuf.is_empty() {
            self.stream
                .write_all(&self.wbuf)
                .await
                .context("writing to the broker")?;
            self.wbuf.clear();
        }
        Ok(())
    }

    /// Decodes the next complete packet from the receive buffer, if any.
    pub(crate) fn decode_next(&mut self) -> Result<Option<Packet>> {
        agora_mqtt::decode(&mut self.rbuf, Some(self.protocol), MAX_PACKET)
            .context("decoding a packet from the broker")
    }

    /// Reads once from the socket into the receive buffer; `Ok(0)` at end of stream.
    pub(crate) async fn read_some(&mut self) -> Result<usize> {
        if self.rbuf.capacity() - self.rbuf.len() < 16 * 1024 {
            self.rbuf.reserve(64 * 1024);
        }
        self.stream
            .read_buf(&mut self.rbuf)
            .await
            .context("reading from the broker")
    }

    /// Waits for the next packet.
    pub(crate) async fn recv(&mut self) -> Result<Packet> {
        loop {
            if let Some(p) = self.decode_next()? {
                return Ok(p);
            }
            if self.read_some().await? == 0 {
                bail!("the broker closed the connection");
            }
        }
    }

    /// Waits for the next packet, at most `timeout`.
    pub(crate) async fn recv_within(&mut self, timeout: Duration) -> Result<Packet> {
        match tokio::time::timeout(timeout, self.recv()).await {
            Ok(r) => r,
            Err(_) => bail!("no answer from the broker within {timeout:?}"),
        }
    }
}
