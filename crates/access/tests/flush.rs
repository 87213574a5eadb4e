//! The access layer against a real SQLite store: logins, rights and meters
//! flushed back to the store.

use std::net::SocketAddr;

use agora_access::{Access, AccessConfig};
use agora_broker::auth::{Authorizer, ConnectRequest, DeliveryKind, Transport};
use agora_market::{
    AccountName, DeviceName, HubName, Label, Password, Plan, ProductDetails, ProductKind,
    ProductName, ProductTopic, Role, Title,
};
use agora_mqtt::{ByteString, Protocol, QoS};
use agora_store::{NewCredential, PageRequest, Store};
use bytes::Bytes;

fn req(user: &str, password: &str) -> ConnectRequest {
    ConnectRequest {
        client_id: ByteString::from_static("c1"),
        username: Some(ByteString::from(user.to_owned())),
        password: Some(Bytes::from(password.to_owned())),
        peer: SocketAddr::from(([127, 0, 0, 1], 5000)),
        transport: Transport::Tcp,
        protocol: Protocol::V5,
    }
}

#[tokio::test]
async fn deliveries_and_publications_are_counted_and_flushed_to_the_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("agora.db"))
        .await
        .expect("store");
    let name = |s: &str| AccountName::parse(s).expect("name");
    let alice = store
        .create_account(
            &name("alice"),
            &Password::new("correct horse battery 1", &name("alice")).expect("pw"),
            Role::User,
        )
        .await
        .expect("alice")
        .actor();
    let bob = store
        .create_account(
            &name("bob"),
            &Password::new("correct horse battery 2", &name("bob")).expect("pw"),
            Role::User,
        )
        .await
        .expect("bob")
        .actor();
    let home = HubName::parse("home").expect("hub");
    store
        .create_hub(&alice, &home, true, "")
        .await
        .expect("hub");
    let (_, secret) = store
        .register_device(
            &alice,
            &alice.name,
            &home,
            &DeviceName::parse("pi").expect("device"),
            &NewCredential::GenerateSecret,
        )
        .await
        .expect("device");
    let secret = secret.expect("secret").into_string();
    let details = ProductDetails {
        title: Title::parse("Temp").expect("title"),
        description: String::new(),
        kind: ProductKind::Sensor,
        restricted: false,
        plan: Plan::Free,
        location: None,
        tags: vec![],
        declared_rate_secs: None,
        schema: None,
        licence: String::new(),
    };
    let product = store
        .create_product(
            &alice,
            &alice.name,
            &home,
            &ProductName::parse("temp").expect("product"),
            details,
        )
        .await
        .expect("product");
    let topic = ProductTopic::parse("alice/home/temp").expect("topic");
    let purchase = store.purchase(&bob, &topic, None).await.expect("purchase");
    let (_, key) = store
        .create_access_key(&bob, &Label::parse("name", "k").expect("label"), &[], None)
        .await
        .expect("key");

    let (access, _inputs) = Access::load(&store, AccessConfig::default())
        .await
        .expect("load");
    let device = access
        .authenticate(req("alice$home$pi", &secret))
        .await
        .expect("device logs in");
    assert!(
        access
            .authenticate(req("alice$home$pi", "ags_wrong"))
            .await
            .is_err()
    );
    let buyer = access
        .authenticate(req("bob", key.expose()))
        .await
        .expect("buyer logs in");
    assert!(
        access
            .authorize_publish(&device, "alice/home/temp", QoS::AtMostOnce, false)
            .is_ok()
    );
    access.published(&device, "alice/home/temp", 7);
    assert!(
        access
            .authorize_publish(&buyer, "alice/home/temp", QoS::AtMostOnce, false)
            .is_err()
    );
    assert!(
        access
            .authorize_subscribe(&buyer, "alice/home/temp/#")
            .is_ok()
    );
    assert!(access.authorize_subscribe(&buyer, "alice/home/+").is_err());
    for _ in 0..3 {
        assert!(access.authorize_delivery(&buyer, "alice/home/temp", 10, DeliveryKind::Live));
    }
    // A retry is not billed again.
    assert!(access.authorize_delivery(&buyer, "alice/home/temp", 10, DeliveryKind::Retry));
    assert!(!access.authorize_delivery(&buyer, "alice/home/temp/cmd/x", 10, DeliveryKind::Live));

    access.flush(&store).await;
    let p = store
        .get_purchase(&bob, purchase.id)
        .await
        .expect("purchase");
    assert_eq!((p.used_messages, p.used_bytes), (3, 30));
    let activity = store.product_activity(product.id).await.expect("activity");
    assert_eq!(activity.published_messages, 1);
    assert_eq!(activity.published_bytes, 7);
    assert!(activity.last_data_at.is_some());
    // Flushing again adds nothing.
    access.flush(&store).await;
    let p = store
        .get_purchase(&bob, purchase.id)
        .await
        .expect("purchase");
    assert_eq!(p.used_messages, 3);
    let sales = store
        .list_sales(&alice, &PageRequest::first(10))
        .await
        .expect("sales");
    assert_eq!(sales.items.len(), 1);
}
