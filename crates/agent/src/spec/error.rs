//! What can go wrong reading, checking or writing a spec. Every message names the file (when
//! there is one) and the field, so a user can go straight to the line to fix.

use std::fmt;
use std::path::{Path, PathBuf};

/// The two file formats of a spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Toml,
    Json,
}

impl Format {
    /// By the file's extension: `.toml` or `.json`, in any case.
    pub fn from_path(path: &Path) -> Option<Self> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "toml" => Some(Format::Toml),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Toml => "TOML",
            Format::Json => "JSON",
        })
    }
}

/// One thing wrong with a spec that parsed: the field's path (`limits.max_steps`,
/// `tools[2].name`) and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.field, self.message)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpecError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: an agent spec must be a .toml or .json file", path.display())]
    UnknownExtension { path: PathBuf },
    /// The text is not valid TOML/JSON, or does not have the spec's shape (a missing field, an
    /// unknown field, a wrong type). `line` and `column` are 1-based.
    #[error("{}{format} error{}{}: {message}", file_prefix(.file.as_deref()), position(*.line, *.column), field_suffix(.field.as_deref()))]
    Parse {
        file: Option<PathBuf>,
        format: Format,
        field: Option<String>,
        line: Option<usize>,
        column: Option<usize>,
        message: String,
    },
    /// The spec parsed but breaks a rule; every broken rule is listed, so one edit pass can fix
    /// them all.
    #[error("{}invalid agent spec: {}", file_prefix(.file.as_deref()), join(.problems))]
    Invalid {
        file: Option<PathBuf>,
        problems: Vec<Problem>,
    },
    #[error("cannot write the spec as {format}: {message}")]
    Write { format: Format, message: String },
}

impl SpecError {
    /// The same error, naming the file it came from.
    pub fn in_file(mut self, path: &Path) -> Self {
        match &mut self {
            SpecError::Parse { file, .. } | SpecError::Invalid { file, .. } => {
                *file = Some(path.to_path_buf())
            }
            SpecError::Read { .. }
            | SpecError::UnknownExtension { .. }
            | SpecError::Write { .. } => {}
        }
        self
    }

    /// The broken rules, for an `Invalid` error; empty otherwise.
    pub fn problems(&self) -> &[Problem] {
        match self {
            SpecError::Invalid { problems, .. } => problems,
            SpecError::Read { .. }
            | SpecError::UnknownExtension { .. }
            | SpecError::Parse { .. }
            | SpecError::Write { .. } => &[],
        }
    }
}

fn file_prefix(file: Option<&Path>) -> String {
    file.map(|f| format!("{}: ", f.display()))
        .unwrap_or_default()
}

fn position(line: Option<usize>, column: Option<usize>) -> String {
    match (line, column) {
        (Some(l), Some(c)) => format!(" at line {l}, column {c}"),
        (Some(l), None) => format!(" at line {l}"),
        _ => String::new(),
    }
}

fn field_suffix(field: Option<&str>) -> String {
    field.map(|f| format!(" in `{f}`")).unwrap_or_default()
}

fn join(problems: &[Problem]) -> String {
    problems
        .iter()
        .map(Problem::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// 1-based line and column (in characters) of a byte offset, for errors that carry a span.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    // A span never splits a character, but clamp to a boundary anyway rather than panic.
    let mut end = offset;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let before = &text[..end];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}
