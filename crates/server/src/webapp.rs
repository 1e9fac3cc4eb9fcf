//! The web app: every GET outside the API is a file of the built UI (`ui/dist`), and any path
//! that is not a file is the app's `index.html` (its router reads the hash).

use std::path::{Component, Path, PathBuf};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

/// The app allows only its own origin: no CDN, no inline script, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; \
base-uri 'self'; frame-ancestors 'none'; form-action 'self'";

/// Where the built UI is: `WAYMARK_UI_DIR`, else `ui/dist` beside the executable's install
/// (`share/waymark/ui`), else the workspace's `ui/dist` this binary was built from.
pub fn ui_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("WAYMARK_UI_DIR") {
        return PathBuf::from(dir);
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(prefix) = exe.parent().and_then(Path::parent) {
            let installed = prefix.join("share/waymark/ui");
            if installed.join("index.html").is_file() {
                return installed;
            }
        }
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../ui/dist")
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "json" => "application/json",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Only plain relative components: `..`, roots and prefixes never leave the UI folder.
fn safe_relative(uri_path: &str) -> Option<PathBuf> {
    let rel = Path::new(uri_path.trim_start_matches('/'));
    let mut out = PathBuf::new();
    for c in rel.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

pub async fn serve_file(dir: &Path, uri_path: &str) -> Response {
    let rel = safe_relative(uri_path).unwrap_or_default();
    let candidate = dir.join(&rel);
    let (path, is_index) = if !rel.as_os_str().is_empty() && candidate.is_file() {
        (candidate, false)
    } else {
        (dir.join("index.html"), true)
    };
    let body = match tokio::fs::read(&path).await {
        Ok(b) => b,
        Err(_) if is_index => return missing_ui(dir),
        Err(_) => return StatusCode::NOT_FOUND.into_response(),
    };
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(&path)),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Hashed asset names never change content; the page itself is always revalidated.
    let cache = if rel.starts_with("assets") && !is_index {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    resp
}

/// Anyone can GET this page: it names no path (the log says where the app was looked for).
fn missing_ui(dir: &Path) -> Response {
    tracing::warn!(dir = %dir.display(), "the web app is not built");
    Html(
        "<!doctype html><meta charset=utf-8><title>Waymark</title>\
         <p>Waymark's API is running, but the web app is not built. \
         Run <code>make run</code> (or <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code>), \
         or see <a href=\"/api/docs\">the API documentation</a>.</p>",
    )
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_never_leave_the_ui_folder() {
        assert_eq!(
            safe_relative("/assets/a.js"),
            Some(PathBuf::from("assets/a.js"))
        );
        assert_eq!(safe_relative("/../etc/passwd"), None);
        assert_eq!(safe_relative("/assets/../../x"), None);
        assert_eq!(safe_relative("/"), Some(PathBuf::new()));
    }
}
