//! The bare SQLite floor: the commit loop the engine's figures are measured against.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Result};
use rusqlite::Connection;

/// Commits in one repetition of the bare SQLite loop.
const FLOOR_COMMITS: usize = 500;

/// µs per `BEGIN; INSERT 256 B; COMMIT` in WAL + synchronous=FULL on a fresh file.
/// Commits before measuring: past SQLite's default checkpoint at 1000 WAL pages.
const FLOOR_WARMUP: usize = 1200;

pub(crate) fn floor_commit_us(dir: &Path) -> Result<f64> {
    let mut floor = FloorFile::open(dir)?;
    floor.warm_up()?;
    let t0 = Instant::now();
    for _ in 0..FLOOR_COMMITS {
        floor.commit()?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / FLOOR_COMMITS as f64)
}

/// The floor's file: one `BEGIN; INSERT 256 B; COMMIT` per [`FloorFile::commit`].
pub(crate) struct FloorFile {
    conn: Connection,
    data: Vec<u8>,
}

impl FloorFile {
    pub(crate) fn open(dir: &Path) -> Result<FloorFile> {
        std::fs::create_dir_all(dir)?;
        let conn = Connection::open(dir.join("floor.db"))?;
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        ensure!(mode.eq_ignore_ascii_case("wal"), "no WAL mode (got {mode})");
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.execute_batch("CREATE TABLE t(id INTEGER PRIMARY KEY, data BLOB NOT NULL)")?;
        Ok(FloorFile {
            conn,
            data: vec![0x5a_u8; 256],
        })
    }

    pub(crate) fn commit(&mut self) -> Result<()> {
        self.conn.execute_batch("BEGIN")?;
        self.conn
            .prepare_cached("INSERT INTO t(data) VALUES (?1)")?
            .execute([&self.data])?;
        self.conn.execute_batch("COMMIT")?;
        Ok(())
    }

    /// Commits before measuring, to the steady state the engine's figures are measured in:
    /// past the first checkpoint, the WAL wraps around instead of growing.
    pub(crate) fn warm_up(&mut self) -> Result<()> {
        for _ in 0..FLOOR_WARMUP {
            self.commit()?;
        }
        Ok(())
    }
}

/// Bare SQL, µs per step: each commit inserts one 256 B row into each of `k` tables, so it
/// dirties `k` pages; `split` does that twice per step, the first commit with synchronous=NORMAL.
/// With `k` = the pages a step's commit writes, this is what those pages cost on this disk.
pub(crate) fn sql_pages_us(dir: &Path, k: usize, split: bool) -> Result<f64> {
    std::fs::create_dir_all(dir)?;
    let conn = Connection::open(dir.join("pages.db"))?;
    conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "FULL")?;
    for t in 0..k {
        conn.execute_batch(&format!(
            "CREATE TABLE t{t}(id INTEGER PRIMARY KEY, data BLOB NOT NULL)"
        ))?;
    }
    let data = vec![0x5a_u8; 256];
    let commit = |sync: &str| -> Result<()> {
        conn.pragma_update(None, "synchronous", sync)?;
        conn.execute_batch("BEGIN")?;
        for t in 0..k {
            conn.prepare_cached(&format!("INSERT INTO t{t}(data) VALUES (?1)"))?
                .execute([&data])?;
        }
        conn.execute_batch("COMMIT")?;
        Ok(())
    };
    let step = || -> Result<()> {
        if split {
            commit("NORMAL")?;
        }
        commit("FULL")
    };
    // Warmed up as the floor is: past the first checkpoint, the WAL wraps instead of growing.
    for _ in 0..FLOOR_WARMUP {
        step()?;
    }
    let t0 = Instant::now();
    for _ in 0..FLOOR_COMMITS {
        step()?;
    }
    Ok(t0.elapsed().as_secs_f64() * 1e6 / FLOOR_COMMITS as f64)
}
