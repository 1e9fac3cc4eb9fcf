//! Example durable functions, so the CLI and the app have something durable to show with no model and no
//! network: retries, a timer, at-most-once effects, an event wait, a child run.

use std::time::Duration;

use crate::{DurableFunction, Registry, RetryPolicy, RunContext, RunError, StepError, StepSpec};
use serde::Deserialize;
use serde_json::{json, Value};

pub const ORDER: &str = "example.order";
pub const APPROVAL: &str = "example.approval";
pub const PARENT: &str = "example.parent";
pub const BATCH: &str = "example.batch";

/// The most steps `example.batch` takes: enough for a 10,000-step trace, bounded for the disk.
pub const BATCH_MAX_STEPS: u64 = 20_000;

/// The event `example.approval` waits for, and its step keys.
pub const APPROVAL_EVENT: &str = "approval";
pub const APPROVAL_WAIT_STEP: &str = "approval/wait";

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.register(order())
        .register(approval())
        .register(parent())
        .register(batch());
    r
}

pub fn sample_order() -> Value {
    json!({ "item": "notebook", "qty": 2 })
}

#[derive(Debug, Deserialize)]
struct Order {
    item: String,
    qty: u32,
    /// How long the charge takes: time to kill a worker mid-charge and see the run stop for a
    /// human instead of charging twice.
    #[serde(default)]
    charge_ms: u64,
}

fn invalid_input(function: &str, e: impl std::fmt::Display) -> RunError {
    RunError::Step(StepError::fatal(
        "invalid_input",
        format!("{function} expects {{\"item\": string, \"qty\": number}}: {e}"),
    ))
}

/// Short and without jitter, so the demo's retry is quick and its trace reads the same each time.
fn quick_retry() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        initial_interval_ms: 200,
        jitter: 0.0,
        ..RetryPolicy::default()
    }
}

fn order() -> DurableFunction {
    DurableFunction::new(ORDER, 1, |ctx: RunContext, input: Value| async move {
        let order: Order = serde_json::from_value(input).map_err(|e| invalid_input(ORDER, e))?;
        if order.item.trim().is_empty() || order.qty == 0 {
            return Err(invalid_input(
                ORDER,
                "the item is empty or the quantity is 0",
            ));
        }
        let (item, qty, charge_ms) = (order.item, order.qty, order.charge_ms);

        let stock: Value = ctx
            .step(
                StepSpec::retry_safe("inventory/check")
                    .with_retry(quick_retry())
                    .with_input(json!({ "item": item, "qty": qty })),
                |attempt| {
                    let item = item.clone();
                    async move {
                        // Fails on its first attempt by design, so every trace shows a retry.
                        if attempt.number == 1 {
                            return Err(StepError::retryable("busy", "inventory service busy"));
                        }
                        Ok(json!({ "item": item, "reserved": qty }))
                    }
                },
            )
            .await?;

        ctx.sleep("timer/cool-off", Duration::from_millis(300))
            .await?;

        // The receipt comes from the run id, so it is the same however often the run replays.
        let hex = ctx.run_id().0.simple().to_string();
        let receipt = format!("rcpt_{}", &hex[hex.len() - 12..]);
        let charged: Value = ctx
            .step(
                StepSpec::at_most_once("payment/charge")
                    .with_retry(RetryPolicy::no_retries())
                    .with_input(json!({ "item": item, "qty": qty })),
                |_| {
                    let receipt = receipt.clone();
                    async move {
                        tokio::time::sleep(Duration::from_millis(charge_ms)).await;
                        Ok(json!({ "receipt": receipt, "amount_cents": 1250 * qty }))
                    }
                },
            )
            .await?;

        let emailed: Value = ctx
            .step(
                StepSpec::at_most_once("email/confirm")
                    .with_retry(RetryPolicy::no_retries())
                    .with_input(json!({ "receipt": receipt })),
                |_| {
                    let receipt = receipt.clone();
                    async move {
                        Ok(json!({ "to": "customer@example.com", "subject": format!("Order {receipt} confirmed") }))
                    }
                },
            )
            .await?;

        Ok(json!({
            "item": item,
            "qty": qty,
            "reserved": stock["reserved"],
            "receipt": charged["receipt"],
            "amount_cents": charged["amount_cents"],
            "confirmation": emailed["subject"],
        }))
    })
}

fn approval() -> DurableFunction {
    DurableFunction::new(APPROVAL, 1, |ctx: RunContext, input: Value| async move {
        let run = ctx.run_id().to_string();
        let decision = ctx
            .wait_for_event(
                APPROVAL_WAIT_STEP,
                APPROVAL_EVENT,
                json!({ "run": run }),
                Duration::from_secs(3600),
            )
            .await?;
        let Some(payload) = decision else {
            return Err(
                StepError::fatal("approval_timeout", "nobody approved within an hour").into(),
            );
        };
        let approved = payload
            .get("approved")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let record: Value = ctx
            .step(
                StepSpec::at_most_once("approval/record")
                    .with_retry(RetryPolicy::no_retries())
                    .with_input(json!({ "request": input, "decision": payload })),
                |_| {
                    let payload = payload.clone();
                    async move {
                        Ok(json!({ "approved": approved, "by": payload.get("by").cloned().unwrap_or(Value::Null) }))
                    }
                },
            )
            .await?;
        if !approved {
            return Err(StepError::fatal("rejected", "the request was rejected").into());
        }
        Ok(json!({ "request": input, "decision": record }))
    })
}

fn parent() -> DurableFunction {
    DurableFunction::new(PARENT, 1, |ctx: RunContext, input: Value| async move {
        // An input with an order in it orders that; anything else orders the sample.
        let order = match input.get("order") {
            Some(o) => o.clone(),
            None => sample_order(),
        };
        ctx.child("child/1", ORDER, order).await
    })
}

/// The longest pause `example.batch` takes in each step.
const BATCH_MAX_STEP_MS: u64 = 10_000;

/// `{"steps": N, "step_ms": M}`: N small steps one after another (`item/00001`, ...), the
/// first of them failing once, so a long trace with a retry in it can be made without a
/// model; each step takes M ms (0 by default), so a trace can stream in live.
fn batch() -> DurableFunction {
    DurableFunction::new(BATCH, 1, |ctx: RunContext, input: Value| async move {
        let steps = input.get("steps").and_then(Value::as_u64).unwrap_or(0);
        if steps == 0 || steps > BATCH_MAX_STEPS {
            return Err(RunError::Step(StepError::fatal(
                "invalid_input",
                format!("{BATCH} expects {{\"steps\": 1..={BATCH_MAX_STEPS}}}"),
            )));
        }
        let step_ms = input.get("step_ms").and_then(Value::as_u64).unwrap_or(0);
        if step_ms > BATCH_MAX_STEP_MS {
            return Err(RunError::Step(StepError::fatal(
                "invalid_input",
                format!("{BATCH}: step_ms is at most {BATCH_MAX_STEP_MS}"),
            )));
        }
        let mut total = 0u64;
        for i in 1..=steps {
            let out: Value = ctx
                .step(
                    StepSpec::retry_safe(format!("item/{i:05}"))
                        .with_retry(quick_retry())
                        .with_input(json!({ "n": i })),
                    move |attempt| async move {
                        if i == 1 && attempt.number == 1 {
                            return Err(StepError::retryable(
                                "busy",
                                "the first item is busy once",
                            ));
                        }
                        if step_ms > 0 {
                            tokio::time::sleep(Duration::from_millis(step_ms)).await;
                        }
                        Ok(json!({ "n": i, "square": i * i }))
                    },
                )
                .await?;
            total += out["n"].as_u64().unwrap_or(0);
        }
        Ok(json!({ "steps": steps, "sum": total }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_has_every_example() {
        let r = registry();
        assert_eq!(r.names(), vec![APPROVAL, BATCH, ORDER, PARENT]);
        for name in r.names() {
            assert_eq!(r.get(&name).map(|f| f.version), Some(1));
        }
    }
}
