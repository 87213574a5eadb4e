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
use std::sync::Arc;

use agora_mqtt::ByteString;

use crate::SessionId;
use crate::session::Session;

/// The key of a session: (user name, client id).
pub(crate) type SessionKey = (Arc<str>, ByteString);

/// Sessions by key and by id.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    by_key: HashMap<SessionKey, Arc<Session>>,
    by_id: HashMap<SessionId, Arc<Session>>,
}

impl Registry {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn get(&self, key: &SessionKey) -> Option<&Arc<Session>> {
        self.by_key.get(key)
    }

    pub(crate) fn by_id(&self, id: SessionId) -> Option<&Arc<Session>> {
        self.by_id.get(&id)
    }

    /// Adds `session`, returning the one it replaces under the same key.
    pub(crate) fn insert(&mut self, session: Arc<Session>) -> Option<Arc<Session>> {
        let key = (Arc::clone(&session.username), session.client_id.clone());
        self.by_id.insert(session.id, Arc::clone(&session));
        let old = self.by_key.insert(key, session);
        if let Some(old) = &old {
            self.by_id.remove(&old.id);
        }
        old
    }

    /// Removes `session` if it is still the one registered under its key.
    pub(crate) fn remove(&mut self, session: &Session) -> bool {
        let key = (Arc::clone(&session.username), session.client_id.clone());
        match self.by_key.get(&key) {
            Some(current) if current.id == session.id => {
                self.by_key.remove(&key);
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
