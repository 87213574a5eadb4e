//! CSRF, cookies, escaping, throttling and headers.

use std::num::NonZeroU32;

use agora_ui::{LoginLimits, UiSettings};
use reqwest::StatusCode;

use crate::{PASSWORD, account, product, spawn_app, spawn_app_with};

const HOSTILE: &str = "<script>alert(1)</script>";

#[tokio::test]
async fn a_form_without_its_csrf_token_is_refused_with_the_403_page() {
    let app = spawn_app().await;
    let b = app.browser();
    let p = b
        .post_raw(
            "/signup",
            &[
                ("name", "mallory"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.has("Form expired"), "{}", p.body);
    let none = app
        .store
        .account_by_name(&agora_market::AccountName::parse("mallory").expect("valid"))
        .await
        .expect("works");
    assert!(none.is_none(), "no account may be made without the token");
}

#[tokio::test]
async fn a_token_from_another_browser_does_not_pass() {
    let app = spawn_app().await;
    let alice = app.browser();
    alice.signup("alice").await;
    let mallory = app.browser();
    let foreign = mallory.csrf().await;
    let p = alice
        .post_raw("/logout", &[("csrf", foreign.as_str())])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    // Still logged in.
    assert!(alice.get("/dashboard").await.has("Log out"));
}

#[tokio::test]
async fn a_cross_site_post_is_refused_even_with_a_token() {
    let app = spawn_app().await;
    let b = app.browser();
    let csrf = b.csrf().await;
    let r = b
        .client
        .post(app.url("/login"))
        .header("sec-fetch-site", "cross-site")
        .form(&[("csrf", csrf.as_str()), ("name", "x"), ("password", "y")])
        .send()
        .await
        .expect("works");
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_session_cookie_is_http_only_and_same_site_lax() {
    let app = spawn_app().await;
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .cookie_store(true)
        .build()
        .expect("works");
    let page = client.get(app.url("/signup")).send().await.expect("works");
    let anon = page
        .headers()
        .get("set-cookie")
        .map(|v| v.to_str().unwrap_or_default().to_owned());
    assert!(
        anon.as_deref()
            .is_some_and(|c| c.contains("HttpOnly") && c.contains("SameSite=Lax"))
    );
    let body = page.text().await.unwrap_or_default();
    let marker = "name=\"csrf\" value=\"";
    let start = body.find(marker).unwrap_or_default() + marker.len();
    let csrf = &body[start..start + body[start..].find('"').unwrap_or_default()];
    let r = client
        .post(app.url("/signup"))
        .form(&[
            ("csrf", csrf),
            ("name", "carol"),
            ("password", PASSWORD),
            ("password2", PASSWORD),
        ])
        .send()
        .await
        .expect("works");
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let session: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter(|v| v.starts_with("agora_session="))
        .map(str::to_owned)
        .collect();
    assert_eq!(session.len(), 1, "{session:?}");
    assert!(session[0].contains("HttpOnly") && session[0].contains("SameSite=Lax"));
    assert!(
        !session[0].contains("Secure"),
        "not over plain HTTP by default"
    );
}

#[tokio::test]
async fn cookies_are_secure_when_the_setting_says_so() {
    let app = spawn_app_with(UiSettings {
        secure_cookies: true,
        ..UiSettings::default()
    })
    .await;
    let r = reqwest::get(app.url("/login")).await.expect("works");
    let c = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(c.contains("; Secure"), "{c}");
}

#[tokio::test]
async fn hostile_product_text_is_escaped_on_every_page_that_shows_it() {
    let app = spawn_app().await;
    let seller = account(&app.store, "alice").await;
    let p = product(
        &app.store,
        &seller,
        "evil",
        HOSTILE,
        &format!("{HOSTILE} \"quoted\" <img src=x onerror=alert(2)>"),
        false,
        Some((48.0, 11.0)),
    )
    .await;
    let b = app.browser();
    for path in [
        "/".to_owned(),
        "/map".to_owned(),
        format!("/products/{}", p.topic),
        "/?q=script".to_owned(),
    ] {
        let page = b.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.has(HOSTILE), "{path} shows raw hostile text");
        assert!(!page.has("<img src=x"), "{path} shows a raw tag");
        assert!(
            page.has("&lt;script&gt;alert(1)&lt;/script&gt;")
                || page.has("&#60;script&#62;alert(1)&#60;/script&#62;"),
            "{path} lost the text:\n{}",
            page.body
        );
    }
}

#[tokio::test]
async fn the_search_box_echoes_hostile_input_escaped() {
    let app = spawn_app().await;
    let b = app.browser();
    let page = b
        .get("/?q=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E&owner=%3Cb%3E")
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.has("<script>alert(1)"));
    assert!(!page.has("\"><script>"));
}

#[tokio::test]
async fn logins_are_throttled_per_account() {
    let app = spawn_app_with(UiSettings {
        login_limits: LoginLimits {
            per_account_per_minute: NonZeroU32::new(3).unwrap_or(NonZeroU32::MIN),
            ..LoginLimits::default()
        },
        ..UiSettings::default()
    })
    .await;
    account(&app.store, "alice").await;
    let b = app.browser();
    for _ in 0..3 {
        let p = b
            .post(
                "/login",
                &[("name", "alice"), ("password", "wrong password!")],
            )
            .await;
        assert_eq!(p.status, StatusCode::UNAUTHORIZED);
    }
    let p = b
        .post("/login", &[("name", "alice"), ("password", PASSWORD)])
        .await;
    assert_eq!(p.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(p.has("Too many attempts"));
}

#[tokio::test]
async fn pages_forbid_framing_and_foreign_scripts() {
    let app = spawn_app().await;
    let r = reqwest::get(app.url("/")).await.expect("works");
    let h = r.headers();
    let csp = h
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(
        h.get("x-frame-options").and_then(|v| v.to_str().ok()),
        Some("DENY")
    );
    assert_eq!(
        h.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
}

#[tokio::test]
async fn logout_is_post_only() {
    let app = spawn_app().await;
    let r = reqwest::get(app.url("/logout")).await.expect("works");
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_suspended_account_is_logged_out_on_its_next_request() {
    let app = spawn_app().await;
    let b = app.browser();
    b.signup("eve").await;
    let name = agora_market::AccountName::parse("eve").expect("name");
    app.store
        .set_suspended(&agora_market::Actor::operator(), &name, true, Some("spam"))
        .await
        .expect("suspended");
    let p = b.get("/dashboard").await;
    assert!(p.url.contains("/login"), "{}", p.url);
    let p = b
        .post("/login", &[("name", "eve"), ("password", PASSWORD)])
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
    assert!(p.has("This account is suspended"));
}

#[tokio::test]
async fn sign_up_can_be_closed() {
    let app = spawn_app_with(UiSettings {
        open_signup: false,
        ..UiSettings::default()
    })
    .await;
    let b = app.browser();
    assert!(b.get("/signup").await.has("Sign-up is closed"));
    let csrf = b.get("/login").await.csrf();
    let p = b
        .post_raw(
            "/signup",
            &[
                ("csrf", csrf.as_str()),
                ("name", "zed"),
                ("password", PASSWORD),
                ("password2", PASSWORD),
            ],
        )
        .await;
    assert_eq!(p.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_configured_tile_server_is_drawn_under_the_map_and_allowed_by_the_policy() {
    let app = spawn_app_with(UiSettings {
        tile_url: Some("https://tiles.example/{z}/{x}/{y}.png".into()),
        ..UiSettings::default()
    })
    .await;
    let seller = account(&app.store, "alice").await;
    product(
        &app.store,
        &seller,
        "t",
        "Munich",
        "",
        false,
        Some((48.1, 11.5)),
    )
    .await;
    product(
        &app.store,
        &seller,
        "u",
        "Augsburg",
        "",
        false,
        Some((48.4, 10.9)),
    )
    .await;
    let r = reqwest::get(app.url("/map")).await.expect("answers");
    let csp = r
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        csp.contains("img-src 'self' data: https://tiles.example;"),
        "{csp}"
    );
    let body = r.text().await.expect("body");
    assert!(
        body.contains("<image href=\"https://tiles.example/"),
        "{body}"
    );
    // Off by default: no tiles, nothing fetched from anywhere.
    let plain = spawn_app().await;
    let body = plain.browser().get("/map").await.body;
    assert!(!body.contains("<image"));
}
