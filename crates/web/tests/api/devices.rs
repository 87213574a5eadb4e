use serde_json::json;

use crate::helpers::spawn_app;

const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo
4lgOEePzNm0tRgeLezV6ffAt0gunVTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u
+qKhbwKfBstIs+bMY2Zkp18gnTxKLxoS2tFczGkPLPgizskuemMghRniWaoLcyeh
kd3qqGElvW/VDL5AaWTg0nLVkjRo9z+40RQzuVaE8AkAFmxZzow3x+VJYKdjykkJ
0iT9wCS0DRTXu269V264Vf/3jvredZiKRkgwlL9xNAwxXFg0x/XFw005UWVRIkdg
cKWTjpBP2dPwVZ4WWC+9aGVd+Gyn1o0CLelf4rEjGoXbAAEgAqeGUxrcIlbjXfbc
mwIDAQAB
-----END PUBLIC KEY-----";

#[tokio::test]
async fn a_secret_device_shows_its_secret_once_and_never_again() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    let created = app
        .post(
            "/hubs/alice/home/devices",
            Some(&alice),
            json!({"name": "pi"}),
        )
        .await
        .expect(201);
    let secret = created.body["secret"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(secret.starts_with("ags_"), "{}", created.text);
    assert_eq!(created.body["username"], "alice$home$pi");
    assert_eq!(created.body["credential"], "secret");
    let one = app
        .get("/hubs/alice/home/devices/pi", Some(&alice))
        .await
        .expect(200);
    let list = app
        .get("/hubs/alice/home/devices", Some(&alice))
        .await
        .expect(200);
    for a in [&one, &list] {
        assert!(!a.text.contains(&secret));
        assert!(!a.text.contains("\"secret\":"), "{}", a.text);
    }
    let rotated = app
        .post(
            "/hubs/alice/home/devices/pi/rotate",
            Some(&alice),
            json!({}),
        )
        .await
        .expect(200);
    let new_secret = rotated.body["secret"].as_str().unwrap_or_default();
    assert!(new_secret.starts_with("ags_") && new_secret != secret);
    assert!(rotated.body["rotated_at"].is_string());
}

#[tokio::test]
async fn a_rotation_without_a_body_issues_a_new_secret() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    app.post(
        "/hubs/alice/home/devices",
        Some(&alice),
        json!({"name": "pi"}),
    )
    .await
    .expect(201);
    let r = app
        .client
        .post(app.url("/hubs/alice/home/devices/pi/rotate"))
        .bearer_auth(&alice)
        .send()
        .await
        .expect("request");
    let a = crate::helpers::TestApp::answer(r).await.expect(200);
    assert!(
        a.body["secret"]
            .as_str()
            .is_some_and(|s| s.starts_with("ags_"))
    );
}

#[tokio::test]
async fn a_key_device_keeps_its_public_key_and_has_no_secret() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    let created = app
        .post(
            "/hubs/alice/home/devices",
            Some(&alice),
            json!({"name": "sensor-1", "public_key": PUBLIC_KEY}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["credential"], "public_key");
    assert!(created.body.get("secret").is_none(), "{}", created.text);
    assert!(
        created.body["public_key_pem"]
            .as_str()
            .is_some_and(|p| p.contains("BEGIN PUBLIC KEY"))
    );
}

#[tokio::test]
async fn a_bad_public_key_is_refused_on_its_field() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    let a = app
        .post(
            "/hubs/alice/home/devices",
            Some(&alice),
            json!({"name": "d", "public_key": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"}),
        )
        .await
        .expect(422);
    assert_eq!(a.field(), Some("public_key"));
}

#[tokio::test]
async fn device_names_follow_the_name_rules() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    for bad in ["a$b", "a/b", "a b", "ü", "+"] {
        let a = app
            .post(
                "/hubs/alice/home/devices",
                Some(&alice),
                json!({"name": bad}),
            )
            .await
            .expect(422);
        assert_eq!(a.field(), Some("name"), "{bad:?}");
    }
    app.post(
        "/hubs/alice/home/devices",
        Some(&alice),
        json!({"name": "pi"}),
    )
    .await
    .expect(201);
    let dup = app
        .post(
            "/hubs/alice/home/devices",
            Some(&alice),
            json!({"name": "PI"}),
        )
        .await
        .expect(409);
    assert_eq!(dup.code(), "conflict");
}

#[tokio::test]
async fn devices_of_another_accounts_hub_are_a_404_even_in_a_public_hub() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    app.post(
        "/hubs/alice/home/devices",
        Some(&alice),
        json!({"name": "pi"}),
    )
    .await
    .expect(201);
    app.get("/hubs/alice/home/devices", Some(&bob))
        .await
        .expect(404);
    app.get("/hubs/alice/home/devices/pi", Some(&bob))
        .await
        .expect(404);
    app.post(
        "/hubs/alice/home/devices",
        Some(&bob),
        json!({"name": "evil"}),
    )
    .await
    .expect(404);
    app.post("/hubs/alice/home/devices/pi/rotate", Some(&bob), json!({}))
        .await
        .expect(404);
    app.delete("/hubs/alice/home/devices/pi", Some(&bob))
        .await
        .expect(404);
    app.get("/hubs/alice/home/devices", None).await.expect(401);
    app.delete("/hubs/alice/home/devices/pi", Some(&alice))
        .await
        .expect(204);
    app.get("/hubs/alice/home/devices/pi", Some(&alice))
        .await
        .expect(404);
}
