use serde_json::json;

use crate::helpers::spawn_app;

fn names(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|p| p["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_seller_creates_reads_edits_and_deletes_a_product() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    let created = app
        .product(
            &alice,
            "home",
            "temp",
            json!({"description": "°C", "plan": {"type": "period", "days": 30, "price_cents": 500},
                   "location": {"lat": 48.85, "lon": 2.35}, "tags": ["temperature", "indoor"],
                   "declared_rate_secs": 5, "schema": {"type": "object"}}),
        )
        .await
        .expect(201);
    assert_eq!(created.body["topic"], "alice/home/temp");
    assert_eq!(created.body["plan"]["price_cents"], 500);
    assert_eq!(created.body["kind"], "sensor");
    let read = app.get("/products/alice/home/temp", None).await.expect(200);
    assert_eq!(read.body["title"], "Product temp");
    assert!(
        read.body["liveness"]["last_data_at"].is_null(),
        "{}",
        read.text
    );
    assert_eq!(read.body["liveness"]["published_messages"], 0);
    let edited = app
        .patch(
            "/products/alice/home/temp",
            Some(&alice),
            json!({"title": "Kitchen", "location": null, "restricted": true}),
        )
        .await
        .expect(200);
    assert_eq!(edited.body["title"], "Kitchen");
    assert!(edited.body["location"].is_null());
    assert_eq!(edited.body["restricted"], true);
    assert_eq!(edited.body["topic"], "alice/home/temp");
    assert_eq!(edited.body["declared_rate_secs"], 5);
    app.delete("/products/alice/home/temp", Some(&alice))
        .await
        .expect(204);
    app.get("/products/alice/home/temp", None).await.expect(404);
}

#[tokio::test]
async fn editing_cannot_move_a_product_to_another_topic_or_hub() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    app.product(&alice, "home", "temp", json!({}))
        .await
        .expect(201);
    for field in ["topic", "hub", "name"] {
        let a = app
            .patch(
                "/products/alice/home/temp",
                Some(&alice),
                json!({field: "x"}),
            )
            .await
            .expect(422);
        assert_eq!(a.field(), Some(field), "{}", a.text);
    }
}

#[tokio::test]
async fn product_names_with_wildcards_are_refused_and_fields_are_named() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    for bad in ["+", "#", "a/b", "a b", "%u"] {
        let a = app
            .product(&alice, "home", bad, json!({}))
            .await
            .expect(422);
        assert_eq!(a.field(), Some("name"), "{bad:?}");
    }
    let cases = [
        (json!({"title": ""}), "title"),
        (json!({"kind": "toaster"}), "kind"),
        (
            json!({"plan": {"type": "period", "days": 0, "price_cents": 5}}),
            "plan.days",
        ),
        (
            json!({"plan": {"type": "messages", "count": 10, "price_cents": -1}}),
            "plan.price_cents",
        ),
        (
            json!({"location": {"lat": 91.0, "lon": 0.0}}),
            "location.lat",
        ),
        (json!({"tags": ["Not A Tag!"]}), "tags"),
        (json!({"declared_rate_secs": 0}), "declared_rate_secs"),
        (json!({"schema": [1, 2]}), "schema"),
    ];
    for (extra, field) in cases {
        let a = app
            .product(&alice, "home", "ok", extra.clone())
            .await
            .expect(422);
        assert_eq!(a.field(), Some(field), "{extra}: {}", a.text);
    }
}

#[tokio::test]
async fn only_the_owner_edits_or_deletes_a_product() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    app.product(&alice, "home", "temp", json!({}))
        .await
        .expect(201);
    let a = app
        .patch(
            "/products/alice/home/temp",
            Some(&bob),
            json!({"title": "mine"}),
        )
        .await;
    assert!(a.status == 404 || a.status == 403, "{}", a.text);
    let d = app.delete("/products/alice/home/temp", Some(&bob)).await;
    assert!(d.status == 404 || d.status == 403, "{}", d.text);
    app.patch("/products/alice/home/temp", None, json!({"title": "x"}))
        .await
        .expect(401);
    // Nor can bob create a product in alice's hub.
    app.product(&bob, "alice/home", "fake", json!({}))
        .await
        .expect(404);
    let read = app.get("/products/alice/home/temp", None).await.expect(200);
    assert_eq!(read.body["title"], "Product temp");
}

#[tokio::test]
async fn search_filters_by_words_owner_hub_kind_restriction_and_tag() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    let bob = app.user("bob").await;
    app.hub(&alice, "home").await;
    app.hub(&bob, "farm").await;
    app.product(
        &alice,
        "home",
        "temp",
        json!({"title": "Living-room temperature", "tags": ["climate"]}),
    )
    .await
    .expect(201);
    app.product(
        &alice,
        "home",
        "door",
        json!({"title": "Door lock", "kind": "actuator", "restricted": true}),
    )
    .await
    .expect(201);
    app.product(
        &bob,
        "farm",
        "soil",
        json!({"title": "Soil moisture", "tags": ["climate"]}),
    )
    .await
    .expect(201);
    let by = |q: &'static str| {
        let app = &app;
        async move {
            let mut n = names(
                &app.get(&format!("/products?{q}"), None)
                    .await
                    .expect(200)
                    .body,
            );
            n.sort();
            n
        }
    };
    assert_eq!(by("q=temperature").await, ["temp"]);
    assert_eq!(by("owner=alice").await, ["door", "temp"]);
    assert_eq!(by("hub=bob/farm").await, ["soil"]);
    assert_eq!(by("kind=actuator").await, ["door"]);
    assert_eq!(by("restricted=true").await, ["door"]);
    assert_eq!(by("restricted=false&tag=climate").await, ["soil", "temp"]);
    assert_eq!(by("").await, ["door", "soil", "temp"]);
    let a = app.get("/products?kind=toaster", None).await.expect(422);
    assert_eq!(a.field(), Some("kind"));
    let a = app.get("/products?sort=random", None).await.expect(422);
    assert_eq!(a.field(), Some("sort"));
}

#[tokio::test]
async fn near_finds_products_within_the_radius_nearest_first() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "city").await;
    // Paris centre, Versailles (~17 km), Lyon (~390 km), and one without a location.
    for (name, loc) in [
        ("versailles", Some((48.8049, 2.1204))),
        ("centre", Some((48.8566, 2.3522))),
        ("lyon", Some((45.7640, 4.8357))),
        ("nowhere", None),
    ] {
        let extra = match loc {
            Some((lat, lon)) => json!({"location": {"lat": lat, "lon": lon}}),
            None => json!({}),
        };
        app.product(&alice, "city", name, extra).await.expect(201);
    }
    let found = app
        .get("/products?near=48.857,2.352,50", None)
        .await
        .expect(200);
    assert_eq!(names(&found.body), ["centre", "versailles"]);
    let d0 = found.body["items"][0]["distance_km"]
        .as_f64()
        .unwrap_or(f64::NAN);
    let d1 = found.body["items"][1]["distance_km"]
        .as_f64()
        .unwrap_or(f64::NAN);
    assert!(d0 < 1.0 && (10.0..25.0).contains(&d1), "{d0} {d1}");
    let wide = app
        .get("/products?near=48.857,2.352,1000", None)
        .await
        .expect(200);
    assert_eq!(names(&wide.body), ["centre", "versailles", "lyon"]);
    for bad in ["near=48.8", "near=a,b,c", "near=95,0,10", "near=48,2,-5"] {
        let a = app.get(&format!("/products?{bad}"), None).await.expect(422);
        assert_eq!(a.field(), Some("near"), "{bad}: {}", a.text);
    }
}

#[tokio::test]
async fn search_pages_with_cursors() {
    let app = spawn_app().await;
    let alice = app.user("alice").await;
    app.hub(&alice, "home").await;
    for i in 0..5 {
        app.product(&alice, "home", &format!("p{i}"), json!({}))
            .await
            .expect(201);
    }
    let first = app
        .get("/products?limit=3&sort=title", None)
        .await
        .expect(200);
    assert_eq!(names(&first.body), ["p0", "p1", "p2"]);
    let cursor = first.body["next_cursor"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let second = app
        .get(
            &format!("/products?limit=3&sort=title&cursor={cursor}"),
            None,
        )
        .await
        .expect(200);
    assert_eq!(names(&second.body), ["p3", "p4"]);
    assert!(second.body["next_cursor"].is_null());
}
