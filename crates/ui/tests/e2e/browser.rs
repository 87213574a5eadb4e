//! Browser journeys in real headless Chromium over WebDriver (chromedriver + fantoccini):
//! a seller lists a product, a buyer finds it by search and on the map, buys it and makes
//! an access key; a restricted request is approved. Each main page is saved as a
//! screenshot under `target/screenshots/` for people to look at.
//!
//! Chromium and chromedriver must be installed (`apt-get install -y chromium
//! chromium-driver`; CI does). Without them these tests fail with that message rather
//! than skip, so a green run always means the browser journeys ran.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use agora_market::{Actor, ProductTopic};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;

use crate::{App, PASSWORD, account, product, spawn_app_beside, spawn_app_with};

/// The access key the stand-in broker accepts.
const LIVE_KEY: &str = "agk_live_view_test_key";

/// A stand-in for the binary's MQTT over WebSocket at `/mqtt`, speaking just enough MQTT
/// 3.1.1 to test the live view's client: CONNACK (accepting only bob with
/// [`LIVE_KEY`]), SUBACK, then one PUBLISH split over two frames.
async fn fake_broker(ws: WebSocketUpgrade) -> Response {
    ws.protocols(["mqtt"]).on_upgrade(fake_session)
}

async fn fake_session(mut socket: WebSocket) {
    let Some(Ok(Message::Binary(connect))) = socket.recv().await else {
        return;
    };
    let has = |needle: &[u8]| connect.windows(needle.len()).any(|w| w == needle);
    let ok = connect.first() == Some(&0x10) && has(b"\x00\x03bob") && has(LIVE_KEY.as_bytes());
    let ack = vec![0x20, 2, 0, if ok { 0 } else { 5 }];
    if socket.send(Message::Binary(ack.into())).await.is_err() || !ok {
        return;
    }
    let Some(Ok(Message::Binary(sub))) = socket.recv().await else {
        return;
    };
    let filter: &[u8] = b"alice/garden/temp/#";
    let filter_ok = sub.windows(filter.len()).any(|w| w == filter);
    let (a, b) = (
        sub.get(2).copied().unwrap_or(0),
        sub.get(3).copied().unwrap_or(1),
    );
    let granted = if filter_ok { 0 } else { 0x80 };
    if socket
        .send(Message::Binary(vec![0x90, 3, a, b, granted].into()))
        .await
        .is_err()
    {
        return;
    }
    let topic = b"alice/garden/temp/living-room";
    let payload = br#"{"t": 21.5, "rh": 48}"#;
    let mut publish = vec![
        0x30,
        (2 + topic.len() + payload.len()) as u8,
        0,
        topic.len() as u8,
    ];
    publish.extend_from_slice(topic);
    publish.extend_from_slice(payload);
    let (first, rest) = publish.split_at(7);
    let _ = socket.send(Message::Binary(first.to_vec().into())).await;
    let _ = socket.send(Message::Binary(rest.to_vec().into())).await;
    while let Some(Ok(_)) = socket.recv().await {}
}

/// A chromedriver child and a Chromium session driven through it; both end on drop
/// (the child is killed, which takes its Chromium with it).
struct Browser {
    client: Client,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    base: String,
}

fn find_program(names: &[&str]) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for n in names {
            let p = dir.join(n);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

fn screenshots_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir
}

impl Browser {
    async fn start(app: &App) -> Self {
        let chromium = find_program(&["chromium", "chromium-browser", "google-chrome"])
            .expect("the browser tests need Chromium: apt-get install -y chromium chromium-driver");
        let chromedriver = find_program(&["chromedriver"])
            .expect("the browser tests need chromedriver: apt-get install -y chromium-driver");
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
            l.local_addr().expect("address").port()
        };
        let driver = tokio::process::Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let mut up = false;
        for _ in 0..100 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(up, "chromedriver did not listen on port {port} within 10 s");
        let profile = tempfile::tempdir().expect("profile folder");
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium.to_string_lossy(),
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--no-proxy-server",
                    "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let caps = caps.as_object().cloned().expect("an object");
        let client = ClientBuilder::rustls()
            .expect("rustls connector")
            .capabilities(caps)
            .connect(&url)
            .await
            .unwrap_or_else(|e| panic!("chromedriver refused a Chromium session: {e}"));
        Self {
            client,
            _driver: driver,
            _profile: profile,
            base: app.url(""),
        }
    }

    /// Waits up to 10 s for an element (rather than forever).
    async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no {css} within 10 s: {e}"))
    }

    async fn go(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("goto {path}: {e}"));
    }

    async fn fill(&self, css: &str, text: &str) {
        let el = self.find(css).await;
        el.clear()
            .await
            .unwrap_or_else(|e| panic!("clear {css}: {e}"));
        el.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("type into {css}: {e}"));
    }

    async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks something that loads a new page, and waits until the old one is gone (a
    /// find right after a click could otherwise still see the old page).
    async fn submit(&self, css: &str) {
        let old = self.find("html").await;
        self.click(css).await;
        for _ in 0..100 {
            if old.attr("lang").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("clicking {css} loaded no new page within 5 s");
    }

    async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("text of {css}: {e}"))
    }

    async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    /// Saves the whole page (the window is stretched to the page's height first).
    async fn shot(&self, name: &str, width: u32) {
        let height = self
            .client
            .execute(
                "return Math.ceil(document.documentElement.scrollHeight);",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_u64())
            .unwrap_or(900)
            .clamp(400, 4000);
        let height = u32::try_from(height).unwrap_or(900);
        self.client
            .set_window_size(width, height + 120)
            .await
            .expect("resize");
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(screenshots_dir().join(format!("{name}.png")), png).expect("write png");
        self.client
            .set_window_size(1280, 900)
            .await
            .expect("resize");
    }

    async fn signup(&self, name: &str) {
        self.go("/signup").await;
        self.fill("#name", name).await;
        self.fill("#password", PASSWORD).await;
        self.fill("#password2", PASSWORD).await;
        self.submit("main form button[type=submit]").await;
        self.text(".tabs").await;
        assert_eq!(self.path().await, "/dashboard");
    }

    async fn login(&self, name: &str) {
        self.go("/login").await;
        self.fill("#name", name).await;
        self.fill("#password", PASSWORD).await;
        self.submit("main form button[type=submit]").await;
        self.text(".tabs").await;
    }

    async fn logout(&self) {
        self.submit("form[action='/logout'] button").await;
        self.text(".flash").await;
    }

    async fn quit(self) {
        // Ends the session so chromedriver closes Chromium before it is killed.
        let _ = self.client.close().await;
    }
}

/// A few products of another seller around Europe, so that the catalogue and the map
/// look like a market.
async fn neighbours(app: &App) -> Actor {
    let carol = account(&app.store, "carol").await;
    for (name, title, desc, restricted, at) in [
        (
            "air",
            "Munich air quality (PM2.5, PM10)",
            "Particulate matter from a roof-top sensor, every 10 s.",
            true,
            (48.14, 11.58),
        ),
        (
            "traffic",
            "Munich ring road traffic counts",
            "Vehicles per minute at four junctions.",
            false,
            (48.13, 11.56),
        ),
        (
            "wind",
            "Hamburg harbour wind speed",
            "Anemometer at the pier, gusts and mean.",
            false,
            (53.54, 9.97),
        ),
        (
            "river",
            "Vienna Danube water level",
            "Gauge readings in cm, every minute.",
            false,
            (48.21, 16.37),
        ),
        (
            "solar",
            "Lyon rooftop solar output",
            "Inverter power in W and daily energy.",
            false,
            (45.76, 4.84),
        ),
    ] {
        product(&app.store, &carol, name, title, desc, restricted, Some(at)).await;
    }
    carol
}

#[tokio::test]
async fn a_seller_lists_a_product_and_a_buyer_finds_it_buys_it_and_makes_a_key() {
    let app = spawn_app_beside(
        agora_ui::UiSettings {
            mqtt_host: "localhost".into(),
            ..agora_ui::UiSettings::default()
        },
        axum::Router::new().route("/mqtt", axum::routing::get(fake_broker)),
    )
    .await;
    neighbours(&app).await;
    let b = Browser::start(&app).await;

    // The seller: sign up, hub, device, product.
    b.signup("alice").await;
    b.fill("#hub-name", "garden").await;
    b.fill("#hub-description", "Sensors in my garden").await;
    b.submit("form[action='/dashboard/hubs'] button").await;
    assert!(b.text(".flash").await.contains("Hub garden created"));
    b.click("section[aria-labelledby='hub-garden'] details:last-of-type summary")
        .await;
    b.fill("#dn-garden", "pi").await;
    b.submit("form[action='/dashboard/hubs/garden/devices'] button")
        .await;
    let secret = b.text("#secret").await;
    assert!(secret.starts_with("ags_"), "{secret}");
    b.shot("device-secret", 1280).await;
    b.go("/dashboard/products/new?hub=garden").await;
    b.fill("#p-name", "temp").await;
    b.fill("#p-title", "Garden temperature and humidity").await;
    b.fill("#p-description", "A Raspberry Pi with a BME280 in the shade, 1.5 m above the lawn.\nPayload: {\"t\": 21.4, \"rh\": 55}").await;
    b.select("#p-plan", "period").await;
    b.fill("#p-price", "2.50").await;
    b.fill("#p-days", "30").await;
    b.fill("#p-lat", "48.137").await;
    b.fill("#p-lon", "11.575").await;
    b.fill("#p-rate", "5").await;
    b.fill("#p-tags", "weather, temperature, garden").await;
    b.fill("#p-licence", "CC-BY 4.0").await;
    b.shot("product-form", 1280).await;
    b.submit("main form button[type=submit]").await;
    b.text(".flash").await;
    assert_eq!(b.path().await, "/products/alice/garden/temp");
    b.go("/dashboard").await;
    b.shot("dashboard", 1280).await;
    b.shot("dashboard-phone", 390).await;
    b.logout().await;

    // The buyer: sign up, search, map, buy, access key.
    b.signup("bob").await;
    b.go("/").await;
    b.shot("catalogue", 1280).await;
    b.shot("catalogue-phone", 390).await;
    b.fill("#f-q", "garden").await;
    b.submit("form.filters button").await;
    b.text(".cards").await;
    let found = b.source().await;
    assert!(found.contains("Garden temperature and humidity"));
    assert!(
        !found.contains("Hamburg harbour"),
        "the search narrows the list"
    );
    b.go("/map").await;
    b.shot("map", 1280).await;
    // Munich's products sit together: the garden is inside a cluster; its link zooms in.
    let cluster = b
        .client
        .find(Locator::Css("svg.map a[href^='/map?near=']"))
        .await
        .expect("a cluster of nearby products");
    let old = b.find("html").await;
    cluster.click().await.expect("click the cluster");
    while old.attr("lang").await.is_ok() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    b.submit("svg.map a[href='/products/alice/garden/temp']")
        .await;
    b.text(".product h1").await;
    assert_eq!(b.path().await, "/products/alice/garden/temp");
    b.submit("form[action$='/buy'] button").await;
    assert!(b.text(".status").await.contains("active"));
    // The live view: paste a key, see the latest message (the stand-in broker sends one).
    b.fill("#live-key", LIVE_KEY).await;
    b.click("#live-form button").await;
    let shown = b.text("#live-messages li").await;
    assert!(
        shown.contains("21.5") && shown.contains("living-room"),
        "{shown}"
    );
    assert!(
        b.text("#live-status")
            .await
            .contains("Watching alice/garden/temp/#")
    );
    b.shot("product", 1280).await;
    b.shot("product-phone", 390).await;
    b.go("/dashboard/keys").await;
    b.fill("#k-name", "laptop").await;
    b.click("input[name=products][value='alice/garden/temp']")
        .await;
    b.submit("form[action='/dashboard/keys'] button").await;
    let key = b.text("#secret").await;
    assert!(key.starts_with("agk_"), "{key}");
    b.shot("access-key", 1280).await;
    let (_, k) = app
        .store
        .authenticate_access_key("bob", &key)
        .await
        .expect("the key logs bob in");
    assert_eq!(
        k.topics,
        vec![ProductTopic::parse("alice/garden/temp").expect("topic")]
    );
    b.go("/dashboard/purchases").await;
    b.shot("purchases", 1280).await;
    b.quit().await;
}

#[tokio::test]
async fn a_restricted_request_is_approved_by_the_seller_in_the_browser() {
    let app = spawn_app_with(agora_ui::UiSettings::default()).await;
    neighbours(&app).await;
    // Hostile text must show as text and run nothing.
    let mallory = account(&app.store, "mallory").await;
    product(
        &app.store,
        &mallory,
        "x",
        "<script>document.title='pwned'</script>",
        "<img src=x onerror=\"document.title='pwned'\">",
        false,
        Some((50.0, 8.0)),
    )
    .await;
    let b = Browser::start(&app).await;
    b.go("/products/mallory/home/x").await;
    let title = b.client.title().await.expect("title");
    assert!(
        title.starts_with("<script>"),
        "the title is text, not run: {title}"
    );
    assert!(b.text("h1").await.contains("<script>"), "shown as text");
    let scripts = b
        .client
        .execute("return document.scripts.length;", vec![])
        .await
        .expect("script count");
    assert_eq!(scripts, json!(1), "only our own agora.js");

    b.signup("bob").await;
    b.go("/products/carol/home/air").await;
    b.fill("#message", "For a school project on air quality.")
        .await;
    b.submit("form[action$='/buy'] button").await;
    assert!(b.text(".status").await.contains("pending"));
    b.logout().await;
    b.login("carol").await;
    b.go("/dashboard/sales").await;
    assert!(b.source().await.contains("For a school project"));
    b.shot("sales", 1280).await;
    b.submit("form[action$='/approve'] button").await;
    assert!(b.text(".flash").await.contains("Approved: bob"));
    b.logout().await;
    b.login("bob").await;
    b.go("/dashboard/notifications").await;
    assert!(b.source().await.contains("purchase_approved"));
    b.shot("notifications", 1280).await;
    b.go("/products/carol/home/air").await;
    assert!(b.text(".status").await.contains("active"));
    b.quit().await;
}
