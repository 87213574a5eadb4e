//! The subscription trie: which sessions receive a message published to a topic.
//!
//! Filters are stored level by level in a trie. Each node has exact-level
//! children in a hash map keyed by the level text, plus at most one `+` child
//! and one `#` child. A node holds the subscriptions whose filter ends there
//! (keyed by session, one per session) and the shared-subscription groups
//! (`$share/{group}/{filter}`) whose inner filter ends there. Routing a topic
//! walks its levels once, following at each node the exact child for the level
//! and the `+` child, and collecting the `#` child's subscribers (which match
//! any remainder, including none: `a/#` matches `a`). By [MQTT-4.7.2-1] the
//! root's `+` and `#` children are skipped for topics starting with `$`.
//!
//! Nodes live in an arena (`Vec<Node>` indexed by `u32`, with a free list), so
//! that the walk is an explicit loop over `(node, offset in topic)` frames
//! instead of recursion: a hostile subscriber with a 30 000-level `+/+/…`
//! filter cannot overflow the stack of whoever routes. The frame stack is a
//! per-thread scratch buffer reused across calls, so [`Router::route`]
//! allocates nothing beyond the caller's `out` (and the identifier lists of
//! routes whose subscriptions carry MQTT 5 subscription identifiers).
//! Unsubscribing prunes the nodes left empty, so memory follows the live
//! subscriptions, not their history.
//!
//! Overlapping subscriptions of one session (e.g. `a/+` and `a/#` for topic
//! `a/b`) give one [`Route`]: the maximum QoS ([MQTT-3.3.4-2]), every
//! subscription identifier ([MQTT-3.3.4-3]), `retain_as_published` if any of
//! them asks for it, and `no_local` only if all of them ask for it (a
//! subscription without No Local wants the session's own messages, so the
//! merged route must deliver them). [`Router::route_from`] is exact where that
//! merge is coarse: it leaves out the publisher's No Local subscriptions before
//! merging. Each shared group contributes one route of its own, for one member
//! picked round-robin, and is not merged with the member's non-shared
//! subscriptions: MQTT 5 §4.8.2 says such a client may get both copies.
//!
//! The router is not synchronised; the broker wraps it in a lock. Round-robin
//! counters are atomics so that routing needs only `&self` (a read lock).

mod subscribers;

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use agora_mqtt::topic::split_shared;
use agora_mqtt::{QoS, SubscriptionOptions};

use crate::SessionId;
use subscribers::SubscriberSet;

/// One subscription of a session to a filter: the SUBSCRIBE options and the
/// MQTT 5 subscription identifier, if the SUBSCRIBE carried one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Subscription {
    /// QoS, No Local, Retain As Published and Retain Handling as requested.
    pub options: SubscriptionOptions,
    /// Subscription Identifier (MQTT 5), echoed in every matching PUBLISH.
    pub identifier: Option<u32>,
}

/// One delivery decided by [`Router::route`]: a session and how to send it the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The receiving session.
    pub session: SessionId,
    /// Maximum QoS granted by the matching subscriptions; the delivery uses
    /// the minimum of this and the message's QoS.
    pub qos: QoS,
    /// Keep the message's RETAIN flag (MQTT 5 Retain As Published).
    pub retain_as_published: bool,
    /// Do not deliver if this session published the message (MQTT 5 No Local).
    pub no_local: bool,
    /// Subscription identifiers of the matching subscriptions, ascending, no duplicates.
    pub identifiers: Vec<u32>,
}

impl Route {
    fn new(session: SessionId, sub: &Subscription) -> Route {
        Route {
            session,
            qos: sub.options.qos,
            retain_as_published: sub.options.retain_as_published,
            no_local: sub.options.no_local,
            identifiers: sub.identifier.into_iter().collect(),
        }
    }
}

/// Index of a node in the arena.
type NodeId = u32;

/// The root node's index; it is never freed.
const ROOT: NodeId = 0;

/// One level of the trie.
#[derive(Debug, Default)]
struct Node {
    /// Children for literal levels (including the empty level of `a//b`).
    children: HashMap<Box<str>, NodeId>,
    /// Child for a `+` level.
    plus: Option<NodeId>,
    /// Child for a final `#` level; it never has children of its own.
    hash: Option<NodeId>,
    /// Non-shared subscriptions whose filter ends at this node.
    subs: SubscriberSet,
    /// Shared groups whose inner filter ends at this node.
    shared: Vec<SharedGroup>,
}

impl Node {
    fn is_empty(&self) -> bool {
        self.children.is_empty()
            && self.plus.is_none()
            && self.hash.is_none()
            && self.subs.is_empty()
            && self.shared.is_empty()
    }
}

/// The members of one `$share/{name}/{filter}` group.
#[derive(Debug)]
struct SharedGroup {
    name: Box<str>,
    members: SubscriberSet,
    /// Round-robin cursor; wraps, and is taken modulo the member count.
    next: AtomicUsize,
}

/// How a filter level leads from a node to its child.
#[derive(Debug, Clone, Copy)]
enum Edge<'a> {
    Exact(&'a str),
    Plus,
    Hash,
}

impl<'a> Edge<'a> {
    /// A filter level's edge. `#` is a wildcard only as the last level and `+`
    /// only alone in its level; anywhere else they are kept as literal text,
    /// which no valid topic name contains, so an invalid filter (the broker
    /// validates before subscribing) is stored harmlessly and never matches.
    fn of(level: &'a str, last: bool) -> Edge<'a> {
        match level {
            "+" => Edge::Plus,
            "#" if last => Edge::Hash,
            _ => Edge::Exact(level),
        }
    }
}

/// Per-thread buffers reused by [`Router::route`] so that routing does not allocate.
#[derive(Default)]
struct Scratch {
    /// Walk frames: a node and the byte offset in the topic of the next level
    /// to match (`topic.len() + 1` once every level is consumed).
    stack: Vec<(NodeId, usize)>,
    /// Shared groups matched: (node, index in its `shared`).
    shared: Vec<(NodeId, usize)>,
}

thread_local! {
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// Scratch buffers larger than this are dropped after use rather than kept
/// for the thread's lifetime, so one freak topic does not pin memory.
const SCRATCH_KEEP: usize = 4096;

/// The subscription table: filters → sessions, with shared groups.
///
/// Not internally synchronised except for the round-robin counters; the
/// broker wraps it in a read-write lock (route with `&self`, change with `&mut self`).
#[derive(Debug)]
pub struct Router {
    nodes: Vec<Node>,
    /// Arena slots freed by pruning, reused before the arena grows.
    free: Vec<NodeId>,
    subscriptions: usize,
}

impl Default for Router {
    fn default() -> Router {
        Router::new()
    }
}

impl Router {
    /// An empty router.
    pub fn new() -> Router {
        Router {
            nodes: vec![Node::default()],
            free: Vec::new(),
            subscriptions: 0,
        }
    }

    /// Number of (session, filter) subscriptions, shared ones included.
    pub fn subscription_count(&self) -> usize {
        self.subscriptions
    }

    /// Whether there are no subscriptions at all.
    pub fn is_empty(&self) -> bool {
        self.subscriptions == 0
    }

    /// Number of trie nodes in use (the root included); for statistics, and to
    /// show that unsubscribing gives memory back.
    pub fn node_count(&self) -> usize {
        self.nodes.len() - self.free.len()
    }

    /// Adds `session`'s subscription to `filter` (a valid topic filter, possibly
    /// `$share/{group}/{filter}`), or replaces the options of an existing one.
    ///
    /// Returns true if it replaced an existing subscription (what MQTT 5
    /// Retain Handling 1 needs to know), false if it is new.
    pub fn subscribe(&mut self, session: SessionId, filter: &str, sub: Subscription) -> bool {
        let (group, inner) = match split_shared(filter) {
            Some((group, inner)) => (Some(group), inner),
            None => (None, filter),
        };
        let mut node = ROOT;
        let mut levels = inner.split('/').peekable();
        while let Some(level) = levels.next() {
            let edge = Edge::of(level, levels.peek().is_none());
            node = match self.child(node, edge) {
                Some(child) => child,
                None => {
                    let child = self.alloc();
                    let parent = &mut self.nodes[node as usize];
                    match edge {
                        Edge::Exact(level) => {
                            parent.children.insert(level.into(), child);
                        }
                        Edge::Plus => parent.plus = Some(child),
                        Edge::Hash => parent.hash = Some(child),
                    }
                    child
                }
            };
        }
        let target = &mut self.nodes[node as usize];
        let replaced = match group {
            None => target.subs.insert(session, sub),
            Some(name) => {
                let index = match target.shared.iter().position(|g| &*g.name == name) {
                    Some(i) => i,
                    None => {
                        target.shared.push(SharedGroup {
                            name: name.into(),
                            members: SubscriberSet::default(),
                            next: AtomicUsize::new(0),
                        });
                        target.shared.len() - 1
                    }
                };
                target.shared[index].members.insert(session, sub)
            }
        };
        if !replaced {
            self.subscriptions += 1;
        }
        replaced
    }

    /// Removes `session`'s subscription to `filter` (spelled as subscribed,
    /// `$share/…` included) and prunes the trie nodes left empty.
    ///
    /// Returns false if there was no such subscription (MQTT 5 UNSUBACK 0x11).
    pub fn unsubscribe(&mut self, session: SessionId, filter: &str) -> bool {
        let (group, inner) = match split_shared(filter) {
            Some((group, inner)) => (Some(group), inner),
            None => (None, filter),
        };
        // The path is kept for pruning; unsubscribing is rare next to routing,
        // so this allocation is not worth a scratch buffer.
        let mut path: Vec<(NodeId, Edge<'_>)> = Vec::new();
        let mut node = ROOT;
        let mut levels = inner.split('/').peekable();
        while let Some(level) = levels.next() {
            let edge = Edge::of(level, levels.peek().is_none());
            let Some(child) = self.child(node, edge) else {
                return false;
            };
            path.push((node, edge));
            node = child;
        }
        let target = &mut self.nodes[node as usize];
        let removed = match group {
            None => target.subs.remove(session),
            Some(name) => match target.shared.iter().position(|g| &*g.name == name) {
                Some(i) => {
                    let removed = target.shared[i].members.remove(session);
                    if target.shared[i].members.is_empty() {
                        target.shared.swap_remove(i);
                    }
                    removed
                }
                None => false,
            },
        };
        if !removed {
            return false;
        }
        self.subscriptions -= 1;
        for (parent, edge) in path.into_iter().rev() {
            if !self.nodes[node as usize].is_empty() {
                break;
            }
            let p = &mut self.nodes[parent as usize];
            match edge {
                Edge::Exact(level) => {
                    p.children.remove(level);
                    if p.children.is_empty() {
                        // Give back the table's memory, not just its entries.
                        p.children = HashMap::new();
                    }
                }
                Edge::Plus => p.plus = None,
                Edge::Hash => p.hash = None,
            }
            self.release(node);
            node = parent;
        }
        true
    }

    /// The sessions that receive a message published to `topic` (a valid topic
    /// name), one [`Route`] per session with its matching non-shared
    /// subscriptions merged, plus one per matching shared group (a member
    /// picked round-robin). `out` is cleared first. Sorted by session, except
    /// that shared-group routes come after the others.
    pub fn route(&self, topic: &str, out: &mut Vec<Route>) {
        self.route_from(topic, None, out);
    }

    /// Like [`route`](Router::route), for a message published by `publisher`:
    /// that session's No Local subscriptions are left out before merging, so
    /// its other matching subscriptions decide QoS and identifiers exactly.
    /// Shared groups are unaffected (No Local on them is a protocol error,
    /// [MQTT-3.8.3-4]).
    pub fn route_from(&self, topic: &str, publisher: Option<SessionId>, out: &mut Vec<Route>) {
        self.route_preferring(topic, publisher, out, |_| true);
    }

    /// Like [`route_from`](Router::route_from), but a shared group skips
    /// members for which `prefer` is false when another member will do: the
    /// broker prefers connected members, so a persistent session that is
    /// offline does not collect a group's messages while its peers idle. If
    /// no member is preferred, the round-robin pick stands.
    pub fn route_preferring(
        &self,
        topic: &str,
        publisher: Option<SessionId>,
        out: &mut Vec<Route>,
        prefer: impl Fn(SessionId) -> bool,
    ) {
        out.clear();
        let mut scratch = SCRATCH.with(Cell::take);
        self.walk(topic, publisher, &mut scratch, out);
        merge_by_session(out);
        for &(node, index) in &scratch.shared {
            let group = &self.nodes[node as usize].shared[index];
            let members = group.members.entries();
            if members.is_empty() {
                continue; // empty groups are removed on unsubscribe; stay safe anyway
            }
            let start = group.next.fetch_add(1, Ordering::Relaxed) % members.len();
            let pick = (0..members.len())
                .map(|i| (start + i) % members.len())
                .find(|&i| prefer(members[i].0))
                .unwrap_or(start);
            if pick != start {
                // Resume the rotation after the member that took the message.
                group.next.store(pick + 1, Ordering::Relaxed);
            }
            let (session, sub) = &members[pick];
            out.push(Route::new(*session, sub));
        }
        scratch.stack.clear();
        scratch.shared.clear();
        if scratch.stack.capacity() <= SCRATCH_KEEP && scratch.shared.capacity() <= SCRATCH_KEEP {
            SCRATCH.with(|cell| cell.set(scratch));
        }
    }

    /// Collects every matching non-shared subscription into `out` (unmerged)
    /// and every matching shared group into `scratch.shared`.
    fn walk(
        &self,
        topic: &str,
        publisher: Option<SessionId>,
        scratch: &mut Scratch,
        out: &mut Vec<Route>,
    ) {
        let done = topic.len() + 1;
        let dollar = topic.starts_with('$');
        scratch.stack.push((ROOT, 0));
        while let Some((id, pos)) = scratch.stack.pop() {
            let node = &self.nodes[id as usize];
            // [MQTT-4.7.2-1]: filters starting with a wildcard never match `$` topics.
            let wildcards = !(dollar && id == ROOT);
            if wildcards && let Some(hash) = node.hash {
                self.collect(hash, publisher, scratch, out);
            }
            if pos == done {
                self.collect(id, publisher, scratch, out);
                continue;
            }
            let end = topic[pos..].find('/').map_or(topic.len(), |i| pos + i);
            let level = &topic[pos..end];
            if let Some(&child) = node.children.get(level) {
                scratch.stack.push((child, end + 1));
            }
            if wildcards && let Some(plus) = node.plus {
                scratch.stack.push((plus, end + 1));
            }
        }
    }

    /// Collects the subscriptions and shared groups that end at node `id`.
    fn collect(
        &self,
        id: NodeId,
        publisher: Option<SessionId>,
        scratch: &mut Scratch,
        out: &mut Vec<Route>,
    ) {
        let node = &self.nodes[id as usize];
        for (session, sub) in node.subs.entries() {
            if sub.options.no_local && publisher == Some(*session) {
                continue;
            }
            out.push(Route::new(*session, sub));
        }
        for index in 0..node.shared.len() {
            scratch.shared.push((id, index));
        }
    }

    fn child(&self, node: NodeId, edge: Edge<'_>) -> Option<NodeId> {
        let node = &self.nodes[node as usize];
        match edge {
            Edge::Exact(level) => node.children.get(level).copied(),
            Edge::Plus => node.plus,
            Edge::Hash => node.hash,
        }
    }

    fn alloc(&mut self) -> NodeId {
        if let Some(id) = self.free.pop() {
            return id;
        }
        self.nodes.push(Node::default());
        // Every node is reached by a distinct filter prefix, and a filter is at
        // most 65 535 bytes, so overflowing u32 would need billions of
        // subscriptions' worth of memory first.
        NodeId::try_from(self.nodes.len() - 1).expect("fewer than 2^32 trie nodes")
    }

    fn release(&mut self, id: NodeId) {
        // Replace, so the freed slot holds no tables until it is reused.
        self.nodes[id as usize] = Node::default();
        self.free.push(id);
    }
}

/// Sorts `out` by session and merges each session's routes into one: maximum
/// QoS, union of identifiers, Retain As Published if any, No Local only if all.
fn merge_by_session(out: &mut Vec<Route>) {
    if out.len() < 2 {
        return;
    }
    out.sort_unstable_by_key(|r| r.session);
    let mut w = 0;
    for r in 1..out.len() {
        if out[r].session == out[w].session {
            let identifiers = std::mem::take(&mut out[r].identifiers);
            let (qos, rap, no_local) = (out[r].qos, out[r].retain_as_published, out[r].no_local);
            let into = &mut out[w];
            into.qos = into.qos.max(qos);
            into.retain_as_published |= rap;
            into.no_local &= no_local;
            into.identifiers.extend(identifiers);
        } else {
            w += 1;
            out.swap(w, r);
        }
    }
    out.truncate(w + 1);
    for route in out.iter_mut() {
        if route.identifiers.len() > 1 {
            route.identifiers.sort_unstable();
            route.identifiers.dedup();
        }
    }
}

#[cfg(test)]
mod tests;
