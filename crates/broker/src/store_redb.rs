//! [`RedbStore`]: the [`BrokerStore`] on redb, one file (`broker.redb`),
//! ACID copy-on-write B-trees, every commit synced (`Durability::Immediate`,
//! redb's default).
//!
//! Three tables: `retained` (topic → message), `sessions` (session id →
//! record) and `queue` ((session id, sequence) → message), so a session's
//! queue is one key range, read in order and deleted with its session.
//!
//! Messages are stored as an MQTT 5 PUBLISH encoded by our own codec (it
//! already round-trips every property we forward) behind a small header:
//! the expiry deadline as Unix milliseconds (an `Instant` means nothing
//! after a restart) and, for queued messages, the delivery's QoS, RETAIN
//! and subscription identifiers. Session records are a versioned,
//! length-prefixed layout. Decoding never trusts the bytes: a short or
//! malformed record is [`StoreError::Corrupt`], never a panic.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use agora_mqtt::{
    ByteString, Packet, Protocol, Publish, QoS, RetainHandling, SubscriptionOptions, decode, encode,
};
use bytes::{Buf, BufMut, BytesMut};
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::Message;
use crate::persist::{BrokerStore, Loaded, Op, QueuedMessage, SessionRecord, StoreError};
use crate::router::Subscription;

const RETAINED: TableDefinition<&str, &[u8]> = TableDefinition::new("retained");
const SESSIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("sessions");
const QUEUE: TableDefinition<(u64, u64), &[u8]> = TableDefinition::new("queue");

/// Version byte of the session record layout.
const SESSION_V1: u8 = 1;

/// The broker's store in one redb file.
pub struct RedbStore {
    db: Database,
}

impl std::fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedbStore").finish_non_exhaustive()
    }
}

fn engine(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

impl RedbStore {
    /// Opens (or creates) the store at `path`, creating its tables.
    pub fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let db = Database::create(path).map_err(engine)?;
        let tx = db.begin_write().map_err(engine)?;
        tx.open_table(RETAINED).map_err(engine)?;
        tx.open_table(SESSIONS).map_err(engine)?;
        tx.open_table(QUEUE).map_err(engine)?;
        tx.commit().map_err(engine)?;
        Ok(RedbStore { db })
    }
}

impl BrokerStore for RedbStore {
    fn load(&self, now: SystemTime) -> Result<Loaded, StoreError> {
        let mut loaded = Loaded::default();
        let mut stale_retained = Vec::new();
        let mut stale_sessions = Vec::new();
        {
            let tx = self.db.begin_read().map_err(engine)?;
            let retained = tx.open_table(RETAINED).map_err(engine)?;
            for row in retained.iter().map_err(engine)? {
                let (topic, bytes) = row.map_err(engine)?;
                match decode_message(bytes.value(), now)? {
                    Some(msg) => loaded.retained.push(msg),
                    None => stale_retained.push(topic.value().to_owned()),
                }
            }
            let sessions = tx.open_table(SESSIONS).map_err(engine)?;
            let queue = tx.open_table(QUEUE).map_err(engine)?;
            for row in sessions.iter().map_err(engine)? {
                let (_, bytes) = row.map_err(engine)?;
                let record = decode_session(bytes.value())?;
                let since = record.disconnected_at.unwrap_or(now);
                let ends = since + Duration::from_secs(u64::from(record.expiry_secs));
                if ends <= now {
                    stale_sessions.push(record.id);
                    continue;
                }
                let mut messages = Vec::new();
                for row in queue
                    .range((record.id, 0)..=(record.id, u64::MAX))
                    .map_err(engine)?
                {
                    let (key, bytes) = row.map_err(engine)?;
                    let (_, seq) = key.value();
                    if let Some(m) = decode_queued(bytes.value(), now)? {
                        messages.push((seq, m));
                    }
                }
                loaded.sessions.push((record, messages));
            }
        }
        if !stale_retained.is_empty() || !stale_sessions.is_empty() {
            let mut ops: Vec<Op> = stale_retained
                .into_iter()
                .map(|t| Op::DeleteRetained(ByteString::from(t)))
                .collect();
            ops.extend(stale_sessions.into_iter().map(Op::DeleteSession));
            self.apply(&ops)?;
        }
        Ok(loaded)
    }

    fn apply(&self, ops: &[Op]) -> Result<(), StoreError> {
        let tx = self.db.begin_write().map_err(engine)?;
        {
            let mut retained = tx.open_table(RETAINED).map_err(engine)?;
            let mut sessions = tx.open_table(SESSIONS).map_err(engine)?;
            let mut queue = tx.open_table(QUEUE).map_err(engine)?;
            let mut buf = BytesMut::new();
            for op in ops {
                buf.clear();
                match op {
                    Op::PutRetained(m) => {
                        encode_message(m, &mut buf)?;
                        retained.insert(&*m.topic, &buf[..]).map_err(engine)?;
                    }
                    Op::DeleteRetained(topic) => {
                        retained.remove(&**topic).map_err(engine)?;
                    }
                    Op::PutSession(r) => {
                        encode_session(r, &mut buf);
                        sessions.insert(r.id, &buf[..]).map_err(engine)?;
                    }
                    Op::DeleteSession(id) => {
                        sessions.remove(id).map_err(engine)?;
                        queue
                            .retain_in((*id, 0)..=(*id, u64::MAX), |_, _| false)
                            .map_err(engine)?;
                    }
                    Op::PutQueued {
                        session,
                        seq,
                        message,
                    } => {
                        encode_queued(message, &mut buf)?;
                        queue.insert((*session, *seq), &buf[..]).map_err(engine)?;
                    }
                    Op::RemoveQueued { session, seq } => {
                        queue.remove((*session, *seq)).map_err(engine)?;
                    }
                }
            }
        }
        tx.commit().map_err(engine)
    }
}

fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Header (expiry deadline, 0 = none) + PUBLISH.
fn encode_message(m: &Message, buf: &mut BytesMut) -> Result<(), StoreError> {
    let deadline = m.expires_at.map_or(0, |at| {
        let left = at.saturating_duration_since(Instant::now());
        unix_millis(SystemTime::now() + left).max(1)
    });
    buf.put_u64(deadline);
    let p = Packet::Publish(Publish {
        dup: false,
        qos: m.qos,
        retain: m.retain,
        topic: m.topic.clone(),
        packet_id: (m.qos != QoS::AtMostOnce).then_some(1),
        properties: m.properties.clone(),
        payload: m.payload.clone(),
    });
    encode(&p, Protocol::V5, buf).map_err(|_| StoreError::Corrupt { what: "message" })
}

/// The message, or `None` if it expired before `now`.
fn decode_message(bytes: &[u8], now: SystemTime) -> Result<Option<Arc<Message>>, StoreError> {
    let corrupt = StoreError::Corrupt { what: "message" };
    let mut b = bytes;
    if b.remaining() < 8 {
        return Err(corrupt);
    }
    let deadline = b.get_u64();
    let expires_at = if deadline == 0 {
        None
    } else {
        let at = UNIX_EPOCH + Duration::from_millis(deadline);
        match at.duration_since(now) {
            Ok(left) if !left.is_zero() => Some(Instant::now() + left),
            _ => return Ok(None),
        }
    };
    let mut packet = BytesMut::from(b);
    let Ok(Some(Packet::Publish(p))) = decode(&mut packet, Some(Protocol::V5), usize::MAX) else {
        return Err(corrupt);
    };
    Ok(Some(Arc::new(Message {
        topic: p.topic,
        payload: p.payload,
        qos: p.qos,
        retain: p.retain,
        properties: p.properties,
        expires_at,
        publisher: None,
    })))
}

/// QoS, RETAIN, identifiers, then the message.
fn encode_queued(q: &QueuedMessage, buf: &mut BytesMut) -> Result<(), StoreError> {
    buf.put_u8(q.qos as u8);
    buf.put_u8(u8::from(q.retain));
    buf.put_u16(u16::try_from(q.identifiers.len()).unwrap_or(u16::MAX));
    for id in q.identifiers.iter().take(usize::from(u16::MAX)) {
        buf.put_u32(*id);
    }
    encode_message(&q.msg, buf)
}

fn decode_queued(bytes: &[u8], now: SystemTime) -> Result<Option<QueuedMessage>, StoreError> {
    let corrupt = || StoreError::Corrupt {
        what: "queued message",
    };
    let mut b = bytes;
    if b.remaining() < 4 {
        return Err(corrupt());
    }
    let qos = QoS::from_u8(b.get_u8()).ok_or_else(corrupt)?;
    let retain = b.get_u8() != 0;
    let n = usize::from(b.get_u16());
    if b.remaining() < n * 4 {
        return Err(corrupt());
    }
    let identifiers = (0..n).map(|_| b.get_u32()).collect();
    Ok(decode_message(b, now)?.map(|msg| QueuedMessage {
        msg,
        qos,
        retain,
        identifiers,
    }))
}

fn put_str(buf: &mut BytesMut, s: &str) {
    buf.put_u32(u32::try_from(s.len()).unwrap_or(u32::MAX));
    buf.put_slice(s.as_bytes());
}

fn encode_session(r: &SessionRecord, buf: &mut BytesMut) {
    buf.put_u8(SESSION_V1);
    buf.put_u64(r.id);
    put_str(buf, &r.username);
    put_str(buf, &r.client_id);
    buf.put_u32(r.expiry_secs);
    buf.put_u64(r.disconnected_at.map_or(0, |t| unix_millis(t).max(1)));
    buf.put_u32(u32::try_from(r.subscriptions.len()).unwrap_or(u32::MAX));
    for (filter, sub) in &r.subscriptions {
        put_str(buf, filter);
        let o = sub.options;
        buf.put_u8(o.qos as u8);
        buf.put_u8(u8::from(o.no_local) | (u8::from(o.retain_as_published) << 1));
        buf.put_u8(o.retain_handling as u8);
        match sub.identifier {
            Some(id) => {
                buf.put_u8(1);
                buf.put_u32(id);
            }
            None => buf.put_u8(0),
        }
    }
}

/// A cursor that fails instead of panicking on short input.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn need(&self, n: usize) -> Result<(), StoreError> {
        if self.0.remaining() < n {
            Err(StoreError::Corrupt { what: "session" })
        } else {
            Ok(())
        }
    }
    fn u8(&mut self) -> Result<u8, StoreError> {
        self.need(1)?;
        Ok(self.0.get_u8())
    }
    fn u32(&mut self) -> Result<u32, StoreError> {
        self.need(4)?;
        Ok(self.0.get_u32())
    }
    fn u64(&mut self) -> Result<u64, StoreError> {
        self.need(8)?;
        Ok(self.0.get_u64())
    }
    fn string(&mut self) -> Result<String, StoreError> {
        let n = self.u32()? as usize;
        self.need(n)?;
        let (s, rest) = self.0.split_at(n);
        self.0 = rest;
        String::from_utf8(s.to_vec()).map_err(|_| StoreError::Corrupt { what: "session" })
    }
}

fn decode_session(bytes: &[u8]) -> Result<SessionRecord, StoreError> {
    let corrupt = || StoreError::Corrupt { what: "session" };
    let mut r = Reader(bytes);
    if r.u8()? != SESSION_V1 {
        return Err(corrupt());
    }
    let id = r.u64()?;
    let username: Arc<str> = Arc::from(r.string()?);
    let client_id = ByteString::from(r.string()?);
    let expiry_secs = r.u32()?;
    let at = r.u64()?;
    let disconnected_at = (at != 0).then(|| UNIX_EPOCH + Duration::from_millis(at));
    let n = r.u32()?;
    let mut subscriptions = Vec::with_capacity((n as usize).min(1024));
    for _ in 0..n {
        let filter = ByteString::from(r.string()?);
        let qos = QoS::from_u8(r.u8()?).ok_or_else(corrupt)?;
        let flags = r.u8()?;
        let retain_handling = match r.u8()? {
            0 => RetainHandling::SendAtSubscribe,
            1 => RetainHandling::SendIfNew,
            2 => RetainHandling::DoNotSend,
            _ => return Err(corrupt()),
        };
        let identifier = match r.u8()? {
            0 => None,
            _ => Some(r.u32()?),
        };
        subscriptions.push((
            filter,
            Subscription {
                options: SubscriptionOptions {
                    qos,
                    no_local: flags & 1 != 0,
                    retain_as_published: flags & 2 != 0,
                    retain_handling,
                },
                identifier,
            },
        ));
    }
    Ok(SessionRecord {
        id,
        username,
        client_id,
        expiry_secs,
        disconnected_at,
        subscriptions,
    })
}

#[cfg(test)]
mod tests {
    use agora_mqtt::Properties;
    use bytes::Bytes;
    use redb::ReadableTableMetadata;

    use super::*;

    fn payload(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    fn msg(topic: &'static str, body: &'static str, qos: QoS) -> Arc<Message> {
        let properties = Properties {
            content_type: Some(ByteString::from_static("text/plain")),
            ..Properties::default()
        };
        Arc::new(Message {
            topic: ByteString::from_static(topic),
            payload: payload(body),
            qos,
            retain: true,
            properties,
            expires_at: None,
            publisher: None,
        })
    }

    fn record(id: u64, expiry_secs: u32, disconnected_at: Option<SystemTime>) -> SessionRecord {
        SessionRecord {
            id,
            username: Arc::from("buyer"),
            client_id: ByteString::from(format!("c{id}")),
            expiry_secs,
            disconnected_at,
            subscriptions: vec![(
                ByteString::from_static("hub/+/temp"),
                Subscription {
                    options: SubscriptionOptions {
                        qos: QoS::AtLeastOnce,
                        no_local: true,
                        retain_as_published: false,
                        retain_handling: RetainHandling::SendIfNew,
                    },
                    identifier: Some(7),
                },
            )],
        }
    }

    fn queued(body: &'static str) -> QueuedMessage {
        QueuedMessage {
            msg: msg("hub/d/temp", body, QoS::AtLeastOnce),
            qos: QoS::AtLeastOnce,
            retain: false,
            identifiers: vec![7],
        }
    }

    #[test]
    fn retained_messages_sessions_and_queues_round_trip_through_the_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("broker.redb");
        let now = SystemTime::now();
        {
            let store = RedbStore::open(&path).expect("open");
            store
                .apply(&[
                    Op::PutRetained(msg("a/b", "1", QoS::AtMostOnce)),
                    Op::PutRetained(msg("a/c", "2", QoS::AtLeastOnce)),
                    Op::DeleteRetained(ByteString::from_static("a/c")),
                    Op::PutSession(record(3, 600, Some(now))),
                    Op::PutQueued {
                        session: 3,
                        seq: 1,
                        message: queued("x"),
                    },
                    Op::PutQueued {
                        session: 3,
                        seq: 2,
                        message: queued("y"),
                    },
                    Op::PutQueued {
                        session: 3,
                        seq: 3,
                        message: queued("z"),
                    },
                    Op::RemoveQueued { session: 3, seq: 2 },
                ])
                .expect("apply");
        }
        let store = RedbStore::open(&path).expect("reopen");
        let loaded = store.load(now).expect("load");
        assert_eq!(loaded.retained.len(), 1);
        assert_eq!(*loaded.retained[0], *msg("a/b", "1", QoS::AtMostOnce));
        assert_eq!(loaded.sessions.len(), 1);
        let (rec, queue) = &loaded.sessions[0];
        let mut expected = record(3, 600, Some(now));
        // Stored at millisecond precision.
        expected.disconnected_at = Some(UNIX_EPOCH + Duration::from_millis(unix_millis(now)));
        assert_eq!(*rec, expected);
        let seqs: Vec<_> = queue
            .iter()
            .map(|(s, m)| (*s, m.msg.payload.clone()))
            .collect();
        assert_eq!(seqs, vec![(1, payload("x")), (3, payload("z"))]);
        assert_eq!(queue[0].1, queued("x"));
    }

    #[test]
    fn sessions_whose_expiry_passed_while_down_are_dropped_at_load_with_their_queue() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("broker.redb");
        let now = SystemTime::now();
        let store = RedbStore::open(&path).expect("open");
        store
            .apply(&[
                Op::PutSession(record(1, 60, Some(now - Duration::from_secs(61)))),
                Op::PutQueued {
                    session: 1,
                    seq: 1,
                    message: queued("old"),
                },
                Op::PutSession(record(2, 60, Some(now - Duration::from_secs(30)))),
                // Connected when the process died: its expiry starts at load.
                Op::PutSession(record(4, 60, None)),
            ])
            .expect("apply");
        let ids: Vec<_> = store
            .load(now)
            .expect("load")
            .sessions
            .iter()
            .map(|(r, _)| r.id)
            .collect();
        assert_eq!(ids.len(), 2);
        assert!(ids.contains(&2) && ids.contains(&4));
        // And gone from the file, queue included.
        let again = store.load(now - Duration::from_secs(3600)).expect("load");
        assert_eq!(again.sessions.len(), 2);
        let tx = store.db.begin_read().expect("read");
        let queue = tx.open_table(QUEUE).expect("queue");
        assert_eq!(queue.len().expect("len"), 0);
    }

    #[test]
    fn expired_messages_are_not_loaded() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = RedbStore::open(&dir.path().join("b.redb")).expect("open");
        let mut m = (*msg("a/b", "1", QoS::AtMostOnce)).clone();
        m.expires_at = Some(Instant::now() + Duration::from_secs(5));
        store.apply(&[Op::PutRetained(Arc::new(m))]).expect("apply");
        let now = SystemTime::now();
        assert_eq!(store.load(now).expect("load").retained.len(), 1);
        let later = now + Duration::from_secs(10);
        assert!(store.load(later).expect("load").retained.is_empty());
    }

    #[test]
    fn a_truncated_session_record_is_corrupt_not_a_panic() {
        let mut buf = BytesMut::new();
        encode_session(&record(1, 5, None), &mut buf);
        for n in 0..buf.len() {
            assert!(decode_session(&buf[..n]).is_err(), "prefix of {n} bytes");
        }
        assert!(decode_queued(&[1, 0, 0xff, 0xff], SystemTime::now()).is_err());
    }
}
