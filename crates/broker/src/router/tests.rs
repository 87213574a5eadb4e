//! Unit tests of the trie, and a property test against a brute-force oracle
//! built on `agora_mqtt::topic::matches`.

use std::collections::{BTreeMap, HashMap};

use agora_mqtt::topic::{matches, split_shared};
use proptest::prelude::*;

use super::*;

fn sub(qos: QoS) -> Subscription {
    Subscription {
        options: SubscriptionOptions {
            qos,
            ..SubscriptionOptions::default()
        },
        identifier: None,
    }
}

fn sub_id(qos: QoS, id: u32) -> Subscription {
    Subscription {
        identifier: Some(id),
        ..sub(qos)
    }
}

fn sessions(router: &Router, topic: &str) -> Vec<SessionId> {
    let mut out = Vec::new();
    router.route(topic, &mut out);
    out.iter().map(|r| r.session).collect()
}

#[test]
fn exact_filter_matches_only_its_topic() {
    let mut r = Router::new();
    assert!(!r.subscribe(1, "a/b", sub(QoS::AtMostOnce)));
    assert_eq!(sessions(&r, "a/b"), vec![1]);
    assert!(sessions(&r, "a").is_empty());
    assert!(sessions(&r, "a/b/c").is_empty());
    assert!(sessions(&r, "a/c").is_empty());
    assert!(sessions(&r, "/a/b").is_empty());
}

#[test]
fn plus_matches_exactly_one_level_including_an_empty_one() {
    let mut r = Router::new();
    r.subscribe(1, "a/+/c", sub(QoS::AtMostOnce));
    r.subscribe(2, "+", sub(QoS::AtMostOnce));
    assert_eq!(sessions(&r, "a/x/c"), vec![1]);
    assert_eq!(sessions(&r, "a//c"), vec![1]);
    assert!(sessions(&r, "a/x/y/c").is_empty());
    assert!(sessions(&r, "a/c").is_empty());
    assert_eq!(sessions(&r, "x"), vec![2]);
    assert!(sessions(&r, "x/y").is_empty());
    assert!(sessions(&r, "/x").is_empty(), "'/x' has two levels");
}

#[test]
fn hash_matches_the_parent_level_and_everything_below() {
    let mut r = Router::new();
    r.subscribe(1, "a/#", sub(QoS::AtMostOnce));
    r.subscribe(2, "#", sub(QoS::AtMostOnce));
    assert_eq!(sessions(&r, "a"), vec![1, 2]);
    assert_eq!(sessions(&r, "a/b"), vec![1, 2]);
    assert_eq!(sessions(&r, "a/b/c/d"), vec![1, 2]);
    assert_eq!(sessions(&r, "b"), vec![2]);
    assert_eq!(sessions(&r, "/"), vec![2]);
}

#[test]
fn wildcard_first_filters_never_match_dollar_topics() {
    let mut r = Router::new();
    r.subscribe(1, "#", sub(QoS::AtMostOnce));
    r.subscribe(2, "+/info", sub(QoS::AtMostOnce));
    r.subscribe(3, "$SYS/#", sub(QoS::AtMostOnce));
    r.subscribe(4, "$SYS/+", sub(QoS::AtMostOnce));
    assert_eq!(sessions(&r, "$SYS/info"), vec![3, 4]);
    assert_eq!(sessions(&r, "$SYS"), vec![3]);
    // '$' only matters as the first character of the topic.
    assert_eq!(sessions(&r, "x/info"), vec![1, 2]);
    r.subscribe(5, "a/+", sub(QoS::AtMostOnce));
    assert_eq!(sessions(&r, "a/$b"), vec![1, 5]);
}

#[test]
fn overlapping_filters_of_one_session_merge_into_one_route() {
    let mut r = Router::new();
    r.subscribe(7, "a/+", sub_id(QoS::AtMostOnce, 5));
    r.subscribe(7, "a/#", sub_id(QoS::ExactlyOnce, 2));
    r.subscribe(
        7,
        "a/b",
        Subscription {
            options: SubscriptionOptions {
                qos: QoS::AtLeastOnce,
                retain_as_published: true,
                no_local: true,
                ..SubscriptionOptions::default()
            },
            identifier: Some(5),
        },
    );
    r.subscribe(8, "a/b", sub(QoS::AtMostOnce));
    let mut out = Vec::new();
    r.route("a/b", &mut out);
    assert_eq!(
        out,
        vec![
            Route {
                session: 7,
                qos: QoS::ExactlyOnce,
                retain_as_published: true,
                no_local: false,
                identifiers: vec![2, 5],
            },
            Route {
                session: 8,
                qos: QoS::AtMostOnce,
                retain_as_published: false,
                no_local: false,
                identifiers: vec![],
            },
        ]
    );
}

#[test]
fn no_local_survives_the_merge_only_when_every_subscription_asks_for_it() {
    let mut r = Router::new();
    let nl = |qos| Subscription {
        options: SubscriptionOptions {
            qos,
            no_local: true,
            ..SubscriptionOptions::default()
        },
        identifier: None,
    };
    r.subscribe(1, "a/+", nl(QoS::AtMostOnce));
    r.subscribe(1, "a/#", nl(QoS::AtLeastOnce));
    let mut out = Vec::new();
    r.route("a/b", &mut out);
    assert_eq!(out.len(), 1);
    assert!(out[0].no_local);
    assert_eq!(out[0].qos, QoS::AtLeastOnce);
}

#[test]
fn route_from_leaves_out_the_publishers_no_local_subscriptions_before_merging() {
    let mut r = Router::new();
    r.subscribe(
        1,
        "a/+",
        Subscription {
            options: SubscriptionOptions {
                qos: QoS::ExactlyOnce,
                no_local: true,
                ..SubscriptionOptions::default()
            },
            identifier: Some(9),
        },
    );
    r.subscribe(1, "a/b", sub_id(QoS::AtMostOnce, 3));
    r.subscribe(2, "a/+", sub(QoS::AtMostOnce));
    let mut out = Vec::new();
    r.route_from("a/b", Some(1), &mut out);
    assert_eq!(out.len(), 2);
    assert_eq!(
        (out[0].session, out[0].qos, out[0].identifiers.clone()),
        (1, QoS::AtMostOnce, vec![3])
    );
    // Someone else publishing: both subscriptions of session 1 count.
    r.route_from("a/b", Some(2), &mut out);
    assert_eq!(
        (out[0].session, out[0].qos, out[0].identifiers.clone()),
        (1, QoS::ExactlyOnce, vec![3, 9])
    );
    // Only No Local subscriptions match: the publisher gets nothing.
    r.route_from("a/c", Some(1), &mut out);
    assert_eq!(out.iter().map(|r| r.session).collect::<Vec<_>>(), vec![2]);
}

#[test]
fn subscribing_again_replaces_the_options_and_reports_it() {
    let mut r = Router::new();
    assert!(!r.subscribe(1, "a/b", sub(QoS::AtMostOnce)));
    assert!(r.subscribe(1, "a/b", sub(QoS::ExactlyOnce)));
    assert_eq!(r.subscription_count(), 1);
    let mut out = Vec::new();
    r.route("a/b", &mut out);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].qos, QoS::ExactlyOnce);
}

#[test]
fn unsubscribing_what_does_not_exist_returns_false() {
    let mut r = Router::new();
    r.subscribe(1, "a/b", sub(QoS::AtMostOnce));
    assert!(!r.unsubscribe(2, "a/b"));
    assert!(!r.unsubscribe(1, "a/c"));
    assert!(!r.unsubscribe(1, "a/b/c"));
    assert!(!r.unsubscribe(1, "$share/g/a/b"));
    assert!(r.unsubscribe(1, "a/b"));
    assert!(!r.unsubscribe(1, "a/b"));
    assert_eq!(r.subscription_count(), 0);
}

#[test]
fn unsubscribing_prunes_empty_nodes_so_churn_does_not_grow_the_trie() {
    let mut r = Router::new();
    r.subscribe(1, "keep/x", sub(QoS::AtMostOnce));
    let baseline = r.node_count();
    for round in 0..50u64 {
        for (i, f) in ["a/b/c", "a/+/c", "a/#", "$share/g/a/b", "x//y", "#", "+"]
            .iter()
            .enumerate()
        {
            r.subscribe(round * 10 + i as u64, f, sub(QoS::AtMostOnce));
        }
        assert!(r.node_count() > baseline);
        for (i, f) in ["a/b/c", "a/+/c", "a/#", "$share/g/a/b", "x//y", "#", "+"]
            .iter()
            .enumerate()
        {
            assert!(r.unsubscribe(round * 10 + i as u64, f), "{f}");
        }
        assert_eq!(r.node_count(), baseline, "round {round}");
    }
    // The arena does not grow past its high-water mark either: freed slots are reused.
    assert!(r.nodes.len() <= baseline + 16);
    assert_eq!(sessions(&r, "keep/x"), vec![1]);
    assert!(r.unsubscribe(1, "keep/x"));
    assert_eq!(r.node_count(), 1);
    assert!(r.is_empty());
}

#[test]
fn shared_group_delivers_to_one_member_round_robin() {
    let mut r = Router::new();
    for s in [10, 20, 30] {
        r.subscribe(s, "$share/g/a/+", sub(QoS::AtLeastOnce));
    }
    let picks: Vec<SessionId> = (0..6).flat_map(|_| sessions(&r, "a/b")).collect();
    assert_eq!(picks.len(), 6);
    for s in [10, 20, 30] {
        assert_eq!(picks.iter().filter(|p| **p == s).count(), 2, "{picks:?}");
    }
    // Consecutive picks differ: a rotation, not a random draw.
    assert_eq!(&picks[0..3], &picks[3..6]);
    assert!(sessions(&r, "b/b").is_empty());
}

#[test]
fn each_shared_group_and_each_non_shared_subscription_gets_its_own_copy() {
    let mut r = Router::new();
    r.subscribe(1, "$share/g1/a/b", sub(QoS::AtMostOnce));
    r.subscribe(1, "$share/g2/a/#", sub_id(QoS::AtLeastOnce, 4));
    r.subscribe(1, "a/b", sub(QoS::ExactlyOnce));
    r.subscribe(2, "a/b", sub(QoS::AtMostOnce));
    assert_eq!(r.subscription_count(), 4);
    let mut out = Vec::new();
    r.route("a/b", &mut out);
    // Non-shared routes first, merged and sorted; then one per group.
    assert_eq!(out.len(), 4, "{out:?}");
    assert_eq!((out[0].session, out[0].qos), (1, QoS::ExactlyOnce));
    assert_eq!(out[1].session, 2);
    let mut shared: Vec<_> = out[2..]
        .iter()
        .map(|r| (r.session, r.qos, r.identifiers.clone()))
        .collect();
    shared.sort();
    assert_eq!(
        shared,
        vec![(1, QoS::AtMostOnce, vec![]), (1, QoS::AtLeastOnce, vec![4])]
    );
}

#[test]
fn shared_group_members_leave_and_the_group_disappears_with_the_last() {
    let mut r = Router::new();
    r.subscribe(1, "$share/g/t", sub(QoS::AtMostOnce));
    assert!(r.subscribe(1, "$share/g/t", sub(QoS::AtLeastOnce)));
    r.subscribe(2, "$share/g/t", sub(QoS::AtMostOnce));
    assert!(r.unsubscribe(1, "$share/g/t"));
    for _ in 0..3 {
        assert_eq!(sessions(&r, "t"), vec![2]);
    }
    assert!(!r.unsubscribe(1, "$share/g/t"));
    assert!(!r.unsubscribe(2, "$share/other/t"));
    assert!(r.unsubscribe(2, "$share/g/t"));
    assert!(sessions(&r, "t").is_empty());
    assert_eq!(r.node_count(), 1);
}

#[test]
fn shared_wildcard_filters_also_honour_the_dollar_rule() {
    let mut r = Router::new();
    r.subscribe(1, "$share/g/#", sub(QoS::AtMostOnce));
    assert!(sessions(&r, "$SYS/x").is_empty());
    assert_eq!(sessions(&r, "x"), vec![1]);
}

#[test]
fn out_is_cleared_before_routing() {
    let mut r = Router::new();
    r.subscribe(1, "a", sub(QoS::AtMostOnce));
    let mut out = vec![Route::new(99, &sub(QoS::AtMostOnce))];
    r.route("b", &mut out);
    assert!(out.is_empty());
}

#[test]
fn invalid_filters_are_stored_as_literals_that_never_match() {
    let mut r = Router::new();
    r.subscribe(1, "a/#/b", sub(QoS::AtMostOnce));
    r.subscribe(1, "a/b+", sub(QoS::AtMostOnce));
    assert!(sessions(&r, "a/x/b").is_empty());
    assert!(sessions(&r, "a/b").is_empty());
    assert!(r.unsubscribe(1, "a/#/b"));
    assert!(r.unsubscribe(1, "a/b+"));
    assert_eq!(r.node_count(), 1);
}

#[test]
fn a_very_deep_filter_routes_without_recursion() {
    // 30 000 levels: recursion per level would overflow a 2 MiB stack in a
    // debug build; the explicit frame stack does not care.
    let levels = 30_000;
    let filter = vec!["+"; levels].join("/");
    let topic = vec!["x"; levels].join("/");
    let mut r = Router::new();
    r.subscribe(1, &filter, sub(QoS::AtMostOnce));
    assert_eq!(sessions(&r, &topic), vec![1]);
    assert!(sessions(&r, &topic[2..]).is_empty());
    assert!(r.unsubscribe(1, &filter));
    assert_eq!(r.node_count(), 1);
}

// ---- property test against a brute-force oracle -------------------------------

/// Filters over a tiny alphabet so that random filters and topics collide often.
fn filter_strategy() -> impl Strategy<Value = String> {
    let level = prop::sample::select(vec!["a", "b", "$x", "", "+"]);
    let inner = (prop::collection::vec(level, 1..4), any::<bool>()).prop_map(|(levels, hash)| {
        let mut f = levels.join("/");
        if hash {
            f.push_str("/#");
        }
        f
    });
    prop_oneof![
        4 => inner.clone(),
        1 => Just("#".to_string()),
        1 => (prop::sample::select(vec!["g1", "g2"]), inner)
            .prop_map(|(g, f)| format!("$share/{g}/{f}")),
    ]
}

fn topic_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(vec!["a", "b", "$x", ""]), 1..5)
        .prop_map(|levels| levels.join("/"))
        .prop_filter("topic names are non-empty", |t| !t.is_empty())
}

#[derive(Debug, Clone)]
enum Op {
    Subscribe(SessionId, String, u8, Option<u32>),
    Unsubscribe(SessionId, String),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..5u64, filter_strategy(), 0..3u8, prop::option::of(1..4u32))
            .prop_map(|(s, f, q, id)| Op::Subscribe(s, f, q, id)),
        1 => (0..5u64, filter_strategy()).prop_map(|(s, f)| Op::Unsubscribe(s, f)),
    ]
}

proptest! {
    #[test]
    fn route_yields_exactly_the_sessions_whose_filters_match(
        ops in prop::collection::vec(op_strategy(), 1..40),
        topics in prop::collection::vec(topic_strategy(), 1..8),
    ) {
        let mut router = Router::new();
        let mut model: BTreeMap<(SessionId, String), Subscription> = BTreeMap::new();
        for op in &ops {
            match op {
                Op::Subscribe(s, f, q, id) => {
                    let sub = sub_id_opt(*q, *id);
                    let existed = model.insert((*s, f.clone()), sub).is_some();
                    prop_assert_eq!(router.subscribe(*s, f, sub), existed);
                }
                Op::Unsubscribe(s, f) => {
                    let existed = model.remove(&(*s, f.clone())).is_some();
                    prop_assert_eq!(router.unsubscribe(*s, f), existed);
                }
            }
            prop_assert_eq!(router.subscription_count(), model.len());
        }

        let mut out = Vec::new();
        for topic in &topics {
            router.route(topic, &mut out);

            // Oracle, non-shared part: merge every matching subscription per session.
            let mut expected: BTreeMap<SessionId, Route> = BTreeMap::new();
            // Shared part: matching groups, keyed by (group, inner filter), with members.
            let mut groups: HashMap<(String, String), Vec<(SessionId, QoS)>> = HashMap::new();
            for ((s, f), sub) in &model {
                if !matches(f, topic) {
                    continue;
                }
                if let Some((g, inner)) = split_shared(f) {
                    groups.entry((g.to_string(), inner.to_string())).or_default().push((*s, sub.options.qos));
                    continue;
                }
                expected
                    .entry(*s)
                    .and_modify(|r| {
                        r.qos = r.qos.max(sub.options.qos);
                        r.identifiers.extend(sub.identifier);
                    })
                    .or_insert_with(|| Route::new(*s, sub));
            }
            let expected: Vec<Route> = expected
                .into_values()
                .map(|mut r| {
                    r.identifiers.sort_unstable();
                    r.identifiers.dedup();
                    r
                })
                .collect();
            let n = expected.len();
            prop_assert!(out.len() >= n, "topic {topic}: {out:?}");
            prop_assert_eq!(&out[..n], &expected[..], "topic {}", topic);

            // One route per matching group, for one of that group's members.
            prop_assert_eq!(out.len() - n, groups.len(), "topic {}: {:?}", topic, out);
            let groups: Vec<Vec<(SessionId, QoS)>> = groups.into_values().collect();
            let picks: Vec<(SessionId, QoS)> = out[n..].iter().map(|r| (r.session, r.qos)).collect();
            prop_assert!(
                assign(&picks, &groups, &mut vec![false; groups.len()]),
                "topic {}: shared routes {:?} are not one member of each group {:?}", topic, picks, groups
            );
        }

        // Removing everything leaves only the root.
        for (s, f) in model.keys() {
            prop_assert!(router.unsubscribe(*s, f));
        }
        prop_assert_eq!(router.node_count(), 1);
        prop_assert!(router.is_empty());
    }
}

fn sub_id_opt(q: u8, id: Option<u32>) -> Subscription {
    Subscription {
        options: SubscriptionOptions {
            qos: QoS::from_u8(q).unwrap_or_default(),
            ..SubscriptionOptions::default()
        },
        identifier: id,
    }
}

/// Whether each pick can be paired with a distinct group it is a member of
/// (a small bipartite matching by backtracking; groups are few here).
fn assign(picks: &[(SessionId, QoS)], groups: &[Vec<(SessionId, QoS)>], used: &mut [bool]) -> bool {
    let Some((first, rest)) = picks.split_first() else {
        return true;
    };
    for i in 0..groups.len() {
        if !used[i] && groups[i].contains(first) {
            used[i] = true;
            if assign(rest, groups, used) {
                return true;
            }
            used[i] = false;
        }
    }
    false
}

#[test]
fn a_shared_group_prefers_members_the_caller_prefers() {
    let mut r = Router::new();
    for s in 1..=3 {
        r.subscribe(s, "$share/g/t", sub(QoS::AtMostOnce));
    }
    let mut out = Vec::new();
    let mut picks = Vec::new();
    for _ in 0..4 {
        r.route_preferring("t", None, &mut out, |s| s != 2);
        picks.push(out[0].session);
    }
    assert!(!picks.contains(&2), "{picks:?}");
    assert!(picks.contains(&1) && picks.contains(&3), "{picks:?}");
    r.route_preferring("t", None, &mut out, |_| false);
    assert_eq!(
        out.len(),
        1,
        "with no preferred member the message still goes to one"
    );
}
