//! `confirm_refund`: the form the user fills in, and what each answer means.

use rmcp::model::{
    CallToolResponse, ElicitRequest, ElicitRequestParams, ElicitResult, ElicitationAction,
    ElicitationSchema, InputRequest, JsonObject,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{tool_error, tool_text};

/// The largest refund the tool takes, in cents (100 000.00).
pub const MAX_REFUND_CENTS: i64 = 10_000_000;
/// The channels the user may pick to be told of the refund.
const CHANNELS: [&str; 2] = ["email", "phone"];
const NOTE_MAX_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ConfirmRefundArgs {
    /// The order id, for example "A-1001".
    pub order_id: String,
    /// The amount to refund in cents (0 to 10000000).
    #[schemars(range(min = 0, max = 10_000_000))]
    pub amount_cents: i64,
}

impl ConfirmRefundArgs {
    /// The argument error, if any; checked before asking anything.
    pub fn invalid(&self) -> Option<String> {
        (!(0..=MAX_REFUND_CENTS).contains(&self.amount_cents)).then(|| {
            format!(
                "amount_cents must be between 0 and {MAX_REFUND_CENTS}, got {}",
                self.amount_cents
            )
        })
    }

    fn amount(&self) -> String {
        format!(
            "{}.{:02}",
            self.amount_cents / 100,
            self.amount_cents.rem_euclid(100)
        )
    }
}

/// The `elicitation/create` form for `args`.
pub fn question(args: &ConfirmRefundArgs) -> ElicitRequestParams {
    ElicitRequestParams::FormElicitationParams {
        meta: None,
        message: format!("Refund {} on order {}?", args.amount(), args.order_id),
        requested_schema: form_schema(),
    }
}

pub fn input_request(args: &ConfirmRefundArgs) -> InputRequest {
    InputRequest::Elicitation(ElicitRequest::new(question(args)))
}

fn form_schema() -> ElicitationSchema {
    let schema = json!({
        "type": "object",
        "properties": {
            "approve": {"type": "boolean", "title": "Approve the refund", "default": true},
            "channel": {
                "type": "string",
                "title": "Tell the customer by",
                "enum": CHANNELS,
                "default": "email"
            },
            "note": {"type": "string", "title": "Note to the customer", "maxLength": NOTE_MAX_CHARS}
        },
        "required": ["approve", "channel"]
    });
    // A constant that the unit test below parses: failing here is a bug, not bad input.
    serde_json::from_value(schema).expect("the refund form schema is valid")
}

/// The tool's answer to the user's answer.
pub fn answer(args: &ConfirmRefundArgs, reply: ElicitResult) -> CallToolResponse {
    match reply.action {
        ElicitationAction::Accept => match read_form(reply.content) {
            Ok(form) if form.approve => approved(args, form),
            Ok(_) => declined(args),
            Err(problem) => tool_error(format!("the refund answer is not valid: {problem}")),
        },
        ElicitationAction::Decline => declined(args),
        // Cancel, or an action newer than this server: either way not an answer.
        _ => tool_error("the refund question was cancelled"),
    }
}

struct Form {
    approve: bool,
    channel: String,
    note: Option<String>,
}

/// Checks the accepted content against the form: the client may not have validated it.
fn read_form(content: Option<Value>) -> Result<Form, String> {
    let Some(Value::Object(content)) = content else {
        return Err("an accepted answer must carry the form's fields as an object".to_owned());
    };
    let approve = match content.get("approve") {
        Some(Value::Bool(approve)) => *approve,
        Some(other) => return Err(format!("field `approve` must be a boolean, got {other}")),
        None => return Err("field `approve` is missing".to_owned()),
    };
    let channel = match content.get("channel") {
        Some(Value::String(c)) if CHANNELS.contains(&c.as_str()) => c.clone(),
        Some(other) => {
            return Err(format!(
                "field `channel` must be one of {CHANNELS:?}, got {other}"
            ))
        }
        None => return Err("field `channel` is missing".to_owned()),
    };
    let note = match content.get("note") {
        None | Some(Value::Null) => None,
        Some(Value::String(n)) if n.chars().count() <= NOTE_MAX_CHARS => Some(n.clone()),
        Some(Value::String(_)) => {
            return Err(format!(
                "field `note` must be at most {NOTE_MAX_CHARS} characters"
            ))
        }
        Some(other) => return Err(format!("field `note` must be a string, got {other}")),
    };
    Ok(Form {
        approve,
        channel,
        note,
    })
}

fn approved(args: &ConfirmRefundArgs, form: Form) -> CallToolResponse {
    let mut text = format!(
        "refund of {} approved for {} by channel {}",
        args.amount(),
        args.order_id,
        form.channel
    );
    let mut structured = outcome(args, true);
    structured.insert("channel".to_owned(), json!(form.channel));
    if let Some(note) = form.note.filter(|n| !n.is_empty()) {
        text.push_str(&format!(" (note: {note})"));
        structured.insert("note".to_owned(), json!(note));
    }
    let mut result = tool_text(text);
    result.structured_content = Some(Value::Object(structured));
    result.into()
}

fn declined(args: &ConfirmRefundArgs) -> CallToolResponse {
    let mut result = tool_text(format!("refund declined for {}", args.order_id));
    result.structured_content = Some(Value::Object(outcome(args, false)));
    result.into()
}

fn outcome(args: &ConfirmRefundArgs, approved: bool) -> JsonObject {
    let mut object = Map::new();
    object.insert("order_id".to_owned(), json!(args.order_id));
    object.insert("amount_cents".to_owned(), json!(args.amount_cents));
    object.insert("approved".to_owned(), json!(approved));
    object
}

#[cfg(test)]
mod tests {
    use rmcp::model::CallToolResult;

    use super::*;

    fn args() -> ConfirmRefundArgs {
        ConfirmRefundArgs {
            order_id: "A-1001".to_owned(),
            amount_cents: 1250,
        }
    }

    fn complete(response: CallToolResponse) -> CallToolResult {
        match response {
            CallToolResponse::Complete(result) => result,
            other => panic!("expected a complete result, got {other:?}"),
        }
    }

    fn text(result: &CallToolResult) -> String {
        result.content[0].as_text().unwrap().text.clone()
    }

    fn accept(content: Value) -> ElicitResult {
        ElicitResult::new(ElicitationAction::Accept).with_content(content)
    }

    #[test]
    fn the_form_is_the_one_promised() {
        let ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = question(&args())
        else {
            panic!("a form question")
        };
        assert_eq!(message, "Refund 12.50 on order A-1001?");
        let schema = serde_json::to_value(requested_schema).unwrap();
        assert_eq!(schema["properties"]["approve"]["default"], true);
        assert_eq!(
            schema["properties"]["channel"]["enum"],
            json!(["email", "phone"])
        );
        assert_eq!(schema["properties"]["channel"]["default"], "email");
        assert_eq!(schema["properties"]["note"]["maxLength"], 200);
        assert!(schema["properties"]["note"].get("default").is_none());
        assert_eq!(schema["required"], json!(["approve", "channel"]));
    }

    #[test]
    fn approval_with_a_note() {
        let reply = accept(json!({"approve": true, "channel": "phone", "note": "sorry"}));
        let result = complete(answer(&args(), reply));
        assert_eq!(
            text(&result),
            "refund of 12.50 approved for A-1001 by channel phone (note: sorry)"
        );
        assert_eq!(
            result.structured_content.unwrap(),
            json!({"order_id": "A-1001", "amount_cents": 1250, "approved": true,
                   "channel": "phone", "note": "sorry"})
        );
    }

    #[test]
    fn refusals_and_bad_answers() {
        let no = complete(answer(
            &args(),
            accept(json!({"approve": false, "channel": "email"})),
        ));
        assert_eq!(text(&no), "refund declined for A-1001");
        assert_ne!(no.is_error, Some(true));
        let declined = complete(answer(
            &args(),
            ElicitResult::new(ElicitationAction::Decline),
        ));
        assert_eq!(text(&declined), "refund declined for A-1001");
        let cancelled = complete(answer(
            &args(),
            ElicitResult::new(ElicitationAction::Cancel),
        ));
        assert_eq!(cancelled.is_error, Some(true));
        assert_eq!(text(&cancelled), "the refund question was cancelled");

        for (content, field) in [
            (json!({"approve": "yes", "channel": "email"}), "approve"),
            (json!({"approve": true, "channel": "fax"}), "channel"),
            (json!({"approve": true}), "channel"),
            (
                json!({"approve": true, "channel": "email", "note": 7}),
                "note",
            ),
        ] {
            let bad = complete(answer(&args(), accept(content)));
            assert_eq!(bad.is_error, Some(true));
            assert!(text(&bad).contains(&format!("`{field}`")), "{}", text(&bad));
        }
    }

    #[test]
    fn amounts_are_bounded_and_printed_in_units() {
        let mut big = args();
        big.amount_cents = MAX_REFUND_CENTS + 1;
        assert!(big.invalid().is_some());
        big.amount_cents = 5;
        assert!(big.invalid().is_none());
        assert_eq!(big.amount(), "0.05");
    }
}
