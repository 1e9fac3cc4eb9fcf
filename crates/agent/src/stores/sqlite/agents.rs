//! [`AgentStore`] on SQLite: `agent_spec_versions` (every version) and `agent_specs` (each
//! name's current one).

use rusqlite::{params, OptionalExtension, Row};

use super::SqliteAgentStore;
use crate::catalog::CatalogError;
use crate::stores::{AgentStore, AgentSummary, AgentVersion, NewAgentVersion};

fn summary(r: &Row<'_>) -> rusqlite::Result<AgentSummary> {
    Ok(AgentSummary {
        name: r.get(0)?,
        description: r.get(1)?,
        hash: r.get(2)?,
        updated_at_ms: r.get(3)?,
    })
}

impl AgentStore for SqliteAgentStore {
    fn put_agent(&self, v: &NewAgentVersion<'_>) -> Result<AgentSummary, CatalogError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO agent_spec_versions (hash, name, spec_json, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4) ON CONFLICT(hash) DO NOTHING",
                params![v.hash, v.name, v.spec_json, v.now_ms],
            )?;
            tx.execute(
                "INSERT INTO agent_specs (name, description, hash, created_at_ms, updated_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT(name) DO UPDATE SET
                    description = excluded.description,
                    updated_at_ms = CASE WHEN agent_specs.hash = excluded.hash
                        THEN agent_specs.updated_at_ms ELSE excluded.updated_at_ms END,
                    hash = excluded.hash",
                params![v.name, v.description, v.hash, v.now_ms],
            )?;
            Ok(tx.query_row(
                "SELECT name, description, hash, updated_at_ms FROM agent_specs WHERE name = ?1",
                [v.name],
                summary,
            )?)
        })
    }

    fn agent_json(&self, name: &str) -> Result<Option<String>, CatalogError> {
        self.read(|c| {
            Ok(c.prepare_cached(
                "SELECT v.spec_json FROM agent_specs a
                 JOIN agent_spec_versions v ON v.hash = a.hash WHERE a.name = ?1",
            )?
            .query_row([name], |r| r.get(0))
            .optional()?)
        })
    }

    fn version_json(&self, hash: &str) -> Result<Option<String>, CatalogError> {
        self.read(|c| {
            Ok(
                c.prepare_cached("SELECT spec_json FROM agent_spec_versions WHERE hash = ?1")?
                    .query_row([hash], |r| r.get(0))
                    .optional()?,
            )
        })
    }

    fn versions(&self, name: &str) -> Result<Vec<AgentVersion>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT hash, created_at_ms FROM agent_spec_versions
                 WHERE name = ?1 ORDER BY created_at_ms, rowid",
            )?;
            let rows = stmt.query_map([name], |r| {
                Ok(AgentVersion {
                    hash: r.get(0)?,
                    created_at_ms: r.get(1)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn list_agents(&self) -> Result<Vec<AgentSummary>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT name, description, hash, updated_at_ms FROM agent_specs ORDER BY name",
            )?;
            let rows = stmt.query_map([], summary)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn current_specs(&self) -> Result<Vec<(String, String)>, CatalogError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.name, v.spec_json FROM agent_specs a
                 JOIN agent_spec_versions v ON v.hash = a.hash ORDER BY a.name",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn delete_agent(&self, name: &str) -> Result<bool, CatalogError> {
        self.write(|tx| Ok(tx.execute("DELETE FROM agent_specs WHERE name = ?1", [name])? > 0))
    }
}
