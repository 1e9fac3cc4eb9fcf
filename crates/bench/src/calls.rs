//! One MCP tool call and one model call, made directly in a loop and made as durable steps:
//! what journaling adds to a real call, against the floor commit of the same invocation.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use serde_json::{json, Value};
use waymark_agent::mcp::{CallOptions, McpHub, McpServerDef, McpTransport, ToolCallOutput};
use waymark_agent::{
    ChatMessage, HttpConfig, ModelRequest, ModelResponse, OpenAiProvider, Provider,
};
use waymark_engine::{DurableFunction, Registry, RunContext, StartOptions, StepError, StepSpec};

use crate::figures::{Bed, Settled};
use crate::floor::{floor_commit_us, FloorFile};
use crate::{model_server, REPS};

/// Calls per measured round, direct or journaled.
const CALLS: u64 = 300;
/// Direct calls before measuring: the connection made, the server's code paths warm.
const WARMUP_CALLS: u64 = 100;
/// No-op steps before measuring, so the WAL has wrapped once (as the engine figures do).
const WARMUP_STEPS: u64 = 1000;
/// Both variants set the same timeout, as the agent loop does.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

const DEMO_SERVER: &str = "demo";

/// The medians' inputs: µs per call of every round.
#[derive(Default)]
pub(crate) struct CallSamples {
    /// The bare floor commit, once per round: how fast the disk was while these ran.
    pub(crate) floor: Vec<f64>,
    pub(crate) mcp_direct: Vec<f64>,
    pub(crate) mcp_journaled: Vec<f64>,
    /// The direct call followed by the floor's bare commit: the least a journal adds.
    pub(crate) mcp_bare_commit: Vec<f64>,
    pub(crate) model_direct: Vec<f64>,
    pub(crate) model_journaled: Vec<f64>,
    pub(crate) model_bare_commit: Vec<f64>,
}

/// What a step calls.
#[derive(Clone)]
struct Callee {
    hub: McpHub,
    provider: Arc<Provider>,
    request: Arc<ModelRequest>,
    /// One answer of each call, kept for the breakdown's steps that journal a call's output
    /// without making the call.
    answers: Option<Arc<(ToolCallOutput, ModelResponse)>>,
}

impl Callee {
    async fn mcp(&self) -> Result<ToolCallOutput, StepError> {
        let options = CallOptions {
            timeout: Some(CALL_TIMEOUT),
            progress: None,
            ..CallOptions::default()
        };
        let out = self
            .hub
            .call_tool(
                DEMO_SERVER,
                "lookup_order",
                json!({"order_id": "A-1001"}),
                options,
            )
            .await
            .map_err(|e| e.to_step_error())?;
        if out.is_error {
            return Err(StepError::fatal("tool_error", out.text()));
        }
        Ok(out)
    }

    async fn model(&self) -> Result<ModelResponse, StepError> {
        self.provider
            .complete(&self.request, |_| {})
            .await
            .map_err(|e| e.to_step_error())
    }

    fn answer<T>(
        &self,
        pick: impl Fn(&(ToolCallOutput, ModelResponse)) -> T,
    ) -> Result<T, StepError> {
        self.answers
            .as_deref()
            .map(pick)
            .ok_or_else(|| StepError::fatal("no_answers", "the breakdown's answers were not kept"))
    }

    async fn call(&self, what: &str) -> Result<(), StepError> {
        match what {
            "mcp" => self.mcp().await.map(|_| ()),
            _ => self.model().await.map(|_| ()),
        }
    }
}

/// `calls`: `n` sequential retry_safe steps, each one call (`what`: `mcp`, `model`, or a
/// no-op for anything else); returns the µs they took, timed inside the function.
fn registry(callee: Callee) -> Registry {
    let mut r = Registry::new();
    r.register(DurableFunction::new(
        "calls",
        1,
        move |ctx: RunContext, input: Value| {
            let callee = callee.clone();
            async move {
                let n = input["n"].as_u64().unwrap_or(0);
                let what = input["what"].as_str().unwrap_or("noop").to_string();
                let t0 = Instant::now();
                for i in 0..n {
                    let spec = StepSpec::retry_safe(format!("c/{i}"));
                    match what.as_str() {
                        "mcp" => {
                            ctx.step(spec, |_| callee.mcp()).await?;
                        }
                        "model" => {
                            ctx.step(spec, |_| callee.model()).await?;
                        }
                        // The breakdown's parts: the call made but its output not journaled,
                        // and the output journaled without the call.
                        "mcp_unit" | "model_unit" => {
                            let call = &what[..what.len() - "_unit".len()];
                            ctx.step(spec, |_| callee.call(call)).await?;
                        }
                        "mcp_output" | "model_output" => {
                            let out = callee
                                .answer(|a| match what.as_str() {
                                    "mcp_output" => serde_json::to_value(&a.0),
                                    _ => serde_json::to_value(&a.1),
                                })?
                                .map_err(|e| StepError::fatal("encode", e.to_string()))?;
                            ctx.step(spec, |_| {
                                let out = out.clone();
                                async { Ok::<_, StepError>(out) }
                            })
                            .await?;
                        }
                        _ => {
                            ctx.step(spec, |_| async { Ok::<(), StepError>(()) })
                                .await?;
                        }
                    }
                }
                Ok(json!({ "us": t0.elapsed().as_secs_f64() * 1e6 }))
            }
        },
    ));
    r
}

/// A journal file with its own engine, and how many of its runs have settled.
struct Journal {
    bed: Bed,
    settled: Settled,
    runs: usize,
}

impl Journal {
    async fn open(dir: &Path, callee: Callee) -> Result<Journal> {
        let bed = Bed::open(dir, registry(callee)).await?;
        let settled = Settled::open(bed.db_path())?;
        let mut j = Journal {
            bed,
            settled,
            runs: 0,
        };
        j.run("noop", WARMUP_STEPS).await?;
        Ok(j)
    }

    /// µs per step of one run of `n` steps calling `what`.
    async fn run(&mut self, what: &str, n: u64) -> Result<f64> {
        let id = self
            .bed
            .engine
            .start_run(
                "calls",
                json!({"n": n, "what": what}),
                StartOptions::default(),
            )
            .await?;
        self.runs += 1;
        self.settled.until(self.runs).await?;
        let run = self
            .bed
            .engine
            .run(id)
            .await?
            .ok_or_else(|| anyhow!("run {id} vanished"))?;
        let us = run
            .output
            .as_ref()
            .and_then(|o| o["us"].as_f64())
            .ok_or_else(|| anyhow!("run {id} returned no timing: {:?}", run.output))?;
        Ok(us / n as f64)
    }
}

/// µs per call of `n` direct calls.
async fn direct(callee: &Callee, what: &str, n: u64) -> Result<f64> {
    let t0 = Instant::now();
    for _ in 0..n {
        callee
            .call(what)
            .await
            .map_err(|e| anyhow!("direct {what} call failed: {}", e.message))?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
}

/// The demo MCP server (served by `exe`) and the loopback model server, ready to call; the
/// model server stops when its handle is dropped.
async fn callee(dir: &Path, exe: &Path) -> Result<(Callee, model_server::ModelServer)> {
    let hub = McpHub::new();
    let outbox = dir.join("outbox.jsonl");
    std::fs::create_dir_all(dir)?;
    hub.set_server(McpServerDef {
        name: DEMO_SERVER.to_string(),
        transport: McpTransport::Stdio {
            command: exe.display().to_string(),
            args: vec!["--serve-demo-tools".into(), outbox.display().to_string()],
            env: Default::default(),
            cwd: None,
        },
    });
    let server = model_server::start().await?;
    let provider = OpenAiProvider::new(HttpConfig::new(&server.base_url, None, CALL_TIMEOUT))
        .map_err(|e| anyhow!("model provider: {e}"))?;
    let mut request = ModelRequest::new(
        "bench-model",
        vec![
            ChatMessage::system("You answer questions about orders."),
            ChatMessage::user("Where is order A-1001?"),
        ],
    );
    request.max_tokens = Some(256);
    let callee = Callee {
        hub: hub.clone(),
        provider: Arc::new(Provider::OpenAi(provider)),
        request: Arc::new(request),
        answers: None,
    };
    Ok((callee, server))
}

/// µs per call of `n` direct calls, each followed by a bare commit of the floor's file.
async fn direct_then_commit(
    callee: &Callee,
    what: &str,
    n: u64,
    floor: &mut FloorFile,
) -> Result<f64> {
    let t0 = Instant::now();
    for _ in 0..n {
        callee
            .call(what)
            .await
            .map_err(|e| anyhow!("direct {what} call failed: {}", e.message))?;
        tokio::task::block_in_place(|| floor.commit())?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / n as f64)
}

/// Measures both calls, direct and journaled, `REPS` rounds each, interleaved so a drift in
/// the machine's speed hits both alike. `exe` serves the demo MCP server.
pub(crate) async fn call_samples(dir: &Path, exe: &Path) -> Result<CallSamples> {
    let (callee, _server) = callee(dir, exe).await?;
    let hub = callee.hub.clone();
    for what in ["mcp", "model"] {
        direct(&callee, what, WARMUP_CALLS).await?;
    }
    let mut mcp = Journal::open(&dir.join("mcp"), callee.clone()).await?;
    let mut model = Journal::open(&dir.join("model"), callee.clone()).await?;
    let mut floor = FloorFile::open(&dir.join("calls-floor"))?;
    floor.warm_up()?;
    let mut s = CallSamples::default();
    let show = |key: &str, v: f64| println!("  {key:<24} {v:>12.1}");
    for rep in 0..REPS {
        println!("agent calls: repetition {}/{REPS}", rep + 1);
        let floor_dir = dir.join(format!("floor{rep}"));
        let v = tokio::task::block_in_place(|| floor_commit_us(&floor_dir))?;
        show("floor_commit_us", v);
        s.floor.push(v);
        let v = direct(&callee, "mcp", CALLS).await?;
        show("mcp_call_direct_us", v);
        s.mcp_direct.push(v);
        let v = mcp.run("mcp", CALLS).await?;
        show("mcp_call_journaled_us", v);
        s.mcp_journaled.push(v);
        let v = direct_then_commit(&callee, "mcp", CALLS, &mut floor).await?;
        show("mcp_call_bare_commit_us", v);
        s.mcp_bare_commit.push(v);
        let v = direct(&callee, "model", CALLS).await?;
        show("model_call_direct_us", v);
        s.model_direct.push(v);
        let v = model.run("model", CALLS).await?;
        show("model_call_journaled_us", v);
        s.model_journaled.push(v);
        let v = direct_then_commit(&callee, "model", CALLS, &mut floor).await?;
        show("model_call_bare_commit_us", v);
        s.model_bare_commit.push(v);
    }
    mcp.bed.close().await;
    model.bed.close().await;
    hub.shutdown().await;
    ensure!(s.mcp_direct.len() == REPS, "missing rounds");
    Ok(s)
}

/// Where a journaled call's time goes, in µs per call (`waymark-bench --probe calls DIR`):
/// the direct call, a no-op step, the call as a step whose output is not journaled, the
/// output journaled without the call, and the whole journaled call, each in the same journal.
pub(crate) async fn calls_breakdown(dir: &Path, exe: &Path) -> Result<f64> {
    let (mut callee, _server) = callee(dir, exe).await?;
    for what in ["mcp", "model"] {
        direct(&callee, what, WARMUP_CALLS).await?;
    }
    let mcp_out = callee.mcp().await.map_err(|e| anyhow!("{}", e.message))?;
    let model_out = callee.model().await.map_err(|e| anyhow!("{}", e.message))?;
    println!(
        "  outputs as JSON: MCP {} bytes, model {} bytes",
        serde_json::to_string(&mcp_out)?.len(),
        serde_json::to_string(&model_out)?.len()
    );
    callee.answers = Some(Arc::new((mcp_out, model_out)));
    let mut journal = Journal::open(&dir.join("journal"), callee.clone()).await?;
    let parts = [
        "noop",
        "mcp_unit",
        "mcp_output",
        "mcp",
        "model_unit",
        "model_output",
        "model",
    ];
    // The floor's bare commit alone, and after each direct call: what a commit's wait does to
    // the call that follows it, with no engine in between.
    let mut floor = FloorFile::open(&dir.join("floor"))?;
    floor.warm_up()?;
    let mut sums = vec![0.0; parts.len() + 5];
    for _ in 0..REPS {
        sums[0] += direct(&callee, "mcp", CALLS).await?;
        sums[1] += direct(&callee, "model", CALLS).await?;
        sums[2] += tokio::task::block_in_place(|| -> Result<f64> {
            let t0 = Instant::now();
            for _ in 0..CALLS {
                floor.commit()?;
            }
            Ok(t0.elapsed().as_secs_f64() * 1e6 / CALLS as f64)
        })?;
        sums[3] += direct_then_commit(&callee, "mcp", CALLS, &mut floor).await?;
        sums[4] += direct_then_commit(&callee, "model", CALLS, &mut floor).await?;
        for (k, what) in parts.iter().enumerate() {
            sums[k + 5] += journal.run(what, CALLS).await?;
        }
    }
    let names = [
        "mcp direct",
        "model direct",
        "bare commit",
        "mcp direct + bare commit",
        "model direct + bare commit",
    ]
    .iter()
    .chain(parts.iter());
    for (name, sum) in names.zip(&sums) {
        println!("  {name:<24} {:>8.1} µs", sum / REPS as f64);
    }
    journal.bed.close().await;
    callee.hub.shutdown().await;
    Ok((sums[8] - sums[0]) / REPS as f64)
}
