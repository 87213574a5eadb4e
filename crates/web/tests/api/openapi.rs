use crate::helpers::spawn_app;

/// Every route of SPEC §6 under `/api/v1`, as (method, path) in the document.
const SPEC_ROUTES: &[(&str, &str)] = &[
    ("post", "/accounts"),
    ("post", "/tokens"),
    ("get", "/tokens"),
    ("delete", "/tokens/{id}"),
    ("delete", "/tokens/current"),
    ("get", "/me"),
    ("get", "/hubs"),
    ("post", "/hubs"),
    ("get", "/hubs/{owner}/{hub}"),
    ("patch", "/hubs/{owner}/{hub}"),
    ("delete", "/hubs/{owner}/{hub}"),
    ("get", "/hubs/{owner}/{hub}/devices"),
    ("post", "/hubs/{owner}/{hub}/devices"),
    ("get", "/hubs/{owner}/{hub}/devices/{device}"),
    ("delete", "/hubs/{owner}/{hub}/devices/{device}"),
    ("post", "/hubs/{owner}/{hub}/devices/{device}/rotate"),
    ("get", "/products"),
    ("post", "/products"),
    ("get", "/products/{owner}/{hub}/{name}"),
    ("patch", "/products/{owner}/{hub}/{name}"),
    ("delete", "/products/{owner}/{hub}/{name}"),
    ("post", "/products/{owner}/{hub}/{name}/purchases"),
    ("get", "/purchases"),
    ("get", "/sales"),
    ("post", "/purchases/{id}/approve"),
    ("post", "/purchases/{id}/decline"),
    ("post", "/purchases/{id}/revoke"),
    ("post", "/purchases/{id}/cancel"),
    ("get", "/access-keys"),
    ("post", "/access-keys"),
    ("delete", "/access-keys/{id}"),
    ("get", "/notifications"),
    ("post", "/notifications/{id}/read"),
    ("post", "/notifications/read-all"),
    ("put", "/products/{owner}/{hub}/{name}/rating"),
];

#[tokio::test]
async fn the_openapi_document_lists_every_spec_route() {
    let app = spawn_app().await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    assert_eq!(doc.body["servers"][0]["url"], "/api/v1");
    for (method, path) in SPEC_ROUTES {
        assert!(
            doc.body["paths"][path][method].is_object(),
            "{method} {path} is not in the OpenAPI document"
        );
    }
    assert!(doc.body["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn every_operation_has_an_example_request_and_response() {
    let app = spawn_app().await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    let schemas = &doc.body["components"]["schemas"];
    let has_example = |media: &serde_json::Value| -> bool {
        if media.get("example").is_some() || media.get("examples").is_some() {
            return true;
        }
        // An example on the referenced schema counts too.
        let r = media["schema"]["$ref"].as_str().unwrap_or_default();
        let name = r.rsplit('/').next().unwrap_or_default();
        !name.is_empty() && schemas[name].get("example").is_some()
    };
    let mut missing = Vec::new();
    for (path, item) in doc.body["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            if let Some(req) = op["requestBody"]["content"].get("application/json")
                && !has_example(req)
            {
                missing.push(format!("{method} {path}: request"));
            }
            let responses = op["responses"].as_object().cloned().unwrap_or_default();
            let ok = responses
                .iter()
                .filter(|(s, _)| s.starts_with('2'))
                .all(|(_, r)| r["content"].get("application/json").is_none_or(has_example));
            if !ok {
                missing.push(format!("{method} {path}: response"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "operations without examples: {missing:#?}"
    );
}

#[tokio::test]
async fn the_docs_page_is_self_contained() {
    let app = spawn_app().await;
    let page = app.get("/api/docs", None).await.expect(200);
    assert!(page.text.contains("/api/v1/openapi.json"));
    assert!(
        !page.text.contains("https://"),
        "the docs page must not load anything from the network"
    );
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn every_operation_that_needs_a_token_refuses_a_call_without_one() {
    let app = spawn_app().await;
    let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
    let mut checked = 0;
    for (path, item) in doc.body["paths"].as_object().into_iter().flatten() {
        for (method, op) in item.as_object().into_iter().flatten() {
            let security = op["security"].as_array().cloned().unwrap_or_default();
            // Only operations whose every alternative needs the bearer token.
            if security.is_empty()
                || security
                    .iter()
                    .any(|s| s.as_object().is_some_and(|o| o.is_empty()))
            {
                continue;
            }
            let concrete = path
                .replace("{owner}", "alice")
                .replace("{hub}", "home")
                .replace("{device}", "pi")
                .replace("{name}", "temp")
                .replace("{id}", "01935c54-0000-7000-8000-000000000004");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())
                .unwrap_or(reqwest::Method::GET);
            let body = (method != reqwest::Method::GET && method != reqwest::Method::DELETE)
                .then(|| serde_json::json!({}));
            for token in [None, Some("agt_forged")] {
                let a = app
                    .call(method.clone(), &concrete, token, body.clone())
                    .await;
                assert_eq!(
                    a.status, 401,
                    "{method} {concrete} with {token:?}: {}",
                    a.text
                );
                assert_eq!(a.code(), "unauthorized");
            }
            checked += 1;
        }
    }
    assert!(
        checked >= 25,
        "only {checked} operations declare the bearer token"
    );
}
