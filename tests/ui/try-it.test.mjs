// The Tools page's try-it form as calls happen (mcp_call_start / status / answer / cancel),
// against the demo tool server over HTTP answering 2025-06-18: a slow report shows its progress
// advancing and is cancelled, and the server itself records that it was told; a refund's
// question is answered in place and the result says what was chosen; an answer that breaks the
// tool's output schema is shown with its structured content and says so.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startServer, launchBrowser, openApp, screenshot, until, WAYMARK } from "./harness.mjs";

const DEMO_TOOLS = join(WAYMARK, "..", "waymark-demo-tools");

let server, browser, demo, demoUrl;
before(async () => {
  demo = spawn(DEMO_TOOLS, ["--http", "127.0.0.1:0", "--protocol", "2025-06-18"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  let stderr = "";
  demo.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  demoUrl = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`demo-tools printed no URL; stderr:\n${stderr}`)), 30000);
    createInterface({ input: demo.stdout }).once("line", (line) => {
      clearTimeout(timer);
      ok(line.trim());
    });
    demo.on("exit", (code) => fail(new Error(`demo-tools exited (${code}); stderr:\n${stderr}`)));
  });
  server = await startServer();
  browser = await launchBrowser();
  await server.api("mcp_add", { name: "shop", url: demoUrl });
});
after(async () => {
  demo?.kill("SIGKILL");
  await browser?.close();
  await server?.stop();
});

/** The demo server's record of the tools/call requests it received. */
async function adminCalls() {
  const resp = await fetch(new URL("/admin/calls", demoUrl));
  return (await resp.json()).calls;
}

/** The try-it form of `tool` on the shop server, arguments typed as JSON. */
async function tryTool(page, tool, args) {
  await page.goto(`${server.base}/#/tools/shop/${tool}`);
  const detail = page.getByRole("region", { name: "Tool", exact: true });
  await detail.getByRole("heading", { name: tool }).waitFor({ timeout: 30000 });
  const form = detail.getByRole("region", { name: "Try it" });
  await form.getByRole("button", { name: "JSON", exact: true }).click();
  await form.getByLabel("Arguments (JSON)").fill(JSON.stringify(args));
  await form.getByText("passes the basic checks").waitFor();
  await form.getByRole("button", { name: `Call ${tool}` }).click();
  return form;
}

test("a slow call shows its progress, and Cancel tells the server", async () => {
  const page = await openApp(browser, server);
  const sent = [];
  page.on("request", (r) => {
    const m = /\/api\/v1\/(mcp_call\w*)$/.exec(r.url());
    if (m) sent.push(m[1]);
  });
  const form = await tryTool(page, "slow_report", { steps: 300, step_ms: 100 });
  const progress = form.getByTestId("call-progress");
  const message = progress.getByTestId("call-progress-message");
  await message.waitFor({ timeout: 30000 });
  const first = await message.textContent();
  assert.match(first, /^step \d+ of 300$/);
  // The messages advance while the call runs, and the bar follows them.
  await until(async () => {
    const now = await message.textContent();
    return now !== first && Number(/step (\d+)/.exec(now)[1]) > Number(/step (\d+)/.exec(first)[1]);
  }, { what: "the progress message to advance" });
  const bar = progress.getByRole("progressbar", { name: "Progress" });
  assert.equal(await bar.getAttribute("max"), "300");
  assert.match(await progress.getByTestId("call-state").textContent(), /^Running/);
  assert.match(await progress.getByTestId("call-elapsed").textContent(), /\d/);
  await screenshot(page, "try-it-progress");

  await progress.getByTestId("call-cancel").click();
  await until(async () => (await progress.getByTestId("call-state").textContent()) === "cancelled — the server was told", { what: "the call to show cancelled" });
  assert.equal(await progress.getByTestId("call-cancel").count(), 0, "no Cancel once cancelled");
  assert.equal(await form.getByRole("region", { name: "Result" }).count(), 0);
  // The server took notifications/cancelled for the call.
  await until(async () => (await adminCalls()).some((c) => c.tool === "slow_report" && c.cancelled === true), { what: "the demo server to record slow_report cancelled" });
  await screenshot(page, "try-it-cancelled");
  assert.ok(sent.includes("mcp_call_start") && sent.includes("mcp_call_status") && sent.includes("mcp_call_cancel"), `the hand-call commands: ${sent}`);
  assert.ok(!sent.includes("mcp_call"), "the waiting mcp_call is not used");
  // The call can be made again afterwards.
  assert.equal(await form.getByRole("button", { name: "Call slow_report" }).isDisabled(), false);
  assert.deepEqual(page.pageErrors, []);
});

test("a server's question during the call is answered in place", async () => {
  const page = await openApp(browser, server);
  const answers = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/mcp_call_answer")) answers.push(r.postDataJSON());
  });
  const form = await tryTool(page, "confirm_refund", { order_id: "A-1001", amount_cents: 990 });
  const question = form.getByTestId("call-question");
  await question.waitFor({ timeout: 30000 });
  assert.equal(await question.getByTestId("elicitation-message").textContent(), "Refund 9.90 on order A-1001?");
  await question.getByText("shop asks").waitFor();
  assert.equal(await form.getByTestId("call-state").textContent(), "The server asks you something");
  // The same form as a run's question card: the schema's defaults, its choices.
  const channel = question.getByLabel("Tell the customer by");
  assert.equal(await channel.inputValue(), "email");
  assert.equal(await question.getByLabel("Approve the refund").isChecked(), true);
  await screenshot(page, "try-it-question");
  await channel.selectOption("phone");
  await question.getByTestId("elicitation-accept").click();

  const result = form.getByRole("region", { name: "Result" });
  await result.getByText("refund of 9.90 approved for A-1001 by channel phone").first().waitFor({ timeout: 30000 });
  await result.getByText("isError: false").waitFor();
  assert.equal(await form.getByTestId("call-question").count(), 0, "the question goes with the call");
  assert.equal(answers.length, 1);
  assert.equal(answers[0].action, "accept");
  assert.deepEqual(answers[0].content, { approve: true, channel: "phone" });
  assert.equal(typeof answers[0].question_id, "string");
  await screenshot(page, "try-it-answered");
  assert.deepEqual(page.pageErrors, []);
});

test("an answer that breaks the output schema shows its structured content and says so", async () => {
  const page = await openApp(browser, server);
  let form = await tryTool(page, "lookup_order", { order_id: "A-1001" });
  let result = form.getByRole("region", { name: "Result" });
  // A good answer first: it matches.
  await result.getByTestId("output-check").waitFor({ timeout: 30000 });
  assert.equal(await result.getByTestId("output-check").getAttribute("data-valid"), "true");
  await result.getByText("matches the tool's output schema").waitFor();

  form = await tryTool(page, "configure_faults", { tool: "lookup_order", invalid_data: true });
  await form.getByRole("region", { name: "Result" }).getByText("isError: false").waitFor({ timeout: 30000 });
  form = await tryTool(page, "lookup_order", { order_id: "A-1001" });
  result = form.getByRole("region", { name: "Result" });
  const check = result.getByTestId("output-check");
  await check.waitFor({ timeout: 30000 });
  assert.equal(await check.getAttribute("data-valid"), "false");
  assert.match(await check.textContent(), /breaks the output schema: .+/);
  const structured = result.getByTestId("structured-content");
  const shown = JSON.parse(await structured.locator("pre").textContent());
  assert.deepEqual(shown, { unexpected: "{not json" });
  // Pretty-printed: one key per line.
  assert.match(await structured.locator("pre").textContent(), /^\{\n {2}"unexpected": /);
  await result.getByText("{not json", { exact: true }).waitFor();
  await screenshot(page, "try-it-output-schema");
  assert.deepEqual(page.pageErrors, []);
});
