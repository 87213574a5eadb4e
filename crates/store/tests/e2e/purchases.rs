use agora_market::purchase::TransitionError;
use agora_market::{MarketEvent, NotificationKind, Plan, PurchaseState};
use agora_store::{PageRequest, StoreError};
use time::{Duration, OffsetDateTime};

use crate::helpers::*;

#[tokio::test]
async fn seller_cannot_buy_own_product() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    assert!(matches!(
        t.store.purchase(&alice, &topic, None).await,
        Err(StoreError::Forbidden { .. })
    ));
}

#[tokio::test]
async fn unrestricted_purchases_are_active_at_once_and_announced() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", period(30, 500), false),
    )
    .await;
    let mut events = t.store.subscribe_events();
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    assert_eq!(p.state, PurchaseState::Active);
    assert_eq!(p.paid_cents, 500);
    let ends = p.ends_at.expect("period end");
    let started = p.started_at.expect("start");
    assert_eq!(ends - started, Duration::days(30));
    assert!(
        matches!(events.recv().await, Ok(MarketEvent::PurchaseActivated { purchase_id, .. }) if purchase_id == p.id)
    );
}

#[tokio::test]
async fn restricted_requests_wait_for_the_seller() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let carol = account(&t.store, "carol").await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "cam",
        details("Camera", period(7, 1000), true),
    )
    .await;
    assert!(
        matches!(t.store.purchase(&bob, &topic, None).await, Err(StoreError::Invalid(e)) if e.field == "message")
    );
    let p = t
        .store
        .purchase(&bob, &topic, Some("for research"))
        .await
        .expect("request");
    assert_eq!(p.state, PurchaseState::Pending);
    assert_eq!(p.message.as_deref(), Some("for research"));
    assert!(matches!(
        t.store.purchase(&bob, &topic, Some("again")).await,
        Err(StoreError::Conflict {
            field: "purchase",
            ..
        })
    ));
    let seller_notes = t
        .store
        .list_notifications(&alice, true, &PageRequest::default())
        .await
        .expect("notes");
    assert!(
        seller_notes
            .items
            .iter()
            .any(|n| n.kind == NotificationKind::PurchaseRequested && n.purchase_id == Some(p.id))
    );

    assert!(
        matches!(
            t.store.approve_purchase(&carol, p.id, None).await,
            Err(StoreError::NotFound { .. })
        ),
        "strangers see nothing"
    );
    assert!(matches!(
        t.store.approve_purchase(&bob, p.id, None).await,
        Err(StoreError::Transition(TransitionError::NotAllowed { .. }))
    ));
    let mut events = t.store.subscribe_events();
    let approved = t
        .store
        .approve_purchase(&alice, p.id, Some("welcome"))
        .await
        .expect("approve");
    assert_eq!(approved.state, PurchaseState::Active);
    assert!(approved.ends_at.is_some());
    assert_eq!(approved.paid_cents, 1000);
    assert!(matches!(
        events.recv().await,
        Ok(MarketEvent::PurchaseActivated { .. })
    ));
    assert!(matches!(
        t.store.approve_purchase(&alice, p.id, None).await,
        Err(StoreError::Transition(TransitionError::WrongState {
            from: PurchaseState::Active,
            ..
        }))
    ));
    let buyer_notes = t
        .store
        .list_notifications(&bob, false, &PageRequest::default())
        .await
        .expect("notes");
    assert!(
        buyer_notes
            .items
            .iter()
            .any(|n| n.kind == NotificationKind::PurchaseApproved)
    );
}

#[tokio::test]
async fn declined_requests_grant_nothing_and_tell_the_buyer() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "cam",
        details("Camera", Plan::Free, true),
    )
    .await;
    let p = t
        .store
        .purchase(&bob, &topic, Some("please"))
        .await
        .expect("request");
    let d = t
        .store
        .decline_purchase(&alice, p.id, Some("not for resale"))
        .await
        .expect("decline");
    assert_eq!(d.state, PurchaseState::Declined);
    assert_eq!(d.reason.as_deref(), Some("not for resale"));
    assert!(
        t.store
            .entitlements()
            .await
            .expect("snapshot")
            .purchases
            .is_empty()
    );
    let notes = t
        .store
        .list_notifications(&bob, true, &PageRequest::default())
        .await
        .expect("notes");
    let n = notes
        .items
        .iter()
        .find(|n| n.kind == NotificationKind::PurchaseDeclined)
        .expect("told");
    let read = t
        .store
        .mark_notification_read(&bob, n.id)
        .await
        .expect("read");
    assert!(read.read_at.is_some());
    assert!(matches!(
        t.store.mark_notification_read(&alice, n.id).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn buying_a_period_again_extends_it_and_adds_to_revenue() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", period(30, 500), false),
    )
    .await;
    let first = t.store.purchase(&bob, &topic, None).await.expect("buy");
    let again = t
        .store
        .purchase(&bob, &topic, None)
        .await
        .expect("buy again");
    assert_eq!(again.id, first.id);
    assert_eq!(
        again.ends_at.zip(first.ends_at).map(|(a, b)| a - b),
        Some(Duration::days(30))
    );
    assert_eq!(again.paid_cents, 1000);
    let totals = t.store.sales_totals(&alice).await.expect("totals");
    assert_eq!(
        (totals.sales, totals.active, totals.revenue_cents),
        (1, 1, 1000)
    );
}

#[tokio::test]
async fn sales_totals_leave_out_requests_that_never_started() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let carol = account(&t.store, "carol").await;
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
        details("Camera", period(7, 2000), true),
    )
    .await;
    t.store.purchase(&bob, &open, None).await.expect("buy");
    let req = t
        .store
        .purchase(&carol, &closed, Some("please"))
        .await
        .expect("request");
    t.store
        .purchase(&bob, &closed, Some("me too"))
        .await
        .expect("request");
    t.store
        .decline_purchase(&alice, req.id, None)
        .await
        .expect("decline");
    let totals = t.store.sales_totals(&alice).await.expect("totals");
    assert_eq!(
        (totals.sales, totals.pending, totals.revenue_cents),
        (1, 1, 500)
    );
    let sales = t
        .store
        .list_sales(&alice, &PageRequest::default())
        .await
        .expect("sales");
    assert_eq!(sales.items.len(), 3);
    assert!(
        t.store
            .list_sales(&bob, &PageRequest::default())
            .await
            .expect("none")
            .items
            .is_empty()
    );
    assert_eq!(
        t.store
            .list_purchases(&bob, &PageRequest::default())
            .await
            .expect("purchases")
            .items
            .len(),
        2
    );
}

#[tokio::test]
async fn a_used_up_quota_exhausts_the_purchase() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", messages(10, 100), false),
    )
    .await;
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    assert_eq!(p.quota_messages, Some(10));
    let p1 = t.store.add_usage(p.id, 4, 400).await.expect("usage");
    assert_eq!(
        (p1.state, p1.used_messages, p1.used_bytes),
        (PurchaseState::Active, 4, 400)
    );
    let again = t.store.purchase(&bob, &topic, None).await.expect("top up");
    assert_eq!(again.quota_messages, Some(20));
    let mut events = t.store.subscribe_events();
    let done = t.store.add_usage(p.id, 16, 1600).await.expect("usage");
    assert_eq!(done.state, PurchaseState::Exhausted);
    assert!(matches!(
        events.recv().await,
        Ok(MarketEvent::PurchaseEnded {
            state: PurchaseState::Exhausted,
            ..
        })
    ));
    let totals = t.store.sales_totals(&alice).await.expect("totals");
    assert_eq!(
        (totals.messages, totals.bytes, totals.revenue_cents),
        (20, 2000, 200)
    );
}

#[tokio::test]
async fn expire_due_ends_only_purchases_past_their_end() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let short = product(
        &t.store,
        &alice,
        "home",
        "a",
        details("A", period(1, 100), false),
    )
    .await;
    let long = product(
        &t.store,
        &alice,
        "home",
        "b",
        details("B", period(30, 100), false),
    )
    .await;
    let free = product(
        &t.store,
        &alice,
        "home",
        "c",
        details("C", Plan::Free, false),
    )
    .await;
    let s = t.store.purchase(&bob, &short, None).await.expect("buy");
    t.store.purchase(&bob, &long, None).await.expect("buy");
    t.store.purchase(&bob, &free, None).await.expect("buy");
    assert!(
        t.store
            .expire_due(OffsetDateTime::now_utc())
            .await
            .expect("nothing due")
            .is_empty()
    );
    let mut events = t.store.subscribe_events();
    let expired = t
        .store
        .expire_due(OffsetDateTime::now_utc() + Duration::days(2))
        .await
        .expect("expire");
    assert_eq!(expired, vec![s.id]);
    assert!(
        matches!(events.recv().await, Ok(MarketEvent::PurchaseEnded { state: PurchaseState::Expired, purchase_id, .. }) if purchase_id == s.id)
    );
    assert_eq!(
        t.store.get_purchase(&bob, s.id).await.expect("get").state,
        PurchaseState::Expired
    );
    assert!(
        t.store
            .expire_due(OffsetDateTime::now_utc() + Duration::days(2))
            .await
            .expect("idempotent")
            .is_empty()
    );
}

#[tokio::test]
async fn cancel_is_for_buyers_and_revoke_for_sellers() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", period(30, 500), false),
    )
    .await;
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    assert!(matches!(
        t.store.cancel_purchase(&alice, p.id, None).await,
        Err(StoreError::Transition(_))
    ));
    assert!(matches!(
        t.store.revoke_purchase(&bob, p.id, None).await,
        Err(StoreError::Transition(_))
    ));
    let c = t
        .store
        .cancel_purchase(&bob, p.id, Some("moving away"))
        .await
        .expect("cancel");
    assert_eq!(c.state, PurchaseState::Cancelled);
    assert!(c.ended_at.is_some());
    assert!(matches!(
        t.store.revoke_purchase(&alice, p.id, None).await,
        Err(StoreError::Transition(TransitionError::WrongState { .. }))
    ));
    let again = t
        .store
        .purchase(&bob, &topic, None)
        .await
        .expect("a new purchase after the end");
    assert_ne!(again.id, p.id);
    let r = t
        .store
        .revoke_purchase(&alice, again.id, Some("abuse"))
        .await
        .expect("revoke");
    assert_eq!(r.state, PurchaseState::Revoked);
}

#[tokio::test]
async fn deleting_a_product_revokes_its_purchases_and_keeps_them_listed() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", period(30, 500), false),
    )
    .await;
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    let mut events = t.store.subscribe_events();
    t.store
        .delete_product(&alice, &topic)
        .await
        .expect("delete");
    assert!(matches!(
        events.recv().await,
        Ok(MarketEvent::PurchaseEnded {
            state: PurchaseState::Revoked,
            ..
        })
    ));
    assert!(matches!(
        events.recv().await,
        Ok(MarketEvent::ProductDeleted { .. })
    ));
    let listed = t
        .store
        .list_purchases(&bob, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert_eq!(listed.items[0].id, p.id);
    assert_eq!(listed.items[0].state, PurchaseState::Revoked);
    assert_eq!(
        t.store
            .sales_totals(&alice)
            .await
            .expect("totals")
            .revenue_cents,
        500,
        "sales history survives"
    );
    let notes = t
        .store
        .list_notifications(&bob, true, &PageRequest::default())
        .await
        .expect("notes");
    assert!(
        notes
            .items
            .iter()
            .any(|n| n.kind == NotificationKind::ProductDeleted)
    );
    assert!(matches!(
        t.store.purchase(&bob, &topic, None).await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn admins_see_every_purchase_and_users_do_not() {
    let t = store().await;
    let root = admin(&t.store, "root").await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    assert_eq!(
        t.store
            .list_all_purchases(&root, &PageRequest::default())
            .await
            .expect("all")
            .items
            .len(),
        1
    );
    assert!(
        t.store
            .list_all_purchases(&bob, &PageRequest::default())
            .await
            .is_err()
    );
    assert!(t.store.get_purchase(&root, p.id).await.is_ok());
    assert_eq!(
        t.store
            .revoke_purchase(&root, p.id, Some("terms"))
            .await
            .expect("admin revoke")
            .state,
        PurchaseState::Revoked
    );
}

#[tokio::test]
async fn concurrent_purchases_on_a_file_database_all_succeed() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    let mut buyers = Vec::new();
    for i in 0..8 {
        buyers.push(account(&t.store, &format!("buyer{i}")).await);
    }
    let mut tasks = Vec::new();
    for b in buyers {
        let (store, topic) = (t.store.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            store.purchase(&b, &topic, None).await
        }));
    }
    for task in tasks {
        assert_eq!(
            task.await.expect("join").expect("purchase").state,
            PurchaseState::Active
        );
    }
    assert_eq!(t.store.sales_totals(&alice).await.expect("totals").sales, 8);
}

#[tokio::test]
async fn buyers_are_told_once_that_access_ends_soon() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", period(1, 100), false),
    )
    .await;
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    let now = OffsetDateTime::now_utc();
    assert!(
        t.store
            .notify_ending_soon(now, Duration::hours(1))
            .await
            .expect("not yet")
            .is_empty()
    );
    assert_eq!(
        t.store
            .notify_ending_soon(now, Duration::days(2))
            .await
            .expect("soon"),
        vec![p.id]
    );
    assert!(
        t.store
            .notify_ending_soon(now, Duration::days(2))
            .await
            .expect("once")
            .is_empty()
    );
    let notes = t
        .store
        .list_notifications(&bob, true, &PageRequest::default())
        .await
        .expect("notes");
    assert!(
        notes
            .items
            .iter()
            .any(|n| n.kind == NotificationKind::AccessEndingSoon)
    );
    t.store.purchase(&bob, &topic, None).await.expect("extend");
    assert_eq!(
        t.store
            .notify_ending_soon(now, Duration::days(3))
            .await
            .expect("again after extension"),
        vec![p.id]
    );
}

#[tokio::test]
async fn notifications_can_be_filtered_and_all_marked_read() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let a = product(
        &t.store,
        &alice,
        "home",
        "a",
        details("A", Plan::Free, false),
    )
    .await;
    let b = product(
        &t.store,
        &alice,
        "home",
        "b",
        details("B", Plan::Free, false),
    )
    .await;
    t.store.purchase(&bob, &a, None).await.expect("buy");
    t.store.purchase(&bob, &b, None).await.expect("buy");
    assert_eq!(
        t.store.unread_notifications(&alice).await.expect("count"),
        2
    );
    assert_eq!(
        t.store
            .mark_all_notifications_read(&alice)
            .await
            .expect("read all"),
        2
    );
    assert_eq!(
        t.store.unread_notifications(&alice).await.expect("count"),
        0
    );
    assert!(
        t.store
            .list_notifications(&alice, true, &PageRequest::default())
            .await
            .expect("unread")
            .items
            .is_empty()
    );
    assert_eq!(
        t.store
            .list_notifications(&alice, false, &PageRequest::default())
            .await
            .expect("all")
            .items
            .len(),
        2
    );
    assert_eq!(
        t.store.unread_notifications(&bob).await.expect("bob's own"),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_serves_concurrent_reads_and_writes_without_deadlock() {
    let s = agora_store::Store::open_in_memory().await.expect("open");
    let (alice, _) = market(&s).await;
    let topic = product(
        &s,
        &alice,
        "home",
        "temp",
        details("Temperature", period(30, 100), false),
    )
    .await;
    let mut buyers = Vec::new();
    for i in 0..6 {
        buyers.push(account(&s, &format!("buyer{i}")).await);
    }
    let mut tasks = Vec::new();
    for b in buyers {
        let (s, topic) = (s.clone(), topic.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..3 {
                s.purchase(&b, &topic, None).await?;
                s.list_purchases(&b, &PageRequest::default()).await?;
                s.entitlements().await?;
                s.search_products(
                    &agora_store::ProductQuery::default(),
                    &PageRequest::default(),
                )
                .await?;
            }
            Ok::<_, StoreError>(())
        }));
    }
    let all = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        for t in tasks {
            t.await.expect("join").expect("no store error");
        }
    });
    all.await.expect("no deadlock");
    let totals = s.sales_totals(&alice).await.expect("totals");
    assert_eq!(
        (totals.sales, totals.revenue_cents),
        (6, 6 * 3 * 100),
        "each buyer bought once and extended twice"
    );
}

#[tokio::test]
async fn a_shortened_plan_day_lets_a_period_end_within_seconds() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    assert!(
        t.store
            .set_period_day(std::time::Duration::from_millis(500))
            .is_err()
    );
    assert!(
        t.store
            .set_period_day(std::time::Duration::from_secs(2 * 86_400))
            .is_err()
    );
    t.store
        .set_period_day(std::time::Duration::from_secs(2))
        .expect("2s day");
    let open = product(
        &t.store,
        &alice,
        "home",
        "a",
        details("A", period(1, 100), false),
    )
    .await;
    let closed = product(
        &t.store,
        &alice,
        "home",
        "b",
        details("B", period(3, 100), true),
    )
    .await;
    let p = t.store.purchase(&bob, &open, None).await.expect("buy");
    let started = p.started_at.expect("start");
    assert_eq!(p.ends_at, Some(started + Duration::seconds(2)));
    let again = t.store.purchase(&bob, &open, None).await.expect("extend");
    assert_eq!(again.ends_at, Some(started + Duration::seconds(4)));
    let req = t
        .store
        .purchase(&bob, &closed, Some("please"))
        .await
        .expect("request");
    let approved = t
        .store
        .approve_purchase(&alice, req.id, None)
        .await
        .expect("approve");
    assert_eq!(
        approved
            .ends_at
            .zip(approved.started_at)
            .map(|(e, s)| e - s),
        Some(Duration::seconds(6))
    );
    let expired = t
        .store
        .expire_due(started + Duration::seconds(5))
        .await
        .expect("expire");
    assert_eq!(expired, vec![p.id]);
}

#[tokio::test]
async fn a_buyer_sees_their_purchases_of_one_product() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let carol = account(&t.store, "carol").await;
    let a = product(
        &t.store,
        &alice,
        "home",
        "a",
        details("A", period(30, 100), false),
    )
    .await;
    let b = product(
        &t.store,
        &alice,
        "home",
        "b",
        details("B", Plan::Free, false),
    )
    .await;
    let first = t.store.purchase(&bob, &a, None).await.expect("buy");
    t.store
        .cancel_purchase(&bob, first.id, None)
        .await
        .expect("cancel");
    let second = t.store.purchase(&bob, &a, None).await.expect("buy again");
    t.store
        .purchase(&bob, &b, None)
        .await
        .expect("other product");
    t.store
        .purchase(&carol, &a, None)
        .await
        .expect("someone else");
    let mine: Vec<_> = t
        .store
        .list_purchases_of(&bob, &a)
        .await
        .expect("list")
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(mine, vec![second.id, first.id]);
    assert!(
        t.store
            .list_purchases_of(&alice, &a)
            .await
            .expect("seller")
            .is_empty(),
        "as buyer only"
    );
}
