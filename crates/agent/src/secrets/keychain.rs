//! The OS keychain through the `keyring` crate: the Secret Service over D-Bus on Linux, the
//! Keychain on macOS, the Credential Manager on Windows. Every call runs on its own thread with
//! a deadline, because a D-Bus peer that never answers (no session, a stuck daemon, an unlock
//! prompt nobody sees) would otherwise block the caller for good.

use std::sync::mpsc;
use std::time::Duration;

use super::SecretError;
use crate::secret::Secret;

pub(super) const BACKEND: &str = "keyring";

/// How long the probe in [`KeyringBackend::probe`] may take in all.
pub(super) const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one call may take: long enough for a user to answer an unlock prompt.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);
/// Platforms whose keychain this crate is built with. Elsewhere the `keyring` crate falls back
/// to an in-memory mock that would answer the probe and then lose every secret at exit.
const SUPPORTED: bool = cfg!(any(
    target_os = "linux",
    target_os = "macos",
    target_os = "windows"
));

pub(super) struct KeyringBackend {
    service: String,
}

/// What one keychain call came back with, with the value-free message of a failure.
enum Outcome<T> {
    Done(T),
    Missing,
    Failed(String),
    /// The keychain did not answer a call in time (a stuck or stopped daemon).
    NoAnswer,
}

impl KeyringBackend {
    pub(super) fn new(service: &str) -> Self {
        KeyringBackend {
            service: service.to_string(),
        }
    }

    /// Sets, reads back and deletes a throwaway entry: a keychain that answers all three works.
    pub(super) fn probe(&self) -> Result<(), String> {
        if !SUPPORTED {
            return Err("no OS keychain support on this platform".into());
        }
        let service = self.service.clone();
        let id = format!("probe-{}", uuid::Uuid::now_v7().simple());
        let run = move || -> Result<(), String> {
            let entry = keyring::Entry::new(&service, &id).map_err(|e| e.to_string())?;
            entry.set_password("probe").map_err(|e| e.to_string())?;
            let back = entry.get_password().map_err(|e| e.to_string());
            let deleted = entry.delete_credential().map_err(|e| e.to_string());
            match back? {
                v if v == "probe" => deleted,
                _ => Err("the probe entry read back differently".into()),
            }
        };
        match on_thread(run, PROBE_TIMEOUT) {
            Some(r) => r,
            None => Err(format!(
                "no answer within {} s",
                PROBE_TIMEOUT.as_secs_f32()
            )),
        }
    }

    pub(super) fn put(&self, reference: &str, id: &str, value: &Secret) -> Result<(), SecretError> {
        let value = value.clone();
        let scrub = value.clone();
        let outcome = self.call(
            reference,
            move |entry| match entry.set_password(value.expose()) {
                Ok(()) => Outcome::Done(()),
                Err(e) => failed(&e, |e| scrub.scrub(&describe(e))),
            },
            id,
        )?;
        self.finish(reference, outcome)
    }

    pub(super) fn get(&self, reference: &str, id: &str) -> Result<Option<Secret>, SecretError> {
        let outcome = self.call(
            reference,
            |entry| match entry.get_password() {
                Ok(v) => Outcome::Done(Some(Secret::new(v))),
                Err(keyring::Error::NoEntry) => Outcome::Missing,
                Err(e) => failed(&e, describe),
            },
            id,
        )?;
        match outcome {
            Outcome::Missing => Ok(None),
            other => self.finish(reference, other),
        }
    }

    /// Whether the entry was there.
    pub(super) fn delete(&self, reference: &str, id: &str) -> Result<bool, SecretError> {
        let outcome = self.call(
            reference,
            |entry| match entry.delete_credential() {
                Ok(()) => Outcome::Done(true),
                Err(keyring::Error::NoEntry) => Outcome::Missing,
                Err(e) => failed(&e, describe),
            },
            id,
        )?;
        match outcome {
            Outcome::Missing => Ok(false),
            other => self.finish(reference, other),
        }
    }

    fn call<T: Send + 'static>(
        &self,
        reference: &str,
        f: impl FnOnce(&keyring::Entry) -> Outcome<T> + Send + 'static,
        id: &str,
    ) -> Result<Outcome<T>, SecretError> {
        if !SUPPORTED {
            return Ok(Outcome::Failed(
                "no OS keychain support on this platform".into(),
            ));
        }
        let service = self.service.clone();
        let id = id.to_string();
        let run = move || match keyring::Entry::new(&service, &id) {
            Ok(entry) => f(&entry),
            Err(e) => Outcome::Failed(describe(&e)),
        };
        on_thread(run, CALL_TIMEOUT).ok_or_else(|| SecretError::Timeout {
            reference: reference.to_string(),
            backend: BACKEND,
            seconds: CALL_TIMEOUT.as_secs(),
        })
    }

    fn finish<T>(&self, reference: &str, outcome: Outcome<T>) -> Result<T, SecretError> {
        match outcome {
            Outcome::Done(v) => Ok(v),
            Outcome::NoAnswer => Err(SecretError::Timeout {
                reference: reference.to_string(),
                backend: BACKEND,
                seconds: DBUS_CALL_TIMEOUT_SECS,
            }),
            Outcome::Missing => Err(SecretError::NotFound {
                reference: reference.to_string(),
                backend: BACKEND,
            }),
            Outcome::Failed(message) => Err(SecretError::Backend {
                reference: reference.to_string(),
                backend: BACKEND,
                message,
            }),
        }
    }
}

/// How long the Secret Service client waits for one D-Bus reply (dbus-secret-service's own
/// limit): a daemon that is stopped or stuck answers nothing in that time.
const DBUS_CALL_TIMEOUT_SECS: u64 = 2;

/// A failed call: no answer from the keychain (told by the D-Bus error's name, not its text),
/// or another failure described by `describe`.
fn failed<T>(e: &keyring::Error, describe: impl FnOnce(&keyring::Error) -> String) -> Outcome<T> {
    if is_no_reply(e) {
        Outcome::NoAnswer
    } else {
        Outcome::Failed(describe(e))
    }
}

#[cfg(target_os = "linux")]
fn is_no_reply(e: &keyring::Error) -> bool {
    let keyring::Error::PlatformFailure(inner) = e else {
        return false;
    };
    matches!(
        inner.downcast_ref::<dbus_secret_service::Error>(),
        Some(dbus_secret_service::Error::Dbus(d))
            if matches!(d.name(), Some("org.freedesktop.DBus.Error.NoReply" | "org.freedesktop.DBus.Error.Timeout"))
    )
}

#[cfg(not(target_os = "linux"))]
fn is_no_reply(_: &keyring::Error) -> bool {
    false
}

/// The error's text, except for the one variant that carries the stored bytes.
fn describe(e: &keyring::Error) -> String {
    match e {
        keyring::Error::BadEncoding(_) => "the stored value is not UTF-8".into(),
        keyring::Error::Ambiguous(found) => {
            format!("{} entries match this reference", found.len())
        }
        other => other.to_string(),
    }
}

/// Runs `f` on a new thread and waits at most `timeout`; `None` on timeout (the thread is left
/// to finish or hang on its own) or if it panicked.
fn on_thread<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
    timeout: Duration,
) -> Option<T> {
    let (tx, rx) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("waymark-keyring".into())
        .spawn(move || {
            let _ = tx.send(f());
        });
    if spawned.is_err() {
        return None;
    }
    rx.recv_timeout(timeout).ok()
}
