use agora_market::{
    Location, MarketEvent, Plan, ProductKind, ProductName, ProductTopic, Tag, Title,
};
use agora_store::{PageRequest, ProductPatch, ProductQuery, ProductSort, StoreError};

use crate::helpers::*;

#[tokio::test]
async fn product_names_are_unique_per_hub_case_insensitively() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", Plan::Free, false),
    )
    .await;
    let err = t
        .store
        .create_product(
            &alice,
            &alice.name,
            &hub_name("home"),
            &ProductName::parse("Temp").expect("name"),
            details("Again", Plan::Free, false),
        )
        .await
        .expect_err("taken");
    assert!(
        matches!(err, StoreError::Conflict { field: "name", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn products_can_only_be_created_in_own_hubs() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let err = t
        .store
        .create_product(
            &bob,
            &alice.name,
            &hub_name("home"),
            &ProductName::parse("fake").expect("name"),
            details("Fake", Plan::Free, false),
        )
        .await
        .expect_err("not bob's hub");
    assert!(matches!(err, StoreError::NotFound { what: "hub" }));
}

#[tokio::test]
async fn invalid_details_are_refused_before_any_write() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let mut d = details("Temperature", Plan::Free, false);
    d.declared_rate_secs = Some(0);
    let err = t
        .store
        .create_product(
            &alice,
            &alice.name,
            &hub_name("home"),
            &ProductName::parse("temp").expect("name"),
            d,
        )
        .await
        .expect_err("bad rate");
    assert!(matches!(err, StoreError::Invalid(e) if e.field == "declared_rate_secs"));
}

#[tokio::test]
async fn editing_a_product_keeps_its_topic_and_only_the_seller_may() {
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
    let mut events = t.store.subscribe_events();
    let patch = ProductPatch {
        title: Some(Title::parse("Garden temperature").expect("title")),
        plan: Some(period(30, 500)),
        location: Some(Some(Location::new(34.0, -118.0).expect("loc"))),
        tags: Some(vec![Tag::parse("weather").expect("tag")]),
        ..ProductPatch::default()
    };
    let p = t
        .store
        .update_product(&alice, &topic, &patch)
        .await
        .expect("update");
    assert_eq!(p.topic, topic);
    assert_eq!(p.details.title.as_str(), "Garden temperature");
    assert_eq!(p.details.plan, period(30, 500));
    assert_eq!(p.details.tags, vec![Tag::parse("weather").expect("tag")]);
    assert!(matches!(
        events.recv().await,
        Ok(MarketEvent::ProductUpdated { .. })
    ));
    assert!(matches!(
        t.store.update_product(&bob, &topic, &patch).await,
        Err(StoreError::Forbidden { .. })
    ));
    assert!(matches!(
        t.store.delete_product(&bob, &topic).await,
        Err(StoreError::Forbidden { .. })
    ));
}

async fn catalogue(t: &TestStore) -> (ProductTopic, ProductTopic, ProductTopic) {
    let (alice, _) = market(&t.store).await;
    let mut la = details("Los Angeles air", period(30, 900), false);
    la.location = Some(Location::new(34.05, -118.25).expect("la"));
    la.tags = vec![Tag::parse("air").expect("tag")];
    let mut sf = details("San Francisco air", messages(1000, 100), true);
    sf.location = Some(Location::new(37.77, -122.42).expect("sf"));
    sf.tags = vec![Tag::parse("air").expect("tag")];
    let mut pump = details("Garden pump", Plan::Free, false);
    pump.kind = ProductKind::Actuator;
    (
        product(&t.store, &alice, "home", "la", la).await,
        product(&t.store, &alice, "home", "sf", sf).await,
        product(&t.store, &alice, "home", "pump", pump).await,
    )
}

async fn search(t: &TestStore, q: ProductQuery) -> Vec<String> {
    let page = t
        .store
        .search_products(&q, &PageRequest::first(50))
        .await
        .expect("search");
    page.items
        .into_iter()
        .map(|(p, _)| p.topic.name.to_string())
        .collect()
}

#[tokio::test]
async fn search_filters_by_text_kind_tag_and_restriction() {
    let t = store().await;
    catalogue(&t).await;
    assert_eq!(
        search(
            &t,
            ProductQuery {
                q: Some("AIR".into()),
                ..Default::default()
            }
        )
        .await,
        ["sf", "la"]
    );
    assert_eq!(
        search(
            &t,
            ProductQuery {
                kind: Some(ProductKind::Actuator),
                ..Default::default()
            }
        )
        .await,
        ["pump"]
    );
    assert_eq!(
        search(
            &t,
            ProductQuery {
                tag: Some(Tag::parse("air").expect("tag")),
                restricted: Some(true),
                ..Default::default()
            }
        )
        .await,
        ["sf"]
    );
    assert_eq!(
        search(
            &t,
            ProductQuery {
                q: Some("100%".into()),
                ..Default::default()
            }
        )
        .await,
        Vec::<String>::new(),
        "LIKE wildcards are escaped"
    );
    assert_eq!(
        search(
            &t,
            ProductQuery {
                sort: ProductSort::PriceAsc,
                ..Default::default()
            }
        )
        .await,
        ["pump", "sf", "la"]
    );
}

#[tokio::test]
async fn search_near_a_point_keeps_the_radius_and_sorts_by_distance() {
    let t = store().await;
    catalogue(&t).await;
    let pasadena = Location::new(34.15, -118.14).expect("loc");
    let page = t
        .store
        .search_products(
            &ProductQuery {
                near: Some((pasadena, 50.0)),
                sort: ProductSort::Distance,
                ..Default::default()
            },
            &PageRequest::first(10),
        )
        .await
        .expect("search");
    assert_eq!(page.items.len(), 1);
    assert!(page.items[0].1.is_some_and(|d| d < 20.0));
    let far = search(
        &t,
        ProductQuery {
            near: Some((pasadena, 1000.0)),
            sort: ProductSort::Distance,
            ..Default::default()
        },
    )
    .await;
    assert_eq!(far, ["la", "sf"]);
    let err = t
        .store
        .search_products(
            &ProductQuery {
                sort: ProductSort::Distance,
                ..Default::default()
            },
            &PageRequest::default(),
        )
        .await;
    assert!(matches!(err, Err(StoreError::Invalid(e)) if e.field == "sort"));
}

#[tokio::test]
async fn search_pages_with_an_opaque_cursor() {
    let t = store().await;
    catalogue(&t).await;
    let first = t
        .store
        .search_products(&ProductQuery::default(), &PageRequest::first(2))
        .await
        .expect("page 1");
    assert_eq!(first.items.len(), 2);
    let next = PageRequest::after(2, &first).expect("a next page");
    let second = t
        .store
        .search_products(&ProductQuery::default(), &next)
        .await
        .expect("page 2");
    assert_eq!(second.items.len(), 1);
    assert!(second.next_cursor.is_none());
}

#[tokio::test]
async fn suspended_sellers_products_leave_the_catalogue() {
    let t = store().await;
    let root = admin(&t.store, "root").await;
    catalogue(&t).await;
    t.store
        .set_suspended(
            &root,
            &agora_market::AccountName::parse("alice").expect("name"),
            true,
            None,
        )
        .await
        .expect("suspend");
    assert!(search(&t, ProductQuery::default()).await.is_empty());
}

#[tokio::test]
async fn product_activity_accumulates_and_never_goes_back_in_time() {
    use agora_store::ActivityReport;
    use time::{Duration, OffsetDateTime};
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
    let id = t.store.get_product(&topic).await.expect("product").id;
    assert_eq!(
        t.store
            .product_activity(id)
            .await
            .expect("none yet")
            .last_data_at,
        None
    );
    let at = OffsetDateTime::from_unix_timestamp(OffsetDateTime::now_utc().unix_timestamp())
        .expect("ts");
    let report = |messages, secs: i64, interval| ActivityReport {
        product_id: id,
        messages,
        bytes: messages * 10,
        last_data_at: at + Duration::seconds(secs),
        measured_interval_secs: interval,
    };
    t.store
        .record_product_activity(&[report(3, 0, Some(5.2))])
        .await
        .expect("report");
    t.store
        .record_product_activity(&[report(2, -60, None)])
        .await
        .expect("late report");
    let a = t.store.product_activity(id).await.expect("activity");
    assert_eq!(
        (a.published_messages, a.published_bytes, a.last_data_at),
        (5, 50, Some(at))
    );
    assert_eq!(a.measured_interval_secs, Some(5.2));
}

#[tokio::test]
async fn a_deleted_products_name_can_be_used_again_with_a_fresh_history() {
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
    let old = t.store.get_product(&topic).await.expect("product").id;
    t.store
        .delete_product(&alice, &topic)
        .await
        .expect("delete");
    let again = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature v2", Plan::Free, false),
    )
    .await;
    assert_eq!(again, topic);
    assert_ne!(t.store.get_product(&again).await.expect("product").id, old);
}

#[tokio::test]
async fn an_invalid_patch_changes_nothing() {
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
    let patch = ProductPatch {
        description: Some("x".repeat(10_001)),
        ..ProductPatch::default()
    };
    assert!(
        matches!(t.store.update_product(&alice, &topic, &patch).await, Err(StoreError::Invalid(e)) if e.field == "description")
    );
    assert_eq!(
        t.store
            .get_product(&topic)
            .await
            .expect("product")
            .details
            .description,
        "Temperature readings"
    );
}
