//! Secrets and stdio MCP servers: a server starts with a minimal environment plus its own
//! configured values (never the provider keys of the Waymark process), it dies with its whole
//! process group, and what it writes to stderr reaches error texts with every secret Waymark
//! holds redacted.

use crate::mcp_servers;

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::Once;

use mcp_servers::{demo_tools_bin, guarded, live_processes_with, stdio_def, wait_until};
use waymark_agent::mcp::{CallOptions, McpHub, McpServerDef, McpTransport, ServerStatus};
use waymark_agent::{Secret, SecretStore};

const OPENAI_KEY: &str = "sk-proj-openai-test-key-0123456789";
const ANTHROPIC_KEY: &str = "sk-ant-api03-anthropic-test-key-98765";
/// A key a spec names with `api_key_env`.
const CUSTOM_KEY_ENV: &str = "WAYMARK_HOSTILE_TEST_PROVIDER_KEY";
const CUSTOM_KEY: &str = "custom-provider-key-abcdef123456";
/// In the test process's environment, but nothing a server should get.
const UNRELATED_ENV: &str = "WAYMARK_HOSTILE_TEST_UNRELATED";

/// The provider keys as a user's shell would have them; set once for the whole test binary.
/// Every test calls this first, so no test reads the environment while it is being written.
fn keys_in_env() {
    static SET: Once = Once::new();
    SET.call_once(|| {
        std::env::set_var("OPENAI_API_KEY", OPENAI_KEY);
        std::env::set_var("ANTHROPIC_API_KEY", ANTHROPIC_KEY);
        std::env::set_var(CUSTOM_KEY_ENV, CUSTOM_KEY);
        std::env::set_var(UNRELATED_ENV, "not-for-servers");
    });
}

fn sh(name: &str, script: &str, env: &[(&str, &str)]) -> McpServerDef {
    stdio_def(name, Path::new("/bin/sh"), &["-c", script], env)
}

#[tokio::test]
async fn a_stdio_server_gets_a_minimal_environment_plus_its_own_values() {
    keys_in_env();
    let tmp = tempfile::tempdir().expect("temp dir");
    let out = tmp.path().join("env.txt");
    let out_arg = out.display().to_string();
    let demo = demo_tools_bin().display().to_string();
    let hub = McpHub::new();
    hub.set_server(sh(
        "env-dump",
        r#"env > "$OUT"; exec "$DEMO""#,
        &[
            ("OUT", &out_arg),
            ("DEMO", &demo),
            ("GITHUB_TOKEN", "ghp-configured-for-this-server-42"),
        ],
    ));
    let tools = guarded("listing tools", hub.tools("env-dump"))
        .await
        .expect("the server starts through sh");
    assert!(!tools.is_empty());
    hub.shutdown().await;

    let env = std::fs::read_to_string(&out).expect("the env file");
    let vars: BTreeMap<&str, &str> = env.lines().filter_map(|l| l.split_once('=')).collect();
    for secret in [OPENAI_KEY, ANTHROPIC_KEY, CUSTOM_KEY] {
        assert!(
            !env.contains(secret),
            "a provider key reached the server:\n{env}"
        );
    }
    for name in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        CUSTOM_KEY_ENV,
        UNRELATED_ENV,
    ] {
        assert!(
            !vars.contains_key(name),
            "{name} reached the server:\n{env}"
        );
    }
    assert!(vars.contains_key("PATH"), "{env}");
    assert!(vars.contains_key("HOME"), "{env}");
    assert_eq!(
        vars.get("GITHUB_TOKEN"),
        Some(&"ghp-configured-for-this-server-42")
    );
    // Nothing beyond the SDKs' default list, the locale, the configured values, and what sh
    // itself adds.
    let allowed = [
        "HOME",
        "LOGNAME",
        "PATH",
        "SHELL",
        "TERM",
        "USER",
        "LANG",
        "LANGUAGE",
        "OUT",
        "DEMO",
        "GITHUB_TOKEN",
        "PWD",
        "OLDPWD",
        "SHLVL",
        "_",
    ];
    for name in vars.keys() {
        assert!(
            allowed.contains(name) || name.starts_with("LC_"),
            "{name} reached the server:\n{env}"
        );
    }
}

#[tokio::test]
async fn a_stopped_stdio_server_takes_its_own_child_processes_with_it() {
    keys_in_env();
    let tmp = tempfile::tempdir().expect("temp dir");
    // Only the grandchild's command line holds this path: npx's children are like it.
    let marker = tmp.path().join("grandchild").display().to_string();
    let demo = demo_tools_bin().display().to_string();
    let hub = McpHub::new();
    hub.set_server(sh(
        "spawner",
        r#"/bin/sh -c "sleep 600; : $MARK" & exec "$DEMO""#,
        &[("MARK", &marker), ("DEMO", &demo)],
    ));
    guarded("listing tools", hub.tools("spawner"))
        .await
        .expect("the server starts");
    wait_until("the grandchild runs", || live_processes_with(&marker) == 1).await;

    hub.shutdown().await;
    wait_until("the grandchild is gone", || {
        live_processes_with(&marker) == 0
    })
    .await;
}

#[tokio::test]
async fn a_crashed_stdio_server_s_own_child_processes_are_gone_before_it_is_restarted() {
    keys_in_env();
    let tmp = tempfile::tempdir().expect("temp dir");
    let marker = tmp.path().join("orphan").display().to_string();
    let demo = demo_tools_bin().display().to_string();
    let hub = McpHub::new();
    // The grandchild does not hold the MCP pipes (a daemon-like helper), so the crash is seen.
    hub.set_server(sh(
        "crasher",
        r#"/bin/sh -c "sleep 600; : $MARK" </dev/null >/dev/null 2>&1 & exec "$DEMO""#,
        &[
            ("MARK", &marker),
            ("DEMO", &demo),
            (
                "DEMO_TOOLS_FAULTS",
                r#"{"lookup_order": {"exit_mid_call": true}}"#,
            ),
        ],
    ));
    guarded("listing tools", hub.tools("crasher"))
        .await
        .expect("the server starts");
    wait_until("the grandchild runs", || live_processes_with(&marker) == 1).await;
    let error = guarded(
        "the crashing call",
        hub.call_tool(
            "crasher",
            "lookup_order",
            serde_json::json!({"order_id": "A-1001"}),
            CallOptions::default(),
        ),
    )
    .await
    .expect_err("the server exits mid-call");
    assert!(error.to_string().contains("exited"), "{error}");
    wait_until("the orphan is gone", || live_processes_with(&marker) == 0).await;
    hub.shutdown().await;
}

#[tokio::test]
async fn secrets_a_failing_server_writes_to_stderr_are_redacted_everywhere_it_is_shown() {
    keys_in_env();
    let tmp = tempfile::tempdir().expect("temp dir");

    // A value read from the owner-only secret file (how the catalog keeps env values).
    let file_secret = "file-store-secret-value-777";
    let secrets_file = tmp.path().join("secrets.json");
    std::fs::write(
        &secrets_file,
        format!(r#"{{"secrets": {{"tok": "{file_secret}"}}}}"#),
    )
    .expect("write the secret file");
    std::fs::set_permissions(&secrets_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let from_store = SecretStore::file(secrets_file)
        .get(&"file:tok".parse().expect("a reference"))
        .expect("the secret file reads");

    // A custom provider key, read the way a spec's `api_key_env` is.
    let custom = Secret::from_env(CUSTOM_KEY_ENV).expect("set above");
    assert_eq!(custom.expose(), CUSTOM_KEY);

    // Another server's header value.
    let header_secret = "Bearer remote-header-token-31337";
    let hub = McpHub::new();
    hub.set_server(McpServerDef {
        name: "remote".into(),
        transport: McpTransport::Http {
            url: "http://127.0.0.1:9/mcp".into(),
            headers: BTreeMap::from([("Authorization".into(), Secret::new(header_secret))]),
            oauth: Default::default(),
        },
    });

    // The server has read keys it was never given (from a dotfile, say) and prints them all.
    let leak = tmp.path().join("leak.txt");
    std::fs::write(
        &leak,
        format!("openai={OPENAI_KEY}\nanthropic={ANTHROPIC_KEY}\ncustom={CUSTOM_KEY}\nheader={header_secret}\n"),
    )
    .expect("write the leak file");
    let leak_arg = leak.display().to_string();
    let mut def = sh(
        "leaky",
        r#"echo "starting with token=$TOKEN level=$LEVEL" >&2; cat "$LEAK" >&2; echo "stored=$STORED" >&2; echo "giving up on purpose" >&2; exit 3"#,
        &[
            ("TOKEN", "configured-env-secret-0042"),
            ("LEVEL", "debug"),
            ("LEAK", &leak_arg),
        ],
    );
    if let McpTransport::Stdio { env, .. } = &mut def.transport {
        env.insert("STORED".into(), from_store);
    }
    hub.set_server(def);

    let error = guarded("connecting", hub.tools("leaky"))
        .await
        .expect_err("the server exits at once")
        .to_string();
    let Some(ServerStatus::Failed {
        error: status_error,
        stderr_tail,
        ..
    }) = hub.status("leaky")
    else {
        panic!("the server is not failed: {:?}", hub.status("leaky"));
    };
    let tail = hub.stderr_tail("leaky").expect("a stderr tail");
    let shown = [
        ("the call's error", error),
        ("the status error", status_error),
        ("the status tail", stderr_tail.unwrap_or_default()),
        ("the stderr tail", tail),
    ];
    for (what, text) in &shown {
        for secret in [
            OPENAI_KEY,
            ANTHROPIC_KEY,
            CUSTOM_KEY,
            header_secret,
            "remote-header-token-31337",
            "configured-env-secret-0042",
            file_secret,
        ] {
            assert!(!text.contains(secret), "{what} shows {secret}: {text}");
        }
        // The rest stays readable: a short value is no secret worth shredding text for.
        assert!(text.contains("giving up on purpose"), "{what}: {text}");
        assert!(text.contains("level=debug"), "{what}: {text}");
        assert!(text.contains("token=[redacted]"), "{what}: {text}");
        assert!(text.contains("openai=[redacted]"), "{what}: {text}");
        assert!(text.contains("stored=[redacted]"), "{what}: {text}");
    }
}

#[test]
fn configs_print_names_but_never_secret_values() {
    keys_in_env();
    let http = McpServerDef {
        name: "remote".into(),
        transport: McpTransport::Http {
            url: "https://user:url-password-1234@mcp.example.com/mcp?token=url-token-5678".into(),
            headers: BTreeMap::from([(
                "Authorization".into(),
                Secret::new("Bearer debug-header-secret-9012"),
            )]),
            oauth: Default::default(),
        },
    };
    let stdio = stdio_def(
        "local",
        Path::new("npx"),
        &["-y", "server", "--token", "debug-arg-secret-3456"],
        &[
            ("GITHUB_TOKEN", "debug-env-secret-7890"),
            ("ARG", "debug-arg-secret-3456"),
        ],
    );
    let config = waymark_agent::HttpConfig::new(
        "https://api.example.com/v1?key=url-key-2468",
        Some(Secret::new("debug-provider-key-1357")),
        std::time::Duration::from_secs(5),
    );
    let printed = format!("{http:?}\n{stdio:?}\n{config:?}");
    for secret in [
        "url-password-1234",
        "url-token-5678",
        "debug-header-secret-9012",
        "debug-env-secret-7890",
        "debug-arg-secret-3456",
        "url-key-2468",
        "debug-provider-key-1357",
    ] {
        assert!(!printed.contains(secret), "{secret} in {printed}");
    }
    for shown in [
        "Authorization",
        "GITHUB_TOKEN",
        "https://mcp.example.com/mcp",
        "https://api.example.com/v1",
        "[redacted]",
    ] {
        assert!(printed.contains(shown), "{shown} not in {printed}");
    }
}
