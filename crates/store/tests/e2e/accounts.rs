use agora_market::{AccountName, Label, Password, Role};
use agora_store::{PageRequest, StoreError};
use time::Duration;

use crate::helpers::*;

#[tokio::test]
async fn store_uses_wal_and_foreign_keys_and_survives_reopening() {
    let t = store().await;
    account(&t.store, "alice").await;
    t.store.close().await;
    let again = agora_store::Store::open(t.dir.path().join("agora.db"))
        .await
        .expect("reopen runs migrations idempotently");
    let found = again
        .account_by_name(&AccountName::parse("alice").expect("name"))
        .await
        .expect("query");
    assert!(found.is_some());
    assert!(
        t.dir.path().join("agora.db-wal").exists() || t.dir.path().join("agora.db-shm").exists(),
        "WAL files exist"
    );
}

#[tokio::test]
async fn account_names_are_unique_case_insensitively() {
    let t = store().await;
    account(&t.store, "alice").await;
    let name = AccountName::parse("ALICE").expect("name");
    let err = t
        .store
        .create_account(
            &name,
            &Password::new(PASSWORD, &name).expect("pw"),
            Role::User,
        )
        .await
        .expect_err("taken");
    assert!(
        matches!(err, StoreError::Conflict { field: "name", .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn verify_password_accepts_the_right_one_only() {
    let t = store().await;
    account(&t.store, "alice").await;
    assert!(t.store.verify_password("alice", PASSWORD).await.is_ok());
    assert!(
        t.store.verify_password("Alice", PASSWORD).await.is_ok(),
        "names fold to lower case"
    );
    assert!(matches!(
        t.store.verify_password("alice", "wrong password!").await,
        Err(StoreError::Unauthenticated)
    ));
    assert!(matches!(
        t.store.verify_password("nobody", PASSWORD).await,
        Err(StoreError::Unauthenticated)
    ));
    assert!(matches!(
        t.store.verify_password("no/body", PASSWORD).await,
        Err(StoreError::Unauthenticated)
    ));
}

#[tokio::test]
async fn suspended_accounts_cannot_log_in_or_use_tokens() {
    let t = store().await;
    let root = admin(&t.store, "root").await;
    let alice = account(&t.store, "alice").await;
    let (_, secret) = t
        .store
        .create_api_token(&alice, &Label::parse("name", "cli").expect("label"), None)
        .await
        .expect("token");
    let mut events = t.store.subscribe_events();
    t.store
        .set_suspended(&root, &alice.name, true, Some("spam"))
        .await
        .expect("suspend");
    assert!(matches!(
        events.recv().await,
        Ok(agora_market::MarketEvent::AccountSuspended { .. })
    ));
    assert!(matches!(
        t.store.verify_password("alice", PASSWORD).await,
        Err(StoreError::Suspended)
    ));
    assert!(matches!(
        t.store.authenticate_api_token(secret.expose()).await,
        Err(StoreError::Suspended)
    ));
    t.store
        .set_suspended(&root, &alice.name, false, None)
        .await
        .expect("restore");
    assert!(t.store.verify_password("alice", PASSWORD).await.is_ok());
}

#[tokio::test]
async fn only_admins_suspend() {
    let t = store().await;
    let alice = account(&t.store, "alice").await;
    let bob = account(&t.store, "bob").await;
    assert!(matches!(
        t.store.set_suspended(&alice, &bob.name, true, None).await,
        Err(StoreError::Forbidden { .. })
    ));
}

#[tokio::test]
async fn api_tokens_authenticate_until_revoked() {
    let t = store().await;
    let alice = account(&t.store, "alice").await;
    let bob = account(&t.store, "bob").await;
    let (token, secret) = t
        .store
        .create_api_token(
            &alice,
            &Label::parse("name", "laptop").expect("label"),
            None,
        )
        .await
        .expect("token");
    assert!(secret.expose().starts_with("agt_"));
    assert_eq!(
        t.store
            .authenticate_api_token(secret.expose())
            .await
            .expect("auth")
            .name,
        alice.name
    );
    assert!(matches!(
        t.store.authenticate_api_token("agt_nope").await,
        Err(StoreError::Unauthenticated)
    ));
    let listed = t
        .store
        .list_api_tokens(&alice, &PageRequest::default())
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    assert!(listed.items[0].last_used_at.is_some());
    assert!(
        matches!(
            t.store.revoke_api_token(&bob, token.id).await,
            Err(StoreError::NotFound { .. })
        ),
        "another account's token looks absent"
    );
    t.store
        .revoke_api_token(&alice, token.id)
        .await
        .expect("revoke");
    assert!(matches!(
        t.store.authenticate_api_token(secret.expose()).await,
        Err(StoreError::Unauthenticated)
    ));
}

#[tokio::test]
async fn token_expiry_must_be_in_the_future() {
    let t = store().await;
    let alice = account(&t.store, "alice").await;
    let past = time::OffsetDateTime::now_utc() - Duration::minutes(1);
    let err = t
        .store
        .create_api_token(
            &alice,
            &Label::parse("name", "old").expect("label"),
            Some(past),
        )
        .await
        .expect_err("past");
    assert!(matches!(err, StoreError::Invalid(e) if e.field == "expires_at"));
}

#[tokio::test]
async fn audit_log_shows_admins_everything_and_users_their_own() {
    let t = store().await;
    let root = admin(&t.store, "root").await;
    let (alice, bob) = market(&t.store).await;
    hub(&t.store, &bob, "lab", false).await;
    let all = t
        .store
        .audit_log(&root, &PageRequest::first(100))
        .await
        .expect("admin log");
    assert!(
        all.items
            .iter()
            .any(|e| e.action == "hub.create" && e.subject == "bob/lab")
    );
    let own = t
        .store
        .audit_log(&alice, &PageRequest::first(100))
        .await
        .expect("own log");
    assert!(
        own.items
            .iter()
            .all(|e| e.actor.as_ref() == Some(&alice.name))
    );
    assert!(own.items.iter().any(|e| e.subject == "alice/home"));
}

#[tokio::test]
async fn connect_takes_sqlite_urls_and_refuses_postgres_for_now() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("x.db").display());
    assert!(agora_store::Store::connect(&url).await.is_ok());
    assert!(agora_store::Store::connect("sqlite::memory:").await.is_ok());
    let err = agora_store::Store::connect("postgres://localhost/agora")
        .await
        .expect_err("not yet");
    assert!(matches!(err, StoreError::Invalid(e) if e.field == "database.url"));
}

#[tokio::test]
async fn in_memory_stores_work_like_files() {
    let s = agora_store::Store::open_in_memory().await.expect("open");
    let alice = account(&s, "alice").await;
    hub(&s, &alice, "home", true).await;
    assert_eq!(
        s.list_hubs(&alice, &PageRequest::default())
            .await
            .expect("list")
            .items
            .len(),
        1
    );
}

#[tokio::test]
async fn an_actor_held_from_before_a_suspension_can_no_longer_act() {
    let t = store().await;
    let root = admin(&t.store, "root").await;
    let (alice, bob) = market(&t.store).await;
    let topic = product(
        &t.store,
        &alice,
        "home",
        "temp",
        details("Temperature", agora_market::Plan::Free, false),
    )
    .await;
    let p = t.store.purchase(&bob, &topic, None).await.expect("buy");
    t.store
        .set_suspended(&root, &bob.name, true, None)
        .await
        .expect("suspend");
    assert!(matches!(
        t.store.create_hub(&bob, &hub_name("lab"), true, "").await,
        Err(StoreError::Suspended)
    ));
    assert!(matches!(
        t.store.purchase(&bob, &topic, None).await,
        Err(StoreError::Suspended)
    ));
    assert!(
        t.store.cancel_purchase(&bob, p.id, None).await.is_ok(),
        "ending access stays possible"
    );
}

#[tokio::test]
async fn the_local_operator_may_suspend_but_owns_nothing() {
    let t = store().await;
    let alice = account(&t.store, "alice").await;
    let op = agora_market::Actor::operator();
    t.store
        .set_suspended(&op, &alice.name, true, Some("from the CLI"))
        .await
        .expect("operator suspends");
    let log = t
        .store
        .audit_log(&op, &PageRequest::first(10))
        .await
        .expect("operator reads the log");
    assert!(log.items.iter().any(
        |e| e.action == "account.suspend" && e.actor.as_ref().is_some_and(|a| a.is_reserved())
    ));
    assert!(
        t.store
            .create_hub(&op, &crate::helpers::hub_name("x"), true, "")
            .await
            .is_err(),
        "owns nothing"
    );
    let agora = AccountName::parse("agora").expect("name");
    let err = t
        .store
        .create_account(
            &agora,
            &Password::new(PASSWORD, &agora).expect("pw"),
            Role::User,
        )
        .await
        .expect_err("reserved");
    assert!(matches!(err, StoreError::Invalid(e) if e.field == "account_name"));
}

#[cfg(unix)]
#[tokio::test]
async fn a_new_database_file_and_its_folder_are_created_private() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nested").join("agora.db");
    let s = agora_store::Store::open(&path)
        .await
        .expect("open creates the folder");
    account(&s, "alice").await;
    let mode = std::fs::metadata(&path).expect("file").permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn web_sessions_are_tokens_listed_apart() {
    let t = store().await;
    let alice = account(&t.store, "alice").await;
    t.store
        .create_api_token(&alice, &Label::parse("name", "cli").expect("label"), None)
        .await
        .expect("token");
    let expires = time::OffsetDateTime::now_utc() + Duration::days(14);
    let (session, secret) = t
        .store
        .create_web_session(&alice, expires)
        .await
        .expect("session");
    assert_eq!(session.kind, agora_market::ApiTokenKind::WebSession);
    assert_eq!(
        t.store
            .authenticate_api_token(secret.expose())
            .await
            .expect("cookie works")
            .name,
        alice.name
    );
    let tokens = t
        .store
        .list_api_tokens(&alice, &PageRequest::default())
        .await
        .expect("tokens");
    assert_eq!(
        tokens
            .items
            .iter()
            .map(|t| t.name.as_str())
            .collect::<Vec<_>>(),
        ["cli"]
    );
    let sessions = t
        .store
        .list_web_sessions(&alice, &PageRequest::default())
        .await
        .expect("sessions");
    assert_eq!(
        sessions.items.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![session.id]
    );
    t.store
        .revoke_api_token(&alice, session.id)
        .await
        .expect("log out");
    assert!(matches!(
        t.store.authenticate_api_token(secret.expose()).await,
        Err(StoreError::Unauthenticated)
    ));
}
