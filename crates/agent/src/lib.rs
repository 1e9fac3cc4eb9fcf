//! Agents on the Waymark engine. This first brick: the model providers, each call's error
//! classified for the engine's retry policy.

pub mod agent_loop;
pub mod anthropic;
pub mod app;
pub mod arguments;
pub mod builder;
pub mod catalog;
pub mod demo;
mod directory;
pub mod email;
mod http;
pub mod key_hosts;
pub mod mcp;
pub mod mcp_import;
pub mod model;
pub mod openai;
pub mod pricing;
pub mod provider;
pub mod redact;
pub mod replay;
pub mod runtime;
pub mod scripted;
pub mod secret;
pub mod secrets;
pub mod spec;
mod sse;
pub mod step_role;
pub mod stores;
pub mod triggers;

pub use anthropic::AnthropicProvider;
pub use catalog::{AgentSummary, Catalog, CatalogError, MemoryEntry};
pub use http::DEFAULT_TIMEOUT;
pub use model::{
    ChatMessage, ModelRequest, ModelResponse, StopReason, ToolCall, ToolDefinition, ToolResult,
    Usage,
};
pub use openai::OpenAiProvider;
pub use pricing::{cost_usd, Price, PriceTable};
pub use provider::{parse_retry_after, HttpConfig, Provider, ProviderError};
pub use scripted::{ScriptedProvider, ScriptedTurn};
pub use secret::Secret;
pub use secrets::{SecretError, SecretRef, SecretStore};
pub use spec::{AgentSpec, SpecError};
pub use stores::{AgentStores, SqliteAgentStore};
