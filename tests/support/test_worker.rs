//! A worker process for the end-to-end tests: the engine's worker with the test functions,
//! which the tests start, freeze and `kill -9`.
//!
//! Usage: waymark-test-worker --db PATH|postgres://URL --ledger PATH [--lease-ms N] [--max-runs N] [--agents DATA_DIR]
//!        waymark-test-worker demo-tools --outbox PATH   (the demo MCP server on stdio)
//! With `--agents`, the worker also runs agents (the agent loop, the catalog's MCP servers).
//! Environment: CHAOS_PAUSE_AT=<point> CHAOS_PAUSE_AFTER=<n> stops the process (it prints
//! `PAUSED <point>` and blocks) the n-th time it reaches that point, for the test to kill it.
//! Points: `before_commit:<transition>`, `after_commit:<transition>`, `mid_step:retry_safe`,
//! `mid_step:at_most_once`.

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use waymark_engine::*;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

/// Appends one line to the side-effect ledger and flushes it to the OS before returning.
fn ledger_append(path: &PathBuf, line: &str) -> Result<(), StepError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| StepError::retryable("ledger", e.to_string()))?;
    // One write call: a kill cannot leave half a line for the next append to continue.
    f.write_all(format!("{line}\n").as_bytes())
        .map_err(|e| StepError::retryable("ledger", e.to_string()))
}

/// The pause point of this process, from the environment: (point, on which hit).
fn pause_point() -> Option<&'static (String, u32)> {
    static POINT: OnceLock<Option<(String, u32)>> = OnceLock::new();
    POINT
        .get_or_init(|| {
            let point = std::env::var("CHAOS_PAUSE_AT").ok()?;
            let after = std::env::var("CHAOS_PAUSE_AFTER")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(1);
            Some((point, after))
        })
        .as_ref()
}

/// Stops here, for the test to kill the process, the n-th time `reached` is the pause point.
fn pause_if(reached: &str) {
    static HITS: AtomicU32 = AtomicU32::new(0);
    let Some((point, after)) = pause_point() else {
        return;
    };
    if reached == point && HITS.fetch_add(1, Ordering::SeqCst) + 1 == *after {
        println!("PAUSED {reached}");
        let _ = std::io::stdout().flush();
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
}

/// `chaos`: alternating retry_safe and at_most_once steps whose effects go to the ledger.
fn chaos(ledger: PathBuf) -> DurableFunction {
    DurableFunction::new("chaos", 1, move |ctx: RunContext, input: Value| {
        let ledger = ledger.clone();
        async move {
            let steps = input["steps"].as_u64().unwrap_or(4);
            let mut total = 0u64;
            for i in 0..steps {
                let safety = if i % 2 == 0 {
                    SafetyClass::RetrySafe
                } else {
                    SafetyClass::AtMostOnce
                };
                let key = format!("{}/{i}", if i % 2 == 0 { "safe" } else { "once" });
                let spec = match safety {
                    SafetyClass::RetrySafe => StepSpec::retry_safe(key.clone()),
                    SafetyClass::AtMostOnce => StepSpec::at_most_once(key.clone()),
                };
                let ledger = ledger.clone();
                let run = ctx.run_id();
                let v: u64 = ctx
                    .step(spec, move |a| {
                        let ledger = ledger.clone();
                        let key = key.clone();
                        async move {
                            ledger_append(
                                &ledger,
                                &format!("{run} {key} {} {}", a.number, std::process::id()),
                            )?;
                            // The effect happened; the result is not journaled yet.
                            pause_if(&format!("mid_step:{}", safety.as_str()));
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            Ok(i)
                        }
                    })
                    .await?;
                total += v;
            }
            Ok(json!({ "total": total }))
        }
    })
}

/// `fenced`: one retry_safe step whose first attempt is slow (it gets frozen there); the output
/// names the process that produced it.
fn fenced(ledger: PathBuf) -> DurableFunction {
    DurableFunction::new("fenced", 1, move |ctx: RunContext, _input: Value| {
        let ledger = ledger.clone();
        async move {
            let by: u32 = ctx
                .step(StepSpec::retry_safe("work"), move |a| {
                    let ledger = ledger.clone();
                    async move {
                        let pid = std::process::id();
                        ledger_append(&ledger, &format!("start {pid} attempt {}", a.number))?;
                        if a.number == 1 {
                            println!("WORKING {pid}");
                            let _ = std::io::stdout().flush();
                            tokio::time::sleep(Duration::from_secs(3)).await;
                        }
                        ledger_append(&ledger, &format!("finish {pid} attempt {}", a.number))?;
                        Ok(pid)
                    }
                })
                .await?;
            Ok(json!({ "by": by }))
        }
    })
}

/// `suspended`: one at_most_once step that prints `SIDE_EFFECT <pid>`, then takes its time (the
/// test suspends the process meanwhile) and finishes.
fn suspended(ledger: PathBuf) -> DurableFunction {
    DurableFunction::new("suspended", 1, move |ctx: RunContext, _input: Value| {
        let ledger = ledger.clone();
        async move {
            ctx.step(StepSpec::at_most_once("send"), move |a| {
                let ledger = ledger.clone();
                async move {
                    ledger_append(&ledger, &format!("send attempt {}", a.number))?;
                    println!("SIDE_EFFECT {}", std::process::id());
                    let _ = std::io::stdout().flush();
                    tokio::time::sleep(Duration::from_millis(3000)).await;
                    Ok(json!({ "sent": true }))
                }
            })
            .await
        }
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("demo-tools") {
        let outbox = PathBuf::from(arg(&args, "--outbox").context("--outbox PATH is required")?);
        let config = waymark_demo_tools::DemoToolsConfig::from_env(outbox)?;
        waymark_demo_tools::serve_until_ctrl_c(config, None).await?;
        return Ok(());
    }
    let Some(db) = arg(&args, "--db") else {
        bail!("--db PATH is required")
    };
    let ledger = PathBuf::from(arg(&args, "--ledger").unwrap_or_else(|| format!("{db}.ledger")));
    let max_runs: usize = arg(&args, "--max-runs")
        .map(|v| v.parse())
        .transpose()
        .context("--max-runs")?
        .unwrap_or(4096);
    let lease_ms: u64 = arg(&args, "--lease-ms")
        .map(|v| v.parse())
        .transpose()
        .context("--lease-ms")?
        .unwrap_or(30_000);
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if pause_point().is_some() {
        crashpoint::install(pause_if);
    }
    let mut registry = Registry::new();
    registry
        .register(chaos(ledger.clone()))
        .register(suspended(ledger.clone()))
        .register(fenced(ledger));
    // A `postgres://` database is the team backend (leases by the database's clock).
    let team = waymark_postgres::is_postgres_url(&db);
    let engine = match (arg(&args, "--agents"), team) {
        (Some(data_dir), false) => {
            let app = waymark_agent::app::AgentApp::open(
                std::path::Path::new(&db),
                std::path::Path::new(&data_dir),
                registry,
            )?;
            app.engine.clone()
        }
        (Some(data_dir), true) => {
            let app = waymark_postgres::open_app(
                &db,
                std::path::Path::new(&data_dir),
                registry,
                std::sync::Arc::new(SystemClock),
            )
            .await?;
            app.engine.clone()
        }
        (None, false) => Engine::new(SqliteStore::open(&db)?, registry),
        (None, true) => Engine::new(
            waymark_postgres::PgStore::open(&db, waymark_postgres::PgConfig::default()).await?,
            registry,
        ),
    };
    let engine = engine.with_worker_config(WorkerConfig {
        lease: Duration::from_millis(lease_ms),
        claim_interval: Duration::from_millis(100),
        max_runs,
        ..WorkerConfig::default()
    });
    let worker = engine.start_worker().await?;
    println!("READY {}", std::process::id());
    std::io::stdout().flush()?;
    tokio::signal::ctrl_c().await?;
    worker.shutdown().await;
    Ok(())
}
