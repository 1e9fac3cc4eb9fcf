//! The rules a spec must keep beyond its shape. All broken rules are collected, not only the
//! first, so a form or a file can be fixed in one pass.

use std::collections::BTreeMap;
use waymark_engine::limits;

use super::error::Problem;
use super::model::ProviderKind;
use super::tools::{BuiltinTool, RetryOverride, ToolRef, ToolSelection};
use super::trigger::Trigger;
use super::AgentSpec;
use crate::triggers::{parse_time_zone, CronSchedule, ScheduleError};

pub(super) fn problems(spec: &AgentSpec) -> Vec<Problem> {
    let mut out = Vec::new();
    if !is_slug(&spec.name) {
        out.push(Problem::new(
            "name",
            format!(
                "must be 1 to 64 lowercase letters, digits, `-` or `_`, starting with a letter or digit (got {:?})",
                spec.name
            ),
        ));
    }
    if spec.instructions.trim().is_empty() {
        out.push(Problem::new("instructions", "must not be empty"));
    }
    check_model("model", &spec.model, &mut out);
    let tool_names = check_tools(spec, &mut out);
    check_overrides(spec, &tool_names, &mut out);
    check_limits(spec, &mut out);
    if let Some(retry) = &spec.retry {
        check_retry("retry", retry, &mut out);
    }
    check_triggers(spec, &mut out);
    if let Some(label) = &spec.worker_label {
        if !waymark_engine::worker::is_valid_label(label) {
            out.push(Problem::new(
                "worker_label",
                format!("must be 1 to 64 letters, digits, `.`, `-` or `_` (got {label:?})"),
            ));
        }
    }
    if let Some(elicitation) = &spec.elicitation {
        elicitation.check(&mut out);
    }
    if let Some(sampling) = &spec.sampling {
        sampling.check(&mut out);
        for (server, model) in &sampling.models {
            check_model(&format!("sampling.models.{server}"), model, &mut out);
        }
    }
    if let Some(email) = &spec.email {
        email.check(&mut out);
    }
    let sends = spec.tools.iter().any(|t| {
        matches!(
            t,
            ToolRef::Builtin {
                name: BuiltinTool::SendEmail
            }
        )
    });
    if sends && spec.sending_account().is_none() {
        out.push(Problem::new(
            "email.account",
            "send_email needs a mail account: set [email] account, or give the agent an email trigger",
        ));
    }
    out
}

/// `[a-z0-9][a-z0-9_-]{0,63}`: safe in URLs, file names and as a tool name for a parent model.
pub(super) fn is_slug(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    s.len() <= 64
        && (first.is_ascii_lowercase() || first.is_ascii_digit())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

/// An environment variable name. A pasted key (`sk-…`) has a `-`, so it fails here and is
/// reported instead of being written into a shared file.
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 128
}

fn check_model(field: &str, m: &super::ModelSpec, out: &mut Vec<Problem>) {
    let scripted = m.provider == ProviderKind::Scripted;
    if !scripted && m.model.trim().is_empty() {
        out.push(Problem::new(
            format!("{field}.model"),
            format!("must name the model for provider {}", m.provider.as_str()),
        ));
    }
    if scripted && m.script.is_none() {
        out.push(Problem::new(
            format!("{field}.script"),
            "is required for provider scripted: the file of turns to replay",
        ));
    }
    if !scripted && m.script.is_some() {
        out.push(Problem::new(
            format!("{field}.script"),
            "is only for provider scripted",
        ));
    }
    if let Some(url) = &m.base_url {
        if scripted {
            out.push(Problem::new(
                format!("{field}.base_url"),
                "is not for provider scripted",
            ));
        } else if !(url.starts_with("http://") || url.starts_with("https://")) {
            out.push(Problem::new(
                format!("{field}.base_url"),
                format!("must start with http:// or https:// (got {url:?})"),
            ));
        }
    }
    if let Some(var) = &m.api_key_env {
        if scripted {
            out.push(Problem::new(
                format!("{field}.api_key_env"),
                "is not for provider scripted",
            ));
        } else if !is_env_name(var) {
            // Not echoed: it may be the key itself.
            out.push(Problem::new(
                format!("{field}.api_key_env"),
                "must be the name of an environment variable (like OPENAI_API_KEY), never the key itself",
            ));
        }
    }
    if let Some(t) = m.temperature {
        if !(0.0..=2.0).contains(&t) {
            out.push(Problem::new(
                format!("{field}.temperature"),
                format!("must be between 0 and 2 (got {t})"),
            ));
        }
    }
    at_least_one(
        &format!("{field}.max_tokens"),
        m.max_tokens.map(u64::from),
        out,
    );
    duration(
        &format!("{field}.timeout_secs"),
        m.timeout_secs,
        limits::MAX_TIMEOUT_SECS,
        out,
    );
}

/// Checks each tool source and returns the names the model will see, with the index of the
/// entry that brings each. Names must be unique: the model calls a tool by name alone.
fn check_tools(spec: &AgentSpec, out: &mut Vec<Problem>) -> BTreeMap<String, usize> {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut servers: BTreeMap<&str, usize> = BTreeMap::new();
    let mut add = |name: &str, i: usize, field: String, out: &mut Vec<Problem>| {
        if let Some(first) = names.get(name) {
            out.push(Problem::new(
                field,
                format!("`{name}` is already a tool of tools[{first}]: tool names must be unique"),
            ));
        } else {
            names.insert(name.to_string(), i);
        }
    };
    for (i, tool) in spec.tools.iter().enumerate() {
        match tool {
            ToolRef::Mcp { server, tools } => {
                if server.trim().is_empty() {
                    out.push(Problem::new(
                        format!("tools[{i}].server"),
                        "must not be empty",
                    ));
                } else if let Some(first) = servers.insert(server, i) {
                    out.push(Problem::new(
                        format!("tools[{i}].server"),
                        format!("`{server}` is already listed in tools[{first}]"),
                    ));
                }
                if let ToolSelection::Named(list) = tools {
                    if list.is_empty() {
                        out.push(Problem::new(
                            format!("tools[{i}].tools"),
                            r#"is empty: name the tools, or "*" for all of them"#,
                        ));
                    }
                    for (j, name) in list.iter().enumerate() {
                        let field = format!("tools[{i}].tools[{j}]");
                        if name.is_empty() || name.chars().any(char::is_whitespace) {
                            out.push(Problem::new(
                                field,
                                format!("must be a tool name without spaces (got {name:?})"),
                            ));
                        } else {
                            add(name, i, field, out);
                        }
                    }
                }
            }
            ToolRef::Builtin { name } => add(name.name(), i, format!("tools[{i}].name"), out),
            ToolRef::Agent { name, .. } => {
                let field = format!("tools[{i}].name");
                if !is_slug(name) {
                    out.push(Problem::new(
                        field,
                        format!("must be an agent name (got {name:?})"),
                    ));
                } else if *name == spec.name {
                    out.push(Problem::new(field, "an agent cannot call itself"));
                } else {
                    add(name, i, field, out);
                }
            }
        }
    }
    names
}

fn check_overrides(spec: &AgentSpec, names: &BTreeMap<String, usize>, out: &mut Vec<Problem>) {
    // With a server's `"*"`, its tool names are known only once it is connected; the check then
    // waits for the run to start, which sees the tool list.
    let open_ended = spec.tools.iter().any(|t| {
        matches!(
            t,
            ToolRef::Mcp {
                tools: ToolSelection::All,
                ..
            }
        )
    });
    for (tool, o) in &spec.tool_overrides {
        let field = format!("tool_overrides.{}", toml_key(tool));
        if !open_ended && !names.contains_key(tool) {
            out.push(Problem::new(
                field.clone(),
                format!("names `{tool}`, which is not one of the agent's tools"),
            ));
        }
        if let Some(retry) = &o.retry {
            check_retry(&format!("{field}.retry"), retry, out);
        }
        duration(
            &format!("{field}.timeout_secs"),
            o.timeout_secs,
            limits::MAX_TIMEOUT_SECS,
            out,
        );
    }
}

fn check_limits(spec: &AgentSpec, out: &mut Vec<Problem>) {
    let l = &spec.limits;
    at_least_one("limits.max_steps", Some(u64::from(l.max_steps)), out);
    at_least_one("limits.max_tokens", l.max_tokens, out);
    if let Some(c) = l.max_cost_usd {
        // `!(c > 0)` also catches NaN.
        if !(c > 0.0 && c.is_finite()) {
            out.push(Problem::new(
                "limits.max_cost_usd",
                format!("must be a positive amount (got {c})"),
            ));
        }
    }
    duration(
        "limits.deadline_secs",
        l.deadline_secs,
        limits::MAX_DEADLINE_SECS,
        out,
    );
    at_least_one(
        "limits.max_concurrent_runs",
        l.max_concurrent_runs.map(u64::from),
        out,
    );
}

fn check_retry(field: &str, r: &RetryOverride, out: &mut Vec<Problem>) {
    at_least_one(
        &format!("{field}.max_attempts"),
        r.max_attempts.map(u64::from),
        out,
    );
    if let Some(b) = r.backoff_coefficient {
        if !(b >= 1.0 && b.is_finite()) {
            out.push(Problem::new(
                format!("{field}.backoff_coefficient"),
                format!("must be at least 1 (got {b})"),
            ));
        }
    }
    if let Some(j) = r.jitter {
        if !(0.0..=1.0).contains(&j) {
            out.push(Problem::new(
                format!("{field}.jitter"),
                format!("must be between 0 and 1 (got {j})"),
            ));
        }
    }
    for (name, value) in [
        ("initial_interval_ms", r.initial_interval_ms),
        ("max_interval_ms", r.max_interval_ms),
    ] {
        if let Err(e) = limits::check_at_most(name, value, limits::MAX_INTERVAL_MS) {
            out.push(Problem::new(format!("{field}.{name}"), e));
        }
    }
    if let (Some(initial), Some(max)) = (r.initial_interval_ms, r.max_interval_ms) {
        if max < initial {
            out.push(Problem::new(
                format!("{field}.max_interval_ms"),
                format!("must be at least initial_interval_ms ({initial})"),
            ));
        }
    }
}

fn check_triggers(spec: &AgentSpec, out: &mut Vec<Problem>) {
    let mut manual = None;
    for (i, trigger) in spec.triggers.iter().enumerate() {
        match trigger {
            Trigger::Manual => {
                if let Some(first) = manual.replace(i) {
                    out.push(Problem::new(
                        format!("triggers[{i}]"),
                        format!("manual is already listed in triggers[{first}]"),
                    ));
                }
            }
            Trigger::Webhook { secret_ref }
            | Trigger::WebhookBearer { secret_ref }
            | Trigger::StandardWebhook { secret_ref }
            | Trigger::GithubWebhook { secret_ref } => {
                let ok = !secret_ref.is_empty()
                    && secret_ref.len() <= 128
                    && secret_ref
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
                if !ok {
                    out.push(Problem::new(
                        format!("triggers[{i}].secret_ref"),
                        "must be the name of a secret (letters, digits, `_`, `-`, `.`), never its value",
                    ));
                }
            }
            Trigger::Cron { schedule, timezone } => {
                // Parsed as the scheduler will, so a schedule that cannot fire is refused on save.
                match CronSchedule::parse(schedule, None) {
                    Ok(_) => {}
                    Err(ScheduleError::FieldCount(fields)) => out.push(Problem::new(
                        format!("triggers[{i}].schedule"),
                        format!("must have 5 or 6 fields (got {fields} in {schedule:?})"),
                    )),
                    Err(e) => out.push(Problem::new(
                        format!("triggers[{i}].schedule"),
                        format!("{schedule:?}: {e}"),
                    )),
                }
                if let Some(tz) = timezone {
                    if parse_time_zone(tz).is_err() {
                        out.push(Problem::new(
                            format!("triggers[{i}].timezone"),
                            format!("must be an IANA time zone name like Europe/Paris or UTC (got {tz:?})"),
                        ));
                    }
                }
            }
            Trigger::Email(t) => t.check(&format!("triggers[{i}]"), out),
        }
    }
}

/// A duration someone set: at least 1 and at most its cap (a bigger one would overflow the
/// time arithmetic, or mean "never" in a way nobody meant).
fn duration(field: &str, value: Option<u64>, max: u64, out: &mut Vec<Problem>) {
    at_least_one(field, value, out);
    if let Err(e) = limits::check_at_most("it", value, max) {
        out.push(Problem::new(field, e));
    }
}

fn at_least_one(field: &str, value: Option<u64>, out: &mut Vec<Problem>) {
    if value == Some(0) {
        out.push(Problem::new(field, "must be at least 1"));
    }
}

/// A map key as it would be written in a TOML path: bare when it can be, quoted otherwise.
fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}
