//! The dashboard: hubs, devices (secret shown once), products, purchases, sales with
//! approvals, access keys, API tokens, notifications, and the confirmation step of every
//! destructive action.

use agora_market::{AccountName, DeviceUsername, HubName, ProductTopic, PurchaseState};
use agora_store::PageRequest;
use reqwest::StatusCode;

use crate::{Browser, account, product, spawn_app};

/// The text between the first `<pre class="code copy" id="secret">` and `</pre>`.
fn shown_secret(body: &str) -> String {
    let marker = "id=\"secret\">";
    let start = body
        .find(marker)
        .unwrap_or_else(|| panic!("no secret shown:\n{body}"))
        + marker.len();
    let end = body[start..].find("</pre>").expect("closing tag") + start;
    body[start..end].to_owned()
}

async fn seller_with_hub(b: &Browser) {
    b.signup("alice").await;
    let p = b
        .post(
            "/dashboard/hubs",
            &[
                ("name", "home"),
                ("public", "yes"),
                ("description", "my <home>"),
            ],
        )
        .await;
    assert!(p.has("Hub home created."), "{}", p.body);
}

#[tokio::test]
async fn the_dashboard_needs_a_login() {
    let app = spawn_app().await;
    for path in [
        "/dashboard",
        "/dashboard/products",
        "/dashboard/purchases",
        "/dashboard/sales",
        "/dashboard/keys",
        "/dashboard/notifications",
        "/settings",
    ] {
        let p = app.browser().get(path).await;
        assert!(p.url.contains("/login?next="), "{path} → {}", p.url);
    }
}

#[tokio::test]
async fn a_seller_creates_a_hub_and_a_device_whose_secret_is_shown_once() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    let p = b.get("/dashboard").await;
    assert!(
        p.has("alice/home") && p.has("my &lt;home&gt;") || p.has("my &#60;home&#62;"),
        "{}",
        p.body
    );
    let p = b
        .post(
            "/dashboard/hubs/home/devices",
            &[("name", "pi"), ("credential", "secret")],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("shown only this once"));
    let secret = shown_secret(&p.body);
    assert!(secret.starts_with("ags_"), "{secret}");
    assert!(p.has("alice$home$pi"));
    // The secret works as the device's MQTT password…
    let username = DeviceUsername::parse("alice$home$pi").expect("username");
    let (_, cred, _) = app
        .store
        .device_credential(&username)
        .await
        .expect("store")
        .expect("device");
    match cred {
        agora_market::DeviceCredential::Secret(h) => assert!(h.verify(&secret)),
        other => panic!("expected a secret, got {other:?}"),
    }
    // …and is never shown again.
    for path in ["/dashboard", "/dashboard/keys", "/dashboard/products"] {
        assert!(
            !b.get(path).await.has(&secret),
            "{path} shows the secret again"
        );
    }
    let p = b
        .post(
            "/dashboard/hubs/home/devices",
            &[("name", "pi"), ("credential", "secret")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("already has a device named pi"));
}

#[tokio::test]
async fn a_device_with_a_bad_public_key_is_refused_with_a_reason() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    let p = b
        .post(
            "/dashboard/hubs/home/devices",
            &[
                ("name", "k1"),
                ("credential", "public_key"),
                ("public_key", "not a key"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("Public key:"), "{}", p.body);
}

#[tokio::test]
async fn rotating_and_deleting_a_device_ask_for_confirmation_first() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    let first = shown_secret(
        &b.post("/dashboard/hubs/home/devices", &[("name", "pi")])
            .await
            .body,
    );
    let p = b
        .post(
            "/dashboard/hubs/home/devices/pi/rotate",
            &[("credential", "secret")],
        )
        .await;
    assert!(
        p.has("Yes, I am sure") && p.has("Rotate the credential"),
        "{}",
        p.body
    );
    assert!(!p.has("id=\"secret\""), "nothing rotated yet");
    let p = b
        .post(
            "/dashboard/hubs/home/devices/pi/rotate",
            &[("credential", "secret"), ("confirm", "yes")],
        )
        .await;
    let second = shown_secret(&p.body);
    assert_ne!(first, second);
    let p = b.post("/dashboard/hubs/home/devices/pi/delete", &[]).await;
    assert!(p.has("Delete device alice$home$pi?"));
    let p = b
        .post(
            "/dashboard/hubs/home/devices/pi/delete",
            &[("confirm", "yes")],
        )
        .await;
    assert!(p.has("Device alice$home$pi deleted."), "{}", p.body);
    let gone = app
        .store
        .device_credential(&DeviceUsername::parse("alice$home$pi").expect("name"))
        .await
        .expect("store");
    assert!(gone.is_none());
}

#[tokio::test]
async fn a_seller_creates_edits_and_deletes_a_product() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    let p = b.get("/dashboard/products/new?hub=home").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("<option value=\"home\" selected>"));
    let fields = [
        ("hub", "home"),
        ("name", "temp"),
        ("title", "Garden <b>temperature</b>"),
        ("description", "Every five seconds"),
        ("kind", "sensor"),
        ("plan", "period"),
        ("days", "30"),
        ("price", "2.50"),
        ("lat", "48.137"),
        ("lon", "11.575"),
        ("tags", "weather, garden"),
        ("rate", "5"),
        ("schema", "{\"type\": \"number\"}"),
        ("licence", "CC0"),
    ];
    let p = b.post("/dashboard/products/new", &fields).await;
    assert!(
        p.url.ends_with("/products/alice/home/temp"),
        "{} {}",
        p.url,
        p.body
    );
    assert!(p.has("Product created"));
    assert!(p.has("2.50 per 30 days") && p.has("every 5 s") && p.has("48.13700, 11.57500"));
    let mut bad = fields;
    bad[1] = ("name", "temp2");
    bad[7] = ("price", "lots");
    let p = b.post("/dashboard/products/new", &bad).await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("Price:") && p.has("value=\"temp2\""), "{}", p.body);
    let p = b.get("/dashboard/products/home/temp/edit").await;
    assert!(p.has("value=\"2.50\"") && p.has("weather"), "{}", p.body);
    let mut edit = fields;
    edit[2] = ("title", "Garden temperature, calibrated");
    edit[5] = ("plan", "free");
    let p = b.post("/dashboard/products/home/temp/edit", &edit).await;
    assert!(
        p.has("Product saved.") && p.has("Garden temperature, calibrated") && p.has("Free"),
        "{}",
        p.body
    );
    let p = b.get("/dashboard/products").await;
    assert!(p.has("alice/home/temp"));
    let p = b.post("/dashboard/products/home/temp/delete", &[]).await;
    assert!(p.has("Delete product alice/home/temp?"));
    let p = b
        .post(
            "/dashboard/products/home/temp/delete",
            &[("confirm", "yes")],
        )
        .await;
    assert!(p.has("Product alice/home/temp deleted."));
    assert_eq!(
        b.get("/products/alice/home/temp").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn another_account_cannot_edit_or_delete_a_product() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Mine", "", false, None).await;
    let b = app.browser();
    b.signup("mallory").await;
    // Paths name the visitor's own products only, so alice's is simply not there.
    let p = b.get("/dashboard/products/home/temp/edit").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let p = b
        .post(
            "/dashboard/products/home/temp/delete",
            &[("confirm", "yes")],
        )
        .await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    let topic = ProductTopic::parse("alice/home/temp").expect("topic");
    assert!(app.store.get_product(&topic).await.is_ok());
}

#[tokio::test]
async fn a_restricted_request_is_approved_by_the_seller_and_the_buyer_is_told() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "air", "Air quality", "", true, None).await;
    let seller = app.browser();
    seller
        .post(
            "/login",
            &[("name", "alice"), ("password", crate::PASSWORD)],
        )
        .await;
    let buyer = app.browser();
    buyer.signup("bob").await;
    buyer
        .post(
            "/products/alice/home/air/buy",
            &[("message", "research <project>")],
        )
        .await;
    let p = seller.get("/dashboard/sales").await;
    assert!(p.has("<strong>bob</strong> asks for"), "{}", p.body);
    assert!(p.has("research &lt;project&gt;") || p.has("research &#60;project&#62;"));
    assert!(p.has("class=\"badge\""), "the tab shows a waiting request");
    let id = {
        let sales = app
            .store
            .list_sales(&alice, &PageRequest::first(5))
            .await
            .expect("sales");
        sales.items[0].id.0.to_string()
    };
    let p = seller
        .post(&format!("/dashboard/sales/{id}/approve"), &[])
        .await;
    assert!(
        p.has("Approved: bob now has access to alice/home/air."),
        "{}",
        p.body
    );
    let p = buyer.get("/dashboard/purchases").await;
    assert!(
        p.has("state-active") && p.has("alice/home/air"),
        "{}",
        p.body
    );
    assert!(p.has("days left"));
    let p = buyer.get("/dashboard/notifications").await;
    assert!(p.has("purchase_approved"), "{}", p.body);
    let p = buyer.post("/dashboard/notifications/read-all", &[]).await;
    assert!(p.has("marked read"));
}

#[tokio::test]
async fn declining_asks_first_and_keeps_the_reason() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "air", "Air quality", "", true, None).await;
    let bob = account(&app.store, "bob").await;
    let topic = ProductTopic::parse("alice/home/air").expect("topic");
    let req = app
        .store
        .purchase(&bob, &topic, Some("please"))
        .await
        .expect("request");
    let seller = app.browser();
    seller
        .post(
            "/login",
            &[("name", "alice"), ("password", crate::PASSWORD)],
        )
        .await;
    let path = format!("/dashboard/sales/{}/decline", req.id.0);
    let p = seller.post(&path, &[("reason", "not for <you>")]).await;
    assert!(
        p.has("Decline the purchase") && p.has("value=\"not for &lt;you&gt;\"")
            || p.has("value=\"not for &#60;you&#62;\""),
        "{}",
        p.body
    );
    let p = seller
        .post(&path, &[("reason", "not for you"), ("confirm", "yes")])
        .await;
    assert!(p.has("is declined now"), "{}", p.body);
    let got = app
        .store
        .get_purchase(&bob, req.id)
        .await
        .expect("purchase");
    assert_eq!(got.state, PurchaseState::Declined);
    assert_eq!(got.reason.as_deref(), Some("not for you"));
}

#[tokio::test]
async fn a_buyer_cancels_after_confirming() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Temp", "", false, None).await;
    let b = app.browser();
    b.signup("bob").await;
    b.post("/products/alice/home/temp/buy", &[]).await;
    let p = b.get("/dashboard/purchases").await;
    let marker = "/dashboard/purchases/";
    let start = p.body.find(marker).expect("a cancel form") + marker.len();
    let id = &p.body[start..start + 36];
    let path = format!("/dashboard/purchases/{id}/cancel");
    assert!(
        b.post(&path, &[])
            .await
            .has("Cancel the purchase of alice/home/temp?")
    );
    let p = b.post(&path, &[("confirm", "yes")]).await;
    assert!(p.has("is cancelled now"), "{}", p.body);
}

#[tokio::test]
async fn an_access_key_is_shown_once_works_and_is_revoked_after_confirming() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Temp", "", false, None).await;
    let b = app.browser();
    b.signup("bob").await;
    b.post("/products/alice/home/temp/buy", &[]).await;
    let p = b.get("/dashboard/keys").await;
    assert!(
        p.has("value=\"alice/home/temp\""),
        "the bought product can be chosen"
    );
    let p = b
        .post(
            "/dashboard/keys",
            &[
                ("name", "lab pi"),
                ("products", "alice/home/temp"),
                ("days", "30"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.body);
    let key = shown_secret(&p.body);
    assert!(key.starts_with("agk_"));
    assert!(p.has(&format!("mosquitto_sub -h mqtt.test -p 1883 -u bob -P &#39;{key}&#39; -t &#39;alice/home/temp/#&#39; -v")), "{}", p.body);
    let (_, k) = app
        .store
        .authenticate_access_key("bob", &key)
        .await
        .expect("the key works");
    assert_eq!(k.topics.len(), 1);
    let p = b.get("/dashboard/keys").await;
    assert!(p.has("lab pi") && !p.has(&key), "listed, never re-shown");
    let path = format!("/dashboard/keys/{}/revoke", k.id.0);
    assert!(b.post(&path, &[]).await.has("Revoke access key lab pi?"));
    let p = b.post(&path, &[("confirm", "yes")]).await;
    assert!(p.has("Access key lab pi revoked."));
    assert!(
        app.store
            .authenticate_access_key("bob", &key)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_api_token_is_shown_once_and_sessions_are_listed_apart() {
    let app = spawn_app().await;
    let b = app.browser();
    b.signup("carol").await;
    let p = b.post("/dashboard/tokens", &[("name", "script")]).await;
    let token = shown_secret(&p.body);
    assert!(token.starts_with("agt_"));
    app.store
        .authenticate_api_token(&token)
        .await
        .expect("the token works");
    let p = b.get("/dashboard/keys").await;
    assert!(p.has(">script<") && p.has("this browser") && !p.has(&token));
    let p = b
        .post("/dashboard/tokens", &[("name", "web session")])
        .await;
    assert_eq!(
        p.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the session name is reserved"
    );
}

#[tokio::test]
async fn deleting_a_hub_asks_first() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    assert!(
        b.post("/dashboard/hubs/home/delete", &[])
            .await
            .has("Delete hub home?")
    );
    let p = b
        .post("/dashboard/hubs/home/delete", &[("confirm", "yes")])
        .await;
    assert!(p.has("Hub home deleted."));
    let alice = app
        .store
        .account_by_name(&AccountName::parse("alice").expect("name"))
        .await
        .expect("store")
        .expect("alice");
    let gone = app
        .store
        .get_hub(
            Some(&alice.actor()),
            &alice.name,
            &HubName::parse("home").expect("name"),
        )
        .await;
    assert!(gone.is_err());
}

#[tokio::test]
async fn every_dashboard_page_stays_small() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    for path in [
        "/",
        "/map",
        "/dashboard",
        "/dashboard/products",
        "/dashboard/products/new",
        "/dashboard/purchases",
        "/dashboard/sales",
        "/dashboard/keys",
        "/dashboard/notifications",
        "/settings",
    ] {
        let p = b.get(path).await;
        assert_eq!(p.status, StatusCode::OK, "{path}");
        assert!(
            p.body.len() < 200 * 1024,
            "{path} is {} bytes",
            p.body.len()
        );
    }
}

#[tokio::test]
async fn a_hub_can_be_made_private_and_described_anew() {
    let app = spawn_app().await;
    let b = app.browser();
    seller_with_hub(&b).await;
    let p = b
        .post(
            "/dashboard/hubs/home/edit",
            &[("description", "now private")],
        )
        .await;
    assert!(p.has("Hub home saved; it is private now."), "{}", p.body);
    assert!(p.has("now private"));
    let alice = app
        .store
        .account_by_name(&AccountName::parse("alice").expect("name"))
        .await
        .expect("store")
        .expect("alice");
    let hub = app
        .store
        .get_hub(
            Some(&alice.actor()),
            &alice.name,
            &HubName::parse("home").expect("name"),
        )
        .await
        .expect("hub");
    assert!(!hub.public);
}

#[tokio::test]
async fn another_browser_session_can_be_ended_from_the_dashboard() {
    let app = spawn_app().await;
    let laptop = app.browser();
    laptop.signup("carol").await;
    let phone = app.browser();
    phone
        .post(
            "/login",
            &[("name", "carol"), ("password", crate::PASSWORD)],
        )
        .await;
    let p = laptop.get("/dashboard/keys").await;
    assert!(
        p.has("this browser") && p.has("another browser"),
        "{}",
        p.body
    );
    let carol = app
        .store
        .account_by_name(&AccountName::parse("carol").expect("name"))
        .await
        .expect("store")
        .expect("carol");
    let sessions = app
        .store
        .list_web_sessions(&carol.actor(), &PageRequest::first(10))
        .await
        .expect("sessions");
    assert_eq!(sessions.items.len(), 2);
    assert!(
        app.store
            .list_api_tokens(&carol.actor(), &PageRequest::first(10))
            .await
            .expect("tokens")
            .items
            .is_empty(),
        "sessions are not personal API tokens"
    );
    // The phone's session is the newest; end it from the laptop.
    let phone_id = sessions.items[0].id.0.to_string();
    let p = laptop
        .post(
            &format!("/dashboard/tokens/{phone_id}/revoke"),
            &[("confirm", "yes")],
        )
        .await;
    assert!(p.has("web session revoked."), "{}", p.body);
    assert!(
        phone.get("/dashboard").await.url.contains("/login"),
        "the phone is logged out"
    );
    assert!(
        laptop.get("/dashboard").await.has("Log out"),
        "the laptop is not"
    );
}
