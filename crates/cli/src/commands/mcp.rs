//! `waymark mcp ...`: MCP servers (add, import, list, rm) and their tools (list, call by hand).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail};
use serde_json::{json, Value};
use waymark_api::{
    Api, ElicitationPolicy, ErrorCode, McpAddRequest, McpCallRequest, McpImportRequest,
    McpListRequest, McpOAuthClient, McpServerInfo, McpServerRequest, McpTarget, McpTool,
    McpTryRequest,
};
use waymark_host::{Host, DEFAULT_SHUTDOWN_LIMIT};

use super::mcp_sign_in::{describe_state, with_sign_in, Opener};
use super::{api_error, open_api, open_host, parse_json, EXIT_RUN_UNSUCCESSFUL};
use crate::cli::{
    JsonFlag, McpAddArgs, McpCallArgs, McpImportArgs, McpNameArgs, McpTargetArgs, McpToolsArgs,
};
use crate::output::{emit, json, table};

pub async fn add(db: &Path, a: McpAddArgs) -> anyhow::Result<ExitCode> {
    let mut req = McpAddRequest {
        name: a.name.clone(),
        command: None,
        args: Vec::new(),
        env: BTreeMap::new(),
        cwd: None,
        url: None,
        headers: BTreeMap::new(),
        oauth: None,
    };
    match (a.url, a.command.split_first()) {
        (Some(url), None) => {
            req.url = Some(url);
            req.headers = pairs("--header", &a.headers)?;
            if a.client_id.is_some() || !a.scopes.is_empty() {
                req.oauth = Some(McpOAuthClient {
                    client_id: a.client_id.clone(),
                    client_secret: a.client_secret.clone(),
                    scopes: a.scopes.clone(),
                    client_credentials: a.client_credentials,
                    client_metadata_url: None,
                });
            }
        }
        (None, Some((command, args))) => {
            req.command = Some(command.clone());
            req.args = args.to_vec();
            req.env = pairs("--env", &a.env)?;
            req.cwd = a.cwd.map(|d| d.display().to_string());
        }
        (Some(_), Some(_)) => bail!("give either --url URL or `-- COMMAND ARGS...`, not both"),
        (None, None) => bail!(
            "say how to reach the server: `waymark mcp add {} -- COMMAND ARGS...` or `--url URL`",
            a.name
        ),
    }
    let api = open_api(db).await?;
    let replaced = saved_names(&api).await?.contains(&a.name);
    // The secret values go to the secret store there.
    let saved = api.mcp_add(req).await.map_err(api_error)?.server;
    let verb = if replaced { "replaced" } else { "added" };
    emit(&format!("{verb} {}", saved.describe))?;
    Ok(ExitCode::SUCCESS)
}

/// The names of the saved servers.
async fn saved_names(api: &Api) -> anyhow::Result<BTreeSet<String>> {
    let listed = api.mcp_list(McpListRequest {}).await.map_err(api_error)?;
    Ok(listed.servers.into_iter().map(|s| s.name).collect())
}

/// `K=V` flags as a map; the key must be non-empty.
fn pairs(flag: &str, items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                map.insert(k.trim().to_string(), v.to_string());
            }
            // The text may hold a secret: do not echo it.
            _ => bail!("{flag} expects KEY=VALUE; one of them has no key or no '='"),
        }
    }
    Ok(map)
}

/// The file is read here (a VS Code file's `${workspaceFolder}` is its workspace, which the
/// API cannot know); the API lists what it would save, and saves it once confirmed.
pub async fn import(db: &Path, a: McpImportArgs) -> anyhow::Result<ExitCode> {
    let text_of_file = std::fs::read_to_string(&a.file)
        .map_err(|e| anyhow!("cannot read {}: {e}", a.file.display()))?;
    let workspace = a
        .file
        .parent()
        .filter(|d| d.file_name().is_some_and(|n| n == ".vscode"))
        .and_then(Path::parent)
        .map(|w| std::path::absolute(w).unwrap_or_else(|_| w.to_path_buf()));
    let request = |save: bool| McpImportRequest {
        text: text_of_file.clone(),
        file_name: Some(a.file.display().to_string()),
        save,
        workspace_folder: workspace.as_ref().map(|w| w.display().to_string()),
    };
    let api = open_api(db).await?;
    let saved = saved_names(&api).await?;
    // The error names the file and the field at fault.
    let config = api.mcp_import(request(false)).await.map_err(api_error)?;
    let mut text = format!(
        "{} server{} in {}:\n",
        config.servers.len(),
        if config.servers.len() == 1 { "" } else { "s" },
        a.file.display()
    );
    for (name, describe) in config.names.iter().zip(&config.servers) {
        let replaces = if saved.contains(name) {
            " (replaces the saved one)"
        } else {
            ""
        };
        text.push_str(&format!("  {describe}{replaces}\n"));
    }
    for note in &config.notes {
        text.push_str(&format!("note: {note}\n"));
    }
    // By name, with where the value would go: the value is read when the server connects.
    for u in &config.env_uses {
        text.push_str(&format!(
            "sends ${{env:{}}} ({}) as {} of \"{}\" to {}\n",
            u.variable,
            if u.is_set { "set" } else { "not set" },
            u.field,
            u.server,
            u.destination
        ));
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
    // Saved by the API from the same text: the listing above is what it saves.
    let saved = api.mcp_import(request(true)).await.map_err(api_error)?;
    emit(&format!(
        "saved {} server(s); secret values went to the secret store",
        saved.servers.len()
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
    let api = open_api(db).await?;
    let servers = api
        .mcp_list(McpListRequest {})
        .await
        .map_err(api_error)?
        .servers;
    if a.json {
        let list = servers
            .iter()
            .map(server_json)
            .collect::<anyhow::Result<Vec<Value>>>()?;
        emit(&json(&list)?)?;
    } else if servers.is_empty() {
        emit("no MCP servers; add one with `waymark mcp add` or `waymark mcp import`")?;
    } else {
        let rows: Vec<Vec<String>> = servers
            .iter()
            .map(|d| {
                vec![
                    d.name.clone(),
                    d.transport.clone(),
                    d.describe.clone(),
                    describe_state(&d.sign_in),
                ]
            })
            .collect();
        emit(&table(
            &["NAME", "TRANSPORT", "DEFINITION", "SIGN-IN"],
            &rows,
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The API's server as listed (secrets masked: only names), with the names this command
/// printed before: `description`, and `env` (stdio) or `headers` (http).
fn server_json(d: &McpServerInfo) -> anyhow::Result<Value> {
    let mut v = serde_json::to_value(d)?;
    v["description"] = json!(d.describe);
    let names = if d.transport == "http" {
        "headers"
    } else {
        "env"
    };
    v[names] = json!(d.secret_names);
    Ok(v)
}

pub async fn rm(db: &Path, a: McpNameArgs) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    let deleted = api
        .mcp_remove(McpServerRequest {
            server: a.name.clone(),
        })
        .await
        .map_err(api_error)?
        .deleted;
    if !deleted {
        bail!(
            "no MCP server named \"{}\" (see `waymark mcp list`)",
            a.name
        );
    }
    emit(&format!("removed {} and its secrets", a.name))?;
    Ok(ExitCode::SUCCESS)
}

/// The server a tools/call command names: a saved one, or one given by `--url` / `-- COMMAND`
/// (made usable without saving it).
async fn resolve_server(
    api: &Api,
    name: Option<&str>,
    t: &McpTargetArgs,
) -> anyhow::Result<String> {
    let given = t.url.is_some() || !t.command.is_empty();
    match (name, given) {
        (Some(name), false) => Ok(name.to_string()),
        (None, true) => {
            let (command, args) = match t.command.split_first() {
                Some((c, rest)) => (Some(c.clone()), rest.to_vec()),
                None => (None, Vec::new()),
            };
            if t.url.is_some() && command.is_some() {
                bail!("give either --url URL or `-- COMMAND ARGS...`, not both");
            }
            let s = &t.sign_in;
            let target = McpTarget {
                url: t.url.clone(),
                headers: pairs("--header", &t.headers)?,
                command,
                args,
                env: pairs("--env", &t.env)?,
                cwd: None,
                elicitation: Some(if t.elicitation == "accept-defaults" {
                    ElicitationPolicy::AcceptDefaults
                } else {
                    ElicitationPolicy::Decline
                }),
                oauth: Some(McpOAuthClient {
                    client_id: s.client_id.clone(),
                    client_secret: s.client_secret.clone(),
                    scopes: s.scopes.clone(),
                    client_credentials: s.client_credentials,
                    client_metadata_url: s.client_metadata_url.clone(),
                }),
            };
            let tried = api.mcp_try(McpTryRequest { target }).await;
            Ok(tried.map_err(api_error)?.server)
        }
        (Some(_), true) => bail!("give a saved server's NAME, or --url / -- COMMAND, not both"),
        (None, false) => bail!("name a saved server, or give --url URL or `-- COMMAND ARGS...`"),
    }
}

fn opener(t: &McpTargetArgs) -> Opener<'_> {
    Opener {
        open_with: t.sign_in.open_with.as_deref(),
        wait_secs: t.sign_in.sign_in_wait_secs,
    }
}

pub async fn tools(db: &Path, a: McpToolsArgs) -> anyhow::Result<ExitCode> {
    let host = open_host(db).await?;
    stopping(host, |api| async move { tools_listed(&api, a).await }).await
}

async fn tools_listed(api: &Api, a: McpToolsArgs) -> anyhow::Result<ExitCode> {
    let server = resolve_server(api, a.name.as_deref(), &a.target).await?;
    let opener = opener(&a.target);
    let listed = with_sign_in(api, &server, &opener, || {
        api.mcp_tools(McpServerRequest {
            server: server.clone(),
        })
    })
    .await?;
    let listed = listed.map_err(api_error)?;
    let identity = match (&listed.server_name, &listed.server_version) {
        (Some(n), Some(v)) => format!("{n} {v}, "),
        (Some(n), None) => format!("{n}, "),
        _ => String::new(),
    };
    eprintln!("{identity}protocol {}", listed.protocol_version);
    let tools = listed.tools;
    let shown = a.name.as_deref().unwrap_or("the server");
    if a.json {
        emit(&json(&tools)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if tools.is_empty() {
        emit(&format!("{shown} lists no tools"))?;
        return Ok(ExitCode::SUCCESS);
    }
    let rows: Vec<Vec<String>> = tools
        .iter()
        .map(|t| {
            vec![
                t.tool.name.clone(),
                t.safety.as_str().to_string(),
                annotations(&t.tool),
                t.tool
                    .description
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

/// Runs `f` on the host's API, then stops the host (and the server processes it started),
/// whatever `f` returned.
pub(super) async fn stopping<T, F: std::future::Future<Output = T>>(
    host: Host,
    f: impl FnOnce(Api) -> F,
) -> T {
    let out = f(host.api().clone()).await;
    host.shutdown(DEFAULT_SHUTDOWN_LIMIT).await;
    out
}

pub async fn call(db: &Path, a: McpCallArgs) -> anyhow::Result<ExitCode> {
    let given = a.target.url.is_some() || !a.target.command.is_empty();
    let words = a.words.clone();
    let (name, tool, arguments) = match (given, words.as_slice()) {
        (false, [name, tool]) => (Some(name.clone()), tool.clone(), "{}".to_string()),
        (false, [name, tool, json]) => (Some(name.clone()), tool.clone(), json.clone()),
        (true, [tool]) => (None, tool.clone(), "{}".to_string()),
        (true, [tool, json]) => (None, tool.clone(), json.clone()),
        (false, _) => bail!("give NAME TOOL [JSON] (or TOOL [JSON] with --url or -- COMMAND)"),
        (true, _) => bail!("with --url or -- COMMAND, give TOOL [JSON]"),
    };
    let raw = parse_json("the arguments", &arguments)?;
    let host = open_host(db).await?;
    stopping(host, |api| async move {
        let server = resolve_server(&api, name.as_deref(), &a.target).await?;
        let shown = name.unwrap_or_else(|| "the server".to_string());
        call_checked(&api, &a, &server, &shown, &tool, raw).await
    })
    .await
}

async fn call_checked(
    api: &Api,
    a: &McpCallArgs,
    server: &str,
    shown: &str,
    tool: &str,
    raw: Value,
) -> anyhow::Result<ExitCode> {
    let opener = opener(&a.target);
    let listed = with_sign_in(api, server, &opener, || {
        api.mcp_tools(McpServerRequest {
            server: server.to_string(),
        })
    })
    .await?;
    let tools = listed.map_err(api_error)?.tools;
    if !tools.iter().any(|t| t.tool.name == tool) {
        let names: Vec<&str> = tools.iter().map(|t| t.tool.name.as_str()).collect();
        bail!(
            "MCP server {shown} has no tool named \"{tool}\"; its tools: {}",
            names.join(", ")
        );
    }
    // A string holding an object is taken as the object; the API checks the schema.
    let request = McpCallRequest {
        server: server.to_string(),
        tool: tool.to_string(),
        arguments: raw,
        unchecked: a.unchecked.then_some(true),
    };
    let limit = Duration::from_secs(a.timeout_secs);
    let called = with_sign_in(api, server, &opener, || {
        let request = request.clone();
        async move {
            match tokio::time::timeout(limit, api.mcp_call(request)).await {
                Ok(out) => out,
                Err(_) => Err(waymark_api::ApiError::new(
                    ErrorCode::Upstream,
                    format!("no answer within {}s", a.timeout_secs),
                )),
            }
        }
    })
    .await?;
    let out = match called {
        Ok(out) => out,
        Err(e) if e.code == ErrorCode::Upstream => {
            bail!("calling {shown}/{tool}: {}", e.message)
        }
        Err(e) => return Err(api_error(e)),
    };
    if a.json {
        emit(&json(&out)?)?;
    } else {
        emit(&out.text)?;
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
                .map(|(k, v)| format!("{k}={}", v))
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
