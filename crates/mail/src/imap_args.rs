//! IMAP command arguments: checked, and refused rather than escaped when they cannot be quoted
//! safely; flags as text.

use async_imap::types::{Fetch, Flag};

use crate::error::{one_line, MailError};

pub(crate) fn flag_names(fetch: &Fetch) -> Vec<String> {
    fetch
        .flags()
        .map(|f| match f {
            Flag::Seen => "\\Seen".to_string(),
            Flag::Answered => "\\Answered".to_string(),
            Flag::Flagged => "\\Flagged".to_string(),
            Flag::Deleted => "\\Deleted".to_string(),
            Flag::Draft => "\\Draft".to_string(),
            Flag::Recent => "\\Recent".to_string(),
            Flag::MayCreate => "\\*".to_string(),
            Flag::Custom(c) => c.to_string(),
        })
        .collect()
}

/// "(\\Seen $Label)": system flags (one leading backslash) and keywords, atoms only.
pub(crate) fn flag_list(flags: &[&str]) -> Result<String, MailError> {
    for flag in flags {
        let body = flag.strip_prefix('\\').unwrap_or(flag);
        let atom_char = |c: char| {
            c.is_ascii_graphic() && !matches!(c, '(' | ')' | '{' | '%' | '*' | '"' | '\\' | ']')
        };
        if body.is_empty() || body.len() > 64 || !body.chars().all(atom_char) {
            return Err(MailError::invalid(format!("IMAP flag {flag:?}")));
        }
    }
    Ok(format!("({})", flags.join(" ")))
}

/// Folder names go out quoted by async-imap; line breaks and NUL cannot be quoted at all.
pub(crate) fn check_folder(folder: &str) -> Result<(), MailError> {
    if folder.is_empty() || folder.len() > 1000 || folder.chars().any(|c| c.is_control()) {
        return Err(MailError::invalid(format!("folder name {folder:?}")));
    }
    Ok(())
}

/// `"<id>"` for a SEARCH; ids that would need escaping are refused rather than escaped.
pub(crate) fn quote_message_id(message_id: &str) -> Result<String, MailError> {
    let bare = message_id.trim();
    let bare = bare.strip_prefix('<').unwrap_or(bare);
    let bare = bare.strip_suffix('>').unwrap_or(bare);
    let ok = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | '\\' | '<' | '>');
    if bare.is_empty() || bare.len() > 995 || !bare.chars().all(ok) {
        return Err(MailError::invalid(format!(
            "Message-ID {:?}: printable ASCII without spaces, quotes or backslashes",
            one_line(message_id, 100)
        )));
    }
    Ok(format!("\"<{bare}>\""))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap_net::xoauth2_response;

    #[test]
    fn message_ids_are_quoted_or_refused() {
        assert_eq!(quote_message_id("<a.b@c>").expect("ok"), "\"<a.b@c>\"");
        assert_eq!(quote_message_id("a.b@c").expect("ok"), "\"<a.b@c>\"");
        for bad in ["x\" OR ALL", "a\\b", "a\r\nb", "", "<>", "a b", "é@x"] {
            assert_eq!(
                quote_message_id(bad).expect_err(bad).kind(),
                "invalid",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn flags_must_be_atoms() {
        assert_eq!(
            flag_list(&["\\Seen", "$Label1"]).expect("ok"),
            "(\\Seen $Label1)"
        );
        for bad in ["", "\\", "a b", "(x", "\\Seen)", "a\"", "x\r\n"] {
            assert!(flag_list(&[bad]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn xoauth2_response_format() {
        assert_eq!(
            xoauth2_response("me@x.test", "tok"),
            "user=me@x.test\x01auth=Bearer tok\x01\x01"
        );
    }
}
