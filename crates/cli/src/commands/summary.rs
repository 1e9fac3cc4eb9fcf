//! An agent run's result for people and scripts: the answer, its steps (key, name, status,
//! attempts), tokens and cost, and what a person must do when it waits for one.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::{json, Value};
use waymark_api::{Api, RunGetResponse, RunId, StepError, StepKind, StepView};

use super::follow::{model_call, read_run, Blocker};
use crate::output::{short_json, table};

#[derive(Debug, Default, Serialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub total_tokens: u64,
    pub cost_usd: f64,
}

#[derive(Debug, Serialize)]
pub struct StepLine {
    pub key: String,
    pub name: Option<String>,
    pub kind: String,
    pub status: String,
    pub attempts: u32,
}

#[derive(Debug, Serialize)]
pub struct RunSummary {
    pub run_id: RunId,
    pub status: String,
    pub answer: Option<String>,
    pub error: Option<StepError>,
    pub steps: Vec<StepLine>,
    /// This run's model calls and those of its sub-agents.
    pub usage: Usage,
    pub sub_agent_runs: Vec<RunId>,
    /// What a person must do before the run goes on.
    pub waiting: Vec<Value>,
}

/// Reads the run, its sub-agent runs' usage, and describes `blockers`.
pub async fn summarize(
    api: &Api,
    id: RunId,
    blockers: &[Blocker],
    db_flag: &str,
) -> anyhow::Result<RunSummary> {
    let trace = read_run(api, id).await?;
    let mut usage = Usage::default();
    add_usage(&mut usage, &trace);
    // Sub-agents' runs (and theirs), breadth first.
    let mut pending = trace.children.clone();
    let mut sub_agent_runs = Vec::new();
    while let Some(child) = pending.pop() {
        if let Ok(t) = read_run(api, child).await {
            add_usage(&mut usage, &t);
            pending.extend(t.children.iter().copied());
        }
        sub_agent_runs.push(child);
    }
    usage.total_tokens = usage.input_tokens + usage.output_tokens;
    let mut steps: Vec<&StepView> = trace.steps.iter().collect();
    steps.sort_by_key(|s| s.ordinal);
    let steps = steps
        .iter()
        .map(|s| StepLine {
            key: s.key.to_string(),
            name: s.name.clone().or_else(|| call_name(&trace.steps, s)),
            kind: s.kind.to_string(),
            status: s.status.to_string(),
            attempts: s.attempts,
        })
        .collect();
    let answer = trace
        .run
        .output
        .as_ref()
        .and_then(|o| o.get("answer"))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(RunSummary {
        run_id: id,
        status: trace.run.status.to_string(),
        answer,
        error: trace.run.error.clone(),
        steps,
        usage,
        sub_agent_runs,
        waiting: blockers.iter().map(|b| blocker_json(b, db_flag)).collect(),
    })
}

/// Approvals and sub-agent calls have no name of their own: the model's call names them.
fn call_name(steps: &[StepView], s: &StepView) -> Option<String> {
    let key = s.key.as_str();
    let (approval, n) = match (s.kind, key.strip_prefix("approval/")) {
        (StepKind::Approval, Some(n)) => (true, n),
        _ => (false, key.strip_prefix("tool/")?),
    };
    let name = model_call(steps, n)?.get("name")?.as_str()?;
    Some(if approval {
        format!("approve {name}")
    } else {
        name.to_string()
    })
}

/// Model calls' tokens and cost, as the API reads them from the journal.
fn add_usage(usage: &mut Usage, trace: &RunGetResponse) {
    for u in trace.steps.iter().filter_map(|s| s.usage.as_ref()) {
        usage.input_tokens += u.input_tokens;
        usage.output_tokens += u.output_tokens;
        usage.cost_usd += u.cost_usd.unwrap_or(0.0);
    }
}

/// The command that unblocks `b`, with `--db` when the database is not the default one.
pub fn commands_for(b: &Blocker, db_flag: &str) -> Vec<String> {
    let (run, key) = (b.run(), b.key());
    match b {
        Blocker::Approval { .. } => vec![
            format!("waymark {db_flag}approve {run} {key}"),
            format!("waymark {db_flag}reject {run} {key} --reason TEXT"),
        ],
        Blocker::Answer { .. } => vec![format!("waymark {db_flag}answer {run} {key} TEXT")],
        Blocker::Elicitation { about, .. } => {
            let accept = if about.get("mode").and_then(Value::as_str) == Some("url") {
                format!("waymark {db_flag}answer {run} {key} --accept")
            } else {
                format!("waymark {db_flag}answer {run} {key} --accept JSON")
            };
            vec![
                accept,
                format!("waymark {db_flag}answer {run} {key} --decline | --cancel"),
            ]
        }
        Blocker::Attention { .. } => vec![format!(
            "waymark {db_flag}runs resolve {run} {key} --retry | --done JSON | --fail MESSAGE"
        )],
    }
}

fn blocker_json(b: &Blocker, db_flag: &str) -> Value {
    let mut v = match b {
        Blocker::Approval {
            tool, arguments, ..
        } => json!({ "kind": "approval", "tool": tool, "arguments": arguments }),
        Blocker::Answer { question, .. } => json!({ "kind": "answer", "question": question }),
        Blocker::Elicitation { about, .. } => json!({ "kind": "elicitation", "question": about }),
        Blocker::Attention { .. } => json!({ "kind": "needs_attention" }),
    };
    v["run"] = json!(b.run());
    v["step"] = json!(b.key());
    v["commands"] = json!(commands_for(b, db_flag));
    v
}

/// What waits, in words, then the commands.
pub fn blocker_text(b: &Blocker, db_flag: &str) -> String {
    let what = match b {
        Blocker::Approval {
            tool, arguments, ..
        } => format!(
            "step {} waits for approval to call {} {}",
            b.key(),
            tool.as_deref().unwrap_or("a tool"),
            arguments.as_ref().map(short_json).unwrap_or_default()
        ),
        Blocker::Answer { question, .. } => format!(
            "step {} asks a person: {}",
            b.key(),
            question.as_ref().map(question_text).unwrap_or_default()
        ),
        Blocker::Elicitation { about, .. } => {
            let text = |k: &str| about.get(k).and_then(Value::as_str).unwrap_or_default();
            let mut what = format!(
                "step {} asks for {} on behalf of {}/{}: {}",
                b.key(),
                if text("mode") == "url" {
                    "a visit to a link"
                } else {
                    "a form"
                },
                text("server"),
                text("tool"),
                text("message")
            );
            if text("mode") == "url" {
                let _ = write!(what, "\n  link: {}", text("url"));
            } else if let Some(schema) = about.get("requested_schema") {
                let _ = write!(what, "\n  form: {}", short_json(schema));
            }
            what
        }
        Blocker::Attention { .. } => format!(
            "step {} was interrupted and may or may not have taken effect",
            b.key()
        ),
    };
    let mut out = format!("run {}: {what}\n", b.run());
    for c in commands_for(b, db_flag) {
        let _ = writeln!(out, "  {c}");
    }
    out
}

fn question_text(args: &Value) -> String {
    match args.get("question").and_then(Value::as_str) {
        Some(q) => q.to_string(),
        None => short_json(args),
    }
}

/// The answer (or error), the steps as a table, then usage.
pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    if let Some(answer) = &s.answer {
        let _ = writeln!(out, "{answer}\n");
    }
    if let Some(e) = &s.error {
        let _ = writeln!(out, "error: {}: {}\n", e.kind, e.message);
    }
    let rows: Vec<Vec<String>> = s
        .steps
        .iter()
        .map(|l| {
            vec![
                l.key.clone(),
                l.name.clone().unwrap_or_default(),
                l.status.clone(),
                l.attempts.to_string(),
            ]
        })
        .collect();
    out.push_str(&table(&["STEP", "NAME", "STATUS", "ATTEMPTS"], &rows));
    let u = &s.usage;
    let subs = match s.sub_agent_runs.len() {
        0 => String::new(),
        n => format!(" (with {n} sub-agent run{})", if n == 1 { "" } else { "s" }),
    };
    let _ = writeln!(
        out,
        "\nrun {}  {}  tokens {} ({} in, {} out){subs}  cost ${:.4}",
        s.run_id, s.status, u.total_tokens, u.input_tokens, u.output_tokens, u.cost_usd
    );
    out
}

/// `--db PATH ` when `db` is not the database the plain command would open.
pub fn db_flag(db: &Path) -> String {
    let plain = waymark_host::chosen_db(&waymark_host::paths::data_dir()).map(|(db, _)| db);
    if plain.is_ok_and(|plain| plain == db) {
        String::new()
    } else {
        format!("--db {} ", db.display())
    }
}
