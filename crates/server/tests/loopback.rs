//! The desktop app's webhook receiver (`serve_loopback_hooks`) over a real host on a real
//! SQLite file: it listens on loopback once a saved agent has a webhook trigger, takes a
//! signed delivery and records it for the agent's Triggers section, and stops listening when
//! no agent needs it.

use std::time::{Duration, Instant};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::json;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;
use waymark_api::{
    AgentNameRequest, AgentSaveRequest, Api, HooksStatus as _, SettingsSetHooksPortRequest,
};
use waymark_host::{Host, HostOptions};

/// Polls `probe` until it answers, for at most 20 s (the controller looks every 2 s).
async fn until<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn url_of(api: &Api, agent: &str) -> Option<String> {
    let req = AgentNameRequest {
        name: agent.to_string(),
    };
    api.agents_webhook(req).await.ok()?.url
}

fn signed(secret: &str, id: &str, body: &str) -> Vec<(&'static str, String)> {
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970")
        .as_secs()
        .to_string();
    let b64 = base64::engine::general_purpose::STANDARD;
    let key = b64
        .decode(secret.trim_start_matches("whsec_"))
        .expect("a whsec_ secret is base64");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("any key length");
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp),
        ("webhook-signature", format!("v1,{signature}")),
    ]
}

#[tokio::test]
async fn the_loopback_receiver_follows_the_agents_that_need_it() {
    let dir = tempfile::tempdir().expect("a temp dir");
    // The owner-only secret file, not the machine's keychain.
    std::env::set_var("WAYMARK_SECRET_BACKEND", "file");
    let mut options = HostOptions::new(dir.path().join("waymark.db"));
    options.data_dir = dir.path().join("data");
    let host = Host::start(options).await.expect("a host");
    let api = host.api().clone();
    api.settings_set_hooks_port(SettingsSetHooksPortRequest { port: Some(0) })
        .await
        .expect("any free port");
    let stop = CancellationToken::new();
    let controller = tokio::spawn(waymark_server::serve_loopback_hooks(
        api.clone(),
        host.hooks(),
        stop.clone(),
    ));

    // A scripted model: no network, no key.
    let script = dir.path().join("hooked.script.json");
    let turns = json!({"turns": [{"text": "An order was paid."}]});
    std::fs::write(&script, turns.to_string()).expect("the script");
    let spec = json!({
        "name": "hooked",
        "instructions": "Say what arrived.",
        "model": {"provider": "scripted", "script": script},
        "triggers": [{"kind": "webhook", "auth": "standard_webhooks", "secret_ref": "HOOKED"}],
    });
    api.agents_save(AgentSaveRequest { spec })
        .await
        .expect("saved");
    let secret = api
        .call(
            "settings_generate_webhook_secret",
            json!({"name": "HOOKED"}),
        )
        .await
        .expect("a secret")["secret"]
        .as_str()
        .expect("the secret, once")
        .to_string();
    let url = until("the receiver to listen", async || {
        url_of(&api, "hooked").await
    })
    .await;
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert!(url.ends_with("/hooks/hooked"), "{url}");
    let info = api
        .agents_webhook(AgentNameRequest {
            name: "hooked".into(),
        })
        .await
        .expect("info");
    assert!(info.local_only, "loopback is this computer only");
    assert_eq!(info.triggers[0].auth, "standard_webhooks");
    assert_eq!(info.last_delivery, None);

    let body = r#"{"event": "order.paid"}"#;
    let mut request = reqwest::Client::new().post(&url).body(body);
    for (name, value) in signed(&secret, "msg_loopback_1", body) {
        request = request.header(name, value);
    }
    let answer = request.send().await.expect("an answer");
    let status = answer.status().as_u16();
    let answer: serde_json::Value = answer.json().await.expect("JSON");
    assert_eq!(status, 201, "{answer}");
    let info = api
        .agents_webhook(AgentNameRequest {
            name: "hooked".into(),
        })
        .await
        .expect("info");
    let last = info.last_delivery.expect("the delivery is remembered");
    assert_eq!(last.status, 201);
    assert_eq!(
        last.run_id.map(|r| r.to_string()),
        answer["run_id"].as_str().map(str::to_string)
    );

    // A stranger's probe of a name with no webhook is answered but not remembered; a bad
    // signature on a real one is (the Triggers section shows it).
    let probe = url.replace("/hooks/hooked", "/hooks/nobody");
    let refused = reqwest::Client::new().post(&probe).body(body).send().await;
    assert_eq!(refused.expect("an answer").status().as_u16(), 401);
    assert_eq!(host.hooks().last_delivery("nobody"), None);
    let mut forged = reqwest::Client::new().post(&url).body(body);
    for (name, value) in signed("whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "msg_forged", body) {
        forged = forged.header(name, value);
    }
    assert_eq!(
        forged.send().await.expect("an answer").status().as_u16(),
        401
    );
    let last = host.hooks().last_delivery("hooked").expect("remembered");
    assert_eq!((last.status, last.run_id), (401, None));

    // No agent needs a receiver any more: it stops listening, and the port refuses.
    api.call("agents_delete", json!({"name": "hooked"}))
        .await
        .expect("deleted");
    until("the receiver to stop", async || {
        host.hooks().listening_url().is_none().then_some(())
    })
    .await;
    let refused = reqwest::Client::new().post(&url).body(body).send().await;
    assert!(refused.is_err(), "nothing listens on {url} any more");

    stop.cancel();
    controller.await.expect("the controller ends");
    host.shutdown(Duration::from_secs(5)).await;
}
