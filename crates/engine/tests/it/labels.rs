//! Workers with labels: a run that asks for a label goes only to a worker that has it; a run
//! that asks for none goes to any worker; a run whose label no worker has waits.

use crate::common;

use std::time::Duration;

use common::*;
use serde_json::json;
use waymark_engine::*;

fn registry() -> Registry {
    let mut reg = Registry::new();
    reg.register(DurableFunction::new(
        "placed",
        1,
        |ctx: RunContext, _| async move {
            let v: u32 = ctx
                .step(StepSpec::retry_safe("work"), |_| async { Ok(1u32) })
                .await?;
            Ok(json!(v))
        },
    ));
    reg.register(DurableFunction::new(
        "whoami",
        1,
        |ctx: RunContext, _| async move { Ok(json!(ctx.run_id().to_string())) },
    ));
    reg.register(DurableFunction::new(
        "parent",
        1,
        |ctx: RunContext, _| async move {
            let child: serde_json::Value = ctx.child("child/1", "whoami", json!({})).await?;
            Ok(child)
        },
    ));
    reg
}

/// The worker each claim of the run went to.
async fn claimed_by(engine: &Engine, run: RunId) -> Vec<String> {
    let mut sub = engine.subscribe(run, 0);
    let mut workers = Vec::new();
    loop {
        let e = tokio::time::timeout(Duration::from_secs(30), sub.next())
            .await
            .expect("an event within 30 s")
            .expect("event");
        match e.kind {
            EventKind::RunClaimed { worker, .. } => workers.push(worker),
            EventKind::RunStatusChanged { status, .. } if status.is_terminal() => return workers,
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_labelled_run_goes_only_to_a_worker_with_that_label() {
    // The harness's worker has no label; a second worker on the same database has "gpu".
    let h = Harness::new(registry()).await;
    let mut config = WorkerConfig {
        claim_interval: Duration::from_millis(100),
        labels: vec!["gpu".into()],
        ..WorkerConfig::default()
    };
    if backend() == Backend::Postgres {
        config.lease = PG_LEASE;
    }
    let gpu = Engine::new(h.store.clone(), registry()).with_worker_config(config);
    let gpu_worker = gpu.start_worker().await.expect("the labelled worker");
    let gpu_id = gpu_worker.id().0.clone();
    let plain_id = h.worker.as_ref().expect("worker").id().0.clone();

    let on_gpu = StartOptions {
        worker_label: Some("gpu".into()),
        ..StartOptions::default()
    };
    let mut labelled = Vec::new();
    let mut unlabelled = Vec::new();
    for _ in 0..6 {
        // Started where the unlabelled worker runs: it must not take them.
        labelled.push(
            h.engine
                .start_run("placed", json!({}), on_gpu.clone())
                .await
                .expect("start"),
        );
        unlabelled.push(
            gpu.start_run("placed", json!({}), StartOptions::default())
                .await
                .expect("start"),
        );
    }
    for run in &labelled {
        let record = h.settled(*run).await;
        assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
        assert_eq!(record.worker_label.as_deref(), Some("gpu"));
        let workers = claimed_by(&h.engine, *run).await;
        assert!(
            !workers.is_empty() && workers.iter().all(|w| *w == gpu_id),
            "run {run} went to {workers:?}, not only to the labelled worker {gpu_id}"
        );
    }
    // Unlabelled runs run anywhere (here: on the worker that started them, a labelled one).
    for run in &unlabelled {
        assert_eq!(h.settled(*run).await.status, RunStatus::Succeeded);
        let workers = claimed_by(&h.engine, *run).await;
        assert!(
            workers.iter().all(|w| *w == gpu_id || *w == plain_id),
            "{workers:?}"
        );
    }

    // A labelled run's child runs go where it may: the child carries its parent's label.
    let parent = h
        .engine
        .start_run("parent", json!({}), on_gpu.clone())
        .await
        .expect("start");
    let record = h.settled(parent).await;
    assert_eq!(record.status, RunStatus::Succeeded, "{:?}", record.error);
    let child: RunId = record
        .output
        .as_ref()
        .and_then(|o| o.as_str())
        .and_then(|id| RunId::parse(id).ok())
        .expect("the child's id");
    let child_record = h.engine.run(child).await.expect("read").expect("child");
    assert_eq!(child_record.worker_label.as_deref(), Some("gpu"));
    let workers = claimed_by(&h.engine, child).await;
    assert!(workers.iter().all(|w| *w == gpu_id), "{workers:?}");

    // A run whose label no worker has waits, unclaimed, while the others finish.
    let nowhere = h
        .engine
        .start_run(
            "placed",
            json!({}),
            StartOptions {
                worker_label: Some("nowhere".into()),
                ..StartOptions::default()
            },
        )
        .await
        .expect("start");
    let after = h
        .engine
        .start_run("placed", json!({}), StartOptions::default())
        .await
        .expect("start");
    h.settled(after).await;
    let waiting = h.engine.run(nowhere).await.expect("read").expect("run");
    assert_eq!(waiting.status, RunStatus::Queued);
    assert_eq!(waiting.lease_owner, None);
    gpu_worker.shutdown().await;
}
