//! Agents: saved specs, their versions, import and export.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use waymark_agent::AgentSpec;

use crate::commands::DeletedResponse;
use crate::{Api, ApiError, ErrorCode};

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct AgentsListRequest {}

/// One saved agent as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentSummary {
    pub name: String,
    pub description: String,
    /// The current version's content hash.
    pub hash: String,
    pub updated_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentsListResponse {
    pub agents: Vec<AgentSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentNameRequest {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentVersion {
    pub hash: String,
    pub created_at_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentGetResponse {
    /// The spec, as in docs/agent-spec.md (JSON form).
    pub spec: AgentSpec,
    pub hash: String,
    /// Every saved version, oldest first.
    pub versions: Vec<AgentVersion>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentSaveRequest {
    /// The spec, as in docs/agent-spec.md (JSON form). Plain JSON rather than an `AgentSpec`,
    /// so that a malformed spec is refused by `agents_save` naming the field at fault.
    pub spec: Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentSaveResponse {
    pub agent: AgentSummary,
    /// An agent of this name existed and this is its new version.
    pub replaced: bool,
    /// What the user should know (a scripted model's script that does not exist yet).
    pub notes: Vec<String>,
}

#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum SpecFileFormat {
    #[default]
    Toml,
    Json,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentExportRequest {
    pub name: String,
    #[serde(default)]
    pub format: SpecFileFormat,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct AgentExportResponse {
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AgentImportRequest {
    /// The file's text.
    pub text: String,
    pub format: SpecFileFormat,
    /// Names the file in errors.
    #[serde(default)]
    #[ts(optional)]
    pub file_name: Option<String>,
    /// The folder the file is in: a scripted model's relative script path is relative to it,
    /// and saved as an absolute path (the saved spec is read from anywhere).
    #[serde(default)]
    #[ts(optional)]
    pub base_dir: Option<String>,
}

fn summary(s: waymark_agent::catalog::AgentSummary) -> AgentSummary {
    AgentSummary {
        name: s.name,
        description: s.description,
        hash: s.hash,
        updated_at_ms: s.updated_at_ms,
    }
}

/// A spec error as an API error, naming the first field at fault.
fn spec_error(e: waymark_agent::SpecError, prefix: &str) -> ApiError {
    let at = match &e {
        waymark_agent::SpecError::Parse { field: Some(f), .. } => Some(f.clone()),
        _ => e.problems().first().map(|p| p.field.clone()),
    };
    let field = match at {
        Some(f) => format!("{prefix}{f}"),
        None => prefix.trim_end_matches(['.', ':', ' ']).to_string(),
    };
    ApiError {
        code: ErrorCode::InvalidInput,
        message: e.to_string(),
        field: Some(field),
    }
}

impl Api {
    pub async fn agents_list(&self, _: AgentsListRequest) -> Result<AgentsListResponse, ApiError> {
        let agents = self.app().catalog.agents()?;
        Ok(AgentsListResponse {
            agents: agents.into_iter().map(summary).collect(),
        })
    }

    pub async fn agents_get(&self, req: AgentNameRequest) -> Result<AgentGetResponse, ApiError> {
        let catalog = &self.app().catalog;
        let spec = catalog
            .agent(&req.name)?
            .ok_or_else(|| ApiError::not_found(format!("no agent named \"{}\"", req.name)))?;
        let versions = catalog
            .agent_versions(&req.name)?
            .into_iter()
            .map(|v| AgentVersion {
                hash: v.hash,
                created_at_ms: v.created_at_ms,
            })
            .collect();
        Ok(AgentGetResponse {
            hash: spec.content_hash(),
            spec,
            versions,
        })
    }

    pub async fn agents_save(&self, req: AgentSaveRequest) -> Result<AgentSaveResponse, ApiError> {
        let text = req.spec.to_string();
        let spec = AgentSpec::from_json_str(&text).map_err(|e| spec_error(e, "spec."))?;
        self.save(spec, "spec.")
    }

    /// `prefix` is where the spec is in the request, for the field of an error.
    fn save(&self, spec: AgentSpec, prefix: &str) -> Result<AgentSaveResponse, ApiError> {
        spec.validate().map_err(|e| spec_error(e, prefix))?;
        // A key from the environment may go only to a host the user allowed for it: an
        // imported or drafted spec naming another pair is refused here, not at its first run.
        self.app()
            .runtime
            .check_env_key(&spec.model)
            .map_err(|e| ApiError::invalid(format!("{prefix}model.api_key_env"), e.to_string()))?;
        let replaced = self.app().catalog.agent(&spec.name)?.is_some();
        let saved = self.app().catalog.put_agent(&spec)?;
        Ok(AgentSaveResponse {
            agent: summary(saved),
            replaced,
            notes: Vec::new(),
        })
    }

    /// A spec (JSON form, as `agents_draft` returns it) as the TOML file `agents_export`
    /// writes.
    pub fn spec_as_toml(&self, spec: Value) -> Result<String, ApiError> {
        let spec =
            AgentSpec::from_json_str(&spec.to_string()).map_err(|e| spec_error(e, "spec."))?;
        spec.to_toml_string()
            .map_err(|e| ApiError::internal(e.to_string()))
    }

    pub async fn agents_delete(&self, req: AgentNameRequest) -> Result<DeletedResponse, ApiError> {
        Ok(DeletedResponse {
            deleted: self.app().catalog.delete_agent(&req.name)?,
        })
    }

    pub async fn agents_export(
        &self,
        req: AgentExportRequest,
    ) -> Result<AgentExportResponse, ApiError> {
        let spec = self
            .app()
            .catalog
            .agent(&req.name)?
            .ok_or_else(|| ApiError::not_found(format!("no agent named \"{}\"", req.name)))?;
        let text = match req.format {
            SpecFileFormat::Toml => spec.to_toml_string(),
            SpecFileFormat::Json => spec.to_json_string(),
        }
        .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(AgentExportResponse { text })
    }

    pub async fn agents_import(
        &self,
        req: AgentImportRequest,
    ) -> Result<AgentSaveResponse, ApiError> {
        let parsed = match req.format {
            SpecFileFormat::Toml => AgentSpec::from_toml_str(&req.text),
            SpecFileFormat::Json => AgentSpec::from_json_str(&req.text),
        };
        let mut spec = parsed.map_err(|e| {
            let e = match &req.file_name {
                Some(f) => e.in_file(std::path::Path::new(f)),
                None => e,
            };
            spec_error(e, "text.")
        })?;
        let mut notes = Vec::new();
        if let Some(dir) = &req.base_dir {
            notes.extend(anchor_script(&mut spec, std::path::Path::new(dir))?);
        }
        let mut saved = self.save(spec, "text.")?;
        saved.notes = notes;
        Ok(saved)
    }
}

/// A scripted model's relative script path, made absolute against `dir`; a note when the
/// script does not exist (yet).
fn anchor_script(spec: &mut AgentSpec, dir: &std::path::Path) -> Result<Option<String>, ApiError> {
    if spec.model.provider != waymark_agent::spec::ProviderKind::Scripted {
        return Ok(None);
    }
    let dir = if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    };
    let Some(script) = spec.model.script_path(dir) else {
        return Ok(None);
    };
    let script = std::path::absolute(&script).map_err(|e| {
        ApiError::invalid(
            "text.model.script",
            format!("model.script: cannot resolve {}: {e}", script.display()),
        )
    })?;
    let note = (!script.is_file()).then(|| {
        format!(
            "model.script {} does not exist yet; runs of this agent fail until it does",
            script.display()
        )
    });
    spec.model.script = Some(script);
    Ok(note)
}
