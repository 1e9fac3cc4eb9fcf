//! Deleting finished runs (with their child runs and journals) and pinning runs.

use std::collections::HashSet;

use super::args;
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
    for id in &doomed {
        let id = id.to_string();
        out.attempts += tx
            .db
            .execute("DELETE FROM attempts WHERE run_id = ?1", args![&id])?;
        // First attempts kept on their steps' rows go with the steps.
        out.attempts += tx
            .db
            .query_one(
                "SELECT count(*) FROM steps WHERE run_id = ?1 AND inline_attempt IS NOT NULL",
                args![&id],
            )?
            .get::<i64>(0)?
            .max(0) as u64;
        out.steps += tx
            .db
            .execute("DELETE FROM steps WHERE run_id = ?1", args![&id])?;
        out.events += tx
            .db
            .execute("DELETE FROM events WHERE run_id = ?1", args![&id])?;
        // An external event a run consumed is part of that run's story (its payload is the
        // step's output); unconsumed ones belong to no run and stay.
        tx.db.execute(
            "DELETE FROM external_events WHERE consumed_run_id = ?1",
            args![&id],
        )?;
        tx.db
            .execute("DELETE FROM runs WHERE id = ?1", args![&id])?;
    }
    out.runs = doomed;
    Ok(out)
}

/// The run and its descendants, if all of them may go.
fn deletable_tree(tx: &mut Tx<'_>, root: RunId, force: bool) -> Result<Vec<RunId>, StoreError> {
    let parent = tx.db.query_opt(
        "SELECT parent_run_id FROM runs WHERE id = ?1",
        args![root.to_string()],
    )?;
    let Some(parent) = parent else {
        return Err(StoreError::RunNotFound(root));
    };
    let parent: Option<String> = parent.get(0)?;
    let rows = tx.db.query(
        "WITH RECURSIVE tree(id) AS (SELECT CAST(?1 AS TEXT) UNION ALL SELECT r.id FROM runs r JOIN tree t ON r.parent_run_id = t.id)
         SELECT r.id, r.status, r.pinned FROM runs r JOIN tree t ON r.id = t.id",
        args![root.to_string()],
    )?;
    let tree = rows
        .into_iter()
        .map(|r| Ok((r.get::<String>(0)?, r.get::<String>(1)?, r.get::<bool>(2)?)))
        .collect::<Result<Vec<_>, StoreError>>()?;
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
        let exists = tx
            .db
            .query_opt("SELECT 1 FROM runs WHERE id = ?1", args![&parent])?
            .is_some();
        if exists {
            return Err(StoreError::Conflict(format!(
                "run {root} is a child of run {parent}, whose journal refers to it: delete the parent, or force the deletion"
            )));
        }
    }
    Ok(ids)
}

pub(super) fn pin_run(tx: &mut Tx<'_>, run: RunId, pinned: bool) -> Result<(), StoreError> {
    let changed = tx.db.execute(
        "UPDATE runs SET pinned = ?2 WHERE id = ?1 AND pinned != ?2",
        args![run.to_string(), pinned],
    )?;
    if changed > 0 {
        return tx.emit(Some(run), EventKind::RunPinned { pinned });
    }
    let exists = tx
        .db
        .query_opt("SELECT 1 FROM runs WHERE id = ?1", args![run.to_string()])?
        .is_some();
    if exists {
        Ok(())
    } else {
        Err(StoreError::RunNotFound(run))
    }
}
