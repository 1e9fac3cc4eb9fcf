//! Where secrets live. API keys, MCP header values and stdio env values never go into SQLite:
//! the database keeps a [`SecretRef`] (`keyring:<id>` or `file:<id>`) and the value sits in the
//! OS keychain, or, where none answers, in an owner-only JSON file in the data directory.
//!
//! Errors name the reference and the backend, never the value.

mod file;
mod keychain;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::secret::Secret;
use file::FileBackend;
use keychain::KeyringBackend;

/// The keychain service name every Waymark entry is filed under.
pub const SERVICE: &str = "waymark";
/// Forces a backend: `keyring` or `file`.
pub const BACKEND_ENV: &str = "WAYMARK_SECRET_BACKEND";
/// The fallback file's name in the data directory.
pub const FILE_NAME: &str = "secrets.json";

/// Where a secret is: `keyring:<id>` or `file:<id>`. Not itself secret, so it prints as is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretRef(String);

impl SecretRef {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The backend's name and the id within it.
    fn split(&self) -> (&'static str, &str) {
        match self.0.split_once(':') {
            Some(("keyring", id)) => (keychain::BACKEND, id),
            // `FromStr` lets nothing else in.
            Some((_, id)) => (file::BACKEND, id),
            None => (file::BACKEND, ""),
        }
    }
}

impl fmt::Display for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for SecretRef {
    type Err = SecretError;

    fn from_str(text: &str) -> Result<Self, SecretError> {
        let ok = match text.split_once(':') {
            Some(("keyring" | "file", id)) => !id.is_empty() && id.chars().all(id_char),
            _ => false,
        };
        if ok {
            Ok(SecretRef(text.to_string()))
        } else {
            Err(SecretError::BadRef {
                text: text.chars().take(80).collect(),
            })
        }
    }
}

impl Serialize for SecretRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// What went wrong storing or fetching a secret. Names the reference and the backend, never the
/// value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    #[error("secret {reference}: not found in the {backend} store")]
    NotFound {
        reference: String,
        backend: &'static str,
    },
    #[error("secret {reference}: the {backend} store failed: {message}")]
    Backend {
        reference: String,
        backend: &'static str,
        message: String,
    },
    #[error("secret {reference}: the {backend} store did not answer within {seconds} s")]
    Timeout {
        reference: String,
        backend: &'static str,
        seconds: u64,
    },
    #[error("secret {reference}: no {backend} store is configured here")]
    NoBackend {
        reference: String,
        backend: &'static str,
    },
    #[error("the OS keychain (Secret Service, service \"{service}\") is not available: {message}")]
    KeyringUnavailable { service: String, message: String },
    #[error("secret file {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("secret file {path}: permissions {mode:04o} let other users read it; only the owner may (run: chmod 600 '{path}')")]
    TooOpen { path: PathBuf, mode: u32 },
    #[error("{text:?} is not a secret reference (expected keyring:<id> or file:<id>)")]
    BadRef { text: String },
    #[error("{BACKEND_ENV}={value:?}: expected \"keyring\" or \"file\"")]
    BadBackendChoice { value: String },
}

/// The secret stores: one that new secrets go to, and both for reading references.
/// Cheap to clone; share it.
#[derive(Clone)]
pub struct SecretStore {
    inner: Arc<Inner>,
}

struct Inner {
    primary: &'static str,
    file: Option<FileBackend>,
    keyring_service: String,
    /// Made on first use when the primary is the file: a `keyring:` reference may come from a
    /// machine (or session) where the keychain answered.
    keyring: OnceLock<KeyringBackend>,
}

impl fmt::Debug for SecretStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretStore")
            .field("backend", &self.inner.primary)
            .field("file", &self.inner.file.as_ref().map(|f| f.path()))
            .finish()
    }
}

impl SecretStore {
    /// The OS keychain (service [`SERVICE`]) when one answers a probe (set, get and delete a
    /// throwaway entry, within a few seconds), else the owner-only file
    /// `<data_dir>/secrets.json`. `WAYMARK_SECRET_BACKEND=keyring|file` forces one; a forced
    /// keyring that does not answer is an error.
    pub fn open(data_dir: &Path) -> Result<Self, SecretError> {
        let choice = std::env::var(BACKEND_ENV).unwrap_or_default();
        Self::open_with(data_dir, choice.trim(), SERVICE)
    }

    /// [`SecretStore::open`] with the choice (`""`, `"keyring"` or `"file"`) and the keychain
    /// service given.
    pub fn open_with(data_dir: &Path, choice: &str, service: &str) -> Result<Self, SecretError> {
        let path = data_dir.join(FILE_NAME);
        match choice {
            "file" => Ok(Self::file_with_service(path, service)),
            "keyring" => Self::keyring_with_file(service, Some(path)),
            "" => Ok(Self::keyring_with_file(service, Some(path.clone()))
                .unwrap_or_else(|_| Self::file_with_service(path, service))),
            other => Err(SecretError::BadBackendChoice {
                value: other.chars().take(40).collect(),
            }),
        }
    }

    /// The owner-only file at `path` (created with mode 0600, its folder 0700, on first write).
    pub fn file(path: PathBuf) -> Self {
        Self::file_with_service(path, SERVICE)
    }

    fn file_with_service(path: PathBuf, service: &str) -> Self {
        SecretStore {
            inner: Arc::new(Inner {
                primary: file::BACKEND,
                file: Some(FileBackend::new(path)),
                keyring_service: service.to_string(),
                keyring: OnceLock::new(),
            }),
        }
    }

    /// The OS keychain under `service`, if it answers the probe. `file:` references cannot be
    /// read from a store made this way (use [`SecretStore::open`]).
    pub fn keyring(service: &str) -> Result<Self, SecretError> {
        Self::keyring_with_file(service, None)
    }

    fn keyring_with_file(service: &str, file: Option<PathBuf>) -> Result<Self, SecretError> {
        let backend = KeyringBackend::new(service);
        backend
            .probe()
            .map_err(|message| SecretError::KeyringUnavailable {
                service: service.to_string(),
                message,
            })?;
        let keyring = OnceLock::new();
        let _ = keyring.set(backend);
        Ok(SecretStore {
            inner: Arc::new(Inner {
                primary: keychain::BACKEND,
                file: file.map(FileBackend::new),
                keyring_service: service.to_string(),
                keyring,
            }),
        })
    }

    /// Where new secrets go: `"keyring"` or `"file"`.
    pub fn backend_name(&self) -> &'static str {
        self.inner.primary
    }

    /// Stores `value` under a new id (`hint`, cleaned to `[A-Za-z0-9._-]`, then a UUID).
    pub fn put(&self, hint: &str, value: &Secret) -> Result<SecretRef, SecretError> {
        let id = format!("{}.{}", sanitize(hint), uuid::Uuid::now_v7().simple());
        self.store(id, value)
    }

    /// Writes `value` at `id` in the primary backend.
    fn store(&self, id: String, value: &Secret) -> Result<SecretRef, SecretError> {
        let reference = SecretRef(format!("{}:{id}", self.inner.primary));
        if self.inner.primary == keychain::BACKEND {
            self.keychain().put(reference.as_str(), &id, value)?;
        } else {
            self.file_backend(&reference)?
                .put(&id, value)
                .map_err(|e| with_ref(e, &reference))?;
        }
        Ok(reference)
    }

    /// The reference of the fixed id `key` in the primary backend.
    fn at(&self, key: &str) -> SecretRef {
        SecretRef(format!("{}:{}", self.inner.primary, sanitize(key)))
    }

    /// Stores `value` at a fixed id (`key`, cleaned like a hint), replacing what is there: for
    /// values found again by their key rather than by a stored reference (sign-in tokens).
    pub fn put_at(&self, key: &str, value: &Secret) -> Result<SecretRef, SecretError> {
        self.store(sanitize(key), value)
    }

    /// The value stored at the fixed id `key` by [`SecretStore::put_at`], if any.
    pub fn get_at(&self, key: &str) -> Result<Option<Secret>, SecretError> {
        match self.get(&self.at(key)) {
            Ok(value) => Ok(Some(value)),
            Err(SecretError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the value at the fixed id `key` (nothing there is not an error).
    pub fn delete_at(&self, key: &str) -> Result<(), SecretError> {
        self.delete(&self.at(key))
    }

    /// The value behind `r`, from whichever backend its prefix names.
    pub fn get(&self, r: &SecretRef) -> Result<Secret, SecretError> {
        let (backend, id) = r.split();
        let found = if backend == keychain::BACKEND {
            self.keychain().get(r.as_str(), id)?
        } else {
            self.file_backend(r)?.get(id).map_err(|e| with_ref(e, r))?
        };
        found.ok_or_else(|| SecretError::NotFound {
            reference: r.to_string(),
            backend,
        })
    }

    /// Removes the value behind `r`. Deleting what is not there is not an error, so a cleanup
    /// that was interrupted can run again.
    pub fn delete(&self, r: &SecretRef) -> Result<(), SecretError> {
        let (backend, id) = r.split();
        if backend == keychain::BACKEND {
            self.keychain().delete(r.as_str(), id)?;
        } else {
            self.file_backend(r)?
                .delete(id)
                .map_err(|e| with_ref(e, r))?;
        }
        Ok(())
    }

    fn keychain(&self) -> &KeyringBackend {
        self.inner
            .keyring
            .get_or_init(|| KeyringBackend::new(&self.inner.keyring_service))
    }

    fn file_backend(&self, r: &SecretRef) -> Result<&FileBackend, SecretError> {
        self.inner
            .file
            .as_ref()
            .ok_or_else(|| SecretError::NoBackend {
                reference: r.to_string(),
                backend: file::BACKEND,
            })
    }
}

/// File errors name the file; add the reference for the generic ones.
fn with_ref(e: SecretError, r: &SecretRef) -> SecretError {
    match e {
        SecretError::File { path, message } => SecretError::File {
            path,
            message: format!("{message} (reading or writing {r})"),
        },
        other => other,
    }
}

/// The hint as an id prefix: safe characters only, at most 48 of them, never empty.
fn sanitize(hint: &str) -> String {
    let cleaned: String = hint
        .chars()
        .map(|c| if id_char(c) { c } else { '_' })
        .take(48)
        .collect();
    let trimmed = cleaned.trim_matches(|c| c == '_' || c == '.');
    if trimmed.is_empty() {
        "secret".into()
    } else {
        trimmed.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_parse_and_print_as_written() {
        let r: SecretRef = "file:mcp_x.0192".parse().expect("valid");
        assert_eq!(r.to_string(), "file:mcp_x.0192");
        assert_eq!(
            serde_json::to_string(&r).ok().as_deref(),
            Some("\"file:mcp_x.0192\"")
        );
        for bad in ["", "file:", "vault:x", "keyring:a/b", "plain"] {
            assert!(bad.parse::<SecretRef>().is_err(), "{bad}");
        }
        assert!(serde_json::from_str::<SecretRef>("\"nope\"").is_err());
    }

    #[test]
    fn hints_are_cleaned() {
        assert_eq!(
            sanitize("mcp/github/env/GITHUB_TOKEN"),
            "mcp_github_env_GITHUB_TOKEN"
        );
        assert_eq!(sanitize("//"), "secret");
        assert_eq!(sanitize(&"x".repeat(100)).len(), 48);
    }
}
