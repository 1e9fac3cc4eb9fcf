//! Human formatting of runs, traces and events. JSON output is serde of the API's views and
//! lives with the commands; this is only for people.

use std::fmt::Write as _;
use std::io::Write as _;

use serde_json::Value;
use waymark_api::{
    ApiEvent, AttemptOutcome, AttemptView, RunGetResponse, StepError, StepKind, StepView,
};
use waymark_host::system_now_ms;

/// Milliseconds since the Unix epoch, as the API's times are.
type Millis = i64;

/// Long JSON values are cut to this many characters in human output.
const MAX_JSON_CHARS: usize = 200;

/// Writes to stdout, returning the error instead of panicking as `print!` would on a closed pipe.
pub fn emit(text: &str) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        out.write_all(b"\n")?;
    }
    out.flush()
}

/// Pretty JSON of a record; serializing the engine's records cannot fail, but say so if it does.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<String> {
    Ok(serde_json::to_string_pretty(value)?)
}

/// UTC, ISO 8601, to the millisecond: `2025-06-01 12:00:00.123Z`.
pub fn time_ms(ms: Millis) -> String {
    let t = time(ms);
    let frac = ms.rem_euclid(1000);
    match t.strip_suffix('Z') {
        Some(t) => format!("{t}.{frac:03}Z"),
        None => t,
    }
}

/// UTC, ISO 8601, to the second: `2025-06-01 12:00:00Z`.
pub fn time(ms: Millis) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    match ms {
        0..=999 => format!("{ms} ms"),
        1_000..=59_999 => format!("{:.2} s", ms as f64 / 1000.0),
        60_000..=3_599_999 => format!("{}m {:02}s", ms / 60_000, ms % 60_000 / 1000),
        _ => format!("{}h {:02}m", ms / 3_600_000, ms % 3_600_000 / 60_000),
    }
}

/// From `start` to `end`, or to now (marked as still going) when there is no end yet.
fn span(start: Millis, end: Option<Millis>) -> String {
    match end {
        Some(end) => duration(end - start),
        None => format!("{} so far", duration(system_now_ms() - start)),
    }
}

/// Compact JSON, cut to [`MAX_JSON_CHARS`] characters.
pub fn short_json(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() <= MAX_JSON_CHARS {
        return text;
    }
    let cut: String = text.chars().take(MAX_JSON_CHARS).collect();
    format!("{cut}… ({} bytes)", text.len())
}

fn step_error(e: &StepError) -> String {
    let retry = if e.retryable { " (retryable)" } else { "" };
    format!("{}: {}{retry}", e.kind, e.message)
}

/// Left-aligned columns, two spaces apart; the last column is not padded.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            if i + 1 < widths.len() {
                let _ = write!(text, "{cell:<w$}  ", w = widths[i]);
            } else {
                text.push_str(cell);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

pub fn run_list(runs: &[waymark_api::RunSummary]) -> String {
    if runs.is_empty() {
        return "no runs\n".to_string();
    }
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            vec![
                r.id.to_string(),
                format!("{}@{}", r.function, r.function_version),
                r.status.to_string(),
                time(r.created_at),
                r.finished_at
                    .map(|f| duration(f - r.created_at))
                    .unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    table(&["ID", "FUNCTION", "STATUS", "CREATED", "DURATION"], &rows)
}

/// The run header, then each step in journal order with its attempts beneath it.
pub fn trace(t: &RunGetResponse) -> String {
    let ended = t.run.status.is_terminal();
    let r = &t.run;
    let mut out = String::new();
    let mut field = |name: &str, value: String| {
        let _ = writeln!(out, "{name:<10}{value}");
    };
    field("run", r.id.to_string());
    field("function", format!("{}@{}", r.function, r.function_version));
    let cancel = if r.cancel_requested && !r.status.is_terminal() {
        " (cancel requested)"
    } else {
        ""
    };
    field("status", format!("{}{cancel}", r.status));
    field("input", short_json(&r.input));
    if let Some(o) = &r.output {
        field("output", short_json(o));
    }
    if let Some(e) = &r.error {
        field("error", step_error(e));
    }
    if let Some(p) = &r.parent_run_id {
        let step = r.parent_step_key.as_ref().map(|k| format!(" (step {k})"));
        field("parent", format!("{p}{}", step.unwrap_or_default()));
    }
    if let Some(f) = &r.forked_from {
        let step = r.forked_at_step.as_ref().map(|k| format!(" at step {k}"));
        field("forked", format!("from {f}{}", step.unwrap_or_default()));
    }
    if let Some(k) = &r.idempotency_key {
        field("key", k.clone());
    }
    field("created", time(r.created_at));
    if let Some(f) = r.finished_at {
        field("finished", time(f));
    }
    field("duration", span(r.created_at, r.finished_at));
    if let Some(d) = r.deadline_at {
        field("deadline", time(d));
    }
    if !t.children.is_empty() {
        let ids: Vec<String> = t.children.iter().map(ToString::to_string).collect();
        field("children", ids.join(", "));
    }
    out.push_str(&steps(&t.steps, ended));
    out
}

fn steps(steps: &[StepView], run_ended: bool) -> String {
    if steps.is_empty() {
        let text = if run_ended {
            "no steps"
        } else {
            "no steps yet"
        };
        return format!("\n{text}\n");
    }
    let mut steps: Vec<&StepView> = steps.iter().collect();
    steps.sort_by_key(|s| s.ordinal);
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|st| {
            let attempts = match st.attempts {
                0 => String::new(),
                1 => "1 attempt".into(),
                n => format!("{n} attempts"),
            };
            vec![
                st.key.to_string(),
                st.kind.to_string(),
                st.safety.as_str().to_string(),
                st.status.to_string(),
                span(st.created_at, st.finished_at),
                attempts,
            ]
        })
        .collect();
    let lines = table(
        &["STEP", "KIND", "SAFETY", "STATUS", "DURATION", "ATTEMPTS"],
        &rows,
    );
    let mut lines = lines.lines();
    let mut out = String::from("\n");
    if let Some(header) = lines.next() {
        let _ = writeln!(out, "{header}");
    }
    for (s, line) in steps.iter().zip(lines) {
        let _ = writeln!(out, "{line}");
        step_details(&mut out, s);
    }
    out
}

fn step_details(out: &mut String, s: &StepView) {
    let st = s;
    let mut detail = |name: &str, value: String| {
        let _ = writeln!(out, "    {name:<10}{value}");
    };
    for a in &s.attempt_list {
        detail(&format!("#{}", a.number), attempt(a));
    }
    if let Some(name) = &st.name {
        detail("name", name.clone());
    }
    match st.kind {
        _ if st.status.is_terminal() => {}
        StepKind::ChildRun => {}
        StepKind::Timer => {
            if let Some(w) = st.wake_at {
                detail("wakes at", time(w));
            }
        }
        StepKind::Approval | StepKind::Question | StepKind::Elicitation | StepKind::EventWait => {
            if let Some(w) = st.wake_at {
                detail("times out", time(w));
            }
        }
        StepKind::ModelCall | StepKind::ToolCall | StepKind::Task => {
            if let Some(w) = st.wake_at {
                detail("retry at", time(w));
            }
        }
    }
    if let Some(child) = st.child_run_id {
        detail("child", child.to_string());
    }
    if !st.input.is_null() && st.kind != StepKind::Timer {
        detail("input", short_json(&st.input));
    }
    if let Some(p) = &st.progress {
        detail("progress", short_json(p));
    }
    if let Some(o) = st.output.as_ref().filter(|o| !o.is_null()) {
        detail("output", short_json(o));
    }
    if let Some(e) = &st.error {
        detail("error", step_error(e));
    }
}

fn attempt(a: &AttemptView) -> String {
    let took = span(a.started_at, a.finished_at);
    let label = a.outcome.label();
    match &a.outcome {
        AttemptOutcome::Error { error } => format!("{label:<11} {took:<10} {}", step_error(error)),
        AttemptOutcome::Timeout { after_ms } => {
            format!(
                "{label:<11} {took:<10} after {}",
                duration(*after_ms as i64)
            )
        }
        AttemptOutcome::Started
        | AttemptOutcome::Ok
        | AttemptOutcome::Cancelled
        | AttemptOutcome::Interrupted => format!("{label:<11} {took}"),
    }
}

/// One line per event: global sequence, time, run and its sequence, type, the rest as JSON.
pub fn event(e: &ApiEvent) -> String {
    let run = match (e.run_id, e.run_seq) {
        (Some(id), Some(seq)) => format!("{id}#{seq}"),
        (Some(id), None) => id.to_string(),
        (None, _) => "-".to_string(),
    };
    // Every event kind serializes to an object tagged with "type"; show the tag and the rest.
    let mut kind = serde_json::to_value(&e.change).unwrap_or(Value::Null);
    let tag = kind
        .as_object_mut()
        .and_then(|o| o.remove("type"))
        .and_then(|t| t.as_str().map(str::to_string))
        .unwrap_or_else(|| "event".to_string());
    let rest = match &kind {
        Value::Object(o) if o.is_empty() => String::new(),
        Value::Null => String::new(),
        other => format!("  {}", short_json(other)),
    };
    format!("{:>6}  {}  {run}  {tag}{rest}", e.global_seq, time_ms(e.at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_utc_iso() {
        assert_eq!(time(0), "1970-01-01 00:00:00Z");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00Z");
        assert_eq!(time(1_767_225_599_999), "2025-12-31 23:59:59Z");
        assert_eq!(time_ms(1_767_225_599_042), "2025-12-31 23:59:59.042Z");
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(12), "12 ms");
        assert_eq!(duration(1_234), "1.23 s");
        assert_eq!(duration(125_000), "2m 05s");
        assert_eq!(duration(3_720_000), "1h 02m");
        assert_eq!(duration(-5), "0 ms");
    }

    #[test]
    fn long_json_is_cut() {
        let v = Value::String("x".repeat(500));
        let s = short_json(&v);
        assert!(s.starts_with("\"xxx"));
        assert!(s.contains("… (502 bytes)"), "{s}");
        assert_eq!(short_json(&serde_json::json!({"a": 1})), r#"{"a":1}"#);
    }

    #[test]
    fn tables_align_columns() {
        let t = table(&["A", "BB"], &[vec!["long".into(), "x".into()]]);
        assert_eq!(t, "A     BB\nlong  x\n");
    }
}
