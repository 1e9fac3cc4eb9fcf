//! Tool-call arguments checked against the tool's `inputSchema` before the call.
//!
//! A model that sends wrong arguments gets the violations back as a tool error and may repair
//! them; after a bounded number of repairs the step fails with the last violations. Checking is
//! done by the `jsonschema` crate (MCP schemas are draft 2020-12 or draft-07), never by hand.

use std::fmt;

use jsonschema::error::ValidationErrorKind;
use jsonschema::{Draft, ValidationError, Validator};
use serde_json::{Map, Value};
use waymark_engine::StepError;

/// The `StepError` kind of a step that ran out of repairs.
pub const INVALID_ARGUMENTS: &str = "invalid_arguments";

/// A library message quotes the offending value; a long value would flood the model's context.
const MAX_MESSAGE_CHARS: usize = 200;

/// The schema a tool declared could not be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the input schema of tool {tool} is invalid: {reason}")]
pub struct SchemaError {
    pub tool: String,
    pub reason: String,
}

/// One way the arguments break the schema.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Violation {
    /// JSON pointer of the argument (`/a`, `/options/mode`); `""` for the arguments as a whole.
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Our own messages ("is required") are predicates of the path; the library's quote the
        // value ("\"1\" is not of type ...") and read better after a colon. A root violation's
        // message is a whole sentence on its own.
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else if self.message.starts_with("is ") {
            write!(f, "{} {}", self.path, self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// All violations of one call's arguments, sorted by path so the text is stable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.to_model_message())]
pub struct ArgumentViolations {
    pub tool: String,
    pub violations: Vec<Violation>,
}

impl ArgumentViolations {
    fn new(tool: &str, mut violations: Vec<Violation>) -> Self {
        violations.sort();
        violations.dedup();
        ArgumentViolations {
            tool: tool.to_string(),
            violations,
        }
    }

    /// The tool error handed back to the model: names every violation and asks for a new call.
    pub fn to_model_message(&self) -> String {
        format!(
            "{}. Call the tool again with corrected arguments.",
            self.summary()
        )
    }

    /// The violations without the plea to the model: what a failed step reports.
    pub fn summary(&self) -> String {
        let listed: Vec<String> = self.violations.iter().map(ToString::to_string).collect();
        format!(
            "Arguments for {} do not match its input schema: {}",
            self.tool,
            listed.join("; ")
        )
    }
}

/// A tool's input schema, compiled once and used for every call of that tool.
pub struct ArgumentValidator {
    tool: String,
    validator: Validator,
}

impl fmt::Debug for ArgumentValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArgumentValidator")
            .field("tool", &self.tool)
            .finish_non_exhaustive()
    }
}

impl ArgumentValidator {
    /// Compiles `schema`. Without `$schema` it is read as draft 2020-12 (what MCP specifies);
    /// with one, the draft it names wins (draft-07 servers are common). Remote `$ref`s are
    /// refused: we run offline, and a schema must not make a tool call wait on the network.
    pub fn new(tool_name: &str, schema: &Value) -> Result<Self, SchemaError> {
        let schema_error = |reason: String| SchemaError {
            tool: tool_name.to_string(),
            reason,
        };
        let mut options = jsonschema::options().offline();
        match schema.get("$schema") {
            None => options = options.with_draft(Draft::Draft202012),
            // An unknown meta-schema would otherwise be looked up (and refused) with a vaguer
            // error; name it here.
            Some(Value::String(uri)) if !known_meta_schema(uri) => {
                return Err(schema_error(format!("unsupported $schema {uri:?}")));
            }
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(schema_error(format!(
                    "$schema must be a string, got {other}"
                )))
            }
        }
        // A schema failing its meta-schema is reported with the place in the schema at fault.
        let validator = options.build(schema).map_err(|e| {
            let at = e.instance_path().as_str();
            schema_error(if at.is_empty() {
                e.to_string()
            } else {
                format!("at {at}: {e}")
            })
        })?;
        Ok(ArgumentValidator {
            tool: tool_name.to_string(),
            validator,
        })
    }

    pub fn tool(&self) -> &str {
        &self.tool
    }

    /// Checks arguments that are already an object (see [`normalize_arguments`]).
    pub fn check(&self, arguments: &Value) -> Result<(), ArgumentViolations> {
        let violations: Vec<Violation> = self
            .validator
            .iter_errors(arguments)
            .flat_map(|e| violations_of(&e))
            .collect();
        if violations.is_empty() {
            Ok(())
        } else {
            Err(ArgumentViolations::new(&self.tool, violations))
        }
    }

    /// Normalizes the arguments as the model sent them, then checks them; on success returns the
    /// object to pass to the tool.
    pub fn check_call(&self, raw: &Value) -> Result<Value, ArgumentViolations> {
        let arguments =
            normalize_arguments(raw).map_err(|v| ArgumentViolations::new(&self.tool, vec![v]))?;
        self.check(&arguments)?;
        Ok(arguments)
    }
}

fn known_meta_schema(uri: &str) -> bool {
    // Draft detection accepts these with or without the trailing `#` and either scheme.
    let uri = uri.trim_end_matches('#');
    let uri = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))
        .unwrap_or(uri);
    matches!(
        uri,
        "json-schema.org/draft/2020-12/schema"
            | "json-schema.org/draft/2019-09/schema"
            | "json-schema.org/draft-07/schema"
            | "json-schema.org/draft-06/schema"
            | "json-schema.org/draft-04/schema"
    )
}

/// Some models send the arguments as a JSON string (`"{\"a\":1}"`); that string is parsed.
/// `null` and `""` count as no arguments (`{}`): models call parameterless tools so, and the
/// schema still reports any required parameter.
/// Anything that is not, or does not parse to, an object is a violation at the root.
pub fn normalize_arguments(raw: &Value) -> Result<Value, Violation> {
    let not_an_object = |got: &str| Violation {
        path: String::new(),
        message: format!("arguments must be an object, got {got}"),
    };
    match raw {
        Value::Object(_) => Ok(raw.clone()),
        Value::Null => Ok(Value::Object(Map::new())),
        Value::String(text) if text.trim().is_empty() => Ok(Value::Object(Map::new())),
        Value::String(text) => match serde_json::from_str::<Value>(text) {
            Ok(parsed @ Value::Object(_)) => Ok(parsed),
            Ok(other) => Err(not_an_object(&format!(
                "a string holding {}",
                type_name(&other)
            ))),
            Err(_) => Err(not_an_object("a string that is not JSON")),
        },
        other => Err(not_an_object(type_name(other))),
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// One library error as violations. `required` and `additionalProperties` are reported by the
/// library at the parent object; the model fixes a property, so the property's path is named.
fn violations_of(error: &ValidationError<'_>) -> Vec<Violation> {
    let parent = error.instance_path().as_str();
    match error.kind() {
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            vec![Violation {
                path: child_pointer(parent, &name),
                message: "is required".to_string(),
            }]
        }
        ValidationErrorKind::AdditionalProperties { unexpected } => unexpected
            .iter()
            .map(|name| Violation {
                path: child_pointer(parent, name),
                message: "is not allowed (no such parameter)".to_string(),
            })
            .collect(),
        _ => vec![Violation {
            path: parent.to_string(),
            message: truncate(error.to_string()),
        }],
    }
}

/// RFC 6901: `~` and `/` in a property name are escaped so the pointer stays unambiguous.
fn child_pointer(parent: &str, name: &str) -> String {
    format!("{parent}/{}", name.replace('~', "~0").replace('/', "~1"))
}

fn truncate(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}...", &message[..cut]),
        None => message,
    }
}

/// What to do after a call's arguments failed the check.
#[derive(Debug, Clone, PartialEq)]
pub enum RepairDecision {
    /// Send this text back to the model as the call's tool error; it may try again.
    AskModel(String),
    /// Out of repairs: the step fails with this error, carrying the last violations.
    Fail(StepError),
}

/// Bounds how many times one step lets the model repair its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepairBudget {
    pub max_repairs: u32,
    used: u32,
}

impl RepairBudget {
    pub fn new(max_repairs: u32) -> Self {
        RepairBudget {
            max_repairs,
            used: 0,
        }
    }

    /// Repairs asked for so far (the trace numbers each one).
    pub fn used(&self) -> u32 {
        self.used
    }

    /// Spends one repair if one is left; otherwise fails. The failure is not retryable: a retry
    /// of the step would replay the same model answer and fail the same way.
    pub fn next(&mut self, violations: &ArgumentViolations) -> RepairDecision {
        if self.used < self.max_repairs {
            self.used += 1;
            RepairDecision::AskModel(violations.to_model_message())
        } else {
            RepairDecision::Fail(StepError::fatal(
                INVALID_ARGUMENTS,
                format!(
                    "{} (gave up after {} repair{})",
                    violations.summary(),
                    self.max_repairs,
                    if self.max_repairs == 1 { "" } else { "s" }
                ),
            ))
        }
    }
}
