//! The OpenAPI 3.1 document of the HTTP door, generated from the command list and the Rust
//! types' JSON Schemas (schemars): a new command appears in it without any hand-written part.

use serde_json::{json, Map, Value};

use crate::commands::command_schemas;

/// The document `GET /openapi.json` serves.
pub fn document(version: &str) -> Value {
    let settings = schemars::generate::SchemaSettings::draft2020_12().with(|s| {
        s.definitions_path = "/components/schemas".into();
        s.meta_schema = None;
    });
    let mut generator = settings.into_generator();
    let error = generator.subschema_for::<crate::ApiError>();
    let event = generator.subschema_for::<crate::ApiEvent>();
    let mut paths = Map::new();
    for (info, request, response) in command_schemas(&mut generator) {
        let error_response = |what: &str| json!({"description": what, "content": {"application/json": {"schema": error}}});
        paths.insert(
            format!("/api/v1/{}", info.name),
            json!({"post": {
                "operationId": info.name,
                "summary": info.summary,
                "tags": [info.name.split('_').next().unwrap_or("other")],
                "security": [{"bearer": []}],
                "requestBody": {"required": false, "content": {"application/json": {"schema": request}}},
                "responses": {
                    "200": {"description": "Done", "content": {"application/json": {"schema": response}}},
                    "400": error_response("The request is malformed; `field` names what was wrong"),
                    "401": error_response("Missing or wrong token"),
                    "404": error_response("No such id or name"),
                    "409": error_response("Not possible in the current state"),
                    "424": error_response("An MCP server or model provider failed"),
                    "503": error_response("The database is busy or full; try again"),
                }
            }}),
        );
    }
    let sse = |what: &str| {
        json!({"get": {
            "operationId": what,
            "summary": "Server-sent events: `id:` is the sequence number; reconnect with Last-Event-ID to get exactly what was missed.",
            "security": [{"bearer": []}],
            "parameters": [
                {"name": "run", "in": "query", "required": false, "schema": {"type": "string", "format": "uuid"},
                 "description": "One run's events (per-run sequence); all runs' (global sequence) when absent."},
                {"name": "Last-Event-ID", "in": "header", "required": false, "schema": {"type": "integer"}}
            ],
            "responses": {"200": {"description": "A stream of events",
                "content": {"text/event-stream": {"schema": event}}}}
        }})
    };
    paths.insert("/api/v1/events".into(), sse("events"));
    let schemas = generator.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Waymark API",
            "version": version,
            "description": "Every command of Waymark as `POST /api/v1/{command}` with a JSON body, and the event stream over SSE. The desktop app offers the same commands."
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"}
            }
        }
    })
}
