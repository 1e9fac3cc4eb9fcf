//! Reaching a team database: TLS over rustls with libpq's `sslmode` meanings, and the password
//! kept in this machine's secret store.

use crate::pg_lab::PgLab;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
use waymark_agent::{Secret, SecretStore};
use waymark_postgres::{forget_password, remember_password, PgConfig, PgStore};

struct Authority {
    cert: rcgen::Certificate,
    key: KeyPair,
}

fn authority(name: &str) -> Authority {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("CA key");
    let cert = params.self_signed(&key).expect("CA certificate");
    Authority { cert, key }
}

/// A server certificate for `names`, signed by `ca`: (certificate PEM, key PEM).
fn server_cert(names: &[&str], ca: &Authority) -> (String, String) {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let params = CertificateParams::new(names).expect("server params");
    let key = KeyPair::generate().expect("server key");
    let cert = params
        .signed_by(&key, &ca.cert, &ca.key)
        .expect("server certificate");
    (cert.pem(), key.serialize_pem())
}

/// No password from this machine's environment or files: only what a test gives.
fn config() -> PgConfig {
    PgConfig {
        password_from_env: false,
        passfile: None,
        ..PgConfig::default()
    }
}

async fn open_err(url: &str) -> String {
    match PgStore::open(url, config()).await {
        Ok(_) => panic!("{url} opened"),
        Err(e) => e.to_string(),
    }
}

/// How many connections to `database` are encrypted right now.
fn encrypted_connections(lab: &PgLab, database: &str) -> u32 {
    lab.psql(
        "postgres",
        &format!(
            "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
             WHERE a.datname = '{database}' AND s.ssl"
        ),
    )
    .parse()
    .expect("a count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_modes_check_what_libpq_checks() {
    let lab = PgLab::start();
    let team_ca = authority("Team CA");
    let (cert, key) = server_cert(&["localhost"], &team_ca);
    lab.require_tls(&cert, &key);
    let by_ip = lab.create_database("team");
    let by_name = by_ip.replacen("127.0.0.1", "localhost", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let ca_file = dir.path().join("team-ca.pem");
    std::fs::write(&ca_file, team_ca.cert.pem()).expect("write CA");
    let other_file = dir.path().join("other-ca.pem");
    std::fs::write(&other_file, authority("Someone else").cert.pem()).expect("write CA");
    let root = |file: &std::path::Path| format!("sslrootcert={}", file.display());

    // verify-full: the chain and the name hold; the connections are encrypted.
    let url = format!("{by_name}?sslmode=verify-full&{}", root(&ca_file));
    let store = PgStore::open(&url, config())
        .await
        .expect("verify-full opens");
    assert!(store.schema_version().await.is_ok());
    assert!(encrypted_connections(&lab, "team") > 0);
    drop(store);

    // The certificate names localhost, not 127.0.0.1: verify-full refuses, verify-ca takes it.
    let err = open_err(&format!("{by_ip}?sslmode=verify-full&{}", root(&ca_file))).await;
    assert!(err.contains("not valid for name"), "{err}");
    assert!(
        err.contains("127.0.0.1"),
        "the error names the database: {err}"
    );
    PgStore::open(
        &format!("{by_ip}?sslmode=verify-ca&{}", root(&ca_file)),
        config(),
    )
    .await
    .expect("verify-ca does not check the name");

    // Another authority's root: the chain does not hold.
    let err = open_err(&format!(
        "{by_name}?sslmode=verify-full&{}",
        root(&other_file)
    ))
    .await;
    assert!(err.contains("invalid peer certificate"), "{err}");
    let err = open_err(&format!("{by_name}?sslmode=require&{}", root(&other_file))).await;
    assert!(
        err.contains("invalid peer certificate"),
        "require with a root checks the chain, as libpq does: {err}"
    );

    // require without a root encrypts and checks nothing; disable meets the server's refusal.
    PgStore::open(&format!("{by_ip}?sslmode=require"), config())
        .await
        .expect("require opens");
    let err = open_err(&format!("{by_ip}?sslmode=disable")).await;
    assert!(err.contains("no encryption"), "{err}");

    // A root file that is not there is named before any connection is tried.
    let missing = dir.path().join("missing.pem");
    let err = open_err(&format!("{by_name}?sslmode=verify-full&{}", root(&missing))).await;
    assert!(err.contains("missing.pem"), "{err}");
}

#[tokio::test]
async fn a_bad_sslmode_is_named_and_no_password_is_shown() {
    let err = open_err("postgres://ann:hunter2@127.0.0.1:1/db?sslmode=verify-most").await;
    assert!(err.contains("sslmode=verify-most"), "{err}");
    assert!(
        !err.contains("hunter2"),
        "the password is never shown: {err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_kept_in_the_secret_store_opens_the_database() {
    let lab = PgLab::shared();
    lab.require_password("keeper", "correct horse");
    let url = lab.url("keeper").replacen("postgres@", "keeper@", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let secrets = SecretStore::file(dir.path().join("secrets.json"));
    let with_secrets = || PgConfig {
        secrets: Some(secrets.clone()),
        ..config()
    };

    let refused = PgStore::open(&url, with_secrets()).await.err();
    let refused = refused.expect("no password: refused").to_string();
    assert!(refused.contains("password"), "{refused}");

    let went_to = remember_password(&secrets, &url, &Secret::new("correct horse"))
        .expect("the password is kept");
    assert_eq!(went_to, "file");
    PgStore::open(&url, with_secrets())
        .await
        .expect("the kept password opens the database");
    // The same database with other connection options finds the same password.
    PgStore::open(&format!("{url}?sslmode=disable"), with_secrets())
        .await
        .expect("found again whatever the options");

    assert!(forget_password(&secrets, &url).expect("forget"));
    assert!(!forget_password(&secrets, &url).expect("forget again"));
    assert!(PgStore::open(&url, with_secrets()).await.is_err());
}
