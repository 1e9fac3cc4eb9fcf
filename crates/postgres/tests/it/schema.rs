//! Opening a team database: the schema is migrated once however many workers start at once,
//! a newer schema is refused with both versions, and a password never rides in the URL.

use crate::pg_lab::PgLab;
use waymark_engine::StoreError;
use waymark_postgres::{is_postgres_url, PgConfig, PgStore, LATEST_VERSION};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_starting_together_migrate_a_new_database_once() {
    let lab = PgLab::start();
    let url = lab.create_database("fresh");
    let opens = (0..6).map(|_| PgStore::open(&url, PgConfig::default()));
    for store in futures::future::join_all(opens).await {
        let store = store.expect("every worker opens the database");
        assert_eq!(
            store.schema_version().await.expect("version"),
            LATEST_VERSION
        );
    }
    // Applied once: the counter row the first migration inserts exists once.
    assert_eq!(lab.psql("fresh", "SELECT count(*) FROM counters"), "1");
    assert_eq!(
        lab.psql("fresh", "SELECT count(*) FROM waymark_schema"),
        "1"
    );
    // Opening again changes nothing.
    let again = PgStore::open(&url, PgConfig::default())
        .await
        .expect("reopen");
    assert_eq!(
        again.schema_version().await.expect("version"),
        LATEST_VERSION
    );
}

#[tokio::test]
async fn a_database_from_a_newer_build_is_refused_with_both_versions() {
    let lab = PgLab::start();
    let url = lab.create_database("newer");
    PgStore::open(&url, PgConfig::default())
        .await
        .expect("first open");
    let newer = LATEST_VERSION + 3;
    lab.psql(
        "newer",
        &format!("UPDATE waymark_schema SET version = {newer}"),
    );
    let err = PgStore::open(&url, PgConfig::default())
        .await
        .err()
        .expect("a newer schema is refused");
    match &err {
        StoreError::NewerSchema(n) => {
            assert_eq!((n.found, n.supported), (newer, LATEST_VERSION));
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&newer.to_string()) && text.contains(&LATEST_VERSION.to_string()),
        "{text}"
    );
    assert!(text.contains(&url), "the error names the database: {text}");
    // Nothing was written: the version is still the newer one.
    assert_eq!(
        lab.psql("newer", "SELECT version FROM waymark_schema"),
        newer.to_string()
    );
}

#[tokio::test]
async fn a_password_in_the_url_is_refused_and_never_repeated() {
    for url in [
        "postgres://waymark:s3cret-pw@127.0.0.1:5/db",
        "postgresql://127.0.0.1:5/db?user=waymark&password=s3cret-pw",
    ] {
        let err = PgStore::open(url, PgConfig::default())
            .await
            .err()
            .expect("refused");
        let text = err.to_string();
        assert!(
            text.contains("PGPASSWORD"),
            "says where the password goes: {text}"
        );
        assert!(
            !text.contains("s3cret-pw"),
            "the password is not repeated: {text}"
        );
    }
}

#[tokio::test]
async fn an_unreachable_server_or_a_bad_url_is_a_clear_error() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("port");
    let url = format!("postgres://waymark@127.0.0.1:{port}/db");
    let err = PgStore::open(&url, PgConfig::default())
        .await
        .err()
        .expect("nothing listens");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "names the database: {err}");

    let err = PgStore::open("postgres://host:notaport/db", PgConfig::default())
        .await
        .err()
        .expect("bad URL");
    assert!(err.to_string().contains("not a PostgreSQL URL"), "{err}");
    // The edges of a URL: a port past 65535, a NUL byte, a huge value.
    let huge = format!("postgres://u@h/{}", "d".repeat(100_000));
    for url in [
        "postgres://u@h:99999999/db",
        "postgres://u@h/d\0b",
        huge.as_str(),
    ] {
        let err = PgStore::open(url, PgConfig::default())
            .await
            .err()
            .expect("refused");
        assert!(matches!(err, StoreError::Open { .. }), "{err:?}");
    }
}

#[tokio::test]
async fn a_database_that_is_not_ours_is_not_touched_by_a_wrong_guess() {
    // A table of the same name with a negative version: a foreign tool's, refused.
    let lab = PgLab::start();
    let url = lab.create_database("foreign");
    lab.psql(
        "foreign",
        "CREATE TABLE waymark_schema (version BIGINT NOT NULL)",
    );
    lab.psql("foreign", "INSERT INTO waymark_schema VALUES (-1)");
    let err = PgStore::open(&url, PgConfig::default())
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert_eq!(
        lab.psql(
            "foreign",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'runs'"
        ),
        "0"
    );
}

#[test]
fn postgres_urls_are_told_from_file_paths() {
    for db in [
        "postgres://h/db",
        "POSTGRESQL://h/db",
        "postgresql://u@h:5432/db",
    ] {
        assert!(is_postgres_url(db), "{db}");
    }
    for db in [
        "waymark.db",
        "./postgres:/x.db",
        "postgres:",
        "/tmp/postgres://x",
        "é",
        "",
    ] {
        assert!(!is_postgres_url(db), "{db}");
    }
}

#[tokio::test]
async fn the_password_comes_from_a_private_password_file_and_never_from_the_url() {
    use std::os::unix::fs::PermissionsExt as _;
    let lab = PgLab::start();
    lab.require_password("teamuser", "team-secret-7");
    let url = format!("postgres://teamuser@127.0.0.1:{}/teamuser", lab.port);
    let dir = tempfile::tempdir().expect("dir");
    let passfile = dir.path().join("pgpass");
    let config = |passfile: Option<std::path::PathBuf>| PgConfig {
        password_from_env: false,
        passfile,
        ..PgConfig::default()
    };

    // No password anywhere: the server's refusal, named.
    let err = PgStore::open(&url, config(None))
        .await
        .err()
        .expect("refused");
    assert!(matches!(err, StoreError::Open { .. }), "{err:?}");

    // A file others may read is not used, and the error says so (not the password).
    std::fs::write(
        &passfile,
        "# team\n127.0.0.1:*:teamuser:teamuser:team-secret-7\n",
    )
    .expect("write");
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let err = PgStore::open(&url, config(Some(passfile.clone())))
        .await
        .err()
        .expect("a readable file is ignored");
    let text = err.to_string();
    assert!(
        text.contains("chmod 0600") && !text.contains("team-secret-7"),
        "{text}"
    );

    // Private: used, and the schema is there.
    std::fs::set_permissions(&passfile, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let store = PgStore::open(&url, config(Some(passfile.clone())))
        .await
        .expect("opens with the file's password");
    assert_eq!(
        store.schema_version().await.expect("version"),
        LATEST_VERSION
    );
    assert!(!store.url().contains("team-secret-7"));

    // A wrong password in the file: refused by the server, the password not repeated.
    std::fs::write(&passfile, "*:*:*:teamuser:wrong-secret-9\n").expect("write");
    let err = PgStore::open(&url, config(Some(passfile)))
        .await
        .err()
        .expect("a wrong password is refused");
    assert!(!err.to_string().contains("wrong-secret-9"), "{err}");
}
