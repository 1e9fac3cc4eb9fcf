//! The database password kept in this machine's secret store (the OS keychain, or the
//! owner-only secrets file where there is none), found again by the server, port, database and
//! user it is for. It is looked for after `$PGPASSWORD` and before the password file.

use sha2::{Digest as _, Sha256};
use waymark_agent::{Secret, SecretStore};
use waymark_engine::StoreError;

use crate::passfile::Target;

/// The secret store's key for `target`'s password: a digest, so that any host name fits the
/// store's key alphabet and two databases never share a key.
pub(crate) fn key_for(target: &Target<'_>) -> String {
    let name = format!(
        "{}@{}:{}/{}",
        target.user, target.host, target.port, target.database
    );
    let digest = Sha256::digest(name.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("postgres-password.{hex}")
}

/// The password stored for `target`, if any.
pub(crate) fn stored(secrets: &SecretStore, target: &Target<'_>) -> Result<Option<String>, String> {
    secrets
        .get_at(&key_for(target))
        .map(|found| found.map(|s| s.expose().to_string()))
        .map_err(|e| format!("the stored database password could not be read: {e}"))
}

/// Stores `password` for the database `url` names (its user, host, port and database) in
/// `secrets`, replacing one stored before. Returns where it went (`keyring` or `file`).
pub fn remember_password(
    secrets: &SecretStore,
    url: &str,
    password: &Secret,
) -> Result<&'static str, StoreError> {
    let key = crate::Connector::password_key(url)?;
    secrets
        .put_at(&key, password)
        .map_err(|e| StoreError::Open {
            path: crate::without_password(url),
            detail: format!("the password could not be stored: {e}"),
        })?;
    Ok(secrets.backend_name())
}

/// Removes the password stored for the database `url` names; whether there was one.
pub fn forget_password(secrets: &SecretStore, url: &str) -> Result<bool, StoreError> {
    let key = crate::Connector::password_key(url)?;
    let err = |e: waymark_agent::secrets::SecretError| StoreError::Open {
        path: crate::without_password(url),
        detail: format!("the stored password could not be removed: {e}"),
    };
    let had = secrets.get_at(&key).map_err(err)?.is_some();
    secrets.delete_at(&key).map_err(err)?;
    Ok(had)
}
