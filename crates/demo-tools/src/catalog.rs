//! The demo shop's MCP resources (each order as JSON, `demo://orders/{order_id}`) and one
//! prompt (`order_reply`: a reply to a customer about an order), for clients' resource and
//! prompt support.

use rmcp::model::{
    GetPromptResponse, GetPromptResult, ListPromptsResult, ListResourceTemplatesResult,
    ListResourcesResult, ReadResourceResponse, ReadResourceResult,
};
use rmcp::ErrorData;
use serde_json::{json, Value};

use crate::orders::{known_order_ids, OrderBook};

const ORDER_PREFIX: &str = "demo://orders/";

fn decode<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ErrorData> {
    serde_json::from_value(value).map_err(|e| ErrorData::internal_error(e.to_string(), None))
}

pub fn list_resources() -> Result<ListResourcesResult, ErrorData> {
    let resources: Vec<Value> = known_order_ids()
        .into_iter()
        .map(|id| {
            json!({
                "uri": format!("{ORDER_PREFIX}{id}"),
                "name": format!("order-{id}"),
                "title": format!("Order {id}"),
                "mimeType": "application/json",
            })
        })
        .collect();
    decode(json!({ "resources": resources }))
}

pub fn list_templates() -> Result<ListResourceTemplatesResult, ErrorData> {
    decode(json!({ "resourceTemplates": [{
        "uriTemplate": format!("{ORDER_PREFIX}{{order_id}}"),
        "name": "order",
        "title": "An order by its id",
        "mimeType": "application/json",
    }]}))
}

pub fn read(orders: &OrderBook, uri: &str) -> Result<ReadResourceResponse, ErrorData> {
    let Some(id) = uri.strip_prefix(ORDER_PREFIX) else {
        return Err(ErrorData::resource_not_found(
            format!("no resource {uri:?}: this server has {ORDER_PREFIX}{{order_id}}"),
            None,
        ));
    };
    let order = orders
        .lookup(id)
        .map_err(|e| ErrorData::resource_not_found(e, None))?;
    let text = serde_json::to_string_pretty(&order)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let result: ReadResourceResult = decode(json!({ "contents": [{
        "uri": uri, "mimeType": "application/json", "text": text,
    }]}))?;
    Ok(result.into())
}

pub fn list_prompts() -> Result<ListPromptsResult, ErrorData> {
    decode(json!({ "prompts": [{
        "name": "order_reply",
        "title": "Reply about an order",
        "description": "Write a short reply to the customer of an order.",
        "arguments": [
            {"name": "order_id", "description": "The order, e.g. A-1001", "required": true},
            {"name": "tone", "description": "friendly (default) or formal", "required": false},
        ],
    }]}))
}

pub fn get_prompt(
    orders: &OrderBook,
    name: &str,
    arguments: Option<&serde_json::Map<String, Value>>,
) -> Result<GetPromptResponse, ErrorData> {
    if name != "order_reply" {
        return Err(ErrorData::invalid_params(
            format!("no prompt {name:?}; this server has order_reply"),
            None,
        ));
    }
    let arg = |key: &str| arguments.and_then(|a| a.get(key)).and_then(Value::as_str);
    let Some(id) = arg("order_id") else {
        return Err(ErrorData::invalid_params(
            "order_reply needs the argument order_id",
            None,
        ));
    };
    let order = orders
        .lookup(id)
        .map_err(|e| ErrorData::invalid_params(e, None))?;
    let tone = arg("tone").unwrap_or("friendly");
    let order_json = serde_json::to_string(&order)
        .map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
    let text = format!(
        "Write a short, {tone} reply to the customer of order {id} about its status. \
         The order: {order_json}"
    );
    let result: GetPromptResult = decode(json!({
        "description": format!("A {tone} reply about order {id}"),
        "messages": [{"role": "user", "content": {"type": "text", "text": text}}],
    }))?;
    Ok(result.into())
}
