//! Tool arguments checked against real MCP-style input schemas.

use serde_json::{json, Value};
use waymark_agent::arguments::{
    normalize_arguments, ArgumentValidator, ArgumentViolations, RepairBudget, RepairDecision,
    Violation, INVALID_ARGUMENTS,
};

/// `get-sum` of `@modelcontextprotocol/server-everything`, as listed by tools/list.
fn get_sum_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "a": {"type": "number", "description": "First number"},
            "b": {"type": "number", "description": "Second number"}
        },
        "required": ["a", "b"]
    })
}

/// Like the filesystem server's write_file: string paths, nothing else allowed.
fn write_file_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "path": {"type": "string"},
            "content": {"type": "string"}
        },
        "required": ["path", "content"],
        "additionalProperties": false
    })
}

/// Enum and nested objects (an edit tool with options).
fn search_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {"type": "string", "minLength": 1},
            "options": {
                "type": "object",
                "properties": {
                    "mode": {"type": "string", "enum": ["exact", "fuzzy", "regex"]},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
                    "paths": {"type": "array", "items": {"type": "string"}}
                },
                "required": ["mode"],
                "additionalProperties": false
            }
        },
        "required": ["query"]
    })
}

/// A draft-07 schema as emitted by zod-to-json-schema, `$schema` and all.
fn draft7_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {
            "url": {"type": "string"},
            "retries": {"type": "integer", "minimum": 0},
            "headers": {"type": "object", "additionalProperties": {"type": "string"}}
        },
        "required": ["url"],
        "additionalProperties": false
    })
}

fn validator(tool: &str, schema: Value) -> ArgumentValidator {
    ArgumentValidator::new(tool, &schema).expect("schema compiles")
}

fn violations(v: &ArgumentValidator, args: Value) -> ArgumentViolations {
    v.check(&args).expect_err("arguments should be refused")
}

fn paths(v: &ArgumentViolations) -> Vec<&str> {
    v.violations.iter().map(|v| v.path.as_str()).collect()
}

#[test]
fn valid_arguments_pass() {
    validator("get-sum", get_sum_schema())
        .check(&json!({"a": 1, "b": 2.5}))
        .unwrap();
    validator("write_file", write_file_schema())
        .check(&json!({"path": "/tmp/x.txt", "content": ""}))
        .unwrap();
    validator("search", search_schema())
        .check(&json!({"query": "fn main", "options": {"mode": "regex", "limit": 5, "paths": ["src"]}}))
        .unwrap();
    validator("fetch", draft7_schema())
        .check(&json!({"url": "http://localhost/", "headers": {"accept": "text/html"}}))
        .unwrap();
}

#[test]
fn strings_for_numbers_and_a_missing_required_name_their_paths() {
    let v = validator("get-sum", get_sum_schema());
    let err = violations(&v, json!({"a": "1"}));
    assert_eq!(err.tool, "get-sum");
    assert_eq!(
        err.violations,
        vec![
            Violation {
                path: "/a".into(),
                message: "\"1\" is not of type \"number\"".into()
            },
            Violation {
                path: "/b".into(),
                message: "is required".into()
            },
        ]
    );
}

#[test]
fn the_model_message_is_stable_and_names_every_violation() {
    let v = validator("get-sum", get_sum_schema());
    let expected = "Arguments for get-sum do not match its input schema: /a: \"1\" is not of type \
                    \"number\"; /b is required. Call the tool again with corrected arguments.";
    // The same violations, however the arguments are ordered, give the same text.
    assert_eq!(
        violations(&v, json!({"a": "1"})).to_model_message(),
        expected
    );
    let reordered: Value = serde_json::from_str(r#"{"a":"1"}"#).unwrap();
    assert_eq!(violations(&v, reordered).to_string(), expected);
}

#[test]
fn an_extra_property_is_named() {
    let v = validator("write_file", write_file_schema());
    let err = violations(
        &v,
        json!({"path": "/tmp/x", "content": "hi", "mode": "0644", "a/b": 1}),
    );
    assert_eq!(paths(&err), vec!["/a~1b", "/mode"]);
    assert!(err.to_model_message().contains("/mode is not allowed"));
    let err = violations(&v, json!({"path": 7, "content": "hi"}));
    assert_eq!(paths(&err), vec!["/path"]);
    assert!(err.violations[0].message.contains("\"string\""));
}

#[test]
fn a_wrong_enum_value_and_nested_errors_are_named() {
    let v = validator("search", search_schema());
    let err = violations(
        &v,
        json!({"query": "", "options": {"mode": "glob", "limit": 0, "paths": ["ok", 3], "deep": true}}),
    );
    assert_eq!(
        paths(&err),
        vec![
            "/options/deep",
            "/options/limit",
            "/options/mode",
            "/options/paths/1",
            "/query"
        ]
    );
    let mode = &err.violations[2];
    assert!(
        mode.message.contains("\"glob\"") && mode.message.contains("\"fuzzy\""),
        "{}",
        mode.message
    );
    let err = violations(&v, json!({"query": "x", "options": {}}));
    assert_eq!(paths(&err), vec!["/options/mode"]);
}

#[test]
fn a_draft7_schema_is_read_as_draft7() {
    let v = validator("fetch", draft7_schema());
    let err = violations(
        &v,
        json!({"url": 1, "retries": -1, "headers": {"x": 2}, "y": 0}),
    );
    assert_eq!(paths(&err), vec!["/headers/x", "/retries", "/url", "/y"]);
    // Draft-07 has no `dependentRequired`: the keyword is ignored there, obeyed under 2020-12.
    let schema = |with_draft: bool| {
        let mut s = json!({"type": "object", "dependentRequired": {"a": ["b"]}});
        if with_draft {
            s["$schema"] = json!("http://json-schema.org/draft-07/schema#");
        }
        s
    };
    assert!(validator("t", schema(true)).check(&json!({"a": 1})).is_ok());
    let err = violations(&validator("t", schema(false)), json!({"a": 1}));
    assert_eq!(paths(&err), vec!["/b"]);
}

#[test]
fn arguments_sent_as_a_json_string_are_parsed() {
    assert_eq!(
        normalize_arguments(&json!("{\"a\":1,\"b\":2}")).unwrap(),
        json!({"a": 1, "b": 2})
    );
    assert_eq!(
        normalize_arguments(&json!({"a": 1})).unwrap(),
        json!({"a": 1})
    );
    assert_eq!(normalize_arguments(&Value::Null).unwrap(), json!({}));
    for bad in [
        json!([1, 2]),
        json!(3),
        json!("[1]"),
        json!("not json"),
        json!(true),
    ] {
        let v = normalize_arguments(&bad).expect_err("not an object");
        assert_eq!(v.path, "");
        assert!(
            v.message.starts_with("arguments must be an object"),
            "{}",
            v.message
        );
    }
    let v = validator("get-sum", get_sum_schema());
    assert_eq!(
        v.check_call(&json!("{\"a\":1,\"b\":2}")).unwrap(),
        json!({"a": 1, "b": 2})
    );
    let err = v.check_call(&json!("[1,2]")).unwrap_err();
    assert!(err.to_model_message().starts_with(
        "Arguments for get-sum do not match its input schema: arguments must be an object"
    ));
    let err = v.check_call(&json!("{\"a\":\"1\"}")).unwrap_err();
    assert_eq!(paths(&err), vec!["/a", "/b"]);
}

#[test]
fn the_repair_budget_asks_n_times_then_fails() {
    let v = validator("get-sum", get_sum_schema());
    let err = violations(&v, json!({"a": "1"}));
    let mut budget = RepairBudget::new(2);
    for round in 1..=2 {
        match budget.next(&err) {
            RepairDecision::AskModel(text) => assert_eq!(text, err.to_model_message()),
            other => panic!("repair {round} should ask the model, got {other:?}"),
        }
        assert_eq!(budget.used(), round);
    }
    let last = violations(&v, json!({"a": 1}));
    match budget.next(&last) {
        RepairDecision::Fail(step) => {
            assert_eq!(step.kind, INVALID_ARGUMENTS);
            assert_eq!(step.kind, "invalid_arguments");
            assert!(!step.retryable);
            assert!(step.message.contains("/b is required"), "{}", step.message);
            assert!(
                !step.message.contains("/a:"),
                "carries the last violations only"
            );
        }
        other => panic!("expected failure, got {other:?}"),
    }
    // No repairs allowed: the first violation fails the step.
    assert!(matches!(
        RepairBudget::new(0).next(&err),
        RepairDecision::Fail(_)
    ));
}

#[test]
fn a_remote_ref_is_refused_without_network_access() {
    // A listener the schema points at: a fetch attempt would show up as a pending connection.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let url = format!("http://{}/schema.json", listener.local_addr().unwrap());
    for remote in [url.as_str(), "https://example.com/schemas/args.json"] {
        let schema = json!({
            "type": "object",
            "properties": {"a": {"$ref": remote}}
        });
        let err = ArgumentValidator::new("remote-tool", &schema).unwrap_err();
        assert_eq!(err.tool, "remote-tool");
        let text = err.to_string();
        assert!(
            text.contains("remote-tool") && text.contains(remote),
            "{text}"
        );
    }
    assert!(
        listener.accept().is_err(),
        "the validator connected to the $ref's host"
    );
}

#[test]
fn an_invalid_schema_names_the_tool() {
    for schema in [
        json!({"type": "object", "properties": {"a": {"type": "numbr"}}}),
        json!({"type": "object", "required": "a"}),
        json!({"$schema": "http://example.com/my-meta", "type": "object"}),
        json!({"$schema": 7}),
    ] {
        let err = ArgumentValidator::new("broken-tool", &schema).unwrap_err();
        assert_eq!(err.tool, "broken-tool");
        let text = err.to_string();
        assert!(
            text.starts_with("the input schema of tool broken-tool is invalid: "),
            "{text}"
        );
    }
    // A schema failing the meta-schema says where.
    let err = ArgumentValidator::new(
        "broken-tool",
        &json!({"properties": {"a": {"type": "numbr"}}}),
    )
    .unwrap_err();
    assert!(err.reason.starts_with("at /properties/a/type: "), "{err}");
}

#[test]
fn long_values_are_cut_in_messages() {
    let v = validator("get-sum", get_sum_schema());
    let err = violations(&v, json!({"a": "x".repeat(5000), "b": 1}));
    assert!(err.to_model_message().len() < 400);
}

#[test]
fn a_validator_can_be_shared_between_tasks() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ArgumentValidator>();
}
