//! A person's answer to a server's question (`elicitation/create`) that waits on a run: checked
//! against the question as journaled before it is sent, so a bad answer is refused here rather
//! than reaching the server.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use waymark_engine::{RunId, StepKey, StepKind, StepStatus};

use super::{AgentApp, AppError};
use crate::agent_loop::ELICITATION_EVENT;

/// An answer's content is at most this big (JSON text): a form's answers are a few fields.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// What a person does with a server's question.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ts_rs::TS, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ElicitationAnswer {
    /// Answers it: a form with `content`; a link, once it has been opened and followed.
    Accept,
    /// Says no to what the server asks.
    Decline,
    /// Dismisses the question without saying yes or no.
    Cancel,
}

impl ElicitationAnswer {
    pub fn as_str(self) -> &'static str {
        match self {
            ElicitationAnswer::Accept => "accept",
            ElicitationAnswer::Decline => "decline",
            ElicitationAnswer::Cancel => "cancel",
        }
    }
}

impl AgentApp {
    /// Answers the server's question waiting at `step` (`elicit/...`), recording who did.
    pub async fn answer_elicitation_by(
        &self,
        run: RunId,
        step: &str,
        action: ElicitationAnswer,
        content: Option<&Value>,
        by: Option<&str>,
    ) -> Result<(), AppError> {
        let invalid = AppError::Invalid;
        if !step.starts_with("elicit/") {
            return Err(invalid(format!(
                "\"{step}\" is not a server's question: expected elicit/... (as the run page or `waymark runs show` lists it)"
            )));
        }
        let trace = self
            .engine
            .step_trace(run, StepKey::new(step))
            .await?
            .ok_or_else(|| invalid(format!("run {run} has no step {step}")))?;
        let record = &trace.step;
        let name = record.input.get("name").and_then(Value::as_str);
        if record.kind != StepKind::Event || name != Some(ELICITATION_EVENT) {
            return Err(invalid(format!(
                "step {step} of run {run} is not a server's question"
            )));
        }
        if record.status != StepStatus::Waiting {
            let why = match record.output.as_ref() {
                Some(o) if o.get("lost").is_some() => {
                    "it was lost when the process that held its call ended"
                }
                Some(o) if o.get("timed_out").is_some() => {
                    "nobody answered it in time, so it was cancelled"
                }
                _ => "it has been answered",
            };
            return Err(invalid(format!(
                "the question at {step} no longer waits: {why}"
            )));
        }
        let about = record.input.get("about").cloned().unwrap_or(Value::Null);
        check_answer(&about, action, content).map_err(invalid)?;
        let mut payload = json!({ "run": run, "step": step, "action": action.as_str() });
        if let Some(content) = content {
            payload["content"] = content.clone();
        }
        self.send_human_event(ELICITATION_EVENT, payload, by).await
    }
}

/// An answer against its question (`about`: its `mode` and `requested_schema`): only an
/// accepted form has content, and it fits the form.
pub fn check_answer(
    about: &Value,
    action: ElicitationAnswer,
    content: Option<&Value>,
) -> Result<(), String> {
    let url_mode = about.get("mode").and_then(Value::as_str) == Some("url");
    let Some(content) = content else {
        return match (action, url_mode) {
            (ElicitationAnswer::Accept, false) => {
                Err("accepting a form needs its content (a JSON object of its fields)".into())
            }
            _ => Ok(()),
        };
    };
    if action != ElicitationAnswer::Accept {
        return Err(format!("a {} has no content", action.as_str()));
    }
    if url_mode {
        return Err("a link's question is accepted without content".into());
    }
    let size = serde_json::to_string(content).map_or(usize::MAX, |s| s.len());
    if size > MAX_ANSWER_BYTES {
        return Err(format!(
            "the answer is {size} bytes; at most {MAX_ANSWER_BYTES} are taken"
        ));
    }
    let Some(fields) = content.as_object() else {
        return Err("the content must be a JSON object of the form's fields".into());
    };
    // A form's fields are flat: text, numbers, yes/no, or a list of choices.
    for (name, value) in fields {
        let flat = match value {
            Value::String(_) | Value::Number(_) | Value::Bool(_) => true,
            Value::Array(items) => items.iter().all(Value::is_string),
            _ => false,
        };
        if !flat {
            return Err(format!(
                "field {name:?} must be text, a number, true/false or a list of choices"
            ));
        }
    }
    let schema = about
        .get("requested_schema")
        .cloned()
        .unwrap_or(Value::Null);
    if schema.is_object() {
        if let Ok(validator) = crate::arguments::ArgumentValidator::new("the form", &schema) {
            validator.check(content).map_err(|v| {
                let listed: Vec<String> = v.violations.iter().map(ToString::to_string).collect();
                format!("the answer does not fit the form: {}", listed.join("; "))
            })?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> Value {
        json!({"mode": "form", "requested_schema": {
            "type": "object",
            "properties": {"approve": {"type": "boolean"}, "channel": {"type": "string", "enum": ["email", "phone"]}},
            "required": ["approve"]
        }})
    }

    #[test]
    fn an_answer_must_fit_its_form() {
        let accept = ElicitationAnswer::Accept;
        assert!(check_answer(&form(), accept, Some(&json!({"approve": true}))).is_ok());
        let e = check_answer(&form(), accept, Some(&json!({"channel": "fax"}))).unwrap_err();
        assert!(e.contains("does not fit the form"), "{e}");
        let e = check_answer(&form(), accept, Some(&json!({"approve": {"deep": 1}}))).unwrap_err();
        assert!(e.contains("\"approve\""), "{e}");
        assert!(check_answer(&form(), accept, None).is_err());
        assert!(check_answer(&form(), ElicitationAnswer::Decline, Some(&json!({}))).is_err());
        assert!(check_answer(&form(), ElicitationAnswer::Cancel, None).is_ok());
    }

    #[test]
    fn a_link_is_accepted_without_content() {
        let url = json!({"mode": "url"});
        assert!(check_answer(&url, ElicitationAnswer::Accept, None).is_ok());
        assert!(check_answer(&url, ElicitationAnswer::Accept, Some(&json!({}))).is_err());
    }

    #[test]
    fn a_huge_answer_is_refused() {
        let big = json!({"approve": "x".repeat(MAX_ANSWER_BYTES)});
        let e = check_answer(
            &json!({"mode": "form"}),
            ElicitationAnswer::Accept,
            Some(&big),
        )
        .unwrap_err();
        assert!(e.contains("at most"), "{e}");
    }
}
