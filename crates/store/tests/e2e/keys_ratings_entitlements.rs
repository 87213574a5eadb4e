use agora_market::{DeviceCredential, DeviceName, Label, MarketEvent, Plan, Stars};
use agora_store::{NewCredential, PageRequest, StoreError};
use time::{Duration, OffsetDateTime};

use crate::helpers::*;

fn label(s: &str) -> Label {
    Label::parse("name", s).expect("label")
}

#[tokio::test]
async fn access_keys_log_in_as_their_account_until_revoked() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    let (key, secret) = t
        .store
        .create_access_key(
            &bob,
            &label("sensor box"),
            std::slice::from_ref(&topic),
            None,
        )
        .await
        .expect("key");
    assert!(secret.expose().starts_with("agk_"));
    assert_eq!(key.products.len(), 1);
    assert_eq!(key.topics, vec![topic.clone()]);
    let (account, k) = t
        .store
        .authenticate_access_key("bob", secret.expose())
        .await
        .expect("auth");
    assert_eq!((account.name, k.id), (bob.name.clone(), key.id));
    assert!(
        matches!(
            t.store
                .authenticate_access_key("alice", secret.expose())
                .await,
            Err(StoreError::Unauthenticated)
        ),
        "key is bound to its account"
    );
    assert!(matches!(
        t.store.authenticate_access_key("bob", "agk_guess").await,
        Err(StoreError::Unauthenticated)
    ));
    assert!(matches!(
        t.store.revoke_access_key(&alice, key.id).await,
        Err(StoreError::NotFound { .. })
    ));
    let mut events = t.store.subscribe_events();
    let revoked = t
        .store
        .revoke_access_key(&bob, key.id)
        .await
        .expect("revoke");
    assert!(revoked.revoked_at.is_some());
    assert!(
        matches!(events.recv().await, Ok(MarketEvent::AccessKeyRevoked { key_id, .. }) if key_id == key.id)
    );
    assert!(matches!(
        t.store
            .authenticate_access_key("bob", secret.expose())
            .await,
        Err(StoreError::Unauthenticated)
    ));
    let listed = t
        .store
        .list_access_keys(&bob, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
}

#[tokio::test]
async fn access_keys_can_only_be_limited_to_existing_products() {
    let t = store().await;
    let (_, bob) = market(&t.store).await;
    let ghost = agora_market::ProductTopic::parse("alice/home/ghost").expect("topic");
    let err = t
        .store
        .create_access_key(&bob, &label("k"), &[ghost], None)
        .await
        .expect_err("no such product");
    assert!(matches!(err, StoreError::Invalid(e) if e.field == "products"));
}

#[tokio::test]
async fn only_buyers_rate_and_each_only_once() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let carol = account(&t.store, "carol").await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    let five = Stars::new(5).expect("stars");
    assert!(
        matches!(
            t.store.rate(&carol, &topic, five, None).await,
            Err(StoreError::Forbidden { .. })
        ),
        "no purchase, no rating"
    );
    assert!(
        matches!(
            t.store.rate(&alice, &topic, five, None).await,
            Err(StoreError::Forbidden { .. })
        ),
        "not the seller"
    );
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    t.store
        .rate(&bob, &topic, five, Some("great"))
        .await
        .expect("rate");
    t.store
        .cancel_purchase(&bob, p.id, None)
        .await
        .expect("cancel");
    t.store
        .rate(&bob, &topic, Stars::new(3).expect("stars"), None)
        .await
        .expect("held a purchase: may still rate, replacing the old rating");
    let ratings = t
        .store
        .list_ratings(&topic, &PageRequest::default())
        .await
        .expect("ratings");
    assert_eq!(ratings.items.len(), 1);
    assert_eq!(ratings.items[0].stars.get(), 3);
    let product = t.store.get_product(&topic).await.expect("product");
    assert_eq!((product.rating_avg, product.rating_count), (Some(3.0), 1));

    let other = crate::helpers::product(
        &t.store,
        &alice,
        "home",
        "other",
        details("Other", Plan::Free, false),
    )
    .await;
    let q = agora_store::ProductQuery {
        sort: agora_store::ProductSort::Rating,
        ..Default::default()
    };
    let page = t
        .store
        .search_products(&q, &PageRequest::default())
        .await
        .expect("search");
    let order: Vec<_> = page.items.iter().map(|(p, _)| p.topic.clone()).collect();
    assert_eq!(order, vec![topic, other], "rated products first");
}

#[tokio::test]
async fn market_stats_count_live_things() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = crate::helpers::product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    t.store.purchase(&bob, &topic, None).await.expect("buy");
    let s = t.store.market_stats().await.expect("stats");
    assert_eq!(
        (
            s.accounts,
            s.hubs,
            s.products,
            s.active_purchases,
            s.pending_purchases
        ),
        (2, 1, 1, 1, 0)
    );
}

#[tokio::test]
async fn entitlements_hold_exactly_what_grants_access_now() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let home = hub_name("home");
    let (_, secret) = t
        .store
        .register_device(
            &alice,
            &alice.name,
            &home,
            &DeviceName::parse("pi").expect("name"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("device");
    let open = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", period(30, 500), false),
    )
    .await;
    let closed = product(
        &t.store,
        &alice,
        "home",
        "cam",
        details("Camera", Plan::Free, true),
    )
    .await;
    let bought = t.store.purchase(&bob, &open, None).await.expect("buy");
    t.store
        .purchase(&bob, &closed, Some("please"))
        .await
        .expect("pending request");
    let (_, key_secret) = t
        .store
        .create_access_key(&bob, &label("k"), &[], None)
        .await
        .expect("key");
    let (revoked, _) = t
        .store
        .create_access_key(&bob, &label("old"), &[], None)
        .await
        .expect("key");
    t.store
        .revoke_access_key(&bob, revoked.id)
        .await
        .expect("revoke");
    t.store
        .create_access_key(
            &bob,
            &label("soon"),
            &[],
            Some(OffsetDateTime::now_utc() + Duration::hours(1)),
        )
        .await
        .expect("expiring key");

    let e = t.store.entitlements().await.expect("snapshot");
    assert_eq!(e.accounts.len(), 2);
    assert_eq!(e.devices.len(), 1);
    let DeviceCredential::Secret(h) = &e.devices[0].credential else {
        panic!("secret device")
    };
    assert!(h.verify(secret.as_ref().expect("secret").expose()));
    assert_eq!(e.products.len(), 2);
    assert_eq!(e.purchases.len(), 1, "pending requests grant nothing");
    assert_eq!(e.purchases[0].id, bought.id);
    assert!(e.purchases[0].ends_at.is_some());
    assert_eq!(e.access_keys.len(), 2, "revoked keys are left out");
    assert!(
        e.access_keys
            .iter()
            .any(|k| k.hash.verify(key_secret.expose()))
    );
}

#[tokio::test]
async fn the_commit_hook_is_awaited_after_writes_with_events_and_may_write_itself() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let t = store().await;
    let (_, bob) = market(&t.store).await;
    let seen = Arc::new(AtomicUsize::new(0));
    let (hook_seen, hook_store, hook_actor) = (seen.clone(), t.store.clone(), bob.clone());
    t.store
        .set_commit_hook(Arc::new(move |events: &[MarketEvent]| {
            let n = events.len();
            let (seen, store, actor) = (hook_seen.clone(), hook_store.clone(), hook_actor.clone());
            Box::pin(async move {
                // Yield first: if the hook were not awaited, the caller would return before this.
                tokio::task::yield_now().await;
                // A write from inside the hook: the write lock must already be released.
                store
                    .mark_all_notifications_read(&actor)
                    .await
                    .expect("write from the hook");
                seen.fetch_add(n, Ordering::SeqCst);
            })
        }));
    let (key, _) = t
        .store
        .create_access_key(&bob, &label("k"), &[], None)
        .await
        .expect("key");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "awaited before create_access_key returned"
    );
    t.store
        .revoke_access_key(&bob, key.id)
        .await
        .expect("revoke");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    t.store
        .mark_all_notifications_read(&bob)
        .await
        .expect("no events");
    assert_eq!(
        seen.load(Ordering::SeqCst),
        2,
        "writes without events do not call the hook"
    );
    t.store.clear_commit_hook();
    t.store
        .create_access_key(&bob, &label("k2"), &[], None)
        .await
        .expect("key");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}
