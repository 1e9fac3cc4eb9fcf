//! The desktop binary is also the demo agent's MCP server (`waymark-desktop demo-tools`): the
//! demo's server definition points at the app's own executable, so the app needs no other
//! program. This speaks MCP to it over stdio, as the app's hub does, with no window.
//! (Being an integration test also makes `cargo test --workspace` build the real binary, which
//! the desktop smoke test then drives.)

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value};

fn read_message(lines: &mut impl Iterator<Item = std::io::Result<String>>) -> Value {
    let line = lines
        .next()
        .expect("the server answers before closing stdout")
        .expect("a line");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON-RPC ({e}): {line}"))
}

#[test]
fn the_app_binary_serves_the_demo_tools_over_stdio() {
    let dir = std::env::temp_dir().join(format!("waymark-desktop-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_waymark-desktop"))
        .arg("demo-tools")
        .arg("--outbox")
        .arg(dir.join("outbox.jsonl"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn waymark-desktop demo-tools");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut send = |v: Value| {
        writeln!(stdin, "{v}").expect("write to the server");
        stdin.flush().expect("flush");
    };

    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "desktop-test", "version": "0"}}}),
    );
    let init = read_message(&mut lines);
    assert_eq!(
        init["result"]["serverInfo"]["name"], "waymark-demo-tools",
        "{init}"
    );
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list"}));
    let list = read_message(&mut lines);
    let names: Vec<&str> = list["result"]["tools"]
        .as_array()
        .expect("a tool list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    for tool in ["lookup_order", "set_order_note", "send_email"] {
        assert!(names.contains(&tool), "{tool} missing from {names:?}");
    }
    drop(stdin);
    let status = child.wait().expect("the server exits when stdin closes");
    assert!(status.success(), "{status}");
    let _ = std::fs::remove_dir_all(&dir);
}
