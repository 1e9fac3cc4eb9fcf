//! Calls by hand: progress, a question answered in place, a cancel the server hears, the
//! output schema check; a call the server makes a task.

use serde_json::json;

use super::harness::*;
use crate::support::{call, start, Server};

#[tokio::test]
async fn a_call_by_hand_streams_progress_answers_questions_in_place_and_is_cancelled_on_the_wire() {
    let home = tempfile::tempdir().expect("home");
    for protocol in ["2026-07-28", "2025-06-18"] {
        let tools = ToolsServer::start(protocol, home.path());
        let server: Server = start(home.path());
        ok(
            &server.base,
            "mcp_add",
            json!({"name": "shop", "url": tools.url}),
        )
        .await;

        // Progress while it runs, then a cancel the server hears.
        let started = ok(
            &server.base,
            "mcp_call_start",
            json!({"server": "shop", "tool": "slow_report", "arguments": {"steps": 300, "step_ms": 100}}),
        )
        .await;
        let id = started["call_id"].clone();
        let running = hand_call_until(&server.base, &id, |s| {
            s["progress"].as_array().is_some_and(|p| !p.is_empty())
        })
        .await;
        assert_eq!(running["state"], "running", "{running}");
        ok(&server.base, "mcp_call_cancel", json!({"call_id": id})).await;
        let ended = hand_call_until(&server.base, &id, |s| s["state"] != "running").await;
        assert_eq!(ended["state"], "cancelled", "{ended}");
        until("the server to hear the cancellation", async || {
            let calls = tools.calls("slow_report").await;
            (calls.len() == 1 && calls[0]["cancelled"] == true).then_some(())
        })
        .await;
        let (status, _) = call(&server.base, "mcp_call_cancel", json!({"call_id": id})).await;
        assert_eq!(status, 409, "a call that ended cannot be cancelled again");

        // A question answered in place.
        let started = ok(
            &server.base,
            "mcp_call_start",
            json!({"server": "shop", "tool": "confirm_refund", "arguments": {"order_id": "A-1001", "amount_cents": 990}}),
        )
        .await;
        let id = started["call_id"].clone();
        let asking = hand_call_until(&server.base, &id, |s| s["state"] == "asking").await;
        let question = asking["question"].clone();
        assert!(
            question["params"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("9.90"),
            "{protocol}: {asking}"
        );
        let (status, got) = call(
            &server.base,
            "mcp_call_answer",
            json!({"call_id": id, "question_id": question["id"], "action": "accept", "content": {"approve": "yes"}}),
        )
        .await;
        assert_eq!(status, 400, "{got}");
        ok(
            &server.base,
            "mcp_call_answer",
            json!({"call_id": id, "question_id": question["id"], "action": "accept", "content": {"approve": true, "channel": "email"}}),
        )
        .await;
        let done = hand_call_until(&server.base, &id, |s| s["state"] == "succeeded").await;
        assert!(
            done["result"]["text"]
                .as_str()
                .unwrap_or_default()
                .contains("approved"),
            "{protocol}: {done}"
        );

        // Structured content that breaks the output schema is shown, with what is wrong.
        ok(
            &server.base,
            "mcp_call",
            json!({"server": "shop", "tool": "configure_faults", "arguments": {"tool": "lookup_order", "invalid_data": true}}),
        )
        .await;
        let started = ok(
            &server.base,
            "mcp_call_start",
            json!({"server": "shop", "tool": "lookup_order", "arguments": {"order_id": "A-1001"}}),
        )
        .await;
        let done = hand_call_until(&server.base, &started["call_id"], |s| {
            s["state"] == "succeeded" || s["state"] == "failed"
        })
        .await;
        assert_eq!(done["state"], "succeeded", "{done}");
        assert_eq!(done["result"]["output_check"]["valid"], false, "{done}");
        assert!(
            done["result"]["output_check"]["problem"].is_string(),
            "{done}"
        );
    }
}

#[tokio::test]
async fn a_call_by_hand_that_becomes_a_task_streams_its_status_and_a_cancel_cancels_the_task() {
    let home = tempfile::tempdir().expect("home");
    let tools = ToolsServer::start("both", home.path());
    let server: Server = start(home.path());
    ok(
        &server.base,
        "mcp_add",
        json!({"name": "shop", "url": tools.url}),
    )
    .await;
    let started = ok(
        &server.base,
        "mcp_call_start",
        json!({"server": "shop", "tool": "build_report", "arguments": {"steps": 500, "step_ms": 100}}),
    )
    .await;
    let id = started["call_id"].clone();
    let running = hand_call_until(&server.base, &id, |s| {
        s["progress"]
            .as_array()
            .and_then(|p| p.last())
            .and_then(|p| p["message"].as_str())
            .is_some_and(|m| m.starts_with("step ") && !m.starts_with("step 0 "))
    })
    .await;
    assert_eq!(running["state"], "running", "{running}");
    ok(&server.base, "mcp_call_cancel", json!({"call_id": id})).await;
    until("the task to be cancelled", async || {
        tasks_of(&tools)
            .await
            .iter()
            .any(|t| t["cancelled"] == true)
            .then_some(())
    })
    .await;
}
