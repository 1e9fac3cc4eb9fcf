//! Cron and webhook triggers over a real database file, on a manual clock shared by the engine
//! and the scheduler. No worker runs: the runs stay queued, and their inputs and idempotency
//! keys are what is checked.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use tokio::sync::broadcast;
use waymark_agent::app::AgentApp;
use waymark_agent::triggers::{
    generate_webhook_secret, CronEvent, CronScheduler, Delivered, WebhookReceiver,
    MAX_IDEMPOTENCY_KEY_LEN,
};
use waymark_agent::{AgentSpec, Secret};
use waymark_engine::{ManualClock, Millis, Registry, RunFilter, RunId, RunRecord};

/// Only a guard against a hang; nothing here waits on it in the normal course.
const HANG: Duration = Duration::from_secs(60);

struct Env {
    dir: tempfile::TempDir,
    clock: Arc<ManualClock>,
}

impl Env {
    fn new(start: &str) -> Env {
        std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("model.script.json"),
            r#"{"turns":[{"text":"done"}]}"#,
        )
        .expect("script");
        Env {
            dir,
            clock: ManualClock::new(ms(start)),
        }
    }

    fn db(&self) -> PathBuf {
        self.dir.path().join("waymark.db")
    }

    /// A process's app: every one opened by a test shares the file and the clock.
    fn open(&self) -> AgentApp {
        AgentApp::open_with_clock(
            &self.db(),
            self.dir.path(),
            Registry::new(),
            self.clock.clone(),
        )
        .expect("open app")
    }

    fn spec(&self, name: &str, triggers: &str) -> AgentSpec {
        let script = self.dir.path().join("model.script.json");
        AgentSpec::from_toml_str(&format!(
            r#"
name = "{name}"
instructions = "Do the job."
[model]
provider = "scripted"
script = {script:?}
{triggers}
"#
        ))
        .expect("spec")
    }
}

fn ms(rfc3339: &str) -> Millis {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .expect("test time")
        .timestamp_millis()
}

async fn next_event(rx: &mut broadcast::Receiver<CronEvent>) -> CronEvent {
    tokio::time::timeout(HANG, rx.recv())
        .await
        .expect("an event in time")
        .expect("the scheduler is running")
}

/// Events up to and including the next `Waiting`: what one pass did.
async fn one_pass(rx: &mut broadcast::Receiver<CronEvent>) -> (Vec<CronEvent>, Option<Millis>) {
    let mut seen = Vec::new();
    loop {
        match next_event(rx).await {
            CronEvent::Waiting { until_ms } => return (seen, until_ms),
            other => seen.push(other),
        }
    }
}

fn fired(events: &[CronEvent]) -> Vec<(String, Millis, RunId)> {
    events
        .iter()
        .map(|e| match e {
            CronEvent::Fired {
                agent,
                scheduled_ms,
                run,
            } => (agent.clone(), *scheduled_ms, *run),
            other => panic!("expected only fires, got {other:?}"),
        })
        .collect()
}

async fn runs(app: &AgentApp) -> Vec<RunRecord> {
    let mut runs = app
        .engine
        .list_runs(RunFilter::default())
        .await
        .expect("list runs");
    runs.sort_by_key(|r| r.id.0);
    runs
}

/// The text the run was started with.
fn run_input(run: &RunRecord) -> String {
    run.input["input"].as_str().expect("input text").to_string()
}

fn scheduled_at(run: &RunRecord) -> String {
    let input: Value = serde_json::from_str(&run_input(run)).expect("cron input is JSON");
    assert_eq!(input["trigger"], "cron");
    input["scheduled_at"]
        .as_str()
        .expect("scheduled_at")
        .to_string()
}

const EVERY_5: &str = r#"
[[triggers]]
kind = "cron"
schedule = "*/5 * * * *"
"#;

#[tokio::test]
async fn cron_fires_on_five_minute_boundaries_as_the_clock_moves() {
    let env = Env::new("2026-01-01T00:00:30Z");
    let app = env.open();
    app.catalog
        .put_agent(&env.spec("ticker", EVERY_5))
        .expect("save");
    let (scheduler, mut rx) = CronScheduler::spawn_with_events(app.clone()).expect("spawn");

    let (events, until) = one_pass(&mut rx).await;
    assert!(events.is_empty(), "nothing due at start: {events:?}");
    assert_eq!(until, Some(ms("2026-01-01T00:05:00Z")));

    for (at, next) in [
        ("2026-01-01T00:05:00Z", "2026-01-01T00:10:00Z"),
        ("2026-01-01T00:10:00Z", "2026-01-01T00:15:00Z"),
        ("2026-01-01T00:15:00Z", "2026-01-01T00:20:00Z"),
    ] {
        assert_eq!(env.clock.advance_to_next_sleep().await, ms(at));
        let (events, until) = one_pass(&mut rx).await;
        let f = fired(&events);
        assert_eq!(f.len(), 1, "{events:?}");
        assert_eq!((f[0].0.as_str(), f[0].1), ("ticker", ms(at)));
        assert_eq!(until, Some(ms(next)));
    }
    scheduler.stop().await;

    let runs = runs(&app).await;
    let at: Vec<String> = runs.iter().map(scheduled_at).collect();
    assert_eq!(
        at,
        [
            "2026-01-01T00:05:00Z",
            "2026-01-01T00:10:00Z",
            "2026-01-01T00:15:00Z"
        ]
    );
    assert_eq!(
        runs[0].idempotency_key.as_deref(),
        Some(format!("cron:ticker:{}", ms("2026-01-01T00:05:00Z")).as_str())
    );
}

#[tokio::test]
async fn cron_schedules_follow_their_time_zone() {
    let env = Env::new("2026-01-02T07:30:00Z");
    let app = env.open();
    let spec = env.spec(
        "morning",
        "[[triggers]]\nkind = \"cron\"\nschedule = \"0 9 * * 1-5\"\ntimezone = \"Europe/Paris\"\n",
    );
    app.catalog.put_agent(&spec).expect("save");
    let (_scheduler, mut rx) = CronScheduler::spawn_with_events(app.clone()).expect("spawn");
    let (_, until) = one_pass(&mut rx).await;
    // 09:00 in Paris is 08:00 UTC in January.
    assert_eq!(until, Some(ms("2026-01-02T08:00:00Z")));
    env.clock.advance_to_next_sleep().await;
    let (events, until) = one_pass(&mut rx).await;
    assert_eq!(fired(&events).len(), 1);
    // Friday's run done, next is Monday.
    assert_eq!(until, Some(ms("2026-01-05T08:00:00Z")));
    let runs = runs(&app).await;
    assert_eq!(scheduled_at(&runs[0]), "2026-01-02T09:00:00+01:00");
}

#[tokio::test]
async fn a_restart_after_an_hour_fires_once_for_the_gap() {
    let env = Env::new("2026-01-01T00:00:30Z");
    {
        let app = env.open();
        app.catalog
            .put_agent(&env.spec("ticker", EVERY_5))
            .expect("save");
        let (scheduler, mut rx) = CronScheduler::spawn_with_events(app.clone()).expect("spawn");
        one_pass(&mut rx).await;
        env.clock.advance_to_next_sleep().await;
        let (events, _) = one_pass(&mut rx).await;
        assert_eq!(fired(&events).len(), 1);
        scheduler.stop().await;
    }

    // Closed for an hour: twelve ticks missed.
    env.clock.set(ms("2026-01-01T01:07:00Z"));
    let app = env.open();
    let (scheduler, mut rx) = CronScheduler::spawn_with_events(app.clone()).expect("spawn");
    let (events, until) = one_pass(&mut rx).await;
    let f = fired(&events);
    assert_eq!(f.len(), 1, "one fire for the whole gap: {events:?}");
    assert_eq!(f[0].1, ms("2026-01-01T01:05:00Z"), "the latest missed tick");
    assert_eq!(until, Some(ms("2026-01-01T01:10:00Z")));
    scheduler.stop().await;

    // Another restart at the same instant fires nothing more.
    let (scheduler, mut rx) = CronScheduler::spawn_with_events(app.clone()).expect("spawn");
    let (events, _) = one_pass(&mut rx).await;
    assert!(events.is_empty(), "{events:?}");
    scheduler.stop().await;

    let at: Vec<String> = runs(&app).await.iter().map(scheduled_at).collect();
    assert_eq!(at, ["2026-01-01T00:05:00Z", "2026-01-01T01:05:00Z"]);
}

#[tokio::test]
async fn two_schedulers_on_one_tick_start_one_run() {
    let env = Env::new("2026-01-01T00:00:30Z");
    let (a, b) = (env.open(), env.open());
    a.catalog
        .put_agent(&env.spec("ticker", EVERY_5))
        .expect("save");
    let (_sa, mut ra) = CronScheduler::spawn_with_events(a.clone()).expect("spawn a");
    let (_sb, mut rb) = CronScheduler::spawn_with_events(b.clone()).expect("spawn b");
    one_pass(&mut ra).await;
    one_pass(&mut rb).await;

    env.clock.advance_to_next_sleep().await;
    let fa = fired(&one_pass(&mut ra).await.0);
    let fb = fired(&one_pass(&mut rb).await.0);
    // Whether the second scheduler fires too (and names the run the idempotency key gives
    // back) or finds the tick already recorded depends on which commits first.
    let all: Vec<_> = fa.iter().chain(&fb).collect();
    assert!(!all.is_empty() && all.len() <= 2, "{all:?}");
    assert!(
        all.iter().all(|f| f.2 == all[0].2),
        "one run named: {all:?}"
    );
    let started = runs(&a).await;
    assert_eq!(started.len(), 1);
    assert_eq!(started[0].id, all[0].2);
}

#[tokio::test]
async fn the_scheduler_picks_up_agents_added_and_removed() {
    let env = Env::new("2026-01-01T00:00:30Z");
    let app = env.open();
    let (scheduler, mut rx) = CronScheduler::spawn_with_events(app.clone()).expect("spawn");
    assert_eq!(one_pass(&mut rx).await.1, None, "no agents, no ticks");

    app.catalog
        .put_agent(&env.spec("ticker", EVERY_5))
        .expect("save");
    scheduler.reload();
    assert_eq!(one_pass(&mut rx).await.1, Some(ms("2026-01-01T00:05:00Z")));

    let hourly = "[[triggers]]\nkind = \"cron\"\nschedule = \"0 * * * *\"\n";
    app.catalog
        .put_agent(&env.spec("ticker", hourly))
        .expect("change");
    scheduler.reload();
    assert_eq!(one_pass(&mut rx).await.1, Some(ms("2026-01-01T01:00:00Z")));

    app.catalog.delete_agent("ticker").expect("delete");
    scheduler.reload();
    assert_eq!(one_pass(&mut rx).await.1, None);
    scheduler.stop().await;
    assert!(runs(&app).await.is_empty());
}

fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const HMAC_HOOK: &str = r#"
[[triggers]]
kind = "webhook"
secret_ref = "ORDERS_HOOK_SECRET"
"#;

#[tokio::test]
async fn webhook_with_an_hmac_signature() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    app.catalog
        .put_agent(&env.spec("orders", HMAC_HOOK))
        .expect("save");
    let hooks = WebhookReceiver::new(app.clone()).expect("receiver");
    hooks
        .set_secret("ORDERS_HOOK_SECRET", &Secret::new("s3cret"))
        .expect("store the secret");

    let body = br#"{"order":"A-1","total":12}"#;
    let bad = hooks
        .start(
            "orders",
            &headers(&[("X-Waymark-Signature", &sign("wrong", body))]),
            body,
        )
        .await
        .expect_err("a bad signature is refused");
    assert_eq!((bad.kind(), bad.http_status()), ("unauthorized", 401));
    let missing = hooks
        .start("orders", &[], body)
        .await
        .expect_err("no signature");
    assert_eq!(missing.kind(), "unauthorized");
    assert!(runs(&app).await.is_empty());

    let (run, new) = hooks
        .start(
            "orders",
            &headers(&[("X-Waymark-Signature", &sign("s3cret", body))]),
            body,
        )
        .await
        .expect("a good signature starts a run")
        .run()
        .expect("a run");
    assert!(new);
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, run);
    assert_eq!(
        run_input(&runs[0]),
        "{\n  \"order\": \"A-1\",\n  \"total\": 12\n}"
    );
}

#[tokio::test]
async fn webhook_with_a_bearer_secret_from_the_environment() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    std::env::set_var("WAYMARK_TEST_BEARER_HOOK", "tok-123");
    let bearer = r#"
[[triggers]]
kind = "webhook"
secret_ref = "WAYMARK_TEST_BEARER_HOOK"
auth = "bearer"
"#;
    app.catalog
        .put_agent(&env.spec("pager", bearer))
        .expect("save");

    for wrong in ["Bearer tok-12", "Bearer tok-1234", "Basic tok-123"] {
        let e = waymark_agent::triggers::start_webhook_run(
            &app,
            "pager",
            &headers(&[("Authorization", wrong)]),
            b"hi",
        )
        .await
        .expect_err(wrong);
        assert_eq!(e.http_status(), 401, "{wrong}");
    }
    let started = waymark_agent::triggers::start_webhook_run(
        &app,
        "pager",
        &headers(&[("Authorization", "Bearer tok-123")]),
        b"disk full on db-2",
    )
    .await
    .expect("the right token starts a run");
    assert!(matches!(started, Delivered::Started(_)));
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(run_input(&runs[0]), "disk full on db-2");
}

#[tokio::test]
async fn the_same_idempotency_key_twice_starts_one_run() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    app.catalog
        .put_agent(&env.spec("orders", HMAC_HOOK))
        .expect("save");
    let hooks = WebhookReceiver::new(app.clone()).expect("receiver");
    hooks
        .set_secret("ORDERS_HOOK_SECRET", &Secret::new("s3cret"))
        .expect("store the secret");
    let body = b"order A-2 paid";
    let sig = sign("s3cret", body);
    let h = headers(&[("X-Waymark-Signature", &sig), ("Idempotency-Key", "evt_42")]);

    let Delivered::Started(first) = hooks.start("orders", &h, body).await.expect("first") else {
        panic!("the first delivery starts a run");
    };
    let again = hooks.start("orders", &h, body).await.expect("again");
    assert_eq!(again, Delivered::Repeated(first));
    // Another process's receiver sees the same.
    let other = waymark_agent::triggers::start_webhook_run(&env.open(), "orders", &h, body)
        .await
        .expect("elsewhere");
    assert_eq!(other, Delivered::Repeated(first));

    let runs = runs(&app).await;
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].idempotency_key.as_deref(),
        Some("webhook:orders:evt_42")
    );
    // A different key is a different run.
    let h2 = headers(&[("X-Waymark-Signature", &sig), ("Idempotency-Key", "evt_43")]);
    let second = hooks.start("orders", &h2, body).await.expect("second");
    assert!(matches!(second, Delivered::Started(run) if run != first));
}

#[tokio::test]
async fn unknown_agents_agents_without_a_webhook_and_bad_signatures_answer_alike() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    app.catalog
        .put_agent(&env.spec("by-hand", ""))
        .expect("save");
    let hooks = WebhookReceiver::new(app.clone()).expect("receiver");

    let e = hooks.start("nobody", &[], b"x").await.expect_err("unknown");
    assert_eq!((e.kind(), e.http_status()), ("unknown_agent", 401));
    let e = hooks
        .start("by-hand", &[], b"x")
        .await
        .expect_err("manual only");
    // Without a webhook trigger the endpoint does not exist for it: as if unknown.
    assert_eq!((e.kind(), e.http_status()), ("unknown_agent", 401));

    // A webhook whose secret is set nowhere cannot admit anyone; saved after the receiver
    // read the agents, it is seen at once.
    let orphan = "[[triggers]]\nkind = \"webhook\"\nsecret_ref = \"WAYMARK_TEST_UNSET_SECRET\"\n";
    app.catalog
        .put_agent(&env.spec("orphan", orphan))
        .expect("save");
    let sig = sign("anything", b"x");
    let e = hooks
        .start("orphan", &headers(&[("X-Waymark-Signature", &sig)]), b"x")
        .await
        .expect_err("no secret");
    assert_eq!((e.kind(), e.http_status()), ("secret_unavailable", 401));
    assert!(e.is_refusal());
    assert!(runs(&app).await.is_empty());
}

/// Standard Webhooks: base64 of HMAC-SHA256 over `id.timestamp.body` under the whsec_ key.
fn standard_headers(secret: &str, id: &str, ts_secs: i64, body: &[u8]) -> Vec<(String, String)> {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a whsec_ secret");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key");
    mac.update(format!("{id}.{ts_secs}.").as_bytes());
    mac.update(body);
    let sig = b64.encode(mac.finalize().into_bytes());
    headers(&[
        ("webhook-id", id),
        ("webhook-timestamp", &ts_secs.to_string()),
        ("webhook-signature", &format!("v1,{sig}")),
    ])
}

const STANDARD_HOOK: &str = r#"
[[triggers]]
kind = "webhook"
secret_ref = "ORDERS_STD_SECRET"
auth = "standard_webhooks"
"#;

#[tokio::test]
async fn standard_webhooks_start_one_run_per_id_within_five_minutes() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    app.catalog
        .put_agent(&env.spec("orders", STANDARD_HOOK))
        .expect("save");
    let hooks = WebhookReceiver::new(app.clone()).expect("receiver");
    let secret = generate_webhook_secret();
    hooks
        .set_secret("ORDERS_STD_SECRET", &secret)
        .expect("store the secret");
    let now = ms("2026-01-01T00:00:00Z") / 1000;
    let body = br#"{"order":"A-3"}"#;

    let h = standard_headers(secret.expose(), "msg_1", now, body);
    let Delivered::Started(first) = hooks.start("orders", &h, body).await.expect("signed") else {
        panic!("a new delivery starts a run");
    };
    // The same message again (a retry, or a replay of a captured request) starts nothing.
    let again = hooks.start("orders", &h, body).await.expect("again");
    assert_eq!(again, Delivered::Repeated(first));
    // Signed six minutes ago: refused, however good the signature.
    let stale = standard_headers(secret.expose(), "msg_2", now - 360, body);
    let e = hooks
        .start("orders", &stale, body)
        .await
        .expect_err("stale");
    assert_eq!(e.http_status(), 401);
    // Signed with another secret: refused.
    let other = generate_webhook_secret();
    let forged = standard_headers(other.expose(), "msg_3", now, body);
    let e = hooks
        .start("orders", &forged, body)
        .await
        .expect_err("forged");
    assert_eq!(e.http_status(), 401);
    // A new secret set through the receiver is used at once (no waiting out the cache).
    hooks
        .set_secret("ORDERS_STD_SECRET", &other)
        .expect("rotate");
    let started = hooks.start("orders", &forged, body).await.expect("rotated");
    assert!(matches!(started, Delivered::Started(run) if run != first));
    let runs = runs(&app).await;
    assert_eq!(runs.len(), 2);
    assert!(runs
        .iter()
        .any(|r| r.idempotency_key.as_deref() == Some("webhook:orders:msg_1")));
}

#[tokio::test]
async fn github_deliveries_and_pings() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    let gh = "[[triggers]]\nkind = \"webhook\"\nsecret_ref = \"GH_SECRET\"\nauth = \"github\"\n";
    app.catalog.put_agent(&env.spec("repo", gh)).expect("save");
    let hooks = WebhookReceiver::new(app.clone()).expect("receiver");
    hooks
        .set_secret("GH_SECRET", &Secret::new("gh-secret-0123456789"))
        .expect("store");
    let body = br#"{"zen":"Design for failure."}"#;
    let sig = sign("gh-secret-0123456789", body);
    let ping = headers(&[
        ("X-Hub-Signature-256", &sig),
        ("X-GitHub-Event", "ping"),
        ("X-GitHub-Delivery", "d-1"),
    ]);
    assert_eq!(
        hooks.start("repo", &ping, body).await.ok(),
        Some(Delivered::Ping)
    );
    assert!(runs(&app).await.is_empty());
    let push = headers(&[
        ("X-Hub-Signature-256", &sig),
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "d-2"),
    ]);
    let Delivered::Started(run) = hooks.start("repo", &push, body).await.expect("push") else {
        panic!("a push starts a run");
    };
    // GitHub's "redeliver" sends the same delivery id.
    assert_eq!(
        hooks.start("repo", &push, body).await.ok(),
        Some(Delivered::Repeated(run))
    );
    // The older X-Waymark-Signature header is not GitHub's.
    let wrong = headers(&[("X-Waymark-Signature", &sig)]);
    assert_eq!(
        hooks
            .start("repo", &wrong, body)
            .await
            .map_err(|e| e.http_status()),
        Err(401)
    );
    assert_eq!(runs(&app).await.len(), 1);
}

#[tokio::test]
async fn delivery_ids_too_long_or_with_control_characters_start_nothing() {
    let env = Env::new("2026-01-01T00:00:00Z");
    let app = env.open();
    app.catalog
        .put_agent(&env.spec("orders", STANDARD_HOOK))
        .expect("save");
    let hooks = WebhookReceiver::new(app.clone()).expect("receiver");
    let secret = generate_webhook_secret();
    hooks
        .set_secret("ORDERS_STD_SECRET", &secret)
        .expect("store the secret");
    let now = ms("2026-01-01T00:00:00Z") / 1000;
    let body = b"{}";
    let too_long = "m".repeat(MAX_IDEMPOTENCY_KEY_LEN + 1);
    for id in [too_long.as_str(), "msg\0nul", "msg\nline", "msg\u{7f}"] {
        let h = standard_headers(secret.expose(), id, now, body);
        let e = hooks.start("orders", &h, body).await.expect_err("bad id");
        assert_eq!((e.kind(), e.http_status()), ("bad_body", 400), "{id:?}");
    }
    assert!(runs(&app).await.is_empty());
    // At the limit it is accepted, and is the run's key.
    let longest = "m".repeat(MAX_IDEMPOTENCY_KEY_LEN);
    let h = standard_headers(secret.expose(), &longest, now, body);
    let started = hooks.start("orders", &h, body).await.expect("at the limit");
    assert!(matches!(started, Delivered::Started(_)));
    let runs = runs(&app).await;
    assert_eq!(
        runs[0].idempotency_key.as_deref(),
        Some(format!("webhook:orders:{longest}").as_str())
    );
}
