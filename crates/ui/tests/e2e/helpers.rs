//! The harness: the real router on 127.0.0.1:0 over a fresh SQLite store in a temp folder,
//! and a cookie-keeping HTTP client playing one person's browser.

use std::net::SocketAddr;

use agora_market::{
    AccountName, Actor, HubName, Password, Plan, Price, ProductDetails, ProductKind, ProductName,
    Role, Title,
};
use agora_store::Store;
use agora_ui::{UiSettings, UiState};
use reqwest::StatusCode;

/// A running server; stops when dropped.
pub(crate) struct App {
    pub(crate) addr: SocketAddr,
    pub(crate) store: Store,
    _dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl App {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A new browser (its own cookie jar).
    pub(crate) fn browser(&self) -> Browser {
        Browser {
            client: reqwest::Client::builder()
                .cookie_store(true)
                .build()
                .expect("client builds"),
            base: self.url(""),
        }
    }
}

pub(crate) async fn spawn_app() -> App {
    spawn_app_with(UiSettings {
        mqtt_host: "mqtt.test".into(),
        ..UiSettings::default()
    })
    .await
}

pub(crate) async fn spawn_app_with(settings: UiSettings) -> App {
    spawn_app_beside(settings, axum::Router::new()).await
}

/// The pages merged with `other` routes (e.g. a stand-in for the binary's `/mqtt`).
pub(crate) async fn spawn_app_beside(settings: UiSettings, other: axum::Router) -> App {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path().join("agora.db"))
        .await
        .expect("store opens");
    let app = agora_ui::router(UiState::new(store.clone(), settings)).merge(other);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("has an address");
    let task = tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    App {
        addr,
        store,
        _dir: dir,
        task,
    }
}

/// One person's browser.
pub(crate) struct Browser {
    pub(crate) client: reqwest::Client,
    base: String,
}

/// A page as fetched.
pub(crate) struct Page {
    pub(crate) status: StatusCode,
    pub(crate) url: String,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn has(&self, text: &str) -> bool {
        self.body.contains(text)
    }

    /// The first CSRF token on the page.
    pub(crate) fn csrf(&self) -> String {
        let marker = "name=\"csrf\" value=\"";
        let start = self
            .body
            .find(marker)
            .unwrap_or_else(|| panic!("no csrf field on {}:\n{}", self.url, self.body))
            + marker.len();
        let end = self.body[start..].find('"').expect("closing quote") + start;
        self.body[start..end].to_owned()
    }
}

impl Browser {
    pub(crate) async fn get(&self, path: &str) -> Page {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET answers");
        Page {
            status: r.status(),
            url: r.url().to_string(),
            body: r.text().await.expect("body"),
        }
    }

    /// Posts a form with the CSRF token of this browser (taken from a page first).
    pub(crate) async fn post(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.csrf().await;
        let mut all: Vec<(&str, &str)> = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post_raw(path, &all).await
    }

    /// Posts exactly these fields (no CSRF token added).
    pub(crate) async fn post_raw(&self, path: &str, fields: &[(&str, &str)]) -> Page {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .form(fields)
            .send()
            .await
            .expect("POST answers");
        Page {
            status: r.status(),
            url: r.url().to_string(),
            body: r.text().await.expect("body"),
        }
    }

    /// This browser's current CSRF token (the sign-up page has a form when logged out and
    /// redirects to the dashboard, whose logout form has one, when logged in).
    pub(crate) async fn csrf(&self) -> String {
        self.get("/signup").await.csrf()
    }

    pub(crate) async fn signup(&self, name: &str) -> Page {
        let p = self
            .post(
                "/signup",
                &[
                    ("name", name),
                    ("password", PASSWORD),
                    ("password2", PASSWORD),
                ],
            )
            .await;
        assert_eq!(
            p.status,
            StatusCode::OK,
            "sign-up of {name} failed: {}",
            p.body
        );
        p
    }
}

pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// An account made directly in the store.
pub(crate) async fn account(store: &Store, name: &str) -> Actor {
    let n = AccountName::parse(name).expect("valid name");
    let pw = Password::new(PASSWORD, &n).expect("valid password");
    store
        .create_account(&n, &pw, Role::User)
        .await
        .expect("account created")
        .actor()
}

/// A seller with a public hub `home` and one product `name` with this title and
/// description, located at (lat, lon).
pub(crate) async fn product(
    store: &Store,
    seller: &Actor,
    name: &str,
    title: &str,
    description: &str,
    restricted: bool,
    location: Option<(f64, f64)>,
) -> agora_market::Product {
    let hub = HubName::parse("home").expect("hub name");
    if store
        .get_hub(Some(seller), &seller.name, &hub)
        .await
        .is_err()
    {
        store
            .create_hub(seller, &hub, true, "my home")
            .await
            .expect("hub created");
    }
    let details = ProductDetails {
        title: Title::parse(title).expect("title"),
        description: description.into(),
        kind: ProductKind::Sensor,
        restricted,
        plan: Plan::period(30, Price::from_cents(250).expect("price")).expect("plan"),
        location: location.map(|(a, b)| agora_market::Location::new(a, b).expect("location")),
        tags: vec![agora_market::Tag::parse("weather").expect("tag")],
        declared_rate_secs: Some(5),
        schema: None,
        licence: "CC-BY 4.0".into(),
    };
    store
        .create_product(
            seller,
            &seller.name,
            &hub,
            &ProductName::parse(name).expect("product name"),
            details,
        )
        .await
        .expect("product created")
}
