//! `waymark mcp ...`: MCP servers (add, import, list, rm) and their tools (list, call by hand).

use std::collections::BTreeMap;
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _};
use serde_json::{json, Value};
use waymark_agent::app::AgentApp;
use waymark_agent::arguments::ArgumentValidator;
use waymark_agent::mcp::{CallOptions, McpServerDef, McpTool, McpTransport};
use waymark_agent::mcp_import;
use waymark_agent::Secret;

use super::{open_app, parse_json, EXIT_RUN_UNSUCCESSFUL};
use crate::cli::{JsonFlag, McpAddArgs, McpCallArgs, McpImportArgs, McpNameArgs, McpToolsArgs};
use crate::output::{emit, json, table};

pub async fn add(db: &Path, a: McpAddArgs) -> anyhow::Result<ExitCode> {
    let transport = match (a.url, a.command.split_first()) {
        (Some(url), None) => McpTransport::Http {
            url,
            headers: pairs("--header", &a.headers)?,
        },
        (None, Some((command, args))) => McpTransport::Stdio {
            command: command.clone(),
            args: args.to_vec(),
            env: pairs("--env", &a.env)?,
            cwd: a.cwd.map(|d| d.display().to_string()),
        },
        (Some(_), Some(_)) => bail!("give either --url URL or `-- COMMAND ARGS...`, not both"),
        (None, None) => bail!(
            "say how to reach the server: `waymark mcp add {} -- COMMAND ARGS...` or `--url URL`",
            a.name
        ),
    };
    let def = McpServerDef {
        name: a.name,
        transport,
    };
    let app = open_app(db).await?;
    let replaced = app.catalog.server(&def.name)?.is_some();
    app.catalog.put_server(&def)?;
    let verb = if replaced { "replaced" } else { "added" };
    emit(&format!("{verb} {}", def.describe()))?;
    Ok(ExitCode::SUCCESS)
}

/// `K=V` flags as a map of secrets; the key must be non-empty.
fn pairs(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, Secret>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                map.insert(k.trim().to_string(), Secret::new(v));
            }
            // The text may hold a secret: do not echo it.
            _ => bail!("{flag} expects KEY=VALUE; one of them has no key or no '='"),
        }
    }
    Ok(map)
}

pub async fn import(db: &Path, a: McpImportArgs) -> anyhow::Result<ExitCode> {
    // The error names the file and the field at fault.
    let config = mcp_import::import_file(&a.file).map_err(|e| anyhow!(e))?;
    let app = open_app(db).await?;
    let mut text = format!(
        "{} server{} in {}:\n",
        config.servers.len(),
        if config.servers.len() == 1 { "" } else { "s" },
        a.file.display()
    );
    for def in &config.servers {
        let replaces = if app.catalog.server(&def.name)?.is_some() {
            " (replaces the saved one)"
        } else {
            ""
        };
        text.push_str(&format!("  {}{replaces}\n", def.describe()));
    }
    for note in &config.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    if !config.unresolved_inputs.is_empty() {
        text.push_str(&format!(
            "unresolved: ${{input:…}} placeholders kept as written: {}\n",
            config.unresolved_inputs.join(", ")
        ));
    }
    emit(&text)?;
    if config.servers.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    if !a.yes {
        if !std::io::stdin().is_terminal() {
            bail!("not saved: pass --yes to save without a prompt");
        }
        let question = format!("Save these {} servers? [y/N] ", config.servers.len());
        if !confirm(&question)? {
            emit("not saved")?;
            return Ok(ExitCode::FAILURE);
        }
    }
    for def in &config.servers {
        app.catalog.put_server(def)?;
    }
    emit(&format!(
        "saved {} server(s); secret values went to the secret store",
        config.servers.len()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; anything but y/yes is no.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    let mut err = std::io::stderr();
    write!(err, "{question}")?;
    err.flush()?;
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(
        line.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

pub async fn list(db: &Path, a: JsonFlag) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    let servers = app.catalog.servers()?;
    if a.json {
        let list: Vec<Value> = servers.iter().map(server_json).collect();
        emit(&json(&list)?)?;
    } else if servers.is_empty() {
        emit("no MCP servers; add one with `waymark mcp add` or `waymark mcp import`")?;
    } else {
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|d| {
                let kind = match &d.transport {
                    McpTransport::Stdio { .. } => "stdio",
                    McpTransport::Http { .. } => "http",
                };
                vec![d.name.clone(), kind.to_string(), described(d)]
            })
            .collect();
        emit(&table(&["NAME", "TRANSPORT", "DEFINITION"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `describe()` without its leading `name: `.
fn described(d: &McpServerDef) -> String {
    let text = d.describe();
    let prefix = format!("{}: ", d.name);
    text.strip_prefix(&prefix).unwrap_or(&text).to_string()
}

/// Secrets masked: only names of env vars and headers, never values.
fn server_json(d: &McpServerDef) -> Value {
    let mut v = match &d.transport {
        McpTransport::Stdio {
            command,
            args,
            env,
            cwd,
        } => json!({
            "transport": "stdio", "command": command, "args": args, "cwd": cwd,
            "env": env.keys().collect::<Vec<_>>(),
        }),
        McpTransport::Http { url, headers } => json!({
            "transport": "http", "url": url, "headers": headers.keys().collect::<Vec<_>>(),
        }),
    };
    v["name"] = json!(d.name);
    v["description"] = json!(described(d));
    v
}

pub async fn rm(db: &Path, a: McpNameArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    if !app.catalog.delete_server(&a.name)? {
        bail!(
            "no MCP server named \"{}\" (see `waymark mcp list`)",
            a.name
        );
    }
    emit(&format!("removed {} and its secrets", a.name))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn tools(db: &Path, a: McpToolsArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    let listed = with_hub(&app, app.hub().tools(&a.name)).await;
    let tools = listed.map_err(|e| anyhow!(e))?;
    if a.json {
        let list = tools
            .iter()
            .map(|t| {
                let mut v = serde_json::to_value(t)?;
                v["safety"] = json!(t.safety_class().as_str());
                Ok(v)
            })
            .collect::<anyhow::Result<Vec<Value>>>()?;
        emit(&json(&list)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if tools.is_empty() {
        emit(&format!("{} lists no tools", a.name))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = tools
        .iter()
        .map(|t| {
            vec![
                t.name.clone(),
                t.safety_class().as_str().to_string(),
                annotations(t),
                t.description
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" "),
            ]
        })
        .collect();
    emit(&table(
        &["TOOL", "SAFETY", "ANNOTATIONS", "DESCRIPTION"],
        &rows,
    ))?;
    Ok(ExitCode::SUCCESS)
}

fn annotations(t: &McpTool) -> String {
    let a = &t.annotations;
    let hints = [
        ("readOnly", a.read_only),
        ("destructive", a.destructive),
        ("idempotent", a.idempotent),
        ("openWorld", a.open_world),
    ];
    let set: Vec<String> = hints
        .iter()
        .filter_map(|(name, v)| v.map(|v| format!("{name}={v}")))
        .collect();
    if set.is_empty() {
        "-".into()
    } else {
        set.join(",")
    }
}

/// Runs `f`, then stops the server processes the hub started, whatever `f` returned.
async fn with_hub<T>(app: &AgentApp, f: impl std::future::Future<Output = T>) -> T {
    let out = f.await;
    app.hub().shutdown().await;
    out
}

pub async fn call(db: &Path, a: McpCallArgs) -> anyhow::Result<ExitCode> {
    let raw = parse_json("the arguments", &a.arguments)?;
    let app = open_app(db).await?;
    with_hub(&app, call_checked(&app, a, raw)).await
}

async fn call_checked(app: &AgentApp, a: McpCallArgs, raw: Value) -> anyhow::Result<ExitCode> {
    let tools = app.hub().tools(&a.name).await.map_err(|e| anyhow!(e))?;
    let Some(tool) = tools.iter().find(|t| t.name == a.tool) else {
        let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
        bail!(
            "MCP server \"{}\" has no tool named \"{}\"; its tools: {}",
            a.name,
            a.tool,
            names.join(", ")
        );
    };
    let validator = ArgumentValidator::new(&tool.name, &tool.input_schema)?;
    let arguments = match validator.check_call(&raw) {
        Ok(args) => args,
        Err(v) => {
            eprintln!("error: {}", v.summary());
            return Ok(ExitCode::FAILURE);
        }
    };
    let opts = CallOptions {
        timeout: Some(Duration::from_secs(a.timeout_secs)),
        progress: None,
    };
    let out = app
        .hub()
        .call_tool(&a.name, &a.tool, arguments, opts)
        .await
        .map_err(|e| anyhow!(e))
        .with_context(|| format!("calling {}/{}", a.name, a.tool))?;
    if a.json {
        emit(&json(&out)?)?;
    } else {
        emit(&out.text())?;
    }
    if out.is_error {
        eprintln!("the tool answered with an error (isError)");
        return Ok(ExitCode::from(EXIT_RUN_UNSUCCESSFUL));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_need_a_key_and_never_echo_the_value() {
        let m = pairs("--env", &["A=1=2".into(), "B=".into()]).ok();
        let m = m.map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.expose()))
                .collect::<Vec<_>>()
        });
        assert_eq!(m, Some(vec!["A=1=2".to_string(), "B=".to_string()]));
        let e = pairs("--header", &["=supersecretvalue".into()])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.starts_with("--header expects KEY=VALUE"), "{e}");
        assert!(!e.contains("supersecretvalue"), "{e}");
    }
}
