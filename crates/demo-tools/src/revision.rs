//! Which MCP protocol revisions the server answers, so our client's tests can face a server
//! that only speaks the stateless revision (2026-07-28) or only an older one (2025-06-18).
//!
//! rmcp decides the lifecycle from three things the handler controls: the versions it supports
//! (`supported_protocol_versions`: advertised by `server/discover`, bounding what `initialize`
//! may agree to, checked against each request's `_meta`), the version in `get_info` (the
//! fallback `initialize` answers when the client asks for one that is not supported) and the
//! `discover` handler itself. [`ProtocolMode`] gives the values of each.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use rmcp::model::ProtocolVersion;

/// The protocol revisions the server answers (`--protocol`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ProtocolMode {
    /// Every revision rmcp knows: `initialize` and `server/discover` both work (the default).
    #[default]
    Both,
    /// Only 2026-07-28: `server/discover` and per-request `_meta`; `initialize` is refused
    /// with -32022 (unsupported protocol version, data `{supported: ["2026-07-28"]}`).
    Stateless,
    /// Only 2025-06-18: `initialize` answers that version whatever the client asks, and
    /// `server/discover` is refused with -32601 (method not found), as an older server does.
    Legacy,
}

/// The text of a `--protocol` value that is not one of the three modes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown protocol mode {0:?} (expected both, 2026-07-28 or 2025-06-18)")]
pub struct UnknownProtocolMode(pub String);

impl ProtocolMode {
    /// What the handler reports as `supported_protocol_versions`.
    pub fn supported_versions(self) -> Cow<'static, [ProtocolVersion]> {
        match self {
            Self::Both => Cow::Borrowed(ProtocolVersion::KNOWN_VERSIONS),
            Self::Stateless => Cow::Owned(vec![ProtocolVersion::V_2026_07_28]),
            // 2026-07-28 is listed only because rmcp checks a request's `_meta` version
            // against this list before any handler runs: without it a `server/discover`
            // would get -32022, which rmcp's Auto client takes as "retry another version"
            // rather than "legacy server". With it the request reaches `discover`, which
            // answers -32601. `initialize` still lands on 2025-06-18: it falls back to the
            // version of `get_info` whenever the client asks for anything else.
            Self::Legacy => Cow::Owned(vec![
                ProtocolVersion::V_2025_06_18,
                ProtocolVersion::V_2026_07_28,
            ]),
        }
    }

    /// The version `get_info` names, which rmcp answers to an `initialize` asking for a
    /// version it does not take; `None` keeps rmcp's default.
    pub fn info_version(self) -> Option<ProtocolVersion> {
        match self {
            Self::Both => None,
            // A version without a handshake leaves `initialize` nothing to fall back on:
            // rmcp then refuses it with -32022 itself.
            Self::Stateless => Some(ProtocolVersion::V_2026_07_28),
            Self::Legacy => Some(ProtocolVersion::V_2025_06_18),
        }
    }

    /// Whether `server/discover` is refused as an unknown method.
    pub fn refuses_discover(self) -> bool {
        self == Self::Legacy
    }

    /// Whether Streamable HTTP keeps rmcp's session mode for `initialize`. A 2026-only
    /// server has no sessions: its `initialize` is answered (with the refusal) statelessly
    /// instead of opening a session whose handshake fails.
    pub fn http_sessions(self) -> bool {
        self != Self::Stateless
    }
}

impl FromStr for ProtocolMode {
    type Err = UnknownProtocolMode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "both" => Ok(Self::Both),
            "2026-07-28" => Ok(Self::Stateless),
            "2025-06-18" => Ok(Self::Legacy),
            other => Err(UnknownProtocolMode(other.to_owned())),
        }
    }
}

impl fmt::Display for ProtocolMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Both => "both",
            Self::Stateless => "2026-07-28",
            Self::Legacy => "2025-06-18",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_the_three_modes() {
        for text in ["both", "2026-07-28", "2025-06-18"] {
            let mode: ProtocolMode = text.parse().unwrap();
            assert_eq!(mode.to_string(), text);
        }
        assert!("2025-11-25".parse::<ProtocolMode>().is_err());
    }
}
