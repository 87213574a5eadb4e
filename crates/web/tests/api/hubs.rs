use serde_json::json;

use crate::helpers::spawn_app;

#[tokio::test]
async fn a_seller_creates_lists_edits_and_deletes_a_hub() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let created = app
        .post(
            "/hubs",
            Some(&alice),
            json!({"name": "home", "description": "house"}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["path"], "alice/home");
    assert_eq!(created.body["public"], false);
    let list = app.get("/hubs", Some(&alice)).await.expect(200);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    let edited = app
        .patch("/hubs/alice/home", Some(&alice), json!({"public": true}))
        .await
        .expect(200);
    assert_eq!(edited.body["public"], true);
    assert_eq!(edited.body["description"], "house");
    app.delete("/hubs/alice/home", Some(&alice))
        .await
        .expect(204);
    app.get("/hubs/alice/home", Some(&alice)).await.expect(404);
}

#[tokio::test]
async fn hub_names_with_wildcards_or_spaces_are_refused_with_the_field() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let long = "h".repeat(65);
    for bad in [
        "a/b",
        "+",
        "#",
        "a$b",
        "50%",
        "my hub",
        "café",
        long.as_str(),
        "",
    ] {
        let a = app
            .post("/hubs", Some(&alice), json!({"name": bad}))
            .await
            .expect(422);
        assert_eq!(a.field(), Some("name"), "{bad:?}: {}", a.text);
    }
}

#[tokio::test]
async fn hub_names_are_unique_per_owner_case_insensitively() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    let a = app
        .post("/hubs", Some(&alice), json!({"name": "HOME"}))
        .await
        .expect(409);
    assert_eq!(a.code(), "conflict");
    assert_eq!(a.field(), Some("name"));
    app.hub(&bob, "home").await;
}

#[tokio::test]
async fn another_accounts_private_hub_is_a_404_and_cannot_be_edited() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.post("/hubs", Some(&alice), json!({"name": "secret"}))
        .await
        .expect(201);
    let seen = app.get("/hubs/alice/secret", Some(&bob)).await.expect(404);
    let absent = app.get("/hubs/alice/nothing", Some(&bob)).await.expect(404);
    assert_eq!(seen.body, {
        let mut b = absent.body.clone();
        b["error"]["message"] = seen.body["error"]["message"].clone();
        b
    });
    app.get("/hubs/alice/secret", None).await.expect(404);
    app.patch("/hubs/alice/secret", Some(&bob), json!({"public": true}))
        .await
        .expect(404);
    app.delete("/hubs/alice/secret", Some(&bob))
        .await
        .expect(404);
    app.get("/hubs/alice/secret", Some(&alice))
        .await
        .expect(200);
}

#[tokio::test]
async fn public_hubs_are_listed_to_everyone_and_private_ones_are_not() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "open").await;
    app.post("/hubs", Some(&alice), json!({"name": "closed"}))
        .await
        .expect(201);
    let dir = app.get("/hubs?public=true", None).await.expect(200);
    let names: Vec<&str> = dir.body["items"]
        .as_array()
        .map(|v| v.iter().filter_map(|h| h["name"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, ["open"]);
    app.get("/hubs/alice/open", None).await.expect(200);
    app.get("/hubs", None).await.expect(401);
}

#[tokio::test]
async fn hubs_page_with_cursors_until_the_last_page() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    for i in 0..5 {
        app.hub(&alice, &format!("h{i}")).await;
    }
    let mut seen = Vec::new();
    let mut url = "/hubs?limit=2".to_owned();
    loop {
        let page = app.get(&url, Some(&alice)).await.expect(200);
        let items = page.body["items"].as_array().cloned().unwrap_or_default();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .filter_map(|h| h["name"].as_str().map(str::to_owned)),
        );
        match page.body["next_cursor"].as_str() {
            Some(c) => url = format!("/hubs?limit=2&cursor={c}"),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["h0", "h1", "h2", "h3", "h4"]);
}

#[tokio::test]
async fn a_limit_out_of_range_or_a_forged_cursor_is_refused_with_the_field() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    for q in ["limit=0", "limit=101", "limit=ten"] {
        let a = app
            .get(&format!("/hubs?{q}"), Some(&alice))
            .await
            .expect(422);
        assert_eq!(a.field(), Some("limit"), "{q}: {}", a.text);
    }
    let a = app
        .get("/hubs?cursor=bogus!", Some(&alice))
        .await
        .expect(422);
    assert_eq!(a.field(), Some("cursor"));
}
