//! `${env:NAME}` in a server definition is a reference, not a value: it is stored as written
//! (so the value never reaches the database) and resolved from Waymark's environment only
//! when the server is connected. The consent listing names each reference and where its
//! value would be sent.

use std::collections::BTreeMap;

use super::{shell_word, McpServerDef, McpTransport, SecretValue};

/// One `${env:NAME}` in a server definition: which variable, in which field, sent where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvUse {
    pub variable: String,
    pub server: String,
    /// The field holding it: `command`, `args[1]`, `cwd`, `env.API_KEY`, `url`,
    /// `headers.Authorization`.
    pub field: String,
    /// Where the value goes: the URL of an http server (its URL and headers are sent there),
    /// or the command line a stdio server is started with (it gets its args and env).
    pub destination: String,
    /// Whether Waymark's environment has the variable now.
    pub is_set: bool,
}

/// A reference whose variable is unset when the server is connected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the environment variable {variable} is not set (server \"{server}\" uses ${{env:{variable}}} in {field}); set it in Waymark's environment or edit the server")]
pub struct MissingEnvVar {
    pub variable: String,
    pub server: String,
    pub field: String,
}

/// The pieces of `text`: literal text and `${env:NAME}` references, in order.
enum Piece<'a> {
    Text(&'a str),
    Env(&'a str),
}

fn pieces(text: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${env:") {
        let after = &rest[start + 6..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if name.is_empty() {
            // `${env:}` names nothing: literal text.
            out.push(Piece::Text(&rest[..start + 7 + end]));
        } else {
            if start > 0 {
                out.push(Piece::Text(&rest[..start]));
            }
            out.push(Piece::Env(name));
        }
        rest = &after[end + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    out
}

/// The variables `text` refers to, in order, each once.
pub fn variables(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in pieces(text) {
        if let Piece::Env(name) = p {
            if !out.iter().any(|n| n == name) {
                out.push(name.to_string());
            }
        }
    }
    out
}

/// `text` with each `${env:NAME}` replaced by `env(NAME)`, each value registered as a secret
/// to redact; the first unset name is the error.
pub fn resolve(text: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    for p in pieces(text) {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Env(name) => {
                let value = env(name).ok_or_else(|| name.to_string())?;
                // Whatever field it lands in (an arg, a URL), it is blanked out of the
                // server's stderr and errors like any other secret.
                crate::redact::register(&value);
                out.push_str(&value);
            }
        }
    }
    Ok(out)
}

/// A possibly secret value as shown: `***` when it refers to no variable; else its
/// references by name, with literal text masked except an auth scheme word (`Bearer `), so
/// `Bearer ${env:GITHUB_TOKEN}` shows as written and `Bearer sk-…` as `***`.
pub(super) fn masked_value(value: &str) -> String {
    let ps = pieces(value);
    if !ps.iter().any(|p| matches!(p, Piece::Env(_))) {
        return "***".into();
    }
    ps.iter()
        .map(|p| match p {
            Piece::Env(name) => format!("${{env:{name}}}"),
            Piece::Text(t) if is_scheme_word(t) => t.to_string(),
            Piece::Text(_) => "***".into(),
        })
        .collect()
}

fn is_scheme_word(t: &str) -> bool {
    t.strip_suffix(' ').is_some_and(|w| {
        !w.is_empty() && w.len() <= 16 && w.chars().all(|c| c.is_ascii_alphabetic())
    })
}

impl McpServerDef {
    /// Where this server is sent its values: its URL, or its command line.
    pub fn destination(&self) -> String {
        match &self.transport {
            McpTransport::Stdio { command, args, .. } => {
                let mut line = shell_word(command);
                for a in args {
                    line.push(' ');
                    line.push_str(&shell_word(a));
                }
                line
            }
            McpTransport::Http { url, .. } => url.clone(),
        }
    }

    /// Every `${env:NAME}` in the definition, field by field, with `env` telling which are set.
    pub fn env_uses(&self, env: &dyn Fn(&str) -> Option<String>) -> Vec<EnvUse> {
        let mut fields: Vec<(String, &str)> = Vec::new();
        match &self.transport {
            McpTransport::Stdio {
                command,
                args,
                env: vars,
                cwd,
            } => {
                fields.push(("command".into(), command));
                for (i, a) in args.iter().enumerate() {
                    fields.push((format!("args[{i}]"), a));
                }
                if let Some(cwd) = cwd {
                    fields.push(("cwd".into(), cwd));
                }
                for (k, v) in vars {
                    fields.push((format!("env.{k}"), v.expose()));
                }
            }
            McpTransport::Http { url, headers, .. } => {
                fields.push(("url".into(), url));
                for (k, v) in headers {
                    fields.push((format!("headers.{k}"), v.expose()));
                }
            }
        }
        let destination = self.destination();
        let mut out = Vec::new();
        for (field, text) in fields {
            for variable in variables(text) {
                out.push(EnvUse {
                    is_set: env(&variable).is_some(),
                    variable,
                    server: self.name.clone(),
                    field: field.clone(),
                    destination: destination.clone(),
                });
            }
        }
        out
    }

    /// The definition with every `${env:NAME}` replaced from `env`: what a connection uses.
    /// The result holds the values, so it is never stored.
    pub fn resolve_env(
        &self,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<McpServerDef, MissingEnvVar> {
        let missing = |field: String| {
            move |variable: String| MissingEnvVar {
                variable,
                server: self.name.clone(),
                field,
            }
        };
        let one = |field: &str, text: &str| resolve(text, env).map_err(missing(field.into()));
        let map = |prefix: &str, values: &BTreeMap<String, SecretValue>| {
            values
                .iter()
                .map(|(k, v)| {
                    let value = one(&format!("{prefix}.{k}"), v.expose())?;
                    Ok((k.clone(), SecretValue::new(value)))
                })
                .collect::<Result<BTreeMap<_, _>, MissingEnvVar>>()
        };
        let transport = match &self.transport {
            McpTransport::Stdio {
                command,
                args,
                env: vars,
                cwd,
            } => McpTransport::Stdio {
                command: one("command", command)?,
                args: args
                    .iter()
                    .enumerate()
                    .map(|(i, a)| one(&format!("args[{i}]"), a))
                    .collect::<Result<_, _>>()?,
                env: map("env", vars)?,
                cwd: cwd.as_deref().map(|c| one("cwd", c)).transpose()?,
            },
            McpTransport::Http {
                url,
                headers,
                oauth,
            } => McpTransport::Http {
                url: one("url", url)?,
                headers: map("headers", headers)?,
                oauth: oauth.clone(),
            },
        };
        Ok(McpServerDef {
            name: self.name.clone(),
            transport,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_and_names_the_missing_variable() {
        let env = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(
            resolve("x${env:A}y${env:}z", &env).as_deref(),
            Ok("x1y${env:}z")
        );
        assert_eq!(resolve("${env:B}", &env), Err("B".to_string()));
        assert_eq!(variables("${env:A}-${env:B}-${env:A}"), vec!["A", "B"]);
    }

    #[test]
    fn masks_literal_text_but_shows_references() {
        assert_eq!(masked_value("Bearer sk-1"), "***");
        assert_eq!(masked_value("Bearer ${env:T}"), "Bearer ${env:T}");
        assert_eq!(masked_value("sk-${env:T}"), "***${env:T}");
        assert_eq!(masked_value("${input:x}"), "***");
    }
}
