//! `waymark mcp import`: the config files of Claude Desktop / Cursor and VS Code, read into
//! server definitions whose secrets never print.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use waymark_agent::mcp_import::{
    import_file, import_file_with, import_str, import_str_with, ConfigFormat, EnvUse, ImportError,
    ImportedConfig, McpServerDef, McpTransport, SecretValue,
};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/mcp")
        .join(name)
}

fn secrets(pairs: &[(&str, &str)]) -> BTreeMap<String, SecretValue> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), SecretValue::new(*v)))
        .collect()
}

fn test_env(name: &str) -> Option<String> {
    (name == "WAYMARK_TEST_MCP_KEY").then(|| "sk-from-env-789".to_string())
}

fn import_vscode() -> ImportedConfig {
    import_file_with(
        &fixture("vscode_mcp.json"),
        &test_env,
        Some(Path::new("/home/me/project")),
    )
    .expect("vscode fixture imports")
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "secret {s:?} printed in: {text}");
    }
}

#[test]
fn claude_desktop_config() {
    let cfg = import_file(fixture("claude_desktop_config.json")).expect("imports");
    assert_eq!(cfg.format, ConfigFormat::ClaudeDesktop);
    assert!(cfg.unresolved_inputs.is_empty());
    assert_eq!(
        cfg.servers,
        vec![
            McpServerDef {
                name: "fs".into(),
                transport: McpTransport::Stdio {
                    command: "npx".into(),
                    args: vec![
                        "-y".into(),
                        "@modelcontextprotocol/server-filesystem".into(),
                        "/tmp".into()
                    ],
                    env: secrets(&[("API_KEY", "sk-claude-secret-123")]),
                    cwd: None,
                },
            },
            McpServerDef {
                name: "remote".into(),
                transport: McpTransport::Http {
                    url: "https://mcp.example.com/mcp".into(),
                    headers: secrets(&[("Authorization", "Bearer tok-claude-secret-456")]),
                    oauth: Default::default(),
                },
            },
        ]
    );
    let McpTransport::Stdio { env, .. } = &cfg.servers[0].transport else {
        panic!("stdio");
    };
    assert_eq!(env["API_KEY"].expose(), "sk-claude-secret-123");

    let listing: Vec<String> = cfg.servers.iter().map(McpServerDef::describe).collect();
    assert_eq!(
        listing,
        vec![
            "fs: npx -y @modelcontextprotocol/server-filesystem /tmp (env: API_KEY=***)",
            "remote: https://mcp.example.com/mcp (headers: Authorization=***)",
        ]
    );
    let printed = format!("{cfg:?} {}", listing.join("\n"));
    assert_no_secret(&printed, &["sk-claude-secret-123", "tok-claude-secret-456"]);
}

#[test]
fn vscode_mcp_json_with_comments_placeholders_and_sse() {
    let cfg = import_vscode();
    assert_eq!(cfg.format, ConfigFormat::VsCode);
    assert_eq!(cfg.unresolved_inputs, vec!["github-token".to_string()]);
    assert_eq!(
        cfg.servers,
        vec![
            McpServerDef {
                name: "files".into(),
                transport: McpTransport::Stdio {
                    command: "node".into(),
                    args: vec![
                        "/home/me/project/server.js".into(),
                        "--root".into(),
                        "/home/me/project".into()
                    ],
                    env: secrets(&[
                        // A reference, resolved only when the server is connected.
                        ("API_KEY", "${env:WAYMARK_TEST_MCP_KEY}"),
                        ("DOCS_URL", "http://docs.example.com//a/*b*/"),
                    ]),
                    cwd: Some("/home/me/project".into()),
                },
            },
            McpServerDef {
                name: "github".into(),
                transport: McpTransport::Http {
                    url: "https://api.githubcopilot.com/mcp/".into(),
                    headers: secrets(&[("Authorization", "Bearer ${input:github-token}")]),
                    oauth: Default::default(),
                },
            },
            McpServerDef {
                name: "legacy".into(),
                transport: McpTransport::Http {
                    url: "http://localhost:3001/sse".into(),
                    headers: BTreeMap::new(),
                    oauth: Default::default(),
                },
            },
        ]
    );
    assert!(
        cfg.notes
            .iter()
            .any(|n| n.contains("servers.legacy.type") && n.contains("sse")),
        "{:?}",
        cfg.notes
    );
    let listing: Vec<String> = cfg.servers.iter().map(McpServerDef::describe).collect();
    assert_eq!(
        listing[0],
        "files: node /home/me/project/server.js --root /home/me/project \
         (cwd: /home/me/project; env: API_KEY=${env:WAYMARK_TEST_MCP_KEY}, DOCS_URL=***)"
    );
    assert_eq!(
        cfg.env_uses,
        vec![EnvUse {
            variable: "WAYMARK_TEST_MCP_KEY".into(),
            server: "files".into(),
            field: "env.API_KEY".into(),
            destination: "node /home/me/project/server.js --root /home/me/project".into(),
            is_set: true,
        }]
    );
    let printed = format!("{cfg:?} {}", listing.join("\n"));
    assert_no_secret(&printed, &["sk-from-env-789", "github-token}"]);
}

#[test]
fn malformed_field_names_file_and_field() {
    let err = import_file(fixture("malformed.json")).expect_err("wrong field type");
    let msg = err.to_string();
    assert!(matches!(err, ImportError::Field { .. }), "{err:?}");
    assert!(msg.contains("malformed.json"), "{msg}");
    assert!(
        msg.contains("mcpServers.fs.args must be an array of strings"),
        "{msg}"
    );
}

#[test]
fn syntax_error_names_file_line_and_column() {
    let err = import_file(fixture("broken_syntax.json")).expect_err("bad JSON");
    let ImportError::Syntax { line, column, .. } = &err else {
        panic!("{err:?}");
    };
    assert_eq!((*line, *column), (5, 7));
    let msg = err.to_string();
    assert!(msg.contains("broken_syntax.json"), "{msg}");
    assert!(msg.contains("line 5, column 7"), "{msg}");
}

#[test]
fn env_references_are_kept_by_name_and_resolved_only_on_demand() {
    let text = r#"{"mcpServers": {
        "remote": {"url": "https://stranger.example/mcp?u=${env:WAYMARK_T_USER}",
                   "headers": {"Authorization": "Bearer ${env:WAYMARK_T_TOKEN}"}},
        "local": {"command": "tool", "args": ["--key", "${env:WAYMARK_T_TOKEN}"]}}}"#;
    let env = |n: &str| (n == "WAYMARK_T_TOKEN").then(|| "tok-value-321".to_string());
    let cfg = import_str_with(text, "c.json", &env, None).expect("imports with a variable unset");
    let uses: Vec<(&str, &str, &str, &str, bool)> = cfg
        .env_uses
        .iter()
        .map(|u| {
            let u: &EnvUse = u;
            (
                u.server.as_str(),
                u.field.as_str(),
                u.variable.as_str(),
                u.destination.as_str(),
                u.is_set,
            )
        })
        .collect();
    assert_eq!(
        uses,
        vec![
            (
                "local",
                "args[1]",
                "WAYMARK_T_TOKEN",
                "tool --key '${env:WAYMARK_T_TOKEN}'",
                true
            ),
            (
                "remote",
                "url",
                "WAYMARK_T_USER",
                "https://stranger.example/mcp?u=${env:WAYMARK_T_USER}",
                false
            ),
            (
                "remote",
                "headers.Authorization",
                "WAYMARK_T_TOKEN",
                "https://stranger.example/mcp?u=${env:WAYMARK_T_USER}",
                true
            ),
        ]
    );
    let listing: Vec<String> = cfg.servers.iter().map(McpServerDef::describe).collect();
    assert!(
        listing[1].ends_with("(headers: Authorization=Bearer ${env:WAYMARK_T_TOKEN})"),
        "{listing:?}"
    );
    assert_no_secret(&format!("{cfg:?} {listing:?}"), &["tok-value-321"]);

    // Resolved only when asked (the hub asks when it connects); an unset one is named.
    let local = cfg.servers[0].resolve_env(&env).expect("resolves");
    let McpTransport::Stdio { args, .. } = &local.transport else {
        panic!("stdio");
    };
    assert_eq!(
        args,
        &vec!["--key".to_string(), "tok-value-321".to_string()]
    );
    let err = cfg.servers[1].resolve_env(&env).expect_err("user unset");
    let msg = err.to_string();
    assert!(
        msg.contains("WAYMARK_T_USER") && msg.contains("\"remote\""),
        "{msg}"
    );
    assert!(msg.contains("url"), "{msg}");
}

#[test]
fn workspace_folder_without_a_workspace_is_an_error() {
    let text = r#"{"servers": {"s": {"command": "x", "cwd": "${workspaceFolder}"}}}"#;
    let err = import_str_with(text, "mcp.json", &|_| None, None).expect_err("no workspace");
    let msg = err.to_string();
    assert!(msg.contains("mcp.json: servers.s.cwd"), "{msg}");
    assert!(msg.contains("workspaceFolder"), "{msg}");
}

#[test]
fn unknown_type_and_unknown_format_are_errors() {
    let err = import_str(
        r#"{"servers": {"s": {"type": "ws", "url": "x"}}}"#,
        "a.json",
    )
    .expect_err("unknown type");
    assert!(
        err.to_string()
            .starts_with("a.json: servers.s.type must be"),
        "{err}"
    );

    let err = import_str(r#"{"tools": {}}"#, "b.json").expect_err("not MCP");
    assert!(matches!(err, ImportError::UnknownFormat { .. }), "{err:?}");
    assert!(err.to_string().contains("b.json"), "{err}");

    let err = import_str(
        r#"{"mcpServers": {"s": {"command": "x", "env": {"K": ["v"]}}}}"#,
        "c.json",
    )
    .expect_err("env value");
    assert_eq!(
        err.to_string(),
        "c.json: mcpServers.s.env.K must be a string"
    );

    let err = import_str(r#"{"mcpServers": {"s": {"args": []}}}"#, "d.json").expect_err("empty");
    assert!(
        err.to_string().contains("d.json: mcpServers.s must have"),
        "{err}"
    );
}

#[test]
fn missing_file_names_it() {
    let err = import_file(fixture("no_such_file.json")).expect_err("missing");
    assert!(err.to_string().contains("no_such_file.json"), "{err}");
}
