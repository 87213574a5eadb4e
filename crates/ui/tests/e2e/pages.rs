//! The public pages and the account pages: catalogue, product, sign-up, login, logout,
//! settings, buying.

use agora_market::PurchaseState;
use agora_store::PageRequest;
use reqwest::StatusCode;

use crate::{PASSWORD, account, product, spawn_app};

#[tokio::test]
async fn the_catalogue_lists_products_with_plan_and_topic() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(
        &app.store,
        &alice,
        "temp",
        "Garden temperature",
        "Every 5 s",
        false,
        None,
    )
    .await;
    let page = app.browser().get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.has("Garden temperature"));
    assert!(page.has("alice/home/temp"));
    assert!(page.has("2.50 per 30 days"));
    assert!(page.has("href=\"/products/alice/home/temp\""));
}

#[tokio::test]
async fn the_catalogue_filters_by_words_kind_access_seller_tag_and_place() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    let bob = account(&app.store, "bob").await;
    product(
        &app.store,
        &alice,
        "temp",
        "Munich temperature",
        "",
        false,
        Some((48.14, 11.58)),
    )
    .await;
    product(
        &app.store,
        &alice,
        "air",
        "Munich air quality",
        "",
        true,
        Some((48.15, 11.57)),
    )
    .await;
    product(
        &app.store,
        &bob,
        "wind",
        "Hamburg wind",
        "",
        false,
        Some((53.55, 9.99)),
    )
    .await;
    let b = app.browser();
    let p = b.get("/?q=munich").await;
    assert!(p.has("Munich temperature") && p.has("Munich air quality") && !p.has("Hamburg wind"));
    let p = b.get("/?restricted=yes").await;
    assert!(p.has("Munich air quality") && !p.has("Munich temperature"));
    let p = b.get("/?owner=bob").await;
    assert!(p.has("Hamburg wind") && !p.has("Munich"));
    let p = b.get("/?near=53.5,10.0,50&sort=distance").await;
    assert!(p.has("Hamburg wind") && !p.has("Munich"), "{}", p.body);
    assert!(p.has("km away"));
    let p = b.get("/?tag=weather&kind=sensor&sort=title").await;
    let (h, m) = (p.body.find("Hamburg wind"), p.body.find("Munich air"));
    assert!(h.is_some() && m.is_some() && h < m, "sorted by title");
    let p = b.get("/?kind=spaceship&near=nowhere").await;
    assert_eq!(p.status, StatusCode::OK);
    assert!(p.has("near: write latitude") && p.has("kind"), "{}", p.body);
}

#[tokio::test]
async fn the_product_page_shows_details_liveness_and_how_to_subscribe() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(
        &app.store,
        &alice,
        "temp",
        "Garden temperature",
        "Line one\nLine two",
        false,
        Some((48.1, 11.5)),
    )
    .await;
    let page = app.browser().get("/products/alice/home/temp").await;
    assert_eq!(page.status, StatusCode::OK);
    for text in [
        "Garden temperature",
        "Line one\nLine two",
        "every 5 s",
        "not measured yet",
        "no data yet",
        "mqtt.test",
        "1883",
        "8883",
        "alice/home/temp/#",
        "mosquitto_sub -h mqtt.test -p 1883 -u YOUR_NAME -P &#39;YOUR_ACCESS_KEY&#39; -t &#39;alice/home/temp/#&#39; -v",
        "Log in to buy",
        "CC-BY 4.0",
    ] {
        assert!(page.has(text), "missing {text:?} in\n{}", page.body);
    }
}

#[tokio::test]
async fn an_unknown_product_is_a_404_page() {
    let app = spawn_app().await;
    let b = app.browser();
    let p = b.get("/products/nobody/home/nothing").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.has("Not found"));
    let p = b.get("/products/bad$name/home/x").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn signing_up_logs_in_and_lands_on_the_dashboard() {
    let app = spawn_app().await;
    let b = app.browser();
    let p = b.signup("carol").await;
    assert!(p.url.ends_with("/dashboard"), "{}", p.url);
    assert!(p.has("Log out") && p.has("carol"));
    assert!(p.has("Welcome to Agora!"), "the flash message is shown");
    let again = b.get("/dashboard").await;
    assert!(
        !again.has("Welcome to Agora!"),
        "a flash message is shown once"
    );
}

#[tokio::test]
async fn sign_up_explains_taken_names_weak_passwords_and_typos() {
    let app = spawn_app().await;
    account(&app.store, "alice").await;
    let b = app.browser();
    let p = b
        .post(
            "/signup",
            &[
                ("name", "alice"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("That name is taken"));
    let p = b
        .post(
            "/signup",
            &[
                ("name", "dave"),
                ("password", "short"),
                ("password2", "short"),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("Password:"));
    assert!(p.has("value=\"dave\""), "the name is kept");
    let p = b
        .post(
            "/signup",
            &[
                ("name", "dave"),
                ("password", PASSWORD),
                ("password2", "other password x"),
            ],
        )
        .await;
    assert!(p.has("The two passwords differ"));
    let p = b
        .post(
            "/signup",
            &[
                ("name", "9lives"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert!(p.has("Name:"));
}

#[tokio::test]
async fn login_goes_back_to_the_page_asked_for_and_logout_ends_the_session() {
    let app = spawn_app().await;
    account(&app.store, "alice").await;
    let b = app.browser();
    let p = b.get("/dashboard").await;
    assert!(p.url.contains("/login?next=%2Fdashboard"), "{}", p.url);
    let p = b
        .post(
            "/login",
            &[("name", "alice"), ("password", "wrong password")],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    assert!(p.has("Wrong name or password"));
    let p = b
        .post(
            "/login",
            &[
                ("name", "alice"),
                ("password", PASSWORD),
                ("next", "/settings"),
            ],
        )
        .await;
    assert!(p.url.ends_with("/settings"), "{}", p.url);
    assert!(p.has("Change password"));
    let p = b.post("/logout", &[]).await;
    assert!(p.has("Logged out"));
    assert!(p.has("Log in"));
    let p = b.get("/settings").await;
    assert!(p.url.contains("/login"), "the session is over: {}", p.url);
}

#[tokio::test]
async fn login_never_redirects_off_site() {
    let app = spawn_app().await;
    account(&app.store, "alice").await;
    let b = app.browser();
    let p = b
        .post(
            "/login",
            &[
                ("name", "alice"),
                ("password", PASSWORD),
                ("next", "//evil.example/"),
            ],
        )
        .await;
    assert!(p.url.starts_with(&app.url("/dashboard")), "{}", p.url);
}

#[tokio::test]
async fn a_session_survives_a_restart_of_the_pages() {
    // Sessions live in the store, so a second router over the same store knows them.
    let app = spawn_app().await;
    let b = app.browser();
    b.signup("erin").await;
    let tokens = app
        .store
        .list_web_sessions(
            &app.store
                .account_by_name(&agora_market::AccountName::parse("erin").expect("name"))
                .await
                .expect("store")
                .expect("erin exists")
                .actor(),
            &PageRequest::first(10),
        )
        .await
        .expect("tokens");
    assert_eq!(tokens.items.len(), 1);
    assert_eq!(tokens.items[0].name.as_str(), "web session");
}

#[tokio::test]
async fn changing_the_password_needs_the_current_one() {
    let app = spawn_app().await;
    let b = app.browser();
    b.signup("frank").await;
    let new = "a much better passphrase";
    let p = b
        .post(
            "/settings",
            &[
                ("current", "not it at all"),
                ("password", new),
                ("password2", new),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p.has("The current password is wrong"));
    let p = b
        .post(
            "/settings",
            &[("current", PASSWORD), ("password", new), ("password2", new)],
        )
        .await;
    assert!(p.has("Password changed"), "{}", p.body);
    app.store
        .verify_password("frank", new)
        .await
        .expect("new password works");
}

#[tokio::test]
async fn buying_an_open_product_activates_and_a_restricted_one_sends_a_request() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Open data", "", false, None).await;
    product(&app.store, &alice, "air", "Closed data", "", true, None).await;
    let b = app.browser();
    b.signup("bob").await;
    let p = b.get("/products/alice/home/temp").await;
    assert!(p.has(">Buy"), "{}", p.body);
    assert!(p.has("-u bob "), "the line names the buyer");
    let p = b.post("/products/alice/home/temp/buy", &[]).await;
    assert!(p.has("Bought."), "{}", p.body);
    assert!(p.has("Your purchase: <strong>active</strong>"));
    let p = b.get("/products/alice/home/air").await;
    assert!(p.has("Request access") && p.has("name=\"message\""));
    let p = b
        .post(
            "/products/alice/home/air/buy",
            &[("message", "for my <b>thesis</b>")],
        )
        .await;
    assert!(p.has("Request sent"));
    assert!(p.has("Your purchase: <strong>pending</strong>"));
    let sales = app
        .store
        .list_sales(&alice, &PageRequest::first(10))
        .await
        .expect("sales");
    let pending: Vec<_> = sales
        .items
        .iter()
        .filter(|s| s.state == PurchaseState::Pending)
        .collect();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].message.as_deref(), Some("for my <b>thesis</b>"));
}

#[tokio::test]
async fn buying_needs_a_login() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Open data", "", false, None).await;
    let b = app.browser();
    let p = b.post("/products/alice/home/temp/buy", &[]).await;
    assert!(p.url.contains("/login"), "{}", p.url);
}

#[tokio::test]
async fn a_buyer_can_rate_and_the_review_shows() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Open data", "", false, None).await;
    let b = app.browser();
    b.signup("bob").await;
    b.post("/products/alice/home/temp/buy", &[]).await;
    let p = b
        .post(
            "/products/alice/home/temp/rate",
            &[("stars", "4"), ("review", "<i>solid</i> data")],
        )
        .await;
    assert!(p.has("Thank you for your rating"));
    assert!(
        p.has("&lt;i&gt;solid&lt;/i&gt; data") || p.has("&#60;i&#62;solid"),
        "{}",
        p.body
    );
    assert!(p.has("★★★★☆"));
}

#[tokio::test]
async fn assets_are_served_from_the_binary() {
    let app = spawn_app().await;
    let r = reqwest::get(app.url("/assets/agora.css"))
        .await
        .expect("answers");
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(
        r.headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("text/css; charset=utf-8")
    );
    let r = reqwest::get(app.url("/assets/nope.js"))
        .await
        .expect("answers");
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_live_view_is_offered_only_to_those_who_may_read() {
    let app = spawn_app().await;
    let alice = account(&app.store, "alice").await;
    product(&app.store, &alice, "temp", "Open data", "", false, None).await;
    let url = "/products/alice/home/temp";
    assert!(
        !app.browser().get(url).await.has("id=\"live\""),
        "not for anonymous visitors"
    );
    let b = app.browser();
    b.signup("bob").await;
    assert!(!b.get(url).await.has("id=\"live\""), "not before buying");
    b.post("/products/alice/home/temp/buy", &[]).await;
    let p = b.get(url).await;
    assert!(
        p.has("id=\"live\"") && p.has("data-topic=\"alice/home/temp\"") && p.has("/assets/live.js")
    );
    let owner = app.browser();
    owner
        .post("/login", &[("name", "alice"), ("password", PASSWORD)])
        .await;
    assert!(
        owner.get(url).await.has("id=\"live\""),
        "the owner may watch"
    );
}

#[tokio::test]
async fn an_error_page_keeps_the_visitors_navigation() {
    let app = spawn_app().await;
    let b = app.browser();
    b.signup("bob").await;
    let p = b.get("/products/nobody/home/nothing").await;
    assert_eq!(p.status, StatusCode::NOT_FOUND);
    assert!(p.has("Log out") && p.has(">bob<"), "{}", p.body);
}
