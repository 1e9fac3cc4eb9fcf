// The Runs and Run pages as a new user meets them: run the demo agent from the empty list, watch
// its steps appear live, open the retried step (failed attempt's error, successful attempt's
// output), approve the email, see the run succeed; settle a step that needs attention; fork a
// run with an edited tool output and land on the new run.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startServer, launchBrowser, openApp, screenshot, until, stepRow as row, runStatusOf as statusOf } from "./harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const runIdOf = (page) => /#\/runs\/([^?]+)/.exec(page.url())?.[1];

let demoRun = null;

test("run the demo agent, watch it live, inspect the retry, approve the email", async () => {
  const page = await openApp(browser, server);
  await page.getByTestId("run-demo").waitFor();
  await screenshot(page, "runs-empty");
  await page.getByTestId("run-demo").click();
  assert.equal(await page.getByTestId("start-run-agent").inputValue(), "demo-support");
  assert.match(await page.getByTestId("start-run-input").inputValue(), /order A-1001/);
  await page.getByTestId("start-run-submit").click();
  await page.waitForURL(/#\/runs\/[0-9a-f-]+/);
  demoRun = runIdOf(page);

  // Steps appear live, up to the approval the run waits at.
  await row(page, "llm/1").waitFor();
  await row(page, "approval/4.1").waitFor({ timeout: 30000 });
  assert.equal(await statusOf(page), "waiting");
  assert.equal(await row(page, "approval/4.1").getAttribute("data-status"), "waiting");

  // The retried step: amber ×2; the first attempt's error and the successful attempt's output.
  const retried = row(page, "tool/1.1");
  assert.equal((await retried.locator(".badge.attempts").textContent()).trim(), "×2");
  await retried.click();
  assert.match(page.url(), /step=tool%2F1\.1|step=tool\/1\.1/);
  await page.getByTestId("attempt-tab-1").click();
  const error = page.getByTestId("attempt-error");
  await error.waitFor();
  assert.match(await error.textContent(), /mcp_rpc_error/);
  assert.match(await error.textContent(), /failed on purpose/);
  assert.match(await error.textContent(), /retryable/);
  await page.getByTestId("attempt-tab-2").click();
  const panel = page.getByTestId("attempt-panel");
  await until(async () => /Ada Lovelace/.test(await panel.textContent()), { what: "the successful attempt's output" });
  assert.equal(await page.getByTestId("attempt-error").count(), 0);
  await screenshot(page, "run-page");

  // Keyboard: ↓ moves the selection and loads the inspector.
  await page.getByTestId("timeline").focus();
  await page.keyboard.press("ArrowDown");
  await until(async () => /step=llm%2F2|step=llm\/2/.test(page.url()), { what: "↓ selects the next step" });
  await until(async () => (await page.locator(".inspector-title").textContent()) === "llm/2", { what: "inspector follows" });

  // The child run expands in place, loaded on demand.
  const child = row(page, "tool/3.2");
  await child.getByRole("button", { name: "Expand child run" }).click();
  await page.locator('[data-testid=step-row][aria-level="2"]').first().waitFor();

  // Approve the email.
  await row(page, "approval/4.1").click();
  await page.getByTestId("approve-step").click();
  await page.getByTestId("confirm-approve").click();
  await until(async () => (await statusOf(page)) === "succeeded", { timeout: 30000, what: "the run to succeed" });
  await row(page, "tool/4.1").waitFor();
  await row(page, "llm/5").waitFor();
  assert.notEqual(await page.getByTestId("total-tokens").textContent(), "–");
  const got = await server.api("runs_get", { run_id: demoRun });
  assert.equal(got.run.status, "succeeded");
  // The retried step expands into a sub-row per attempt; selecting one shows that attempt.
  await row(page, "tool/1.1").getByRole("button", { name: "Show attempts" }).click();
  const attempts = page.locator('[data-testid=attempt-row][data-key="tool/1.1"]');
  await until(async () => (await attempts.count()) === 2, { what: "two attempt rows" });
  await attempts.first().click();
  await until(async () => /failed on purpose/.test(await page.getByTestId("attempt-panel").textContent()), { what: "attempt 1's error" });
  await row(page, "tool/1.1").getByRole("button", { name: "Hide attempts" }).click();
  await until(async () => (await attempts.count()) === 0, { what: "attempt rows hidden" });

  // "Failures and retries only" keeps the retried step, hides the rest.
  await page.getByTestId("failed-only").check();
  await until(async () => (await row(page, "llm/1").count()) === 0, { what: "the filter hides clean steps" });
  assert.equal(await row(page, "tool/1.1").count(), 1);
  await page.getByTestId("failed-only").uncheck();
  await row(page, "llm/1").waitFor();
  await page.getByTestId("timeline").focus();
  await page.keyboard.press("Escape");
  await screenshot(page, "run-demo-succeeded");

  // The list shows it, linked.
  await page.goto(`${server.base}/#/runs`);
  await page.getByTestId("run-row").first().waitFor();
  assert.equal(await page.locator(".runs-table [data-status]").first().getAttribute("data-status"), "succeeded");
  await page.getByTestId("runs-search").fill("order A-1001");
  await until(async () => /q=order/.test(page.url()), { what: "the search in the URL" });
  await page.getByTestId("run-row").first().waitFor();
  await page.getByTestId("runs-search").fill("nothing like this");
  await page.getByText("No run matches these filters.").waitFor();
  await page.getByTestId("runs-search").fill("");
  await page.getByTestId("run-row").first().waitFor();
  await page.getByTestId("status-chip-failed").click();
  await page.getByText("No run matches these filters.").waitFor();
  await page.getByRole("button", { name: "Clear filters" }).click();
  await page.getByTestId("run-row").first().waitFor();
  await screenshot(page, "runs-list");
  assert.deepEqual(page.pageErrors, []);
});

test("a step that needs attention is settled through its banner", async () => {
  // send_email hangs; the agent's call times out in doubt: at_most_once, so a person decides.
  await server.api("mcp_call", { server: "demo-tools", tool: "configure_faults", arguments: { tool: "send_email", hang: true } });
  const dir = mkdtempSync(join(tmpdir(), "waymark-ui-script-"));
  const script = join(dir, "sender.json");
  writeFileSync(
    script,
    JSON.stringify({
      turns: [
        { tool_calls: [{ id: "c1", name: "send_email", arguments: { to: "ada@example.com", subject: "Order", body: "Shipped." } }] },
        { text: "Sent." },
      ],
    }),
  );
  await server.api("agents_save", {
    spec: {
      name: "sender",
      instructions: "You send emails.",
      model: { provider: "scripted", script },
      tools: [{ kind: "mcp", server: "demo-tools", tools: ["send_email"] }],
      tool_overrides: { send_email: { timeout_secs: 1 } },
    },
  });
  const { run_id } = await server.api("runs_start", { agent: "sender", input: "Email Ada." });
  await until(async () => (await server.api("runs_get", { run_id })).run.status === "needs_attention", { timeout: 60000, what: "needs_attention" });
  await server.api("mcp_call", { server: "demo-tools", tool: "configure_faults", arguments: { tool: "send_email", clear: true } });

  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${run_id}`);
  await until(async () => (await statusOf(page)) === "needs_attention", { what: "status shown" });
  // A needs-attention run opens on its first failure.
  await until(async () => /step=tool/.test(page.url()), { what: "opened on the failure" });
  assert.match(await page.getByTestId("failure-chip").textContent(), /1 needs attention/);
  const banner = page.getByTestId("resolve-banner").first();
  await banner.waitFor();
  await banner.getByTestId("resolve-done").click();
  await page.getByTestId("resolve-output").fill('{"content": "sent by hand", "is_error": false}');
  await screenshot(page, "run-resolve");
  await page.getByTestId("confirm-resolve").click();
  await until(async () => (await statusOf(page)) === "succeeded", { timeout: 30000, what: "the run to finish after resolving" });
  const got = await server.api("runs_get", { run_id });
  const step = got.steps.find((s) => s.key === "tool/1.1");
  assert.equal(step.status, "succeeded");
  assert.equal(step.output.content, "sent by hand");
  assert.equal(await page.getByTestId("resolve-banner").count(), 0);
  assert.deepEqual(page.pageErrors, []);
});

test("fork from a tool step with an edited output opens the new run, which links to its source", async () => {
  assert.ok(demoRun, "the demo run exists");
  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${demoRun}?step=tool%2F1.1`);
  await until(async () => (await page.locator(".inspector-title").textContent()) === "tool/1.1", { what: "inspector" });
  await page.getByTestId("fork-step").click();
  const edited = {
    content: JSON.stringify({ customer: "Ada Lovelace", email: "ada@example.com", order_id: "A-1001", status: "delayed" }),
    is_error: false,
  };
  await page.getByTestId("fork-output").fill(JSON.stringify(edited, null, 2));
  await page.locator(".fork-diff summary").click();
  assert.match(await page.getByTestId("fork-diff").textContent(), /\+ .*delayed/);
  await screenshot(page, "run-fork");
  await page.getByTestId("confirm-fork").click();
  await until(async () => runIdOf(page) && runIdOf(page) !== demoRun, { what: "the new run opens" });
  const forked = runIdOf(page);
  const source = page.getByTestId("forked-from");
  await source.waitFor();
  assert.equal(await source.locator("a").getAttribute("href"), `#/runs/${demoRun}?step=tool%2F1.1`);
  // The new run takes the edited output as the step's result and goes on to the approval.
  await row(page, "approval/4.1").waitFor({ timeout: 30000 });
  const got = await server.api("runs_get", { run_id: forked });
  assert.equal(got.run.forked_from, demoRun);
  assert.equal(got.steps.find((s) => s.key === "tool/1.1").output.content, edited.content);
  await row(page, "tool/1.1").click();
  await until(async () => /delayed/.test(await page.getByTestId("attempt-panel").textContent()), { what: "the edited output in the inspector" });
  await screenshot(page, "run-forked");
  assert.deepEqual(page.pageErrors, []);

  // The same page in the dark theme.
  const dark = await openApp(browser, server, { colorScheme: "dark" });
  await dark.goto(`${server.base}/#/runs/${demoRun}?step=tool%2F1.1`);
  await until(async () => (await dark.locator(".inspector-title").textContent()) === "tool/1.1", { what: "inspector (dark)" });
  await screenshot(dark, "run-page-dark");
  assert.deepEqual(dark.pageErrors, []);
});

test("? lists every key from the one keymap; 1–4 pick inspector tabs, never while typing", async () => {
  assert.ok(demoRun, "the demo run exists");
  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${demoRun}?step=tool%2F1.1`);
  await until(async () => (await page.locator(".inspector-title").textContent()) === "tool/1.1", { what: "inspector" });
  const help = page.getByTestId("key-help");
  await page.keyboard.press("?");
  await help.waitFor();
  const actions = await help.getByTestId("key-help-row").evaluateAll((rows) => rows.map((r) => r.getAttribute("data-action")));
  for (const a of ["next", "prev", "first", "last", "expand", "collapse", "open", "clear", "filter", "nextFailure", "prevFailure", "tab", "help"]) assert.ok(actions.includes(a), `help lists ${a}`);
  assert.match(await help.textContent(), /Inspector tab 1–4/);
  await screenshot(page, "run-key-help");
  await page.keyboard.press("?");
  await until(async () => (await help.count()) === 0, { what: "? closes the help" });
  await page.getByTestId("key-help-open").click();
  await help.waitFor();
  await page.keyboard.press("Escape");
  await until(async () => (await help.count()) === 0, { what: "Esc closes the help" });
  // From the focused timeline too; focus goes back to it.
  await page.getByTestId("timeline").focus();
  await page.keyboard.press("?");
  await help.waitFor();
  await page.keyboard.press("Escape");
  await until(async () => (await help.count()) === 0, { what: "Esc closes the help" });
  await until(async () => page.evaluate(() => document.activeElement?.getAttribute("data-testid") === "timeline"), { what: "focus back on the timeline" });

  // 1–4: the attempts, then Input; from the page and from the focused timeline.
  const selected = (id) => page.getByTestId(id).getAttribute("aria-selected");
  await page.keyboard.press("1");
  await until(async () => (await selected("attempt-tab-1")) === "true", { what: "1 picks attempt 1" });
  await until(async () => /failed on purpose/.test(await page.getByTestId("attempt-panel").textContent()), { what: "attempt 1's error" });
  await page.keyboard.press("3");
  await until(async () => (await selected("input-tab")) === "true", { what: "3 picks Input" });
  await page.getByTestId("timeline").focus();
  await page.keyboard.press("2");
  await until(async () => (await selected("attempt-tab-2")) === "true", { what: "2 picks attempt 2" });

  // Typing in the filter: the digits and ? are text, not keys.
  const filter = page.getByTestId("step-filter");
  await filter.focus();
  await page.keyboard.type("tool/1");
  await until(async () => (await filter.inputValue()) === "tool/1", { what: "the filter text" });
  assert.equal(await selected("attempt-tab-2"), "true");
  assert.doesNotMatch(page.url(), /attempt=1/);
  await page.keyboard.press("?");
  assert.equal(await filter.inputValue(), "tool/1?");
  assert.equal(await help.count(), 0);
  assert.deepEqual(page.pageErrors, []);
});

test("two attempts of a retried step are compared as a line diff of their error / output", async () => {
  assert.ok(demoRun, "the demo run exists");
  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${demoRun}?step=tool%2F1.1`);
  await until(async () => (await page.locator(".inspector-title").textContent()) === "tool/1.1", { what: "inspector" });
  const toggle = page.getByTestId("attempt-diff-toggle");
  const diff = page.getByTestId("attempt-diff");
  await toggle.click();
  await diff.waitFor();
  assert.equal(await toggle.getAttribute("aria-pressed"), "true");
  assert.equal(await page.getByTestId("attempt-diff-a").inputValue(), "1");
  assert.equal(await page.getByTestId("attempt-diff-b").inputValue(), "2");
  const removed = await diff.locator(".removed").allTextContents();
  const added = await diff.locator(".added").allTextContents();
  assert.ok(removed.some((l) => /failed on purpose/.test(l)), "attempt 1's error is removed");
  assert.ok(removed.some((l) => /mcp_rpc_error/.test(l)));
  assert.ok(added.some((l) => /Ada Lovelace/.test(l)), "attempt 2's output is added");
  await screenshot(page, "run-attempt-diff");
  // The same attempt on both sides: no difference.
  await page.getByTestId("attempt-diff-a").selectOption("2");
  await until(async () => (await diff.count()) === 0, { what: "no diff for one attempt" });
  await page.getByText("The two attempts ended the same way.").waitFor();
  await toggle.click();
  await until(async () => (await page.getByTestId("attempt-diff-a").count()) === 0, { what: "the toggle hides the diff" });
  // A step with one attempt has no toggle.
  await row(page, "llm/1").click();
  await until(async () => (await page.locator(".inspector-title").textContent()) === "llm/1", { what: "llm/1 inspected" });
  assert.equal(await toggle.count(), 0);
  assert.deepEqual(page.pageErrors, []);
});

test("an approval's timeline row carries Approve / Reject, each confirmed first", async () => {
  const { run_id } = await server.api("runs_start", { agent: "demo-support", input: "Where is order A-1001?" });
  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${run_id}`);
  const approval = row(page, "approval/4.1");
  await approval.getByTestId("row-approve").waitFor({ timeout: 30000 });
  assert.equal(await approval.getByTestId("row-reject").count(), 1);
  await screenshot(page, "run-row-approval");
  // Reject opens the confirm dialog (with its reason); Back closes it and nothing happens.
  await approval.getByTestId("row-reject").click();
  const dialog = page.getByRole("dialog");
  await page.getByTestId("reject-reason").waitFor();
  assert.equal(await page.getByTestId("confirm-reject").count(), 1);
  assert.match(await dialog.textContent(), /Reject this call\?/);
  await dialog.getByRole("button", { name: "Back" }).click();
  await until(async () => (await dialog.count()) === 0, { what: "the dialog to close" });
  assert.equal(await statusOf(page), "waiting");
  assert.equal((await server.api("runs_get", { run_id })).run.status, "waiting");
  // Approve: the same confirm as the inspector's, then the run goes on.
  await approval.getByTestId("row-approve").click();
  assert.match(await dialog.textContent(), /Approve this call\?/);
  await page.getByTestId("confirm-approve").click();
  await until(async () => (await statusOf(page)) === "succeeded", { timeout: 30000, what: "the run to succeed after the row's approve" });
  assert.equal(await page.getByTestId("row-approve").count(), 0);
  assert.deepEqual(page.pageErrors, []);
});

/** Saves a scripted agent (its model's turns written to a file the server reads). */
async function scripted(name, turns, tools, overrides = {}) {
  const dir = mkdtempSync(join(tmpdir(), "waymark-ui-script-"));
  const script = join(dir, `${name}.json`);
  writeFileSync(script, JSON.stringify({ turns }));
  await server.api("agents_save", {
    spec: { name, instructions: `You are ${name}.`, model: { provider: "scripted", script }, tools, tool_overrides: overrides },
  });
}

test("answer an agent's question from the run page; cancel a waiting run", async () => {
  await scripted(
    "asker",
    [{ tool_calls: [{ id: "c1", name: "ask_human", arguments: { question: "Which order do you mean?" } }] }, { text: "Thanks." }],
    [{ kind: "builtin", name: "ask_human" }],
  );
  const page = await openApp(browser, server);
  const { run_id } = await server.api("runs_start", { agent: "asker", input: "Where is my order?" });
  await page.goto(`${server.base}/#/runs/${run_id}`);
  await row(page, "tool/1.1").waitFor();
  await until(async () => (await row(page, "tool/1.1").getAttribute("data-status")) === "waiting", { what: "the question waits" });
  await row(page, "tool/1.1").click();
  await until(async () => (await page.getByTestId("question").textContent()) === "Which order do you mean?", { what: "the question shown" });
  await page.getByTestId("answer-text").fill("A-1001");
  await page.getByTestId("answer-submit").click();
  await until(async () => (await statusOf(page)) === "succeeded", { timeout: 30000, what: "the run to finish after the answer" });
  const got = await server.api("runs_get", { run_id });
  assert.equal(got.steps.find((s) => s.key === "tool/1.1").output.payload.text, "A-1001");

  const second = (await server.api("runs_start", { agent: "asker", input: "Again?" })).run_id;
  await page.goto(`${server.base}/#/runs/${second}`);
  await until(async () => (await statusOf(page)) === "waiting", { what: "the second run waits" });
  await page.getByTestId("cancel-run").click();
  await page.getByTestId("confirm-cancel").click();
  await until(async () => (await statusOf(page)) === "cancelled", { timeout: 30000, what: "the run to be cancelled" });
  assert.equal((await server.api("runs_get", { run_id: second })).run.status, "cancelled");
  assert.deepEqual(page.pageErrors, []);
});

test("a failed run opens on its failure; the failed step is retried in a new run", async () => {
  // The script ends after one tool call, so the second model call fails.
  await scripted("short", [{ tool_calls: [{ id: "c1", name: "recall", arguments: { query: "" } }] }], [{ kind: "builtin", name: "recall" }]);
  const { run_id } = await server.api("runs_start", { agent: "short", input: "x" });
  await until(async () => (await server.api("runs_get", { run_id })).run.status === "failed", { timeout: 30000, what: "the run to fail" });
  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${run_id}`);
  await until(async () => /step=llm/.test(page.url()), { what: "opened on the failed step" });
  assert.match(await page.getByTestId("failure-chip").textContent(), /1 failed/);
  await page.getByTestId("attempt-error").first().waitFor();
  // e jumps to the failure from anywhere.
  await page.getByTestId("timeline").focus();
  await page.keyboard.press("Home");
  await until(async () => !/step=llm%2F2|step=llm\/2/.test(page.url()), { what: "Home moves away" });
  await page.keyboard.press("e");
  await until(async () => /step=llm%2F2|step=llm\/2/.test(page.url()), { what: "e jumps to the failure" });
  await screenshot(page, "run-failed");
  await page.getByTestId("retry-step").click();
  await until(async () => runIdOf(page) && runIdOf(page) !== run_id, { what: "the retry opens a new run" });
  await page.getByTestId("forked-from").waitFor();
  const retried = await server.api("runs_get", { run_id: runIdOf(page) });
  assert.equal(retried.run.forked_from, run_id);
  assert.deepEqual(page.pageErrors, []);
});

test("the runs list shows a run whose step waits to retry as retrying", async () => {
  const page = await openApp(browser, server);
  await page.getByRole("heading", { name: "Runs" }).waitFor();
  // lookup_order fails three more times: the demo run backs off 0.3 s, 0.6 s, 1.2 s.
  await server.api("mcp_call", { server: "demo-tools", tool: "configure_faults", arguments: { tool: "lookup_order", error_next: 3 } });
  const { run_id } = await server.api("runs_start", { agent: "demo-support", input: "Retrying, please?" });
  // Read the list now rather than at its next refresh, so it follows the run from its start.
  await page.reload();
  await until(async () => (await page.locator('.runs-table [data-status="retrying"]').count()) > 0, { timeout: 20000, what: "retrying in the list" });
  await screenshot(page, "runs-retrying");
  await until(async () => (await server.api("runs_get", { run_id })).run.status === "waiting", { timeout: 30000, what: "the run to reach its approval" });
  assert.deepEqual(page.pageErrors, []);
});

test("a model step's answer streams into the inspector while the call runs", async () => {
  // A loopback OpenAI-compatible server that streams half the answer, then holds the stream
  // open until the test has seen the partial text in the page.
  let release;
  const held = new Promise((r) => (release = r));
  const words = "Order A-1001 has shipped and should arrive within two days".split(" ");
  const model = createServer(async (req, res) => {
    for await (const _ of req);
    res.writeHead(200, { "content-type": "text/event-stream" });
    const chunk = (delta, extra = {}) =>
      res.write(`data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, delta, finish_reason: null }], ...extra })}\n\n`);
    // Paced like a real model: the step writes its partial answer at most every 100 ms.
    for (const w of words.slice(0, 5)) {
      chunk({ content: w + " " });
      await new Promise((r) => setTimeout(r, 150));
    }
    chunk({ content: "" });
    await held;
    for (const w of words.slice(5)) chunk({ content: w + " " });
    res.write(`data: ${JSON.stringify({ id: "c", object: "chat.completion.chunk", created: 0, model: "m", choices: [{ index: 0, delta: {}, finish_reason: "stop" }], usage: { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 } })}\n\n`);
    res.end("data: [DONE]\n\n");
  });
  await new Promise((r) => model.listen(0, "127.0.0.1", r));
  try {
    await server.api("agents_save", {
      spec: { name: "streamer", instructions: "Answer.", model: { provider: "openai", model: "m", base_url: `http://127.0.0.1:${model.address().port}/v1` }, tools: [] },
    });
    const page = await openApp(browser, server);
    const { run_id } = await server.api("runs_start", { agent: "streamer", input: "When does my order arrive?" });
    await page.goto(`${server.base}/#/runs/${run_id}?step=llm%2F1`);
    const answer = page.getByTestId("model-answer");
    await until(async () => /has shipped/.test((await answer.textContent().catch(() => "")) ?? ""), { what: "the partial answer" });
    assert.equal(await page.locator(".live-badge").count(), 1, "marked as streaming");
    assert.doesNotMatch(await answer.textContent(), /two days/);
    await screenshot(page, "run-streaming");
    release();
    await until(async () => (await statusOf(page)) === "succeeded", { timeout: 30000, what: "the run to finish" });
    await until(async () => /within two days/.test(await answer.textContent()), { what: "the whole answer" });
    assert.equal(await page.getByTestId("total-tokens").textContent(), "42");
    assert.deepEqual(page.pageErrors, []);
  } finally {
    release();
    await new Promise((r) => model.close(r));
  }
});
