//! `waymark db check`: open the file (which migrates it), check integrity, report size.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::anyhow;
use serde_json::json;
use waymark_engine::store::sqlite::SCHEMA_VERSION;
use waymark_engine::Store as _;

use super::open_store;
use crate::cli::CheckArgs;
use crate::output::{emit, json};

pub async fn check(db: &Path, a: CheckArgs) -> anyhow::Result<ExitCode> {
    // A file that cannot be opened (corrupt, newer schema) fails here: that is the report.
    let store = open_store(db).await?;
    let problems = store.check().await.map_err(|e| anyhow!(e))?;
    let size = file_size(db);
    let ok = problems.is_empty();
    if a.json {
        emit(&json(&json!({
            "ok": ok,
            "path": db.display().to_string(),
            "schema_version": SCHEMA_VERSION,
            "size_bytes": size,
            "problems": problems,
        }))?)?;
    } else {
        let mut text = if ok {
            "ok\n".to_string()
        } else {
            format!("{} problem(s):\n", problems.len())
        };
        for p in &problems {
            text.push_str(&format!("  {p}\n"));
        }
        text.push_str(&format!(
            "path            {}\nschema version  {SCHEMA_VERSION}\nsize            {}\n",
            db.display(),
            bytes(size)
        ));
        emit(&text)?;
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// The main file plus its write-ahead log, which holds commits not yet checkpointed.
fn file_size(db: &Path) -> u64 {
    let len = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
    let mut wal = db.as_os_str().to_os_string();
    wal.push("-wal");
    len(db) + len(&PathBuf::from(wal))
}

fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    if f < KIB {
        format!("{n} B")
    } else if f < KIB * KIB {
        format!("{:.1} KiB", f / KIB)
    } else if f < KIB * KIB * KIB {
        format!("{:.1} MiB", f / (KIB * KIB))
    } else {
        format!("{:.2} GiB", f / (KIB * KIB * KIB))
    }
}

#[cfg(test)]
mod tests {
    use super::bytes;

    #[test]
    fn sizes_use_binary_units() {
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(4096), "4.0 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 512 * 1024), "3.5 MiB");
    }
}
