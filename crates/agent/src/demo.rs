//! The offline demo, embedded in the binary: two agents with scripted models and the demo MCP
//! server started as `<this executable> demo-tools`. `examples/demo/` holds the same files.

use std::collections::BTreeMap;
use std::path::Path;

use crate::app::{AgentApp, AppError};
use crate::mcp_import::{McpServerDef, McpTransport};
use crate::runtime::AgentRuntimeBuilder;
use crate::secret::Secret;
use crate::spec::{AgentSpec, SpecError};

pub const DEMO_AGENT: &str = "demo-support";
pub const DEMO_SUB_AGENT: &str = "demo-researcher";
pub const DEMO_SERVER: &str = "demo-tools";
pub const DEMO_INPUT: &str = "Hi, this is Ada. When will my order A-1001 arrive?";
/// The demo's email waits for approval at this step.
pub const DEMO_APPROVAL_STEP: &str = "approval/4.1";

const SPECS: &[&str] = &[
    include_str!("../../../examples/demo/demo-support.toml"),
    include_str!("../../../examples/demo/demo-researcher.toml"),
];

const SCRIPTS: &[(&str, &str)] = &[
    (
        "demo-support.script.json",
        include_str!("../../../examples/demo/demo-support.script.json"),
    ),
    (
        "demo-researcher.script.json",
        include_str!("../../../examples/demo/demo-researcher.script.json"),
    ),
];

/// The demo's `lookup_order` fails once on purpose, so the first run shows a retry.
const DEMO_FAULTS: &str = r#"{"lookup_order": {"error_next": 1}}"#;

pub fn with_embedded_scripts(mut builder: AgentRuntimeBuilder) -> AgentRuntimeBuilder {
    for (name, text) in SCRIPTS {
        builder = builder.embedded_script(name, text);
    }
    builder
}

pub fn specs() -> Result<Vec<AgentSpec>, SpecError> {
    SPECS.iter().map(|t| AgentSpec::from_toml_str(t)).collect()
}

/// The demo server: this executable's `demo-tools` subcommand, its outbox in the data dir.
pub fn server(exe: &Path, data_dir: &Path) -> McpServerDef {
    McpServerDef {
        name: DEMO_SERVER.to_string(),
        transport: McpTransport::Stdio {
            command: exe.display().to_string(),
            args: vec![
                "demo-tools".to_string(),
                "--outbox".to_string(),
                data_dir.join("demo-outbox.jsonl").display().to_string(),
            ],
            env: BTreeMap::from([("DEMO_TOOLS_FAULTS".to_string(), Secret::new(DEMO_FAULTS))]),
            cwd: None,
        },
    }
}

/// Saves the demo agents and server (again: the executable may have moved).
pub fn install(app: &AgentApp, exe: &Path) -> Result<(), AppError> {
    let def = server(exe, &app.data_dir);
    app.catalog.put_server(&def)?;
    app.hub().set_server(def);
    for spec in specs().map_err(|e| AppError::Invalid(e.to_string()))? {
        app.catalog.put_agent(&spec)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_specs_and_scripts_are_valid() {
        let specs = specs().expect("specs");
        assert_eq!(specs.len(), 2);
        for (name, text) in SCRIPTS {
            crate::scripted::ScriptedProvider::from_json(text)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
