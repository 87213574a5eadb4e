use agora_web::ApiSettings;
use serde_json::json;

use crate::helpers::{PASSWORD, spawn_app, spawn_app_with};

#[tokio::test]
async fn sign_up_creates_a_lower_case_account_and_hides_the_password() {
    let app = spawn_app().await;
    let a = app
        .post(
            "/accounts",
            None,
            json!({"name": "Alice", "password": PASSWORD}),
        )
        .await
        .expect(201);
    assert_eq!(a.body["name"], "alice");
    assert_eq!(a.body["role"], "user");
    assert!(!a.text.contains(PASSWORD));
    assert!(a.body.get("password_hash").is_none());
}

#[tokio::test]
async fn account_names_with_reserved_characters_are_refused_with_the_field() {
    let app = spawn_app().await;
    let long = "a".repeat(33);
    for bad in [
        "al/ice",
        "al+ice",
        "al#ice",
        "al$ice",
        "al%ice",
        "al ice",
        "alicé",
        "al\u{0}ce",
        "ab",
        long.as_str(),
        "1alice",
        "",
    ] {
        let a = app
            .post(
                "/accounts",
                None,
                json!({"name": bad, "password": PASSWORD}),
            )
            .await
            .expect(422);
        assert_eq!(a.code(), "validation", "{bad:?}: {}", a.text);
        assert_eq!(a.field(), Some("name"), "{bad:?}: {}", a.text);
    }
}

#[tokio::test]
async fn weak_passwords_are_refused_with_the_field() {
    let app = spawn_app().await;
    for bad in [
        "short",
        "password123",
        "aaaaaaaaaaaa",
        "carol-is-my-name-carol",
    ] {
        let a = app
            .post("/accounts", None, json!({"name": "carol", "password": bad}))
            .await
            .expect(422);
        assert_eq!(a.field(), Some("password"), "{bad:?}: {}", a.text);
    }
}

#[tokio::test]
async fn a_taken_name_is_a_conflict_on_name_whatever_its_case() {
    let app = spawn_app().await;
    app.sign_up("alice").await.expect(201);
    let a = app
        .post(
            "/accounts",
            None,
            json!({"name": "ALICE", "password": PASSWORD}),
        )
        .await
        .expect(409);
    assert_eq!(a.code(), "conflict");
    assert_eq!(a.field(), Some("name"));
}

#[tokio::test]
async fn closed_sign_up_is_forbidden() {
    let app = spawn_app_with(ApiSettings {
        open_signup: false,
        ..ApiSettings::default()
    })
    .await;
    let a = app.sign_up("alice").await.expect(403);
    assert_eq!(a.code(), "forbidden");
}

#[tokio::test]
async fn me_shows_the_caller_and_needs_a_token() {
    let app = spawn_app().await;
    let token = app.user("alice").await;
    let me = app.get("/me", Some(&token)).await.expect(200);
    assert_eq!(me.body["account"]["name"], "alice");
    assert_eq!(me.body["unread_notifications"], 0);
    let a = app.get("/me", None).await.expect(401);
    assert_eq!(a.code(), "unauthorized");
    assert_eq!(a.headers["www-authenticate"], "Bearer");
    app.get("/me", Some("agt_not-a-real-token"))
        .await
        .expect(401);
}
