//! `waymark db check`: open the file (which migrates it), check integrity, report size.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;
use waymark_api::DbCheckRequest;

use super::{api_error, open_api};
use crate::cli::CheckArgs;
use crate::output::{emit, json};

pub async fn check(db: &Path, a: CheckArgs) -> anyhow::Result<ExitCode> {
    // A file that cannot be opened (corrupt, newer schema) fails here: that is the report.
    let api = open_api(db).await?;
    let report = api.db_check(DbCheckRequest {}).await.map_err(api_error)?;
    let (ok, problems, schema_version) = (report.ok, report.problems, report.schema_version);
    let size = file_size(db);
    if a.json {
        emit(&json(&json!({
            "ok": ok,
            "path": db.display().to_string(),
            "schema_version": schema_version,
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
            "path            {}\nschema version  {schema_version}\nsize            {}\n",
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

/// `db backup | vacuum | gc | stats`, through the API like the other doors.
pub async fn maintain(db: &Path, c: crate::cli::DbCommand) -> anyhow::Result<ExitCode> {
    use crate::cli::DbCommand;
    let api = super::open_api(db).await?;
    let (command, request, as_json) = match c {
        DbCommand::Backup(a) => (
            "db_backup",
            json!({"path": a.file.display().to_string()}),
            false,
        ),
        DbCommand::Vacuum => ("db_vacuum", json!({}), false),
        DbCommand::Gc => ("db_gc", json!({}), false),
        DbCommand::Stats(a) => ("db_stats", json!({}), a.json),
        DbCommand::Check(_) | DbCommand::Password(_) | DbCommand::Copy(_) => {
            return Ok(ExitCode::SUCCESS)
        }
    };
    let out = api.call(command, request).await.map_err(super::api_error)?;
    if as_json {
        emit(&json(&out)?)?;
    } else {
        emit(&human(command, &out))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `db password [--forget]`: the team database's password, read from stdin (never an argument,
/// which shell history and process lists would keep), into this machine's secret store.
pub fn password(db: &Path, a: crate::cli::PasswordArgs) -> anyhow::Result<ExitCode> {
    use anyhow::Context as _;
    use std::io::Read as _;
    let url = db.to_str().unwrap_or_default();
    let data_dir = waymark_host::paths::data_dir();
    if a.forget {
        let had = waymark_host::forget_database_password(&data_dir, url)?;
        emit(if had {
            "forgot the database password"
        } else {
            "no password was kept for this database"
        })?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("reading the password from stdin")?;
    // One trailing newline is the pipe's, not the password's.
    let password = text.strip_suffix('\n').unwrap_or(&text);
    let password = password.strip_suffix('\r').unwrap_or(password);
    if password.is_empty() {
        anyhow::bail!("no password on stdin: pipe it in, e.g. `printenv TEAM_DB_PASSWORD | waymark db password`");
    }
    let store = waymark_host::remember_database_password(&data_dir, url, password)?;
    emit(&format!(
        "stored the database password in the {}",
        match store {
            "keyring" => "OS keychain",
            _ => "owner-only secrets file",
        }
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// `db copy --to URL`: this database into an empty team database, verified before it commits.
pub async fn copy(db: &Path, a: crate::cli::CopyArgs) -> anyhow::Result<ExitCode> {
    let data_dir = waymark_host::paths::data_dir();
    let report = waymark_host::copy_database(db, &data_dir, &a.to).await?;
    if a.json {
        emit(&json(&report)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut text = format!(
        "copied {} to {}; every table read back and matched (rows and SHA-256 of every value):\n",
        db.display(),
        report.to
    );
    for t in &report.tables {
        text.push_str(&format!(
            "  {:<22} {:>8} rows  {:.16}\n",
            t.table, t.rows, t.sha256
        ));
    }
    if report.secret_refs.is_empty() {
        text.push_str("no secret references: nothing to set on other machines\n");
    } else {
        text.push_str(
            "secret values stay on this machine; each other machine that runs these needs its own:\n",
        );
        for s in &report.secret_refs {
            text.push_str(&format!(
                "  {:<28} {:<24} {}\n",
                s.owner, s.field, s.reference
            ));
        }
    }
    text.push_str(&format!(
        "use it everywhere with --db {} (or WAYMARK_DB); keep its password with `waymark db password`",
        report.to
    ));
    emit(&text)?;
    Ok(ExitCode::SUCCESS)
}

fn human(command: &str, out: &serde_json::Value) -> String {
    let n = |k: &str| out[k].as_u64().unwrap_or(0);
    match command {
        "db_backup" => format!(
            "backup written to {} ({} bytes) and checked",
            out["path"].as_str().unwrap_or("?"),
            n("bytes")
        ),
        "db_vacuum" => format!(
            "{} bytes before, {} after",
            n("bytes_before"),
            n("bytes_after")
        ),
        "db_gc" => format!(
            "{} unreferenced payload(s) deleted, {} bytes freed",
            n("blobs_deleted"),
            n("bytes_freed")
        ),
        _ => serde_json::to_string_pretty(out).unwrap_or_default(),
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
