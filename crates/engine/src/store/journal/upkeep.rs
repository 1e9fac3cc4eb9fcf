//! Upkeep that reads or deletes journal rows, written once for every backend: which payload
//! blobs are still referred to (and collecting the others), row counts, and the runs with the
//! most payload. The caller provides the isolation: a transaction no other writer commits
//! into while blobs are swept (SQLite's IMMEDIATE, PostgreSQL's counter lock).

use std::collections::{HashMap, HashSet};

use super::rows::{blob_data, BLOB_MARKER};
use super::Db;
use crate::error::StoreError;
use crate::ids::RunId;
use crate::maintenance::{DbStats, GcReport, RunSize};

/// Columns that hold a blob's hash directly.
const BLOB_COLUMNS: &[(&str, &str)] = &[
    ("runs", "input_blob"),
    ("runs", "output_blob"),
    ("steps", "input_blob"),
    ("steps", "output_blob"),
    ("external_events", "payload_blob"),
];

/// JSON columns that may hold blob markers nested in a value. More than those written
/// through `put_payload`: keeping a blob too many is harmless, collecting a used one is not.
const JSON_COLUMNS: &[(&str, &str)] = &[
    ("runs", "input_json"),
    ("runs", "output_json"),
    ("runs", "error_json"),
    ("steps", "input_json"),
    ("steps", "output_json"),
    ("steps", "error_json"),
    ("steps", "progress_json"),
    ("steps", "meta_json"),
    ("attempts", "outcome_json"),
    ("external_events", "payload_json"),
];

/// The hashes of the blob markers in a JSON text. A plain text scan: a marker is always
/// written by serde_json as `{"$waymark_blob":"<sha-256 hex>"}`, and a user string that
/// merely contains the words has its quotes escaped, so it does not match.
pub(crate) fn markers(text: &str) -> impl Iterator<Item = &str> + '_ {
    let needle = format!("\"{BLOB_MARKER}\":\"");
    let starts: Vec<usize> = text
        .match_indices(needle.as_str())
        .map(|(i, _)| i + needle.len())
        .collect();
    starts.into_iter().filter_map(move |start| {
        let hash = text.get(start..start + 64)?;
        let closed = text.get(start + 64..start + 65) == Some("\"");
        (closed && hash.bytes().all(|b| b.is_ascii_hexdigit())).then_some(hash)
    })
}

/// The hashes of blobs whose data itself holds markers (a large value with large parts).
fn nesting_blobs(db: &mut dyn Db) -> Result<HashSet<String>, StoreError> {
    db.query("SELECT hash FROM blobs WHERE nested != 0", &[])?
        .iter()
        .map(|r| r.get(0))
        .collect()
}

fn blob_text(db: &mut dyn Db, hash: &str) -> Result<String, StoreError> {
    let data = blob_data(db, hash)?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Every blob some row refers to, directly or through other blobs.
fn live_blobs(db: &mut dyn Db) -> Result<HashSet<String>, StoreError> {
    let mut live = HashSet::new();
    let mut todo = Vec::new();
    let found = |hash: &str, live: &mut HashSet<String>, todo: &mut Vec<String>| {
        if live.insert(hash.to_string()) {
            todo.push(hash.to_string());
        }
    };
    for (table, column) in BLOB_COLUMNS {
        let sql = format!("SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL");
        for row in db.query(&sql, &[])? {
            found(&row.get::<String>(0)?, &mut live, &mut todo);
        }
    }
    let position = db.dialect().position_fn();
    for (table, column) in JSON_COLUMNS {
        let sql = format!("SELECT {column} FROM {table} WHERE {position}({column}, ?1) > 0");
        for row in db.query(&sql, super::args![BLOB_MARKER])? {
            let text: String = row.get(0)?;
            for hash in markers(&text) {
                found(hash, &mut live, &mut todo);
            }
        }
    }
    let nesting = nesting_blobs(db)?;
    while let Some(hash) = todo.pop() {
        if nesting.contains(&hash) {
            let text = blob_text(db, &hash)?;
            for inner in markers(&text) {
                found(inner, &mut live, &mut todo);
            }
        }
    }
    Ok(live)
}

/// Mark and sweep: deletes every blob no row refers to. Run it in a transaction no other
/// writer commits into.
pub fn collect_garbage(db: &mut dyn Db) -> Result<GcReport, StoreError> {
    let live = live_blobs(db)?;
    let all: Vec<(String, i64)> = db
        .query("SELECT hash, length(data) FROM blobs", &[])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get(1)?)))
        .collect::<Result<_, StoreError>>()?;
    let mut report = GcReport::default();
    for (hash, bytes) in all {
        if live.contains(&hash) {
            report.blobs_kept += 1;
        } else {
            db.execute("DELETE FROM blobs WHERE hash = ?1", super::args![&hash])?;
            report.blobs_deleted += 1;
            report.bytes_freed += bytes.max(0) as u64;
        }
    }
    Ok(report)
}

fn count(db: &mut dyn Db, sql: &str) -> Result<u64, StoreError> {
    Ok(db.query_one(sql, &[])?.get::<i64>(0)?.max(0) as u64)
}

/// Counts and the ten largest runs, read in one snapshot (the caller's); the file and page
/// figures are the backend's to fill in.
pub fn journal_stats(db: &mut dyn Db) -> Result<DbStats, StoreError> {
    Ok(DbStats {
        file_bytes: 0,
        wal_bytes: 0,
        page_size: 0,
        page_count: 0,
        freelist_pages: 0,
        runs: count(db, "SELECT count(*) FROM runs")?,
        steps: count(db, "SELECT count(*) FROM steps")?,
        attempts: count(
            db,
            "SELECT (SELECT count(*) FROM attempts)
                + (SELECT count(*) FROM steps WHERE inline_attempt IS NOT NULL)",
        )?,
        events: count(db, "SELECT count(*) FROM events")?,
        blobs: count(db, "SELECT count(*) FROM blobs")?,
        blob_bytes: count(db, "SELECT COALESCE(SUM(length(data)), 0) FROM blobs")?,
        largest_runs: largest_runs(db, 10)?,
    })
}

/// Payload sizes per run, with blobs expanded (see [`RunSize`]).
fn largest_runs(db: &mut dyn Db, limit: usize) -> Result<Vec<RunSize>, StoreError> {
    let sizes: HashMap<String, u64> = db
        .query("SELECT hash, size FROM blobs", &[])?
        .iter()
        .map(|r| Ok((r.get(0)?, r.get::<i64>(1)?.max(0) as u64)))
        .collect::<Result<_, StoreError>>()?;
    let mut children: HashMap<String, Vec<String>> = HashMap::new();
    for hash in nesting_blobs(db)? {
        let text = blob_text(db, &hash)?;
        children.insert(hash, markers(&text).map(str::to_string).collect());
    }
    let position = db.dialect().position_fn();
    let mut expanded: HashMap<String, u64> = HashMap::new();
    let mut per_run: HashMap<String, u64> = HashMap::new();
    for table in ["runs", "steps"] {
        let id = if table == "runs" { "id" } else { "run_id" };
        let extra = if table == "steps" {
            "COALESCE(length(progress_json), 0)"
        } else {
            "0"
        };
        let sql = format!(
            "SELECT {id}, COALESCE(length(input_json), 0) + COALESCE(length(output_json), 0)
                + COALESCE(length(error_json), 0) + {extra},
                input_blob, output_blob,
                CASE WHEN {position}(input_json, ?1) > 0 THEN input_json END,
                CASE WHEN {position}(output_json, ?1) > 0 THEN output_json END
             FROM {table}"
        );
        for row in db.query(&sql, super::args![BLOB_MARKER])? {
            let run: String = row.get(0)?;
            let mut bytes = row.get::<i64>(1)?.max(0) as u64;
            let mut hashes: Vec<String> = Vec::new();
            for col in 2..4 {
                hashes.extend(row.get::<Option<String>>(col)?);
            }
            for col in 4..6 {
                if let Some(text) = row.get::<Option<String>>(col)? {
                    hashes.extend(markers(&text).map(str::to_string));
                }
            }
            for h in hashes {
                bytes += expand(&h, &sizes, &children, &mut expanded, &mut HashSet::new());
            }
            *per_run.entry(run).or_default() += bytes;
        }
    }
    let mut ranked: Vec<(String, u64)> = per_run.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    ranked.truncate(limit);
    let mut out = Vec::with_capacity(ranked.len());
    for (id, bytes) in ranked {
        // A step whose run row is gone has no function: it is still shown, by id.
        let function: Option<String> = db
            .query_opt("SELECT function FROM runs WHERE id = ?1", super::args![&id])?
            .map(|r| r.get(0))
            .transpose()?;
        let Ok(run) = RunId::parse(&id) else { continue };
        out.push(RunSize {
            run,
            function: function.unwrap_or_default(),
            bytes,
        });
    }
    Ok(out)
}

/// A blob's size with the blobs it refers to counted in full (memoized).
fn expand(
    hash: &str,
    sizes: &HashMap<String, u64>,
    children: &HashMap<String, Vec<String>>,
    memo: &mut HashMap<String, u64>,
    visiting: &mut HashSet<String>,
) -> u64 {
    if let Some(n) = memo.get(hash) {
        return *n;
    }
    // Content addressing rules out cycles; a damaged file must not hang the statistics.
    if !visiting.insert(hash.to_string()) {
        return 0;
    }
    let mut total = sizes.get(hash).copied().unwrap_or(0);
    for child in children.get(hash).into_iter().flatten() {
        total += expand(child, sizes, children, memo, visiting);
    }
    memo.insert(hash.to_string(), total);
    total
}

#[cfg(test)]
mod tests {
    use super::markers;

    #[test]
    fn markers_are_found_nested_and_escaped_text_is_not_one() {
        let h = "ab".repeat(32);
        let text = format!(
            r#"{{"a":[{{"$waymark_blob":"{h}"}}],"b":"\"$waymark_blob\":\"{h}\"","c":{{"$waymark_blob":"short"}}}}"#
        );
        let found: Vec<&str> = markers(&text).collect();
        assert_eq!(found, vec![h.as_str()]);
    }
}
