//! `waymark agents ...` and `waymark memory list`: the saved agents and their notes.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail, Context as _};
use waymark_agent::spec::ProviderKind;
use waymark_agent::AgentSpec;

use super::open_app;
use crate::cli::{
    AgentAddArgs, AgentExportArgs, AgentNameArgs, AgentShowArgs, JsonFlag, MemoryListArgs,
    SpecFormat,
};
use crate::output::{emit, json, table, time};

pub async fn add(db: &Path, a: AgentAddArgs) -> anyhow::Result<ExitCode> {
    // The spec's errors name the file and each field at fault.
    let mut spec = AgentSpec::load(&a.file).map_err(|e| anyhow!(e))?;
    anchor_script(&mut spec, &a.file)?;
    let app = open_app(db).await?;
    let replaced = app.catalog.agent(&spec.name)?.is_some();
    let summary = app.catalog.put_agent(&spec)?;
    if a.json {
        emit(&json(&summary)?)?;
    } else {
        let verb = if replaced { "updated" } else { "added" };
        emit(&format!("{verb} agent {} ({})", summary.name, summary.hash))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A scripted model's relative script path is relative to the spec file; the saved spec is
/// read from anywhere, so it keeps the absolute path.
fn anchor_script(spec: &mut AgentSpec, file: &Path) -> anyhow::Result<()> {
    if spec.model.provider != ProviderKind::Scripted {
        return Ok(());
    }
    let dir = file.parent().unwrap_or(Path::new(""));
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Some(script) = spec.model.script_path(dir) else {
        return Ok(());
    };
    let script = std::path::absolute(&script)
        .with_context(|| format!("model.script: cannot resolve {}", script.display()))?;
    if !script.is_file() {
        eprintln!(
            "warning: model.script {} does not exist yet; runs of this agent fail until it does",
            script.display()
        );
    }
    spec.model.script = Some(script);
    Ok(())
}

pub async fn list(db: &Path, a: JsonFlag) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    let agents = app.catalog.agents()?;
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
    let spec = load(db, &a.name).await?;
    let format = if a.json {
        SpecFormat::Json
    } else {
        SpecFormat::Toml
    };
    emit(&render(&spec, format)?)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn export(db: &Path, a: AgentExportArgs) -> anyhow::Result<ExitCode> {
    let format = a
        .format
        .or_else(|| a.output.as_deref().and_then(format_of))
        .unwrap_or(SpecFormat::Toml);
    let spec = load(db, &a.name).await?;
    let text = render(&spec, format)?;
    match &a.output {
        Some(path) => {
            std::fs::write(path, &text)
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("exported agent {} to {}", spec.name, path.display());
        }
        None => emit(&text)?,
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn rm(db: &Path, a: AgentNameArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    if !app.catalog.delete_agent(&a.name)? {
        bail!("no agent named \"{}\" (see `waymark agents list`)", a.name);
    }
    emit(&format!("removed agent {}", a.name))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn memory(db: &Path, a: MemoryListArgs) -> anyhow::Result<ExitCode> {
    let app = open_app(db).await?;
    let entries = app.catalog.memory(&a.agent)?;
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

async fn load(db: &Path, name: &str) -> anyhow::Result<AgentSpec> {
    let app = open_app(db).await?;
    app.catalog
        .agent(name)?
        .ok_or_else(|| anyhow!("no agent named \"{name}\" (see `waymark agents list`)"))
}

fn render(spec: &AgentSpec, format: SpecFormat) -> anyhow::Result<String> {
    Ok(match format {
        SpecFormat::Toml => spec.to_toml_string()?,
        SpecFormat::Json => spec.to_json_string()?,
    })
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
