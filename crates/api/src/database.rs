//! Keeping the database healthy: deleting runs, retention, blob collection, backup, vacuum,
//! and what takes the space.

use serde::{Deserialize, Serialize};
use waymark_engine::{
    BackupReport, DbStats, DeletedRuns, GcReport, RetentionPolicy, RunId, VacuumReport,
};

use crate::commands::OkResponse;
use crate::{Api, ApiError};

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
        Ok(self.app().engine.delete_run(req.run_id, req.force).await?)
    }

    pub async fn runs_pin(&self, req: RunsPinRequest) -> Result<OkResponse, ApiError> {
        self.app().engine.pin_run(req.run_id, req.pinned).await?;
        Ok(OkResponse::ok())
    }

    pub async fn db_stats(&self, _: DbRequest) -> Result<DbStats, ApiError> {
        Ok(self.app().engine.database_stats().await?)
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
        Ok(self.app().engine.apply_retention(&policy).await?)
    }

    pub async fn db_gc(&self, _: DbRequest) -> Result<GcReport, ApiError> {
        Ok(self.app().engine.collect_garbage().await?)
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
            .map_err(|e| ApiError::invalid("path", format!("cannot write the backup there: {e}")))
    }

    pub async fn db_vacuum(&self, _: DbRequest) -> Result<VacuumReport, ApiError> {
        Ok(self.app().engine.vacuum().await?)
    }
}
