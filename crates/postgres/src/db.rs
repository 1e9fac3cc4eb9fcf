//! The journal's SQL ([`Db`]) on a PostgreSQL connection: `?N` placeholders renumbered as
//! `$N`, statements prepared once per connection, arguments bound to whatever type the server
//! inferred for them, and event numbers handed out from the counter row the writer locked.

use std::collections::HashMap;
use std::error::Error as StdError;

use bytes::BytesMut;
use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use postgres::{Client, Statement};
use waymark_engine::store::journal::{numbered_placeholders, Arg, Cell, Db, Dialect, Row};
use waymark_engine::StoreError;

use crate::errors::db_err;

/// One connection, with its prepared statements.
pub(crate) struct PgConn {
    pub client: Client,
    statements: HashMap<String, Statement>,
    /// The next event number while the writer holds the counter row (inside a batch).
    pub next_seq: Option<i64>,
    /// The first transition's fence row, read with the batch's `BEGIN` (run id, row): good
    /// until any other statement runs.
    pub fence_prefetch: Option<(String, Option<Row>)>,
}

impl PgConn {
    pub fn new(client: Client) -> PgConn {
        PgConn {
            client,
            statements: HashMap::new(),
            next_seq: None,
            fence_prefetch: None,
        }
    }

    fn statement(&mut self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let prepared = self
            .client
            .prepare(&numbered_placeholders(sql))
            .map_err(db_err)?;
        self.statements.insert(sql.to_string(), prepared.clone());
        Ok(prepared)
    }
}

/// Why a text with a NUL character is refused.
pub(crate) const NUL_IN_TEXT: &str =
    "PostgreSQL cannot store text containing a NUL character (\\0); remove it and try again";

/// An argument as PostgreSQL binds it: to the type the server inferred for its placeholder.
#[derive(Debug)]
pub(crate) struct Bound<'a>(pub &'a Arg<'a>);

fn mismatch(arg: &Arg<'_>, ty: &Type) -> Box<dyn StdError + Sync + Send> {
    format!("cannot bind {arg:?} to a parameter of type {ty}").into()
}

impl ToSql for Bound<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self.0 {
            Arg::Null => Ok(IsNull::Yes),
            Arg::Int(v) => match *ty {
                Type::INT8 => v.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::BOOL => (*v != 0).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => v.to_string().to_sql(ty, out),
                _ => Err(mismatch(self.0, ty)),
            },
            Arg::Text(t) => match *ty {
                // Refused here with a message that says why (the server's would name a byte).
                _ if t.contains('\0') => Err(NUL_IN_TEXT.into()),
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    t.as_ref().to_sql(ty, out)
                }
                _ => Err(mismatch(self.0, ty)),
            },
            Arg::Bytes(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(mismatch(self.0, ty)),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

pub(crate) fn cells(row: &postgres::Row) -> Result<Row, StoreError> {
    let mut out = Vec::with_capacity(row.len());
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_();
        let read = |e: postgres::Error| StoreError::Corrupt {
            path: String::new(),
            detail: format!("column {} cannot be read: {e}", column.name()),
        };
        let cell = match *ty {
            Type::INT8 => row.try_get::<_, Option<i64>>(i).map(|v| v.map(Cell::Int)),
            Type::INT4 => row
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(|v| Cell::Int(v.into()))),
            Type::INT2 => row
                .try_get::<_, Option<i16>>(i)
                .map(|v| v.map(|v| Cell::Int(v.into()))),
            Type::BOOL => row.try_get::<_, Option<bool>>(i).map(|v| v.map(Cell::Bool)),
            Type::FLOAT8 => row.try_get::<_, Option<f64>>(i).map(|v| v.map(Cell::Real)),
            Type::BYTEA => row
                .try_get::<_, Option<Vec<u8>>>(i)
                .map(|v| v.map(Cell::Bytes)),
            _ => row
                .try_get::<_, Option<String>>(i)
                .map(|v| v.map(Cell::Text)),
        }
        .map_err(read)?;
        out.push(cell.unwrap_or(Cell::Null));
    }
    Ok(Row(out))
}

impl Db for PgConn {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError> {
        self.fence_prefetch = None;
        let statement = self.statement(sql)?;
        let bound: Vec<Bound<'_>> = args.iter().map(Bound).collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        self.client.execute(&statement, &params).map_err(db_err)
    }

    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError> {
        self.fence_prefetch = None;
        let statement = self.statement(sql)?;
        let bound: Vec<Bound<'_>> = args.iter().map(Bound).collect();
        let params: Vec<&(dyn ToSql + Sync)> =
            bound.iter().map(|b| b as &(dyn ToSql + Sync)).collect();
        self.client
            .query(&statement, &params)
            .map_err(db_err)?
            .iter()
            .map(cells)
            .collect()
    }

    fn allocate_event_seq(&mut self) -> Result<Option<i64>, StoreError> {
        let seq = self.next_event_seq()?;
        self.next_seq = Some(seq + 1);
        Ok(Some(seq))
    }

    fn next_event_seq(&mut self) -> Result<i64, StoreError> {
        self.next_seq.ok_or_else(|| {
            StoreError::Sqlite("an event was written outside the writer's transaction".into())
        })
    }

    fn prefetched_fence(&mut self, run: &str) -> Option<Option<Row>> {
        match self.fence_prefetch.take() {
            Some((id, row)) if id == run => Some(row),
            _ => None,
        }
    }

    fn begin_read(&mut self) -> Result<(), StoreError> {
        self.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(db_err)
    }

    fn end_read(&mut self) -> Result<(), StoreError> {
        self.client.batch_execute("COMMIT").map_err(db_err)
    }
}
