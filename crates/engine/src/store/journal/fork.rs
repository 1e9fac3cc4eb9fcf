//! Forking a run: a new run that replays the old one's journal up to a step.

use serde_json::Value;

use super::args;
use super::rows;
use super::tx::Tx;
use crate::error::StoreError;
use crate::ids::{RunId, StepKey};
use crate::model::EventKind;
use crate::store::Applied;

/// A new run whose journal is the old one's up to `at`, with `at` itself edited when asked.
pub(super) fn fork(
    tx: &mut Tx<'_>,
    source: RunId,
    at: &StepKey,
    output: Option<&Value>,
    new_id: RunId,
    by: Option<&str>,
) -> Result<Applied, StoreError> {
    let old = rows::load_run(tx.db, source)?.ok_or(StoreError::RunNotFound(source))?;
    let step = rows::load_step(tx.db, source, at)?.ok_or_else(|| StoreError::StepNotFound {
        run: source,
        key: at.clone(),
    })?;
    let (ij, ib) = tx.payload(&old.input)?;
    tx.db.execute(
        "INSERT INTO runs(id, function, function_version, status, input_json, input_blob, forked_from, forked_at_step,
            created_at, updated_at, deadline_at, worker_label)
         VALUES (?1, ?2, ?3, 'queued', ?4, ?5, ?6, ?7, ?8, ?8, NULL, ?9)",
        args![
            new_id.to_string(),
            old.function.as_str(),
            old.function_version,
            ij,
            ib,
            source.to_string(),
            at.as_str(),
            tx.now,
            &old.worker_label
        ],
    )?;
    let keep_through = if output.is_some() {
        step.ordinal
    } else {
        step.ordinal - 1
    };
    let (src, dst) = (source.to_string(), new_id.to_string());
    tx.db.execute(
            "INSERT INTO steps(run_id, key, ordinal, kind, safety, status, name, input_json, input_blob, output_json,
                output_blob, error_json, attempts, created_at, updated_at, finished_at, wake_at, deadline_at, progress_json, meta_json,
                inline_attempt)
             SELECT ?2, key, ordinal, kind, safety, status, name, input_json, input_blob, output_json, output_blob, error_json,
                attempts, created_at, updated_at, finished_at, wake_at, deadline_at, progress_json, meta_json,
                CASE WHEN inline_attempt IS NOT NULL AND status = 'succeeded' THEN 0 END
             FROM steps WHERE run_id = ?1 AND ordinal <= ?3 AND (status IN ('succeeded', 'failed') OR key = ?4)",
            args![&src, &dst, keep_through, at.as_str()],
        )?;
    tx.db.execute(
            "INSERT INTO attempts(run_id, step_key, number, lease_epoch, outcome_json, started_at, finished_at)
             SELECT ?2, a.step_key, a.number, 0, a.outcome_json, a.started_at, a.finished_at
             FROM attempts a JOIN steps s ON s.run_id = ?2 AND s.key = a.step_key
             WHERE a.run_id = ?1 AND a.finished_at IS NOT NULL",
            args![&src, &dst],
        )?;
    if let Some(v) = output {
        let (oj, ob) = tx.payload(v)?;
        // The step is marked as edited in its metadata (an object; anything else is replaced).
        let mut meta = match step.meta.clone() {
            Value::Object(m) => m,
            _ => serde_json::Map::new(),
        };
        meta.insert("edited".into(), Value::Bool(true));
        tx.db.execute(
            "UPDATE steps SET status = 'succeeded', output_json = ?3, output_blob = ?4, error_json = NULL,
                finished_at = COALESCE(finished_at, ?5), meta_json = ?6
             WHERE run_id = ?1 AND key = ?2",
            args![
                &dst,
                at.as_str(),
                oj,
                ob,
                tx.now,
                Value::Object(meta).to_string()
            ],
        )?;
    }
    tx.emit(
        Some(new_id),
        EventKind::RunCreated {
            function: old.function.clone(),
            parent_run_id: None,
            forked_from: Some(source),
            by: by.map(str::to_string),
        },
    )?;
    Ok(Applied::Run {
        id: new_id,
        created: true,
    })
}
