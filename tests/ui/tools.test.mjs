// The Tools page as a new user meets it: add server-everything through the form, see it connect
// and list its tools, call get-sum through the form generated from its inputSchema, get the
// schema error for strings sent anyway, see the demo tool server, import a Claude Desktop config
// after reviewing its command line.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createServer } from "node:net";
import { isDeepStrictEqual } from "node:util";
import { startServer, launchBrowser, openApp, screenshot, until, EVERYTHING, ROOT } from "./harness.mjs";

const MEMORY = join(ROOT, "tests/mcp-servers/node_modules/@modelcontextprotocol/server-memory/dist/index.js");

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

async function openTools(page) {
  await page.getByRole("link", { name: "Tools" }).click();
  await page.getByRole("heading", { name: "Tools", level: 1 }).waitFor();
}

test("add server-everything through the form, call get-sum, and see the schema error sent anyway", async () => {
  const page = await openApp(browser, server);
  await openTools(page);

  await page.getByRole("button", { name: "Add server" }).click();
  const dialog = page.getByRole("dialog", { name: "Add an MCP server" });
  // Submitting empty shows the problems on their fields, not a request.
  await dialog.getByRole("button", { name: "Add server" }).click();
  await dialog.getByText("give the server a name").waitFor();
  await dialog.getByText("the command that starts the server").waitFor();
  await dialog.getByLabel("Name", { exact: true }).fill("everything");
  await dialog.getByLabel("Command", { exact: true }).fill("node");
  await dialog.getByLabel("Argument 1", { exact: true }).fill(EVERYTHING);
  await dialog.getByText(`node ${EVERYTHING}`).waitFor();
  await screenshot(page, "tools-add-server");
  await dialog.getByRole("button", { name: "Add server" }).click();
  await dialog.waitFor({ state: "detached" });

  // The server's page lists its tools once it connects; the list shows it connected.
  assert.match(page.url(), /#\/tools\/everything$/);
  const tools = page.getByRole("region", { name: "Tools of everything" });
  await tools.getByRole("link", { name: /get-sum/ }).waitFor({ timeout: 30000 });
  await page.locator('[data-server="everything"]').getByText("connected", { exact: true }).waitFor();
  await tools.getByText("Returns the sum of two numbers").waitFor();

  await tools.getByLabel("Filter tools").fill("sum of two");
  await until(async () => (await tools.getByRole("link").count()) === 1, { what: "the filter to leave get-sum alone" });
  await tools.getByRole("link", { name: /get-sum/ }).click();
  const detail = page.getByRole("region", { name: "Tool", exact: true });
  await detail.getByRole("heading", { name: "get-sum" }).waitFor();
  await detail.getByText("read-only", { exact: true }).waitFor();
  await detail.getByText("retry-safe").first().waitFor();
  const form = detail.getByRole("region", { name: "Try it" });
  // Description and type under each field, as text.
  await form.getByText("First number").waitFor();
  const a = form.getByLabel("a", { exact: true });
  const b = form.getByLabel("b", { exact: true });
  const call = form.getByRole("button", { name: "Call get-sum" });
  assert.equal(await call.isDisabled(), true, "required fields missing: Call is disabled");
  await a.fill("2.");
  // A numeric draft survives while typing, and the preview shows the number sent.
  assert.equal(await a.inputValue(), "2.");
  await a.fill("2.5");
  await b.fill("40");
  const preview = form.getByTestId("args-preview");
  await until(async () => isDeepStrictEqual(JSON.parse(await preview.textContent()), { a: 2.5, b: 40 }), { what: "preview of the arguments" });
  await call.click();
  const result = detail.getByRole("region", { name: "Result" });
  await result.getByText("The sum of 2.5 and 40 is 42.5.").waitFor();
  await result.getByText("isError: false").waitFor();
  await screenshot(page, "tools-try-it");

  // Strings where numbers go: inline errors, Call disabled, "Send anyway" reaches the server's validator.
  await a.fill("two");
  await form.getByText('"two" is not a number').waitFor();
  assert.equal(await call.isDisabled(), true);
  assert.deepEqual(JSON.parse(await preview.textContent()), { a: "two", b: 40 });
  await form.getByRole("button", { name: "Send anyway" }).click();
  const alert = result.getByRole("alert");
  await alert.getByText("Rejected by the input schema").waitFor();
  const text = await alert.textContent();
  assert.match(text, /arguments\.a/, "the error names the field");
  assert.match(text, /not of type "number"/);
  // The server's error is also shown on the field.
  await form.locator('[data-field="a"]').getByText(/server: .*not of type/).waitFor();
  await screenshot(page, "tools-schema-error");

  // Images come as a chip, structuredContent as a tree.
  await tools.getByLabel("Filter tools").fill("");
  await tools.getByRole("link", { name: /get-tiny-image/ }).click();
  await detail.getByRole("button", { name: "Call get-tiny-image" }).click();
  await detail.getByRole("region", { name: "Result" }).getByText(/^image\/png · /).waitFor();
  await tools.getByRole("link", { name: /get-structured-content/ }).click();
  await detail.getByLabel("location", { exact: true }).selectOption("Chicago");
  await detail.getByRole("button", { name: "Call get-structured-content" }).click();
  await detail.getByRole("region", { name: "Result" }).getByText("structuredContent").waitFor();
  await tools.getByRole("link", { name: /get-sum/ }).click();
  await detail.getByRole("heading", { name: "get-sum" }).waitFor();

  // Recent inputs are recalled.
  await form.getByLabel("Recent inputs").selectOption({ index: 2 });
  assert.equal(await a.inputValue(), "2.5");
  await until(async () => (await a.inputValue()) === "2.5", { what: "recalled input" });

  // The whole-form JSON toggle shows the exact arguments.
  await form.getByRole("button", { name: "JSON", exact: true }).click();
  const json = form.getByLabel("Arguments (JSON)");
  assert.deepEqual(JSON.parse(await json.inputValue()), { a: 2.5, b: 40 });
  await json.fill('{"a": 7, "b": 8}');
  await form.getByRole("button", { name: "Form", exact: true }).click();
  assert.equal(await a.inputValue(), "7");
  // Alt+↓ walks to the more recent input (the strings).
  await a.focus();
  await page.keyboard.press("Alt+ArrowDown");
  await until(async () => (await a.inputValue()) === "two", { what: "Alt+↓ to recall the newer input" });
  assert.deepEqual(page.pageErrors, []);
});

test("the demo tool server is listed with its tools, annotations and safety class", async () => {
  const page = await openApp(browser, server);
  await openTools(page);
  await page.locator('[data-server="demo-tools"]').click();
  const tools = page.getByRole("region", { name: "Tools of demo-tools" });
  const email = tools.getByRole("link", { name: /send_email/ });
  await email.waitFor({ timeout: 30000 });
  await email.getByText("at most once").waitFor();
  await email.getByText("destructive", { exact: true }).waitFor();
  await tools.getByText("Look up an order in the shop's order table").waitFor();
  await page.locator('[data-server="demo-tools"]').getByText("connected", { exact: true }).waitFor();
  await email.click();
  const detail = page.getByRole("region", { name: "Tool", exact: true });
  await detail.getByRole("heading", { name: "send_email" }).waitFor();
  await detail.getByLabel("to", { exact: true }).waitFor();
  await detail.getByText("Recipient address.", { exact: true }).waitFor();
  await screenshot(page, "tools-demo");

  // Nullable integers ("type": ["integer", "null"]): not sent, a number, null, omitted again.
  await tools.getByRole("link", { name: /configure_faults/ }).click();
  await detail.getByRole("heading", { name: "configure_faults" }).waitFor();
  const form = detail.getByRole("region", { name: "Try it" });
  const preview = form.getByTestId("args-preview");
  const args = async () => JSON.parse(await preview.textContent());
  await form.getByLabel("tool", { exact: true }).fill("lookup_order");
  await form.getByLabel("error_next", { exact: true }).fill("3");
  await until(async () => (await args()).error_next === 3, { what: "error_next: 3 in the preview" });
  await form.getByRole("button", { name: "Set error_next to null" }).click();
  await until(async () => (await args()).error_next === null, { what: "error_next: null in the preview" });
  await form.getByLabel("fail_next", { exact: true }).fill("1.5");
  await form.locator('[data-field="fail_next"]').getByText("not of type integer").waitFor();
  await form.getByRole("button", { name: "Do not send fail_next" }).click();
  await until(async () => {
    const a = await args();
    return !("fail_next" in a) && a.tool === "lookup_order" && a.error_next === null;
  }, { what: "fail_next left out" });
  await form.getByText("passes the basic checks").waitFor();
  await screenshot(page, "tools-nullable");

  // A tool answering isError: true is shown as such (the demo server's injected fault).
  await form.getByLabel("fail_next", { exact: true }).fill("1");
  await form.getByRole("button", { name: "Call configure_faults" }).click();
  await detail.getByRole("region", { name: "Result" }).getByText("isError: false").waitFor();
  await tools.getByRole("link", { name: /lookup_order/ }).click();
  await detail.getByRole("heading", { name: "lookup_order" }).waitFor();
  await detail.getByLabel("order_id", { exact: true }).fill("A-1001");
  await detail.getByRole("button", { name: "Call lookup_order" }).click();
  await detail.getByRole("region", { name: "Result" }).getByRole("alert").getByText("isError: true").waitFor();
  await screenshot(page, "tools-is-error");
  assert.deepEqual(page.pageErrors, []);
});

test("import a Claude Desktop config after reviewing each server's command line", async () => {
  const page = await openApp(browser, server);
  await openTools(page);
  await page.getByRole("button", { name: "Import a config" }).click();
  const dialog = page.getByRole("dialog", { name: "Import MCP servers from a config" });
  const config = {
    mcpServers: {
      memory: { command: "node", args: [MEMORY], env: { MEMORY_FILE_PATH: join(server.home, "memory.json") } },
      "not-this-one": { command: "node", args: ["/nonexistent/server.js"] },
    },
  };
  await dialog.getByLabel("Config").fill(JSON.stringify(config, null, 2));
  await dialog.getByRole("button", { name: "Review servers" }).click();
  const commands = dialog.getByTestId("import-command");
  await commands.first().waitFor();
  const lines = await commands.allTextContents();
  assert.ok(lines.some((l) => l.startsWith(`node ${MEMORY}`) && l.includes("MEMORY_FILE_PATH=***")), `command shown with the secret masked: ${lines}`);
  assert.ok(lines.some((l) => l.includes("/nonexistent/server.js")));
  // Nothing is saved before consent.
  const before = (await server.api("mcp_list")).servers.map((s) => s.name).sort();
  assert.ok(!before.includes("memory") && !before.includes("not-this-one"));
  await screenshot(page, "tools-import-consent");
  await dialog.getByLabel("Import not-this-one").uncheck();
  await dialog.getByRole("button", { name: "Import 1 server" }).click();
  await dialog.waitFor({ state: "detached" });

  const names = (await server.api("mcp_list")).servers.map((s) => s.name).sort();
  assert.deepEqual(names, [...before, "memory"].sort(), "only the ticked server is imported");
  await page.locator('[data-server="memory"]').waitFor();
  const tools = page.getByRole("region", { name: "Tools of memory" });
  await tools.getByRole("link", { name: /create_entities/ }).waitFor({ timeout: 30000 });
  await page.locator('[data-server="memory"]').getByText("connected", { exact: true }).waitFor();
  await screenshot(page, "tools-imported");

  // Arrays of objects holding arrays, through the form (no JSON fallback at this depth).
  await tools.getByRole("link", { name: /create_entities/ }).click();
  const detail = page.getByRole("region", { name: "Tool", exact: true });
  const form = detail.getByRole("region", { name: "Try it" });
  await form.getByRole("button", { name: "Send a list for entities" }).click();
  await form.getByRole("button", { name: "+ Add item to entities" }).click();
  await form.getByLabel("name", { exact: true }).fill("Ada");
  await form.getByLabel("entityType", { exact: true }).fill("person");
  await form.getByRole("button", { name: "Send a list for observations" }).click();
  await form.getByRole("button", { name: "+ Add item to observations" }).click();
  await form.getByLabel("observations[0]", { exact: true }).fill("wrote the first program");
  const preview = form.getByTestId("args-preview");
  const expected = { entities: [{ name: "Ada", entityType: "person", observations: ["wrote the first program"] }] };
  await until(async () => isDeepStrictEqual(JSON.parse(await preview.textContent()), expected), { what: "nested arguments in the preview" });
  await form.getByRole("button", { name: "Call create_entities" }).click();
  const result = detail.getByRole("region", { name: "Result" });
  await result.getByText("isError: false").waitFor();
  await result.getByText(/wrote the first program/).first().waitFor();
  await screenshot(page, "tools-nested-form");
  assert.deepEqual(page.pageErrors, []);
});

test("a server that fails shows its error, and removing asks first", async () => {
  await server.api("mcp_add", { name: "broken", command: "node", args: ["/nonexistent/broken.js"], env: {}, headers: {} });
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/tools/broken");
  const alert = page.getByRole("region", { name: "Server", exact: true }).getByRole("alert").first();
  await alert.waitFor({ timeout: 30000 });
  await page.locator('[data-server="broken"]').getByText("failed", { exact: true }).waitFor();
  await screenshot(page, "tools-failed-server");
  await page.getByRole("button", { name: "Remove" }).click();
  const confirm = page.getByRole("dialog", { name: "Remove broken?" });
  await confirm.getByRole("button", { name: "Remove server" }).click();
  await confirm.waitFor({ state: "detached" });
  await page.locator('[data-server="broken"]').waitFor({ state: "detached" });
  assert.ok(!(await server.api("mcp_list")).servers.some((s) => s.name === "broken"));
});

async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

test("add an HTTP server with a secret header; a bad URL is refused on its field", async () => {
  const port = await freePort();
  const child = spawn("node", [EVERYTHING, "streamableHttp"], { env: { ...process.env, PORT: String(port) }, stdio: "ignore" });
  try {
    await until(() => fetch(`http://127.0.0.1:${port}/mcp`, { method: "GET" }).then(() => true, () => false), { what: "server-everything over HTTP" });
    const page = await openApp(browser, server);
    await openTools(page);
    await page.getByRole("button", { name: "Add server" }).click();
    const dialog = page.getByRole("dialog", { name: "Add an MCP server" });
    await dialog.getByLabel("HTTP URL (Streamable HTTP)").check();
    await dialog.getByLabel("Name", { exact: true }).fill("everything-http");
    const url = dialog.getByLabel("URL", { exact: true });
    await url.fill("ftp://127.0.0.1/mcp");
    await dialog.getByRole("button", { name: "Add server" }).click();
    await dialog.getByText("the URL must start with http:// or https://").waitFor();
    assert.equal(await url.getAttribute("aria-invalid"), "true");
    await url.fill(`http://127.0.0.1:${port}/mcp`);
    await dialog.getByRole("button", { name: "Add header" }).click();
    await dialog.getByLabel("Header 1 name").fill("X-Api-Key");
    await dialog.getByLabel("Header 1 value (secret)").fill("very-secret-value");
    await dialog.getByRole("button", { name: "Add server" }).click();
    await dialog.waitFor({ state: "detached" });
    const tools = page.getByRole("region", { name: "Tools of everything-http" });
    await tools.getByRole("link", { name: /get-sum/ }).waitFor({ timeout: 30000 });
    await page.locator('[data-server="everything-http"]').getByText("connected", { exact: true }).waitFor();
    const pane = page.getByRole("region", { name: "Server", exact: true });
    await pane.getByText("X-Api-Key", { exact: true }).waitFor();
    assert.ok(!(await page.content()).includes("very-secret-value"), "the header's value is never shown");
    await screenshot(page, "tools-http-server");
  } finally {
    child.kill();
  }
});

test("with no servers the page says what to do next", async () => {
  const fresh = await startServer();
  try {
    for (const s of (await fresh.api("mcp_list")).servers) await fresh.api("mcp_remove", { server: s.name });
    const page = await openApp(browser, fresh, { colorScheme: "dark" });
    await openTools(page);
    await page.getByText("No MCP servers yet.").waitFor();
    await page.getByRole("button", { name: "Add a server" }).click();
    await page.getByRole("dialog", { name: "Add an MCP server" }).waitFor();
    await page.keyboard.press("Escape");
    await page.getByRole("button", { name: "Import a config" }).first().waitFor();
    await screenshot(page, "tools-empty-dark");
  } finally {
    await fresh.stop();
  }
});

test("import a VS Code mcp.json file (comments, inputs) narrowed to the ticked server", async () => {
  const page = await openApp(browser, server);
  await openTools(page);
  await page.getByRole("button", { name: "Import a config" }).click();
  const dialog = page.getByRole("dialog", { name: "Import MCP servers from a config" });
  const text = `{
  // VS Code keeps comments in mcp.json
  "inputs": [{ "id": "token", "type": "promptString", "description": "API token", "password": true }],
  "servers": {
    "memory-vscode": { "type": "stdio", "command": "node", "args": ["${MEMORY}"], "env": { "API_TOKEN": "\${input:token}" } },
    "skip-me": { "type": "http", "url": "http://127.0.0.1:9/mcp" },
  },
}`;
  await dialog.getByLabel("Or choose a file").setInputFiles({ name: "mcp.json", mimeType: "application/json", buffer: Buffer.from(text) });
  await dialog.getByText("Loaded mcp.json").waitFor();
  await dialog.getByRole("button", { name: "Review servers" }).click();
  await dialog.getByText("http://127.0.0.1:9/mcp").waitFor();
  await dialog.getByText(/These inputs have no value/).waitFor();
  await dialog.getByLabel("Import skip-me").uncheck();
  await dialog.getByRole("button", { name: "Import 1 server" }).click();
  await dialog.waitFor({ state: "detached" });
  await page.locator('[data-server="memory-vscode"]').waitFor();
  const names = (await server.api("mcp_list")).servers.map((s) => s.name);
  assert.ok(names.includes("memory-vscode") && !names.includes("skip-me"), names.join(", "));
});
