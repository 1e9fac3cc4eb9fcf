//! Hostile input through the HTTP door, against a real `waymark serve`: every value an
//! attacker or a careless script could send gets a clear 4xx or works, and afterwards the
//! run list, a run's trace and the event stream all still answer.

use std::path::Path;

use serde_json::{json, Value};

use crate::support;

use support::{start_with_token, Server};

thread_local! {
    // One client per test (each runs on its own thread): a client per request cost more than
    // the request, over the thousand this file sends.
    static CLIENT: reqwest::Client = support::client();
}

fn client() -> reqwest::Client {
    CLIENT.with(Clone::clone)
}

const TOKEN: &str = "hostile-token-0123456789abcdef";

fn start(home: &Path) -> Server {
    start_with_token(home, TOKEN, &[])
}

async fn call(base: &str, command: &str, body: &Value) -> (u16, Value) {
    let r = client()
        .post(format!("{base}/api/v1/{command}"))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{command}: {e}"));
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// What a user checks after anything went wrong: the list loads, a run opens, events flow.
async fn still_healthy(base: &str, known_run: &str, after: &str) {
    let (status, body) = call(base, "runs_list", &json!({"include_children": true})).await;
    assert_eq!(status, 200, "runs_list after {after}: {body}");
    let (status, body) = call(base, "runs_get", &json!({"run_id": known_run})).await;
    assert_eq!(status, 200, "runs_get after {after}: {body}");
    let stream = client()
        .get(format!("{base}/api/v1/events?after=0"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("events");
    assert_eq!(
        stream.status().as_u16(),
        200,
        "the event stream after {after}"
    );
}

fn nested(levels: usize) -> Value {
    (0..levels).fold(json!("bottom"), |inner, _| json!({ "a": inner }))
}

/// Edge values for any field, whatever its type.
fn edge_values() -> Vec<(&'static str, Value)> {
    vec![
        ("a forged blob marker", json!({"$waymark_blob": "00"})),
        ("i64::MAX", json!(i64::MAX)),
        ("u64::MAX", json!(u64::MAX)),
        ("a negative number", json!(-1)),
        ("a huge float", json!(1e308)),
        ("64 levels of nesting", nested(64)),
        ("a 1 MB string", json!("x".repeat(1 << 20))),
        ("a NUL byte", json!("a\u{0}b")),
        ("only a NUL byte", json!("\u{0}")),
        ("an empty string", json!("")),
        (
            "reserved keys",
            json!({"__proto__": {"polluted": true}, "constructor": 1}),
        ),
    ]
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => &doc["components"]["schemas"][r.trim_start_matches("#/components/schemas/")],
        None => schema,
    }
}

/// A plausible value for a schema (so that one edge value at a time is what is tested).
fn plausible(doc: &Value, schema: &Value, depth: usize) -> Value {
    let schema = resolve(doc, schema);
    if let Some(options) = schema
        .get("oneOf")
        .or(schema.get("anyOf"))
        .and_then(Value::as_array)
    {
        return options
            .first()
            .map(|o| plausible(doc, o, depth + 1))
            .unwrap_or(Value::Null);
    }
    if let Some(first) = schema
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|v| v.first())
    {
        return first.clone();
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    let ty = match &schema["type"] {
        Value::Array(types) => types
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        Value::String(t) => t.clone(),
        _ => "object".into(),
    };
    match ty.as_str() {
        "boolean" => json!(false),
        "integer" | "number" => json!(1),
        "string" => match schema.get("format").and_then(Value::as_str) {
            Some("uuid") => json!("01900000-0000-7000-8000-000000000000"),
            _ => json!("plain"),
        },
        "array" => json!([]),
        "null" => Value::Null,
        _ if depth > 3 => json!({}),
        _ => {
            let required: Vec<&str> = schema["required"]
                .as_array()
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let mut obj = serde_json::Map::new();
            if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                for (name, prop) in props.iter().filter(|(n, _)| required.contains(&n.as_str())) {
                    obj.insert(name.clone(), plausible(doc, prop, depth + 1));
                }
            }
            Value::Object(obj)
        }
    }
}

#[tokio::test]
async fn edge_values_in_every_field_of_every_command_never_get_a_server_error() {
    let home = tempfile::tempdir().expect("dir");
    let s = start(&home.path().join("home"));
    let (status, started) = call(
        &s.base,
        "runs_start_function",
        &json!({"function": "not.registered", "input": {"$waymark_blob": "00"}}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let known = started["run_id"].as_str().expect("run id").to_string();
    let doc: Value = support::openapi(&s.base).await;
    let mut sent = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let Some(op) = item.get("post") else { continue };
        let command = path.trim_start_matches("/api/v1/");
        // These end what the test stands on (the database, the server's own run).
        if matches!(command, "db_delete_runs" | "runs_delete" | "db_vacuum") {
            continue;
        }
        let schema = resolve(
            &doc,
            &op["requestBody"]["content"]["application/json"]["schema"],
        );
        let mut base_body = plausible(&doc, schema, 0);
        // A server that answers: an unknown one would only test the reconnect backoff.
        if base_body.get("server").is_some() {
            base_body["server"] = json!("demo-tools");
            if base_body.get("tool").is_some() {
                base_body["tool"] = json!("lookup_order");
            }
        }
        let fields: Vec<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        let mut bodies = vec![("the whole body".to_string(), json!({"$waymark_blob": "00"}))];
        for field in &fields {
            for (what, value) in edge_values() {
                let mut body = base_body.clone();
                body[field.as_str()] = value;
                bodies.push((format!("{what} in {field}"), body));
            }
        }
        for (what, body) in bodies {
            let r = client()
                .post(format!("{}{path}", s.base))
                .bearer_auth(TOKEN)
                .json(&body)
                .send()
                .await
                .unwrap_or_else(|e| panic!("{command} with {what}: {e}"));
            let status = r.status().as_u16();
            let text = r.text().await.unwrap_or_default();
            let shown: String = text.chars().take(300).collect();
            assert!(
                status < 500,
                "{command} with {what} answered {status}: {shown}"
            );
            still_healthy(&s.base, &known, &format!("{command} with {what}")).await;
            sent += 1;
        }
    }
    assert!(sent > 300, "{sent}");
}

#[tokio::test]
async fn the_reported_attacks_each_get_a_clear_answer_and_break_nothing() {
    let home = tempfile::tempdir().expect("dir");
    let s = start(&home.path().join("home"));
    // A forged payload reference is plain data.
    let forged = json!({"$waymark_blob": "00", "x": 1});
    let (status, started) = call(
        &s.base,
        "runs_start_function",
        &json!({"function": "not.registered", "input": {"$waymark_blob": "00"}}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["run_id"].as_str().expect("id").to_string();
    let (status, got) = call(&s.base, "runs_get", &json!({"run_id": run})).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(got["run"]["input"], json!({"$waymark_blob": "00"}));
    let (status, _) = call(
        &s.base,
        "runs_start_function",
        &json!({"function": "not.registered", "input": forged}),
    )
    .await;
    assert_eq!(status, 200);
    // An event TTL that would overflow: refused by name, and the writer still writes.
    let (status, e) = call(
        &s.base,
        "events_send",
        &json!({"name": "x", "ttl_secs": 9_223_372_036_854_775u64}),
    )
    .await;
    assert_eq!(status, 400, "{e}");
    assert_eq!(e["field"], "ttl_secs", "{e}");
    let (status, e) = call(
        &s.base,
        "events_send",
        &json!({"name": "x", "ttl_secs": 60}),
    )
    .await;
    assert_eq!(status, 200, "the writer still writes: {e}");
    let (status, e) = call(
        &s.base,
        "runs_start_function",
        &json!({"function": "f", "deadline_secs": u64::MAX}),
    )
    .await;
    assert_eq!(
        (status, e["field"].clone()),
        (400, json!("deadline_secs")),
        "{e}"
    );
    // A NUL byte in a path.
    let (status, e) = call(&s.base, "db_backup", &json!({"path": "\u{0}"})).await;
    assert_eq!(status, 400, "{e}");
    // An agent whose tool timeout would overflow.
    let spec = json!({"name": "slow", "instructions": "x",
        "model": {"provider": "scripted", "script": "none.json"},
        "tools": [{"kind": "builtin", "name": "ask_human"}],
        "tool_overrides": {"ask_human": {"timeout_secs": u64::MAX}}});
    let (status, e) = call(&s.base, "agents_save", &json!({"spec": spec})).await;
    assert_eq!(status, 400, "{e}");
    assert!(
        e.to_string()
            .contains("tool_overrides.ask_human.timeout_secs"),
        "{e}"
    );
    still_healthy(&s.base, &run, "the attacks").await;
    // The caps are published, so a client can know them before it is refused.
    let doc: Value = support::openapi(&s.base).await;
    let schemas = &doc["components"]["schemas"];
    for (schema, field) in [
        ("EventsSendRequest", "ttl_secs"),
        ("RunsStartFunctionRequest", "deadline_secs"),
    ] {
        let max = schemas[schema]["properties"][field]["maximum"].as_u64();
        assert!(
            max.is_some_and(|m| m < u64::MAX / 1000),
            "{schema}.{field}: {max:?}"
        );
    }
}

#[tokio::test]
async fn a_thousand_and_five_runs_list_and_page_to_the_last() {
    let home = tempfile::tempdir().expect("dir");
    let s = start(&home.path().join("home"));
    let mut started = Vec::new();
    for i in 0..1005 {
        let (status, r) = call(
            &s.base,
            "runs_start_function",
            &json!({"function": "not.registered", "input": format!("run {i}")}),
        )
        .await;
        assert_eq!(status, 200, "{r}");
        started.push(r["run_id"].as_str().expect("id").to_string());
    }
    started.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut req = json!({"limit": 100});
        if let Some(c) = &cursor {
            req["cursor"] = json!(c);
        }
        let (status, page) = call(&s.base, "runs_list", &req).await;
        assert_eq!(status, 200, "{page}");
        for r in page["runs"].as_array().expect("runs") {
            seen.push(r["id"].as_str().expect("id").to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page["more"], true);
                cursor = Some(c.to_string());
            }
            None => {
                assert_eq!(page["more"], false);
                break;
            }
        }
    }
    assert_eq!(seen, started, "every run once, newest first");
    let (status, tail) = call(&s.base, "runs_list", &json!({"offset": 1000, "limit": 100})).await;
    assert_eq!(status, 200);
    assert_eq!(tail["runs"].as_array().map(Vec::len), Some(5));
    assert_eq!(tail["more"], false);
    let (status, e) = call(&s.base, "runs_list", &json!({"cursor": "garbage"})).await;
    assert_eq!((status, e["field"].clone()), (400, json!("cursor")), "{e}");
}
