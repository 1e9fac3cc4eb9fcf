//! Listing at any size: the run list's first page, a deep page by cursor and an agent's page,
//! on a database of 100 runs and one of 100,000, in the same run. Paging happens in SQL, so
//! the two should cost about the same.

use std::path::Path;
use std::time::Instant;

use anyhow::{ensure, Result};
use futures::StreamExt as _;
use serde_json::{json, Map, Value};
use waymark_engine::{Engine, Registry, RunFilter, SharedStore, SqliteStore, StartOptions};

const SIZES: [usize; 2] = [100, 100_000];
const PAGE: usize = 50;
const REPS: usize = 21;

/// Creates `n` queued runs (no worker: listing is all this measures), in concurrent batches so
/// that they share commits.
async fn fill(engine: &Engine, n: usize) -> Result<()> {
    let started: Vec<Result<_, _>> = futures::stream::iter(0..n)
        .map(|i| {
            let function = if i % 10 == 0 { "other" } else { "listed" };
            engine.start_run(
                function,
                json!(format!("input number {i}")),
                StartOptions::default(),
            )
        })
        .buffer_unordered(256)
        .collect()
        .await;
    for r in started {
        r?;
    }
    Ok(())
}

/// Median µs of `list_runs(filter)` over REPS.
async fn time_list(engine: &Engine, filter: &RunFilter) -> Result<f64> {
    let mut samples = Vec::with_capacity(REPS);
    for _ in 0..REPS {
        let t = Instant::now();
        let page = engine.list_runs(filter.clone()).await?;
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        ensure!(!page.is_empty(), "the page is empty");
    }
    Ok(crate::median(samples))
}

pub(crate) async fn listing_figures(dir: &Path) -> Result<Map<String, Value>> {
    let mut out = Map::new();
    for n in SIZES {
        let d = dir.join(format!("runs-{n}"));
        std::fs::create_dir_all(&d)?;
        let store = SqliteStore::open(d.join("waymark.db"))?;
        let engine = Engine::new(store.clone() as SharedStore, Registry::new());
        fill(&engine, n).await?;
        let first = RunFilter {
            limit: Some(PAGE),
            ..RunFilter::default()
        };
        let first_us = time_list(&engine, &first).await?;
        // The page before the last, reached by cursor.
        let all_ids = engine
            .list_runs(RunFilter {
                limit: Some(n),
                ..RunFilter::default()
            })
            .await?;
        let anchor = &all_ids[n.saturating_sub(PAGE + 1)];
        let deep = RunFilter {
            after: Some((anchor.created_at, anchor.id)),
            limit: Some(PAGE),
            ..RunFilter::default()
        };
        let deep_us = time_list(&engine, &deep).await?;
        let agent = RunFilter {
            label: Some("other".into()),
            limit: Some(PAGE),
            ..RunFilter::default()
        };
        let agent_us = time_list(&engine, &agent).await?;
        println!(
            "  {n:>7} runs: first page {first_us:>8.1} µs, deep page by cursor {deep_us:>8.1} µs, one function's page {agent_us:>8.1} µs"
        );
        out.insert(
            format!("list_first_page_{n}_runs_us"),
            json!(crate::round1(first_us)),
        );
        out.insert(
            format!("list_deep_page_{n}_runs_us"),
            json!(crate::round1(deep_us)),
        );
        out.insert(
            format!("list_filtered_page_{n}_runs_us"),
            json!(crate::round1(agent_us)),
        );
        drop(engine);
        store.close();
    }
    let ratio = out["list_first_page_100000_runs_us"]
        .as_f64()
        .unwrap_or(0.0)
        / out["list_first_page_100_runs_us"].as_f64().unwrap_or(1.0);
    println!("  first page at 100,000 runs / at 100 runs = {ratio:.2} (target: about 1)");
    out.insert(
        "list_first_page_ratio_100k_vs_100".into(),
        json!((ratio * 100.0).round() / 100.0),
    );
    Ok(out)
}
