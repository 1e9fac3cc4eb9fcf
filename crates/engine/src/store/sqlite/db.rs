//! The journal's SQL ([`Db`]) on a SQLite connection: cached statements, cells read by type.

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, ToSql};

use crate::error::StoreError;
use crate::store::journal::{Arg, Cell, Db, Dialect, Row};

pub(crate) fn sql_err(e: rusqlite::Error) -> StoreError {
    StoreError::from_sqlite(e, 0)
}

/// A SQLite connection as the journal's [`Db`] (borrowed: the writer and the readers own
/// theirs, and a rusqlite transaction is a borrowed connection too).
pub struct SqliteDb<'a>(pub &'a Connection);

impl ToSql for Arg<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Arg::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Arg::Int(v) => ToSqlOutput::Borrowed(ValueRef::Integer(*v)),
            Arg::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
            Arg::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        })
    }
}

fn cell(v: ValueRef<'_>) -> Cell {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Real(f),
        ValueRef::Text(t) => Cell::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Cell::Bytes(b.to_vec()),
    }
}

impl Db for SqliteDb<'_> {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(sql_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(args.iter()))
            .map_err(sql_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        let mut stmt = self.0.prepare_cached(sql).map_err(sql_err)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(args.iter()))
            .map_err(sql_err)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next().map_err(sql_err)? {
            let mut cells = Vec::with_capacity(width);
            for i in 0..width {
                cells.push(cell(r.get_ref(i).map_err(sql_err)?));
            }
            out.push(Row(cells));
        }
        Ok(out)
    }

    fn allocate_event_seq(&mut self) -> Result<Option<i64>, StoreError> {
        // The rowid: one writer at a time, so the next one is the largest plus one.
        Ok(None)
    }

    fn next_event_seq(&mut self) -> Result<i64, StoreError> {
        self.query_one("SELECT COALESCE(MAX(global_seq), 0) + 1 FROM events", &[])?
            .get(0)
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.0
            .prepare_cached("BEGIN")
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(sql_err)
    }

    fn end_read(&mut self) -> Result<(), StoreError> {
        if self.0.is_autocommit() {
            return Ok(());
        }
        self.0
            .prepare_cached("COMMIT")
            .and_then(|mut s| s.execute([]))
            .map(|_| ())
            .map_err(sql_err)
    }
}
