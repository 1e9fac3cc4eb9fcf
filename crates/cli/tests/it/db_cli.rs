//! `waymark db backup | vacuum | gc | stats` on a database with real runs in it.

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_waymark");

fn waymark(home: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(BIN)
        .args(args)
        .env("WAYMARK_HOME", home)
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .output()
        .expect("run waymark");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

#[test]
fn a_backup_opens_and_passes_the_check_and_stats_count_the_runs() {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (ok, text) = waymark(&home, &["demo", "--yes"]);
    assert!(ok, "{text}");
    let (ok, stats) = waymark(&home, &["db", "stats", "--json"]);
    assert!(ok, "{stats}");
    let stats: serde_json::Value = serde_json::from_str(&stats).expect("JSON stats");
    assert!(stats["runs"].as_u64().unwrap_or(0) >= 2, "{stats}");
    let copy = dir.path().join("copy.db");
    let (ok, text) = waymark(&home, &["db", "backup", &copy.to_string_lossy()]);
    assert!(ok, "{text}");
    let (ok, text) = waymark(&home, &["--db", &copy.to_string_lossy(), "db", "check"]);
    assert!(ok && text.starts_with("ok"), "{text}");
    let (ok, text) = waymark(&home, &["--db", &copy.to_string_lossy(), "runs", "list"]);
    assert!(ok && text.contains("succeeded"), "{text}");
    // A second backup to the same file is refused, naming it.
    let (ok, text) = waymark(&home, &["db", "backup", &copy.to_string_lossy()]);
    assert!(!ok && text.contains("copy.db"), "{text}");
    let (ok, text) = waymark(&home, &["db", "gc"]);
    assert!(ok, "{text}");
    let (ok, text) = waymark(&home, &["db", "vacuum"]);
    assert!(ok && text.contains("bytes before"), "{text}");
}

/// `waymark db copy`: a local database with agents, a server with a secret and finished runs
/// moves to an empty team database, where every door sees the same runs and agents.
#[test]
fn a_local_database_copies_to_an_empty_team_database_and_reads_the_same_there() {
    let url = crate::pg_lab::PgLab::shared().fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let (ok, text) = waymark(&home, &["demo", "--yes"]);
    assert!(ok, "{text}");
    let secret_value = "tok-7f3e-never-copied";
    let env = format!("TOKEN={secret_value}");
    let (ok, text) = waymark(
        &home,
        &["mcp", "add", "tracker", "--env", &env, "--", "tracker-mcp"],
    );
    assert!(ok, "{text}");

    let (ok, text) = waymark(&home, &["db", "copy", "--to", &url, "--json"]);
    assert!(ok, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).expect("a JSON report");
    let rows = |table: &str| {
        report["tables"]
            .as_array()
            .expect("tables")
            .iter()
            .find(|t| t["table"] == table)
            .map(|t| t["rows"].as_u64().unwrap_or(0))
            .unwrap_or_else(|| panic!("no {table} in {report}"))
    };
    assert!(
        rows("runs") >= 2 && rows("events") > rows("runs"),
        "{report}"
    );
    assert!(
        rows("agent_specs") >= 1 && rows("mcp_servers") >= 2,
        "{report}"
    );
    let refs = report["secret_refs"].as_array().expect("secret refs");
    assert!(
        refs.iter()
            .any(|r| r["owner"] == "mcp server tracker" && r["field"] == "env.TOKEN"),
        "the report lists the reference a machine needs a value for: {report}"
    );
    assert!(!text.contains(secret_value), "a secret value in the report");
    let in_team = crate::pg_lab::PgLab::shared().psql(
        crate::pg_lab::PgLab::database_of(&url),
        "SELECT count(*) FROM mcp_servers WHERE secrets_json LIKE '%never-copied%'",
    );
    assert_eq!(in_team, "0", "a secret value reached the team database");

    // Every door on the team database reads what the local one holds.
    for args in [
        vec!["runs", "list", "--json"],
        vec!["agents", "list", "--json"],
        vec!["mcp", "list", "--json"],
    ] {
        let (ok, local) = waymark(&home, &args);
        assert!(ok, "{local}");
        let mut team_args = vec!["--db", url.as_str()];
        team_args.extend(&args);
        let (ok, team) = waymark(&home, &team_args);
        assert!(ok, "{team}");
        let parse = |t: &str| serde_json::from_str::<serde_json::Value>(t).expect("JSON");
        assert_eq!(parse(&local), parse(&team), "{args:?} differ");
    }
    // New work on the team database numbers its events after the copied ones.
    let (ok, text) = waymark(&home, &["--db", &url, "demo", "--yes"]);
    assert!(ok, "a run on the team database after the copy: {text}");

    // A second copy would merge two histories: refused, and the team database is unchanged.
    let (ok, text) = waymark(&home, &["db", "copy", "--to", &url]);
    assert!(!ok && text.contains("not empty"), "{text}");
    // Nothing to copy from, and nothing to copy to.
    let nowhere = dir.path().join("nowhere.db");
    let (ok, text) = waymark(
        &home,
        &[
            "--db",
            &nowhere.to_string_lossy(),
            "db",
            "copy",
            "--to",
            &url,
        ],
    );
    assert!(!ok && text.contains("nowhere.db"), "{text}");
    assert!(!nowhere.exists(), "the copy made a database it was to read");
    let (ok, text) = waymark(&home, &["db", "copy", "--to", "team.db"]);
    assert!(!ok && text.contains("postgres://"), "{text}");
}
