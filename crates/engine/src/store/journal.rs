//! The journal's transitions and reads, written once for every SQL backend. A backend gives a
//! connection ([`Db`]): statements with `?N` placeholders, rows of plain cells, and the few
//! things SQL dialects say differently ([`Dialect`]). Transactions (group commit, savepoints)
//! are the backend's writer's.

pub(crate) mod apply;
mod delete;
mod fork;
pub(crate) mod rows;
pub(crate) mod tx;
pub mod upkeep;

use std::borrow::Cow;

use crate::error::StoreError;

pub use apply::apply;
pub use rows::{
    events_after, has_claimable, latest_global_seq, list_runs, load_attempts, load_run, load_step,
    load_steps, retention_candidates, step_trace, trace_page, workers,
};
pub use tx::Tx;

/// What differs between the SQL the journal speaks on each backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// One writer at a time by the file's lock: reads in a transaction are already stable.
    Sqlite,
    /// Many writers on many machines: rows a transition decides on are locked (`FOR UPDATE`).
    Postgres,
}

impl Dialect {
    /// Appended to a read whose rows a transition then writes.
    pub fn lock_rows(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }

    /// Appended to a claim's read: rows another worker is claiming are passed over.
    pub fn skip_locked(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// The function giving the 1-based position of a substring (0 when absent).
    pub fn position_fn(self) -> &'static str {
        match self {
            Dialect::Sqlite => "instr",
            Dialect::Postgres => "strpos",
        }
    }
}

/// A statement's argument.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg<'a> {
    Null,
    Int(i64),
    Text(Cow<'a, str>),
    Bytes(&'a [u8]),
}

impl From<i64> for Arg<'_> {
    fn from(v: i64) -> Self {
        Arg::Int(v)
    }
}
impl From<u32> for Arg<'_> {
    fn from(v: u32) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl From<&u32> for Arg<'_> {
    fn from(v: &u32) -> Self {
        Arg::Int(i64::from(*v))
    }
}
impl From<&i64> for Arg<'_> {
    fn from(v: &i64) -> Self {
        Arg::Int(*v)
    }
}
impl From<bool> for Arg<'_> {
    fn from(v: bool) -> Self {
        Arg::Int(i64::from(v))
    }
}
impl<'a> From<&'a str> for Arg<'a> {
    fn from(v: &'a str) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}
impl<'a> From<&'a String> for Arg<'a> {
    fn from(v: &'a String) -> Self {
        Arg::Text(Cow::Borrowed(v))
    }
}
impl From<String> for Arg<'_> {
    fn from(v: String) -> Self {
        Arg::Text(Cow::Owned(v))
    }
}
impl<'a> From<&'a [u8]> for Arg<'a> {
    fn from(v: &'a [u8]) -> Self {
        Arg::Bytes(v)
    }
}
impl<'a, T: Into<Arg<'a>>> From<Option<T>> for Arg<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Arg::Null, Into::into)
    }
}
impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Arg::Null, Into::into)
    }
}
impl<'a> From<&'a Option<i64>> for Arg<'a> {
    fn from(v: &'a Option<i64>) -> Self {
        v.map_or(Arg::Null, Arg::Int)
    }
}

/// `args![a, b, c]`: a statement's arguments, each converted with `Arg::from`.
#[macro_export]
#[doc(hidden)]
macro_rules! journal_args {
    ($($a:expr),* $(,)?) => { &[$($crate::store::journal::Arg::from($a)),*] };
}
pub(crate) use journal_args as args;

/// One value of a result row.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Bool(bool),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A result row.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Row(pub Vec<Cell>);

/// A Rust value read from a [`Cell`].
pub trait FromCell: Sized {
    fn from_cell(cell: &Cell) -> Option<Self>;
}

impl FromCell for i64 {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(v) => Some(*v),
            Cell::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
}
impl FromCell for bool {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Int(v) => Some(*v != 0),
            Cell::Bool(b) => Some(*b),
            _ => None,
        }
    }
}
impl FromCell for String {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Text(t) => Some(t.clone()),
            _ => None,
        }
    }
}
impl FromCell for Vec<u8> {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Bytes(b) => Some(b.clone()),
            Cell::Text(t) => Some(t.as_bytes().to_vec()),
            _ => None,
        }
    }
}
impl<T: FromCell> FromCell for Option<T> {
    fn from_cell(cell: &Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

impl Row {
    /// The value at `i`; a missing column or a value of another type is a damaged journal.
    pub fn get<T: FromCell>(&self, i: usize) -> Result<T, StoreError> {
        let cell = self.0.get(i).unwrap_or(&Cell::Null);
        T::from_cell(cell).ok_or_else(|| StoreError::Corrupt {
            path: String::new(),
            detail: format!("column {i} holds an unexpected value: {cell:?}"),
        })
    }
}

/// A connection the journal's statements run on. Placeholders are `?1`, `?2`, ...; a backend
/// with another syntax translates them.
pub trait Db {
    fn dialect(&self) -> Dialect;

    /// Runs a statement; returns how many rows it changed.
    fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<u64, StoreError>;

    /// Runs a query; returns all its rows.
    fn query(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Vec<Row>, StoreError>;

    /// A global sequence number for the next event, or `None` to let the table assign one
    /// (SQLite's rowid, under its one-writer lock).
    fn allocate_event_seq(&mut self) -> Result<Option<i64>, StoreError>;

    /// The number the next event will get (a step's ordinal: its first event's position).
    fn next_event_seq(&mut self) -> Result<i64, StoreError>;

    /// Starts a read-only transaction: the reads until [`Db::end_read`] see one snapshot.
    fn begin_read(&mut self) -> Result<(), StoreError>;
    /// The row `SELECT lease_owner, lease_epoch, status FROM runs WHERE id = run` (locked as
    /// the dialect locks a fence's row) when the backend read it ahead for this transition,
    /// before any other statement of it: `Some(None)` when there is no such run. Taken once.
    fn prefetched_fence(&mut self, _run: &str) -> Option<Option<Row>> {
        None
    }
    fn end_read(&mut self) -> Result<(), StoreError>;

    /// The first row, if any.
    fn query_opt(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Option<Row>, StoreError> {
        Ok(self.query(sql, args)?.into_iter().next())
    }

    /// The first row, which must exist.
    fn query_one(&mut self, sql: &str, args: &[Arg<'_>]) -> Result<Row, StoreError> {
        self.query_opt(sql, args)?
            .ok_or_else(|| StoreError::Sqlite(format!("query returned no row: {sql}")))
    }
}

/// Rewrites `?N` placeholders as `$N` (PostgreSQL's), outside quoted text and comments.
pub fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            // A comment runs to the end of its line: an apostrophe in it opens no quote.
            '-' if !quoted && chars.peek() == Some(&'-') => {
                out.push(c);
                for c in chars.by_ref() {
                    out.push(c);
                    if c == '\n' {
                        break;
                    }
                }
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_outside_quotes_only() {
        assert_eq!(
            numbered_placeholders("SELECT '?1', x FROM t WHERE a = ?1 AND b = ?12"),
            "SELECT '?1', x FROM t WHERE a = $1 AND b = $12"
        );
        assert_eq!(
            numbered_placeholders("SELECT ?1 -- the parent's label\n, ?2 - ?3"),
            "SELECT $1 -- the parent's label\n, $2 - $3"
        );
    }

    #[test]
    fn a_cell_of_another_type_is_a_clear_error() {
        let row = Row(vec![Cell::Text("x".into())]);
        let e = row.get::<i64>(0).expect_err("text is no integer");
        assert!(e.to_string().contains("column 0"), "{e}");
        assert_eq!(
            row.get::<Option<i64>>(1).expect("absent reads as NULL"),
            None
        );
    }
}
