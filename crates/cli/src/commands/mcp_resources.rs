//! `waymark mcp resources|prompts NAME`: a server's resources and prompts, read and got by
//! hand; `waymark run --attach SERVER:URI` puts one in a run's input.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::bail;
use waymark_api::{McpGetPromptRequest, McpReadResourceRequest, McpServerRequest, RunAttachment};

use super::mcp::stopping;
use super::{api_error, open_host};
use crate::cli::{McpPromptsArgs, McpResourcesArgs, RunAgentArgs};
use crate::output::{emit, json, table};

pub async fn resources(db: &Path, a: McpResourcesArgs) -> anyhow::Result<ExitCode> {
    let host = open_host(db).await?;
    stopping(host, |api| async move {
        if let Some(uri) = &a.read {
            let read = api
                .mcp_read_resource(McpReadResourceRequest {
                    server: a.name.clone(),
                    uri: uri.clone(),
                })
                .await
                .map_err(api_error)?;
            if a.json {
                emit(&json(&read)?)?;
            } else {
                for c in &read.contents {
                    match (&c.text, &c.blob) {
                        (Some(text), _) => emit(text)?,
                        (None, Some(blob)) => emit(&format!(
                            "[{}: {} bytes of base64; --json prints it]",
                            c.mime_type.as_deref().unwrap_or("binary"),
                            blob.len()
                        ))?,
                        (None, None) => {}
                    }
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let listed = api
            .mcp_resources(McpServerRequest {
                server: a.name.clone(),
            })
            .await
            .map_err(api_error)?;
        if a.json {
            emit(&json(&listed)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        if listed.resources.is_empty() && listed.templates.is_empty() {
            emit(&format!("{} lists no resources", a.name))?;
            return Ok(ExitCode::SUCCESS);
        }
        let mut rows: Vec<Vec<String>> = listed
            .resources
            .iter()
            .map(|r| {
                vec![
                    r.uri.clone(),
                    r.mime_type.clone().unwrap_or_else(|| "-".into()),
                    r.title.clone().unwrap_or_else(|| r.name.clone()),
                ]
            })
            .collect();
        rows.extend(listed.templates.iter().map(|t| {
            vec![
                format!("{} (template)", t.uri_template),
                t.mime_type.clone().unwrap_or_else(|| "-".into()),
                t.title.clone().unwrap_or_else(|| t.name.clone()),
            ]
        }));
        emit(&table(&["URI", "TYPE", "NAME"], &rows))?;
        Ok(ExitCode::SUCCESS)
    })
    .await
}

pub async fn prompts(db: &Path, a: McpPromptsArgs) -> anyhow::Result<ExitCode> {
    let arguments = pairs(&a.args)?;
    let host = open_host(db).await?;
    stopping(host, |api| async move {
        if let Some(prompt) = &a.get {
            let got = api
                .mcp_get_prompt(McpGetPromptRequest {
                    server: a.name.clone(),
                    prompt: prompt.clone(),
                    arguments,
                })
                .await
                .map_err(api_error)?;
            emit(&if a.json { json(&got)? } else { got.text })?;
            return Ok(ExitCode::SUCCESS);
        }
        let listed = api
            .mcp_prompts(McpServerRequest {
                server: a.name.clone(),
            })
            .await
            .map_err(api_error)?;
        if a.json {
            emit(&json(&listed)?)?;
            return Ok(ExitCode::SUCCESS);
        }
        if listed.prompts.is_empty() {
            emit(&format!("{} lists no prompts", a.name))?;
            return Ok(ExitCode::SUCCESS);
        }
        let rows: Vec<Vec<String>> = listed
            .prompts
            .iter()
            .map(|p| {
                let args: Vec<String> = p
                    .arguments
                    .iter()
                    .map(|x| {
                        if x.required {
                            x.name.clone()
                        } else {
                            format!("[{}]", x.name)
                        }
                    })
                    .collect();
                vec![
                    p.name.clone(),
                    if args.is_empty() {
                        "-".into()
                    } else {
                        args.join(" ")
                    },
                    p.description.clone().unwrap_or_default(),
                ]
            })
            .collect();
        emit(&table(&["PROMPT", "ARGUMENTS", "DESCRIPTION"], &rows))?;
        Ok(ExitCode::SUCCESS)
    })
    .await
}

/// `K=V` flags as a map.
fn pairs(items: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    let mut map = BTreeMap::new();
    for item in items {
        match item.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                map.insert(k.trim().to_string(), v.to_string());
            }
            _ => bail!("a prompt argument is KEY=VALUE; {item:?} is not"),
        }
    }
    Ok(map)
}

/// `--attach SERVER:URI` and `--attach-prompt SERVER:PROMPT` as the run's attachments.
pub fn attachments(a: &RunAgentArgs) -> anyhow::Result<Vec<RunAttachment>> {
    let split = |flag: &str, value: &str| -> anyhow::Result<(String, String)> {
        match value.split_once(':') {
            Some((server, rest)) if !server.is_empty() && !rest.is_empty() => {
                Ok((server.to_string(), rest.to_string()))
            }
            _ => bail!(
                "{flag} expects SERVER:{}",
                if flag == "--attach" { "URI" } else { "PROMPT" }
            ),
        }
    };
    let arguments = pairs(&a.prompt_args)?;
    let mut out = Vec::new();
    for value in &a.attach {
        let (server, uri) = split("--attach", value)?;
        out.push(RunAttachment {
            server,
            uri: Some(uri),
            prompt: None,
            arguments: BTreeMap::new(),
        });
    }
    for value in &a.attach_prompt {
        let (server, prompt) = split("--attach-prompt", value)?;
        out.push(RunAttachment {
            server,
            uri: None,
            prompt: Some(prompt),
            arguments: arguments.clone(),
        });
    }
    Ok(out)
}
