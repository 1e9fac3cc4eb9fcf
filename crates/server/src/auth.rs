//! Who may call the API: a bearer token (from `--token-file`, or generated once into the data
//! directory with owner-only permissions). The web app sends it too, from its tab's
//! `sessionStorage`: there is no cookie, which a browser would send to every port of
//! 127.0.0.1 and so to any other local service that asks. Requests whose Host is not the
//! bound address (DNS rebinding) or whose Origin is foreign are refused before anything else.

use std::io::Write as _;
use std::path::Path;

use crate::ServerError;

pub struct Auth {
    token: String,
    /// `127.0.0.1:PORT`, `localhost:PORT` (and `[::1]:PORT`): the Host values we answer to.
    hosts: Vec<String>,
    origins: Vec<String>,
}

impl Auth {
    pub fn new(token: String, port: u16, ip: std::net::IpAddr) -> Self {
        let mut hosts = vec![format!("{ip}:{port}"), format!("localhost:{port}")];
        if ip.is_ipv6() {
            hosts.push(format!("[{ip}]:{port}"));
        }
        let origins = hosts.iter().map(|h| format!("http://{h}")).collect();
        Auth {
            token,
            hosts,
            origins,
        }
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// A rebinding attack reaches us with the attacker's host name: only our own is served.
    pub fn host_ok(&self, host: Option<&str>) -> bool {
        host.is_some_and(|h| self.hosts.iter().any(|ours| ours.eq_ignore_ascii_case(h)))
    }

    /// Browsers send Origin on cross-site requests; a page of ours has our origin.
    pub fn origin_ok(&self, origin: Option<&str>) -> bool {
        origin.is_none_or(|o| self.origins.iter().any(|ours| ours.eq_ignore_ascii_case(o)))
    }

    pub fn bearer_ok(&self, authorization: Option<&str>) -> bool {
        authorization
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| constant_time_eq(t.trim().as_bytes(), self.token.as_bytes()))
    }
}

/// Equal length and content, in time that does not depend on where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    getrandom(&mut buf);
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// The OS's randomness (no extra crate: /dev/urandom on the systems we run on; a UUIDv4's
/// randomness elsewhere).
fn getrandom(buf: &mut [u8]) {
    use std::io::Read as _;
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(buf).is_ok() {
            return;
        }
    }
    for chunk in buf.chunks_mut(16) {
        let r = uuid::Uuid::new_v4();
        let bytes = r.as_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
}

/// The token: from `file` when given, else `<data_dir>/api-token`, created on first start
/// with owner-only permissions. A token file others can read is refused: anyone who can
/// read it can drive every agent and tool.
pub fn load_token(file: Option<&Path>, data_dir: &Path) -> Result<String, ServerError> {
    if let Some(file) = file {
        let token = std::fs::read_to_string(file).map_err(|e| {
            ServerError::Token(format!(
                "cannot read the token file {}: {e}",
                file.display()
            ))
        })?;
        owner_only(file)?;
        let token = token.trim().to_string();
        if token.len() < 16 {
            return Err(ServerError::Token(format!(
                "{}: the token must be at least 16 characters",
                file.display()
            )));
        }
        return Ok(token);
    }
    let path = data_dir.join("api-token");
    if let Ok(existing) = std::fs::read_to_string(&path) {
        owner_only(&path)?;
        let existing = existing.trim().to_string();
        if existing.len() >= 16 {
            return Ok(existing);
        }
    }
    waymark_host::paths::create_private_dir(data_dir)
        .map_err(|e| ServerError::Token(format!("cannot create {}: {e}", data_dir.display())))?;
    let token = random_hex(32);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let cannot_write =
        |e: std::io::Error| ServerError::Token(format!("cannot write {}: {e}", path.display()));
    let mut f = options.open(&path).map_err(cannot_write)?;
    f.write_all(token.as_bytes()).map_err(cannot_write)?;
    Ok(token)
}

/// Refuses a file with any group or other permission bit, naming the fix.
fn owner_only(path: &Path) -> Result<(), ServerError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(path)
            .map_err(|e| ServerError::Token(format!("cannot read {}: {e}", path.display())))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(ServerError::Token(format!(
                "the token file {} can be read by other users (mode {:03o}); run: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_origins_and_tokens() {
        let auth = Auth::new("t".repeat(32), 4000, "127.0.0.1".parse().unwrap());
        assert!(auth.host_ok(Some("127.0.0.1:4000")));
        assert!(auth.host_ok(Some("localhost:4000")));
        assert!(!auth.host_ok(Some("evil.example:4000")));
        assert!(!auth.host_ok(None));
        assert!(auth.origin_ok(None));
        assert!(auth.origin_ok(Some("http://127.0.0.1:4000")));
        assert!(!auth.origin_ok(Some("http://evil.example")));
        assert!(auth.bearer_ok(Some(&format!("Bearer {}", "t".repeat(32)))));
        assert!(!auth.bearer_ok(Some("Bearer nope")));
    }
}
