use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn an_access_key_is_shown_once_and_listed_without_its_secret() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let created = app
        .post("/access-keys", Some(&bob), json!({"name": "raspberry"}))
        .await
        .expect(201);
    let key = created.body["key"].as_str().unwrap_or_default().to_owned();
    assert!(key.starts_with("agk_"), "{}", created.text);
    assert_eq!(created.body["username"], "bob");
    let list = app.get("/access-keys", Some(&bob)).await.expect(200);
    assert_eq!(list.body["items"][0]["name"], "raspberry");
    assert!(!list.text.contains(&key));
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    app.delete(&format!("/access-keys/{id}"), Some(&bob))
        .await
        .expect(204);
    let after = app.get("/access-keys", Some(&bob)).await.expect(200);
    let revoked = after.body["items"]
        .as_array()
        .and_then(|v| v.iter().find(|k| k["id"] == id.as_str()).cloned());
    assert!(revoked.is_none_or(|k| k["revoked_at"].is_string()));
}

#[tokio::test]
async fn a_key_limited_to_products_lists_them_and_refuses_bad_topics() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    let p = app
        .product(&alice, "home", "temp", json!({}))
        .await
        .expect(201);
    let created = app
        .post(
            "/access-keys",
            Some(&bob),
            json!({"name": "one", "products": ["alice/home/temp"]}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["product_ids"][0], p.body["id"]);
    assert_eq!(created.body["products"][0], "alice/home/temp");
    let list = app.get("/access-keys", Some(&bob)).await.expect(200);
    assert_eq!(list.body["items"][0]["products"][0], "alice/home/temp");
    let a = app
        .post(
            "/access-keys",
            Some(&bob),
            json!({"name": "bad", "products": ["alice/home/temp", "alice/+/#"]}),
        )
        .await
        .expect(422);
    assert_eq!(a.field(), Some("products[1]"));
    let a = app
        .post("/access-keys", Some(&bob), json!({"name": "  "}))
        .await
        .expect(422);
    assert_eq!(a.field(), Some("name"));
}

#[tokio::test]
async fn another_accounts_key_cannot_be_revoked() {
    let app = spawn_app().await;
    let bob = app.user("bob").await;
    let eve = app.user("eve").await;
    let created = app
        .post("/access-keys", Some(&bob), json!({"name": "k"}))
        .await
        .expect(201);
    let id = created.body["id"].as_str().unwrap_or_default().to_owned();
    app.delete(&format!("/access-keys/{id}"), Some(&eve))
        .await
        .expect(404);
    let list = app.get("/access-keys", Some(&eve)).await.expect(200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(0));
    app.get("/access-keys", None).await.expect(401);
}
