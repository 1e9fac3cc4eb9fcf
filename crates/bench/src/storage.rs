//! A 200-step agent run through the real agent loop (scripted model, the bench MCP server):
//! how much the database grows against the unique content the run saw, and a check that the
//! inspector can still rebuild every model call's full input from the journal.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{anyhow, bail, ensure, Context, Result};
use rusqlite::Connection;
use serde_json::{json, Value};
use waymark_agent::agent_loop::{rebuild_request, AgentRunOutput};
use waymark_agent::mcp::{McpHub, McpServerDef, McpTransport};
use waymark_agent::runtime::AgentRuntime;
use waymark_agent::{AgentSpec, ChatMessage, ToolCall};
use waymark_engine::{Registry, RunTrace};

use crate::bench_tools::{record_text, text, tools, FETCH_TOOL};
use crate::figures::{settle, Bed};

/// Model steps of the run: each but the last asks for one tool call.
pub(crate) const MODEL_STEPS: u64 = 200;
const INSTRUCTIONS_BYTES: usize = 20 * 1024;
const ANSWER_BYTES: usize = 300;
const INPUT: &str = "Go through records 1 to 199 one at a time and summarise each.";
const SERVER: &str = "bench";

pub(crate) struct Storage {
    pub(crate) unique_bytes: u64,
    pub(crate) growth_bytes: u64,
}

impl Storage {
    pub(crate) fn ratio(&self) -> f64 {
        self.growth_bytes as f64 / self.unique_bytes as f64
    }
}

/// The run's content, generated: the instructions, the model's turns, and what the
/// conversation holds after the last call (for the rebuild check).
struct Content {
    instructions: String,
    turns: Vec<(String, Option<ToolCall>)>,
}

impl Content {
    fn generate() -> Content {
        let turns = (1..=MODEL_STEPS)
            .map(|n| {
                let call = (n < MODEL_STEPS)
                    .then(|| ToolCall::new(format!("c{n}"), FETCH_TOOL, json!({ "record": n })));
                (text(10_000 + n, ANSWER_BYTES), call)
            })
            .collect();
        Content {
            instructions: text(1, INSTRUCTIONS_BYTES),
            turns,
        }
    }

    /// `{"turns": [...]}` as the scripted provider reads it.
    fn script(&self) -> Value {
        let turns: Vec<Value> = self
            .turns
            .iter()
            .map(
                |(text, call)| json!({"text": text, "tool_calls": call.iter().collect::<Vec<_>>()}),
            )
            .collect();
        json!({ "turns": turns })
    }

    /// The conversation the last model call sends.
    fn messages(&self) -> Vec<ChatMessage> {
        let mut m = vec![
            ChatMessage::system(self.instructions.clone()),
            ChatMessage::user(INPUT),
        ];
        for (n, (text, call)) in (1..).zip(&self.turns) {
            m.push(ChatMessage::assistant(
                text.clone(),
                call.iter().cloned().collect(),
            ));
            if let Some(call) = call {
                m.push(ChatMessage::tool_result(
                    call.id.clone(),
                    record_text(n),
                    false,
                ));
            }
        }
        m
    }

    /// Bytes of unique content, by part: what a lossless journal must hold at least.
    fn unique_bytes(&self) -> Vec<(&'static str, u64)> {
        let tool_list: usize = tools()
            .iter()
            .map(|t| {
                t.name.len()
                    + t.description.as_deref().map_or(0, str::len)
                    + Value::Object((*t.input_schema).clone()).to_string().len()
            })
            .sum();
        let calls = self.turns.iter().filter_map(|(_, c)| c.as_ref());
        vec![
            ("instructions", self.instructions.len() as u64),
            ("user input", INPUT.len() as u64),
            ("tool list (names, descriptions, schemas)", tool_list as u64),
            (
                "model answers (text)",
                self.turns.iter().map(|(t, _)| t.len() as u64).sum(),
            ),
            (
                "tool calls (id, name, arguments)",
                calls
                    .clone()
                    .map(|c| (c.id.len() + c.name.len() + c.arguments.to_string().len()) as u64)
                    .sum(),
            ),
            (
                "tool results",
                calls.map(|_| crate::bench_tools::RECORD_BYTES as u64).sum(),
            ),
        ]
    }
}

/// Bytes of the database file and its WAL after a `wal_checkpoint(TRUNCATE)`, with no engine
/// open on the file: the WAL is then empty and the file holds every committed page.
fn checkpointed_size(db: &Path) -> Result<(u64, u64)> {
    let conn = Connection::open(db)?;
    let (busy, _, _): (i64, i64, i64) =
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
        })?;
    ensure!(busy == 0, "the checkpoint of {} was blocked", db.display());
    let wal = PathBuf::from(format!("{}-wal", db.display()));
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    Ok((size(db), size(&wal)))
}

/// Where the bytes are: pages per table and index (dbstat), and payload bytes per column.
fn breakdown(db: &Path) -> Result<()> {
    let conn = Connection::open(db)?;
    println!("  where the bytes are:");
    let dbstat = conn.prepare(
        "SELECT name, SUM(pgsize), SUM(payload), SUM(unused), COUNT(*) FROM dbstat
         GROUP BY name ORDER BY 2 DESC",
    );
    match dbstat {
        Ok(mut stmt) => {
            println!(
                "    {:<28} {:>10} {:>10} {:>10} {:>6}",
                "table/index (dbstat)", "bytes", "payload", "unused", "pages"
            );
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            for row in rows {
                let (name, bytes, payload, unused, pages) = row?;
                println!("    {name:<28} {bytes:>10} {payload:>10} {unused:>10} {pages:>6}");
            }
        }
        Err(e) => println!("    (dbstat is not compiled in: {e})"),
    }
    let columns = [
        ("runs.input_json", "SELECT SUM(length(input_json)), COUNT(input_json) FROM runs"),
        ("runs.output_json", "SELECT SUM(length(output_json)), COUNT(output_json) FROM runs"),
        ("steps.input_json", "SELECT SUM(length(input_json)), COUNT(input_json) FROM steps"),
        ("steps.output_json", "SELECT SUM(length(output_json)), COUNT(output_json) FROM steps"),
        ("steps.progress_json", "SELECT SUM(length(progress_json)), COUNT(progress_json) FROM steps"),
        ("steps.meta_json", "SELECT SUM(length(meta_json)), COUNT(meta_json) FROM steps"),
        ("steps (other columns)", "SELECT SUM(length(run_id)+length(key)+length(kind)+length(safety)+length(status)+coalesce(length(name),0)+coalesce(length(input_blob),0)+coalesce(length(output_blob),0)), COUNT(*) FROM steps"),
        ("attempts.outcome_json", "SELECT SUM(length(outcome_json)), COUNT(*) FROM attempts"),
        ("events.data", "SELECT SUM(length(data)), COUNT(*) FROM events"),
        ("blobs.data", "SELECT SUM(length(data)), COUNT(*) FROM blobs"),
    ];
    println!("    {:<28} {:>10} {:>6}", "column", "bytes", "rows");
    for (name, sql) in columns {
        let (bytes, rows): (Option<i64>, i64) =
            conn.query_row(sql, [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        println!("    {name:<28} {:>10} {rows:>6}", bytes.unwrap_or(0));
    }
    // By kind of step: which payloads are large, and which went to the blob table.
    println!(
        "    {:<28} {:>6} {:>10} {:>10} {:>8} {:>8}",
        "steps by kind", "rows", "input", "output", "in blob", "out blob"
    );
    let mut stmt = conn.prepare(
        "SELECT CASE WHEN key LIKE 'llm/%' THEN 'llm/N' WHEN key LIKE 'tool/%' THEN 'tool/N.i'
                     ELSE key END AS k,
                COUNT(*), SUM(coalesce(length(input_json), 0)), SUM(coalesce(length(output_json), 0)),
                SUM(input_blob IS NOT NULL), SUM(output_blob IS NOT NULL)
         FROM steps GROUP BY k ORDER BY k",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, i64>(1)?,
            r.get::<_, i64>(2)?,
            r.get::<_, i64>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
        ))
    })?;
    for row in rows {
        let (k, n, input, output, in_blob, out_blob) = row?;
        println!("    {k:<28} {n:>6} {input:>10} {output:>10} {in_blob:>8} {out_blob:>8}");
    }
    let (content, raw): (Option<i64>, Option<i64>) = conn.query_row(
        "SELECT SUM(length(json_extract(output_json, '$.content'))),
                SUM(length(json_extract(output_json, '$.raw')))
         FROM steps WHERE key LIKE 'tool/%'",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    println!(
        "    tool outputs: .content {} bytes, .raw (the MCP result again) {} bytes",
        content.unwrap_or(0),
        raw.unwrap_or(0)
    );
    // A blob is named by a marker inside the JSON of each payload that uses it.
    let blobs: Vec<(String, i64)> = conn
        .prepare("SELECT hash, length(data) FROM blobs ORDER BY length(data) DESC")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (hash, stored) in blobs {
        let used_by: Option<String> = conn.query_row(
            "SELECT group_concat(what, ', ') FROM (
                 SELECT 'run input' AS what FROM runs WHERE instr(input_json, ?1) OR input_blob = ?1
                 UNION ALL SELECT key || ' input' FROM steps WHERE instr(input_json, ?1) OR input_blob = ?1
                 UNION ALL SELECT key || ' output' FROM steps WHERE instr(output_json, ?1) OR output_blob = ?1
                 UNION ALL SELECT 'another blob' FROM blobs WHERE hash != ?1 AND instr(CAST(data AS TEXT), ?1))",
            [&hash],
            |r| r.get(0),
        )?;
        println!(
            "    blob of {stored:>8} bytes, used by: {}",
            used_by.unwrap_or_else(|| "nothing".into())
        );
    }
    Ok(())
}

/// Other layouts of the `steps` table tried on a copy of the file, to size the fixes: the
/// tool outputs without their `raw` copy of the MCP result; the same rows in a rowid table (a
/// WITHOUT ROWID table keeps about 1 KB of a row in its page and spills the rest to overflow
/// pages of its own); both. It only prints.
fn what_if(db: &Path, growth: u64, unique: u64) -> Result<()> {
    let copy = db.with_file_name("what-if.db");
    std::fs::copy(db, &copy)?;
    let conn = Connection::open(&copy)?;
    let schema: String = conn.query_row(
        "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'steps'",
        [],
        |r| r.get(0),
    )?;
    conn.execute_batch(&schema.replacen("CREATE TABLE steps", "CREATE TABLE steps_no_raw", 1))?;
    conn.execute_batch(
        "INSERT INTO steps_no_raw SELECT * FROM steps;
         UPDATE steps_no_raw SET output_json = json_remove(output_json, '$.raw')
             WHERE key LIKE 'tool/%';
         CREATE TABLE steps_rowid AS SELECT * FROM steps;
         CREATE TABLE steps_rowid_no_raw AS SELECT * FROM steps;
         UPDATE steps_rowid_no_raw SET output_json = json_remove(output_json, '$.raw')
             WHERE key LIKE 'tool/%';
         VACUUM;",
    )?;
    let bytes = |name: &str| -> Result<u64> {
        let b: i64 = conn.query_row(
            "SELECT coalesce(SUM(pgsize), 0) FROM dbstat WHERE name = ?1",
            [name],
            |r| r.get(0),
        )?;
        Ok(b as u64)
    };
    let now = bytes("steps")?;
    println!("  what if (steps table now {now} bytes, growth {growth}):");
    for (table, what) in [
        ("steps_no_raw", "tool outputs without .raw"),
        ("steps_rowid", "steps as a rowid table"),
        ("steps_rowid_no_raw", "a rowid table, outputs without .raw"),
    ] {
        let b = bytes(table)?;
        let g = growth.saturating_sub(now) + b;
        println!(
            "    {what:<36} steps {b:>9} bytes; growth {g:>9} = {:.2}x",
            g as f64 / unique as f64
        );
    }
    drop(conn);
    std::fs::remove_file(&copy)?;
    Ok(())
}

/// Every model call's input rebuilds from the journal, and the last one holds the whole
/// conversation: the inspector can show each call's full input.
fn verify(trace: &RunTrace, content: &Content) -> Result<()> {
    let output: AgentRunOutput = serde_json::from_value(
        trace
            .run
            .output
            .clone()
            .ok_or_else(|| anyhow!("the run has no output"))?,
    )?;
    ensure!(
        output.model_calls as u64 == MODEL_STEPS && output.tool_calls as u64 == MODEL_STEPS - 1,
        "the run made {} model and {} tool calls, not {MODEL_STEPS} and {}",
        output.model_calls,
        output.tool_calls,
        MODEL_STEPS - 1
    );
    let inputs: HashMap<String, Value> = trace
        .steps
        .iter()
        .map(|s| (s.step.key.to_string(), s.step.input.clone()))
        .collect();
    let outputs: HashMap<String, Value> = trace
        .steps
        .iter()
        .filter_map(|s| Some((s.step.key.to_string(), s.step.output.clone()?)))
        .collect();
    let expected = content.messages();
    let tool_count = tools().len();
    for n in 1..=MODEL_STEPS as usize {
        let key = format!("llm/{n}");
        let request =
            rebuild_request(&inputs, &outputs, &key).map_err(|e| anyhow!("rebuild {key}: {e}"))?;
        let want = &expected[..2 + 2 * (n - 1)];
        if request.messages != want {
            let at = request
                .messages
                .iter()
                .zip(want)
                .position(|(a, b)| a != b)
                .unwrap_or(request.messages.len().min(want.len()));
            bail!(
                "the rebuilt input of {key} differs from what the model was sent: {} messages, \
                 expected {}, first difference at message {at}",
                request.messages.len(),
                want.len()
            );
        }
        ensure!(
            request.tools.len() == tool_count,
            "the rebuilt input of {key} lists {} tools, not {tool_count}",
            request.tools.len()
        );
    }
    Ok(())
}

fn registry(runtime: &AgentRuntime) -> Registry {
    let mut r = Registry::new();
    runtime.register(&mut r);
    r
}

/// Runs the agent, checks its journal, and measures the database's growth. `exe` serves the
/// bench MCP server.
pub(crate) async fn agent_run_storage(dir: &Path, exe: &Path) -> Result<Storage> {
    std::fs::create_dir_all(dir)?;
    let content = Content::generate();
    let script = dir.join("script.json");
    std::fs::write(&script, content.script().to_string())
        .with_context(|| format!("cannot write {}", script.display()))?;
    let spec = AgentSpec::from_json_str(
        &json!({
            "name": "bench-200",
            "instructions": content.instructions,
            "model": {"provider": "scripted", "script": script},
            "tools": [{"kind": "mcp", "server": SERVER, "tools": "*"}],
            "limits": {"max_steps": MODEL_STEPS + 10},
        })
        .to_string(),
    )
    .map_err(|e| anyhow!("the bench agent's spec: {e}"))?;
    let hub = McpHub::new();
    hub.set_server(McpServerDef {
        name: SERVER.to_string(),
        transport: McpTransport::Stdio {
            command: exe.display().to_string(),
            args: vec!["--serve-bench-tools".into()],
            env: Default::default(),
            cwd: None,
        },
    });
    let runtime = AgentRuntime::builder(hub.clone()).build();
    let db_dir = dir.join("db");

    // The empty journal (schema only), as the baseline.
    Bed::open(&db_dir, registry(&runtime)).await?.close().await;
    let db = db_dir.join("waymark.db");
    let (db0, wal0) = checkpointed_size(&db)?;

    let bed = Bed::open(&db_dir, registry(&runtime)).await?;
    let t0 = Instant::now();
    let id = runtime
        .start_run(&bed.engine, &spec, INPUT, None)
        .await
        .map_err(|e| anyhow!("cannot start the agent run: {e}"))?;
    settle(&bed.engine, id).await?;
    let took = t0.elapsed();
    let trace = bed
        .engine
        .trace(id)
        .await?
        .ok_or_else(|| anyhow!("run {id} has no trace"))?;
    verify(&trace, &content).context("the agent run's journal fails the inspector check")?;
    bed.close().await;
    hub.shutdown().await;
    let (db1, wal1) = checkpointed_size(&db)?;

    let parts = content.unique_bytes();
    let unique_bytes: u64 = parts.iter().map(|(_, b)| b).sum();
    let growth_bytes = (db1 + wal1).saturating_sub(db0 + wal0);
    println!(
        "agent run: {MODEL_STEPS} model steps, {} tool steps, {} steps in the journal, {:.2} s; \
         every model call's input rebuilt from the journal",
        MODEL_STEPS - 1,
        trace.steps.len(),
        took.as_secs_f64()
    );
    println!("  unique content {unique_bytes} bytes:");
    for (part, bytes) in &parts {
        println!("    {part:<44} {bytes:>8}");
    }
    println!(
        "  database + WAL after wal_checkpoint(TRUNCATE): {} bytes empty, {} bytes after the run \
         (WAL {wal1}); growth {growth_bytes} bytes = {:.2}x the unique content",
        db0 + wal0,
        db1 + wal1,
        growth_bytes as f64 / unique_bytes as f64
    );
    breakdown(&db)?;
    if let Err(e) = what_if(&db, growth_bytes, unique_bytes) {
        println!("  (what-if layouts not measured: {e:#})");
    }
    Ok(Storage {
        unique_bytes,
        growth_bytes,
    })
}
