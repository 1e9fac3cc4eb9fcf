//! The `requestState` of the interactive tools on 2026-07-28.
//!
//! The server keeps nothing between the first call and its retry: the state carries the tool,
//! the call's arguments and a nonce (which also names the question, e.g. the elicitation id of
//! `link_account`), as hex of JSON. The client echoes it back, so it is untrusted input: the
//! retry must parse, name the same tool and carry the same arguments, or the call is refused
//! with invalid_params. Nothing in it is secret or grants anything, so no signature.

use rmcp::ErrorData;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Payload<A> {
    tool: String,
    args: A,
    nonce: String,
}

/// A fresh nonce for a new question.
pub fn new_nonce() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The state of a question about `args` of `tool`.
pub fn seal<A: Serialize>(tool: &str, args: &A, nonce: &str) -> String {
    let payload = Payload {
        tool: tool.to_owned(),
        args,
        nonce: nonce.to_owned(),
    };
    // Serializing plain argument structs cannot fail; an empty state would be refused on retry.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    to_hex(&json)
}

/// Checks an echoed state against the call it came back with and returns its nonce.
pub fn open<A>(state: &str, tool: &str, args: &A) -> Result<String, ErrorData>
where
    A: DeserializeOwned + PartialEq,
{
    let bytes = from_hex(state).ok_or_else(|| refused("is not the hex this server issued"))?;
    let payload: Payload<A> =
        serde_json::from_slice(&bytes).map_err(|e| refused(&format!("does not parse ({e})")))?;
    if payload.tool != tool {
        return Err(refused(&format!(
            "belongs to tool {}, not {tool}",
            payload.tool
        )));
    }
    if &payload.args != args {
        return Err(refused("does not match the arguments of this call"));
    }
    Ok(payload.nonce)
}

fn refused(why: &str) -> ErrorData {
    ErrorData::invalid_params(format!("requestState {why}"), None)
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        out.push(char::from(DIGITS[usize::from(byte >> 4)]));
        out.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    out
}

fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let digit = |c: u8| char::from(c).to_digit(16).map(|d| d as u8);
    text.as_bytes()
        .chunks(2)
        .map(|pair| Some(digit(pair[0])? << 4 | digit(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Args {
        order_id: String,
    }

    fn args(id: &str) -> Args {
        Args {
            order_id: id.to_owned(),
        }
    }

    #[test]
    fn a_sealed_state_opens_for_the_same_call_only() {
        let state = seal("confirm_refund", &args("A-1001"), "n-1");
        assert_eq!(
            open(&state, "confirm_refund", &args("A-1001")).unwrap(),
            "n-1"
        );
        let other_args = open(&state, "confirm_refund", &args("A-1002")).unwrap_err();
        assert!(
            other_args.message.contains("requestState"),
            "{other_args:?}"
        );
        assert!(open(&state, "link_account", &args("A-1001")).is_err());
    }

    #[test]
    fn garbage_is_refused_naming_request_state() {
        for state in ["", "zz", "abc", "7b7d"] {
            let error = open(state, "confirm_refund", &args("A-1001")).unwrap_err();
            assert!(error.message.starts_with("requestState"), "{error:?}");
            assert_eq!(error.code, rmcp::model::ErrorCode::INVALID_PARAMS);
        }
    }
}
