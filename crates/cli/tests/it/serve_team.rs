//! A team database: two `waymark serve` processes (two machines' worth, each with a data
//! directory of its own) on one PostgreSQL database share their runs, and each streams live
//! what the other's worker commits.

use serde_json::{json, Value};

use crate::pg_lab::PgLab;
use crate::serve_events::{read_events, sse};
use crate::support::{call, start_with_env};

/// Polls a server until the run has ended.
async fn finished(base: &str, run: &str) -> Value {
    for _ in 0..1500 {
        let (_, got) = call(base, "runs_get", json!({"run_id": run})).await;
        if ["succeeded", "failed", "cancelled"]
            .contains(&got["run"]["status"].as_str().unwrap_or(""))
        {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    panic!("run {run} did not finish");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_on_one_team_database_share_runs_and_stream_them_live() {
    let url = PgLab::shared().fresh_database();
    let homes = tempfile::tempdir().expect("temp dir");
    let env = [("WAYMARK_DB", url.as_str())];
    let a = start_with_env(&homes.path().join("a"), &env);
    let b = start_with_env(&homes.path().join("b"), &env);

    // Started through the first server: it waits for an approval.
    let (status, started) = call(
        &a.base,
        "runs_start_function",
        json!({"function": "example.approval", "input": {"item": "laptop"}}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["run_id"].as_str().expect("run id").to_string();
    // Both stream it from its start.
    let stream_a = sse(&a.base, &run, None).await;
    let stream_b = sse(&b.base, &run, None).await;

    // The second server lists it, and the approval comes through it.
    let (_, listed) = call(&b.base, "runs_list", json!({})).await;
    assert!(
        listed["runs"]
            .as_array()
            .expect("runs")
            .iter()
            .any(|r| r["id"] == run.as_str()),
        "the other server lists the run: {listed}"
    );
    let (status, sent) = call(
        &b.base,
        "events_send",
        json!({"name": "approval", "payload": {"run": run, "approved": true, "by": "b"}}),
    )
    .await;
    assert_eq!(status, 200, "{sent}");

    let done_a = finished(&a.base, &run).await;
    let done_b = finished(&b.base, &run).await;
    assert_eq!(done_a["run"]["status"], "succeeded", "{done_a}");
    assert_eq!(done_a["run"]["output"], done_b["run"]["output"]);
    assert_eq!(done_b["run"]["output"]["decision"]["by"], "b");

    // Every event of the run reached both streams live, in the same order, each once.
    let last = done_a["run"]["seq"]
        .as_i64()
        .expect("the run's last sequence number");
    let from_a = read_events(stream_a, last as usize).await;
    let from_b = read_events(stream_b, last as usize).await;
    let ids = |events: &[(i64, Value)]| events.iter().map(|(id, _)| *id).collect::<Vec<_>>();
    assert_eq!(ids(&from_a), (1..=last).collect::<Vec<_>>());
    assert_eq!(ids(&from_a), ids(&from_b));
    let kinds = |events: &[(i64, Value)]| {
        events
            .iter()
            .map(|(_, e)| e["kind"]["type"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(&from_a), kinds(&from_b));

    // The team database checks out from either server.
    let (status, check) = call(&b.base, "db_check", json!({})).await;
    assert_eq!(status, 200, "{check}");
    assert_eq!(check["ok"], true, "{check}");
    assert!(check["problems"].as_array().is_some_and(|p| p.is_empty()));
}

/// Settings: "database: this computer / team database". A team database is checked by
/// connecting (its password kept in this machine's secret store) and saved for the next
/// start, which then opens it: the server, and every CLI command given no `--db`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_setting_moves_every_door_to_the_team_database_at_the_next_start() {
    use crate::support::{private_token_file, serve_command, start_cmd, TOKEN};
    let lab = PgLab::shared();
    lab.require_password("teamsetting", "s3t-in-settings");
    let url = lab
        .url("teamsetting")
        .replacen("postgres@", "teamsetting@", 1);
    let dir = tempfile::tempdir().expect("temp dir");
    let home = dir.path().join("home");
    let serve = || {
        let token_file = private_token_file(&home, TOKEN);
        let mut cmd = serve_command(&home, &[]);
        cmd.arg("--token-file")
            .arg(&token_file)
            .env_remove("WAYMARK_DB");
        start_cmd(cmd)
    };

    let first = serve();
    let (_, settings) = call(&first.base, "settings_get", json!({})).await;
    let db = &settings["database"];
    assert_eq!(db["in_use"], "this_computer", "{settings}");
    assert_eq!(db["chosen_by"], "default");
    assert_eq!(db["restart_needed"], false);

    // A wrong password: refused by the server, nothing saved.
    let (status, refused) = call(
        &first.base,
        "settings_set_database",
        json!({"team_database": url, "password": "wrong"}),
    )
    .await;
    assert_eq!(status, 424, "{refused}");
    assert!(
        refused["message"]
            .as_str()
            .unwrap_or("")
            .contains("password"),
        "{refused}"
    );
    assert!(!home.join("database.json").exists());
    // A password in the URL: refused before anything is tried.
    let with_password = url.replacen("teamsetting@", "teamsetting:s3t-in-settings@", 1);
    let (status, refused) = call(
        &first.base,
        "settings_set_database",
        json!({"team_database": with_password}),
    )
    .await;
    assert_eq!(status, 400, "{refused}");
    assert!(
        !refused.to_string().contains("s3t-in-settings"),
        "{refused}"
    );

    let (status, chosen) = call(
        &first.base,
        "settings_set_database",
        json!({"team_database": url, "password": "s3t-in-settings"}),
    )
    .await;
    assert_eq!(status, 200, "{chosen}");
    assert_eq!(chosen["team_database"], url.as_str());
    assert_eq!(
        chosen["in_use"], "this_computer",
        "it switches at the next start"
    );
    assert_eq!(chosen["restart_needed"], true);
    let saved = std::fs::read_to_string(home.join("database.json")).expect("the choice");
    assert!(!saved.contains("s3t-in-settings"), "{saved}");
    drop(first);

    // The next start opens the team database.
    let second = serve();
    let (_, settings) = call(&second.base, "settings_get", json!({})).await;
    let db = &settings["database"];
    assert_eq!(db["in_use"], "team", "{settings}");
    assert_eq!(db["chosen_by"], "setting");
    assert_eq!(db["location"], url.as_str());
    assert_eq!(db["restart_needed"], false);
    let (status, started) = call(
        &second.base,
        "runs_start_function",
        json!({"function": "example.approval", "input": {"item": "chair"}}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["run_id"].as_str().expect("run id").to_string();
    assert_eq!(
        lab.psql(
            "teamsetting",
            &format!("SELECT count(*) FROM runs WHERE id = '{run}'")
        ),
        "1",
        "the run is in the team database"
    );
    // A CLI command given no --db opens it too.
    let out = std::process::Command::new(crate::support::BIN)
        .args(["runs", "list", "--json"])
        .env("WAYMARK_HOME", &home)
        .env("WAYMARK_SECRET_BACKEND", "file")
        .env_remove("WAYMARK_DB")
        .output()
        .expect("waymark runs list");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && listed.contains(&run), "{listed}");

    // Back to this computer: saved for the next start.
    let (status, back) = call(&second.base, "settings_set_database", json!({})).await;
    assert_eq!(status, 200, "{back}");
    assert_eq!(back["in_use"], "team");
    assert!(back.get("team_database").is_none(), "{back}");
    assert_eq!(back["restart_needed"], true);
    assert!(!home.join("database.json").exists());
}
