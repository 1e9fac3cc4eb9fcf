//! The fallback store: one owner-only JSON file, `{"secrets": {id: value}}`. Used when no OS
//! keychain answers (a headless server, a container). Written atomically (a 0600 temp file
//! renamed over the old one) under an advisory lock, so the CLI and the app may share it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::SecretError;
use crate::secret::Secret;

pub(super) const BACKEND: &str = "file";

#[derive(Default, Serialize, Deserialize)]
struct Contents {
    #[serde(default)]
    secrets: BTreeMap<String, String>,
}

pub(super) struct FileBackend {
    path: PathBuf,
    /// Serializes this process's read-modify-write cycles; the file lock covers other processes.
    local: Mutex<()>,
}

impl FileBackend {
    pub(super) fn new(path: PathBuf) -> Self {
        FileBackend {
            path,
            local: Mutex::new(()),
        }
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn get(&self, id: &str) -> Result<Option<Secret>, SecretError> {
        let _guard = self.local.lock().unwrap_or_else(|e| e.into_inner());
        Ok(self.read()?.secrets.get(id).map(|v| Secret::new(v.clone())))
    }

    pub(super) fn put(&self, id: &str, value: &Secret) -> Result<(), SecretError> {
        self.update(|c| {
            c.secrets.insert(id.to_string(), value.expose().to_string());
            true
        })
    }

    /// Whether the id was there.
    pub(super) fn delete(&self, id: &str) -> Result<bool, SecretError> {
        let mut found = false;
        self.update(|c| {
            found = c.secrets.remove(id).is_some();
            found
        })?;
        Ok(found)
    }

    /// Reads, changes and rewrites the file while holding both locks; `change` says whether
    /// anything changed (nothing is written otherwise).
    fn update(&self, change: impl FnOnce(&mut Contents) -> bool) -> Result<(), SecretError> {
        let _guard = self.local.lock().unwrap_or_else(|e| e.into_inner());
        self.ensure_dir()?;
        let _lock = self.lock_file()?;
        let mut contents = self.read()?;
        if change(&mut contents) {
            self.write(&contents)?;
        }
        Ok(())
    }

    fn err(&self, message: impl Into<String>) -> SecretError {
        SecretError::File {
            path: self.path.clone(),
            message: message.into(),
        }
    }

    fn ensure_dir(&self) -> Result<(), SecretError> {
        let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) else {
            return Ok(());
        };
        if dir.is_dir() {
            return Ok(());
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(dir)
            .map_err(|e| self.err(format!("cannot create the folder {}: {e}", dir.display())))
    }

    /// An exclusive advisory lock on `<file>.lock`, released when the returned file closes.
    fn lock_file(&self) -> Result<File, SecretError> {
        let mut name = self.path.as_os_str().to_owned();
        name.push(".lock");
        let lock_path = PathBuf::from(name);
        let mut options = OpenOptions::new();
        options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options
            .open(&lock_path)
            .map_err(|e| self.err(format!("cannot open {}: {e}", lock_path.display())))?;
        #[cfg(unix)]
        {
            use std::os::unix::io::AsRawFd;
            // SAFETY: flock on a file descriptor this function owns; no memory is shared.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc != 0 {
                let e = std::io::Error::last_os_error();
                return Err(self.err(format!("cannot lock {}: {e}", lock_path.display())));
            }
        }
        Ok(file)
    }

    fn read(&self) -> Result<Contents, SecretError> {
        let file = match File::open(&self.path) {
            Ok(f) => f,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Contents::default()),
            Err(e) => return Err(self.err(format!("cannot open: {e}"))),
        };
        let meta = file
            .metadata()
            .map_err(|e| self.err(format!("cannot read its metadata: {e}")))?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            // Anyone else able to read (or replace) the file has the secrets already: refuse
            // rather than quietly keep using it.
            if mode & 0o077 != 0 {
                return Err(SecretError::TooOpen {
                    path: self.path.clone(),
                    mode,
                });
            }
        }
        if !meta.is_file() {
            return Err(self.err("not a regular file"));
        }
        let text =
            std::io::read_to_string(file).map_err(|e| self.err(format!("cannot read: {e}")))?;
        if text.trim().is_empty() {
            return Ok(Contents::default());
        }
        // serde_json's messages may quote the text they choke on, which could be a secret:
        // report only where and what kind of error.
        serde_json::from_str(&text).map_err(|e| {
            self.err(format!(
                "not a valid secrets file ({:?} error at line {}, column {})",
                e.classify(),
                e.line(),
                e.column()
            ))
        })
    }

    fn write(&self, contents: &Contents) -> Result<(), SecretError> {
        let json = serde_json::to_vec_pretty(contents)
            .map_err(|e| self.err(format!("cannot encode: {:?}", e.classify())))?;
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let file_name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "secrets.json".into());
        let tmp = dir.join(format!(
            ".{file_name}.{}.tmp",
            uuid::Uuid::now_v7().simple()
        ));
        let result = (|| {
            let mut options = OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut f = options.open(&tmp)?;
            f.write_all(&json)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, &self.path)?;
            // The rename is durable once the directory entry is.
            #[cfg(unix)]
            File::open(dir)?.sync_all()?;
            Ok::<_, std::io::Error>(())
        })();
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(self.err(format!("cannot write: {e}")));
        }
        Ok(())
    }
}
