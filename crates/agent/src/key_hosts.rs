//! Where API keys taken from the environment may go. A spec names its key by variable
//! (`model.api_key_env`) and its server by URL (`model.base_url`), so an imported or drafted
//! agent could send any variable (`AWS_SECRET_ACCESS_KEY`) to any host. A key from the
//! environment is therefore sent only to a host the user allowed for that variable: pairs of
//! (variable, host) kept in the settings, with built-in ones for the known providers.
//! Keys the user stored in the settings are not concerned: they go only to their provider's
//! configured server (see `AgentRuntime::provider`).

use crate::spec::{ModelSpec, ProviderKind};

/// The pairs every new database starts with (the user may remove them).
pub const BUILTIN_ENV_KEY_HOSTS: &[(&str, &str)] = &[
    ("OPENAI_API_KEY", "api.openai.com"),
    ("ANTHROPIC_API_KEY", "api.anthropic.com"),
    ("OPENROUTER_API_KEY", "openrouter.ai"),
];

/// One allowed pair: the variable's value may be sent to `host` (any port), or to exactly
/// `host:port` when a port is given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvKeyHost {
    pub variable: String,
    pub host: String,
    /// One of [`BUILTIN_ENV_KEY_HOSTS`].
    pub builtin: bool,
}

impl EnvKeyHost {
    pub fn builtins() -> Vec<EnvKeyHost> {
        BUILTIN_ENV_KEY_HOSTS
            .iter()
            .map(|(v, h)| EnvKeyHost {
                variable: v.to_string(),
                host: h.to_string(),
                builtin: true,
            })
            .collect()
    }
}

/// Where a model's key from the environment would be sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvKeyTarget {
    pub variable: String,
    pub base_url: String,
    /// The URL's host, lowercase (IPv6 in brackets).
    pub host: String,
    /// The port the request goes to (the scheme's default when the URL names none).
    pub port: Option<u16>,
}

/// A key from the environment that the user has not allowed to go where the spec sends it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the API key in the environment variable {variable} may not be sent to {host} ({base_url}): keys from the environment go only to hosts allowed for them. To allow it, add {variable} → {host} under Settings → Providers → Allowed key destinations (API: settings_allow_env_key with variable \"{variable}\" and host \"{host}\"; CLI: waymark keys allow {variable} {host})")]
pub struct EnvKeyRefused {
    pub variable: String,
    pub host: String,
    pub base_url: String,
}

/// `input` (a host, `host:port`, or a URL) as an allowlist entry: lowercase `host` or
/// `host:port`. The error says what is wrong, without echoing the input (it may be a key).
pub fn normalize_host(input: &str) -> Result<String, String> {
    let input = input.trim();
    if input.is_empty() {
        return Err("the host is empty".into());
    }
    let url = if input.contains("://") {
        input.to_string()
    } else {
        format!("http://{input}")
    };
    let parsed = reqwest::Url::parse(&url)
        .map_err(|_| "must be a host name or address, like api.example.com or 127.0.0.1:8080")?;
    let host = parsed
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("must name a host")?
        .to_ascii_lowercase();
    let bare = !input.contains("://") && (input.contains('/') || input.contains('@'));
    if bare || !parsed.username().is_empty() {
        return Err(
            "must be a host name or address, like api.example.com or 127.0.0.1:8080".into(),
        );
    }
    Ok(match parsed.port() {
        Some(port) => format!("{host}:{port}"),
        None => host,
    })
}

/// `host:port` as its parts (`[::1]:9` too); `None` for a bare host.
fn split_port(entry: &str) -> Option<(&str, u16)> {
    let (host, port) = entry.rsplit_once(':')?;
    let port = port.parse().ok()?;
    (!host.contains(':') || host.ends_with(']')).then_some((host, port))
}

/// Where `model`'s key from the environment would go, or `None` when no key from the
/// environment is concerned: a scripted model; no variable; the provider's default variable
/// while it is unset (the stored key is used then); or the provider's default variable sent to
/// the server the user set for that provider in the settings (`configured_base_url`).
pub fn env_key_target(
    model: &ModelSpec,
    configured_base_url: Option<&str>,
    is_set: &dyn Fn(&str) -> bool,
) -> Option<EnvKeyTarget> {
    if model.provider == ProviderKind::Scripted {
        return None;
    }
    let variable = model.api_key_env()?;
    let configured = configured_base_url.filter(|_| model.base_url.is_none());
    if model.api_key_env.is_none() && (configured.is_some() || !is_set(variable)) {
        return None;
    }
    let base_url = configured.or(model.base_url())?;
    let parsed = reqwest::Url::parse(base_url).ok();
    let host = parsed
        .as_ref()
        .and_then(|u| u.host_str())
        .unwrap_or(base_url)
        .to_ascii_lowercase();
    Some(EnvKeyTarget {
        variable: variable.to_string(),
        base_url: base_url.to_string(),
        host,
        port: parsed.and_then(|u| u.port_or_known_default()),
    })
}

impl EnvKeyTarget {
    /// Whether one of `pairs` allows it.
    pub fn allowed_by(&self, pairs: &[EnvKeyHost]) -> bool {
        pairs.iter().any(|p| {
            p.variable == self.variable
                && (p.host == self.host
                    || split_port(&p.host)
                        .is_some_and(|(h, port)| h == self.host && Some(port) == self.port))
        })
    }

    pub fn check(&self, pairs: &[EnvKeyHost]) -> Result<(), EnvKeyRefused> {
        if self.allowed_by(pairs) {
            return Ok(());
        }
        Err(EnvKeyRefused {
            variable: self.variable.clone(),
            host: self.host.clone(),
            base_url: self.base_url.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(extra: &str) -> ModelSpec {
        let text = format!("provider = \"openai\"\nmodel = \"m\"\n{extra}");
        toml::from_str(&text).expect("model")
    }

    #[test]
    fn hosts_normalize() {
        assert_eq!(
            normalize_host(" API.Example.com ").as_deref(),
            Ok("api.example.com")
        );
        assert_eq!(
            normalize_host("127.0.0.1:8080").as_deref(),
            Ok("127.0.0.1:8080")
        );
        assert_eq!(normalize_host("https://x.io/v1").as_deref(), Ok("x.io"));
        assert_eq!(
            normalize_host("http://x.io:81/v1").as_deref(),
            Ok("x.io:81")
        );
        assert_eq!(normalize_host("[::1]:9").as_deref(), Ok("[::1]:9"));
        assert!(normalize_host("").is_err());
        assert!(normalize_host("a b").is_err());
        assert!(normalize_host("x.io/path").is_err());
    }

    #[test]
    fn only_allowed_pairs_pass() {
        let set = |_: &str| true;
        let pairs = EnvKeyHost::builtins();
        let own = env_key_target(&model(""), None, &set).expect("default variable, set");
        assert_eq!(own.host, "api.openai.com");
        assert!(own.allowed_by(&pairs));
        // Unset default variable: the stored key is used, nothing from the environment.
        assert_eq!(env_key_target(&model(""), None, &|_| false), None);
        // The default variable to the server the settings name for the provider.
        assert_eq!(
            env_key_target(&model(""), Some("http://gw:1/v1"), &set),
            None
        );

        let m = model(
            "base_url = \"http://127.0.0.1:4000/v1\"\napi_key_env = \"AWS_SECRET_ACCESS_KEY\"",
        );
        let t = env_key_target(&m, Some("http://ignored/v1"), &|_| false).expect("named");
        assert_eq!((t.host.as_str(), t.port), ("127.0.0.1", Some(4000)));
        let err = t.check(&pairs).expect_err("not allowed").to_string();
        assert!(
            err.contains("AWS_SECRET_ACCESS_KEY") && err.contains("127.0.0.1"),
            "{err}"
        );
        let allow = |host: &str| {
            vec![EnvKeyHost {
                variable: "AWS_SECRET_ACCESS_KEY".into(),
                host: host.into(),
                builtin: false,
            }]
        };
        assert!(t.allowed_by(&allow("127.0.0.1")));
        assert!(t.allowed_by(&allow("127.0.0.1:4000")));
        assert!(!t.allowed_by(&allow("127.0.0.1:4001")));
        assert!(!t.allowed_by(&allow("127.0.0.2")));
        // Another provider's built-in pair does not carry over to a named variable elsewhere.
        let m = model("base_url = \"https://evil.example/v1\"\napi_key_env = \"OPENAI_API_KEY\"");
        let t = env_key_target(&m, None, &set).expect("named");
        assert!(!t.allowed_by(&pairs));
    }
}
