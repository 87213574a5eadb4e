//! Shared set-up: a real SQLite file in a temp dir, and shortcuts to build market state.

use agora_market::{
    AccountName, Actor, HubName, Password, Plan, Price, ProductDetails, ProductKind, ProductName,
    ProductTopic, Role, Title,
};
use agora_store::Store;
use tempfile::TempDir;

pub(crate) struct TestStore {
    pub(crate) store: Store,
    // Keeps the database file alive for the test's duration.
    pub(crate) dir: TempDir,
}

pub(crate) async fn store() -> TestStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::open(dir.path().join("agora.db"))
        .await
        .expect("open store");
    TestStore { store, dir }
}

pub(crate) const PASSWORD: &str = "a sound passphrase 42";

pub(crate) async fn account(store: &Store, name: &str) -> Actor {
    account_with_role(store, name, Role::User).await
}

pub(crate) async fn admin(store: &Store, name: &str) -> Actor {
    account_with_role(store, name, Role::Admin).await
}

async fn account_with_role(store: &Store, name: &str, role: Role) -> Actor {
    let name = AccountName::parse(name).expect("name");
    let pw = Password::new(PASSWORD, &name).expect("password");
    store
        .create_account(&name, &pw, role)
        .await
        .expect("create account")
        .actor()
}

pub(crate) fn hub_name(s: &str) -> HubName {
    HubName::parse(s).expect("hub name")
}

pub(crate) async fn hub(store: &Store, owner: &Actor, name: &str, public: bool) -> HubName {
    let n = hub_name(name);
    store
        .create_hub(owner, &n, public, "")
        .await
        .expect("create hub");
    n
}

pub(crate) fn details(title: &str, plan: Plan, restricted: bool) -> ProductDetails {
    ProductDetails {
        title: Title::parse(title).expect("title"),
        description: format!("{title} readings"),
        kind: ProductKind::Sensor,
        restricted,
        plan,
        location: None,
        tags: vec![],
        declared_rate_secs: Some(5),
        schema: None,
        licence: "CC-BY-4.0".into(),
    }
}

pub(crate) fn period(days: u32, cents: i64) -> Plan {
    Plan::period(days, Price::from_cents(cents).expect("price")).expect("plan")
}

pub(crate) fn messages(count: u64, cents: i64) -> Plan {
    Plan::messages(count, Price::from_cents(cents).expect("price")).expect("plan")
}

/// Creates `owner/hub/name` (the hub must exist) and returns its topic.
pub(crate) async fn product(
    store: &Store,
    owner: &Actor,
    hub: &str,
    name: &str,
    d: ProductDetails,
) -> ProductTopic {
    let p = store
        .create_product(
            owner,
            &owner.name,
            &hub_name(hub),
            &ProductName::parse(name).expect("product name"),
            d,
        )
        .await
        .expect("create product");
    p.topic
}

/// A seller `alice` with public hub `home`, and a buyer `bob`.
pub(crate) async fn market(store: &Store) -> (Actor, Actor) {
    let alice = account(store, "alice").await;
    let bob = account(store, "bob").await;
    hub(store, &alice, "home", true).await;
    (alice, bob)
}
