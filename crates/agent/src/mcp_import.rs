//! `waymark mcp import FILE`: MCP server definitions from the config files people already have.
//!
//! * Claude Desktop / Cursor: `{"mcpServers": {name: {command, args, env, cwd} | {url, headers}}}`.
//! * VS Code `.vscode/mcp.json`: `{"servers": {name: {type: "stdio"|"http"|"sse", ...}},
//!   "inputs": [...]}`, JSON with comments and trailing commas.
//!
//! The format is told by the top-level key. In both, `${workspaceFolder}` is replaced from the
//! workspace folder given; `${env:NAME}` is kept as written, a reference resolved only when the
//! server is connected (so the value never reaches the database), and listed in
//! [`ImportedConfig::env_uses`] with where its value would be sent; `${input:id}` is left as
//! written and listed in [`ImportedConfig::unresolved_inputs`] so the UI can ask for it. Env
//! values of stdio servers and header values of http servers are [`SecretValue`]s: they print
//! as `***` (their `${env:NAME}` references by name), and the caller moves them to the
//! keychain, never to the database. Every error names the file and the JSON path of the field
//! at fault.

mod env_ref;
mod jsonc;
mod parse;

pub use env_ref::{EnvUse, MissingEnvVar};

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// A value the user gave that may be a secret (an env value, a header value): the raw text is
/// kept, Debug and Display print `***`.
pub type SecretValue = crate::secret::Secret;

/// Which file format a config was read as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigFormat {
    /// Claude Desktop's `claude_desktop_config.json`, also Cursor's `mcp.json`: `mcpServers`.
    ClaudeDesktop,
    /// VS Code's `.vscode/mcp.json`: `servers`, `inputs`.
    VsCode,
}

/// One MCP server as imported.
#[derive(Clone, Debug, PartialEq)]
pub struct McpServerDef {
    pub name: String,
    pub transport: McpTransport,
}

/// Debug shows names, never values: env and header values print as `[redacted]`, the URL
/// without credentials or query, and arguments with known secrets blanked out.
#[derive(Clone, PartialEq)]
pub enum McpTransport {
    /// A process the host starts, speaking MCP on stdin/stdout.
    Stdio {
        command: String,
        args: Vec<String>,
        env: BTreeMap<String, SecretValue>,
        cwd: Option<String>,
    },
    /// A remote server (streamable HTTP; VS Code's legacy `sse` type lands here too).
    Http {
        url: String,
        headers: BTreeMap<String, SecretValue>,
        /// How the server is signed in to when it asks for OAuth (the default: on its 401,
        /// with dynamic registration where the server offers it).
        oauth: crate::mcp::OAuthClientSettings,
    },
}

impl fmt::Debug for McpTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::redact::{scrub, url_for_display, REDACTED};
        let names = |map: &BTreeMap<String, SecretValue>| -> BTreeMap<String, &'static str> {
            map.keys().map(|k| (k.clone(), REDACTED)).collect()
        };
        match self {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => f
                .debug_struct("Stdio")
                .field("command", command)
                .field("args", &args.iter().map(|a| scrub(a)).collect::<Vec<_>>())
                .field("env", &names(env))
                .field("cwd", cwd)
                .finish(),
            McpTransport::Http {
                url,
                headers,
                oauth,
            } => f
                .debug_struct("Http")
                .field("url", &url_for_display(url))
                .field("headers", &names(headers))
                .field("oauth", oauth)
                .finish(),
        }
    }
}

/// What a config file holds.
#[derive(Clone, Debug, PartialEq)]
pub struct ImportedConfig {
    pub format: ConfigFormat,
    /// Sorted by name.
    pub servers: Vec<McpServerDef>,
    /// The ids of VS Code `${input:id}` placeholders, each once, in order of first use; they are
    /// left in the values as written.
    pub unresolved_inputs: Vec<String>,
    /// Every `${env:NAME}` reference, server by server: the variable, the field, where its
    /// value would be sent, and whether it is set now (the lookup given to the import).
    pub env_uses: Vec<EnvUse>,
    /// Things the import changed or left out, one line each, to show with the listing
    /// (e.g. `servers.legacy.type "sse" imported as http`).
    pub notes: Vec<String>,
}

/// Why a config file could not be imported. Each message starts with the file's name.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{file}: cannot read the file: {source}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: invalid JSON at line {line}, column {column}: {message}")]
    Syntax {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{file}: {path} {message}")]
    Field {
        file: String,
        /// The JSON path of the field, e.g. `mcpServers.fs.args`.
        path: String,
        message: String,
    },
    #[error("{file}: not an MCP config: expected an object with a top-level \"mcpServers\" (Claude Desktop, Cursor) or \"servers\" (VS Code) object")]
    UnknownFormat { file: String },
    #[error("{file}: {path}: server \"{server}\" uses ${{workspaceFolder}}, but no workspace folder is known; import from the workspace's .vscode/mcp.json or give the folder")]
    NoWorkspaceFolder {
        file: String,
        server: String,
        path: String,
    },
}

/// Reads and parses `path`, telling which `${env:…}` are set from the process environment. The workspace
/// folder is the parent of a `.vscode` directory holding the file, if it is in one.
pub fn import_file(path: impl AsRef<Path>) -> Result<ImportedConfig, ImportError> {
    let path = path.as_ref();
    let workspace = workspace_of(path);
    import_file_with(path, &|name| std::env::var(name).ok(), workspace.as_deref())
}

/// [`import_file`] with the environment lookup and workspace folder given.
pub fn import_file_with(
    path: &Path,
    env: &dyn Fn(&str) -> Option<String>,
    workspace_folder: Option<&Path>,
) -> Result<ImportedConfig, ImportError> {
    let origin = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| ImportError::Read {
        file: origin.clone(),
        source,
    })?;
    import_str_with(&text, &origin, env, workspace_folder)
}

/// Parses a config held in memory; `origin_name` names it in errors. Which `${env:…}` are set
/// is told from the process environment; `${workspaceFolder}` is an error.
pub fn import_str(text: &str, origin_name: &str) -> Result<ImportedConfig, ImportError> {
    import_str_with(text, origin_name, &|name| std::env::var(name).ok(), None)
}

/// Parses a config held in memory, `${env:NAME}` looked up with `env` (only to tell whether it
/// is set), `${workspaceFolder}` replaced by `workspace_folder`.
pub fn import_str_with(
    text: &str,
    origin_name: &str,
    env: &dyn Fn(&str) -> Option<String>,
    workspace_folder: Option<&Path>,
) -> Result<ImportedConfig, ImportError> {
    let value: serde_json::Value =
        serde_json::from_str(&jsonc::strip(text)).map_err(|e| ImportError::Syntax {
            file: origin_name.to_string(),
            line: e.line(),
            column: e.column(),
            message: syntax_message(&e),
        })?;
    parse::config(&value, origin_name, env, workspace_folder)
}

/// serde_json's message without its own " at line L column C" tail (the error says it).
fn syntax_message(e: &serde_json::Error) -> String {
    let text = e.to_string();
    let tail = format!(" at line {} column {}", e.line(), e.column());
    text.strip_suffix(&tail).unwrap_or(&text).to_string()
}

fn workspace_of(path: &Path) -> Option<PathBuf> {
    let dir = path.parent()?;
    if dir.file_name()? != ".vscode" {
        return None;
    }
    let workspace = dir.parent()?;
    let workspace = if workspace.as_os_str().is_empty() {
        Path::new(".")
    } else {
        workspace
    };
    Some(std::path::absolute(workspace).unwrap_or_else(|_| workspace.to_path_buf()))
}

impl McpServerDef {
    /// One line for the consent listing, secrets as `***` and references by name:
    /// `fs: npx -y @modelcontextprotocol/server-filesystem /tmp (env: API_KEY=***)`.
    pub fn describe(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for McpServerDef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.name)?;
        let mut extras = Vec::new();
        match &self.transport {
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            } => {
                f.write_str(&shell_word(command))?;
                for arg in args {
                    write!(f, " {}", shell_word(arg))?;
                }
                if let Some(cwd) = cwd {
                    extras.push(format!("cwd: {}", shell_word(cwd)));
                }
                if !env.is_empty() {
                    extras.push(format!("env: {}", masked(env)));
                }
            }
            McpTransport::Http { url, headers, .. } => {
                write!(f, "{url}")?;
                if !headers.is_empty() {
                    extras.push(format!("headers: {}", masked(headers)));
                }
            }
        }
        if !extras.is_empty() {
            write!(f, " ({})", extras.join("; "))?;
        }
        Ok(())
    }
}

fn masked(values: &BTreeMap<String, SecretValue>) -> String {
    let pairs: Vec<String> = values
        .iter()
        .map(|(k, v)| format!("{k}={}", env_ref::masked_value(v.expose())))
        .collect();
    pairs.join(", ")
}

/// The word as a shell would need it: quoted when empty or holding spaces or quotes.
pub(crate) fn shell_word(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| !c.is_whitespace() && !matches!(c, '\'' | '"' | '\\' | '$' | '`'));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_masks_secrets_and_quotes_words() {
        let def = McpServerDef {
            name: "fs".into(),
            transport: McpTransport::Stdio {
                command: "npx".into(),
                args: vec!["-y".into(), "my dir".into()],
                env: BTreeMap::from([("API_KEY".into(), SecretValue::new("sk-1"))]),
                cwd: None,
            },
        };
        assert_eq!(def.describe(), "fs: npx -y 'my dir' (env: API_KEY=***)");
        assert!(!format!("{def:?}").contains("sk-1"));
    }

    #[test]
    fn workspace_is_the_parent_of_dot_vscode() {
        let ws = workspace_of(Path::new("/p/.vscode/mcp.json"));
        assert_eq!(ws.as_deref(), Some(Path::new("/p")));
        assert_eq!(workspace_of(Path::new("/p/mcp.json")), None);
    }
}
