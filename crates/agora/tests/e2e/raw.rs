//! A raw MQTT client over a blocking socket, for tests that must send what
//! no well-behaved client library would: garbage, half packets, floods.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use agora_mqtt::{
    ByteString, Connect, Packet, Properties, Protocol, QoS, Subscribe, SubscriptionOptions,
};
use bytes::{Bytes, BytesMut};

/// One raw connection.
pub(crate) struct Raw {
    pub(crate) stream: TcpStream,
    protocol: Protocol,
    buf: BytesMut,
}

impl Raw {
    /// Opens a TCP connection (nothing sent yet).
    pub(crate) fn open(addr: SocketAddr, protocol: Protocol) -> Raw {
        let stream = TcpStream::connect(addr).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw {
            stream,
            protocol,
            buf: BytesMut::new(),
        }
    }

    /// Opens a TCP connection from the local address `from` (e.g. 127.0.0.2,
    /// to look like another client machine on loopback).
    pub(crate) fn open_from(from: std::net::IpAddr, addr: SocketAddr, protocol: Protocol) -> Raw {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket.bind(&SocketAddr::new(from, 0).into()).expect("bind");
        socket.connect(&addr.into()).expect("connect");
        let stream: TcpStream = socket.into();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .expect("timeout");
        Raw {
            stream,
            protocol,
            buf: BytesMut::new(),
        }
    }

    /// Sends bytes as they are.
    pub(crate) fn send_bytes(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Encodes and sends a packet.
    pub(crate) fn send(&mut self, p: &Packet) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        agora_mqtt::encode(p, self.protocol, &mut out).expect("encode");
        self.stream.write_all(&out)
    }

    /// CONNECT with a user name and password; returns the CONNACK's reason byte.
    pub(crate) fn connect(
        &mut self,
        client_id: &str,
        user: Option<&str>,
        password: Option<&str>,
    ) -> u8 {
        self.send(&Packet::Connect(Box::new(Connect {
            protocol: self.protocol,
            clean_start: true,
            keep_alive: 60,
            client_id: ByteString::from(client_id.to_owned()),
            will: None,
            username: user.map(|u| ByteString::from(u.to_owned())),
            password: password.map(|p| Bytes::from(p.to_owned())),
            properties: Properties::default(),
        })))
        .expect("send CONNECT");
        match self.read() {
            Some(Packet::ConnAck(a)) => a.reason.as_u8(),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// SUBSCRIBE to one filter; returns the SUBACK's code.
    pub(crate) fn subscribe(&mut self, id: u16, filter: &str, qos: QoS) -> u8 {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: id,
            filters: vec![(
                ByteString::from(filter.to_owned()),
                SubscriptionOptions {
                    qos,
                    ..SubscriptionOptions::default()
                },
            )],
            properties: Properties::default(),
        }))
        .expect("send SUBSCRIBE");
        loop {
            match self.read() {
                Some(Packet::SubAck(a)) => return a.reasons.first().map_or(0xFF, |r| r.as_u8()),
                Some(_) => continue,
                None => panic!("connection closed before SUBACK"),
            }
        }
    }

    /// Reads the next packet; `None` when the server closed the connection
    /// (or sent something undecodable).
    pub(crate) fn read(&mut self) -> Option<Packet> {
        loop {
            match agora_mqtt::decode(&mut self.buf, Some(self.protocol), 1 << 28) {
                Ok(Some(p)) => return Some(p),
                Ok(None) => {}
                Err(_) => return None,
            }
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Whether the server closes the connection (EOF or reset) before `patience`.
    pub(crate) fn closed_by_server(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}
