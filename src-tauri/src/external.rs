//! Opening a web page in the system browser (an MCP server's sign-in page): the webview cannot,
//! `window.open` stays inside it. `$BROWSER` first (the CLI's opener hook too, and what the
//! desktop smoke test uses to sign in headless), else the platform's opener.

use std::process::{Command, Stdio};

use tauri::Url;
use waymark_api::ApiError;

/// Only web pages: no `file:`, `javascript:`, custom schemes or relative paths.
pub fn check_url(url: &str) -> Result<Url, ApiError> {
    let parsed = Url::parse(url.trim())
        .map_err(|e| ApiError::invalid("url", format!("not a URL ({e}): {url:?}")))?;
    match parsed.scheme() {
        "http" | "https" if parsed.host_str().is_some_and(|h| !h.is_empty()) => Ok(parsed),
        "http" | "https" => Err(ApiError::invalid("url", format!("no host in {url:?}"))),
        other => Err(ApiError::invalid(
            "url",
            format!("only http:// and https:// pages are opened, not {other}: URLs"),
        )),
    }
}

/// The command line that opens `url`: `$BROWSER` split on whitespace with the URL last, else
/// the platform's opener.
fn opener(url: &Url, browser: Option<&str>) -> Command {
    if let Some(browser) = browser {
        let mut words = browser.split_whitespace();
        if let Some(program) = words.next() {
            let mut cmd = Command::new(program);
            cmd.args(words).arg(url.as_str());
            return cmd;
        }
    }
    platform_opener(url)
}

#[cfg(target_os = "macos")]
fn platform_opener(url: &Url) -> Command {
    let mut cmd = Command::new("open");
    cmd.arg(url.as_str());
    cmd
}

#[cfg(windows)]
fn platform_opener(url: &Url) -> Command {
    use std::os::windows::process::CommandExt as _;
    // `start` is a cmd built-in; its first quoted argument is the window title. The URL is
    // quoted too, so that the `&` of a query string does not end the command (a parsed URL
    // carries no `"`: it is percent-encoded).
    let mut cmd = Command::new("cmd");
    cmd.args(["/C", "start", ""])
        .raw_arg(format!("\"{}\"", url.as_str()));
    cmd
}

#[cfg(not(any(target_os = "macos", windows)))]
fn platform_opener(url: &Url) -> Command {
    let mut cmd = Command::new("xdg-open");
    cmd.arg(url.as_str());
    cmd
}

/// Starts the opener and returns at once; a thread waits for it (no zombie) and logs a failure.
pub fn open(url: &str) -> Result<(), ApiError> {
    let url = check_url(url)?;
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let mut cmd = opener(&url, browser.as_deref());
    let program = cmd.get_program().to_string_lossy().into_owned();
    let mut child = cmd.stdin(Stdio::null()).spawn().map_err(|e| {
        ApiError::internal(format!(
            "cannot run the browser opener {program:?}: {e}; open the page yourself"
        ))
    })?;
    tracing::info!(opener = %program, host = url.host_str().unwrap_or(""), "opening a page in the browser");
    std::thread::Builder::new()
        .name("open-external".into())
        .spawn(move || match child.wait() {
            Ok(status) if !status.success() => {
                tracing::warn!(opener = %program, %status, "the browser opener failed")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(opener = %program, error = %e, "cannot wait for the browser opener")
            }
        })
        .map_err(|e| ApiError::internal(format!("cannot start a thread: {e}")))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_pages() {
        assert!(check_url("https://auth.example.com/authorize?a=1&b=2").is_ok());
        assert!(check_url("http://127.0.0.1:8080/authorize").is_ok());
        for bad in [
            "file:///etc/passwd",
            "javascript:alert(1)",
            "ftp://example.com/",
            "/relative",
            "",
            "mailto:a@example.com",
        ] {
            let e = check_url(bad).expect_err(bad);
            assert_eq!(e.field.as_deref(), Some("url"), "{bad}");
        }
    }

    #[test]
    fn browser_words_then_the_url() {
        let url = check_url("http://127.0.0.1:1/authorize?x=1&y=2").unwrap();
        let cmd = opener(&url, Some("  node  /tmp/open.mjs "));
        assert_eq!(cmd.get_program(), "node");
        let args: Vec<_> = cmd.get_args().collect();
        assert_eq!(
            args,
            ["/tmp/open.mjs", "http://127.0.0.1:1/authorize?x=1&y=2"]
        );
        // Blank: the platform's opener.
        let cmd = opener(&url, Some("   "));
        assert_ne!(cmd.get_program(), "");
    }
}
