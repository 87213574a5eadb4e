use std::num::NonZeroU32;

use agora_web::{ApiSettings, LoginLimits};
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn a_token_is_shown_once_and_listed_without_its_secret() {
    let app = spawn_app().await;
    app.sign_up("alice").await.expect(201);
    let created = app
        .post(
            "/tokens",
            None,
            json!({"name": "laptop", "account": "alice", "password": PASSWORD}),
        )
        .await
        .expect(201);
    let token = created.body["token"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(token.starts_with("agt_"), "{}", created.text);
    let list = app.get("/tokens", Some(&token)).await.expect(200);
    assert_eq!(list.body["items"][0]["name"], "laptop");
    assert!(!list.text.contains(&token));
    assert!(list.body["next_cursor"].is_null());
}

#[tokio::test]
async fn a_wrong_password_and_an_unknown_account_get_the_same_401() {
    let app = spawn_app().await;
    app.sign_up("alice").await.expect(201);
    let wrong = app
        .post(
            "/tokens",
            None,
            json!({"name": "x", "account": "alice", "password": "wrong password!"}),
        )
        .await
        .expect(401);
    let unknown = app
        .post(
            "/tokens",
            None,
            json!({"name": "x", "account": "nobody", "password": PASSWORD}),
        )
        .await
        .expect(401);
    assert_eq!(wrong.body, unknown.body);
}

#[tokio::test]
async fn a_token_can_mint_another_and_a_revoked_token_stops_working() {
    let app = spawn_app().await;
    let first = app.user("alice").await;
    let second = app
        .post("/tokens", Some(&first), json!({"name": "ci"}))
        .await
        .expect(201);
    let second_token = second.body["token"].as_str().unwrap_or_default().to_owned();
    let id = second.body["id"].as_str().unwrap_or_default().to_owned();
    app.get("/me", Some(&second_token)).await.expect(200);
    app.delete(&format!("/tokens/{id}"), Some(&first))
        .await
        .expect(204);
    app.get("/me", Some(&second_token)).await.expect(401);
    app.get("/me", Some(&first)).await.expect(200);
}

#[tokio::test]
async fn another_accounts_token_cannot_be_revoked() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    let list = app.get("/tokens", Some(&alice)).await.expect(200);
    let id = list.body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let a = app
        .delete(&format!("/tokens/{id}"), Some(&bob))
        .await
        .expect(404);
    assert_eq!(a.code(), "not_found");
    app.get("/me", Some(&alice)).await.expect(200);
}

#[tokio::test]
async fn an_expiry_in_the_past_is_refused() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    let a = app
        .post(
            "/tokens",
            Some(&token),
            json!({"name": "old", "expires_at": "2020-01-01T00:00:00Z"}),
        )
        .await
        .expect(422);
    assert_eq!(a.field(), Some("expires_at"));
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_account() {
    let app = spawn_app_with(ApiSettings {
        login_limits: LoginLimits {
            per_account_per_minute: NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN),
            per_address_per_minute: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            ..LoginLimits::default()
        },
        ..ApiSettings::default()
    })
    .await;
    app.sign_up("alice").await.expect(201);
    let attempt = json!({"name": "x", "account": "alice", "password": "wrong password!"});
    for _ in 0..3 {
        app.post("/tokens", None, attempt.clone()).await.expect(401);
    }
    let limited = app.post("/tokens", None, attempt).await.expect(429);
    assert_eq!(limited.code(), "rate_limited");
    assert!(limited.headers.contains_key("retry-after"));
    // Even the right password waits: the throttle comes before the check.
    app.post(
        "/tokens",
        None,
        json!({"name": "x", "account": "alice", "password": PASSWORD}),
    )
    .await
    .expect(429);
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() {
    let app = spawn_app_with(ApiSettings {
        login_limits: LoginLimits {
            per_account_per_minute: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            per_address_per_minute: NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
            ..LoginLimits::default()
        },
        ..ApiSettings::default()
    })
    .await;
    for name in ["ann", "ben"] {
        app.post(
            "/tokens",
            None,
            json!({"name": "x", "account": name, "password": "wrong password!"}),
        )
        .await
        .expect(401);
    }
    let a = app
        .post(
            "/tokens",
            None,
            json!({"name": "x", "account": "cat", "password": "wrong password!"}),
        )
        .await
        .expect(429);
    assert_eq!(a.code(), "rate_limited");
}

#[tokio::test]
async fn a_password_without_an_account_names_the_missing_field() {
    let app = spawn_app().await;
    let a = app
        .post("/tokens", None, json!({"name": "x", "password": PASSWORD}))
        .await
        .expect(422);
    assert_eq!(a.field(), Some("account"));
    app.post("/tokens", None, json!({"name": "x"}))
        .await
        .expect(401);
}

#[tokio::test]
async fn the_current_token_is_marked_and_log_out_revokes_only_it() {
    let app = spawn_app().await;
    let first = app.user("alice").await;
    let second = app.log_in("alice").await;
    let list = app.get("/tokens", Some(&first)).await.expect(200);
    let current: Vec<bool> = list.body["items"]
        .as_array()
        .map(|v| v.iter().filter_map(|t| t["current"].as_bool()).collect())
        .unwrap_or_default();
    assert_eq!(current.iter().filter(|c| **c).count(), 1, "{}", list.text);
    app.delete("/tokens/current", Some(&first))
        .await
        .expect(204);
    app.get("/me", Some(&first)).await.expect(401);
    app.get("/me", Some(&second)).await.expect(200);
}

#[tokio::test]
async fn sign_ups_are_rate_limited_per_address() {
    let app = spawn_app_with(ApiSettings {
        login_limits: LoginLimits {
            signups_per_address_per_minute: NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
            ..LoginLimits::default()
        },
        ..ApiSettings::default()
    })
    .await;
    app.sign_up("ann").await.expect(201);
    app.sign_up("ben").await.expect(201);
    let a = app.sign_up("cat").await.expect(429);
    assert_eq!(a.code(), "rate_limited");
}

#[tokio::test]
async fn a_login_without_a_label_names_the_token_api() {
    let app = spawn_app().await;
    app.sign_up("alice").await.expect(201);
    let a = app
        .post(
            "/tokens",
            None,
            json!({"account": "alice", "password": PASSWORD}),
        )
        .await
        .expect(201);
    assert_eq!(a.body["name"], "api");
}
