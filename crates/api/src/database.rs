//! Keeping the database healthy: deleting runs, retention, blob collection, backup, vacuum,
//! and what takes the space.

use serde::{Deserialize, Serialize};
use waymark_engine as engine;
use waymark_engine::RetentionPolicy;

use crate::commands::OkResponse;
use crate::ids::RunId;
use crate::{Api, ApiError};

/// What a deletion removed. Counts include the child runs deleted with their parents.
#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct DeletedRuns {
    /// Every run deleted: the ones asked for and their descendants.
    pub runs: Vec<RunId>,
    pub steps: u64,
    pub attempts: u64,
    /// The deleted runs' own events.
    pub events: u64,
    /// Runs retention chose but left alone (pinned meanwhile, a child still running, ...).
    pub skipped: Vec<SkippedRun>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct SkippedRun {
    pub run: RunId,
    pub reason: String,
}

impl From<engine::DeletedRuns> for DeletedRuns {
    fn from(d: engine::DeletedRuns) -> Self {
        DeletedRuns {
            runs: d.runs.into_iter().map(Into::into).collect(),
            steps: d.steps,
            attempts: d.attempts,
            events: d.events,
            skipped: d
                .skipped
                .into_iter()
                .map(|s| SkippedRun {
                    run: s.run.into(),
                    reason: s.reason,
                })
                .collect(),
        }
    }
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
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

/// A run's payload size, approximate (every blob it refers to counted in full).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
pub struct RunSize {
    pub run: RunId,
    pub function: String,
    pub bytes: u64,
}

impl From<engine::DbStats> for DbStats {
    fn from(d: engine::DbStats) -> Self {
        DbStats {
            file_bytes: d.file_bytes,
            wal_bytes: d.wal_bytes,
            page_size: d.page_size,
            page_count: d.page_count,
            freelist_pages: d.freelist_pages,
            runs: d.runs,
            steps: d.steps,
            attempts: d.attempts,
            events: d.events,
            blobs: d.blobs,
            blob_bytes: d.blob_bytes,
            largest_runs: d
                .largest_runs
                .into_iter()
                .map(|r| RunSize {
                    run: r.run.into(),
                    function: r.function,
                    bytes: r.bytes,
                })
                .collect(),
        }
    }
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct GcReport {
    pub blobs_deleted: u64,
    /// Payload bytes of the deleted blobs; the file shrinks by them after a vacuum.
    pub bytes_freed: u64,
    pub blobs_kept: u64,
}

impl From<engine::GcReport> for GcReport {
    fn from(g: engine::GcReport) -> Self {
        GcReport {
            blobs_deleted: g.blobs_deleted,
            bytes_freed: g.bytes_freed,
            blobs_kept: g.blobs_kept,
        }
    }
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct VacuumReport {
    /// The database file plus its write-ahead log, before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl From<engine::VacuumReport> for VacuumReport {
    fn from(v: engine::VacuumReport) -> Self {
        VacuumReport {
            bytes_before: v.bytes_before,
            bytes_after: v.bytes_after,
        }
    }
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
pub struct BackupReport {
    pub path: String,
    pub bytes: u64,
}

impl From<engine::BackupReport> for BackupReport {
    fn from(b: engine::BackupReport) -> Self {
        BackupReport {
            path: b.path,
            bytes: b.bytes,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsDeleteRequest {
    pub run_id: RunId,
    /// Delete a pinned run too.
    #[serde(default)]
    pub force: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunsPinRequest {
    pub run_id: RunId,
    pub pinned: bool,
}

#[derive(
    Clone, Debug, Default, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(deny_unknown_fields)]
pub struct DbRequest {}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbRetentionRequest {
    /// Delete finished runs older than this many days.
    #[serde(default)]
    #[ts(optional)]
    pub keep_days: Option<u32>,
    /// Keep only the newest N finished runs of each agent.
    #[serde(default)]
    #[ts(optional)]
    pub keep_last_per_agent: Option<u32>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DbBackupRequest {
    /// A file that does not exist yet.
    pub path: String,
}

impl Api {
    pub async fn runs_delete(&self, req: RunsDeleteRequest) -> Result<DeletedRuns, ApiError> {
        Ok(self
            .app()
            .engine
            .delete_run(req.run_id.into(), req.force)
            .await?
            .into())
    }

    pub async fn runs_pin(&self, req: RunsPinRequest) -> Result<OkResponse, ApiError> {
        self.app()
            .engine
            .pin_run(req.run_id.into(), req.pinned)
            .await?;
        Ok(OkResponse::ok())
    }

    pub async fn db_stats(&self, _: DbRequest) -> Result<DbStats, ApiError> {
        Ok(self.app().engine.database_stats().await?.into())
    }

    pub async fn db_retention(&self, req: DbRetentionRequest) -> Result<DeletedRuns, ApiError> {
        if req.keep_days.is_none() && req.keep_last_per_agent.is_none() {
            return Err(ApiError::invalid(
                "keep_days",
                "give keep_days, keep_last_per_agent or both",
            ));
        }
        let policy = RetentionPolicy {
            keep_days: req.keep_days,
            keep_last: req.keep_last_per_agent,
            group_by: waymark_engine::RetentionGroup::InputPointer {
                pointer: "/spec/name".into(),
            },
            pinned: Default::default(),
        };
        Ok(self.app().engine.apply_retention(&policy).await?.into())
    }

    pub async fn db_gc(&self, _: DbRequest) -> Result<GcReport, ApiError> {
        Ok(self.app().engine.collect_garbage().await?.into())
    }

    pub async fn db_backup(&self, req: DbBackupRequest) -> Result<BackupReport, ApiError> {
        if req.path.trim().is_empty() {
            return Err(ApiError::invalid("path", "the backup needs a file path"));
        }
        let path = crate::validate::file_path("path", &req.path)?;
        if path.exists() {
            return Err(ApiError::invalid(
                "path",
                format!("{} already exists", req.path),
            ));
        }
        let folder = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !folder.is_dir() {
            return Err(ApiError::invalid(
                "path",
                format!("the folder {} does not exist", folder.display()),
            ));
        }
        // The file is the caller's choice: failing to write it there is about that choice.
        self.app()
            .engine
            .backup(&req.path)
            .await
            .map(Into::into)
            .map_err(|e| ApiError::invalid("path", format!("cannot write the backup there: {e}")))
    }

    pub async fn db_vacuum(&self, _: DbRequest) -> Result<VacuumReport, ApiError> {
        Ok(self.app().engine.vacuum().await?.into())
    }
}
