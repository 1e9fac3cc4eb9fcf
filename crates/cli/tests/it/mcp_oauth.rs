//! MCP servers behind OAuth 2.1, through the built binaries as a user meets them: a real
//! authorization server (tests/oauth/auth_server.mjs, npm oauth2-mock-server), the demo tools
//! as a protected resource, `waymark` commands on one SQLite file with file-backed secrets, and a
//! headless "browser" (tests/mcp_oauth/open.mjs) as the `--open-with` hook.
//!
//! Needs the binaries (`cargo build -p waymark-cli -p waymark-demo-tools`), Node.js, and the npm
//! packages of tests/oauth (`bash scripts/setup-test-deps.sh`).

#[path = "mcp_oauth/harness.rs"]
mod harness;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use harness::{file_holds, http, AuthServer, Sandbox, Serve, ToolsServer, SCOPE};
use serde_json::{json, Value};

const ORDER: &str = r#"{"order_id":"A-1001"}"#;
/// What the demo tools answer for order A-1001.
const CUSTOMER: &str = "Ada Lovelace";

/// What the CLI prints when it starts a sign-in.
const SIGN_IN_PROMPT: &str = "sign in to ";

fn now_ms() -> i64 {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    i64::try_from(since.as_millis()).unwrap()
}

/// A scripted agent that looks the order up with the server's tool, then answers.
fn write_agent(s: &Sandbox) -> std::path::PathBuf {
    let dir = s.scratch();
    let script = dir.join("script.json");
    let turns = json!({"turns": [
        {"tool_calls": [{"id": "c1", "name": "lookup_order", "arguments": {"order_id": "A-1001"}}]},
        {"text": "It has shipped."},
    ]});
    std::fs::write(&script, turns.to_string()).unwrap();
    let spec = json!({"name": "clerk", "instructions": "Look orders up.",
        "model": {"provider": "scripted", "script": script},
        "tools": [{"kind": "mcp", "server": "docs", "tools": ["lookup_order"]}]});
    let file = dir.join("clerk.json");
    std::fs::write(&file, spec.to_string()).unwrap();
    file
}

/// 1-5: the first call signs in through the opener; later commands (new processes) reuse the
/// stored token, refresh it once expired, and ask for a sign-in once it is revoked; the tokens
/// are in secrets.json and nowhere else a user could look.
#[tokio::test]
async fn a_sign_in_is_stored_reused_refreshed_and_revoked() {
    let mut auth = AuthServer::start().await;
    let server = ToolsServer::start(&auth.issuer).await;
    let mut s = Sandbox::new();
    let opener = Sandbox::opener();
    // Every token the test saw, to look for where it must not be.
    let mut seen = Vec::new();

    // 1. The first connection signs in through the opener hook, then the call goes through.
    s.run(&["mcp", "add", "docs", "--url", &server.url])
        .await
        .ok();
    assert_eq!(s.listed("docs").await["sign_in"]["state"], "not_needed");
    assert!(s.sign_ins().is_empty());
    let out = s
        .run(&[
            "mcp",
            "call",
            "docs",
            "lookup_order",
            ORDER,
            "--open-with",
            &opener,
        ])
        .await
        .ok();
    assert!(out.stdout.contains(CUSTOMER), "{}", out.stdout);
    let prompt = format!("sign in to \"docs\": {}/authorize?", auth.issuer);
    assert!(out.stderr.contains(&prompt), "{}", out.stderr);
    assert_eq!(auth.grants("authorization_code", 200), 1, "{}", auth.log());
    let docs = s.listed("docs").await;
    let sign_in = &docs["sign_in"];
    assert_eq!(sign_in["state"], "signed_in", "{docs}");
    assert_eq!(sign_in["issuer"], auth.issuer.as_str(), "{docs}");
    assert_eq!(sign_in["scopes"], json!([SCOPE]), "{docs}");
    assert_eq!(sign_in["refreshable"], true, "{docs}");
    let first = s.tokens();
    seen.push(first.clone());

    // 2. A new process reuses the stored token: no sign-in, no token request.
    let out = s
        .run(&["mcp", "call", "docs", "lookup_order", ORDER])
        .await
        .ok();
    assert!(out.stdout.contains(CUSTOMER), "{}", out.stdout);
    assert!(!out.stderr.contains(SIGN_IN_PROMPT), "{}", out.stderr);
    assert_eq!(s.tokens(), first);
    assert_eq!(auth.grants("authorization_code", 200), 1);
    assert_eq!(auth.grants("refresh_token", 200), 0);
    // An agent's run uses the sign-in too; its export is searched for the token below.
    let agent = write_agent(&s);
    s.run(&["agents", "add", &agent.display().to_string()])
        .await
        .ok();
    let out = s
        .run(&[
            "run",
            "clerk",
            "--input",
            "Where is A-1001?",
            "--wait",
            "--json",
        ])
        .await
        .ok();
    let ran: Value = serde_json::from_str(&out.stdout).expect("run --json prints JSON");
    let run_id = ran["run_id"].as_str().expect("a run id").to_string();
    assert_eq!(ran["status"], "succeeded", "{ran}");
    let tool_step = json!({"key": "tool/1.1", "name": "docs/lookup_order", "kind": "tool_call",
        "status": "succeeded", "attempts": 1});
    assert!(
        ran["steps"].as_array().unwrap().contains(&tool_step),
        "{ran}"
    );
    let replay = s.scratch().join("replay.json");
    let spec = s.scratch().join("clerk-export.json");
    s.run(&[
        "runs",
        "export",
        &run_id,
        "--replay",
        &replay.display().to_string(),
    ])
    .await
    .ok();
    s.run(&[
        "agents",
        "export",
        "clerk",
        "--output",
        &spec.display().to_string(),
    ])
    .await
    .ok();
    s.run(&["runs", "show", &run_id, "--json"]).await.ok();

    // 3. An expired token is refreshed with the refresh token, with no person.
    auth.command("expire-in 2").await;
    s.run(&["mcp", "login", "docs", "--open-with", &opener])
        .await
        .ok();
    let short = s.tokens();
    assert_ne!(short.access, first.access);
    seen.push(short.clone());
    let expires = s.listed("docs").await["sign_in"]["expires_at_ms"]
        .as_i64()
        .expect("an expiry");
    assert!(expires <= now_ms() + 2_000, "{expires}");
    // The one inherent wait: past the token's expiry.
    tokio::time::sleep(Duration::from_millis(
        u64::try_from(expires - now_ms()).unwrap_or(0) + 1_000,
    ))
    .await;
    let out = s
        .run(&["mcp", "call", "docs", "lookup_order", ORDER])
        .await
        .ok();
    assert!(out.stdout.contains(CUSTOMER), "{}", out.stdout);
    assert!(!out.stderr.contains(SIGN_IN_PROMPT), "{}", out.stderr);
    assert!(
        auth.grants("refresh_token", 200) >= 1,
        "no refresh: {}",
        auth.log()
    );
    let refreshed = s.tokens();
    assert_ne!(refreshed.access, short.access, "the token was not replaced");
    seen.push(refreshed.clone());
    // The search of step 5 finds them where they are.
    assert!(file_holds(&s.secrets_file(), &refreshed.access));
    assert!(file_holds(&s.secrets_file(), &refreshed.refresh));

    // 4. A revoked sign-in (the server refuses the token, the authorization server the
    // refresh token) ends in a clear "sign in again", in bounded time.
    auth.command("revoke-refresh").await;
    server.revoke_all().await;
    let out = s
        .run(&[
            "mcp",
            "call",
            "docs",
            "lookup_order",
            ORDER,
            "--sign-in-wait-secs",
            "2",
        ])
        .await;
    assert!(!out.status.success(), "{}", out.stdout);
    assert!(out.took < Duration::from_secs(60), "{:?}", out.took);
    assert!(
        out.stderr.contains("sign in to \"docs\"") && out.stderr.contains("signing in to"),
        "{}",
        out.stderr
    );
    assert!(!out.stdout.contains(CUSTOMER), "{}", out.stdout);
    let docs = s.listed("docs").await;
    assert_eq!(
        docs["sign_in"]["state"],
        "required",
        "{docs}\n{}\nAS:\n{}",
        out.stderr,
        auth.log()
    );
    let out = s.run(&["mcp", "list"]).await.ok();
    assert!(out.stdout.contains("sign in again"), "{}", out.stdout);
    // The dead tokens left secrets.json; the sign-in's issuer and scopes stay.
    let sign_ins = s.sign_ins();
    assert_eq!(sign_ins.len(), 1, "{sign_ins:?}");
    assert_eq!(sign_ins[0].1["token_response"], Value::Null);
    assert_eq!(sign_ins[0].1["issuer"], auth.issuer.as_str());
    assert_eq!(sign_ins[0].1["granted_scopes"], json!([SCOPE]));
    // Signing in again mends it (long-lived tokens now: refreshes are still refused).
    auth.command("expire-in 3600").await;
    s.run(&["mcp", "login", "docs", "--open-with", &opener])
        .await
        .ok();
    assert_eq!(s.listed("docs").await["sign_in"]["state"], "signed_in");
    let out = s
        .run(&["mcp", "call", "docs", "lookup_order", ORDER])
        .await
        .ok();
    assert!(out.stdout.contains(CUSTOMER), "{}", out.stdout);
    seen.push(s.tokens());

    // 5. The tokens were in secrets.json (above), and are nowhere else: not the database
    // (-wal, -shm), the logs, the exports, nor anything a command printed.
    let exported = std::fs::read_to_string(&replay).expect("the replay file");
    assert!(
        exported.contains(CUSTOMER),
        "the export holds the tool's result"
    );
    let files: Vec<_> = s.data_files().into_iter().chain([replay, spec]).collect();
    let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    assert!(names.iter().any(|n| n.ends_with("waymark.db")), "{names:?}");
    assert!(names.iter().any(|n| n.contains("/logs/")), "{names:?}");
    for token in seen.iter().flat_map(|t| [&t.access, &t.refresh]) {
        for f in &files {
            assert!(!file_holds(f, token), "a token is in {}", f.display());
        }
        assert!(
            !s.printed.contains(token.as_str()),
            "a command printed a token"
        );
        assert!(!server.log().contains(token.as_str()));
    }
}

/// 6. The HTTP door: `waymark serve` on the same database signs out, signs in (the door
/// opens the URL it is given) and calls the tool.
#[tokio::test]
async fn the_http_door_signs_out_and_in_and_calls() {
    let auth = AuthServer::start().await;
    let server = ToolsServer::start(&auth.issuer).await;
    let mut s = Sandbox::new();
    s.run(&["mcp", "add", "docs", "--url", &server.url])
        .await
        .ok();
    s.run(&["mcp", "login", "docs", "--open-with", &Sandbox::opener()])
        .await
        .ok();
    let terminal = s.tokens();
    let mut serve = Serve::start(&s).await;
    let docs = |list: &Value| {
        list["servers"]
            .as_array()
            .expect("servers")
            .iter()
            .find(|d| d["name"] == "docs")
            .expect("docs is listed")
            .clone()
    };

    // The terminal's sign-in is the door's too.
    let (status, list) = serve.call("mcp_list", json!({})).await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(docs(&list)["sign_in"]["state"], "signed_in", "{list}");

    let (status, out) = serve.call("mcp_sign_out", json!({"server": "docs"})).await;
    assert_eq!(status, 200, "{out}");
    assert!(s.sign_ins().is_empty(), "the tokens left secrets.json");
    let (_, list) = serve.call("mcp_list", json!({})).await;
    assert_eq!(docs(&list)["sign_in"]["state"], "not_needed", "{list}");
    let call =
        json!({"server": "docs", "tool": "lookup_order", "arguments": {"order_id": "A-1001"}});
    let (status, refused) = serve.call("mcp_call", call.clone()).await;
    assert_ne!(status, 200, "{refused}");
    assert!(
        refused.to_string().contains("sign_in_required"),
        "{status} {refused}"
    );

    let (status, started) = serve
        .call("mcp_sign_in_start", json!({"server": "docs"}))
        .await;
    assert_eq!(status, 200, "{started}");
    let url = started["url"].as_str().expect("a URL").to_string();
    assert!(
        url.starts_with(&format!("{}/authorize?", auth.issuer)),
        "{url}"
    );
    let (_, list) = serve.call("mcp_list", json!({})).await;
    assert_eq!(docs(&list)["sign_in"]["state"], "waiting", "{list}");
    assert_eq!(docs(&list)["sign_in"]["url"], url.as_str(), "{list}");
    // The browser: the authorization server redirects to the host's loopback listener.
    let landed = http()
        .get(&url)
        .send()
        .await
        .expect("the sign-in URL answers");
    assert!(landed.status().is_success(), "{}", landed.status());
    let (status, finished) = serve
        .call(
            "mcp_sign_in_finish",
            json!({"sign_in_id": started["sign_in_id"], "wait_secs": 30}),
        )
        .await;
    assert_eq!(status, 200, "{finished}");
    assert_eq!(finished["server"], "docs", "{finished}");
    assert_eq!(finished["sign_in"]["state"], "signed_in", "{finished}");
    assert_eq!(
        finished["sign_in"]["issuer"],
        auth.issuer.as_str(),
        "{finished}"
    );

    let (status, called) = serve.call("mcp_call", call).await;
    assert_eq!(status, 200, "{called}");
    assert_eq!(called["is_error"], false, "{called}");
    assert!(
        called["text"].as_str().unwrap_or("").contains(CUSTOMER),
        "{called}"
    );
    let door = s.tokens();
    assert_ne!(door.access, terminal.access);
    assert_eq!(auth.grants("authorization_code", 200), 2, "{}", auth.log());
    // The door never shows a token.
    let printed = serve.printed() + &s.printed;
    for token in [
        &terminal.access,
        &terminal.refresh,
        &door.access,
        &door.refresh,
    ] {
        assert!(!printed.contains(token.as_str()), "a token was printed");
        assert!(!file_holds(&s.db, token), "a token is in the database");
    }
}

/// 7. A server tried by URL, not saved, signs in through the opener; its tokens stay in the
/// process's memory.
#[tokio::test]
async fn a_server_tried_by_url_signs_in_and_keeps_no_token() {
    let auth = AuthServer::start().await;
    let server = ToolsServer::start(&auth.issuer).await;
    let mut s = Sandbox::new();
    let out = s
        .run(&[
            "mcp",
            "tools",
            "--url",
            &server.url,
            "--open-with",
            &Sandbox::opener(),
        ])
        .await
        .ok();
    assert!(out.stdout.contains("lookup_order"), "{}", out.stdout);
    assert!(
        out.stderr.contains("sign in to the server: "),
        "{}",
        out.stderr
    );
    assert_eq!(auth.grants("authorization_code", 200), 1, "{}", auth.log());
    assert!(s.sign_ins().is_empty(), "a tried server's token was stored");
    let out = s.run(&["mcp", "list", "--json"]).await.ok();
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!([])
    );
    // No token in the database either: a JWT's first bytes are those of `{"` in base64.
    for f in s.data_files() {
        let name = f.display().to_string();
        if name.contains("waymark.db") {
            assert!(!file_holds(&f, "eyJ"), "a JWT in {name}");
        }
    }
}
