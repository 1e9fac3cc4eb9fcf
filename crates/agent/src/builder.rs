//! Drafts an AgentSpec from a description.
