//! Reading the journal: payloads (inline or content-addressed), and rows into records.

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::error::{StepError, StoreError};
use crate::ids::{RunId, StepKey};
use crate::model::{
    AttemptOutcome, AttemptRecord, Event, RunRecord, RunStatus, StepKind, StepRecord, StepStatus,
};
use crate::policy::SafetyClass;
use crate::store::{RunFilter, WorkerRow};

use super::{args, Arg, Db, Row};

/// Marks a large value stored once in `blobs`, in place of the value itself.
pub(crate) const BLOB_MARKER: &str = "$waymark_blob";

/// How deep a stored value may nest, blobs within blobs included. serde_json refuses more
/// than 128 levels in one text; a chain of blobs could otherwise stack them without end.
const MAX_RESTORE_DEPTH: usize = 512;

/// Whether `key` is the marker with one or more `$` in front: `$waymark_blob`,
/// `$$waymark_blob`, ... (the forms user data is escaped into and out of).
pub(crate) fn is_marker_like(key: &str) -> bool {
    let rest = key.trim_start_matches('$');
    rest == "waymark_blob" && key.len() > rest.len()
}

/// User data never holds a real marker: an object whose only key looks like one gets one more
/// `$` in front, taken off again when read. Only the writer's own markers have exactly one.
pub(crate) fn escape_markers(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let escaped = map.iter().map(|(k, v)| (k.clone(), escape_markers(v)));
            if map.len() == 1 && map.keys().all(|k| is_marker_like(k)) {
                Value::Object(escaped.map(|(k, v)| (format!("${k}"), v)).collect())
            } else {
                Value::Object(escaped.collect())
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(escape_markers).collect()),
        other => other.clone(),
    }
}

/// How a blob's `data` is encoded (`blobs.codec`).
const CODEC_RAW: i64 = 0;
const CODEC_ZSTD: i64 = 1;

/// zstd's default level: most of the gain of higher levels at a fraction of their time.
const ZSTD_LEVEL: i32 = 3;

/// Stores `text` once under its SHA-256 (of the text, so a value's hash does not depend on how
/// it is encoded): zstd-compressed when that saves space, as written otherwise.
fn store_blob(db: &mut dyn Db, text: &str) -> Result<String, StoreError> {
    let hash = Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let exists = db
        .query_opt("SELECT 1 FROM blobs WHERE hash = ?1", args![&hash])?
        .is_some();
    if exists {
        return Ok(hash);
    }
    let compressed = zstd::bulk::compress(text.as_bytes(), ZSTD_LEVEL)
        .map_err(|e| StoreError::Sqlite(format!("cannot compress a payload: {e}")))?;
    let (codec, data) = if compressed.len() < text.len() {
        (CODEC_ZSTD, compressed.as_slice())
    } else {
        (CODEC_RAW, text.as_bytes())
    };
    let nested = text.contains(BLOB_MARKER);
    db.execute(
        "INSERT INTO blobs(hash, size, data, codec, nested) VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (hash) DO NOTHING",
        args![&hash, text.len() as i64, data, codec, nested],
    )?;
    Ok(hash)
}

/// A blob's bytes as they were stored: the JSON text, decompressed. A codec this build does
/// not know, or data that does not decode, is a damaged file.
pub(crate) fn blob_data(db: &mut dyn Db, hash: &str) -> Result<Vec<u8>, StoreError> {
    // A busy or locked database is no sign of damage: its error stays transient (a run whose
    // journal reads as corrupt is failed for good); only a missing row is damage.
    let row = db
        .query_opt(
            "SELECT codec, size, data FROM blobs WHERE hash = ?1",
            args![hash],
        )?
        .ok_or_else(|| StoreError::Corrupt {
            path: String::new(),
            detail: format!("payload blob {hash} is missing"),
        })?;
    let (codec, size, data): (i64, i64, Vec<u8>) = (row.get(0)?, row.get(1)?, row.get(2)?);
    let corrupt = |detail: String| StoreError::Corrupt {
        path: String::new(),
        detail: format!("payload blob {hash} {detail}"),
    };
    match codec {
        CODEC_RAW => Ok(data),
        CODEC_ZSTD => {
            // The recorded size bounds the output: a damaged size cannot make it allocate more.
            let size = usize::try_from(size)
                .ok()
                .filter(|n| *n <= MAX_BLOB_BYTES)
                .ok_or_else(|| corrupt(format!("has an impossible size {size}")))?;
            let out = zstd::bulk::decompress(&data, size)
                .map_err(|e| corrupt(format!("does not decompress: {e}")))?;
            if out.len() != size {
                return Err(corrupt(format!(
                    "decompresses to {} bytes, not the {size} recorded",
                    out.len()
                )));
            }
            Ok(out)
        }
        other => Err(corrupt(format!("has an unknown encoding {other}"))),
    }
}

/// SQLite's own limit on a value's size; a blob claiming more is damaged.
const MAX_BLOB_BYTES: usize = 1_000_000_000;

/// Moves every large part of `value` to the blob table, bottom-up, so that a part repeated
/// across payloads (an agent's instructions, a shared document) is stored once.
fn extract_large(db: &mut dyn Db, value: &Value, threshold: usize) -> Result<Value, StoreError> {
    let reduced = match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| extract_large(db, v, threshold))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| Ok((k.clone(), extract_large(db, v, threshold)?)))
                .collect::<Result<_, StoreError>>()?,
        ),
        other => other.clone(),
    };
    let text = reduced.to_string();
    if text.len() <= threshold {
        return Ok(reduced);
    }
    let hash = store_blob(db, &text)?;
    Ok(serde_json::json!({ BLOB_MARKER: hash }))
}

/// A payload as two columns: inline JSON, or the hash of a row in `blobs`.
pub(crate) fn put_payload(
    db: &mut dyn Db,
    value: &Value,
    threshold: usize,
) -> Result<(Option<String>, Option<String>), StoreError> {
    let text = value.to_string();
    // The marker's name in the text is the cheap test for "may need escaping".
    let escaped;
    let value = if text.contains("waymark_blob") {
        escaped = escape_markers(value);
        &escaped
    } else {
        value
    };
    if text.len() <= threshold {
        return Ok((Some(value.to_string()), None));
    }
    let reduced = extract_large(db, value, threshold)?;
    match reduced.get(BLOB_MARKER).and_then(Value::as_str) {
        Some(hash) if reduced.as_object().is_some_and(|m| m.len() == 1) => {
            Ok((None, Some(hash.to_string())))
        }
        _ => Ok((Some(reduced.to_string()), None)),
    }
}

fn load_blob(db: &mut dyn Db, hash: &str, depth: usize) -> Result<Value, StoreError> {
    let bytes = blob_data(db, hash)?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| StoreError::Corrupt {
        path: String::new(),
        detail: format!("payload blob {hash} is not JSON: {e}"),
    })?;
    restore_large(db, value, depth + 1)
}

/// The inverse of `extract_large` and `escape_markers`: the writer's markers are replaced by
/// their blobs, escaped user keys lose the `$` the writer added.
fn restore_large(db: &mut dyn Db, value: Value, depth: usize) -> Result<Value, StoreError> {
    if depth > MAX_RESTORE_DEPTH {
        return Err(StoreError::Corrupt {
            path: String::new(),
            detail: format!("payload nests deeper than {MAX_RESTORE_DEPTH} levels"),
        });
    }
    match value {
        Value::Object(map) => {
            let single_marker = map.len() == 1 && map.keys().all(|k| is_marker_like(k));
            if single_marker {
                if let Some(Value::String(hash)) = map.get(BLOB_MARKER) {
                    return load_blob(db, hash, depth);
                }
            }
            Ok(Value::Object(
                map.into_iter()
                    .map(|(k, v)| {
                        let v = restore_large(db, v, depth + 1)?;
                        let k = match k.strip_prefix('$') {
                            Some(unescaped) if single_marker && is_marker_like(unescaped) => {
                                unescaped.to_string()
                            }
                            _ => k,
                        };
                        Ok((k, v))
                    })
                    .collect::<Result<_, StoreError>>()?,
            ))
        }
        Value::Array(items) => Ok(Value::Array(
            items
                .into_iter()
                .map(|v| restore_large(db, v, depth + 1))
                .collect::<Result<_, _>>()?,
        )),
        other => Ok(other),
    }
}

pub(crate) fn get_payload(
    db: &mut dyn Db,
    json: Option<String>,
    blob: Option<String>,
) -> Result<Option<Value>, StoreError> {
    match (json, blob) {
        (Some(text), _) => {
            let value: Value = serde_json::from_str(&text).map_err(|e| StoreError::Corrupt {
                path: String::new(),
                detail: format!("payload is not JSON: {e}"),
            })?;
            if text.contains(BLOB_MARKER) {
                restore_large(db, value, 0).map(Some)
            } else {
                Ok(Some(value))
            }
        }
        (None, Some(hash)) => load_blob(db, &hash, 0).map(Some),
        (None, None) => Ok(None),
    }
}

fn parse_json<T: serde::de::DeserializeOwned>(text: Option<String>) -> Option<T> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn bad(what: &str, value: &str) -> StoreError {
    StoreError::Corrupt {
        path: String::new(),
        detail: format!("unknown {what} '{value}'"),
    }
}

fn parse_run_id(text: &str) -> Result<RunId, StoreError> {
    RunId::parse(text).map_err(|e| StoreError::Corrupt {
        path: String::new(),
        detail: e,
    })
}

pub(crate) const RUN_COLUMNS: &str =
    "id, function, function_version, status, input_json, input_blob, \
    output_json, output_blob, error_json, parent_run_id, parent_step_key, idempotency_key, \
    forked_from, forked_at_step, created_at, updated_at, finished_at, deadline_at, \
    cancel_requested, lease_owner, lease_expires_at, lease_epoch, \
    (SELECT COALESCE(MAX(e.run_seq), 0) FROM events e WHERE e.run_id = runs.id), \
    (SELECT count(*) FROM steps s WHERE s.run_id = runs.id), pinned, worker_label";

/// Raw columns first, payloads resolved after.
#[derive(Clone)]
struct RawRun {
    id: String,
    function: String,
    function_version: i64,
    status: String,
    input: (Option<String>, Option<String>),
    output: (Option<String>, Option<String>),
    error: Option<String>,
    parent_run_id: Option<String>,
    parent_step_key: Option<String>,
    idempotency_key: Option<String>,
    forked_from: Option<String>,
    forked_at_step: Option<String>,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
    deadline_at: Option<i64>,
    cancel_requested: bool,
    lease_owner: Option<String>,
    lease_expires_at: i64,
    lease_epoch: i64,
    last_seq: i64,
    step_count: i64,
    pinned: bool,
    worker_label: Option<String>,
}

fn raw_run(r: &Row) -> Result<RawRun, StoreError> {
    Ok(RawRun {
        id: r.get(0)?,
        function: r.get(1)?,
        function_version: r.get(2)?,
        status: r.get(3)?,
        input: (r.get(4)?, r.get(5)?),
        output: (r.get(6)?, r.get(7)?),
        error: r.get(8)?,
        parent_run_id: r.get(9)?,
        parent_step_key: r.get(10)?,
        idempotency_key: r.get(11)?,
        forked_from: r.get(12)?,
        forked_at_step: r.get(13)?,
        created_at: r.get(14)?,
        updated_at: r.get(15)?,
        finished_at: r.get(16)?,
        deadline_at: r.get(17)?,
        cancel_requested: r.get(18)?,
        lease_owner: r.get(19)?,
        lease_expires_at: r.get(20)?,
        lease_epoch: r.get(21)?,
        last_seq: r.get(22)?,
        step_count: r.get(23)?,
        pinned: r.get(24)?,
        worker_label: r.get(25)?,
    })
}

fn finish_run(db: &mut dyn Db, raw: RawRun) -> Result<RunRecord, StoreError> {
    Ok(RunRecord {
        id: parse_run_id(&raw.id)?,
        status: RunStatus::parse(&raw.status).ok_or_else(|| bad("run status", &raw.status))?,
        function: raw.function,
        function_version: raw.function_version as u32,
        input: get_payload(db, raw.input.0, raw.input.1)?.unwrap_or(Value::Null),
        output: get_payload(db, raw.output.0, raw.output.1)?,
        error: parse_json::<StepError>(raw.error),
        parent_run_id: raw.parent_run_id.as_deref().map(parse_run_id).transpose()?,
        parent_step_key: raw.parent_step_key.map(StepKey::new),
        idempotency_key: raw.idempotency_key,
        forked_from: raw.forked_from.as_deref().map(parse_run_id).transpose()?,
        forked_at_step: raw.forked_at_step.map(StepKey::new),
        created_at: raw.created_at,
        updated_at: raw.updated_at,
        finished_at: raw.finished_at,
        deadline_at: raw.deadline_at,
        cancel_requested: raw.cancel_requested,
        lease_owner: raw.lease_owner,
        lease_expires_at: (raw.lease_expires_at > 0).then_some(raw.lease_expires_at),
        lease_epoch: raw.lease_epoch,
        last_seq: raw.last_seq,
        step_count: raw.step_count,
        pinned: raw.pinned,
        worker_label: raw.worker_label,
    })
}

pub fn load_run(db: &mut dyn Db, id: RunId) -> Result<Option<RunRecord>, StoreError> {
    let row = db.query_opt(
        &format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"),
        args![id.to_string()],
    )?;
    match row {
        Some(r) => finish_run(db, raw_run(&r)?).map(Some),
        None => Ok(None),
    }
}

/// The newest runs first, filtered and paged in SQL. A row that cannot be decoded is listed
/// as unreadable (its error says why) instead of failing the whole list.
pub fn list_runs(db: &mut dyn Db, f: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
    type Sql = Arg<'static>;
    let mut sql = format!("SELECT {RUN_COLUMNS} FROM runs WHERE 1=1");
    let mut args: Vec<Sql> = Vec::new();
    let mut arg = |sql: &mut String, clause: &str, v: Sql| {
        args.push(v);
        sql.push_str(&clause.replace("?#", &format!("?{}", args.len())));
    };
    if let Some(s) = f.status {
        arg(
            &mut sql,
            " AND status = ?#",
            Sql::from(s.as_str().to_string()),
        );
    }
    if let Some(func) = &f.function {
        arg(&mut sql, " AND function = ?#", Sql::from(func.clone()));
    }
    if let Some(label) = &f.label {
        arg(
            &mut sql,
            " AND COALESCE(label, function) = ?#",
            Sql::from(label.clone()),
        );
    }
    if let Some(p) = f.parent {
        arg(
            &mut sql,
            " AND parent_run_id = ?#",
            Sql::from(p.to_string()),
        );
    }
    if f.top_level {
        sql.push_str(" AND parent_run_id IS NULL");
    }
    if f.undescribed {
        sql.push_str(" AND search_text IS NULL");
    }
    let position = db.dialect().position_fn();
    if let Some(q) = &f.search {
        arg(
            &mut sql,
            &format!(" AND {position}(search_text, ?#) > 0"),
            Sql::from(q.clone()),
        );
    }
    if let Some((at, id)) = f.after {
        args.push(Sql::Int(at));
        args.push(Sql::from(id.to_string()));
        let (a, b) = (args.len() - 1, args.len());
        sql.push_str(&format!(
            " AND (created_at < ?{a} OR (created_at = ?{a} AND id < ?{b}))"
        ));
    }
    let limit = f.limit.unwrap_or(1000).min(i64::MAX as usize) as i64;
    let offset = f.offset.min(i64::MAX as usize) as i64;
    sql.push_str(&format!(
        " ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    ));
    let rows = db.query(&sql, &args)?;
    rows.iter()
        .map(|r| finish_listed_run(db, raw_run(r)?))
        .collect()
}

/// A listed run whose payloads cannot be read still lists, without them.
fn finish_listed_run(db: &mut dyn Db, raw: RawRun) -> Result<RunRecord, StoreError> {
    let bare = RawRun {
        input: (Some("null".into()), None),
        output: (None, None),
        ..raw.clone()
    };
    match finish_run(db, raw) {
        Ok(run) => Ok(run),
        Err(e) => {
            // The columns that are not payloads are checked again; a bad status still fails.
            let mut run = finish_run(db, bare)?;
            run.error = Some(StepError::fatal(
                "unreadable",
                format!("this run's stored data cannot be read: {e}"),
            ));
            Ok(run)
        }
    }
}

const STEP_COLUMNS: &str =
    "run_id, key, ordinal, kind, safety, status, name, input_json, input_blob, \
    output_json, output_blob, error_json, attempts, created_at, updated_at, finished_at, wake_at, \
    deadline_at, progress_json, meta_json, \
    (SELECT count(*) FROM attempts a WHERE a.run_id = steps.run_id AND a.step_key = steps.key \
        AND a.outcome_json = '{\"outcome\":\"interrupted\"}')";

struct RawStep {
    run_id: String,
    key: String,
    ordinal: i64,
    kind: String,
    safety: String,
    status: String,
    name: Option<String>,
    input: (Option<String>, Option<String>),
    output: (Option<String>, Option<String>),
    error: Option<String>,
    attempts: i64,
    created_at: i64,
    updated_at: i64,
    finished_at: Option<i64>,
    wake_at: Option<i64>,
    deadline_at: Option<i64>,
    progress: Option<String>,
    meta: String,
    interrupted: i64,
}

fn raw_step(r: &Row) -> Result<RawStep, StoreError> {
    Ok(RawStep {
        run_id: r.get(0)?,
        key: r.get(1)?,
        ordinal: r.get(2)?,
        kind: r.get(3)?,
        safety: r.get(4)?,
        status: r.get(5)?,
        name: r.get(6)?,
        input: (r.get(7)?, r.get(8)?),
        output: (r.get(9)?, r.get(10)?),
        error: r.get(11)?,
        attempts: r.get(12)?,
        created_at: r.get(13)?,
        updated_at: r.get(14)?,
        finished_at: r.get(15)?,
        wake_at: r.get(16)?,
        deadline_at: r.get(17)?,
        progress: r.get(18)?,
        meta: r.get(19)?,
        interrupted: r.get(20)?,
    })
}

fn finish_step(db: &mut dyn Db, raw: RawStep) -> Result<StepRecord, StoreError> {
    Ok(StepRecord {
        run_id: parse_run_id(&raw.run_id)?,
        kind: StepKind::parse(&raw.kind).ok_or_else(|| bad("step kind", &raw.kind))?,
        safety: SafetyClass::parse(&raw.safety).ok_or_else(|| bad("safety class", &raw.safety))?,
        status: StepStatus::parse(&raw.status).ok_or_else(|| bad("step status", &raw.status))?,
        key: StepKey::new(raw.key),
        ordinal: raw.ordinal,
        name: raw.name,
        input: get_payload(db, raw.input.0, raw.input.1)?.unwrap_or(Value::Null),
        output: get_payload(db, raw.output.0, raw.output.1)?,
        error: parse_json(raw.error),
        attempts: raw.attempts as u32,
        created_at: raw.created_at,
        updated_at: raw.updated_at,
        finished_at: raw.finished_at,
        wake_at: raw.wake_at,
        deadline_at: raw.deadline_at,
        progress: parse_json(raw.progress),
        meta: serde_json::from_str(&raw.meta).unwrap_or(Value::Null),
        interrupted_attempts: raw.interrupted as u32,
    })
}

pub fn load_steps(db: &mut dyn Db, run: RunId) -> Result<Vec<StepRecord>, StoreError> {
    load_step_page(db, run, 0, i64::MAX)
}

/// Steps in journal order, `limit` of them after skipping `offset`.
pub fn load_step_page(
    db: &mut dyn Db,
    run: RunId,
    offset: i64,
    limit: i64,
) -> Result<Vec<StepRecord>, StoreError> {
    let rows = db.query(
        &format!(
            "SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 ORDER BY ordinal LIMIT ?2 OFFSET ?3"
        ),
        args![run.to_string(), limit, offset],
    )?;
    rows.iter().map(|r| finish_step(db, raw_step(r)?)).collect()
}

pub fn load_step(
    db: &mut dyn Db,
    run: RunId,
    key: &StepKey,
) -> Result<Option<StepRecord>, StoreError> {
    let row = db.query_opt(
        &format!("SELECT {STEP_COLUMNS} FROM steps WHERE run_id = ?1 AND key = ?2"),
        args![run.to_string(), key.as_str()],
    )?;
    match row {
        Some(r) => finish_step(db, raw_step(&r)?).map(Some),
        None => Ok(None),
    }
}

pub fn load_attempts(db: &mut dyn Db, run: RunId) -> Result<Vec<AttemptRecord>, StoreError> {
    let rows = db.query(
        &format!(
            "SELECT step_key, number, lease_epoch, outcome_json, started_at, finished_at
             FROM attempts WHERE run_id = ?1
             UNION ALL {INLINE_ATTEMPTS} WHERE run_id = ?1 AND inline_attempt IS NOT NULL
             ORDER BY 5, 1, 2"
        ),
        args![run.to_string()],
    )?;
    decode_attempts(run, &rows)
}

/// A step's first attempt kept on its row (schema 6), as an attempt row: started when the
/// step was created; `ok` once the step succeeded, `cancelled` if its run ended meanwhile,
/// else still started. Any other end moved it to `attempts`.
const INLINE_ATTEMPTS: &str = "SELECT key, 1, inline_attempt,
        CASE status WHEN 'succeeded' THEN '{\"outcome\":\"ok\"}'
            WHEN 'cancelled' THEN '{\"outcome\":\"cancelled\"}'
            ELSE '{\"outcome\":\"started\"}' END,
        created_at,
        CASE WHEN status IN ('succeeded', 'cancelled') THEN finished_at END
    FROM steps";

/// One step's attempts, by number.
pub fn load_attempts_of_step(
    db: &mut dyn Db,
    run: RunId,
    key: &StepKey,
) -> Result<Vec<AttemptRecord>, StoreError> {
    let rows = db.query(
        &format!(
            "SELECT step_key, number, lease_epoch, outcome_json, started_at, finished_at
             FROM attempts WHERE run_id = ?1 AND step_key = ?2
             UNION ALL {INLINE_ATTEMPTS}
                WHERE run_id = ?1 AND key = ?2 AND inline_attempt IS NOT NULL
             ORDER BY 2"
        ),
        args![run.to_string(), key.as_str()],
    )?;
    decode_attempts(run, &rows)
}

fn decode_attempts(run: RunId, rows: &[Row]) -> Result<Vec<AttemptRecord>, StoreError> {
    let mut out = Vec::new();
    for row in rows {
        let (key, number, epoch, outcome, started_at, finished_at): (
            String,
            i64,
            i64,
            String,
            i64,
            Option<i64>,
        ) = (
            row.get(0)?,
            row.get(1)?,
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        );
        let outcome: AttemptOutcome =
            serde_json::from_str(&outcome).map_err(|e| StoreError::Corrupt {
                path: String::new(),
                detail: format!("attempt outcome is not readable: {e}"),
            })?;
        out.push(AttemptRecord {
            run_id: run,
            step_key: StepKey::new(key),
            number: number as u32,
            lease_epoch: epoch,
            outcome,
            started_at,
            finished_at,
        });
    }
    Ok(out)
}

pub(crate) fn child_runs(db: &mut dyn Db, run: RunId) -> Result<Vec<RunId>, StoreError> {
    db.query(
        "SELECT id FROM runs WHERE parent_run_id = ?1 ORDER BY created_at",
        args![run.to_string()],
    )?
    .iter()
    .map(|r| parse_run_id(&r.get::<String>(0)?))
    .collect()
}

fn decode_event(r: &Row) -> Result<Event, StoreError> {
    let global_seq: i64 = r.get(0)?;
    let data: String = r.get(4)?;
    let kind = serde_json::from_str(&data).map_err(|e| StoreError::Corrupt {
        path: String::new(),
        detail: format!("event {global_seq} is not readable: {e}"),
    })?;
    Ok(Event {
        global_seq,
        run_id: r
            .get::<Option<String>>(1)?
            .as_deref()
            .map(parse_run_id)
            .transpose()?,
        run_seq: r.get(2)?,
        at: r.get(3)?,
        kind,
    })
}

/// Events after a sequence number: of one run (per-run sequence) or of all (global).
pub fn events_after(
    db: &mut dyn Db,
    run: Option<RunId>,
    after: i64,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = match run {
        Some(run) => db.query(
            "SELECT global_seq, run_id, run_seq, at, data FROM events
             WHERE run_id = ?1 AND run_seq > ?2 ORDER BY run_seq LIMIT ?3",
            args![run.to_string(), after, limit],
        )?,
        None => db.query(
            "SELECT global_seq, run_id, run_seq, at, data FROM events
             WHERE global_seq > ?1 ORDER BY global_seq LIMIT ?2",
            args![after, limit],
        )?,
    };
    rows.iter().map(decode_event).collect()
}

/// The newest event's global sequence number (0 when there is none).
pub fn latest_global_seq(db: &mut dyn Db) -> Result<i64, StoreError> {
    db.query_one("SELECT COALESCE(MAX(global_seq), 0) FROM events", &[])?
        .get(0)
}

pub fn workers(db: &mut dyn Db) -> Result<Vec<WorkerRow>, StoreError> {
    db.query("SELECT id, pid, lock_path, started_at FROM workers", &[])?
        .iter()
        .map(|r| {
            Ok(WorkerRow {
                id: r.get(0)?,
                pid: r.get::<i64>(1)? as u32,
                lock_path: r.get(2)?,
                started_at: r.get(3)?,
            })
        })
        .collect()
}

/// Whether any run a worker with `labels` may take could be claimed at `now`.
pub fn has_claimable(db: &mut dyn Db, now: i64, labels: &[String]) -> Result<bool, StoreError> {
    let sql = format!(
        "SELECT 1 FROM runs WHERE status IN ('queued', 'running', 'waiting') AND lease_expires_at <= ?1
           AND {} LIMIT 1",
        label_filter(db.dialect(), "?2")
    );
    Ok(db
        .query_opt(&sql, args![now, label_list(labels)])?
        .is_some())
}

/// A worker's labels as one argument for [`label_filter`]: `|a|b|` (labels hold no `|`:
/// they are `[A-Za-z0-9._-]`, checked where they are given).
pub fn label_list(labels: &[String]) -> String {
    let mut list = String::from("|");
    for l in labels.iter().filter(|l| !l.contains('|')) {
        list.push_str(l);
        list.push('|');
    }
    list
}

/// The condition a run's `worker_label` meets for a worker whose [`label_list`] is `arg`.
pub fn label_filter(dialect: super::Dialect, arg: &str) -> String {
    format!(
        "(worker_label IS NULL OR {}({arg}, '|' || worker_label || '|') > 0)",
        dialect.position_fn()
    )
}

/// One step with its attempts, read in one snapshot.
pub fn step_trace(
    db: &mut dyn Db,
    id: RunId,
    key: &StepKey,
) -> Result<Option<crate::model::StepTrace>, StoreError> {
    db.begin_read()?;
    let result = (|| {
        let Some(step) = load_step(db, id, key)? else {
            return Ok(None);
        };
        let attempt_list = load_attempts_of_step(db, id, key)?;
        Ok(Some(crate::model::StepTrace { step, attempt_list }))
    })();
    db.end_read()?;
    result
}

/// A run with `limit` of its steps after `offset` and their attempts, read in one snapshot.
pub fn trace_page(
    db: &mut dyn Db,
    id: RunId,
    offset: i64,
    limit: i64,
) -> Result<Option<crate::model::RunTrace>, StoreError> {
    db.begin_read()?;
    let result = trace_page_in_snapshot(db, id, offset, limit);
    db.end_read()?;
    result
}

fn trace_page_in_snapshot(
    db: &mut dyn Db,
    id: RunId,
    offset: i64,
    limit: i64,
) -> Result<Option<crate::model::RunTrace>, StoreError> {
    use crate::model::StepTrace;
    let Some(run) = load_run(db, id)? else {
        return Ok(None);
    };
    let steps = load_step_page(db, id, offset, limit)?;
    let steps = if offset == 0 && limit == i64::MAX {
        // The whole trace reads its attempts in one query, grouped by key in one pass
        // (partitioning the whole list per step was quadratic: seconds for 10,000 steps).
        let mut attempts: std::collections::HashMap<_, Vec<_>> = std::collections::HashMap::new();
        for a in load_attempts(db, id)? {
            attempts.entry(a.step_key.clone()).or_default().push(a);
        }
        steps
            .into_iter()
            .map(|step| {
                let mut attempt_list = attempts.remove(&step.key).unwrap_or_default();
                attempt_list.sort_by_key(|a| a.number);
                StepTrace { step, attempt_list }
            })
            .collect()
    } else {
        // A page looks its steps' attempts up by primary key: a join against the page's keys
        // let SQLite's planner scan the page once per attempt of the run (seconds at 10,000).
        steps
            .into_iter()
            .map(|step| {
                let attempt_list = load_attempts_of_step(db, id, &step.key)?;
                Ok(StepTrace { step, attempt_list })
            })
            .collect::<Result<Vec<_>, StoreError>>()?
    };
    let children = child_runs(db, id)?;
    Ok(Some(crate::model::RunTrace {
        run,
        steps,
        children,
    }))
}

/// Finished runs without a (living) parent, with the group value at `pointer` of their input
/// (retention chooses among them), read in one snapshot.
pub fn retention_candidates(
    db: &mut dyn Db,
    pointer: Option<&str>,
) -> Result<Vec<crate::maintenance::RetentionCandidate>, StoreError> {
    db.begin_read()?;
    let result = retention_candidates_in_snapshot(db, pointer);
    db.end_read()?;
    result
}

fn retention_candidates_in_snapshot(
    db: &mut dyn Db,
    pointer: Option<&str>,
) -> Result<Vec<crate::maintenance::RetentionCandidate>, StoreError> {
    // Children go with their parents; a child whose parent was deleted counts as top-level.
    let rows = db.query(
        "SELECT id, function, created_at, finished_at, pinned, input_json, input_blob FROM runs
         WHERE status IN ('succeeded', 'failed', 'cancelled')
           AND (parent_run_id IS NULL
                OR NOT EXISTS (SELECT 1 FROM runs p WHERE p.id = runs.parent_run_id))",
        &[],
    )?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let group = match pointer {
            Some(p) => get_payload(db, r.get(5)?, r.get(6)?)?
                .and_then(|input| input.pointer(p).cloned())
                .unwrap_or(Value::Null),
            None => Value::Null,
        };
        out.push(crate::maintenance::RetentionCandidate {
            id: parse_run_id(&r.get::<String>(0)?)?,
            function: r.get(1)?,
            created_at: r.get(2)?,
            finished_at: r.get(3)?,
            pinned: r.get(4)?,
            group,
        });
    }
    Ok(out)
}
