//! The one error type of the library: what can stop the server from starting or serving.
//! Failures of a single tool call are not here: they are answered to the client as tool
//! results with `isError: true` (the model can read and repair them); so are outbox write
//! failures, which belong to one `send_email` call.

#[derive(Debug, thiserror::Error)]
pub enum DemoToolsError {
    /// The fault table given at start (`DEMO_TOOLS_FAULTS` or the config) is not valid.
    #[error("invalid fault specification: {0}")]
    FaultSpec(String),

    /// The options do not fit together, or one is malformed (a URL that is not one).
    #[error("invalid configuration: {0}")]
    Config(String),

    /// The HTTP listener could not be bound or served.
    #[error("http server on {addr}: {source}")]
    Http {
        addr: String,
        #[source]
        source: std::io::Error,
    },

    /// The MCP handshake with the client failed. Boxed: rmcp's error is several hundred
    /// bytes and would make every `Result` of this crate that large.
    #[error("MCP initialization failed: {0}")]
    Initialize(Box<rmcp::service::ServerInitializeError>),

    /// The task that serves the connection panicked or was aborted.
    #[error("MCP service task failed: {0}")]
    ServiceTask(#[from] tokio::task::JoinError),
}

impl From<rmcp::service::ServerInitializeError> for DemoToolsError {
    fn from(error: rmcp::service::ServerInitializeError) -> Self {
        Self::Initialize(Box::new(error))
    }
}
