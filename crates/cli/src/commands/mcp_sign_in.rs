//! Signing in to MCP servers from the terminal: `waymark mcp login|logout`, and the sign-in a
//! tools/call command does when the server asks for one. The host does the OAuth; this door
//! only opens (or prints) the URL.

use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{anyhow, bail};
use waymark_api::{
    Api, ApiError, ErrorCode, McpServerRequest, McpSignInFinishRequest, SignInState,
};

use super::{api_error, open_host};
use crate::cli::{McpLoginArgs, McpNameArgs};
use crate::output::emit;

/// Sign-ins one command does at most: the first, and up to two scope step-ups. A server that
/// keeps asking for more is refused rather than looped on.
const MAX_SIGN_INS: usize = 3;

/// How to get a person (or a headless opener) to the sign-in URL.
pub struct Opener<'a> {
    pub open_with: Option<&'a str>,
    pub wait_secs: u64,
}

pub async fn login(db: &Path, a: McpLoginArgs) -> anyhow::Result<ExitCode> {
    let host = open_host(db).await?;
    let api = host.api().clone();
    let opener = Opener {
        open_with: a.open_with.as_deref(),
        wait_secs: a.sign_in_wait_secs,
    };
    let out = sign_in(&api, &a.name, &opener).await;
    host.shutdown(waymark_host::DEFAULT_SHUTDOWN_LIMIT).await;
    let state = out?;
    emit(&format!("{}: {}", a.name, describe_state(&state)))?;
    Ok(ExitCode::SUCCESS)
}

pub async fn logout(db: &Path, a: McpNameArgs) -> anyhow::Result<ExitCode> {
    let host = open_host(db).await?;
    let out = host
        .api()
        .mcp_sign_out(McpServerRequest {
            server: a.name.clone(),
        })
        .await;
    host.shutdown(waymark_host::DEFAULT_SHUTDOWN_LIMIT).await;
    out.map_err(api_error)?;
    emit(&format!(
        "signed out of {}; its tokens were removed",
        a.name
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// One browser sign-in: the URL opened (or printed), then the wait for its redirect.
pub async fn sign_in(api: &Api, server: &str, opener: &Opener<'_>) -> anyhow::Result<SignInState> {
    let started = api
        .mcp_sign_in_start(McpServerRequest {
            server: server.to_string(),
        })
        .await
        .map_err(api_error)?;
    let shown = display_name(server);
    eprintln!("sign in to {shown}: {}", started.url);
    open_url(&started.url, opener.open_with)?;
    eprintln!("waiting for the sign-in to finish in the browser…");
    let finished = api
        .mcp_sign_in_finish(McpSignInFinishRequest {
            sign_in_id: started.sign_in_id,
            wait_secs: Some(opener.wait_secs),
        })
        .await
        .map_err(|e| anyhow!("signing in to {shown}: {}", e.message))?;
    Ok(finished.sign_in)
}

/// Runs `op`; when the server asks for a sign-in, signs in and runs it again (a few times at
/// most, for scope step-ups).
pub async fn with_sign_in<T, F, Fut>(
    api: &Api,
    server: &str,
    opener: &Opener<'_>,
    mut op: F,
) -> anyhow::Result<Result<T, ApiError>>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ApiError>>,
{
    let mut sign_ins = 0;
    loop {
        match op().await {
            Err(e) if e.code == ErrorCode::SignInRequired => {
                if sign_ins == MAX_SIGN_INS {
                    bail!(
                        "{} still refuses after {MAX_SIGN_INS} sign-ins: {}",
                        display_name(server),
                        e.message
                    );
                }
                sign_ins += 1;
                sign_in(api, server, opener).await?;
            }
            other => return Ok(other),
        }
    }
}

/// Runs the opener: `--open-with CMD`, else `$BROWSER`, else nothing (the URL was printed).
fn open_url(url: &str, open_with: Option<&str>) -> anyhow::Result<()> {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let Some(command) = open_with.map(str::to_string).or(browser) else {
        eprintln!("open that URL in a browser to sign in");
        return Ok(());
    };
    let mut words = command.split_whitespace();
    let Some(program) = words.next() else {
        return Ok(());
    };
    // The opener runs on its own; its failure is shown, and the wait goes on (the person can
    // still open the printed URL).
    match std::process::Command::new(program)
        .args(words)
        .arg(url)
        .stdin(std::process::Stdio::null())
        .spawn()
    {
        Ok(_) => Ok(()),
        Err(e) => {
            eprintln!("could not run the opener {program:?}: {e}; open the URL yourself");
            Ok(())
        }
    }
}

/// A tried server's internal name is not for people.
fn display_name(server: &str) -> String {
    if server.starts_with(waymark_api::TRIED_SERVER_PREFIX) {
        "the server".to_string()
    } else {
        format!("\"{server}\"")
    }
}

/// A sign-in state as one line.
pub fn describe_state(state: &SignInState) -> String {
    match state {
        SignInState::NotNeeded => "no sign-in needed".into(),
        SignInState::SignedIn {
            issuer,
            expires_at_ms,
            refreshable,
            ..
        } => {
            let by = issuer
                .as_deref()
                .map(|i| format!(" with {i}"))
                .unwrap_or_default();
            let until = match expires_at_ms {
                Some(ms) => {
                    let left = (ms - now_ms()) / 1000;
                    if left > 0 {
                        format!("; token expires in {left} s")
                    } else {
                        "; token expired".to_string()
                    }
                }
                None => String::new(),
            };
            let refresh = if *refreshable {
                ", refreshed automatically"
            } else {
                ""
            };
            format!("signed in{by}{until}{refresh}")
        }
        SignInState::Required { reason } => format!("sign in again ({reason})"),
        SignInState::Waiting { .. } => "waiting for a sign-in in the browser".into(),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}
