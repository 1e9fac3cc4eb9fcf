//! The event stream over SSE: `id:` is the run's sequence number, and a reconnect with
//! `Last-Event-ID` gets exactly what it missed, also across a server restart.

use std::time::Duration;

use futures::StreamExt as _;
use serde_json::{json, Value};

use crate::support;

use support::{call, client, settled, start, write_agent, TOKEN};

/// Reads SSE events (id, data) until `n` arrive.
pub(crate) async fn read_events(resp: reqwest::Response, n: usize) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut stream = resp.bytes_stream();
    while out.len() < n {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("an event within 30 s")
            .expect("stream open")
            .expect("bytes");
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut id = None;
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().parse().ok();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if let (Some(id), Ok(v)) = (id, serde_json::from_str(&data)) {
                out.push((id, v));
            }
        }
    }
    out.truncate(n);
    out
}

pub(crate) async fn sse(base: &str, run: &str, last: Option<i64>) -> reqwest::Response {
    let mut req = client()
        .get(format!("{base}/api/v1/events?run={run}"))
        .bearer_auth(TOKEN);
    if let Some(last) = last {
        req = req.header("last-event-id", last.to_string());
    }
    let r = req.send().await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    r
}

#[tokio::test]
async fn sse_resumes_from_last_event_id_even_after_a_restart() {
    let home = tempfile::tempdir().unwrap();
    let data = home.path().join("home");
    let s = start(&data);
    let spec = write_agent(home.path());
    assert_eq!(
        call(&s.base, "agents_save", json!({"spec": spec})).await.0,
        200
    );
    let (status, started) = call(
        &s.base,
        "runs_start",
        json!({"agent": "asker", "input": "hi"}),
    )
    .await;
    assert_eq!(status, 200, "{started}");
    let run = started["run_id"].as_str().unwrap().to_string();

    // Read a few events, then disconnect.
    let first = read_events(sse(&s.base, &run, None).await, 3).await;
    let ids: Vec<i64> = first.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, [1, 2, 3]);
    // Wait until the run waits for the person (the events go on meanwhile).
    let all = read_events(sse(&s.base, &run, None).await, 1).await;
    assert_eq!(all[0].0, 1);
    let trace = loop {
        let (_, got) = call(&s.base, "runs_get", json!({"run_id": run})).await;
        if got["run"]["status"] == "waiting" {
            break got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let last_seq = trace["run"]["seq"].as_i64().unwrap();
    // Reconnect after event 3: exactly 4..=last, no gap, no repeat.
    let resumed = read_events(sse(&s.base, &run, Some(3)).await, (last_seq - 3) as usize).await;
    let ids: Vec<i64> = resumed.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (4..=last_seq).collect::<Vec<_>>());

    // The server restarts; the person answers; a reconnect after the last seen event gets
    // what happened since, in order.
    drop(s);
    let s = start(&data);
    let (status, e) = call(
        &s.base,
        "runs_answer",
        json!({"run_id": run, "step": "tool/1.1", "text": "Paris"}),
    )
    .await;
    assert_eq!(status, 200, "{e}");
    let after = read_events(sse(&s.base, &run, Some(last_seq)).await, 2).await;
    assert_eq!(after[0].0, last_seq + 1);
    assert_eq!(after[1].0, last_seq + 2);
    // The answer's record names the door it came through.
    let done = settled(&s.base, &run).await;
    let steps = done["steps"].as_array().unwrap();
    let asked = steps.iter().find(|st| st["key"] == "tool/1.1").unwrap();
    assert_eq!(asked["output"]["payload"]["by"], "api", "{asked}");
}
