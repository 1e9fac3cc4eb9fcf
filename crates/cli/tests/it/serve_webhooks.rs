//! Webhooks through a real `waymark serve` process and SQLite file, signed as senders sign
//! them: Standard Webhooks by the PyPI `standardwebhooks` library (in the venv that
//! `make test` sets up: scripts/setup-test-deps.sh), GitHub with HMAC here; replays, stale
//! timestamps, pings, the hooks-only listener under a tunnel's Host, refusals that all look
//! alike, and a locked keychain (a stopped gnome-keyring-daemon) answered with 503 in time.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::support;

use support::{
    call, client, private_token_file, serve_command, start_cmd, start_with_token, Server, TOKEN,
};

/// An agent that answers at once (a scripted model), started by `triggers`.
async fn save_agent(base: &str, dir: &Path, name: &str, triggers: Value) {
    let script = dir.join(format!("{name}.script.json"));
    std::fs::write(&script, r#"{"turns": [{"text": "Done."}]}"#).expect("script");
    let spec = json!({"name": name, "instructions": "Answer.",
        "model": {"provider": "scripted", "script": script}, "triggers": triggers});
    let (status, e) = call(base, "agents_save", json!({"spec": spec})).await;
    assert_eq!(status, 200, "{e}");
}

async fn set_secret(base: &str, name: &str, secret: &str) {
    let body = json!({"name": name, "secret": secret});
    let (status, e) = call(base, "settings_set_webhook_secret", body).await;
    assert_eq!(status, 200, "{e}");
}

async fn runs_of(base: &str, agent: &str) -> Vec<Value> {
    let (_, runs) = call(base, "runs_list", json!({"agent": agent})).await;
    runs["runs"].as_array().cloned().unwrap_or_default()
}

/// A fresh `whsec_` secret.
fn whsec() -> String {
    let key: [u8; 32] = rand::random();
    format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(key)
    )
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The venv's python with `standardwebhooks`; a clear failure (not a skip) without it.
fn venv_python() -> PathBuf {
    let python = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-deps/py/bin/python");
    let ok = Command::new(&python)
        .args(["-c", "import standardwebhooks"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "{} cannot import standardwebhooks: run `bash scripts/setup-test-deps.sh` (make test does)",
        python.display()
    );
    python
}

/// The three Standard Webhooks headers for `body`, made by the PyPI library itself.
fn sign_with_pypi(secret: &str, id: &str, ts_secs: i64, body: &str) -> Vec<(String, String)> {
    let script = r#"
import datetime, json, sys
from standardwebhooks import Webhook
secret, msg_id, ts, body = sys.argv[1:5]
at = datetime.datetime.fromtimestamp(int(ts), tz=datetime.timezone.utc)
sig = Webhook(secret).sign(msg_id, at, body)
# The library checks its own signature as a receiver would (now, within five minutes).
headers = {"webhook-id": msg_id, "webhook-timestamp": ts, "webhook-signature": sig}
if abs(int(ts) - datetime.datetime.now(datetime.timezone.utc).timestamp()) < 300:
    Webhook(secret).verify(body, headers)
print(json.dumps(headers))
"#;
    let out = Command::new(venv_python())
        .args(["-c", script, secret, id, &ts_secs.to_string(), body])
        .output()
        .expect("run python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let headers: serde_json::Map<String, Value> =
        serde_json::from_slice(&out.stdout).expect("headers as JSON");
    headers
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect()
}

async fn post(url: &str, headers: &[(String, String)], body: &str) -> (u16, String) {
    let mut req = client().post(url).body(body.to_string());
    for (k, v) in headers {
        req = req.header(k.as_str(), v.as_str());
    }
    let r = req.send().await.expect("webhook request");
    (r.status().as_u16(), r.text().await.unwrap_or_default())
}

fn github_headers(secret: &str, event: &str, delivery: &str, body: &str) -> Vec<(String, String)> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    [
        ("x-hub-signature-256", sig),
        ("x-github-event", event.to_string()),
        ("x-github-delivery", delivery.to_string()),
        ("content-type", "application/json".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

#[tokio::test]
async fn a_request_signed_by_the_standardwebhooks_library_starts_one_run_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_with_token(&dir.path().join("home"), TOKEN, &[]);
    save_agent(
        &s.base,
        dir.path(),
        "orders",
        json!([{"kind": "webhook", "secret_ref": "ORDERS_HOOK", "auth": "standard_webhooks"}]),
    )
    .await;
    let secret = whsec();
    set_secret(&s.base, "ORDERS_HOOK", &secret).await;
    let url = format!("{}/hooks/orders", s.base);
    let body = r#"{"type": "order.paid", "order": "A-1001"}"#;

    let signed = sign_with_pypi(&secret, "msg_2a1b", now_secs(), body);
    let (status, first) = post(&url, &signed, body).await;
    assert_eq!(status, 201, "{first}");
    let first: Value = serde_json::from_str(&first).expect("JSON");
    // The sender retries (or someone replays the captured request): the first run, no other.
    let (status, again) = post(&url, &signed, body).await;
    assert_eq!(status, 200, "{again}");
    let again: Value = serde_json::from_str(&again).expect("JSON");
    assert_eq!(again["run_id"], first["run_id"]);
    assert_eq!(again["created"], json!(false));
    // Signed six minutes ago: refused, though the signature is good.
    let stale = sign_with_pypi(&secret, "msg_3c4d", now_secs() - 360, body);
    assert_eq!(post(&url, &stale, body).await.0, 401);
    // Signed for another body.
    let (status, _) = post(&url, &signed, r#"{"order": "A-1002"}"#).await;
    assert_eq!(status, 401);

    let runs = runs_of(&s.base, "orders").await;
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert_eq!(runs[0]["id"], first["run_id"], "{runs:?}");
}

#[tokio::test]
async fn github_deliveries_start_one_run_and_a_ping_none() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_with_token(&dir.path().join("home"), TOKEN, &[]);
    save_agent(
        &s.base,
        dir.path(),
        "repo",
        json!([{"kind": "webhook", "secret_ref": "REPO_HOOK", "auth": "github"}]),
    )
    .await;
    let secret = "github-hook-secret-0123456789";
    set_secret(&s.base, "REPO_HOOK", secret).await;
    let url = format!("{}/hooks/repo", s.base);

    let ping = r#"{"zen": "Design for failure.", "hook_id": 1}"#;
    let (status, answer) = post(&url, &github_headers(secret, "ping", "d-1", ping), ping).await;
    assert_eq!(status, 200, "{answer}");
    assert!(runs_of(&s.base, "repo").await.is_empty());

    let push = r#"{"ref": "refs/heads/main"}"#;
    let headers = github_headers(secret, "push", "d-2", push);
    let (status, first) = post(&url, &headers, push).await;
    assert_eq!(status, 201, "{first}");
    // GitHub's "Redeliver" sends the same X-GitHub-Delivery.
    let (status, again) = post(&url, &headers, push).await;
    assert_eq!(status, 200, "{again}");
    let (first, again): (Value, Value) = (
        serde_json::from_str(&first).expect("JSON"),
        serde_json::from_str(&again).expect("JSON"),
    );
    assert_eq!(first["run_id"], again["run_id"]);
    let forged = github_headers("another-secret-0123456789", "push", "d-3", push);
    assert_eq!(post(&url, &forged, push).await.0, 401);
    assert_eq!(runs_of(&s.base, "repo").await.len(), 1);
}

/// The modes from before Standard Webhooks keep working (specs without `auth` are
/// `hmac_sha256`); only an `Idempotency-Key` makes their repeats start nothing.
#[tokio::test]
async fn bearer_and_hmac_triggers_still_work_and_dedup_by_idempotency_key() {
    let dir = tempfile::tempdir().expect("tempdir");
    let from_env = "hook-secret-abcdef0123456789";
    let s = start_with_token(
        &dir.path().join("home"),
        TOKEN,
        &[("HOOK_SECRET", from_env)],
    );
    save_agent(
        &s.base,
        dir.path(),
        "pager",
        json!([{"kind": "webhook", "secret_ref": "HOOK_SECRET", "auth": "bearer"}]),
    )
    .await;
    save_agent(
        &s.base,
        dir.path(),
        "signed",
        json!([{"kind": "webhook", "secret_ref": "STORED_HOOK"}]),
    )
    .await;
    let stored = "stored-hook-secret-0123456789";
    set_secret(&s.base, "STORED_HOOK", stored).await;

    let bearer = |auth: &str, key: &str| {
        vec![
            ("authorization".to_string(), format!("Bearer {auth}")),
            ("idempotency-key".to_string(), key.to_string()),
        ]
    };
    let url = format!("{}/hooks/pager", s.base);
    let (status, first) = post(&url, &bearer(from_env, "k-1"), "disk full").await;
    assert_eq!(status, 201, "{first}");
    let (status, again) = post(&url, &bearer(from_env, "k-1"), "disk full").await;
    assert_eq!(status, 200, "{again}");
    let (first, again): (Value, Value) = (
        serde_json::from_str(&first).expect("JSON"),
        serde_json::from_str(&again).expect("JSON"),
    );
    assert_eq!(first["run_id"], again["run_id"]);
    // The API token is not a webhook secret.
    assert_eq!(post(&url, &bearer(TOKEN, "k-2"), "x").await.0, 401);
    assert_eq!(runs_of(&s.base, "pager").await.len(), 1);

    let body = r#"{"order": "A-1"}"#;
    let mut mac = Hmac::<Sha256>::new_from_slice(stored.as_bytes()).expect("any key");
    mac.update(body.as_bytes());
    let sig = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    let headers = vec![("x-waymark-signature".to_string(), sig)];
    let (status, answer) = post(&format!("{}/hooks/signed", s.base), &headers, body).await;
    assert_eq!(status, 201, "{answer}");
}

/// A free loopback port (bound and let go: the server binds it right after).
fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").to_string()
}

#[tokio::test]
async fn the_hooks_listener_takes_any_host_and_refusals_all_look_alike() {
    let dir = tempfile::tempdir().expect("tempdir");
    let home = dir.path().join("home");
    let hooks_addr = free_addr();
    let token_file = private_token_file(&home, TOKEN);
    let mut cmd = serve_command(&home, &["--hooks-addr", &hooks_addr]);
    cmd.arg("--token-file").arg(&token_file);
    let s: Server = start_cmd(cmd);
    save_agent(
        &s.base,
        dir.path(),
        "deploys",
        json!([{"kind": "webhook", "secret_ref": "DEPLOY_HOOK", "auth": "standard_webhooks"}]),
    )
    .await;
    let secret = whsec();
    set_secret(&s.base, "DEPLOY_HOOK", &secret).await;
    let body = r#"{"service": "api"}"#;

    // Through a tunnel: the Host is the tunnel's name, not this machine's address.
    let signed = sign_with_pypi(&secret, "msg_t1", now_secs(), body);
    let mut tunneled = signed.clone();
    tunneled.push(("host".into(), "hooks.example.com".into()));
    let (status, answer) = post(
        &format!("http://{hooks_addr}/hooks/deploys"),
        &tunneled,
        body,
    )
    .await;
    assert_eq!(status, 201, "{answer}");
    // The main listener takes webhooks under any Host too, and still refuses it for the API.
    let signed2 = sign_with_pypi(&secret, "msg_t2", now_secs(), body);
    let mut proxied = signed2.clone();
    proxied.push(("host".into(), "proxy.example.com".into()));
    let (status, answer) = post(&format!("{}/hooks/deploys", s.base), &proxied, body).await;
    assert_eq!(status, 201, "{answer}");
    let api = client()
        .post(format!("{}/api/v1/agents_list", s.base))
        .bearer_auth(TOKEN)
        .header("host", "proxy.example.com")
        .json(&json!({}))
        .send()
        .await
        .expect("api");
    assert_eq!(api.status().as_u16(), 403);
    // The hooks listener serves nothing else: not the API, not the web app.
    let api = client()
        .post(format!("http://{hooks_addr}/api/v1/agents_list"))
        .bearer_auth(TOKEN)
        .json(&json!({}))
        .send()
        .await
        .expect("api on the hooks port");
    assert_eq!(api.status().as_u16(), 404);
    let page = client()
        .get(format!("http://{hooks_addr}/"))
        .send()
        .await
        .expect("page");
    assert_eq!(page.status().as_u16(), 404);

    // An unknown agent, a bad signature, no signature, a manual-only agent: one answer.
    save_agent(&s.base, dir.path(), "by-hand", json!([{"kind": "manual"}])).await;
    let bad = sign_with_pypi(&whsec(), "msg_x", now_secs(), body);
    let mut answers = Vec::new();
    for (agent, headers) in [
        ("deploys", &bad),
        ("nobody", &bad),
        ("nobody", &signed),
        ("by-hand", &bad),
        ("deploys", &Vec::new()),
    ] {
        answers.push(post(&format!("http://{hooks_addr}/hooks/{agent}"), headers, body).await);
    }
    assert_eq!(answers[0].0, 401, "{answers:?}");
    assert!(answers.iter().all(|a| a == &answers[0]), "{answers:?}");
    assert!(!answers[0].1.contains("deploys") && !answers[0].1.contains("nobody"));
    assert_eq!(runs_of(&s.base, "deploys").await.len(), 2);
}

/// `waymark serve` in a D-Bus session of its own with an unlocked gnome-keyring (the secret
/// store is the keychain); the daemon's pid is written to `dir/keyring.pid`.
fn start_with_keyring(dir: &Path) -> Server {
    for tool in ["dbus-run-session", "gnome-keyring-daemon"] {
        let found = std::env::var_os("PATH")
            .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()));
        assert!(found, "{tool} is not installed: this test needs the apt packages dbus-daemon and gnome-keyring (make setup)");
    }
    let home = dir.join("home");
    let runtime = dir.join("run");
    for d in [&home, &runtime] {
        std::fs::create_dir_all(d).expect("mkdir");
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let token_file = private_token_file(&home, TOKEN);
    let pid_file = dir.join("keyring.pid");
    // The daemon runs in the foreground of a background job, so `$!` is its pid; serve waits
    // until it owns the Secret Service name (else it would pick the file store).
    let script = r#"
set -e
echo -n pw | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &
echo $! > "$KEYRING_PID_FILE"
for _ in $(seq 1 100); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; then
        break
    fi
    sleep 0.1
done
exec "$@"
"#;
    let mut cmd = Command::new("dbus-run-session");
    cmd.args(["--", "bash", "-c", script, "serve-in-session"])
        .arg(support::BIN)
        .args(["serve", "--addr", "127.0.0.1:0", "--token-file"])
        .arg(&token_file)
        .env("WAYMARK_HOME", home.join("waymark"))
        .env("WAYMARK_SECRET_BACKEND", "keyring")
        .env("HOME", &home)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("KEYRING_PID_FILE", &pid_file)
        .current_dir(&home);
    start_cmd(cmd)
}

fn signal(pid: &str, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_keychain_answers_503_within_5_s_while_the_api_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_with_keyring(dir.path());
    let (_, settings) = call(&s.base, "settings_get", json!({})).await;
    assert_eq!(settings["secret_store"], json!("keyring"), "{settings}");
    save_agent(
        &s.base,
        dir.path(),
        "alerts",
        json!([{"kind": "webhook", "secret_ref": "ALERTS_HOOK", "auth": "standard_webhooks"}]),
    )
    .await;
    let secret = whsec();
    set_secret(&s.base, "ALERTS_HOOK", &secret).await;
    let pid = std::fs::read_to_string(dir.path().join("keyring.pid")).expect("keyring pid");
    let pid = pid.trim().to_string();
    let url = format!("{}/hooks/alerts", s.base);
    let body = r#"{"alert": "disk full"}"#;

    // The keychain stops answering (as a locked one waiting for a password does).
    signal(&pid, "-STOP");
    let sends = (0..4).map(|i| {
        let headers = sign_with_pypi(&secret, &format!("msg_l{i}"), now_secs(), body);
        let url = url.clone();
        async move {
            let t = Instant::now();
            let answer = post(&url, &headers, body).await;
            (answer, t.elapsed())
        }
    });
    let listed = async {
        let t = Instant::now();
        let (status, _) = call(&s.base, "agents_list", json!({})).await;
        (status, t.elapsed())
    };
    let (hooks, (list_status, list_took)) = tokio::join!(futures::future::join_all(sends), listed);
    signal(&pid, "-CONT");
    for ((status, answer), took) in &hooks {
        assert_eq!(*status, 503, "{answer}");
        assert!(*took < Duration::from_secs(5), "took {took:?}");
    }
    assert_eq!(list_status, 200);
    assert!(
        list_took < Duration::from_secs(2),
        "agents_list took {list_took:?}"
    );

    // Answering again, the keychain's secret admits the next delivery.
    let headers = sign_with_pypi(&secret, "msg_after", now_secs(), body);
    let mut last = (0, String::new());
    for _ in 0..20 {
        last = post(&url, &headers, body).await;
        if last.0 != 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(last.0, 201, "{}", last.1);
}
