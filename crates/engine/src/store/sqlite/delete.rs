//! Deleting finished runs (with their child runs and journals) and pinning runs.

use std::collections::HashSet;

use rusqlite::{params, OptionalExtension};

use super::rows::sql_err;
use super::tx::Tx;
use crate::error::StoreError;
use crate::ids::RunId;
use crate::maintenance::{DeletedRuns, SkippedRun};
use crate::model::{EventKind, RunStatus};

pub(super) fn delete_runs(
    tx: &mut Tx<'_>,
    roots: &[RunId],
    force: bool,
    skip_refused: bool,
) -> Result<DeletedRuns, StoreError> {
    let mut out = DeletedRuns::default();
    let mut doomed: Vec<RunId> = Vec::new();
    let mut seen = HashSet::new();
    for &root in roots {
        match deletable_tree(tx, root, force) {
            Ok(tree) => doomed.extend(tree.into_iter().filter(|id| seen.insert(*id))),
            Err(e) if skip_refused => out.skipped.push(SkippedRun {
                run: root,
                reason: e.to_string(),
            }),
            Err(e) => return Err(e),
        }
    }
    if doomed.is_empty() {
        return Ok(out);
    }
    // Emitted before the rows go, so that it holds the highest global sequence number:
    // `events` has no AUTOINCREMENT (SQLite picks max + 1), and deleting the newest events
    // would otherwise hand their numbers out again to events subscribers have not seen.
    tx.emit(
        None,
        EventKind::RunsDeleted {
            runs: doomed.clone(),
        },
    )?;
    let exec = |sql: &str, id: &str| -> Result<u64, StoreError> {
        tx.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.execute([id]))
            .map(|n| n as u64)
            .map_err(sql_err)
    };
    for id in &doomed {
        let id = id.to_string();
        out.attempts += exec("DELETE FROM attempts WHERE run_id = ?1", &id)?;
        // First attempts kept on their steps' rows go with the steps.
        out.attempts += tx
            .conn
            .prepare_cached(
                "SELECT count(*) FROM steps WHERE run_id = ?1 AND inline_attempt IS NOT NULL",
            )
            .and_then(|mut s| s.query_row([&id], |r| r.get::<_, i64>(0)))
            .map(|n| n.max(0) as u64)
            .map_err(sql_err)?;
        out.steps += exec("DELETE FROM steps WHERE run_id = ?1", &id)?;
        out.events += exec("DELETE FROM events WHERE run_id = ?1", &id)?;
        // An external event a run consumed is part of that run's story (its payload is the
        // step's output); unconsumed ones belong to no run and stay.
        exec(
            "DELETE FROM external_events WHERE consumed_run_id = ?1",
            &id,
        )?;
        exec("DELETE FROM runs WHERE id = ?1", &id)?;
    }
    out.runs = doomed;
    Ok(out)
}

/// The run and its descendants, if all of them may go.
fn deletable_tree(tx: &Tx<'_>, root: RunId, force: bool) -> Result<Vec<RunId>, StoreError> {
    let parent: Option<Option<String>> = tx
        .conn
        .prepare_cached("SELECT parent_run_id FROM runs WHERE id = ?1")
        .and_then(|mut s| s.query_row([root.to_string()], |r| r.get(0)).optional())
        .map_err(sql_err)?;
    let Some(parent) = parent else {
        return Err(StoreError::RunNotFound(root));
    };
    let tree: Vec<(String, String, bool)> = {
        let mut stmt = tx
            .conn
            .prepare_cached(
                "WITH RECURSIVE tree(id) AS (SELECT ?1 UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id)
                 SELECT r.id, r.status, r.pinned FROM runs r JOIN tree t ON r.id = t.id",
            )
            .map_err(sql_err)?;
        let rows = stmt
            .query_map([root.to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(sql_err)?;
        rows.collect::<Result<_, _>>().map_err(sql_err)?
    };
    let mut ids = Vec::with_capacity(tree.len());
    for (id, status, pinned) in tree {
        let id = RunId::parse(&id).map_err(StoreError::Sqlite)?;
        let status = RunStatus::parse(&status).ok_or_else(|| {
            StoreError::Sqlite(format!("run {id} has an unknown status '{status}'"))
        })?;
        // Never forced: a worker may still be writing to an unfinished run.
        if !status.is_terminal() {
            return Err(StoreError::RunNotFinished { run: id, status });
        }
        if pinned && !force {
            return Err(StoreError::RunPinned(id));
        }
        ids.push(id);
    }
    if let (Some(parent), false) = (parent, force) {
        let exists: bool = tx
            .conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)")
            .and_then(|mut s| s.query_row([&parent], |r| r.get(0)))
            .map_err(sql_err)?;
        if exists {
            return Err(StoreError::Conflict(format!(
                "run {root} is a child of run {parent}, whose journal refers to it: delete the parent, or force the deletion"
            )));
        }
    }
    Ok(ids)
}

pub(super) fn pin_run(tx: &mut Tx<'_>, run: RunId, pinned: bool) -> Result<(), StoreError> {
    let changed = tx
        .conn
        .prepare_cached("UPDATE runs SET pinned = ?2 WHERE id = ?1 AND pinned != ?2")
        .and_then(|mut s| s.execute(params![run.to_string(), pinned]))
        .map_err(sql_err)?;
    if changed > 0 {
        return tx.emit(Some(run), EventKind::RunPinned { pinned });
    }
    let exists: bool = tx
        .conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)")
        .and_then(|mut s| s.query_row([run.to_string()], |r| r.get(0)))
        .map_err(sql_err)?;
    if exists {
        Ok(())
    } else {
        Err(StoreError::RunNotFound(run))
    }
}
