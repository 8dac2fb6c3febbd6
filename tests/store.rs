//! The store's one test suite, run against SQLite and against the real PostgreSQL named by
//! `KEYWARD_TEST_DATABASE_URL` (each test in a schema of its own).
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "support/records.rs"]
mod records;
mod support;

use std::sync::Arc;
use std::time::Duration;

use keyward::clock::{Clock, ManualClock, Timestamp};
use keyward::seal::{self, Kek, KeyIdentity};
use keyward::store::{
    AuditEvent, AuditStore, ConnectionStore, CredentialMethod, Inserted, InventorySnapshotRecord, InventoryStore,
    KeyRecord, KeyState, KeyStore, RotationState, RotationStore, SqlStore,
};
use records::{connection_rotation, lease, rotation, sealed_key};
use support::rng;

/// A SQLite store in a temporary directory, and a PostgreSQL store in a fresh schema (when
/// KEYWARD_TEST_DATABASE_URL is set; CI sets it).
async fn stores() -> Vec<(&'static str, Arc<SqlStore>, Option<tempfile::TempDir>)> {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = SqlStore::connect(&format!("sqlite://{}", dir.path().join("keyward.db").display())).await.unwrap();
    let mut out: Vec<(&'static str, Arc<SqlStore>, Option<tempfile::TempDir>)> =
        vec![("sqlite", Arc::new(sqlite), Some(dir))];
    match std::env::var("KEYWARD_TEST_DATABASE_URL") {
        Ok(url) => out.push(("postgres", Arc::new(postgres_in_new_schema(&url).await), None)),
        Err(_) => eprintln!("NOTE: KEYWARD_TEST_DATABASE_URL is not set; the PostgreSQL half of this test did not run"),
    }
    out
}

async fn postgres_in_new_schema(url: &str) -> SqlStore {
    postgres_schema(url).await.0
}

/// A PostgreSQL store in a fresh schema, and the schema's name.
async fn postgres_schema(url: &str) -> (SqlStore, String) {
    use sqlx::Connection;
    let schema = format!("kw_{}", support::random_hex(6));
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}"))).execute(&mut conn).await.unwrap();
    let sep = if url.contains('?') { '&' } else { '?' };
    (SqlStore::connect(&format!("{url}{sep}options=-c%20search_path%3D{schema}")).await.unwrap(), schema)
}

#[tokio::test]
async fn rotations_are_unique_per_client_and_request() {
    for (name, store, _dir) in stores().await {
        let first = rotation("dev", "app").with_request_id("req-1").build();
        assert_eq!(store.insert_rotation(&first).await.unwrap(), Inserted::New, "{name}");
        // The same request_id returns the stored rotation.
        let again = rotation("dev", "app").with_request_id("req-1").build();
        assert_eq!(store.insert_rotation(&again).await.unwrap(), Inserted::SameRequest(first.clone()), "{name}");
        // Another request while one is open is busy.
        match store.insert_rotation(&rotation("dev", "app").with_request_id("req-2").build()).await.unwrap() {
            Inserted::Busy(open) => assert_eq!(open.rotation_id, first.rotation_id, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        // Other clients and tenants are independent.
        assert_eq!(store.insert_rotation(&rotation("dev", "other").build()).await.unwrap(), Inserted::New);
        assert_eq!(
            store.insert_rotation(&rotation("prod", "app").with_request_id("req-1").build()).await.unwrap(),
            Inserted::New
        );
        assert_eq!(store.open_rotations().await.unwrap().len(), 3, "{name}");

        // Compare-and-set: a stale copy loses.
        let mut a = store.rotation(&first.rotation_id).await.unwrap().unwrap();
        let mut stale = a.clone();
        a.state = RotationState::Failed;
        a.error = Some("Auth0 said no".into());
        store.update_rotation(&mut a).await.unwrap();
        assert_eq!(a.version, 1);
        stale.state = RotationState::KeyGenerated;
        assert!(matches!(store.update_rotation(&mut stale).await, Err(keyward::Error::Conflict(_))), "{name}");
        let stored = store.rotation(&first.rotation_id).await.unwrap().unwrap();
        assert_eq!((stored.state, stored.error.as_deref()), (RotationState::Failed, Some("Auth0 said no")));
        // FAILED is not open: the client can rotate again, and the old request_id still answers.
        assert_eq!(
            store.insert_rotation(&rotation("dev", "app").with_request_id("req-3").build()).await.unwrap(),
            Inserted::New,
            "{name}"
        );
        assert_eq!(store.rotation_by_request("dev", "req-1").await.unwrap().unwrap().state, RotationState::Failed);
        assert!(store.rotation("nope").await.unwrap().is_none());
    }
}

#[tokio::test]
async fn concurrent_inserts_yield_one_rotation() {
    for (name, store, _dir) in stores().await {
        let tasks: Vec<_> = (0..10)
            .map(|i| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.insert_rotation(&rotation("dev", "busy-app").with_request_id(&format!("r{i}")).build()).await
                })
            })
            .collect();
        let mut new = 0;
        for t in tasks {
            match t.await.unwrap().unwrap() {
                Inserted::New => new += 1,
                Inserted::Busy(_) => {}
                other => panic!("{name}: {other:?}"),
            }
        }
        assert_eq!(new, 1, "{name}");
    }
}

#[tokio::test]
async fn keys_are_sealed_activated_and_retired_atomically() {
    let kek = Kek::generate(&mut rng());
    for (name, store, _dir) in stores().await {
        let mut r = rotation("dev", "app").build();
        store.insert_rotation(&r).await.unwrap();
        let k1 = sealed_key(&kek, "dev", "app", b"first private key");
        r.state = RotationState::KeyGenerated;
        r.new_key_id = Some(k1.key_id.clone());
        store.save_generated_key(&k1, &mut r).await.unwrap();
        assert_eq!(store.rotation(&r.rotation_id).await.unwrap().unwrap().state, RotationState::KeyGenerated);
        let stored = store.key(&k1.key_id).await.unwrap().unwrap();
        assert_eq!(stored, k1, "{name}");
        let who = KeyIdentity { tenant: "dev", client_id: "app", key_id: &k1.key_id };
        assert_eq!(seal::open(&[&kek], who, &stored.sealed).unwrap().as_slice(), b"first private key");

        // A stale rotation copy makes the whole transaction fail: the key is not stored.
        let mut stale = r.clone();
        stale.version -= 1;
        let k_lost = sealed_key(&kek, "dev", "app", b"lost");
        assert!(store.save_generated_key(&k_lost, &mut stale).await.is_err(), "{name}");
        assert!(store.key(&k_lost.key_id).await.unwrap().is_none(), "{name}: no half-written key");

        r.state = RotationState::Active;
        store.activate(&mut r, &k1.key_id, None, at(0)).await.unwrap();
        assert_eq!(store.keys_in_state(KeyState::Active).await.unwrap().len(), 1);

        // The next rotation: k2 active, k1 retiring until retire_at, in one step.
        let mut r2 = rotation("dev", "app").build();
        store.insert_rotation(&r2).await.unwrap();
        let k2 = sealed_key(&kek, "dev", "app", b"second");
        r2.state = RotationState::KeyGenerated;
        store.save_generated_key(&k2, &mut r2).await.unwrap();
        r2.state = RotationState::Active;
        store.activate(&mut r2, &k2.key_id, Some(&k1.key_id), at(5_000)).await.unwrap();
        let keys = store.keys("dev", "app").await.unwrap();
        let states: Vec<_> = keys.iter().map(|k| (k.key_id.clone(), k.state, k.retire_at)).collect();
        assert!(states.contains(&(k1.key_id.clone(), KeyState::Retiring, Some(at(5_000)))), "{name}: {states:?}");
        assert!(states.contains(&(k2.key_id.clone(), KeyState::Active, None)), "{name}: {states:?}");

        // Retirement and signing race through the store: a horizon raised first holds the
        // retirement off; a retirement begun first makes every later horizon raise fail.
        assert!(store.extend_signed_exp(&k1.key_id, at(9_000)).await.unwrap(), "{name}");
        assert!(!store.begin_retirement(&k1.key_id, at(8_000), true).await.unwrap(), "{name}: an assertion is live");
        assert!(!store.begin_retirement(&k1.key_id, at(4_000), false).await.unwrap(), "{name}: before retire_at");
        assert!(store.begin_retirement(&k1.key_id, at(9_000), false).await.unwrap(), "{name}");
        assert!(
            !store.extend_signed_exp(&k1.key_id, at(20_000)).await.unwrap(),
            "{name}: no signing once retiring began"
        );
        let unfinished: Vec<_> = store.keys_retired_unfinished().await.unwrap().into_iter().map(|k| k.key_id).collect();
        assert_eq!(unfinished, vec![k1.key_id.clone()], "{name}: still holds its sealed key");

        // A second active key for the client is refused by the database.
        let mut r3 = rotation("dev", "app").build();
        store.insert_rotation(&r3).await.unwrap();
        let k3 = sealed_key(&kek, "dev", "app", b"third");
        store.save_generated_key(&k3, &mut r3).await.unwrap();
        let mut bad = k3.clone();
        bad.state = KeyState::Active;
        assert!(store.overwrite_key(&bad).await.is_err(), "{name}: two active keys");

        // Retirement and KEK rotation update the key in place.
        let mut retired = store.key(&k1.key_id).await.unwrap().unwrap();
        retired.state = KeyState::Retired;
        retired.credential_id = Some("cred_x".into());
        store.overwrite_key(&retired).await.unwrap();
        assert_eq!(store.key(&k1.key_id).await.unwrap().unwrap().state, KeyState::Retired);
        retired.sealed.ciphertext.clear();
        store.overwrite_key(&retired).await.unwrap();
        assert!(store.keys_retired_unfinished().await.unwrap().is_empty(), "{name}: wiped");
        let new_kek = Kek::generate(&mut rng());
        let mut active = store.key(&k2.key_id).await.unwrap().unwrap();
        let who2 = KeyIdentity { tenant: "dev", client_id: "app", key_id: &k2.key_id };
        active.sealed = seal::rewrap(&[&kek], &new_kek, who2, &active.sealed, &mut rng()).unwrap();
        store.overwrite_key(&active).await.unwrap();
        let reread = store.key(&k2.key_id).await.unwrap().unwrap();
        assert_eq!(seal::open(&[&new_kek], who2, &reread.sealed).unwrap().as_slice(), b"second");
        assert!(matches!(
            store.overwrite_key(&sealed_key(&kek, "dev", "app", b"x")).await,
            Err(keyward::Error::NotFound(_))
        ));
    }
}

#[tokio::test]
async fn a_client_has_one_active_key_per_method() {
    let kek = Kek::generate(&mut rng());
    for (name, store, _dir) in stores().await {
        // A private_key_jwt key and a JAR key, each generated by its rotation and activated.
        let mut active = Vec::new();
        for method in [CredentialMethod::PrivateKeyJwt, CredentialMethod::SignedRequestObject] {
            let mut r = rotation("dev", "app").build();
            store.insert_rotation(&r).await.unwrap();
            let mut k = sealed_key(&kek, "dev", "app", b"key");
            k.method = method;
            r.state = RotationState::KeyGenerated;
            r.new_key_id = Some(k.key_id.clone());
            store.save_generated_key(&k, &mut r).await.unwrap();
            assert_eq!(store.key(&k.key_id).await.unwrap().unwrap().method, method, "{name}");
            r.state = RotationState::Active;
            store.activate(&mut r, &k.key_id, None, at(0)).await.unwrap();
            active.push(k);
        }
        let mut methods: Vec<_> =
            store.keys_in_state(KeyState::Active).await.unwrap().into_iter().map(|k| k.method).collect();
        methods.sort_by_key(|m| m.as_str());
        assert_eq!(methods, [CredentialMethod::PrivateKeyJwt, CredentialMethod::SignedRequestObject], "{name}");
        // A second active JAR key for the client is refused by the database.
        let mut r = rotation("dev", "app").build();
        store.insert_rotation(&r).await.unwrap();
        let mut k = sealed_key(&kek, "dev", "app", b"another");
        k.method = CredentialMethod::SignedRequestObject;
        store.save_generated_key(&k, &mut r).await.unwrap();
        k.state = KeyState::Active;
        assert!(store.overwrite_key(&k).await.is_err(), "{name}: two active JAR keys");
    }
}

#[tokio::test]
async fn audit_events_append_and_page() {
    for (name, store, _dir) in stores().await {
        for i in 0..5 {
            let e = AuditEvent {
                id: 0,
                at: at(i),
                actor: "keyward".into(),
                tenant: "dev".into(),
                subject: "app".into(),
                kind: format!("rotation.step{i}"),
                detail: "{}".into(),
            };
            store.append_audit(&e).await.unwrap();
        }
        let first = store.audit_after(0, 3).await.unwrap();
        assert_eq!(first.len(), 3, "{name}");
        let rest = store.audit_after(first[2].id, 10).await.unwrap();
        assert_eq!(rest.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(), ["rotation.step3", "rotation.step4"]);
    }
}

#[tokio::test]
async fn bad_store_urls_are_refused() {
    assert!(matches!(SqlStore::connect("mysql://x").await, Err(keyward::Error::Config(_))));
    let err = SqlStore::connect("postgres://nobody@127.0.0.1:1/none").await.unwrap_err();
    assert!(matches!(err, keyward::Error::Database(_)), "{err}");
}

/// Issue 14's failure, at the store: replica A stored SLOT_FREED and froze; replica B claimed
/// the rotation, registered, activated the key. A's late writes must change nothing: not the
/// key's credential or state, not the rotation; and nothing destroys a key or frees a credential
/// that is in use.
#[tokio::test]
async fn a_replica_that_lost_its_lease_changes_nothing() {
    for (name, store, _dir) in stores().await {
        // The store stamps leases and updates by this clock; time moves only when the test says.
        let clock = Arc::new(ManualClock::starting_now());
        let store = Arc::new((*store).clone().with_clock(clock.clone()));
        let kek = Kek::generate(&mut rng());
        let now = clock.now();
        let mut a = rotation("dev", "app").with_lease(lease("a", 1, now.plus_ms(30_000))).build();
        store.insert_rotation(&a).await.unwrap();
        let k = sealed_key(&kek, "dev", "app", b"new");
        a.state = RotationState::KeyGenerated;
        a.new_key_id = Some(k.key_id.clone());
        store.save_generated_key(&k, &mut a).await.unwrap();
        a.state = RotationState::SlotFreed;
        store.update_rotation(&mut a).await.unwrap();

        // A froze past its lease (the store's writes renewed it to 30 s from then); B takes over
        // and drives the rotation to ACTIVE.
        clock.advance(Duration::from_secs(31));
        let now = clock.now();
        let mut b = store.claim_rotation(&a.rotation_id, "b", now, now.plus_ms(30_000)).await.unwrap().unwrap();
        assert_eq!(b.lease.token, 2, "{name}");
        // While B holds the rotation, a credential it registered may not be removed by anyone.
        let mut b_next = b.clone();
        b_next.new_credential_id = Some("cred_b".into());
        b_next.state = RotationState::Registered;
        store.save_registered(&mut b_next, &k.key_id, "cred_b").await.unwrap();
        b = b_next;
        assert!(!store.may_remove_credential(Some(&b), "dev", "app", "cred_b", None).await.unwrap(), "{name}");
        assert!(store.may_remove_credential(Some(&b), "dev", "app", "cred_b", Some(&k.key_id)).await.unwrap());
        b.state = RotationState::Attached;
        store.update_rotation(&mut b).await.unwrap();
        b.state = RotationState::Active;
        store.activate(&mut b, &k.key_id, None, at(0)).await.unwrap();

        // A wakes up and writes what it would have: every write is refused as LeaseLost.
        let lost = |e: keyward::Error| matches!(e, keyward::Error::LeaseLost { .. });
        assert!(lost(store.renew_rotation_lease(&a).await.unwrap_err()), "{name}: renewal revived B's lease");
        let mut a_next = a.clone();
        a_next.new_credential_id = Some("cred_a".into());
        a_next.state = RotationState::Registered;
        assert!(lost(store.save_registered(&mut a_next, &k.key_id, "cred_a").await.unwrap_err()), "{name}");
        let mut a_failed = a.clone();
        a_failed.state = RotationState::Failed;
        assert!(lost(store.save_failed(&mut a_failed).await.unwrap_err()), "{name}");
        assert!(lost(store.may_remove_credential(Some(&a), "dev", "app", "cred_b", None).await.unwrap_err()));
        let mut a_retired = a.clone();
        a_retired.state = RotationState::Retired;
        assert!(lost(store.close_retirement(&k.key_id, Some(&mut a_retired)).await.unwrap_err()), "{name}");

        // The key B activated is as B left it, with its key material.
        let stored = store.key(&k.key_id).await.unwrap().unwrap();
        assert_eq!(stored.state, KeyState::Active, "{name}");
        assert_eq!(stored.credential_id.as_deref(), Some("cred_b"), "{name}");
        assert!(stored.activated_at.is_some(), "{name}");
        let who = KeyIdentity { tenant: "dev", client_id: "app", key_id: &k.key_id };
        assert_eq!(seal::open(&[&kek], who, &stored.sealed).unwrap().as_slice(), b"new", "{name}");
        // Unleased clean-up cannot destroy it either: it is not RETIRED, and its credential is in use.
        assert!(!store.close_retirement(&k.key_id, None).await.unwrap(), "{name}");
        assert!(!store.may_remove_credential(None, "dev", "app", "cred_b", None).await.unwrap(), "{name}");
        let r = store.rotation(&a.rotation_id).await.unwrap().unwrap();
        assert_eq!((r.state, r.lease.owner.as_deref()), (RotationState::Active, Some("b")), "{name}");
    }
}

#[tokio::test]
async fn a_connection_rotation_lease_is_fenced() {
    for (name, store, _dir) in stores().await {
        let now = keyward::clock::wall_now();
        let a_lease = lease("a", 1, now.plus_ms(30_000));
        let record = connection_rotation("dev", "con_1")
            .with_request_id("req")
            .with_lease(a_lease.clone())
            .created_at(now)
            .build();
        assert!(store.insert_connection_rotation(&record).await.unwrap(), "{name}");
        // B cannot claim a live lease; it can once the lease lapsed.
        assert!(store.claim_connection_rotation(&record.id, "b", now, now.plus_ms(30_000)).await.unwrap().is_none());
        let b_lease =
            store.claim_connection_rotation(&record.id, "b", now.plus_ms(31_000), now.plus_ms(61_000)).await.unwrap();
        let b_lease = b_lease.unwrap();
        assert_eq!(b_lease.token, 2, "{name}");
        // A's renewal and result are refused; B's go through.
        let lost = |e: keyward::Error| matches!(e, keyward::Error::LeaseLost { .. });
        assert!(lost(store.renew_connection_lease(&record.id, &a_lease).await.unwrap_err()), "{name}");
        assert!(lost(store.finish_connection_rotation(&record.id, &a_lease, "{}", true).await.unwrap_err()));
        store.renew_connection_lease(&record.id, &b_lease).await.unwrap();
        store.finish_connection_rotation(&record.id, &b_lease, r#"{"state":"done"}"#, true).await.unwrap();
        let stored = store.connection_rotation("dev", "req").await.unwrap().unwrap();
        assert_eq!(stored.result, r#"{"state":"done"}"#, "{name}");
        assert_eq!(stored.lease.owner, None, "{name}: the lease is freed");
    }
}

/// A destroyed key's sealed blob is gone from the SQLite files themselves (database and
/// write-ahead log), so a copy of them taken afterwards cannot open it.
#[tokio::test]
async fn a_destroyed_key_leaves_no_copy_in_the_sqlite_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("keyward.db");
    let store = SqlStore::connect(&format!("sqlite://{}", db.display())).await.unwrap();
    let kek = Kek::generate(&mut rng());
    let mut r = rotation("dev", "app").build();
    store.insert_rotation(&r).await.unwrap();
    let k = sealed_key(&kek, "dev", "app", b"a private key that must not survive its destruction");
    r.state = RotationState::KeyGenerated;
    r.new_key_id = Some(k.key_id.clone());
    store.save_generated_key(&k, &mut r).await.unwrap();
    let files = || {
        let mut all = std::fs::read(&db).unwrap();
        all.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
        all
    };
    let needle = &k.sealed.ciphertext[..32];
    let holds = |bytes: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    assert!(holds(&files()), "the sealed key is stored (the check can see it)");
    // The rotation fails: its PENDING key is destroyed.
    r.state = RotationState::Failed;
    assert!(store.save_failed(&mut r).await.unwrap());
    assert!(!holds(&files()), "the sealed key survives in the database files");
    assert!(store.key(&k.key_id).await.unwrap().unwrap().sealed.ciphertext.is_empty());
}

/// The same on PostgreSQL, which has no `secure_delete`: once a key is destroyed (a failed
/// rotation's PENDING key, and a RETIRED key whose retirement closes), its sealed blob and
/// wrapped data key are in no file of the `keys` table or its TOAST table, read after a
/// CHECKPOINT through `pg_read_binary_file` (the test user is a superuser): neither in the
/// table's files as they are now nor in the files it had before.
///
/// The layout is one a plain VACUUM fails on (it only marks a dead row free, its bytes stay in
/// the page): the PENDING key's blob (1 KiB, like a sealed RSA-2048 key) stays in its row, which
/// is the table's last, so the rows moved up when the page is compacted cover only its end; the
/// RETIRED key's blob (6 KiB, random so incompressible) goes to the TOAST table, followed there
/// by the chunks of a key that stays, so its emptied pages are not cut off the end of the file.
#[tokio::test]
async fn a_destroyed_key_leaves_no_copy_in_the_postgres_table_files() {
    use sqlx::Connection;
    let Ok(url) = std::env::var("KEYWARD_TEST_DATABASE_URL") else {
        eprintln!("NOTE: KEYWARD_TEST_DATABASE_URL is not set; this PostgreSQL test did not run");
        return;
    };
    let (store, schema) = postgres_schema(&url).await;
    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let kek = Kek::generate(&mut rng());
    let random = |n: usize| {
        let mut b = vec![0u8; n];
        rand_core::Rng::fill_bytes(&mut rng(), &mut b);
        b
    };

    // The files of `keys` and of its TOAST table, relative to the data directory.
    let files_sql = "SELECT pg_relation_filepath(c.oid), pg_relation_filepath(c.reltoastrelid) FROM pg_class c \
                     JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'keys'";
    let table_files = async |admin: &mut sqlx::PgConnection| -> [String; 2] {
        let (heap, toast): (String, String) =
            sqlx::query_as(files_sql).bind(&schema).fetch_one(&mut *admin).await.unwrap();
        [heap, toast]
    };
    // A file's bytes after a checkpoint (none once the file is gone).
    let read = async |admin: &mut sqlx::PgConnection, path: &str| -> Vec<u8> {
        sqlx::query("CHECKPOINT").execute(&mut *admin).await.unwrap();
        let exists: bool = sqlx::query_scalar("SELECT (pg_stat_file($1, true)).size IS NOT NULL")
            .bind(path)
            .fetch_one(&mut *admin)
            .await
            .unwrap();
        if !exists {
            return Vec::new();
        }
        sqlx::query_scalar("SELECT pg_read_binary_file($1)").bind(path).fetch_one(&mut *admin).await.unwrap()
    };
    let needles = |k: &KeyRecord| [k.sealed.ciphertext[..32].to_vec(), k.sealed.wrapped_dek.clone()];
    let holds = |bytes: &[u8], needle: &[u8]| {
        assert!(needle.len() >= 16, "a needle of {} bytes proves nothing", needle.len());
        bytes.windows(needle.len()).any(|w| w == needle)
    };

    // The RETIRED key (TOASTed), then a key that stays (TOASTed after it), then the PENDING key
    // of a rotation that fails (in its row, the last).
    let mut retiring = rotation("dev", "other-app").build();
    store.insert_rotation(&retiring).await.unwrap();
    let large = sealed_key(&kek, "dev", "other-app", &random(6 * 1024));
    retiring.state = RotationState::KeyGenerated;
    store.save_generated_key(&large, &mut retiring).await.unwrap();
    let mut retired = large.clone();
    retired.state = KeyState::Retired;
    store.overwrite_key(&retired).await.unwrap();
    let kept_secret = random(6 * 1024);
    let kept = sealed_key(&kek, "dev", "third-app", &kept_secret);
    let mut third = rotation("dev", "third-app").build();
    store.insert_rotation(&third).await.unwrap();
    third.state = RotationState::KeyGenerated;
    store.save_generated_key(&kept, &mut third).await.unwrap();
    let mut failed = rotation("dev", "app").build();
    store.insert_rotation(&failed).await.unwrap();
    let inline = sealed_key(&kek, "dev", "app", &random(1024));
    failed.state = RotationState::KeyGenerated;
    failed.new_key_id = Some(inline.key_id.clone());
    store.save_generated_key(&inline, &mut failed).await.unwrap();

    let before = table_files(&mut admin).await;
    let heap = read(&mut admin, &before[0]).await;
    let toast = read(&mut admin, &before[1]).await;
    for (k, file) in [(&inline, &heap), (&large, &toast), (&kept, &toast)] {
        assert!(holds(file, &k.sealed.ciphertext[..32]), "{}: the check sees the blob where it is", k.key_id);
    }

    assert!(store.close_retirement(&large.key_id, None).await.unwrap());
    failed.state = RotationState::Failed;
    assert!(store.save_failed(&mut failed).await.unwrap());
    for k in [&inline, &large] {
        assert!(store.key(&k.key_id).await.unwrap().unwrap().sealed.ciphertext.is_empty());
    }

    let after = table_files(&mut admin).await;
    let mut all = Vec::new();
    for f in before.iter().chain(&after) {
        all.extend(read(&mut admin, f).await);
    }
    let mut survivors = Vec::new();
    for (what, k) in [("the PENDING key's (in its row)", &inline), ("the RETIRED key's (TOASTed)", &large)] {
        for (part, n) in ["sealed blob", "wrapped data key"].into_iter().zip(needles(k)) {
            if holds(&all, &n) {
                survivors.push(format!("{what} {part}"));
            }
        }
    }
    assert!(survivors.is_empty(), "destroyed, yet in the table's files: {survivors:?}");
    for n in needles(&kept) {
        assert!(holds(&all, &n), "the key that stays is still in the files");
    }
    let stored = store.key(&kept.key_id).await.unwrap().unwrap();
    let who = KeyIdentity { tenant: "dev", client_id: "third-app", key_id: &kept.key_id };
    assert_eq!(seal::open(&[&kek], who, &stored.sealed).unwrap().as_slice(), kept_secret.as_slice());
}

fn at(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms)
}

#[tokio::test]
async fn each_tenant_keeps_only_its_last_inventory_snapshot() {
    for (name, store, _dir) in stores().await {
        assert_eq!(store.inventory_snapshot("dev").await.unwrap(), None, "{name}");
        let first = InventorySnapshotRecord {
            tenant: "dev".into(),
            taken_at: Timestamp::from_millis(1_000),
            snapshot: r#"{"clients":{}}"#.into(),
        };
        store.put_inventory_snapshot(&first).await.unwrap();
        let other = InventorySnapshotRecord { tenant: "prod".into(), ..first.clone() };
        store.put_inventory_snapshot(&other).await.unwrap();
        let second = InventorySnapshotRecord {
            taken_at: Timestamp::from_millis(2_000),
            snapshot: r#"{"clients":{"app":{}}}"#.into(),
            ..first.clone()
        };
        store.put_inventory_snapshot(&second).await.unwrap();
        assert_eq!(store.inventory_snapshot("dev").await.unwrap(), Some(second), "{name}");
        assert_eq!(store.inventory_snapshot("prod").await.unwrap(), Some(other), "{name}");
    }
}
