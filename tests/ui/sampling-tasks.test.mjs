// A server's requests of the agent on the run page. Sampling: the demo tool server's
// summarize_order asks the agent's model (a loopback OpenAI-compatible server) for a one-sentence
// summary; the run waits on the request's approval, whose card shows who asks which model during
// which call, the messages, the token cap and the tools offered; approved, the model step nested
// in the call answers it (its tokens counted) and the tool's answer carries the summary; rejected
// with a reason, the tool's answer says a person refused. Tasks: build_report runs as an MCP task
// on the demo server over HTTP; the call says so, its poll step shows the task's status messages
// while it runs; a task the server forgets is explained, and the call made again.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startServer, startOpenAiServer, launchBrowser, openApp, screenshot, until, stepRow as row, runStatusOf as statusOf, WAYMARK } from "./harness.mjs";

const DEMO_TOOLS = join(WAYMARK, "..", "waymark-demo-tools");
const SYSTEM = "You write one-sentence order summaries.";
const APPROVAL = "sample/1.1/r1.1/approval";

let server, browser, model, reportsUrl, demo;
before(async () => {
  // The agent's model: a sampling request (its system prompt is the demo server's) gets the
  // summary; the agent's own turns call summarize_order once, then finish.
  model = await startOpenAiServer((body) => {
    if (String(body.messages?.[0]?.content ?? "").includes("one-sentence order summaries")) return { content: "A-1001 ships on Monday." };
    const turn = body.messages.filter((m) => m.role === "assistant").length;
    if (turn === 0) return { tool_calls: [{ id: "c1", type: "function", function: { name: "summarize_order", arguments: JSON.stringify({ order_id: "A-1001" }) } }] };
    return { content: "finished" };
  });
  server = await startServer();
  browser = await launchBrowser();
  // Over stdio the demo server answers 2026-07-28: its request comes back as input_required and
  // the run waits on a journaled step between the call's rounds.
  await server.api("mcp_add", { name: "shop", command: WAYMARK, args: ["demo-tools"], env: {}, headers: {} });
  await server.api("agents_save", {
    spec: {
      name: "summarizer",
      instructions: "Summarize the order.",
      model: { provider: "openai", model: "gpt-4o-mini", base_url: model.base },
      tools: [{ kind: "mcp", server: "shop", tools: ["summarize_order"] }],
    },
  });
  // Over HTTP it keeps its tasks in memory across connections.
  demo = spawn(DEMO_TOOLS, ["--http", "127.0.0.1:0"], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  let stderr = "";
  demo.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  reportsUrl = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`demo-tools printed no URL; stderr:\n${stderr}`)), 30000);
    createInterface({ input: demo.stdout }).once("line", (line) => {
      clearTimeout(timer);
      ok(line.trim());
    });
    demo.on("exit", (code) => fail(new Error(`demo-tools exited (${code}); stderr:\n${stderr}`)));
  });
  await server.api("mcp_add", { name: "reports", url: reportsUrl });
});
after(async () => {
  demo?.kill("SIGKILL");
  await browser?.close();
  await server?.stop();
  await model?.close();
});

async function openRun(run_id, step) {
  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${run_id}${step ? `?step=${encodeURIComponent(step)}` : ""}`);
  return page;
}

async function untilStatus(page, status, timeout = 30000) {
  await until(async () => (await statusOf(page)) === status, { timeout, what: `the run to be ${status} on the page` });
}

/** The text of the step's output the inspector shows, once `key` is selected. */
async function selectRow(page, key) {
  await row(page, key).click();
  await page.getByTestId("inspector").getByRole("heading", { name: key }).waitFor();
  return page.getByTestId("inspector");
}

test("a server's sampling request: its card shows the messages; approved, the model answers and the tool gets the summary", async () => {
  const { run_id } = await server.api("runs_start", { agent: "summarizer", input: "Summarize order A-1001" });
  const page = await openRun(run_id);
  const card = page.locator(`[data-testid=sampling-card][data-step="${APPROVAL}"]`);
  await card.waitFor({ timeout: 30000 });
  await untilStatus(page, "waiting");
  assert.equal(await card.getByTestId("sampling-title").textContent(), "shop asks the agent's model (gpt-4o-mini) for a completion during summarize_order");
  const messages = card.getByTestId("sampling-message");
  assert.equal(await messages.count(), 2);
  assert.equal(await messages.nth(0).getAttribute("data-role"), "system");
  assert.equal(await messages.nth(0).locator(".sampling-text").textContent(), SYSTEM);
  assert.equal(await messages.nth(1).getAttribute("data-role"), "user");
  assert.match(await messages.nth(1).locator(".sampling-text").textContent(), /^Summarize this order for the customer: \{"order_id":"A-1001"/);
  assert.equal(await card.getByTestId("sampling-max-tokens").textContent(), "200");
  assert.equal(await card.getByTestId("sampling-tools").textContent(), "none");
  // The timeline: the call needed input, the approval says what is asked and waits.
  await row(page, "tool/1.1").getByText("needs input").waitFor();
  // (The row's room goes to its Approve / Reject buttons: the label may be cut, its title is whole.)
  assert.equal(await row(page, APPROVAL).locator(".step-label").getAttribute("title"), "shop asks gpt-4o-mini for a completion during summarize_order");
  const inspector = await selectRow(page, "tool/1.1");
  await inspector.getByText(/it asked the agent's model for a completion \(sampling\)/).waitFor();
  await screenshot(page, "sampling-card");

  // The row's Approve opens the confirm dialog with the request, not a tool call's arguments.
  await row(page, APPROVAL).getByTestId("row-approve").click();
  const dialog = page.getByRole("dialog", { name: "Approve this request?" });
  await dialog.getByTestId("sampling-request").waitFor();
  await dialog.getByText("gpt-4o-mini is sent these messages for shop; its answer goes to the server.").waitFor();
  await dialog.getByRole("button", { name: "Back" }).click();
  await dialog.waitFor({ state: "detached" });

  // Approve on the card, asked once more.
  await card.getByTestId("sampling-approve").click();
  await card.getByRole("group", { name: "Approve the request?" }).waitFor();
  assert.equal(model.requests.filter((r) => r.body.messages?.[0]?.content === SYSTEM).length, 0, "nothing sent to the model before the approval");
  await card.getByTestId("sampling-confirm-approve").click();
  await untilStatus(page, "succeeded");
  assert.equal(await page.getByTestId("sampling-card").count(), 0, "the card goes once decided");
  const asked = model.requests.filter((r) => r.body.messages?.[0]?.content === SYSTEM);
  assert.equal(asked.length, 1, "the model was asked once");
  assert.equal(asked[0].body.max_tokens, 200);

  // The model step answering it: labelled for the server's call, with its tokens.
  const sample = row(page, "sample/1.1/r1.1");
  await sample.getByText("sampling for shop/summarize_order: openai gpt-4o-mini").waitFor();
  let facts = await selectRow(page, "sample/1.1/r1.1");
  await facts.getByTestId("sampling-for").getByText(/^Sampling for shop\/summarize_order/).waitFor();
  await facts.getByText("100 in · 20 out").waitFor();
  assert.equal(await facts.getByTestId("model-answer").textContent(), "A-1001 ships on Monday.");
  await facts.getByRole("link", { name: APPROVAL }).waitFor();
  await screenshot(page, "sampling-model-step");
  // Three model calls in the run's totals: the agent's two and the sampling one.
  assert.equal(await page.getByTestId("total-tokens").textContent(), "360");

  // The tool's second round carries the model's summary.
  facts = await selectRow(page, "tool/1.1/round-2");
  await facts.getByText("Summary (gpt-4o-mini): A-1001 ships on Monday.").first().waitFor();
  // The approval says how it was decided.
  facts = await selectRow(page, APPROVAL);
  assert.match(await facts.getByTestId("sampling-decision").textContent(), /^Approved by .+: the model was asked\.$/);
  await facts.getByRole("link", { name: "sample/1.1/r1.1" }).waitFor();
  assert.deepEqual(page.pageErrors, []);
});

test("a sampling request rejected with a reason: the model is not asked and the tool says a person refused", async () => {
  const before = model.requests.length;
  const { run_id } = await server.api("runs_start", { agent: "summarizer", input: "Summarize order A-1001" });
  const page = await openRun(run_id);
  const card = page.locator(`[data-testid=sampling-card][data-step="${APPROVAL}"]`);
  await card.waitFor({ timeout: 30000 });
  await card.getByTestId("sampling-reject").click();
  // Back keeps the request; the reason goes with the rejection.
  await card.getByRole("group", { name: "Reject the request?" }).getByRole("button", { name: "Back" }).click();
  await card.getByTestId("sampling-reject").click();
  await card.getByTestId("sampling-reason").fill("not for this customer");
  await screenshot(page, "sampling-reject");
  await card.getByTestId("sampling-confirm-reject").click();
  await untilStatus(page, "succeeded");
  const sent = model.requests.slice(before);
  assert.equal(sent.filter((r) => r.body.messages?.[0]?.content === SYSTEM).length, 0, "the model was not asked");
  assert.equal(await row(page, "sample/1.1/r1.1").count(), 0, "no sampling model step");

  let facts = await selectRow(page, "tool/1.1/round-2");
  await facts.getByText(/a person refused the request: not for this customer/).first().waitFor();
  facts = await selectRow(page, APPROVAL);
  assert.match(await facts.getByTestId("sampling-decision").textContent(), /^Rejected by .+: the server was told a person refused the request: “not for this customer”$/);
  const got = await server.api("runs_get", { run_id });
  assert.equal(got.steps.find((s) => s.key === APPROVAL).output.payload.reason, "not for this customer");
  assert.deepEqual(page.pageErrors, []);
});

/** Saves agent `name` (scripted: one call of build_report with `args`, then "Done."). */
async function reportAgent(name, args, tool_overrides = {}) {
  const script = join(server.home, `${name}.json`);
  writeFileSync(script, JSON.stringify({ turns: [{ tool_calls: [{ id: "c1", name: "build_report", arguments: args }] }, { text: "Done." }] }));
  await server.api("agents_save", {
    spec: { name, instructions: "Build the report.", model: { provider: "scripted", script }, tools: [{ kind: "mcp", server: "reports", tools: ["build_report"] }], tool_overrides },
  });
}

/** Starts a run of `agent`, and has the demo server forget its tasks while the run polls one. */
async function forgetTaskOf(agent) {
  const { run_id } = await server.api("runs_start", { agent, input: "Build the report" });
  await until(async () => (await server.api("runs_get", { run_id })).steps.some((s) => s.key === "tool/1.1/task" && s.status === "running"), { what: "the task to be polled" });
  const resp = await fetch(new URL("/admin/expire-tasks", reportsUrl), { method: "POST" });
  assert.ok((await resp.json()).expired >= 1);
  return run_id;
}

/** Records every task status message the timeline shows on a running step (a MutationObserver,
 * so a message shown between two looks is not missed). */
async function recordLiveMessages(page) {
  await page.addInitScript(() => {
    window.__liveMessages = [];
    new MutationObserver(() => {
      for (const el of document.querySelectorAll("[data-testid=step-live-message]")) {
        const key = el.closest("[data-testid=step-row]")?.getAttribute("data-key");
        const text = `${key}: ${el.textContent}`;
        if (window.__liveMessages.at(-1) !== text && !window.__liveMessages.includes(text)) window.__liveMessages.push(text);
      }
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
}

test("a call the server runs as a task: the call says so, its poll shows the status messages while it runs", async () => {
  await reportAgent("reporter", { steps: 15, step_ms: 100 });
  const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await recordLiveMessages(page);
  await page.goto(server.link);
  await page.locator('nav[aria-label="Sections"]').waitFor();
  const { run_id } = await server.api("runs_start", { agent: "reporter", input: "Build the report" });
  await page.goto(`${server.base}/#/runs/${run_id}?step=${encodeURIComponent("tool/1.1/task")}`);
  const inspector = page.getByTestId("inspector");
  // While the task runs, its poll is selected (from the URL) and shows the latest status.
  const status = inspector.getByTestId("task-status-message");
  await status.waitFor({ timeout: 30000 });
  await untilStatus(page, "succeeded");
  const seen = await page.evaluate(() => window.__liveMessages);
  const steps = seen.filter((t) => /^tool\/1\.1\/task: step \d+ of 15$/.test(t)).map((t) => Number(/step (\d+)/.exec(t)[1]));
  assert.ok(steps.length >= 2, `the poll's row showed the task's status messages as it ran: ${JSON.stringify(seen)}`);
  assert.ok(steps.some((k) => k > 0 && k < 15), `a message from the middle of the task: ${JSON.stringify(seen)}`);
  assert.deepEqual([...steps].sort((a, b) => a - b), steps, "the messages advance");

  // Finished: the poll's last status, the result as its output.
  await until(async () => /step 15 of 15/.test(await status.textContent()), { what: "the last status" });
  await inspector.getByText("Last status").waitFor();
  await inspector.getByText(/report complete after 15 steps/).first().waitFor();
  await row(page, "tool/1.1/task").locator(".task-badge").getByText("task", { exact: true }).waitFor();

  // The call runs as the task whose handle it journaled.
  const got = await server.api("runs_get", { run_id });
  const taskId = got.steps.find((s) => s.key === "tool/1.1").output.task.task_id;
  const badge = row(page, "tool/1.1").getByTestId("runs-as-task");
  assert.equal(await badge.textContent(), "runs as task");
  assert.match(await badge.getAttribute("title"), new RegExp(`task ${taskId}`));
  await selectRow(page, "tool/1.1");
  await inspector.getByText(/^Runs as task/).waitFor();
  assert.equal(await inspector.getByTestId("task-id").textContent(), taskId);
  await inspector.getByRole("list", { name: "Polls of the task" }).getByRole("link", { name: "tool/1.1/task" }).waitFor();
  await screenshot(page, "task-call");
  assert.deepEqual(errors, []);
});

test("a task the server forgets: the poll explains it, and the call is made again", async () => {
  await reportAgent("forgetful", { steps: 30, step_ms: 100 });
  const run_id = await forgetTaskOf("forgetful");
  const page = await openRun(run_id);
  await untilStatus(page, "succeeded");
  await row(page, "tool/1.1/task").getByText("task lost").waitFor();
  await row(page, "tool/1.1/again-1").getByText("made again").waitFor();
  await row(page, "tool/1.1/again-1").getByTestId("runs-as-task").waitFor();
  const inspector = await selectRow(page, "tool/1.1/task");
  const lost = inspector.getByTestId("task-lost");
  await lost.getByText("The server no longer knows this task").waitFor();
  await lost.getByText(/safe to repeat, so it was made again/).waitFor();
  await lost.getByRole("link", { name: "tool/1.1/again-1" }).waitFor();
  await inspector.getByText("mcp_task_lost").first().waitFor();
  await screenshot(page, "task-lost");
  await selectRow(page, "tool/1.1/again-1");
  await inspector.getByText(/The call made again: the server no longer knew the task of/).waitFor();
  await selectRow(page, "tool/1.1/again-1/task");
  await inspector.getByText(/report complete after 30 steps/).first().waitFor();
  assert.deepEqual(page.pageErrors, []);
});

test("a task the server forgets, of a call not safe to repeat: a person decides, and the banner says why", async () => {
  await reportAgent("careful", { steps: 30, step_ms: 100 }, { build_report: { safety: "at_most_once" } });
  const run_id = await forgetTaskOf("careful");
  const page = await openRun(run_id);
  await untilStatus(page, "needs_attention");
  const banner = page.getByRole("region", { name: "Step tool/1.1/task-lost needs attention" });
  await banner.getByText(/the server no longer knows the task of the call to/).waitFor();
  await row(page, "tool/1.1/task-lost").getByText("task lost").waitFor();
  await banner.getByTestId("resolve-done").waitFor();
  const inspector = await selectRow(page, "tool/1.1/task");
  await inspector.getByTestId("task-lost").getByText(/not safe to repeat, so a person decides/).waitFor();
  await selectRow(page, "tool/1.1/task-lost");
  await inspector.getByTestId("task-facts").getByText(/The server no longer knows the task of/).waitFor();
  await screenshot(page, "task-lost-attention");
  // The person chooses to make the call again: a new call (and task), and the run goes on.
  await banner.getByTestId("resolve-retry").getByText("Make the call again").click();
  await page.getByRole("dialog").getByRole("button", { name: "Retry anyway" }).click();
  await untilStatus(page, "succeeded");
  await row(page, "tool/1.1/again-1").waitFor();
  assert.deepEqual(page.pageErrors, []);
});
