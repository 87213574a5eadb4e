use agora_market::{DeviceCredential, DeviceName, MarketEvent, RsaPublicKey};
use agora_store::{HubPatch, NewCredential, PageRequest, StoreError};

use crate::helpers::*;

const PUBLIC_KEY: &str = include_str!("../../../market/testdata/p2048_pkcs1.pem");

fn device(s: &str) -> DeviceName {
    DeviceName::parse(s).expect("device name")
}

#[tokio::test]
async fn hub_names_are_unique_per_owner_case_insensitively() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let err = t
        .store
        .create_hub(&alice, &hub_name("HOME"), true, "")
        .await
        .expect_err("taken");
    assert!(
        matches!(err, StoreError::Conflict { field: "name", .. }),
        "{err:?}"
    );
    assert!(
        t.store
            .create_hub(&bob, &hub_name("home"), true, "")
            .await
            .is_ok(),
        "another owner may use the name"
    );
}

#[tokio::test]
async fn another_accounts_private_hub_looks_not_found() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    hub(&t.store, &alice, "secret", false).await;
    assert!(
        t.store
            .get_hub(Some(&alice), &alice.name, &hub_name("secret"))
            .await
            .is_ok()
    );
    assert!(matches!(
        t.store
            .get_hub(Some(&bob), &alice.name, &hub_name("secret"))
            .await,
        Err(StoreError::NotFound { what: "hub" })
    ));
    assert!(matches!(
        t.store
            .get_hub(None, &alice.name, &hub_name("secret"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        t.store
            .get_hub(None, &alice.name, &hub_name("home"))
            .await
            .is_ok(),
        "public hubs are visible"
    );
    let public = t
        .store
        .list_public_hubs(None, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(
        public
            .items
            .iter()
            .map(|h| h.name.as_str())
            .collect::<Vec<_>>(),
        ["home"]
    );
    assert!(matches!(
        t.store
            .update_hub(
                &bob,
                &alice.name,
                &hub_name("home"),
                &HubPatch {
                    public: Some(false),
                    description: None
                }
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn hub_updates_change_visibility_and_description_only() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let h = t
        .store
        .update_hub(
            &alice,
            &alice.name,
            &hub_name("home"),
            &HubPatch {
                public: Some(false),
                description: Some("garden".into()),
            },
        )
        .await
        .expect("update");
    assert!(!h.public);
    assert_eq!(h.description, "garden");
    assert_eq!(h.name.as_str(), "home");
}

#[tokio::test]
async fn secret_devices_get_a_secret_once_that_verifies() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let mut events = t.store.subscribe_events();
    let (d, secret) = t
        .store
        .register_device(
            &alice,
            &alice.name,
            &hub_name("home"),
            &device("pi"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("register");
    let secret = secret.expect("a generated secret is returned");
    assert!(secret.expose().starts_with("ags_"));
    assert_eq!(d.username.to_string(), "alice$home$pi");
    assert!(
        matches!(events.recv().await, Ok(MarketEvent::DeviceRegistered { username, .. }) if username == d.username)
    );
    let (_, cred, suspended) = t
        .store
        .device_credential(&d.username)
        .await
        .expect("query")
        .expect("found");
    assert!(!suspended);
    let DeviceCredential::Secret(hash) = cred else {
        panic!("secret credential expected")
    };
    assert!(hash.verify(secret.expose()));
    assert!(!hash.verify("ags_wrong"));
}

#[tokio::test]
async fn rotating_a_device_replaces_its_credential_and_tells_the_broker() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let (d, old) = t
        .store
        .register_device(
            &alice,
            &alice.name,
            &hub_name("home"),
            &device("pi"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("register");
    let mut events = t.store.subscribe_events();
    let key = RsaPublicKey::parse(PUBLIC_KEY).expect("key");
    let (rotated, secret) = t
        .store
        .rotate_device(
            &alice,
            &alice.name,
            &hub_name("home"),
            &device("pi"),
            &NewCredential::PublicKey(key.clone()),
        )
        .await
        .expect("rotate");
    assert!(secret.is_none());
    assert!(rotated.rotated_at.is_some());
    assert_eq!(
        rotated.public_key_pem.as_deref(),
        Some(key.spki_pem().as_str()),
        "stored as normalised SPKI PEM"
    );
    assert!(
        matches!(events.recv().await, Ok(MarketEvent::DeviceRotated { device_id, .. }) if device_id == d.id)
    );
    let (_, cred, _) = t
        .store
        .device_credential(&d.username)
        .await
        .expect("query")
        .expect("found");
    assert!(matches!(cred, DeviceCredential::PublicKey(k) if k == key));
    assert!(old.is_some());
}

#[tokio::test]
async fn device_names_are_unique_per_hub_until_deleted() {
    let t = store().await;
    let (alice, _) = market(&t.store).await;
    let home = hub_name("home");
    t.store
        .register_device(
            &alice,
            &alice.name,
            &home,
            &device("pi"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("register");
    let err = t
        .store
        .register_device(
            &alice,
            &alice.name,
            &home,
            &device("PI"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect_err("taken");
    assert!(matches!(err, StoreError::Conflict { field: "name", .. }));
    t.store
        .delete_device(&alice, &alice.name, &home, &device("pi"))
        .await
        .expect("delete");
    assert!(matches!(
        t.store
            .get_device(&alice, &alice.name, &home, &device("pi"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(
        t.store
            .register_device(
                &alice,
                &alice.name,
                &home,
                &device("pi"),
                &NewCredential::GenerateSecret
            )
            .await
            .is_ok(),
        "name free again"
    );
}

#[tokio::test]
async fn another_account_cannot_see_or_touch_my_devices() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let home = hub_name("home");
    t.store
        .register_device(
            &alice,
            &alice.name,
            &home,
            &device("pi"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("register");
    assert!(matches!(
        t.store
            .list_devices(&bob, &alice.name, &home, &PageRequest::default())
            .await,
        Err(StoreError::NotFound { what: "hub" })
    ));
    assert!(matches!(
        t.store
            .get_device(&bob, &alice.name, &home, &device("pi"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.store
            .delete_device(&bob, &alice.name, &home, &device("pi"))
            .await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        t.store
            .register_device(
                &bob,
                &alice.name,
                &home,
                &device("evil"),
                &NewCredential::GenerateSecret
            )
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

#[tokio::test]
async fn deleting_a_hub_deletes_its_devices_and_products_but_keeps_history() {
    let t = store().await;
    let (alice, bob) = market(&t.store).await;
    let home = hub_name("home");
    t.store
        .register_device(
            &alice,
            &alice.name,
            &home,
            &device("pi"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("register");
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", agora_market::Plan::Free, false),
    )
    .await;
    let bought = t.store.purchase(&bob, &topic, None).await.expect("buy");
    t.store
        .delete_hub(&alice, &alice.name, &home)
        .await
        .expect("delete hub");
    assert!(matches!(
        t.store.get_product(&topic).await,
        Err(StoreError::NotFound { .. })
    ));
    let p = t
        .store
        .get_purchase(&bob, bought.id)
        .await
        .expect("history survives");
    assert_eq!(p.state, agora_market::PurchaseState::Revoked);
    assert!(
        t.store.create_hub(&alice, &home, true, "").await.is_ok(),
        "name free again"
    );
}

#[tokio::test]
async fn lists_page_through_every_item_once() {
    let t = store().await;
    let alice = account(&t.store, "alice").await;
    for i in 0..7 {
        hub(&t.store, &alice, &format!("h{i}"), true).await;
    }
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let p = t.store.list_hubs(&alice, &page).await.expect("page");
        seen.extend(p.items.iter().map(|h| h.name.to_string()));
        match PageRequest::after(3, &p) {
            Some(next) => page = next,
            None => break,
        }
    }
    assert_eq!(seen, ["h6", "h5", "h4", "h3", "h2", "h1", "h0"]);
    let bad = PageRequest {
        limit: 3,
        cursor: Some("garbage!".into()),
    };
    assert!(
        matches!(t.store.list_hubs(&alice, &bad).await, Err(StoreError::Invalid(e)) if e.field == "cursor")
    );
}
