//! Crash chaos: worker processes running durable runs are `kill -9`ed again and again, at random
//! moments, just before and after each kind of commit, and in the middle of steps' work: one
//! worker at a time on a SQLite file, three at once on a PostgreSQL database (where a killed
//! worker's runs are taken over when their leases expire, by the database's clock).

mod common;
#[path = "pg/lab.rs"]
mod pg_lab;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use common::*;
use rand::Rng;
use serde_json::json;
use waymark_engine::*;

const STEPS: u64 = 8;
/// Few runs at a time per worker, so that each short worker life leaves work for the next.
const MAX_RUNS_PER_WORKER: &str = "4";

/// How much chaos, on how many workers at once.
struct Plan {
    /// Runs started up front (more are started as others finish).
    runs: usize,
    /// Kills aimed at a point (a commit, a step's work) or a random moment; on several
    /// workers each also kills one of the others.
    kills: usize,
    /// Worker processes alive at once; each kill replaces one.
    workers: usize,
    /// Keep at least this many runs unfinished, starting new ones as others finish: more
    /// than the other workers hold, so that a fresh one finds work to be killed in.
    min_active: usize,
    /// Arguments every worker gets.
    worker_args: Vec<&'static str>,
}

/// Commit points a kill is aimed at, cycled through; mid-step points are every third kill.
const COMMIT_POINTS: &[&str] = &[
    "before_commit:start_attempt",
    "after_commit:start_attempt",
    "before_commit:finish_attempt",
    "after_commit:finish_attempt",
    "before_commit:claim_runs",
    "after_commit:claim_runs",
    "before_commit:finish_run",
    "after_commit:finish_run",
    "before_commit:release_run",
    "after_commit:release_run",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_survive_repeated_kill_9_without_repeating_effects() {
    let (_dir, db, ledger) = temp_paths();
    let store = SqliteStore::open(&db).expect("open");
    let engine = Engine::new(store, Registry::new());
    let plan = Plan {
        runs: 24,
        kills: 60,
        workers: 1,
        min_active: 6,
        worker_args: Vec::new(),
    };
    chaos(&db, &ledger, engine, plan).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_three_workers_killed_at_random_lose_nothing_and_repeat_no_effect() {
    let (_dir, _, ledger) = temp_paths();
    let url = pg_lab::PgLab::shared().fresh_database();
    let store = waymark_postgres::PgStore::open(&url, waymark_postgres::PgConfig::default())
        .await
        .expect("open");
    let engine = Engine::new(store, Registry::new());
    let plan = Plan {
        runs: 50,
        kills: 30,
        workers: 3,
        min_active: 14,
        // A killed worker leaves no lock file behind on a shared database: its runs wait for
        // their leases to expire.
        worker_args: vec!["--lease-ms", "1000"],
    };
    chaos(Path::new(&url), &ledger, engine, plan).await;
}

async fn chaos(db: &Path, ledger: &Path, engine: Engine, plan: Plan) {
    let mut runs = Vec::new();
    for _ in 0..plan.runs {
        runs.push(
            engine
                .start_run("chaos", json!({ "steps": STEPS }), StartOptions::default())
                .await
                .expect("start"),
        );
    }

    let mut rng = rand::rng();
    let (mut mid_step, mut at_commit, mut random) = (0, 0, 0);
    let mut args = vec!["--max-runs", MAX_RUNS_PER_WORKER];
    args.extend(plan.worker_args.iter().copied());
    // The workers that keep running while one is replaced (on several at once).
    let mut others: Vec<WorkerProcess> = (1..plan.workers)
        .map(|_| WorkerProcess::spawn(db, ledger, &args, &[]))
        .collect();
    let kills = plan.kills;
    for kill in 0..kills {
        let active = engine
            .list_runs(RunFilter::default())
            .await
            .expect("list")
            .iter()
            .filter(|r| !r.status.is_terminal() && r.status != RunStatus::NeedsAttention)
            .count();
        for _ in active..plan.min_active {
            runs.push(
                engine
                    .start_run("chaos", json!({ "steps": STEPS }), StartOptions::default())
                    .await
                    .expect("start"),
            );
        }
        let pause: Option<String> = match kill % 3 {
            0 => None,
            1 => Some(COMMIT_POINTS[(kill / 3) % COMMIT_POINTS.len()].to_string()),
            _ => Some(
                if kill % 2 == 0 {
                    "mid_step:at_most_once"
                } else {
                    "mid_step:retry_safe"
                }
                .to_string(),
            ),
        };
        let env: Vec<(&str, String)> = match &pause {
            Some(p) => vec![
                ("CHAOS_PAUSE_AT", p.clone()),
                ("CHAOS_PAUSE_AFTER", rng.random_range(1..=4).to_string()),
            ],
            None => vec![],
        };
        let w = WorkerProcess::spawn(db, ledger, &args, &env);
        w.wait_line("READY", Duration::from_secs(30))
            .expect("worker starts");
        match pause {
            None => {
                // A random moment: this sleep is the point of the test, not a wait for an event.
                std::thread::sleep(Duration::from_millis(rng.random_range(1..60)));
                random += 1;
            }
            Some(p) => {
                if w.wait_line("PAUSED", Duration::from_secs(5)).is_some() {
                    if p.starts_with("mid_step") {
                        mid_step += 1;
                    } else {
                        at_commit += 1;
                    }
                } else {
                    random += 1; // the point was not reached (e.g. nothing left of that kind)
                }
            }
        }
        w.kill9();
        // On several workers, the next kill takes one that has been running meanwhile (it
        // may be paused at its own point), and a fresh one takes its place.
        if !others.is_empty() {
            let i = kill % others.len();
            let fresh = WorkerProcess::spawn(db, ledger, &args, &[]);
            std::mem::replace(&mut others[i], fresh).kill9();
        }
    }
    for w in others {
        w.kill9();
    }
    println!("runs: {}", runs.len());
    let total = if plan.workers > 1 { 2 * kills } else { kills };
    println!("kills: {total} ({mid_step} mid-step, {at_commit} at a commit point, {random} at random moments; on several workers, one more of a running worker each time)");
    assert!(
        mid_step >= kills / 6,
        "only {mid_step} kills landed mid-step"
    );

    // A last worker lets everything that can finish, finish.
    let w = WorkerProcess::spawn(db, ledger, &plan.worker_args, &[]);
    w.wait_line("READY", Duration::from_secs(30))
        .expect("worker starts");
    settle_and_verify(&engine, &runs, ledger).await;
    drop(w);
}

/// Waits for every run to settle (finished, or an at_most_once step in doubt), checks the
/// ledger (no at_most_once effect twice, no finished step run again), resolves what needs
/// attention, and checks every run then succeeds.
async fn settle_and_verify(engine: &Engine, runs: &[RunId], ledger: &Path) {
    let mut settled = Vec::new();
    for run in runs {
        let r = tokio::time::timeout(Duration::from_secs(60), engine.wait_settled(*run))
            .await
            .expect("settles")
            .expect("read");
        assert!(
            matches!(r.status, RunStatus::Succeeded | RunStatus::NeedsAttention),
            "run {run} ended {:?}: {:?}",
            r.status,
            r.error
        );
        settled.push(r);
    }

    // Effects in the ledger: "<run> <key> <attempt> <pid>".
    let mut effects: HashMap<(String, String), Vec<u32>> = HashMap::new();
    for line in ledger_lines(ledger) {
        let parts: Vec<&str> = line.split(' ').collect();
        let attempt: u32 = parts[2].parse().expect("attempt number");
        effects
            .entry((parts[0].to_string(), parts[1].to_string()))
            .or_default()
            .push(attempt);
    }
    for ((run, key), attempts) in &effects {
        if key.starts_with("once/") {
            assert_eq!(
                attempts.len(),
                1,
                "at_most_once step {key} of {run} took effect {} times",
                attempts.len()
            );
        }
    }

    let mut needs_attention = 0;
    for r in &settled {
        let trace = engine.trace(r.id).await.expect("trace").expect("run");
        for s in &trace.steps {
            let done_attempt = s
                .attempt_list
                .iter()
                .find(|a| a.outcome == AttemptOutcome::Ok)
                .map(|a| a.number);
            if let Some(done) = done_attempt {
                let ran = &effects[&(r.id.to_string(), s.step.key.to_string())];
                assert!(
                    ran.iter().all(|n| *n <= done),
                    "step {} of {} ran again after it finished: {ran:?}",
                    s.step.key,
                    r.id
                );
            }
            if s.step.status == StepStatus::NeedsAttention {
                needs_attention += 1;
                assert_eq!(s.step.safety, SafetyClass::AtMostOnce);
                let last = s.attempt_list.last().expect("an attempt");
                assert_eq!(
                    last.outcome,
                    AttemptOutcome::Interrupted,
                    "step {} of {}",
                    s.step.key,
                    r.id
                );
                engine
                    .resolve(
                        r.id,
                        s.step.key.clone(),
                        Resolution::Done { output: json!(1) },
                    )
                    .await
                    .expect("resolve");
            }
        }
    }
    println!("{needs_attention} steps needed attention and were resolved");
    for run in runs {
        let r = tokio::time::timeout(Duration::from_secs(60), engine.wait_settled(*run))
            .await
            .expect("settles")
            .expect("read");
        assert_eq!(
            r.status,
            RunStatus::Succeeded,
            "run {run} after resolution: {:?}",
            r.error
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_server_restart_mid_run_workers_reconnect_and_runs_finish() {
    let (_dir, _, ledger) = temp_paths();
    // A server of its own: the restart must not disturb other tests' databases.
    let lab = pg_lab::PgLab::start();
    let url = lab.create_database("restart");
    let store = waymark_postgres::PgStore::open(&url, waymark_postgres::PgConfig::default())
        .await
        .expect("open");
    let engine = Engine::new(store, Registry::new());
    let mut runs = Vec::new();
    for _ in 0..12 {
        runs.push(
            engine
                .start_run("chaos", json!({ "steps": STEPS }), StartOptions::default())
                .await
                .expect("start"),
        );
    }
    let args = ["--max-runs", MAX_RUNS_PER_WORKER, "--lease-ms", "1000"];
    let workers: Vec<WorkerProcess> = (0..2)
        .map(|_| WorkerProcess::spawn(Path::new(&url), &ledger, &args, &[]))
        .collect();
    for w in &workers {
        w.wait_line("READY", Duration::from_secs(30))
            .expect("worker starts");
    }
    // Mid-run: some steps are done, most are not.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while ledger_lines(&ledger).len() < 10 {
        assert!(
            std::time::Instant::now() < deadline,
            "the runs never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    lab.restart();
    let done_before = ledger_lines(&ledger).len();
    println!("restarted the server after {done_before} step attempts");
    settle_and_verify(&engine, &runs, &ledger).await;
    assert!(
        ledger_lines(&ledger).len() > done_before,
        "the workers went on after the restart"
    );
    drop(workers);
}
