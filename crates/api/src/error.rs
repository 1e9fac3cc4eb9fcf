//! The API's one error type: a machine-readable code, a message for people, and the field
//! of the request that was wrong when there is one.

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request is malformed or asks for something impossible (HTTP 400).
    InvalidInput,
    /// The id or name names nothing (HTTP 404).
    NotFound,
    /// The state does not allow it now, e.g. deleting a running run (HTTP 409).
    Conflict,
    /// Missing or wrong credentials (HTTP 401).
    Unauthorized,
    /// The command is not known (HTTP 404 on its route).
    UnknownCommand,
    /// The database is locked, full or unreachable; trying later may work (HTTP 503).
    Unavailable,
    /// Something this depends on failed: an MCP server that cannot start or answer, a model
    /// provider (HTTP 424).
    Upstream,
    /// An MCP server wants a signed-in client: start a sign-in (`mcp_sign_in_start`), then
    /// try again (HTTP 424).
    SignInRequired,
    /// A bug: the server could not do what it should have (HTTP 500).
    Internal,
}

impl ErrorCode {
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidInput => 400,
            ErrorCode::Unauthorized => 401,
            ErrorCode::NotFound | ErrorCode::UnknownCommand => 404,
            ErrorCode::Conflict => 409,
            ErrorCode::Upstream | ErrorCode::SignInRequired => 424,
            ErrorCode::Unavailable => 503,
            ErrorCode::Internal => 500,
        }
    }
}

#[derive(
    Clone,
    Debug,
    PartialEq,
    Serialize,
    Deserialize,
    ts_rs::TS,
    schemars::JsonSchema,
    thiserror::Error,
)]
#[error("{message}")]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// The request field at fault, as a path (`spec.model.provider`, `run_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub field: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError {
            code: ErrorCode::InvalidInput,
            message: message.into(),
            field: Some(field.into()),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}

impl From<waymark_engine::StoreError> for ApiError {
    fn from(e: waymark_engine::StoreError) -> Self {
        use waymark_engine::StoreError as S;
        let code = match &e {
            S::RunNotFound(_) | S::StepNotFound { .. } => ErrorCode::NotFound,
            S::Conflict(_) | S::LeaseLost(_) => ErrorCode::Conflict,
            S::Locked { .. } | S::Full(_) | S::WriterGone => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<waymark_engine::EngineError> for ApiError {
    fn from(e: waymark_engine::EngineError) -> Self {
        use waymark_engine::EngineError as E;
        match e {
            E::Store(s) => s.into(),
            E::Invalid(m) => ApiError::new(ErrorCode::InvalidInput, m),
            other => ApiError::new(ErrorCode::InvalidInput, other.to_string()),
        }
    }
}

impl From<waymark_agent::catalog::CatalogError> for ApiError {
    fn from(e: waymark_agent::catalog::CatalogError) -> Self {
        use waymark_agent::catalog::CatalogError as C;
        let code = match &e {
            C::Spec(_) | C::Invalid { .. } => ErrorCode::InvalidInput,
            C::Database(_) => ErrorCode::Unavailable,
            _ => ErrorCode::Internal,
        };
        ApiError::new(code, e.to_string())
    }
}

impl From<waymark_agent::app::AppError> for ApiError {
    fn from(e: waymark_agent::app::AppError) -> Self {
        use waymark_agent::app::AppError as A;
        match e {
            A::UnknownAgent(_) => ApiError::not_found(e.to_string()),
            A::Invalid(m) => ApiError::new(ErrorCode::InvalidInput, m),
            A::Engine(e) => e.into(),
            A::Store(e) => e.into(),
            A::Catalog(e) => e.into(),
            other => ApiError::new(ErrorCode::InvalidInput, other.to_string()),
        }
    }
}
