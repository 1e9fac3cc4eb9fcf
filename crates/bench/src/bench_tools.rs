//! The MCP servers the agent figures talk to, served by this binary over stdio:
//! `--serve-demo-tools OUTBOX` (the demo server, for `lookup_order`) and `--serve-bench-tools`
//! (ten tools whose `tools/list` is about 10 KB; `fetch_record` answers about 1 KB of text
//! unique to its argument). The text is generated here, so the bench can count exactly the
//! unique content a run sees without asking the server.

use std::path::PathBuf;

use anyhow::{Context, Result};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig, Tool,
    ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{json, Map, Value};

/// The tool the scripted model calls.
pub(crate) const FETCH_TOOL: &str = "fetch_record";
/// Tools listed, `fetch_record` among them.
const TOOL_COUNT: u64 = 10;
/// Bytes of each tool's description: ten of them make a tool list of about 10 KB.
const DESCRIPTION_BYTES: usize = 900;
/// Bytes of one `fetch_record` result.
pub(crate) const RECORD_BYTES: usize = 1024;

/// Deterministic prose-like text of exactly `len` ASCII bytes. Different seeds give different
/// text: a journal cannot store two steps' content once by accident.
pub(crate) fn text(seed: u64, len: usize) -> String {
    const WORDS: [&str; 32] = [
        "order",
        "ledger",
        "invoice",
        "shipment",
        "customer",
        "refund",
        "warehouse",
        "carrier",
        "parcel",
        "route",
        "delay",
        "address",
        "payment",
        "balance",
        "credit",
        "return",
        "status",
        "pending",
        "cleared",
        "flagged",
        "region",
        "north",
        "south",
        "harbor",
        "invoice-line",
        "quantity",
        "weight",
        "priority",
        "express",
        "standard",
        "audit",
        "note",
    ];
    // xorshift64*: any fixed generator will do; the seed is mixed so small seeds differ early.
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = format!("[{seed}] ");
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
        out.push_str(WORDS[(r >> 59) as usize]);
        // A number now and then keeps the text from repeating word patterns.
        if r & 7 == 0 {
            out.push_str(&format!(" {}", (r >> 20) % 100_000));
        }
        out.push(if r & 0x30 == 0 { '.' } else { ' ' });
    }
    out.truncate(len);
    out
}

/// The text `fetch_record` answers for `record`.
pub(crate) fn record_text(record: u64) -> String {
    text(1_000_000 + record, RECORD_BYTES)
}

fn record_schema() -> Map<String, Value> {
    let schema = json!({
        "type": "object",
        "properties": {
            "record": {"type": "integer", "minimum": 0, "description": "The record's number."}
        },
        "required": ["record"]
    });
    match schema {
        Value::Object(m) => m,
        _ => unreachable!("a JSON object literal"),
    }
}

/// The tools as listed: `fetch_record` first, then nine that are only listed.
pub(crate) fn tools() -> Vec<Tool> {
    (0..TOOL_COUNT)
        .map(|i| {
            let name = if i == 0 {
                FETCH_TOOL.to_string()
            } else {
                format!("archive_tool_{i}")
            };
            Tool::new(name, text(500 + i, DESCRIPTION_BYTES), record_schema())
                .annotate(ToolAnnotations::new().read_only(true).open_world(false))
        })
        .collect()
}

#[derive(Clone)]
struct BenchTools;

impl ServerHandler for BenchTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_server_info(
            Implementation::new("waymark-bench-tools", env!("CARGO_PKG_VERSION")),
        )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let record = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("record"))
            .and_then(Value::as_u64)
            .ok_or_else(|| ErrorData::invalid_params("record must be an integer", None))?;
        Ok(CallToolResult::success(vec![ContentBlock::text(record_text(record))]).into())
    }
}

fn serve<F: std::future::Future<Output = Result<()>>>(f: F) -> Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?
        .block_on(f)
}

/// `--serve-bench-tools`: serves one client on stdin/stdout until it disconnects.
pub(crate) fn serve_bench_tools() -> Result<()> {
    serve(async {
        let running = BenchTools.serve(rmcp::transport::stdio()).await?;
        running.waiting().await?;
        Ok(())
    })
}

/// `--serve-demo-tools OUTBOX`: the demo server on stdio (its `send_email` writes to OUTBOX).
pub(crate) fn serve_demo_tools(outbox: PathBuf) -> Result<()> {
    serve(async move {
        let config = waymark_demo_tools::DemoToolsConfig::from_env(outbox)?;
        waymark_demo_tools::serve_until_ctrl_c(config, None).await?;
        Ok(())
    })
}
