use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_request_notifies_the_seller_and_the_decision_notifies_the_buyer() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    app.product(&alice, "home", "vip", json!({"restricted": true}))
        .await
        .expect(201);
    let asked = app
        .post(
            "/products/alice/home/vip/purchases",
            Some(&bob),
            json!({"message": "please"}),
        )
        .await
        .expect(202);
    let seller = app.get("/notifications", Some(&alice)).await.expect(200);
    assert_eq!(
        seller.body["items"][0]["kind"], "purchase_requested",
        "{}",
        seller.text
    );
    let me = app.get("/me", Some(&alice)).await.expect(200);
    assert!(me.body["unread_notifications"].as_u64() >= Some(1));
    let id = asked.body["id"].as_str().unwrap_or_default().to_owned();
    app.post(&format!("/purchases/{id}/approve"), Some(&alice), json!({}))
        .await
        .expect(200);
    let buyer = app
        .get("/notifications?unread=true", Some(&bob))
        .await
        .expect(200);
    let kinds: Vec<&str> = buyer.body["items"]
        .as_array()
        .map(|v| v.iter().filter_map(|n| n["kind"].as_str()).collect())
        .unwrap_or_default();
    assert!(kinds.contains(&"purchase_approved"), "{kinds:?}");
    let nid = buyer.body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Another account cannot mark it; its owner can.
    app.post(
        &format!("/notifications/{nid}/read"),
        Some(&alice),
        json!({}),
    )
    .await
    .expect(404);
    let read = app
        .post(&format!("/notifications/{nid}/read"), Some(&bob), json!({}))
        .await
        .expect(200);
    assert!(read.body["read_at"].is_string());
    let unread = app
        .get("/notifications?unread=true", Some(&bob))
        .await
        .expect(200);
    assert!(
        unread.body["items"]
            .as_array()
            .is_some_and(|v| v.iter().all(|n| n["id"] != nid.as_str()))
    );
    app.post("/notifications/read-all", Some(&alice), json!({}))
        .await
        .expect(200);
    let me = app.get("/me", Some(&alice)).await.expect(200);
    assert_eq!(me.body["unread_notifications"], 0);
}

#[tokio::test]
async fn only_verified_buyers_rate_and_a_second_rating_replaces_the_first() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    app.hub(&alice, "home").await;
    app.product(&alice, "home", "temp", json!({}))
        .await
        .expect(201);
    let a = app
        .put(
            "/products/alice/home/temp/rating",
            Some(&eve),
            json!({"stars": 1}),
        )
        .await
        .expect(403);
    assert_eq!(a.code(), "forbidden");
    app.put(
        "/products/alice/home/temp/rating",
        Some(&alice),
        json!({"stars": 5}),
    )
    .await
    .expect(403);
    app.post("/products/alice/home/temp/purchases", Some(&bob), json!({}))
        .await
        .expect(201);
    for bad in [0, 6] {
        let a = app
            .put(
                "/products/alice/home/temp/rating",
                Some(&bob),
                json!({"stars": bad}),
            )
            .await
            .expect(422);
        assert_eq!(a.field(), Some("stars"));
    }
    app.put(
        "/products/alice/home/temp/rating",
        Some(&bob),
        json!({"stars": 2}),
    )
    .await
    .expect(200);
    let r = app
        .put(
            "/products/alice/home/temp/rating",
            Some(&bob),
            json!({"stars": 4, "review": "good"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["stars"], 4);
    let list = app
        .get("/products/alice/home/temp/ratings", None)
        .await
        .expect(200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list.body["items"][0]["review"], "good");
    let p = app.get("/products/alice/home/temp", None).await.expect(200);
    assert_eq!(p.body["rating_count"], 1);
    assert_eq!(p.body["rating_avg"], 4.0);
}
