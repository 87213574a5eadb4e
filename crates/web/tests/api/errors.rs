use agora_web::ApiSettings;
use serde_json::json;

use crate::helpers::{TestApp, spawn_app, spawn_app_with};

#[tokio::test]
async fn malformed_json_is_a_400_json_error() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/accounts"))
        .header("content-type", "application/json")
        .body("{\"name\": \"alice\", ")
        .send()
        .await
        .expect("request");
    let a = TestApp::answer(r).await.expect(400);
    assert_eq!(a.code(), "bad_request");
    assert!(a.body["error"]["message"].is_string());
    assert!(a.body["error"].get("field").is_some());
}

#[tokio::test]
async fn a_body_that_is_not_json_is_a_415() {
    let app = spawn_app().await;
    let r = app
        .client
        .post(app.url("/accounts"))
        .header("content-type", "text/plain")
        .body("name=alice")
        .send()
        .await
        .expect("request");
    let a = TestApp::answer(r).await.expect(415);
    assert_eq!(a.code(), "unsupported_media_type");
}

#[tokio::test]
async fn a_missing_or_ill_typed_field_is_a_422_naming_it() {
    let app = spawn_app().await;
    let a = app
        .post("/accounts", None, json!({"name": "alice"}))
        .await
        .expect(422);
    assert_eq!(a.code(), "validation");
    assert_eq!(a.field(), Some("password"));
    let a = app
        .post("/accounts", None, json!({"name": 42, "password": "x"}))
        .await
        .expect(422);
    assert_eq!(a.field(), Some("name"));
    let a = app
        .post(
            "/accounts",
            None,
            json!({"name": "alice", "password": "correct horse battery", "admin": true}),
        )
        .await
        .expect(422);
    assert_eq!(a.field(), Some("admin"));
}

#[tokio::test]
async fn an_oversized_body_is_a_413_json_error() {
    let app = spawn_app_with(ApiSettings {
        body_limit: 1024,
        ..ApiSettings::default()
    })
    .await;
    let big = "x".repeat(4096);
    let a = app
        .post("/accounts", None, json!({"name": "alice", "password": big}))
        .await
        .expect(413);
    assert_eq!(a.code(), "payload_too_large");
}

#[tokio::test]
async fn the_default_body_limit_is_64_kib() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    let big = "x".repeat(70 * 1024);
    app.post(
        "/hubs",
        Some(&token),
        json!({"name": "h", "description": big}),
    )
    .await
    .expect(413);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_in_the_error_format() {
    let app = spawn_app().await;
    let a = app.get("/no-such-thing", None).await.expect(404);
    assert_eq!(a.code(), "not_found");
    let a = app.delete("/accounts", None).await.expect(405);
    assert_eq!(a.code(), "method_not_allowed");
}

#[tokio::test]
async fn a_malformed_authorization_header_is_a_401() {
    let app = spawn_app().await;
    let r = app
        .client
        .get(app.url("/me"))
        .header("authorization", "Basic YWxpY2U6cGFzcw==")
        .send()
        .await
        .expect("request");
    let a = TestApp::answer(r).await.expect(401);
    assert_eq!(a.code(), "unauthorized");
}

#[tokio::test]
async fn healthz_answers_ok() {
    let app = spawn_app().await;
    let a = app.get("/healthz", None).await.expect(200);
    assert_eq!(a.text, "ok\n");
}

#[tokio::test]
async fn a_database_failure_is_an_opaque_500_and_healthz_says_503() {
    let app = spawn_app().await;
    app.store.close().await;
    let a = app.get("/products", None).await.expect(500);
    assert_eq!(a.code(), "internal");
    assert_eq!(
        a.body["error"]["message"],
        "internal error; it has been logged"
    );
    assert!(!a.text.to_lowercase().contains("pool"), "{}", a.text);
    assert!(a.headers.contains_key("x-request-id"));
    app.get("/healthz", None).await.expect(503);
}
