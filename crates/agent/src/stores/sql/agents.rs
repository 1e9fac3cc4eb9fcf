//! [`AgentStore`]: `agent_spec_versions` (every version) and `agent_specs` (each name's current
//! one).

use waymark_engine::journal_args as args;
use waymark_engine::store::journal::Row;
use waymark_engine::StoreError;

use super::SqlAgentStore;
use crate::catalog::CatalogError;
use crate::stores::{AgentStore, AgentSummary, AgentVersion, NewAgentVersion};

fn summary(r: &Row) -> Result<AgentSummary, StoreError> {
    Ok(AgentSummary {
        name: r.get(0)?,
        description: r.get(1)?,
        hash: r.get(2)?,
        updated_at_ms: r.get(3)?,
    })
}

impl AgentStore for SqlAgentStore {
    fn put_agent(&self, v: &NewAgentVersion<'_>) -> Result<AgentSummary, CatalogError> {
        self.write(|db| {
            db.execute(
                "INSERT INTO agent_spec_versions (hash, name, spec_json, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(hash) DO NOTHING",
                args![v.hash, v.name, v.spec_json, v.now_ms],
            )?;
            db.execute(
                "INSERT INTO agent_specs (name, description, hash, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(name) DO UPDATE SET
                    description = excluded.description,
                    updated_at_ms = CASE WHEN agent_specs.hash = excluded.hash
                        THEN agent_specs.updated_at_ms ELSE excluded.updated_at_ms END,
                    hash = excluded.hash",
                args![v.name, v.description, v.hash, v.now_ms],
            )?;
            let row = db.query_one(
                "SELECT name, description, hash, updated_at_ms FROM agent_specs WHERE name = ?1",
                args![v.name],
            )?;
            Ok(summary(&row)?)
        })
    }

    fn agent_json(&self, name: &str) -> Result<Option<String>, CatalogError> {
        self.read(|db| {
            let row = db.query_opt(
                "SELECT v.spec_json FROM agent_specs a
                 JOIN agent_spec_versions v ON v.hash = a.hash WHERE a.name = ?1",
                args![name],
            )?;
            Ok(row.map(|r| r.get(0)).transpose()?)
        })
    }

    fn version_json(&self, hash: &str) -> Result<Option<String>, CatalogError> {
        self.read(|db| {
            let row = db.query_opt(
                "SELECT spec_json FROM agent_spec_versions WHERE hash = ?1",
                args![hash],
            )?;
            Ok(row.map(|r| r.get(0)).transpose()?)
        })
    }

    fn versions(&self, name: &str) -> Result<Vec<AgentVersion>, CatalogError> {
        self.read(|db| {
            db.query(
                "SELECT hash, created_at_ms FROM agent_spec_versions
                 WHERE name = ?1 ORDER BY created_at_ms, rowid",
                args![name],
            )?
            .iter()
            .map(|r| {
                Ok(AgentVersion {
                    hash: r.get(0)?,
                    created_at_ms: r.get(1)?,
                })
            })
            .collect()
        })
    }

    fn list_agents(&self) -> Result<Vec<AgentSummary>, CatalogError> {
        self.read(|db| {
            db.query(
                "SELECT name, description, hash, updated_at_ms FROM agent_specs ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| Ok(summary(r)?))
            .collect()
        })
    }

    fn current_specs(&self) -> Result<Vec<(String, String)>, CatalogError> {
        self.read(|db| {
            db.query(
                "SELECT a.name, v.spec_json FROM agent_specs a
                 JOIN agent_spec_versions v ON v.hash = a.hash ORDER BY a.name",
                &[],
            )?
            .iter()
            .map(|r| Ok((r.get(0)?, r.get(1)?)))
            .collect()
        })
    }

    fn delete_agent(&self, name: &str) -> Result<bool, CatalogError> {
        self.write(|db| Ok(db.execute("DELETE FROM agent_specs WHERE name = ?1", args![name])? > 0))
    }
}
