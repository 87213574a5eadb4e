//! Every session the broker knows, connected or stored, found by its key
//! (user name, client identifier) at CONNECT and by its [`SessionId`] on the
//! publish path.
//!
//! Keying by user name as well as client id is what stops one account from
//! taking over, or reading, another's session by choosing the same client id
//! (SPEC §4): `("alice", "c1")` and `("bob", "c1")` are different sessions.
//!
//! The table sits behind one `parking_lot::RwLock`: every publish takes the
//! read side to find its receivers, connects and disconnects take the write
//! side briefly. Lock order, everywhere: registry, then the router or a
//! session's state; never the registry while holding either.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use agora_mqtt::ByteString;
use hashbrown::HashTable;

use crate::SessionId;
use crate::session::Session;

/// The key of a session: (user name, client id).
pub(crate) type SessionKey = (Arc<str>, ByteString);

/// Sessions by key and by id.
///
/// The key table holds only the `Arc`s (8 bytes a slot) and hashes the key
/// from the session itself: a map keyed by a copy of (user name, client id)
/// took 56 bytes a slot, for every session.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_key: HashTable<Arc<Session>>,
    hasher: RandomState,
    by_id: HashMap<SessionId, Arc<Session>>,
}

fn is_key(s: &Session, user: &str, client_id: &str) -> bool {
    &*s.username == user && &*s.client_id == client_id
}

impl Registry {
    fn hash(&self, user: &str, client_id: &str) -> u64 {
        self.hasher.hash_one((user, client_id))
    }

    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn get(&self, key: &SessionKey) -> Option<&Arc<Session>> {
        let hash = self.hash(&key.0, &key.1);
        self.by_key.find(hash, |s| is_key(s, &key.0, &key.1))
    }

    pub(crate) fn by_id(&self, id: SessionId) -> Option<&Arc<Session>> {
        self.by_id.get(&id)
    }

    /// Adds `session`, returning the one it replaces under the same key.
    pub(crate) fn insert(&mut self, session: Arc<Session>) -> Option<Arc<Session>> {
        self.by_id.insert(session.id, Arc::clone(&session));
        let hash = self.hash(&session.username, &session.client_id);
        let hasher = &self.hasher;
        let entry = self.by_key.entry(
            hash,
            |s| is_key(s, &session.username, &session.client_id),
            |s| hasher.hash_one((&*s.username, &*s.client_id)),
        );
        let old = match entry {
            hashbrown::hash_table::Entry::Occupied(mut e) => {
                Some(std::mem::replace(e.get_mut(), session))
            }
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert(session);
                None
            }
        };
        if let Some(old) = &old {
            self.by_id.remove(&old.id);
        }
        old
    }

    /// Removes `session` if it is still the one registered under its key.
    pub(crate) fn remove(&mut self, session: &Session) -> bool {
        let hash = self.hash(&session.username, &session.client_id);
        let found = self
            .by_key
            .find_entry(hash, |s| is_key(s, &session.username, &session.client_id));
        match found {
            Ok(current) if current.get().id == session.id => {
                current.remove();
                self.by_id.remove(&session.id);
                true
            }
            _ => false,
        }
    }

    pub(crate) fn sessions(&self) -> impl Iterator<Item = &Arc<Session>> {
        self.by_id.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Identity;

    #[test]
    fn two_users_with_the_same_client_id_have_two_sessions() {
        let mut r = Registry::default();
        let c1 = ByteString::from_static("c1");
        assert!(
            r.insert(Arc::new(Session::new(
                1,
                Identity::new("alice"),
                c1.clone()
            )))
            .is_none()
        );
        assert!(
            r.insert(Arc::new(Session::new(2, Identity::new("bob"), c1.clone())))
                .is_none()
        );
        assert_eq!(r.len(), 2);
        let alice = r.get(&(Arc::from("alice"), c1.clone())).map(|s| s.id);
        assert_eq!(alice, Some(1));
        let replaced = r.insert(Arc::new(Session::new(
            3,
            Identity::new("alice"),
            c1.clone(),
        )));
        assert_eq!(replaced.map(|s| s.id), Some(1));
        assert!(r.by_id(1).is_none());
        assert_eq!(r.len(), 2);
    }

    #[test]
    fn removing_a_replaced_session_leaves_its_successor_alone() {
        let mut r = Registry::default();
        let c1 = ByteString::from_static("c1");
        let old = Arc::new(Session::new(1, Identity::new("alice"), c1.clone()));
        r.insert(Arc::clone(&old));
        r.insert(Arc::new(Session::new(2, Identity::new("alice"), c1)));
        assert!(!r.remove(&old));
        assert_eq!(r.len(), 1);
        assert!(r.by_id(2).is_some());
    }
}
