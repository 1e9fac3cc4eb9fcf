//! API keys: held in memory only, printed as `***`, scrubbed from every error text, and
//! registered with [`crate::redact`] so text from outside is shown with them blanked out.

use std::fmt;

/// An API key or token. It comes from the environment (or, later, the OS keychain) and is never
/// stored in the database, so nothing here serializes it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        let value = value.into();
        crate::redact::register(&value);
        Secret(value)
    }

    /// The key from an environment variable; `None` when it is unset or empty, because local
    /// servers (Ollama, llama.cpp) take no key and an empty `Authorization` header confuses some.
    pub fn from_env(var: &str) -> Option<Self> {
        std::env::var(var)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .map(Secret::new)
    }

    /// The key itself, for the one place that needs it: the request header.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`. Servers echo keys back in
    /// error bodies (OpenAI's 401 does, partially), and those bodies become step errors.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        text.replace(&self.0, "***")
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_prints_itself() {
        let s = Secret::new("sk-very-secret");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(***)");
        assert_eq!(s.scrub("bad key sk-very-secret!"), "bad key ***!");
        assert_eq!(Secret::new("").scrub("text"), "text");
    }
}
