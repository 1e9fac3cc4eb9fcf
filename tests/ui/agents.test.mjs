// The Agents page and the builder, as a new user: draft an agent from a description against a
// loopback OpenAI server, edit it and save it; a bad field's error shows at that field; edit an
// existing agent through the review diff; export and import; run the demo from its Run button.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { startServer, startOpenAiServer, launchBrowser, openApp, screenshot, until } from "./harness.mjs";

let server, browser, model;

const DRAFT = {
  name: "order-helper",
  description: "Answers order questions.",
  instructions: "Look the order up with lookup_order before answering. Email the customer with send_email.",
  model: { provider: "openai", model: "gpt-4o-mini" },
  tools: [{ kind: "mcp", server: "demo-tools", tools: ["lookup_order", "send_email"] }],
  tool_overrides: { send_email: { needs_approval: true } },
  limits: { max_steps: 8 },
};

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // The drafting model: answers with the spec, fenced, as models do.
  model = await startOpenAiServer(() => ({ content: "Here is the agent:\n```json\n" + JSON.stringify(DRAFT, null, 2) + "\n```" }));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await model?.close();
});

test("draft an agent from a description, edit a field, save it and find it in the list", async () => {
  const page = await openApp(browser, server);
  await page.getByRole("link", { name: "Agents" }).click();
  await page.getByTestId("new-agent").click();
  await page.getByTestId("describe-text").fill("Answers customers' questions about their orders and emails them.");
  await page.getByTestId("draft-model").fill("test-model");
  await page.getByTestId("draft-base-url").fill(model.base);
  await page.getByTestId("draft-submit").click();

  // The form is filled with the model's draft, its fields marked until edited.
  const name = page.getByTestId("field-name");
  await until(async () => (await name.inputValue()) === "order-helper", { what: "the drafted name in the form" });
  await page.getByTestId("drafted-description").waitFor();
  await page.getByTestId("drafted-instructions").waitFor();
  assert.match(await page.getByTestId("draft-notes").innerText(), /Drafted by the model/);
  assert.equal(await page.getByTestId("pick-demo-tools-lookup_order").isChecked(), true);
  assert.equal(await page.getByTestId("pick-demo-tools-send_email").isChecked(), true);
  assert.equal(await page.getByTestId("approval-send_email").isChecked(), true);

  // What the model was asked: the description and the connected servers' tools.
  const asked = JSON.stringify(model.requests.at(-1).body.messages);
  assert.match(asked, /emails them/);
  assert.match(asked, /lookup_order/);
  assert.equal(model.requests.at(-1).body.model, "test-model");

  // Editing a field removes its mark; the others stay marked.
  await page.getByTestId("field-description").fill("Answers questions about orders, politely.");
  await until(async () => (await page.getByTestId("drafted-description").count()) === 0, { what: "the drafted mark to go" });
  assert.equal(await page.getByTestId("drafted-instructions").count() > 0, true);
  // Pick one more tool: set_order_note, and a built-in.
  await page.getByTestId("pick-demo-tools-set_order_note").check();
  await page.getByTestId("builtin-ask_human").check();
  // One section drafted again alone: the model's limits come back, marked.
  await page.getByTestId("field-limits.max_steps").fill("3");
  await page.getByTestId("redraft-limits").click();
  await until(async () => (await page.getByTestId("field-limits.max_steps").inputValue()) === "8", { what: "the redrafted limit" });
  await page.getByTestId("drafted-limits").waitFor();
  assert.equal(await page.getByTestId("field-description").inputValue(), "Answers questions about orders, politely.", "other sections are kept");
  await page.getByTestId("field-limits.max_steps").fill("12");
  await page.locator("#sec-tools").scrollIntoViewIfNeeded();
  await screenshot(page, "agent-builder-tools");
  await page.evaluate(() => document.querySelector(".main")?.scrollTo(0, 0));
  await screenshot(page, "agent-builder");

  await page.getByTestId("save-agent").click();
  await page.getByTestId("agent-row-order-helper").waitFor();
  assert.match(page.url(), /#\/agents/);
  assert.match(await page.getByTestId("agent-row-order-helper").innerText(), /Answers questions about orders, politely\./);
  assert.match(await page.getByTestId("saved-notice").innerText(), /Saved order-helper/);
  await screenshot(page, "agents-list");

  const { spec } = await server.api("agents_get", { name: "order-helper" });
  assert.equal(spec.description, "Answers questions about orders, politely.");
  assert.equal(spec.instructions, DRAFT.instructions);
  assert.equal(spec.limits.max_steps, 12);
  assert.deepEqual(spec.tools, [
    { kind: "mcp", server: "demo-tools", tools: ["lookup_order", "send_email", "set_order_note"] },
    { kind: "builtin", name: "ask_human" },
  ]);
  assert.equal(spec.tool_overrides.send_email.needs_approval, true);
  assert.deepEqual(page.pageErrors, []);
});

test("a model that fails shows its error in the describe step", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents/new");
  await page.getByTestId("describe-text").fill("Summarises my inbox.");
  await page.getByTestId("draft-model").fill("test-model");
  // Nothing listens here: the call fails and the user is told why.
  await page.getByTestId("draft-base-url").fill("http://127.0.0.1:9/v1");
  await page.getByTestId("draft-submit").click();
  const error = page.getByTestId("draft-error");
  await error.waitFor();
  assert.match(await error.innerText(), /could not draft/);
  assert.match(await error.innerText(), /model call failed/);

  // With no base URL and no key stored, the user is sent to Settings.
  await page.getByTestId("draft-base-url").fill("");
  await page.getByTestId("draft-submit").click();
  await until(async () => /no API key/.test(await error.innerText()), { what: "the missing-key error" });
  assert.equal(await page.getByTestId("draft-model").getAttribute("aria-invalid"), "true");
  await screenshot(page, "agent-draft-error");
  await error.getByRole("link", { name: "Store a key in Settings" }).click();
  await page.getByTestId("key-input-openai").waitFor();
});

test("a save with a bad field shows the server's error at that field", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents/new");
  await page.getByTestId("skip-to-form").click();
  await page.getByTestId("field-name").fill("Order Bot");
  await page.getByTestId("field-instructions").fill("Answer briefly.");
  await page.getByTestId("field-limits.max_steps").fill("0");
  await page.getByRole("button", { name: "Add a trigger" }).click();
  await page.getByTestId("field-triggers.1.schedule").fill("every morning");
  await page.getByTestId("save-agent").click();

  const nameError = page.getByTestId("error-name");
  await nameError.waitFor();
  assert.match(await nameError.innerText(), /lowercase letters/);
  assert.equal(await page.getByTestId("field-name").getAttribute("aria-invalid"), "true");
  // Every broken rule is shown at its own field, not only the first.
  assert.match(await page.getByTestId("error-limits.max_steps").innerText(), /at least 1/);
  assert.match(await page.getByTestId("error-triggers.1.schedule").innerText(), /field/);
  assert.match(await page.getByTestId("save-error").innerText(), /3 fields need fixing/);
  await screenshot(page, "agent-builder-errors");

  // Fixing the fields clears their errors, and the save goes through.
  await page.getByTestId("field-name").fill("order-bot");
  assert.equal(await page.getByTestId("error-name").count(), 0);
  await page.getByTestId("field-limits.max_steps").fill("5");
  await page.getByTestId("field-triggers.1.schedule").fill("30 8 * * *");
  await page.getByTestId("field-triggers.1.timezone").fill("Europe/Paris");
  await page.keyboard.press("Control+s");
  await page.getByTestId("agent-row-order-bot").waitFor();
  const { spec } = await server.api("agents_get", { name: "order-bot" });
  assert.equal(spec.instructions, "Answer briefly.");
  assert.equal(spec.limits.max_steps, 5);
  assert.deepEqual(spec.triggers, [{ kind: "manual" }, { kind: "cron", schedule: "30 8 * * *", timezone: "Europe/Paris" }]);
});

test("editing a saved agent saves through a review diff", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents");
  await page.getByTestId("edit-agent-demo-researcher").click();
  const steps = page.getByTestId("field-limits.max_steps");
  await steps.waitFor();
  await steps.fill("7");
  await page.getByText("unsaved changes", { exact: true }).waitFor();
  await page.getByTestId("save-agent").click();
  const diff = page.getByTestId("review-diff");
  await diff.waitFor();
  assert.match(await diff.innerText(), /\+\s+"max_steps": 7/);
  await screenshot(page, "agent-review-diff");
  await page.getByTestId("confirm-save").click();
  await page.getByTestId("agent-row-demo-researcher").waitFor();
  const { spec, versions } = await server.api("agents_get", { name: "demo-researcher" });
  assert.equal(spec.limits.max_steps, 7);
  assert.ok(versions.length >= 2, "a new version was saved");
});

test("export an agent as TOML, delete it, import the file back", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents");
  await page.getByTestId("agent-row-order-bot").waitFor();
  const before = await server.api("agents_get", { name: "order-bot" });

  await page.getByTestId("export-agent-order-bot").click();
  const shown = page.getByTestId("export-text");
  await until(async () => /name = "order-bot"/.test(await shown.inputValue()), { what: "the TOML export" });
  await page.getByTestId("export-format-json").click();
  await until(async () => /"name": "order-bot"/.test(await shown.inputValue()), { what: "the JSON export" });
  await page.getByTestId("export-format-toml").click();
  await until(async () => /name = "order-bot"/.test(await shown.inputValue()), { what: "the TOML export again" });
  await screenshot(page, "agent-export");
  const [download] = await Promise.all([page.waitForEvent("download"), page.getByTestId("export-download").click()]);
  assert.equal(download.suggestedFilename(), "order-bot.toml");
  const text = readFileSync(await download.path(), "utf8");
  assert.equal(text, await shown.inputValue());
  await page.keyboard.press("Escape");

  await page.getByTestId("delete-agent-order-bot").click();
  await page.getByTestId("confirm-delete").click();
  await until(async () => (await page.getByTestId("agent-row-order-bot").count()) === 0, { what: "the row to go" });
  assert.equal((await server.api("agents_list")).agents.some((a) => a.name === "order-bot"), false);

  await page.getByTestId("import-agent").click();
  await page.getByTestId("import-text").fill(text);
  await screenshot(page, "agent-import");
  await page.getByTestId("import-submit").click();
  await page.getByTestId("agent-row-order-bot").waitFor();
  const after = await server.api("agents_get", { name: "order-bot" });
  assert.equal(after.hash, before.hash, "the imported spec is the exported one");

  // A broken file is refused with its line.
  await page.getByTestId("import-agent").click();
  await page.getByTestId("import-text").fill('name = "x"\ninstructions = \n');
  await page.getByTestId("import-submit").click();
  await page.getByText(/Not imported/).waitFor();
  assert.match(await page.getByRole("alert").innerText(), /line 2/);

  // A file picked in the same dialog: its text and format are taken from it.
  const file = { name: "from-file", instructions: "Imported from a JSON file.", model: { provider: "openai", model: "gpt-4o-mini" } };
  await page.getByTestId("import-file").setInputFiles({ name: "from-file.json", mimeType: "application/json", buffer: Buffer.from(JSON.stringify(file)) });
  await until(async () => (await page.getByTestId("import-text").inputValue()).includes("Imported from a JSON file."), { what: "the file's text" });
  await page.getByTestId("import-submit").click();
  await page.getByTestId("agent-row-from-file").waitFor();
  assert.equal((await server.api("agents_get", { name: "from-file" })).spec.instructions, "Imported from a JSON file.");
});

test("the demo agent runs from its Run button and opens its run", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents");
  await page.getByTestId("run-agent-demo-support").click();
  const input = page.getByTestId("start-run-input");
  await input.waitFor();
  // The demo input is the server's (demo_get), defined once in the agent crate.
  assert.equal(await input.inputValue(), (await server.api("demo_get")).input);
  assert.match(await input.inputValue(), /order A-1001/);
  assert.equal(await page.getByTestId("start-run-agent").inputValue(), "demo-support");
  await screenshot(page, "agent-run-dialog");
  await page.getByTestId("start-run-submit").click();
  const runId = await until(() => /#\/runs\/([^/?]+)/.exec(page.url())?.[1], { what: "the run page" });
  const { run } = await server.api("runs_get", { run_id: decodeURIComponent(runId) });
  assert.equal(run.agent, "demo-support");
  assert.match(JSON.stringify(run.input), /order A-1001/);
});

test("leaving the builder with unsaved changes asks first", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents");
  await page.getByTestId("edit-agent-demo-support").click();
  const description = page.getByTestId("field-description");
  await description.waitFor();
  await description.fill("Changed, not saved.");
  let asked = null;
  page.once("dialog", (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await page.getByRole("link", { name: "Runs" }).click();
  await until(() => asked, { what: "the unsaved-changes question" });
  assert.match(asked, /unsaved changes/);
  assert.match(page.url(), /#\/agents\/demo-support/);
  assert.equal(await description.inputValue(), "Changed, not saved.");

  // The browser's Back asks too; staying keeps the edit and the address.
  asked = null;
  page.once("dialog", (d) => {
    asked = d.message();
    void d.dismiss();
  });
  await page.goBack();
  await until(() => asked, { what: "the question on Back" });
  await until(() => /#\/agents\/demo-support/.test(page.url()), { what: "the builder's address back" });
  assert.equal(await description.inputValue(), "Changed, not saved.");

  page.once("dialog", (d) => void d.accept());
  await page.getByRole("link", { name: "Runs" }).click();
  await until(() => page.url().includes("#/runs"), { what: "the runs page" });
  const { spec } = await server.api("agents_get", { name: "demo-support" });
  assert.notEqual(spec.description, "Changed, not saved.");
});

test("the raw JSON view edits the same spec, and its errors show", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents/new");
  await page.getByTestId("skip-to-form").click();
  await page.getByTestId("field-name").fill("raw-agent");
  // A destructive tool gets approval by default when picked.
  await page.getByTestId("pick-demo-tools-send_email").check();
  assert.equal(await page.getByTestId("approval-send_email").isChecked(), true);
  // Retries and timeouts are under Advanced.
  await page.getByText("Advanced: retries and timeouts").click();
  await page.getByTestId("field-retry.max_attempts").fill("3");
  await page.getByTestId("field-tool_overrides.send_email.timeout_secs").fill("30");
  await page.getByRole("button", { name: "Add a trigger" }).click();
  await page.getByTestId("trigger-kind-1").selectOption("webhook");
  await page.getByTestId("field-triggers.1.secret_ref").fill("RAW_HOOK_SECRET");
  await page.getByTestId("raw-toggle").click();
  const raw = page.getByTestId("raw-json");
  const spec = JSON.parse(await raw.inputValue());
  assert.equal(spec.name, "raw-agent");
  assert.deepEqual(spec.tools, [{ kind: "mcp", server: "demo-tools", tools: ["send_email"] }]);
  assert.deepEqual(spec.tool_overrides, { send_email: { needs_approval: true, timeout_secs: 30 } });
  assert.deepEqual(spec.retry, { max_attempts: 3 });
  // A new webhook trigger signs as Standard Webhooks (replay-safe).
  assert.deepEqual(spec.triggers, [{ kind: "manual" }, { kind: "webhook", auth: "standard_webhooks", secret_ref: "RAW_HOOK_SECRET" }]);
  spec.instructions = "Typed in the raw view.";
  await raw.fill("{ not json");
  await page.getByText(/Not valid JSON/).waitFor();
  assert.equal(await page.getByTestId("save-agent").isDisabled(), true);
  await raw.fill(JSON.stringify(spec, null, 2));
  await page.getByRole("button", { name: "Form", exact: true }).click();
  assert.equal(await page.getByTestId("field-instructions").inputValue(), "Typed in the raw view.");
  await page.getByTestId("save-agent").click();
  await page.getByTestId("agent-row-raw-agent").waitFor();
  const saved = (await server.api("agents_get", { name: "raw-agent" })).spec;
  assert.equal(saved.instructions, "Typed in the raw view.");
  assert.equal(saved.tool_overrides.send_email.timeout_secs, 30);
  assert.equal(saved.retry.max_attempts, 3);
});

test("the builder in the dark theme", async () => {
  const page = await openApp(browser, server, { colorScheme: "dark" });
  await page.goto(server.base + "/#/agents/demo-support");
  await page.getByTestId("tool-demo-tools-send_email").waitFor();
  assert.equal(await page.getByTestId("approval-send_email").isChecked(), true);
  assert.equal(await page.getByTestId("subagent-name-1").inputValue(), "demo-researcher");
  await page.locator("#sec-tools").scrollIntoViewIfNeeded();
  await screenshot(page, "agent-builder-dark");

  // The TOML view is the spec as a file: importing its text gives the same spec.
  await page.getByTestId("toml-toggle").click();
  const toml = await page.getByTestId("raw-toml").inputValue();
  assert.match(toml, /^\[model\]$/m);
  assert.match(toml, /^\[\[tools\]\]$/m);
  const saved = await server.api("agents_get", { name: "demo-support" });
  const { agent } = await server.api("agents_import", { text: toml, format: "toml" });
  assert.equal(agent.hash, saved.hash);
});

test("with no agents, the list says what to do next", async () => {
  for (const { name } of (await server.api("agents_list")).agents) await server.api("agents_delete", { name });
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents");
  const action = page.getByRole("link", { name: "Describe your first agent" });
  await action.waitFor();
  assert.match(await page.locator(".empty").innerText(), /No agents yet/);
  await screenshot(page, "agents-empty");
  await action.click();
  await page.getByTestId("describe-text").waitFor();
});
