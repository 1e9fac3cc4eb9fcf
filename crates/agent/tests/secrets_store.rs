//! The secret store: the owner-only file backend, and a real Secret Service (gnome-keyring in
//! a private D-Bus session). The keychain tests run in a child process: the parent starts
//! `dbus-run-session`, unlocks a fresh gnome-keyring in it, and re-runs this test binary with
//! one test selected and an env var that tells that test it is the child.
//!
//! Needs the Debian packages `dbus-daemon` (dbus-run-session) and `gnome-keyring`.
#![cfg(unix)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use waymark_agent::{Secret, SecretError, SecretRef, SecretStore};

const VALUE: &str = "sk-canary-5d1e0b7f-do-not-print";
/// Set in a child process: which child test should do its work.
const CHILD_ENV: &str = "WAYMARK_SECRETS_TEST_CHILD";

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn file_backend_put_get_delete() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("data").join("secrets.json");
    let store = SecretStore::file(path.clone());
    assert_eq!(store.backend_name(), "file");

    let r = store
        .put("mcp/github/env/GITHUB TOKEN", &Secret::new(VALUE))
        .expect("put");
    assert!(
        r.as_str().starts_with("file:mcp_github_env_GITHUB_TOKEN."),
        "{r}"
    );
    assert_eq!(r.to_string(), r.as_str());
    let other = store
        .put("mcp/github/env/GITHUB TOKEN", &Secret::new("v2"))
        .expect("put");
    assert_ne!(r, other, "each put gets a new id");

    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(path.parent().expect("parent")), 0o700);
    assert_eq!(store.get(&r).expect("get").expose(), VALUE);

    // A second store on the same file (another process, say) sees it; the ref round-trips
    // through serde as a plain string.
    let json = serde_json::to_string(&r).expect("ser");
    assert_eq!(json, format!("\"{r}\""));
    let back: SecretRef = serde_json::from_str(&json).expect("de");
    let again = SecretStore::file(path.clone());
    assert_eq!(again.get(&back).expect("get").expose(), VALUE);

    store.delete(&r).expect("delete");
    let err = store.get(&r).expect_err("deleted");
    assert!(matches!(err, SecretError::NotFound { .. }), "{err}");
    let text = err.to_string();
    assert!(text.contains(r.as_str()) && text.contains("file"), "{text}");
    store.delete(&r).expect("deleting twice is fine");
    assert_eq!(store.get(&other).expect("other stays").expose(), "v2");
    assert_eq!(mode(&path), 0o600, "rewrites keep the mode");
    assert!(!std::fs::read_to_string(&path)
        .expect("read")
        .contains(VALUE));
}

#[test]
fn concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.json");
    // Separate stores share only the file, as two processes would: the file lock must keep
    // each read-modify-write whole.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let store = SecretStore::file(path.clone());
            std::thread::spawn(move || {
                (0..10)
                    .map(|i| {
                        let value = format!("v-{t}-{i}");
                        (store.put("k", &Secret::new(&value)).expect("put"), value)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let store = SecretStore::file(path);
    for h in handles {
        for (r, value) in h.join().expect("thread") {
            assert_eq!(store.get(&r).expect("get").expose(), value);
        }
    }
}

#[test]
fn file_backend_refuses_a_file_others_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.json");
    let store = SecretStore::file(path.clone());
    let r = store.put("key", &Secret::new(VALUE)).expect("put");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");

    let err = store.get(&r).expect_err("too open");
    let text = err.to_string();
    assert!(
        matches!(err, SecretError::TooOpen { mode: 0o644, .. }),
        "{text}"
    );
    assert!(
        text.contains("0644") && text.contains("chmod 600"),
        "{text}"
    );
    assert!(!text.contains(VALUE), "{text}");
    let err = store
        .put("key", &Secret::new("x"))
        .expect_err("no write either");
    assert!(matches!(err, SecretError::TooOpen { .. }), "{err}");

    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    assert_eq!(store.get(&r).expect("fine again").expose(), VALUE);
}

#[test]
fn no_error_text_holds_the_value() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("secrets.json");
    // A damaged file whose broken part is the value itself: the parse error must not quote it.
    std::fs::write(
        &path,
        format!("{{\"secrets\": {{\"a\": \"{VALUE}\", \"b\": {VALUE}}}}}"),
    )
    .expect("write");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let store = SecretStore::file(path.clone());
    let r: SecretRef = "file:a".parse().expect("ref");
    let mut errors = vec![store.get(&r).expect_err("damaged")];
    errors.push(store.put("x", &Secret::new(VALUE)).expect_err("damaged"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    errors.push(store.get(&r).expect_err("too open"));
    for e in &errors {
        for text in [e.to_string(), format!("{e:?}")] {
            assert!(!text.contains(VALUE), "{text}");
        }
    }
    assert!(errors[0].to_string().contains("file:a"), "{}", errors[0]);
}

#[test]
fn backend_choice_is_checked() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SecretStore::open_with(dir.path(), "file", "waymark-test").expect("file");
    assert_eq!(store.backend_name(), "file");
    let err = SecretStore::open_with(dir.path(), "vault", "waymark-test").expect_err("unknown");
    assert!(err.to_string().contains("WAYMARK_SECRET_BACKEND"), "{err}");
}

/// Runs this test binary again with only `test` selected and `CHILD_ENV=test`, through
/// `wrapper` (a command and its args, to which the binary and its args are appended); fails
/// unless the child ran that one test and it passed.
fn run_child(test: &str, wrapper: &[&str], envs: &[(&str, &str)], limit: Duration) {
    let exe = std::env::current_exe().expect("current_exe");
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        if wrapper[0] == "dbus-run-session" && !on_path(tool) {
            panic!("{tool} is not installed: the keychain test needs the apt packages dbus-daemon and gnome-keyring");
        }
    }
    let mut cmd = Command::new(wrapper[0]);
    cmd.args(&wrapper[1..])
        .arg(&exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let started = Instant::now();
    let mut child = cmd.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot start {}: {e}. The keychain tests need the apt packages dbus and gnome-keyring",
            wrapper[0]
        )
    });
    loop {
        match child.try_wait().expect("wait") {
            Some(_) => break,
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let out = child.wait_with_output().expect("output");
                panic!(
                    "{test}: the child did not finish within {limit:?}\n{}\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            None => std::thread::sleep(Duration::from_millis(50)),
        }
    }
    let out = child.wait_with_output().expect("output");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test} failed in the child ({:?}):\n{stdout}\n{stderr}",
        out.status
    );
    eprintln!("{test}: child passed in {:?}", started.elapsed());
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false)
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD_ENV).ok().as_deref() == Some(test)
}

/// A fresh HOME and runtime dir, so the test's keyring is its own and is thrown away.
fn private_dirs(dir: &Path) -> Vec<(String, String)> {
    let home = dir.join("home");
    let runtime = dir.join("run");
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    vec![
        ("HOME".into(), home.display().to_string()),
        (
            "XDG_DATA_HOME".into(),
            home.join(".local/share").display().to_string(),
        ),
        ("XDG_RUNTIME_DIR".into(), runtime.display().to_string()),
        (
            "WAYMARK_TEST_DATA_DIR".into(),
            dir.join("data").display().to_string(),
        ),
    ]
}

#[test]
fn keyring_real_secret_service() {
    let dir = tempfile::tempdir().expect("tempdir");
    let envs = private_dirs(dir.path());
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    run_child(
        "keyring_child",
        &[
            "dbus-run-session",
            "--",
            "bash",
            "-c",
            r#"echo -n pw | gnome-keyring-daemon --unlock --components=secrets >/dev/null; exec "$0" "$@""#,
        ],
        &envs,
        Duration::from_secs(120),
    );
}

#[test]
fn keyring_child() {
    if !is_child("keyring_child") {
        return;
    }
    let data_dir =
        std::path::PathBuf::from(std::env::var("WAYMARK_TEST_DATA_DIR").expect("data dir"));
    let store = SecretStore::keyring("waymark-test").expect("the Secret Service answers");
    assert_eq!(store.backend_name(), "keyring");
    let r = store
        .put("mcp/remote/header/Authorization", &Secret::new(VALUE))
        .expect("put");
    assert!(
        r.as_str()
            .starts_with("keyring:mcp_remote_header_Authorization."),
        "{r}"
    );
    assert_eq!(store.get(&r).expect("get").expose(), VALUE);
    store.delete(&r).expect("delete");
    let err = store.get(&r).expect_err("deleted");
    assert!(
        matches!(
            err,
            SecretError::NotFound {
                backend: "keyring",
                ..
            }
        ),
        "{err}"
    );
    store.delete(&r).expect("deleting twice is fine");

    // open() picks the keyring when it answers, and reads refs of either backend.
    std::env::remove_var("WAYMARK_SECRET_BACKEND");
    let opened = SecretStore::open(&data_dir).expect("open");
    assert_eq!(opened.backend_name(), "keyring");
    let in_keyring = opened.put("k", &Secret::new("from-keyring")).expect("put");
    let file_only = SecretStore::file(data_dir.join("secrets.json"));
    let in_file = file_only.put("f", &Secret::new("from-file")).expect("put");
    assert!(in_file.as_str().starts_with("file:"));
    assert_eq!(
        opened
            .get(&in_file)
            .expect("file ref via keyring store")
            .expose(),
        "from-file"
    );
    assert_eq!(
        file_only
            .get(&in_keyring)
            .expect("keyring ref via file store")
            .expose(),
        "from-keyring"
    );
    assert!(
        !data_dir.join("secrets.json").exists() || {
            let text = std::fs::read_to_string(data_dir.join("secrets.json")).expect("read");
            !text.contains("from-keyring")
        }
    );
    opened.delete(&in_keyring).expect("delete");
    opened
        .delete(&in_file)
        .expect("delete file ref via keyring store");
    assert!(file_only.get(&in_file).is_err());

    // Forcing either works too.
    let forced = SecretStore::open_with(&data_dir, "keyring", "waymark").expect("forced keyring");
    assert_eq!(forced.backend_name(), "keyring");
    let forced = SecretStore::open_with(&data_dir, "file", "waymark").expect("forced file");
    assert_eq!(forced.backend_name(), "file");
}

#[test]
fn no_session_bus_falls_back_to_the_file_quickly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let envs = private_dirs(dir.path());
    let mut envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let missing = format!("unix:path={}/no-such-bus", dir.path().display());
    envs.push(("DBUS_SESSION_BUS_ADDRESS", &missing));
    run_child("no_bus_child", &["env"], &envs, Duration::from_secs(60));
}

#[test]
fn no_bus_child() {
    if !is_child("no_bus_child") {
        return;
    }
    let data_dir =
        std::path::PathBuf::from(std::env::var("WAYMARK_TEST_DATA_DIR").expect("data dir"));
    std::env::remove_var("WAYMARK_SECRET_BACKEND");
    let started = Instant::now();
    let store = SecretStore::open(&data_dir).expect("falls back");
    assert_eq!(store.backend_name(), "file");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    let r = store.put("x", &Secret::new(VALUE)).expect("put");
    assert_eq!(store.get(&r).expect("get").expose(), VALUE);
    assert_eq!(mode(&data_dir.join("secrets.json")), 0o600);

    let err = SecretStore::open_with(&data_dir, "keyring", "waymark").expect_err("forced, absent");
    assert!(
        matches!(err, SecretError::KeyringUnavailable { .. }),
        "{err}"
    );
    let keyring_ref: SecretRef = "keyring:nothing.here".parse().expect("ref");
    let err = store.get(&keyring_ref).expect_err("no keychain");
    assert!(err.to_string().contains("keyring:nothing.here"), "{err}");
}
