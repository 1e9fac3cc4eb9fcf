//! How a stdio server's process starts and stops. It gets a minimal environment (what the
//! official MCP SDKs pass by default, the locale, and its own configured values: never the
//! provider keys Waymark was started with), and a process group of its own that is killed
//! whole, so a launcher's children (npx → node) do not outlive it.

use std::collections::BTreeMap;
use std::ffi::OsString;

use crate::secret::Secret;

/// The variables the official MCP SDKs pass to a stdio server by default on Unix.
pub(crate) const INHERITED_ENV: [&str; 6] = ["HOME", "LOGNAME", "PATH", "SHELL", "TERM", "USER"];

/// The variables of this process a stdio server inherits: [`INHERITED_ENV`] and the locale
/// (`LANG`, `LANGUAGE`, `LC_*`). Like the SDKs, values that are shell functions (`() {…`) are
/// left out.
pub(crate) fn inherited_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os()
        .filter(|(name, value)| {
            let Some(name) = name.to_str() else {
                return false;
            };
            let wanted = INHERITED_ENV.contains(&name)
                || name == "LANG"
                || name == "LANGUAGE"
                || name.starts_with("LC_");
            wanted && !value.to_string_lossy().starts_with("()")
        })
        .collect()
}

/// The command for a stdio server: a clean environment, then the inherited variables, then
/// its own values (which win); a process group of its own; killed if dropped.
pub(crate) fn stdio_command(
    command: &str,
    args: &[String],
    env: &BTreeMap<String, Secret>,
    cwd: Option<&str>,
) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(command);
    cmd.args(args)
        .env_clear()
        .envs(inherited_env())
        .envs(env.iter().map(|(k, v)| (k, v.expose())))
        // A child must not outlive the hub, whatever path drops it.
        .kill_on_drop(true);
    #[cfg(unix)]
    cmd.process_group(0);
    if let Some(cwd) = cwd {
        cmd.current_dir(cwd);
    }
    cmd
}

/// A started server's process group (its id is the server's pid). Killed when dropped or
/// [`ProcessGroup::kill`]ed, whichever comes first.
pub(crate) struct ProcessGroup {
    #[cfg_attr(not(unix), allow(dead_code))]
    pgid: Option<i32>,
}

impl ProcessGroup {
    /// The group led by `pid`; nothing when the pid is unknown (the child already exited).
    pub(crate) fn led_by(pid: Option<u32>) -> Self {
        // 0 and 1 would name our own group and init's: never signal those.
        let pgid = pid.and_then(|p| i32::try_from(p).ok()).filter(|p| *p > 1);
        ProcessGroup { pgid }
    }

    /// SIGKILL to every process still in the group. Once only: afterwards the id may be reused.
    pub(crate) fn kill(&mut self) {
        #[cfg(unix)]
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: killpg only sends a signal; a group that is already gone gives ESRCH,
            // which is what we want then.
            unsafe {
                libc::killpg(pgid, libc::SIGKILL);
            }
        }
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}
