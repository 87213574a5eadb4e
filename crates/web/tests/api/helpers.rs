//! `spawn_app()`: the real API router on 127.0.0.1:0 over a fresh SQLite store in a temp
//! folder, plus a client that speaks to it the way users do.

use std::net::SocketAddr;

use agora_web::{ApiSettings, ApiState, api_router};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// A password that passes every rule.
pub(crate) const PASSWORD: &str = "correct horse battery staple";

/// A running app; dropping it stops the server and removes its data folder.
pub(crate) struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub(crate) address: String,
    /// A plain client (no cookies, no default auth).
    pub(crate) client: reqwest::Client,
    /// The store behind the app, for what the API cannot do (make an administrator).
    pub(crate) store: agora_store::Store,
    server: tokio::task::JoinHandle<()>,
    _data: tempfile::TempDir,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// An answer: status and JSON body (`Value::Null` for an empty or non-JSON body).
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: Value,
    pub(crate) text: String,
}

impl Answer {
    /// The `error.code` of an error answer.
    pub(crate) fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// The `error.field` of an error answer.
    pub(crate) fn field(&self) -> Option<&str> {
        self.body["error"]["field"].as_str()
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub(crate) fn expect(self, status: u16) -> Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected answer: {}",
            self.text
        );
        self
    }
}

pub(crate) async fn spawn_app() -> TestApp {
    spawn_app_with(ApiSettings::default()).await
}

pub(crate) async fn spawn_app_with(settings: ApiSettings) -> TestApp {
    let data = tempfile::tempdir().expect("temp dir");
    let store = agora_store::Store::open(data.path().join("agora.db"))
        .await
        .expect("open store");
    let app = api_router(ApiState::new(store.clone(), settings));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .expect("serve");
    });
    TestApp {
        address: format!("http://{addr}"),
        client: reqwest::Client::new(),
        store,
        server,
        _data: data,
    }
}

impl TestApp {
    /// `/api/v1` + `path`.
    pub(crate) fn url(&self, path: &str) -> String {
        if path.starts_with("/api/") || path == "/healthz" {
            format!("{}{path}", self.address)
        } else {
            format!("{}/api/v1{path}", self.address)
        }
    }

    /// Sends a request with an optional token and JSON body.
    pub(crate) async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::answer(req.send().await.expect("request")).await
    }

    /// Turns a response into an [`Answer`].
    pub(crate) async fn answer(r: reqwest::Response) -> Answer {
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
            text,
        }
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::GET, path, token, None).await
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub(crate) async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PATCH, path, token, Some(body)).await
    }

    pub(crate) async fn put(&self, path: &str, token: Option<&str>, body: Value) -> Answer {
        self.call(Method::PUT, path, token, Some(body)).await
    }

    pub(crate) async fn delete(&self, path: &str, token: Option<&str>) -> Answer {
        self.call(Method::DELETE, path, token, None).await
    }

    /// Signs up `name` with [`PASSWORD`].
    pub(crate) async fn sign_up(&self, name: &str) -> Answer {
        self.post(
            "/accounts",
            None,
            json!({"name": name, "password": PASSWORD}),
        )
        .await
    }

    /// Logs `name` in and returns a fresh API token.
    pub(crate) async fn log_in(&self, name: &str) -> String {
        let a = self
            .post(
                "/tokens",
                None,
                json!({"name": "test", "account": name, "password": PASSWORD}),
            )
            .await
            .expect(201);
        a.body["token"].as_str().expect("token").to_owned()
    }

    /// A new account with a token.
    pub(crate) async fn user(&self, name: &str) -> String {
        self.sign_up(name).await.expect(201);
        self.log_in(name).await
    }

    /// A new administrator (made through the store, as `agora admin create-user --admin`
    /// does) with a token.
    pub(crate) async fn admin(&self, name: &str) -> String {
        let account = agora_market::AccountName::parse(name).expect("name");
        let password = agora_market::Password::new(PASSWORD, &account).expect("password");
        self.store
            .create_account(&account, &password, agora_market::Role::Admin)
            .await
            .expect("create admin");
        self.log_in(name).await
    }

    /// `owner` creates hub `hub` (public).
    pub(crate) async fn hub(&self, token: &str, hub: &str) {
        self.post("/hubs", Some(token), json!({"name": hub, "public": true}))
            .await
            .expect(201);
    }

    /// Creates a product with `extra` fields merged into a minimal body.
    pub(crate) async fn product(&self, token: &str, hub: &str, name: &str, extra: Value) -> Answer {
        let mut body = json!({"hub": hub, "name": name, "title": format!("Product {name}")});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        self.post("/products", Some(token), body).await
    }
}
