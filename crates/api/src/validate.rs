//! Checks on strings that go where not every byte can: file paths (the OS takes no NUL and
//! only so long a name) and names.

use std::path::{Path, PathBuf};

use crate::ApiError;

/// The longest path the OS takes (Linux's PATH_MAX).
const MAX_PATH_BYTES: usize = 4096;
/// The longest name (an agent's, an event's, a function's) the API takes.
pub(crate) const MAX_NAME_BYTES: usize = 256;

/// A file path the OS can take, or a 400 naming the field.
pub(crate) fn file_path(field: &str, text: &str) -> Result<PathBuf, ApiError> {
    if text.contains('\0') {
        return Err(ApiError::invalid(
            field,
            format!("{field} contains a NUL byte"),
        ));
    }
    if text.len() > MAX_PATH_BYTES {
        return Err(ApiError::invalid(
            field,
            format!("{field} is longer than {MAX_PATH_BYTES} bytes"),
        ));
    }
    Ok(Path::new(text).to_path_buf())
}

/// A name: not empty, no control characters, not too long.
pub(crate) fn name(field: &str, text: &str) -> Result<(), ApiError> {
    if text.trim().is_empty() {
        return Err(ApiError::invalid(field, format!("{field} is empty")));
    }
    if text.len() > MAX_NAME_BYTES {
        return Err(ApiError::invalid(
            field,
            format!("{field} is longer than {MAX_NAME_BYTES} bytes"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ApiError::invalid(
            field,
            format!("{field} contains a control character (a NUL byte, a newline, ...)"),
        ));
    }
    Ok(())
}
