use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

/// alice sells `alice/home/free` (free) and `alice/home/vip` (restricted); bob buys.
async fn market() -> (TestApp, String, String) {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    app.product(&alice, "home", "free", json!({}))
        .await
        .expect(201);
    app.product(&alice, "home", "vip", json!({"restricted": true}))
        .await
        .expect(201);
    (app, alice, bob)
}

#[tokio::test]
async fn buying_a_free_product_is_201_active_and_listed_on_both_sides() {
    let (app, alice, bob) = market().await;
    let bought = app
        .post("/products/alice/home/free/purchases", Some(&bob), json!({}))
        .await
        .expect(201);
    assert_eq!(bought.body["state"], "active");
    assert_eq!(bought.body["buyer"], "bob");
    assert_eq!(bought.body["seller"], "alice");
    let mine = app.get("/purchases", Some(&bob)).await.expect(200);
    assert_eq!(mine.body["items"][0]["topic"], "alice/home/free");
    let sales = app.get("/sales", Some(&alice)).await.expect(200);
    assert_eq!(sales.body["items"][0]["buyer"], "bob");
    assert_eq!(sales.body["items"][0]["used_messages"], 0);
    let none = app.get("/sales", Some(&bob)).await.expect(200);
    assert_eq!(none.body["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_purchase_without_a_body_works() {
    let (app, _alice, bob) = market().await;
    let r = app
        .client
        .post(app.url("/products/alice/home/free/purchases"))
        .bearer_auth(&bob)
        .send()
        .await
        .expect("request");
    TestApp::answer(r).await.expect(201);
}

#[tokio::test]
async fn a_restricted_product_is_202_pending_until_the_seller_approves() {
    let (app, alice, bob) = market().await;
    let asked = app
        .post(
            "/products/alice/home/vip/purchases",
            Some(&bob),
            json!({"message": "research"}),
        )
        .await
        .expect(202);
    assert_eq!(asked.body["state"], "pending");
    assert_eq!(asked.body["message"], "research");
    let id = asked.body["id"].as_str().unwrap_or_default().to_owned();
    let again = app
        .post("/products/alice/home/vip/purchases", Some(&bob), json!({}))
        .await
        .expect(409);
    assert_eq!(again.code(), "conflict");
    // The buyer cannot approve their own request.
    let a = app
        .post(&format!("/purchases/{id}/approve"), Some(&bob), json!({}))
        .await
        .expect(403);
    assert_eq!(a.code(), "forbidden");
    let approved = app
        .post(
            &format!("/purchases/{id}/approve"),
            Some(&alice),
            json!({"reason": "welcome"}),
        )
        .await
        .expect(200);
    assert_eq!(approved.body["state"], "active");
    assert_eq!(approved.body["decided_by"], "seller");
    let twice = app
        .post(&format!("/purchases/{id}/approve"), Some(&alice), json!({}))
        .await
        .expect(409);
    assert_eq!(twice.field(), Some("state"));
}

#[tokio::test]
async fn the_seller_declines_with_a_reason_and_the_buyer_sees_it() {
    let (app, alice, bob) = market().await;
    let bare = app
        .post("/products/alice/home/vip/purchases", Some(&bob), json!({}))
        .await
        .expect(422);
    assert_eq!(bare.field(), Some("message"));
    let asked = app
        .post(
            "/products/alice/home/vip/purchases",
            Some(&bob),
            json!({"message": "a thesis"}),
        )
        .await
        .expect(202);
    let id = asked.body["id"].as_str().unwrap_or_default().to_owned();
    let declined = app
        .post(
            &format!("/purchases/{id}/decline"),
            Some(&alice),
            json!({"reason": "not for you"}),
        )
        .await
        .expect(200);
    assert_eq!(declined.body["state"], "declined");
    let seen = app
        .get(&format!("/purchases/{id}"), Some(&bob))
        .await
        .expect(200);
    assert_eq!(seen.body["reason"], "not for you");
}

#[tokio::test]
async fn a_seller_cannot_buy_their_own_product() {
    let (app, alice, _bob) = market().await;
    let a = app
        .post(
            "/products/alice/home/free/purchases",
            Some(&alice),
            json!({}),
        )
        .await
        .expect(403);
    assert_eq!(a.code(), "forbidden");
}

#[tokio::test]
async fn the_buyer_cancels_and_the_seller_revokes_with_reasons() {
    let (app, alice, bob) = market().await;
    let p = app
        .post("/products/alice/home/free/purchases", Some(&bob), json!({}))
        .await
        .expect(201);
    let id = p.body["id"].as_str().unwrap_or_default().to_owned();
    // The seller cannot cancel, the buyer cannot revoke.
    app.post(&format!("/purchases/{id}/cancel"), Some(&alice), json!({}))
        .await
        .expect(403);
    app.post(&format!("/purchases/{id}/revoke"), Some(&bob), json!({}))
        .await
        .expect(403);
    let revoked = app
        .post(
            &format!("/purchases/{id}/revoke"),
            Some(&alice),
            json!({"reason": "abuse"}),
        )
        .await
        .expect(200);
    assert_eq!(revoked.body["state"], "revoked");
    assert_eq!(revoked.body["reason"], "abuse");
    let p2 = app
        .post("/products/alice/home/free/purchases", Some(&bob), json!({}))
        .await
        .expect(201);
    let id2 = p2.body["id"].as_str().unwrap_or_default().to_owned();
    let cancelled = app
        .post(
            &format!("/purchases/{id2}/cancel"),
            Some(&bob),
            json!({"reason": "done"}),
        )
        .await
        .expect(200);
    assert_eq!(cancelled.body["state"], "cancelled");
    assert_eq!(cancelled.body["decided_by"], "buyer");
}

#[tokio::test]
async fn a_third_account_cannot_see_or_touch_a_purchase() {
    let (app, _alice, bob) = market().await;
    let eve = app.user("eve").await;
    let p = app
        .post(
            "/products/alice/home/vip/purchases",
            Some(&bob),
            json!({"message": "hello"}),
        )
        .await
        .expect(202);
    let id = p.body["id"].as_str().unwrap_or_default().to_owned();
    app.get(&format!("/purchases/{id}"), Some(&eve))
        .await
        .expect(404);
    for action in ["approve", "decline", "revoke", "cancel"] {
        let a = app
            .post(&format!("/purchases/{id}/{action}"), Some(&eve), json!({}))
            .await
            .expect(404);
        assert_eq!(a.code(), "not_found");
    }
    app.get("/purchases/not-a-uuid", Some(&eve))
        .await
        .expect(404);
    app.post(
        "/products/alice/home/nothing/purchases",
        Some(&bob),
        json!({}),
    )
    .await
    .expect(404);
    app.get("/purchases", None).await.expect(401);
}

#[tokio::test]
async fn only_administrators_list_every_purchase() {
    let (app, _alice, bob) = market().await;
    app.post("/products/alice/home/free/purchases", Some(&bob), json!({}))
        .await
        .expect(201);
    let a = app.get("/purchases?all=true", Some(&bob)).await.expect(403);
    assert_eq!(a.code(), "forbidden");
    let root = app.admin("root").await;
    let all = app
        .get("/purchases?all=true", Some(&root))
        .await
        .expect(200);
    assert_eq!(all.body["items"][0]["buyer"], "bob");
    let own = app.get("/purchases", Some(&root)).await.expect(200);
    assert_eq!(own.body["items"].as_array().map(Vec::len), Some(0));
}

#[tokio::test]
async fn a_suspended_accounts_token_is_refused_with_403() {
    let (app, _alice, bob) = market().await;
    let root = app.admin("root").await;
    let actor = app
        .store
        .account_by_name(&agora_market::AccountName::parse("root").expect("name"))
        .await
        .expect("lookup")
        .expect("root exists")
        .actor();
    app.store
        .set_suspended(
            &actor,
            &agora_market::AccountName::parse("bob").expect("name"),
            true,
            Some("test"),
        )
        .await
        .expect("suspend");
    let a = app.get("/me", Some(&bob)).await.expect(403);
    assert_eq!(a.code(), "forbidden");
    app.get("/me", Some(&root)).await.expect(200);
}
