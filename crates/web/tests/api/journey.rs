//! The seller + buyer journey of docs/api.md, step by step, so the document stays true.

use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn the_documented_seller_and_buyer_journey_works() {
    let app = spawn_app().await;

    // Seller.
    app.post(
        "/accounts",
        None,
        json!({"name": "alice", "password": "correct horse battery"}),
    )
    .await
    .expect(201);
    let login = app
        .post(
            "/tokens",
            None,
            json!({"name": "laptop", "account": "alice", "password": "correct horse battery"}),
        )
        .await
        .expect(201);
    assert_eq!(login.headers["cache-control"], "no-store");
    assert_eq!(login.headers["x-content-type-options"], "nosniff");
    assert!(login.headers.contains_key("x-request-id"));
    let alice = login.body["token"].as_str().unwrap_or_default().to_owned();
    let hub = app
        .post(
            "/hubs",
            Some(&alice),
            json!({"name": "home", "public": true, "description": "Sensors around the house"}),
        )
        .await
        .expect(201);
    assert_eq!(hub.body["path"], "alice/home");
    let device = app
        .post(
            "/hubs/alice/home/devices",
            Some(&alice),
            json!({"name": "pi"}),
        )
        .await
        .expect(201);
    assert_eq!(device.body["username"], "alice$home$pi");
    let product = app
        .post(
            "/products",
            Some(&alice),
            json!({"hub": "home", "name": "temp", "title": "Living-room temperature",
                   "kind": "sensor", "plan": {"type": "period", "days": 30, "price_cents": 500},
                   "location": {"lat": 48.8566, "lon": 2.3522}, "tags": ["temperature"],
                   "declared_rate_secs": 5, "licence": "CC-BY-4.0"}),
        )
        .await
        .expect(201);
    assert_eq!(product.body["topic"], "alice/home/temp");

    // Buyer.
    app.post(
        "/accounts",
        None,
        json!({"name": "bob", "password": "another fine password"}),
    )
    .await
    .expect(201);
    let bob = app
        .post(
            "/tokens",
            None,
            json!({"name": "cli", "account": "bob", "password": "another fine password"}),
        )
        .await
        .expect(201)
        .body["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let found = app
        .get("/products?q=temperature&near=48.85,2.35,25", None)
        .await
        .expect(200);
    assert_eq!(found.body["items"][0]["topic"], "alice/home/temp");
    assert!(
        found.body["items"][0]["distance_km"]
            .as_f64()
            .is_some_and(|d| d < 2.0)
    );
    let bought = app
        .post("/products/alice/home/temp/purchases", Some(&bob), json!({}))
        .await
        .expect(201);
    assert_eq!(bought.body["state"], "active");
    assert!(bought.body["ends_at"].is_string(), "{}", bought.text);
    assert_eq!(bought.body["paid_cents"], 500);
    let key = app
        .post(
            "/access-keys",
            Some(&bob),
            json!({"name": "raspberry", "products": ["alice/home/temp"]}),
        )
        .await
        .expect(201);
    assert_eq!(key.body["username"], "bob");
    assert!(
        key.body["key"]
            .as_str()
            .is_some_and(|k| k.starts_with("agk_"))
    );

    // Both sides see the sale; the seller is told about it.
    let purchases = app.get("/purchases", Some(&bob)).await.expect(200);
    assert_eq!(purchases.body["items"][0]["topic"], "alice/home/temp");
    let sales = app.get("/sales", Some(&alice)).await.expect(200);
    assert_eq!(sales.body["items"][0]["buyer"], "bob");

    // Ratings.
    app.put(
        "/products/alice/home/temp/rating",
        Some(&bob),
        json!({"stars": 5, "review": "Steady and well documented"}),
    )
    .await
    .expect(200);
    let ratings = app
        .get("/products/alice/home/temp/ratings", None)
        .await
        .expect(200);
    assert_eq!(ratings.body["items"][0]["stars"], 5);

    // The buyer ends it.
    let id = bought.body["id"].as_str().unwrap_or_default().to_owned();
    let cancelled = app
        .post(&format!("/purchases/{id}/cancel"), Some(&bob), json!({}))
        .await
        .expect(200);
    assert_eq!(cancelled.body["state"], "cancelled");
}
