//! From the JSON value to [`ImportedConfig`]: field types checked with their JSON paths,
//! `${…}` placeholders replaced.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

use super::{ConfigFormat, ImportError, ImportedConfig, McpServerDef, McpTransport, SecretValue};

struct Ctx<'a> {
    file: &'a str,
    workspace: Option<&'a Path>,
    inputs: Vec<String>,
    notes: Vec<String>,
}

impl Ctx<'_> {
    fn field(&self, path: &str, message: impl Into<String>) -> ImportError {
        ImportError::Field {
            file: self.file.to_string(),
            path: path.to_string(),
            message: message.into(),
        }
    }

    /// `text` with `${workspaceFolder}` replaced; `${env:NAME}` (a reference resolved when the
    /// server is connected), `${input:id}` and any other `${…}` stay as written.
    fn substitute(&mut self, text: &str, server: &str, path: &str) -> Result<String, ImportError> {
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                return Ok(out);
            };
            let var = &after[..end];
            if var == "workspaceFolder" {
                let Some(ws) = self.workspace else {
                    return Err(ImportError::NoWorkspaceFolder {
                        file: self.file.to_string(),
                        server: server.to_string(),
                        path: path.to_string(),
                    });
                };
                out.push_str(&ws.display().to_string());
            } else {
                if let Some(id) = var.strip_prefix("input:") {
                    if !self.inputs.iter().any(|known| known == id) {
                        self.inputs.push(id.to_string());
                    }
                }
                out.push_str(&rest[start..start + 2 + end + 1]);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn string(&mut self, v: &Value, server: &str, path: &str) -> Result<String, ImportError> {
        match v {
            Value::String(s) => self.substitute(s, server, path),
            _ => Err(self.field(path, "must be a string")),
        }
    }

    fn opt_string(
        &mut self,
        obj: &Map<String, Value>,
        key: &str,
        server: &str,
        path: &str,
    ) -> Result<Option<String>, ImportError> {
        match obj.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.string(v, server, &format!("{path}.{key}")).map(Some),
        }
    }

    fn strings(&mut self, v: &Value, server: &str, path: &str) -> Result<Vec<String>, ImportError> {
        let Value::Array(items) = v else {
            return Err(self.field(path, "must be an array of strings"));
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            out.push(self.string(item, server, &format!("{path}[{i}]"))?);
        }
        Ok(out)
    }

    fn secrets(
        &mut self,
        v: Option<&Value>,
        server: &str,
        path: &str,
    ) -> Result<BTreeMap<String, SecretValue>, ImportError> {
        let obj = match v {
            None | Some(Value::Null) => return Ok(BTreeMap::new()),
            Some(Value::Object(obj)) => obj,
            Some(_) => return Err(self.field(path, "must be an object of strings")),
        };
        let mut out = BTreeMap::new();
        for (key, value) in obj {
            let value_path = format!("{path}{}", key_path(key));
            let value = match value {
                // Claude Desktop users write numbers and booleans as env values; keep them as text.
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => self.string(value, server, &value_path)?,
            };
            out.insert(key.clone(), SecretValue::new(value));
        }
        Ok(out)
    }

    fn server(&mut self, name: &str, v: &Value, path: &str) -> Result<McpServerDef, ImportError> {
        let Value::Object(obj) = v else {
            return Err(self.field(path, "must be an object"));
        };
        let kind = match obj.get("type") {
            None | Some(Value::Null) => None,
            Some(Value::String(t)) => Some(t.as_str()),
            Some(_) => return Err(self.field(&format!("{path}.type"), "must be a string")),
        };
        let stdio = match kind {
            Some("stdio") => true,
            Some("http") => false,
            Some("sse") => {
                self.notes.push(format!(
                    "{path}.type \"sse\" imported as http (SSE is the older HTTP transport)"
                ));
                false
            }
            Some(other) => {
                return Err(self.field(
                    &format!("{path}.type"),
                    format!("must be \"stdio\", \"http\" or \"sse\", not \"{other}\""),
                ))
            }
            None => match (obj.contains_key("command"), obj.contains_key("url")) {
                (true, false) => true,
                (false, true) => false,
                (true, true) => {
                    return Err(self.field(
                        path,
                        "has both \"command\" and \"url\"; give \"type\" or keep one",
                    ))
                }
                (false, false) => {
                    return Err(self.field(
                        path,
                        "must have a \"command\" (stdio server) or a \"url\" (http server)",
                    ))
                }
            },
        };
        if obj.contains_key("envFile") {
            self.notes.push(format!(
                "{path}.envFile not imported: set those variables in \"env\" instead"
            ));
        }
        let transport = if stdio {
            let command = self
                .opt_string(obj, "command", name, path)?
                .ok_or_else(|| self.field(&format!("{path}.command"), "is missing"))?;
            let args = match obj.get("args") {
                None | Some(Value::Null) => Vec::new(),
                Some(v) => self.strings(v, name, &format!("{path}.args"))?,
            };
            let env = self.secrets(obj.get("env"), name, &format!("{path}.env"))?;
            let cwd = self.opt_string(obj, "cwd", name, path)?;
            McpTransport::Stdio {
                command,
                args,
                env,
                cwd,
            }
        } else {
            let url = self
                .opt_string(obj, "url", name, path)?
                .ok_or_else(|| self.field(&format!("{path}.url"), "is missing"))?;
            let headers = self.secrets(obj.get("headers"), name, &format!("{path}.headers"))?;
            McpTransport::Http {
                url,
                headers,
                oauth: Default::default(),
            }
        };
        Ok(McpServerDef {
            name: name.to_string(),
            transport,
        })
    }
}

/// `.key`, or `["key"]` when the key is not a plain identifier.
fn key_path(key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if plain {
        format!(".{key}")
    } else {
        format!("[{}]", Value::String(key.to_string()))
    }
}

pub(super) fn config(
    value: &Value,
    file: &str,
    env: &dyn Fn(&str) -> Option<String>,
    workspace: Option<&Path>,
) -> Result<ImportedConfig, ImportError> {
    let unknown = || ImportError::UnknownFormat {
        file: file.to_string(),
    };
    let Value::Object(top) = value else {
        return Err(unknown());
    };
    let (format, key) = if top.contains_key("mcpServers") {
        (ConfigFormat::ClaudeDesktop, "mcpServers")
    } else if top.contains_key("servers") {
        (ConfigFormat::VsCode, "servers")
    } else {
        return Err(unknown());
    };
    let mut ctx = Ctx {
        file,
        workspace,
        inputs: Vec::new(),
        notes: Vec::new(),
    };
    let Some(Value::Object(entries)) = top.get(key) else {
        return Err(ctx.field(key, "must be an object, one entry per server"));
    };
    let mut servers = Vec::with_capacity(entries.len());
    for (name, entry) in entries {
        let path = format!("{key}{}", key_path(name));
        servers.push(ctx.server(name, entry, &path)?);
    }
    let env_uses = servers.iter().flat_map(|s| s.env_uses(env)).collect();
    Ok(ImportedConfig {
        format,
        servers,
        unresolved_inputs: ctx.inputs,
        env_uses,
        notes: ctx.notes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(ws: Option<&Path>) -> Ctx<'_> {
        Ctx {
            file: "f.json",
            workspace: ws,
            inputs: Vec::new(),
            notes: Vec::new(),
        }
    }

    #[test]
    fn substitutes_workspace_and_keeps_env_and_inputs() {
        let mut c = ctx(Some(Path::new("/w")));
        let out = c.substitute(
            "${env:K}-${workspaceFolder}/${input:a}${input:a}${x} ${",
            "s",
            "p",
        );
        assert_eq!(
            out.ok().as_deref(),
            Some("${env:K}-/w/${input:a}${input:a}${x} ${")
        );
        assert_eq!(c.inputs, vec!["a".to_string()]);
    }

    #[test]
    fn missing_workspace_is_an_error() {
        let mut c = ctx(None);
        let e = c.substitute("${workspaceFolder}", "srv", "servers.srv.cwd");
        assert!(matches!(e, Err(ImportError::NoWorkspaceFolder { .. })));
    }

    #[test]
    fn odd_keys_are_quoted_in_paths() {
        assert_eq!(key_path("fs"), ".fs");
        assert_eq!(key_path("my.server"), "[\"my.server\"]");
    }
}
