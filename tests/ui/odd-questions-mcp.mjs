// A small MCP server over stdio (protocol 2025-11-25, no SDK) whose questions are hostile or odd,
// for the run page's elicitation card: `odd_form` asks with markup and a very long text in its
// message and a form schema the card cannot build (it requires a field it does not describe);
// `bad_link` asks to open a `javascript:` address. Each tool answers with what the person sent:
// `answer: {json}`.
// Run: node odd-questions-mcp.mjs
import { createInterface } from "node:readline";

const MARKUP = '<img src=x onerror="window.__pwned=1"><b>bold?</b>';
export const ODD_MESSAGE = `${MARKUP} Pick a shipping box. ${"Long text. ".repeat(800)}END-OF-MESSAGE`;

const QUESTIONS = {
  odd_form: {
    mode: "form",
    message: ODD_MESSAGE,
    // It requires a field it does not describe: not a form the card can build.
    requestedSchema: { type: "object", properties: { size: { type: "string", title: "Size", default: "M" } }, required: ["size", "box_code"] },
  },
  bad_link: { mode: "url", message: "Open this to continue", url: "javascript:window.__pwned=1", elicitationId: "e-1" },
};

const send = (msg) => process.stdout.write(JSON.stringify({ jsonrpc: "2.0", ...msg }) + "\n");
const pending = new Map();
let next = 0;

function ask(params) {
  const id = `q${++next}`;
  send({ id, method: "elicitation/create", params });
  return new Promise((resolve) => pending.set(id, resolve));
}

async function handle(msg) {
  if (msg.method === undefined && pending.has(msg.id)) {
    pending.get(msg.id)(msg.error ? { error: msg.error } : msg.result);
    pending.delete(msg.id);
    return;
  }
  if (msg.id === undefined) return; // a notification
  switch (msg.method) {
    case "initialize":
      return send({ id: msg.id, result: { protocolVersion: "2025-11-25", capabilities: { tools: {} }, serverInfo: { name: "odd-questions", version: "0.1.0" } } });
    case "ping":
      return send({ id: msg.id, result: {} });
    case "tools/list":
      return send({
        id: msg.id,
        result: {
          tools: Object.keys(QUESTIONS).map((name) => ({
            name,
            description: `Asks an odd question (${name}).`,
            inputSchema: { type: "object", properties: {} },
            annotations: { readOnlyHint: true },
          })),
        },
      });
    case "tools/call": {
      const q = QUESTIONS[msg.params?.name];
      if (!q) return send({ id: msg.id, error: { code: -32602, message: "unknown tool" } });
      const answer = await ask(q);
      return send({ id: msg.id, result: { content: [{ type: "text", text: `answer: ${JSON.stringify(answer)}` }] } });
    }
    default:
      return send({ id: msg.id, error: { code: -32601, message: `method not found: ${msg.method}` } });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  createInterface({ input: process.stdin }).on("line", (line) => {
    if (!line.trim()) return;
    let msg;
    try {
      msg = JSON.parse(line);
    } catch {
      return;
    }
    void handle(msg);
  });
}
