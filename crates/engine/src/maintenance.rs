//! Keeping the database healthy: deleting finished runs, retention, pinning, collecting
//! unreferenced blobs, backup, VACUUM and size statistics.
//!
//! Deleting and pinning are [`Transition`]s like any other write, so they queue behind the
//! steps in flight and reach subscribers as events ([`EventKind::RunsDeleted`],
//! [`EventKind::RunPinned`]). The rest is store-specific and comes from [`Maintenance`].
//!
//! [`EventKind::RunsDeleted`]: crate::model::EventKind::RunsDeleted
//! [`EventKind::RunPinned`]: crate::model::EventKind::RunPinned

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::clock::Millis;
use crate::engine::Engine;
use crate::error::{EngineError, StoreError};
use crate::ids::RunId;
use crate::store::{Applied, Durability, Transition};

/// What a deletion removed. Counts include the child runs deleted with their parents.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DeletedRuns {
    /// Every run deleted: the ones asked for and their descendants.
    pub runs: Vec<RunId>,
    pub steps: u64,
    pub attempts: u64,
    /// The deleted runs' own events. Global sequence numbers are never reused.
    pub events: u64,
    /// Runs retention chose but left alone (pinned meanwhile, a child still running, ...).
    #[serde(default)]
    pub skipped: Vec<SkippedRun>,
}

impl DeletedRuns {
    fn absorb(&mut self, other: DeletedRuns) {
        self.runs.extend(other.runs);
        self.steps += other.steps;
        self.attempts += other.attempts;
        self.events += other.events;
        self.skipped.extend(other.skipped);
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SkippedRun {
    pub run: RunId,
    pub reason: String,
}

/// Which finished top-level runs to delete. Retention looks only at runs that are finished
/// (succeeded, failed, cancelled), have no parent (children go with their parents), and are
/// not pinned (neither by [`Engine::pin_run`] nor listed in `pinned`). Of those it deletes
/// each run outside *any* limit that is set; with no limit set it deletes nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    /// Delete runs that finished more than this many days ago.
    #[serde(default)]
    pub keep_days: Option<u32>,
    /// In each group, keep only this many of the most recently created runs (counting only
    /// the runs retention looks at: pinned and unfinished runs are kept besides).
    #[serde(default)]
    pub keep_last: Option<u32>,
    /// How runs are grouped for `keep_last`.
    #[serde(default)]
    pub group_by: RetentionGroup,
    /// Runs never deleted, in addition to those with the pinned flag.
    #[serde(default)]
    pub pinned: BTreeSet<RunId>,
}

/// Groups for [`RetentionPolicy::keep_last`].
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum RetentionGroup {
    /// One group per durable function.
    #[default]
    Function,
    /// One group per function and value at this JSON pointer into the run's input (e.g.
    /// `/spec/name` groups agent runs by agent). Runs without that value share a group.
    InputPointer { pointer: String },
}

/// A finished top-level run as retention sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionCandidate {
    pub id: RunId,
    pub function: String,
    pub created_at: Millis,
    pub finished_at: Option<Millis>,
    pub pinned: bool,
    /// The value at the policy's input pointer (null without one, or when it is missing).
    pub group: Value,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GcReport {
    pub blobs_deleted: u64,
    /// Payload bytes of the deleted blobs. The file shrinks by them only after a VACUUM;
    /// until then SQLite reuses the freed pages.
    pub bytes_freed: u64,
    pub blobs_kept: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VacuumReport {
    /// The database file plus its write-ahead log, before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct BackupReport {
    pub path: String,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DbStats {
    pub file_bytes: u64,
    pub wal_bytes: u64,
    pub page_size: u64,
    pub page_count: u64,
    /// Pages free for reuse: what a VACUUM would give back.
    pub freelist_pages: u64,
    pub runs: u64,
    pub steps: u64,
    pub attempts: u64,
    pub events: u64,
    pub blobs: u64,
    pub blob_bytes: u64,
    /// The ten runs with the most payload, largest first.
    pub largest_runs: Vec<RunSize>,
}

/// A run's payload size, approximate: the JSON of the run's and its steps' inputs, outputs,
/// errors and progress, with every blob they refer to counted in full (nested blobs too).
/// A blob shared by several runs, or twice within one, counts each time: this is the size
/// the payloads would have without deduplication, not what deleting the run frees.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSize {
    pub run: RunId,
    pub function: String,
    pub bytes: u64,
}

/// Store-specific upkeep. Writes go through the store's single writer (or its equivalent),
/// so all of it is safe while runs execute.
pub trait Maintenance: Send + Sync {
    /// Deletes blobs that no row refers to any more, directly or through another blob.
    fn collect_garbage(&self) -> BoxFuture<'static, Result<GcReport, StoreError>>;
    /// Rewrites the file without free pages.
    fn vacuum(&self) -> BoxFuture<'static, Result<VacuumReport, StoreError>>;
    /// A consistent copy in a new file at `to`, verified before it gets its name.
    fn backup(&self, to: PathBuf) -> BoxFuture<'static, Result<BackupReport, StoreError>>;
    fn database_stats(&self) -> BoxFuture<'static, Result<DbStats, StoreError>>;
    /// Finished runs without a (living) parent, with the group value at `pointer` of their input.
    fn retention_candidates(
        &self,
        pointer: Option<String>,
    ) -> BoxFuture<'static, Result<Vec<RetentionCandidate>, StoreError>>;
}

const DAY_MS: Millis = 24 * 60 * 60 * 1000;

/// Retention deletes in chunks, so the writer is never held long by one transition.
const DELETE_CHUNK: usize = 64;

/// The runs `policy` deletes among `candidates`, as of `now`.
pub fn select_for_retention(
    policy: &RetentionPolicy,
    now: Millis,
    candidates: Vec<RetentionCandidate>,
) -> Vec<RunId> {
    let eligible: Vec<RetentionCandidate> = candidates
        .into_iter()
        .filter(|c| !c.pinned && !policy.pinned.contains(&c.id))
        .collect();
    let mut doomed = BTreeSet::new();
    if let Some(days) = policy.keep_days {
        let cutoff = now.saturating_sub(Millis::from(days).saturating_mul(DAY_MS));
        for c in &eligible {
            if c.finished_at.unwrap_or(c.created_at) < cutoff {
                doomed.insert(c.id);
            }
        }
    }
    if let Some(keep) = policy.keep_last {
        let mut groups: HashMap<(String, String), Vec<&RetentionCandidate>> = HashMap::new();
        for c in &eligible {
            groups
                .entry((c.function.clone(), c.group.to_string()))
                .or_default()
                .push(c);
        }
        for mut runs in groups.into_values() {
            // Newest first; ids are UUIDv7, so they break ties in creation order.
            runs.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
            doomed.extend(runs.iter().skip(keep as usize).map(|c| c.id));
        }
    }
    doomed.into_iter().collect()
}

impl Engine {
    fn maintenance(&self) -> Result<&dyn Maintenance, EngineError> {
        self.store().maintenance().ok_or_else(|| {
            EngineError::Invalid("this store offers no maintenance operations".into())
        })
    }

    async fn delete(
        &self,
        runs: Vec<RunId>,
        force: bool,
        skip_refused: bool,
    ) -> Result<DeletedRuns, EngineError> {
        let t = Transition::DeleteRuns {
            runs,
            force,
            skip_refused,
        };
        match self.store().submit(t, Durability::Durable).await? {
            Applied::Deleted(d) => Ok(d),
            other => Err(EngineError::Store(StoreError::Sqlite(format!(
                "unexpected result {other:?}"
            )))),
        }
    }

    /// Deletes a finished run with its child runs, their steps, attempts and events. An
    /// unfinished run (or one with an unfinished child) is refused. `force` deletes a pinned
    /// run, or a child run whose parent still exists (the parent's journal then names a run
    /// that is gone); it never deletes an unfinished one.
    pub async fn delete_run(&self, run: RunId, force: bool) -> Result<DeletedRuns, EngineError> {
        self.delete(vec![run], force, false).await
    }

    /// Pins (or unpins) a run: retention keeps it, and `delete_run` needs `force`.
    pub async fn pin_run(&self, run: RunId, pinned: bool) -> Result<(), EngineError> {
        self.store()
            .submit(Transition::PinRun { run, pinned }, Durability::Durable)
            .await?;
        Ok(())
    }

    /// Deletes the finished top-level runs `policy` does not keep (see [`RetentionPolicy`]).
    pub async fn apply_retention(
        &self,
        policy: &RetentionPolicy,
    ) -> Result<DeletedRuns, EngineError> {
        let pointer = match &policy.group_by {
            RetentionGroup::Function => None,
            RetentionGroup::InputPointer { pointer } => {
                if !pointer.is_empty() && !pointer.starts_with('/') {
                    return Err(EngineError::Invalid(format!(
                        "'{pointer}' is not a JSON pointer: it must be empty or start with '/'"
                    )));
                }
                Some(pointer.clone())
            }
        };
        let candidates = self.maintenance()?.retention_candidates(pointer).await?;
        let doomed = select_for_retention(policy, self.clock().now_ms(), candidates);
        let mut total = DeletedRuns::default();
        for chunk in doomed.chunks(DELETE_CHUNK) {
            // Checked again by the writer: a run pinned since it was chosen is skipped.
            total.absorb(self.delete(chunk.to_vec(), false, true).await?);
        }
        Ok(total)
    }

    /// Deletes blobs no run, step or event refers to any more.
    pub async fn collect_garbage(&self) -> Result<GcReport, EngineError> {
        Ok(self.maintenance()?.collect_garbage().await?)
    }

    /// Gives free pages back to the file system. Writes wait while it runs.
    pub async fn vacuum(&self) -> Result<VacuumReport, EngineError> {
        Ok(self.maintenance()?.vacuum().await?)
    }

    /// Copies the database to a new file at `to` while runs go on; the copy is checked as
    /// `waymark db check` checks before it appears under that name.
    pub async fn backup(&self, to: impl Into<PathBuf>) -> Result<BackupReport, EngineError> {
        Ok(self.maintenance()?.backup(to.into()).await?)
    }

    pub async fn database_stats(&self) -> Result<DbStats, EngineError> {
        Ok(self.maintenance()?.database_stats().await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(function: &str, created_at: Millis, group: Value) -> RetentionCandidate {
        RetentionCandidate {
            id: RunId::new(),
            function: function.into(),
            created_at,
            finished_at: Some(created_at + 10),
            pinned: false,
            group,
        }
    }

    #[test]
    fn keep_last_counts_per_group_and_keeps_the_newest() {
        let a: Vec<_> = (0..3)
            .map(|i| candidate("agent", i, Value::from("a")))
            .collect();
        let b = candidate("agent", 0, Value::from("b"));
        let mut all = a.clone();
        all.push(b.clone());
        let policy = RetentionPolicy {
            keep_last: Some(1),
            ..Default::default()
        };
        let doomed = select_for_retention(&policy, 100, all);
        assert_eq!(doomed.len(), 2);
        assert!(doomed.contains(&a[0].id) && doomed.contains(&a[1].id));
        assert!(!doomed.contains(&b.id));
    }

    #[test]
    fn no_limit_deletes_nothing_and_pinned_runs_stay() {
        let mut old = candidate("f", 0, Value::Null);
        let all = vec![old.clone()];
        assert!(select_for_retention(&RetentionPolicy::default(), DAY_MS * 9, all).is_empty());
        old.pinned = true;
        let policy = RetentionPolicy {
            keep_days: Some(1),
            ..Default::default()
        };
        assert!(select_for_retention(&policy, DAY_MS * 9, vec![old]).is_empty());
    }
}
