//! Rewrites of data written by older builds.

use rusqlite::{params, OptionalExtension, Transaction};
use serde_json::Value;

use super::db::sql_err;
use crate::error::StoreError;
use crate::store::journal::rows::{is_marker_like, BLOB_MARKER};

/// Payload columns that older builds wrote markers into, and an expression naming their rows
/// (`steps` is WITHOUT ROWID: its rows are named by run and key).
const PAYLOAD_COLUMNS: &[(&str, &str, &str)] = &[
    ("runs", "id", "input_json"),
    ("runs", "id", "output_json"),
    ("steps", "run_id || char(0) || key", "input_json"),
    ("steps", "run_id || char(0) || key", "output_json"),
    ("external_events", "CAST(id AS TEXT)", "payload_json"),
];

/// Before markers were escaped, `{"$waymark_blob": "..."}` in user data was read as a blob
/// reference. Such an object whose blob does not exist was never the writer's: it becomes
/// plain data again, escaped the way the writer escapes it now. Markers whose blob exists are
/// kept (they cannot be told apart from the writer's own).
pub(crate) fn escape_forged_markers(tx: &Transaction) -> Result<(), StoreError> {
    for (table, key_sql, column) in PAYLOAD_COLUMNS {
        let rows: Vec<(String, String)> = {
            let mut stmt = tx
                .prepare(&format!(
                    "SELECT {key_sql}, {column} FROM {table} WHERE instr({column}, 'waymark_blob') > 0"
                ))
                .map_err(sql_err)?;
            let found = stmt
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .map_err(sql_err)?;
            found.collect::<Result<_, _>>().map_err(sql_err)?
        };
        for (id, text) in rows {
            let Ok(value) = serde_json::from_str::<Value>(&text) else {
                continue;
            };
            let fixed = rewrite(tx, value)?;
            let fixed = fixed.to_string();
            if fixed != text {
                tx.execute(
                    &format!("UPDATE {table} SET {column} = ?1 WHERE {key_sql} = ?2"),
                    params![fixed, id],
                )
                .map_err(sql_err)?;
            }
        }
    }
    // Large values were written whole into blobs; their user data is escaped in place (the
    // hash stays the row's name, a later identical value is simply stored once more).
    let blobs: Vec<(String, Vec<u8>)> = {
        let mut stmt = tx
            .prepare(
                "SELECT hash, data FROM blobs WHERE instr(data, CAST('waymark_blob' AS BLOB)) > 0",
            )
            .map_err(sql_err)?;
        let found = stmt
            .query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, Vec<u8>>(1)?))
            })
            .map_err(sql_err)?;
        found.collect::<Result<_, _>>().map_err(sql_err)?
    };
    for (hash, data) in blobs {
        let Ok(value) = serde_json::from_slice::<Value>(&data) else {
            continue;
        };
        let fixed = rewrite(tx, value)?.to_string();
        if fixed.as_bytes() != data.as_slice() {
            tx.execute(
                "UPDATE blobs SET data = ?1, size = ?2 WHERE hash = ?3",
                params![fixed.as_bytes(), fixed.len() as i64, hash],
            )
            .map_err(sql_err)?;
        }
    }
    Ok(())
}

fn blob_exists(tx: &Transaction, hash: &str) -> Result<bool, StoreError> {
    tx.prepare_cached("SELECT 1 FROM blobs WHERE hash = ?1")
        .and_then(|mut s| s.query_row([hash], |_| Ok(())).optional())
        .map(|found| found.is_some())
        .map_err(sql_err)
}

fn rewrite(tx: &Transaction, value: Value) -> Result<Value, StoreError> {
    match value {
        Value::Object(map) => {
            let single_marker = map.len() == 1 && map.keys().all(|k| is_marker_like(k));
            if single_marker {
                if let Some(Value::String(hash)) = map.get(BLOB_MARKER) {
                    if blob_exists(tx, hash)? {
                        return Ok(Value::Object(map));
                    }
                }
            }
            map.into_iter()
                .map(|(k, v)| {
                    let k = if single_marker { format!("${k}") } else { k };
                    Ok((k, rewrite(tx, v)?))
                })
                .collect::<Result<_, StoreError>>()
                .map(Value::Object)
        }
        Value::Array(items) => items
            .into_iter()
            .map(|v| rewrite(tx, v))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        other => Ok(other),
    }
}
