//! Incoming messages, parsed by mail-parser within limits and reduced to what an agent reads.

use mail_parser::{Message, MessageParser, MimeHeaders, PartType};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct MessageLimits {
    /// Raw messages above this are refused without parsing.
    #[ts(type = "number")]
    pub max_bytes: u64,
    /// Deepest nesting of multiparts and attached messages.
    pub max_depth: usize,
    /// Attachments counted over the whole MIME tree, attached messages included.
    pub max_attachments: usize,
    /// The body text is cut beyond this many characters (not an error).
    pub max_text_chars: usize,
}

impl Default for MessageLimits {
    fn default() -> Self {
        MessageLimits {
            max_bytes: 10 * 1024 * 1024,
            max_depth: 8,
            max_attachments: 100,
            max_text_chars: 200_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    #[error("message of {size} bytes is larger than the limit of {max} bytes")]
    TooLarge { size: u64, max: u64 },
    #[error("message parts are nested deeper than the limit of {max} levels")]
    TooDeep { max: usize },
    #[error("message has {count} attachments, more than the limit of {max}")]
    TooManyAttachments { count: usize, max: usize },
    #[error("message could not be parsed: no headers found")]
    Unparseable,
}

impl MessageError {
    pub fn kind(&self) -> &'static str {
        match self {
            MessageError::TooLarge { .. } => "too_large",
            MessageError::TooDeep { .. } => "too_deep",
            MessageError::TooManyAttachments { .. } => "too_many_attachments",
            MessageError::Unparseable => "unparseable",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Address {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub email: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct Attachment {
    pub name: Option<String>,
    pub content_type: String,
    /// Decoded size in bytes.
    #[ts(type = "number")]
    pub size: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct IncomingEmail {
    pub from: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub subject: String,
    /// RFC 3339, from the Date header when it is a real date.
    pub date: Option<String>,
    /// With its angle brackets, as it goes into In-Reply-To.
    pub message_id: Option<String>,
    pub in_reply_to: Vec<String>,
    pub references: Vec<String>,
    /// The text/plain body; without one, the HTML body converted to text.
    pub text: String,
    pub text_from_html: bool,
    pub text_truncated: bool,
    pub attachments: Vec<Attachment>,
}

impl IncomingEmail {
    /// Lowercased addresses of everyone on the message (From, To, Cc, Reply-To), each once.
    pub fn participants(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for a in self
            .from
            .iter()
            .chain(&self.to)
            .chain(&self.cc)
            .chain(&self.reply_to)
        {
            let email = a.email.to_lowercase();
            if !out.contains(&email) {
                out.push(email);
            }
        }
        out
    }
}

pub fn parse_message(raw: &[u8], limits: &MessageLimits) -> Result<IncomingEmail, MessageError> {
    let size = raw.len() as u64;
    if size > limits.max_bytes {
        return Err(MessageError::TooLarge {
            size,
            max: limits.max_bytes,
        });
    }
    let message = MessageParser::default()
        .parse(raw)
        .ok_or(MessageError::Unparseable)?;
    check_tree(&message, limits)?;

    let (text, text_from_html) = match message.text_bodies().next() {
        Some(part) => {
            let from_html = matches!(part.body, PartType::Html(_));
            let text = message
                .body_text(0)
                .map(|t| t.into_owned())
                .unwrap_or_default();
            (text, from_html)
        }
        None => (String::new(), false),
    };
    let (text, text_truncated) = truncate_chars(text, limits.max_text_chars);

    let attachments = message
        .attachments()
        .map(|part| Attachment {
            name: part.attachment_name().map(clean_header),
            content_type: content_type(part),
            size: part.len() as u64,
        })
        .collect();

    Ok(IncomingEmail {
        from: addresses(message.from()),
        to: message.all_to().flat_map(|a| addresses(Some(a))).collect(),
        cc: message.all_cc().flat_map(|a| addresses(Some(a))).collect(),
        reply_to: addresses(message.reply_to()),
        subject: message.subject().map(clean_header).unwrap_or_default(),
        date: message
            .date()
            .filter(|d| d.is_valid())
            .map(|d| d.to_rfc3339())
            .filter(|d| chrono::DateTime::parse_from_rfc3339(d).is_ok()),
        message_id: message.message_id().and_then(angle_id),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        text,
        text_from_html,
        text_truncated,
        attachments,
    })
}

/// Walks the MIME tree with an explicit stack (no recursion) to bound depth and attachments.
fn check_tree(message: &Message<'_>, limits: &MessageLimits) -> Result<(), MessageError> {
    let mut attachments = message.attachment_count();
    let mut stack: Vec<(&Message<'_>, u32, usize)> = vec![(message, 0, 0)];
    while let Some((msg, id, depth)) = stack.pop() {
        if depth > limits.max_depth {
            return Err(MessageError::TooDeep {
                max: limits.max_depth,
            });
        }
        let Some(part) = msg.parts.get(id as usize) else {
            continue;
        };
        match &part.body {
            PartType::Multipart(children) => {
                // Children always follow their parent in the flat part list: anything else is
                // malformed and skipped, so no cycle can keep the walk going.
                for &child in children.iter().filter(|&&c| c > id) {
                    stack.push((msg, child, depth + 1));
                }
            }
            PartType::Message(nested) => {
                attachments += nested.attachment_count();
                stack.push((nested, 0, depth + 1));
            }
            _ => {}
        }
    }
    if attachments > limits.max_attachments {
        return Err(MessageError::TooManyAttachments {
            count: attachments,
            max: limits.max_attachments,
        });
    }
    Ok(())
}

fn content_type(part: &mail_parser::MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => {
            let main = ct.ctype().to_ascii_lowercase();
            match ct.subtype() {
                Some(sub) => clean_header(&format!("{main}/{}", sub.to_ascii_lowercase())),
                None => clean_header(&main),
            }
        }
        None => match part.body {
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Message(_) => "message/rfc822".into(),
            _ => "application/octet-stream".into(),
        },
    }
}

fn addresses(address: Option<&mail_parser::Address<'_>>) -> Vec<Address> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|a| {
            let email = clean_id(a.address()?);
            if email.is_empty() {
                return None;
            }
            let name = a.name().map(clean_header).filter(|n| !n.is_empty());
            Some(Address { name, email })
        })
        .collect()
}

fn ids(value: &mail_parser::HeaderValue<'_>) -> Vec<String> {
    match value {
        mail_parser::HeaderValue::Text(id) => angle_id(id).into_iter().collect(),
        mail_parser::HeaderValue::TextList(list) => {
            list.iter().filter_map(|id| angle_id(id)).collect()
        }
        _ => Vec::new(),
    }
}

/// mail-parser hands ids without their brackets; ours carry them, as they go back into headers.
fn angle_id(id: &str) -> Option<String> {
    let id = clean_id(id);
    let bare = id.trim_start_matches('<').trim_end_matches('>');
    (!bare.is_empty()).then(|| format!("<{bare}>"))
}

/// Ids and addresses have no spaces: drop whitespace and control characters alike.
fn clean_id(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect()
}

/// One line: CR, LF and tabs become spaces, other control characters go, so a decoded header
/// can never smuggle a line break into something that is later written back into a header.
pub(crate) fn clean_header(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\r' | '\n' | '\t' => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

fn truncate_chars(text: String, max_chars: usize) -> (String, bool) {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => {
            let mut text = text;
            text.truncate(cut);
            (text, true)
        }
        None => (text, false),
    }
}

#[cfg(test)]
#[path = "message_tests.rs"]
mod tests;
