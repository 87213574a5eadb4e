//! Routing cost with 10 000 subscriptions: the per-PUBLISH price of the trie.
//!
//! The table mixes what a marketplace broker holds: exact device topics
//! (`hub{h}/dev{d}/temp`), per-hub wildcards (`hub{h}/+/temp`, `hub{h}/#`) and
//! a few shared groups, so a routed topic meets the exact, `+` and `#` paths.

#![allow(missing_docs)]

use std::hint::black_box;

use agora_broker::router::{Route, Router, Subscription};
use agora_mqtt::{QoS, SubscriptionOptions};
use criterion::{Criterion, criterion_group, criterion_main};

fn table() -> Router {
    let mut router = Router::new();
    let sub = Subscription {
        options: SubscriptionOptions {
            qos: QoS::AtLeastOnce,
            ..SubscriptionOptions::default()
        },
        identifier: None,
    };
    let mut session = 0u64;
    for hub in 0..100 {
        for dev in 0..97 {
            session += 1;
            router.subscribe(session, &format!("hub{hub}/dev{dev}/temp"), sub);
        }
        session += 1;
        router.subscribe(session, &format!("hub{hub}/+/temp"), sub);
        session += 1;
        router.subscribe(session, &format!("hub{hub}/#"), sub);
        session += 1;
        router.subscribe(session, &format!("$share/workers/hub{hub}/#"), sub);
    }
    assert_eq!(router.subscription_count(), 10_000);
    router
}

fn route(c: &mut Criterion) {
    let router = table();
    let mut out: Vec<Route> = Vec::with_capacity(16);
    c.bench_function("route 1 topic among 10k subscriptions", |b| {
        b.iter(|| {
            router.route(black_box("hub42/dev17/temp"), &mut out);
            black_box(out.len())
        })
    });
    c.bench_function("route unmatched topic among 10k subscriptions", |b| {
        b.iter(|| {
            router.route(black_box("nohub/dev17/temp"), &mut out);
            black_box(out.len())
        })
    });
}

criterion_group!(benches, route);
criterion_main!(benches);
