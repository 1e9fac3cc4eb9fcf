//! Agent specs: the file formats, the defaults, and each rule's error naming its field.

use std::path::{Path, PathBuf};
use std::time::Duration;

use waymark_agent::spec::{
    AgentSpec, BuiltinTool, ContextOverflow, Format, LimitReached, Limits, ProviderKind, RunUsage,
    SpecError, ToolRef, ToolSelection, Trigger,
};
use waymark_engine::{RetryPolicy, SafetyClass};

fn workspace_root() -> PathBuf {
    // crates/agent -> the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crates/agent sits two levels below the workspace root")
        .to_path_buf()
}

fn support_agent() -> AgentSpec {
    AgentSpec::load(&workspace_root().join("examples/support-agent.toml"))
        .expect("the example loads")
}

const MINIMAL: &str = r#"
name = "minimal"
instructions = "Be brief."

[model]
provider = "scripted"
script = "turns.json"
"#;

/// The problem fields of an invalid spec, in order.
fn problem_fields(err: &SpecError) -> Vec<String> {
    err.problems().iter().map(|p| p.field.clone()).collect()
}

/// One change to a valid spec, for the table of broken rules.
type Mutation = Box<dyn FnOnce(&mut AgentSpec)>;

fn invalid(mutate: impl FnOnce(&mut AgentSpec)) -> SpecError {
    let mut spec = support_agent();
    mutate(&mut spec);
    spec.validate().expect_err("the change breaks a rule")
}

#[test]
fn the_full_example_round_trips_through_toml_and_json() {
    let spec = support_agent();
    assert_eq!(spec.name, "support-agent");
    assert!(spec.needs_approval("send_email"));
    assert!(!spec.needs_approval("lookup_order"));
    assert_eq!(spec.triggers.len(), 3);

    let toml = spec.to_toml_string().unwrap();
    let from_toml = AgentSpec::from_toml_str(&toml).unwrap();
    assert_eq!(from_toml, spec, "TOML:\n{toml}");

    let json = spec.to_json_string().unwrap();
    let from_json = AgentSpec::from_json_str(&json).unwrap();
    assert_eq!(from_json, spec, "JSON:\n{json}");

    // And across: TOML -> JSON -> TOML gives the same text back.
    assert_eq!(from_json.to_toml_string().unwrap(), toml);
    assert_eq!(from_toml.content_hash(), spec.content_hash());
    assert_eq!(from_json.to_canonical_json(), spec.to_canonical_json());
}

#[test]
fn the_canonical_form_ignores_layout_and_sees_changes() {
    let spec = support_agent();
    let json = spec.to_json_string().unwrap();
    // Fields in another order, defaults left out or written: the same spec, the same hash.
    let minimal = AgentSpec::from_toml_str(MINIMAL).unwrap();
    let explicit = AgentSpec::from_toml_str(&format!(
        "{MINIMAL}\n[limits]\nmax_steps = 25\n\n[[triggers]]\nkind = \"manual\"\n"
    ))
    .unwrap();
    assert_eq!(minimal.content_hash(), explicit.content_hash());
    assert!(minimal.content_hash().starts_with("sha256:"));
    assert_eq!(minimal.content_hash().len(), "sha256:".len() + 64);
    assert!(!spec.to_canonical_json().contains('\n'));

    let mut changed = AgentSpec::from_json_str(&json).unwrap();
    changed.limits.max_steps += 1;
    assert_ne!(changed.content_hash(), spec.content_hash());
}

#[test]
fn a_minimal_spec_gets_its_defaults() {
    let spec = AgentSpec::from_toml_str(MINIMAL).unwrap();
    assert_eq!(spec.description, "");
    assert_eq!(spec.model.provider, ProviderKind::Scripted);
    assert_eq!(spec.model.model, "");
    assert_eq!(spec.model.temperature, None);
    assert_eq!(spec.model.on_context_overflow, ContextOverflow::Fail);
    assert_eq!(spec.model.api_key_env(), None);
    assert!(spec.tools.is_empty());
    assert!(spec.tool_overrides.is_empty());
    assert_eq!(spec.limits, Limits::default());
    assert_eq!(spec.limits.max_steps, 25);
    assert_eq!(spec.retry, None);
    assert_eq!(spec.triggers, vec![Trigger::Manual]);
    assert_eq!(
        spec.model.script_path(Path::new("/specs")),
        Some(PathBuf::from("/specs/turns.json"))
    );
}

#[test]
fn the_key_variable_defaults_only_for_the_providers_own_server() {
    let openai = |extra: &str| {
        AgentSpec::from_toml_str(&format!(
            "name = \"a\"\ninstructions = \"x\"\n[model]\nprovider = \"openai\"\nmodel = \"m\"\n{extra}"
        ))
        .unwrap()
    };
    assert_eq!(openai("").model.api_key_env(), Some("OPENAI_API_KEY"));
    assert_eq!(
        openai("").model.base_url(),
        Some("https://api.openai.com/v1")
    );
    let local = openai("base_url = \"http://127.0.0.1:11434/v1\"");
    assert_eq!(
        local.model.api_key_env(),
        None,
        "no OpenAI key sent to another server"
    );
    let named =
        openai("base_url = \"https://openrouter.ai/api/v1\"\napi_key_env = \"OPENROUTER_KEY\"");
    assert_eq!(named.model.api_key_env(), Some("OPENROUTER_KEY"));
}

#[test]
fn overrides_apply_to_safety_retry_and_approval() {
    let spec = support_agent();
    assert_eq!(
        spec.tool_safety("send_email", SafetyClass::RetrySafe),
        SafetyClass::AtMostOnce
    );
    assert_eq!(
        spec.tool_safety("ask_human", SafetyClass::RetrySafe),
        SafetyClass::RetrySafe
    );
    let retry = spec.tool_retry("send_email", RetryPolicy::default());
    assert_eq!(retry.max_attempts, 3);
    assert_eq!(retry.initial_interval_ms, 2000);
    assert_eq!(
        retry.max_interval_ms,
        RetryPolicy::default().max_interval_ms
    );
    assert_eq!(spec.model_retry(RetryPolicy::default()).max_attempts, 4);
    assert_eq!(
        spec.tool_retry("lookup_order", RetryPolicy::default()),
        RetryPolicy::default()
    );
}

#[test]
fn each_broken_rule_names_its_field() {
    let cases: Vec<(&str, Mutation)> = vec![
        ("name", Box::new(|s| s.name = "Support Agent".into())),
        ("name", Box::new(|s| s.name = String::new())),
        ("name", Box::new(|s| s.name = "a".repeat(65))),
        ("instructions", Box::new(|s| s.instructions = "  \n".into())),
        ("model.model", Box::new(|s| s.model.model = String::new())),
        (
            "model.script",
            Box::new(|s| s.model.script = Some("t.json".into())),
        ),
        (
            "model.base_url",
            Box::new(|s| s.model.base_url = Some("localhost:8080".into())),
        ),
        (
            "model.api_key_env",
            Box::new(|s| s.model.api_key_env = Some("sk-proj-abc123".into())),
        ),
        (
            "model.temperature",
            Box::new(|s| s.model.temperature = Some(3.0)),
        ),
        (
            "model.max_tokens",
            Box::new(|s| s.model.max_tokens = Some(0)),
        ),
        (
            "model.timeout_secs",
            Box::new(|s| s.model.timeout_secs = Some(0)),
        ),
        ("limits.max_steps", Box::new(|s| s.limits.max_steps = 0)),
        (
            "limits.max_tokens",
            Box::new(|s| s.limits.max_tokens = Some(0)),
        ),
        (
            "limits.max_cost_usd",
            Box::new(|s| s.limits.max_cost_usd = Some(0.0)),
        ),
        (
            "limits.max_cost_usd",
            Box::new(|s| s.limits.max_cost_usd = Some(f64::NAN)),
        ),
        (
            "limits.deadline_secs",
            Box::new(|s| s.limits.deadline_secs = Some(0)),
        ),
        (
            "limits.max_concurrent_runs",
            Box::new(|s| s.limits.max_concurrent_runs = Some(0)),
        ),
        (
            "retry.max_attempts",
            Box::new(|s| s.retry.as_mut().unwrap().max_attempts = Some(0)),
        ),
        (
            "retry.jitter",
            Box::new(|s| s.retry.as_mut().unwrap().jitter = Some(1.5)),
        ),
        (
            "retry.backoff_coefficient",
            Box::new(|s| s.retry.as_mut().unwrap().backoff_coefficient = Some(0.5)),
        ),
        (
            "retry.max_interval_ms",
            Box::new(|s| s.retry.as_mut().unwrap().initial_interval_ms = Some(60_000)),
        ),
        (
            "tool_overrides.send_email.timeout_secs",
            Box::new(|s| s.tool_overrides.get_mut("send_email").unwrap().timeout_secs = Some(0)),
        ),
        (
            "tool_overrides.send_email.retry.max_attempts",
            Box::new(|s| {
                s.tool_overrides
                    .get_mut("send_email")
                    .unwrap()
                    .retry
                    .as_mut()
                    .unwrap()
                    .max_attempts = Some(0)
            }),
        ),
        (
            "tool_overrides.delete_everything",
            Box::new(|s| {
                s.tool_overrides
                    .insert("delete_everything".into(), Default::default());
            }),
        ),
        (
            "tools[2].tools",
            Box::new(|s| {
                s.tools.push(ToolRef::Mcp {
                    server: "other".into(),
                    tools: ToolSelection::Named(vec![]),
                })
            }),
        ),
        (
            "tools[2].server",
            Box::new(|s| {
                s.tools.push(ToolRef::Mcp {
                    server: "demo-tools".into(),
                    tools: ToolSelection::Named(vec!["other".into()]),
                })
            }),
        ),
        (
            "tools[2].name",
            Box::new(|s| {
                s.tools.push(ToolRef::Builtin {
                    name: BuiltinTool::AskHuman,
                })
            }),
        ),
        (
            "tools[2].name",
            Box::new(|s| {
                s.tools.push(ToolRef::Agent {
                    name: "support-agent".into(),
                    description: None,
                })
            }),
        ),
        (
            "tools[2].name",
            Box::new(|s| {
                s.tools.push(ToolRef::Agent {
                    name: "Not A Slug".into(),
                    description: None,
                })
            }),
        ),
        (
            "tools[2].tools[0]",
            Box::new(|s| {
                s.tools.push(ToolRef::Mcp {
                    server: "other".into(),
                    tools: ToolSelection::Named(vec!["lookup_order".into()]),
                })
            }),
        ),
        (
            "triggers[1].secret_ref",
            Box::new(|s| {
                s.triggers[1] = Trigger::Webhook {
                    secret_ref: "hunter 2!".into(),
                }
            }),
        ),
        (
            "triggers[2].schedule",
            Box::new(|s| {
                s.triggers[2] = Trigger::Cron {
                    schedule: "every day".into(),
                    timezone: None,
                }
            }),
        ),
        (
            "triggers[2].timezone",
            Box::new(|s| {
                s.triggers[2] = Trigger::Cron {
                    schedule: "0 0 * * * *".into(),
                    timezone: Some(String::new()),
                }
            }),
        ),
        (
            "triggers[3]",
            Box::new(|s| s.triggers.push(Trigger::Manual)),
        ),
    ];
    for (field, mutate) in cases {
        let err = invalid(mutate);
        assert_eq!(problem_fields(&err), vec![field.to_string()], "{err}");
        let text = err.to_string();
        assert!(text.contains(field), "{text}");
    }
}

#[test]
fn a_broken_rule_reads_as_a_sentence_and_all_are_listed() {
    let err = invalid(|s| {
        s.limits.max_steps = 0;
        s.instructions.clear();
    });
    let text = err.to_string();
    assert!(
        text.contains("limits.max_steps must be at least 1"),
        "{text}"
    );
    assert!(text.contains("instructions must not be empty"), "{text}");
    assert_eq!(err.problems().len(), 2);
}

#[test]
fn a_pasted_key_is_not_echoed_back() {
    let err = invalid(|s| s.model.api_key_env = Some("sk-proj-abc123".into()));
    assert!(!err.to_string().contains("sk-proj-abc123"), "{err}");
}

#[test]
fn an_override_of_a_tool_behind_a_star_waits_for_the_tool_list() {
    let mut spec = support_agent();
    spec.tools[0] = ToolRef::Mcp {
        server: "demo-tools".into(),
        tools: ToolSelection::All,
    };
    spec.tool_overrides
        .insert("set_order_note".into(), Default::default());
    spec.validate().unwrap();
    let json = spec.to_json_string().unwrap();
    assert!(json.contains(r#""tools": "*""#), "{json}");
    assert_eq!(AgentSpec::from_json_str(&json).unwrap(), spec);
}

#[test]
fn an_unknown_field_in_toml_is_rejected_with_its_name_and_line() {
    let text = MINIMAL.replace(
        "provider = \"scripted\"",
        "provider = \"scripted\"\ntemprature = 0.5",
    );
    let err = AgentSpec::from_toml_str(&text).unwrap_err();
    let SpecError::Parse {
        format,
        line,
        field,
        message,
        ..
    } = &err
    else {
        panic!("not a parse error: {err}");
    };
    assert_eq!(*format, Format::Toml);
    assert!(message.contains("temprature"), "{err}");
    assert_eq!(*line, Some(7), "{err}");
    assert_eq!(field.as_deref(), Some("model.temprature"), "{err}");
    assert!(err.to_string().contains("line 7"), "{err}");
}

#[test]
fn an_unknown_field_in_a_tool_entry_is_rejected() {
    let text =
        format!("{MINIMAL}\n[[tools]]\nkind = \"builtin\"\nname = \"remember\"\nserver = \"x\"\n");
    let err = AgentSpec::from_toml_str(&text).unwrap_err();
    assert!(err.to_string().contains("server"), "{err}");
    let text = format!("{MINIMAL}\n[[tools]]\nkind = \"builtin\"\nname = \"browse\"\n");
    let err = AgentSpec::from_toml_str(&text).unwrap_err();
    assert!(err.to_string().contains("browse"), "{err}");
    let text = format!("{MINIMAL}\n[[tools]]\nkind = \"mcp\"\nserver = \"s\"\ntools = \"all\"\n");
    let err = AgentSpec::from_toml_str(&text).unwrap_err();
    assert!(err.to_string().contains(r#""*""#), "{err}");
}

#[test]
fn a_spec_has_no_field_for_a_key() {
    let toml = MINIMAL.replace(
        "provider = \"scripted\"",
        "provider = \"openai\"\napi_key = \"sk-abc\"",
    );
    let err = AgentSpec::from_toml_str(&toml).unwrap_err();
    assert!(err.to_string().contains("unknown field `api_key`"), "{err}");

    let json = r#"{"name": "a", "instructions": "x",
        "model": {"provider": "openai", "model": "m", "api_key": "sk-abc"}}"#;
    let err = AgentSpec::from_json_str(json).unwrap_err();
    let SpecError::Parse {
        format,
        line,
        field,
        ..
    } = &err
    else {
        panic!("not a parse error: {err}");
    };
    assert_eq!(*format, Format::Json);
    assert_eq!(*line, Some(2), "{err}");
    assert_eq!(field.as_deref(), Some("model.api_key"), "{err}");
    assert!(err.to_string().contains("api_key"), "{err}");

    // Written out, a spec holds the variable's name and nothing else about the key.
    let spec = support_agent();
    let toml = spec.to_toml_string().unwrap();
    assert!(toml.contains("api_key_env = \"OPENAI_API_KEY\""), "{toml}");
}

#[test]
fn a_wrong_type_names_the_field_path() {
    let text = MINIMAL.replace(
        "instructions = \"Be brief.\"",
        "instructions = \"Be brief.\"\n[limits]\nmax_steps = \"ten\"",
    );
    let err = AgentSpec::from_toml_str(&text).unwrap_err();
    let SpecError::Parse { field, line, .. } = &err else {
        panic!("not a parse error: {err}");
    };
    assert_eq!(field.as_deref(), Some("limits.max_steps"), "{err}");
    assert_eq!(*line, Some(5), "{err}");
}

#[test]
fn a_malformed_file_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("broken.toml");
    std::fs::write(&toml, "name = \"a\"\ninstructions = \n").unwrap();
    let err = AgentSpec::load(&toml).unwrap_err();
    assert!(
        matches!(err, SpecError::Parse { line: Some(2), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("broken.toml"), "{err}");

    let json = dir.path().join("broken.json");
    std::fs::write(&json, "{\"name\": \"a\",\n\"instructions\": }").unwrap();
    let err = AgentSpec::load(&json).unwrap_err();
    assert!(
        matches!(err, SpecError::Parse { line: Some(2), .. }),
        "{err}"
    );
    assert!(err.to_string().contains("broken.json"), "{err}");

    let invalid = dir.path().join("invalid.toml");
    std::fs::write(&invalid, MINIMAL.replace("minimal", "Minimal!")).unwrap();
    let err = AgentSpec::load(&invalid).unwrap_err();
    assert!(err.to_string().contains("invalid.toml"), "{err}");
    assert_eq!(problem_fields(&err), vec!["name"]);

    let yaml = dir.path().join("agent.yaml");
    std::fs::write(&yaml, "name: a").unwrap();
    let err = AgentSpec::load(&yaml).unwrap_err();
    assert!(matches!(err, SpecError::UnknownExtension { .. }), "{err}");

    let missing = dir.path().join("missing.json");
    let err = AgentSpec::load(&missing).unwrap_err();
    assert!(matches!(err, SpecError::Read { .. }), "{err}");
    assert!(err.to_string().contains("missing.json"), "{err}");
}

#[test]
fn trailing_json_after_the_spec_is_an_error() {
    let spec = AgentSpec::from_toml_str(MINIMAL).unwrap();
    let json = format!("{} {{}}", spec.to_json_string().unwrap());
    assert!(AgentSpec::from_json_str(&json).is_err());
}

#[test]
fn every_example_loads_and_validates() {
    let dir = workspace_root().join("examples");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let spec = AgentSpec::load(&path).unwrap_or_else(|e| panic!("{e}"));
            spec.validate().unwrap();
            seen += 1;
        }
    }
    assert!(seen >= 2, "examples found in {}: {seen}", dir.display());
}

#[test]
fn the_documented_example_is_the_example_file() {
    let doc = std::fs::read_to_string(workspace_root().join("docs/agent-spec.md")).unwrap();
    let example =
        std::fs::read_to_string(workspace_root().join("examples/support-agent.toml")).unwrap();
    assert!(
        doc.contains(&example),
        "docs/agent-spec.md must quote examples/support-agent.toml as it is"
    );
}

#[test]
fn each_limit_ends_the_run_with_a_reason_that_names_it() {
    let limits = support_agent().limits;
    let fresh = RunUsage::default();
    assert_eq!(limits.reached(&fresh), None);

    let steps = RunUsage {
        steps: 20,
        ..fresh.clone()
    };
    let reached = limits.reached(&steps).unwrap();
    assert_eq!(reached, LimitReached::MaxSteps { limit: 20 });
    assert!(
        reached.to_string().contains("limits.max_steps"),
        "{reached}"
    );
    assert_eq!(
        limits.reached(&RunUsage {
            steps: 19,
            ..fresh.clone()
        }),
        None
    );

    let tokens = RunUsage {
        tokens: 200_000,
        ..fresh.clone()
    };
    let reached = limits.reached(&tokens).unwrap();
    assert!(matches!(
        reached,
        LimitReached::MaxTokens {
            limit: 200_000,
            used: 200_000
        }
    ));
    assert!(
        reached.to_string().contains("limits.max_tokens"),
        "{reached}"
    );

    let cost = RunUsage {
        cost_usd: 0.51,
        ..fresh.clone()
    };
    let reached = limits.reached(&cost).unwrap();
    assert!(matches!(reached, LimitReached::MaxCostUsd { .. }));
    assert!(
        reached.to_string().contains("limits.max_cost_usd"),
        "{reached}"
    );

    let late = RunUsage {
        elapsed: Duration::from_secs(600),
        steps: 20,
        ..fresh.clone()
    };
    let reached = limits.reached(&late).unwrap();
    assert_eq!(
        reached,
        LimitReached::Deadline { limit_secs: 600 },
        "the deadline is named first"
    );
    assert!(
        reached.to_string().contains("limits.deadline_secs"),
        "{reached}"
    );
    assert_eq!(
        serde_json::to_value(&reached).unwrap(),
        serde_json::json!({"reached": "deadline", "limit_secs": 600})
    );

    // Absent limits never end a run; max_steps always can.
    let defaults = Limits::default();
    let heavy = RunUsage {
        tokens: u64::MAX,
        cost_usd: 1e9,
        elapsed: Duration::from_secs(1 << 40),
        steps: 24,
    };
    assert_eq!(defaults.reached(&heavy), None);
    assert_eq!(
        defaults.reached(&RunUsage { steps: 25, ..heavy }),
        Some(LimitReached::MaxSteps { limit: 25 })
    );
}

/// The JSON Schema the API publishes for a spec (derived apart from serde) accepts what serde
/// writes and refuses what serde refuses.
#[test]
fn the_json_schema_of_a_spec_matches_its_serde_form() {
    let schema = serde_json::to_value(schemars::schema_for!(AgentSpec)).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut specs = vec![support_agent(), AgentSpec::from_toml_str(MINIMAL).unwrap()];
    let mut every_kind = support_agent();
    every_kind.tools = vec![
        ToolRef::Mcp {
            server: "demo-tools".into(),
            tools: ToolSelection::All,
        },
        ToolRef::Agent {
            name: "helper".into(),
            description: Some("Helps.".into()),
        },
        ToolRef::Agent {
            name: "other".into(),
            description: None,
        },
    ];
    every_kind.triggers = vec![
        Trigger::Webhook {
            secret_ref: "A".into(),
        },
        Trigger::WebhookBearer {
            secret_ref: "B".into(),
        },
        Trigger::GithubWebhook {
            secret_ref: "C".into(),
        },
        Trigger::Cron {
            schedule: "* * * * *".into(),
            timezone: None,
        },
    ];
    specs.push(every_kind);
    for spec in &specs {
        let json = serde_json::to_value(spec).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| e.to_string())
            .collect();
        assert!(errors.is_empty(), "{errors:?}\n{json:#}");
    }

    let good = serde_json::to_value(support_agent()).unwrap();
    for (path, bad) in [
        ("/tools/0/tools", serde_json::json!("all")),
        ("/triggers/1", serde_json::json!({"kind": "webhook"})),
        (
            "/triggers/1",
            serde_json::json!({"kind": "webhook", "secret_ref": "S", "auth": "basic"}),
        ),
        (
            "/tool_overrides/send_email/safety",
            serde_json::json!("never"),
        ),
        ("/model/provider", serde_json::json!("gemini")),
        ("/limits/api_key", serde_json::json!("sk-1")),
    ] {
        let mut spec = good.clone();
        match spec.pointer_mut(path) {
            Some(at) => *at = bad.clone(),
            None => {
                // A field the spec does not have: added to its parent.
                let (parent, key) = path.rsplit_once('/').unwrap();
                spec.pointer_mut(parent).unwrap()[key] = bad.clone();
            }
        }
        assert!(
            serde_json::from_value::<AgentSpec>(spec.clone()).is_err(),
            "serde takes {path} = {bad}"
        );
        assert!(
            !validator.is_valid(&spec),
            "the schema takes {path} = {bad}"
        );
    }
}
