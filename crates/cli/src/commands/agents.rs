//! `waymark agents ...` and `waymark memory list`: the saved agents and their notes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use waymark_api::{
    AgentExportRequest, AgentImportRequest, AgentNameRequest, AgentsListRequest, ErrorCode,
    SpecFileFormat,
};

use super::{api_error, open_api};
use crate::cli::{
    AgentAddArgs, AgentExportArgs, AgentNameArgs, AgentShowArgs, JsonFlag, MemoryListArgs,
    SpecFormat,
};
use crate::output::{emit, json, table, time};

pub async fn add(db: &Path, a: AgentAddArgs) -> anyhow::Result<ExitCode> {
    let format = match a.file.extension().and_then(|e| e.to_str()) {
        Some("toml") => SpecFileFormat::Toml,
        Some("json") => SpecFileFormat::Json,
        _ => bail!(
            "{}: an agent spec must be a .toml or .json file",
            a.file.display()
        ),
    };
    let text = std::fs::read_to_string(&a.file)
        .with_context(|| format!("cannot read {}", a.file.display()))?;
    let dir = a.file.parent().unwrap_or(Path::new(""));
    let api = open_api(db).await?;
    // The API's errors name the file and each field at fault.
    let saved = api
        .agents_import(AgentImportRequest {
            text,
            format,
            file_name: Some(a.file.display().to_string()),
            base_dir: Some(dir.display().to_string()),
        })
        .await
        .map_err(api_error)?;
    for note in &saved.notes {
        eprintln!("warning: {note}");
    }
    let summary = saved.agent;
    if a.json {
        emit(&json(&summary)?)?;
    } else {
        let verb = if saved.replaced { "updated" } else { "added" };
        emit(&format!("{verb} agent {} ({})", summary.name, summary.hash))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn list(db: &Path, a: JsonFlag) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    let agents = api
        .agents_list(AgentsListRequest {})
        .await
        .map_err(api_error)?
        .agents;
    if a.json {
        emit(&json(&agents)?)?;
    } else if agents.is_empty() {
        emit("no agents; add one with `waymark agents add FILE`")?;
    } else {
        let rows: Vec<Vec<String>> = agents
            .iter()
            .map(|s| {
                vec![
                    s.name.clone(),
                    time(s.updated_at_ms),
                    one_line(&s.description),
                ]
            })
            .collect();
        emit(&table(&["NAME", "UPDATED", "DESCRIPTION"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn show(db: &Path, a: AgentShowArgs) -> anyhow::Result<ExitCode> {
    let format = if a.json {
        SpecFormat::Json
    } else {
        SpecFormat::Toml
    };
    emit(&export_text(db, &a.name, format).await?)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn export(db: &Path, a: AgentExportArgs) -> anyhow::Result<ExitCode> {
    let format = a
        .format
        .or_else(|| a.output.as_deref().and_then(format_of))
        .unwrap_or(SpecFormat::Toml);
    let text = export_text(db, &a.name, format).await?;
    match &a.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported agent {} to {}", a.name, path.display());
        }
        None => emit(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rm(db: &Path, a: AgentNameArgs) -> anyhow::Result<ExitCode> {
    let api = open_api(db).await?;
    let deleted = api
        .agents_delete(AgentNameRequest {
            name: a.name.clone(),
        })
        .await
        .map_err(api_error)?
        .deleted;
    if !deleted {
        bail!("no agent named \"{}\" (see `waymark agents list`)", a.name);
    }
    emit(&format!("removed agent {}", a.name))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn memory(db: &Path, a: MemoryListArgs) -> anyhow::Result<ExitCode> {
    let api = super::open_api(db).await?;
    let entries = api
        .memory_list(waymark_api::MemoryListRequest {
            agent: a.agent.clone(),
        })
        .await
        .map_err(super::api_error)?
        .entries;
    if a.json {
        emit(&json(&entries)?)?;
    } else if entries.is_empty() {
        emit(&format!("agent {} remembers nothing yet", a.agent))?;
    } else {
        let rows: Vec<Vec<String>> = entries
            .iter()
            .map(|e| vec![e.key.clone(), time(e.updated_at_ms), one_line(&e.value)])
            .collect();
        emit(&table(&["KEY", "UPDATED", "VALUE"], &rows))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The saved agent's file text, through the API's export.
async fn export_text(db: &Path, name: &str, format: SpecFormat) -> anyhow::Result<String> {
    let api = open_api(db).await?;
    let format = match format {
        SpecFormat::Toml => SpecFileFormat::Toml,
        SpecFormat::Json => SpecFileFormat::Json,
    };
    let out = api
        .agents_export(AgentExportRequest {
            name: name.to_string(),
            format,
        })
        .await
        .map_err(|e| match e.code {
            ErrorCode::NotFound => anyhow!("{} (see `waymark agents list`)", e.message),
            _ => api_error(e),
        })?;
    Ok(out.text)
}

fn format_of(path: &Path) -> Option<SpecFormat> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "json" => Some(SpecFormat::Json),
        "toml" => Some(SpecFormat::Toml),
        _ => None,
    }
}

/// Multi-line text squeezed onto one table row.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_export_format_follows_the_extension() {
        assert_eq!(format_of(Path::new("a.JSON")), Some(SpecFormat::Json));
        assert_eq!(format_of(Path::new("a.toml")), Some(SpecFormat::Toml));
        assert_eq!(format_of(Path::new("a")), None);
    }
}
