//! The secret values this process holds, so text from outside (a stdio server's stderr, an
//! error a server sent) can be shown with them blanked out.
//!
//! Every [`crate::Secret`] registers its value when it is made: keys read from the environment,
//! from the keychain or the secret file, and the env and header values of MCP servers. The
//! provider key variables ([`PROVIDER_KEY_ENV`]) count even before anything reads them, since
//! a server may have found them elsewhere (a dotfile) and print them.

use std::collections::BTreeSet;
use std::sync::{OnceLock, RwLock};

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";
/// Shorter values are not registered: blanking every `debug` or `true` would shred text, and
/// a value that short guards nothing.
pub const MIN_LEN: usize = 6;
/// The variables whose values are provider keys by default.
pub const PROVIDER_KEY_ENV: [&str; 2] = ["OPENAI_API_KEY", "ANTHROPIC_API_KEY"];

fn known() -> &'static RwLock<BTreeSet<String>> {
    static KNOWN: OnceLock<RwLock<BTreeSet<String>>> = OnceLock::new();
    KNOWN.get_or_init(|| RwLock::new(BTreeSet::new()))
}

/// Remembers `value` as a secret. A value with a scheme (`Bearer <token>`) also registers its
/// last word, the token alone, which a server may print without the scheme.
pub fn register(value: &str) {
    let value = value.trim();
    let token = value
        .rsplit(char::is_whitespace)
        .next()
        .filter(|t| t.len() < value.len());
    for v in std::iter::once(value).chain(token) {
        if v.len() < MIN_LEN {
            continue;
        }
        let present = known()
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(v);
        if !present {
            known()
                .write()
                .unwrap_or_else(|e| e.into_inner())
                .insert(v.to_string());
        }
    }
}

/// Remembers the value of environment variable `var`, if it is set.
pub fn register_env(var: &str) {
    if let Ok(value) = std::env::var(var) {
        register(&value);
    }
}

/// `text` with every known secret replaced by [`REDACTED`].
pub fn scrub(text: &str) -> String {
    // Read each time: the variables may be set after the first scrub (a settings change).
    for var in PROVIDER_KEY_ENV {
        register_env(var);
    }
    let mut secrets: Vec<String> = known()
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter(|s| text.contains(s.as_str()))
        .cloned()
        .collect();
    // The longest first: a secret that contains another is replaced whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut text = text.to_string();
    for secret in secrets {
        text = text.replace(&secret, REDACTED);
    }
    text
}

/// `url` as it may be shown: scheme, host, port and path, without user info, query or
/// fragment (any of which may carry a token); text that is not a URL is redacted whole.
pub fn url_for_display(url: &str) -> String {
    match reqwest::Url::parse(url.trim()) {
        Ok(u) => format!(
            "{}://{}{}{}",
            u.scheme(),
            u.host_str().unwrap_or_default(),
            u.port().map(|p| format!(":{p}")).unwrap_or_default(),
            u.path().trim_end_matches('/')
        ),
        Err(_) => REDACTED.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_blanked_short_ones_are_not() {
        register("redact-unit-test-secret-1");
        register("Bearer redact-unit-test-token-2");
        register("short");
        let text = "a=redact-unit-test-secret-1 b=redact-unit-test-token-2 c=short \
                    d=Bearer redact-unit-test-token-2";
        assert_eq!(
            scrub(text),
            "a=[redacted] b=[redacted] c=short d=[redacted]"
        );
    }

    #[test]
    fn a_longer_secret_is_replaced_whole() {
        register("redact-unit-nested");
        register("redact-unit-nested-and-longer");
        assert_eq!(scrub("x redact-unit-nested-and-longer y"), "x [redacted] y");
    }

    #[test]
    fn urls_are_shown_without_credentials_or_query() {
        assert_eq!(
            url_for_display("https://user:pw@mcp.example.com:8443/mcp/?token=abc#x"),
            "https://mcp.example.com:8443/mcp"
        );
        assert_eq!(url_for_display("not a url"), REDACTED);
    }
}
