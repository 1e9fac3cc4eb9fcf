// A server's question during a tool call (MCP elicitation) on the run page: the demo tool server
// asks to confirm a refund; its card shows the message and a form built from the server's schema
// (defaults filled in, a too-long note refused before anything is sent); the answer goes to the
// call's next round, whose output says what was chosen; the question's step shows the answer.
// Declining says so too. An older server's question (asked inside the open call) has its card
// while the run still says running, and once Waymark is killed it shows as lost, next to the
// call that now needs a decision. A link question opens its page outside the app.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { startServer, launchBrowser, openApp, screenshot, until, stepRow as row, runStatusOf as statusOf, WAYMARK } from "./harness.mjs";

const DEMO_TOOLS = join(WAYMARK, "..", "waymark-demo-tools");
const MESSAGE = "Refund 12.50 on order A-1001?";

let server, browser;
const extra = [];
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // The demo tool server over stdio, as a user would add it: it answers 2026-07-28, so its
  // question comes back as input_required and the run waits on a journaled step.
  await server.api("mcp_add", { name: "refunds", command: WAYMARK, args: ["demo-tools"], env: {}, headers: {} });
});
after(async () => {
  for (const c of extra) c.kill("SIGKILL");
  await browser?.close();
  await server?.stop();
});

/** Saves agent `name` (scripted: one call of `tool` on `mcpServer`, then "Done.") on `srv`. */
async function saveAgent(srv, name, mcpServer, tool, args) {
  const script = join(srv.home, `${name}.json`);
  writeFileSync(script, JSON.stringify({ turns: [{ tool_calls: [{ id: "c1", name: tool, arguments: args }] }, { text: "Done." }] }));
  await srv.api("agents_save", {
    spec: { name, instructions: "Do as the script says.", model: { provider: "scripted", script }, tools: [{ kind: "mcp", server: mcpServer, tools: [tool] }] },
  });
}

async function refundRun(srv, agent) {
  const { run_id } = await srv.api("runs_start", { agent, input: "Refund A-1001" });
  return run_id;
}

async function openRun(srv, run_id) {
  const page = await openApp(browser, srv);
  await page.evaluate((id) => (window.location.hash = `#/runs/${id}`), run_id);
  return page;
}

/** The card of the question waiting at `key`. */
function cardOf(page, key) {
  return page.locator(`[data-testid=elicitation-card][data-step="${key}"]`);
}

async function untilStatus(page, status, timeout = 30000) {
  await until(async () => (await statusOf(page)) === status, { timeout, what: `the run to be ${status} on the page` });
}

/** `waymark-demo-tools --http 127.0.0.1:0 ...args`; its first stdout line is its URL. */
async function demoToolsOverHttp(args) {
  const child = spawn(DEMO_TOOLS, ["--http", "127.0.0.1:0", ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" } });
  extra.push(child);
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`demo-tools printed no URL; stderr:\n${stderr}`)), 30000);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      ok(line.trim());
    });
    child.on("exit", (code) => fail(new Error(`demo-tools exited (${code}); stderr:\n${stderr}`)));
  });
}

test("a server's form question: defaults filled in, a too-long note refused here, then answered", async () => {
  await saveAgent(server, "refunder", "refunds", "confirm_refund", { order_id: "A-1001", amount_cents: 1250 });
  const run_id = await refundRun(server, "refunder");
  const page = await openRun(server, run_id);
  const answers = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/runs_elicitation_answer")) answers.push(r.postDataJSON());
  });

  const key = "elicit/1.1/r1.1";
  const card = cardOf(page, key);
  await card.waitFor({ timeout: 30000 });
  await untilStatus(page, "waiting");
  assert.equal(await card.getByTestId("elicitation-message").textContent(), MESSAGE);
  await card.getByText("refunds asks").waitFor();
  await card.getByText("confirm_refund", { exact: true }).waitFor();
  assert.match(await card.getByTestId("elicitation-lifetime").textContent(), /^Kept across restarts/);
  // The timeline: the call's first round needed input, the question waits for an answer.
  await row(page, "tool/1.1").getByText("needs input").waitFor();
  await row(page, key).getByText("answer?").waitFor();

  // The form from the server's schema, with its defaults.
  const approve = card.getByLabel("Approve the refund");
  const channel = card.getByLabel("Tell the customer by");
  const note = card.getByLabel("Note to the customer");
  assert.equal(await approve.isChecked(), true);
  assert.equal(await channel.inputValue(), "email");
  assert.deepEqual(await channel.locator("option").allTextContents(), ["email", "phone"]);
  assert.equal(await note.inputValue(), "");
  assert.equal(await channel.getAttribute("aria-required"), "true");
  assert.equal(await note.getAttribute("aria-required"), null);
  await card.getByText("0 / 200 characters").waitFor();
  await screenshot(page, "elicitation-card");

  // Over maxLength: refused in the page, nothing sent.
  await note.fill("x".repeat(201));
  await card.getByText("201 / 200 characters").waitFor();
  await card.getByTestId("elicitation-accept").click();
  await card.getByText("At most 200 characters (now 201).").waitFor();
  await card.getByTestId("elicitation-invalid").waitFor();
  assert.equal(await note.getAttribute("aria-invalid"), "true");
  assert.equal(await card.getByTestId("elicitation-accept").isDisabled(), true);
  assert.deepEqual(answers, [], "an invalid answer is not sent");
  await screenshot(page, "elicitation-invalid");

  await channel.selectOption("phone");
  await note.fill("Sorry for the wait");
  assert.equal(await card.getByText("At most 200 characters").count(), 0, "the error goes once fixed");
  await card.getByTestId("elicitation-accept").click();
  await untilStatus(page, "succeeded");
  assert.deepEqual(answers, [{ run_id, step: key, action: "accept", content: { approve: true, channel: "phone", note: "Sorry for the wait" } }]);
  assert.equal(await page.getByTestId("elicitation-card").count(), 0, "the card goes once answered");

  // The call's second round carries the answer, and its output says what was chosen.
  const round2 = row(page, "tool/1.1/round-2");
  await round2.getByText("round 2").waitFor();
  await round2.click();
  const inspector = page.getByTestId("inspector");
  await inspector.getByText("refund of 12.50 approved for A-1001 by channel phone (note: Sorry for the wait)").first().waitFor();
  await inspector.getByText(/Round 2 of the call/).waitFor();
  const given = inspector.getByRole("list", { name: "Answers given" });
  await given.getByText("accepted").waitFor();
  await given.getByText("Sorry for the wait").waitFor();

  // The question's step: what was asked, and the answer (action, fields, who).
  await row(page, key).click();
  const facts = inspector.getByTestId("elicitation-facts");
  await facts.getByText(MESSAGE).waitFor();
  assert.equal(await facts.getByTestId("elicitation-action").textContent(), "accepted");
  const fields = facts.getByRole("definition");
  const shown = await fields.allTextContents();
  for (const v of ["phone", "Sorry for the wait", "true"]) assert.ok(shown.includes(v), `${v} in ${JSON.stringify(shown)}`);
  assert.ok(!shown.includes("–"), `who answered is shown: ${JSON.stringify(shown)}`);
  await screenshot(page, "elicitation-answered");

  // The first round says the server needed input, and links its question.
  await row(page, "tool/1.1").click();
  await inspector.getByTestId("tool-needs-input").waitFor();
  await inspector.getByRole("list", { name: "Questions of this call" }).getByText("(accepted)").waitFor();
  assert.deepEqual(page.pageErrors, []);
});

test("Decline, confirmed, tells the server no: the refund is declined", async () => {
  const run_id = await refundRun(server, "refunder");
  const page = await openRun(server, run_id);
  const card = cardOf(page, "elicit/1.1/r1.1");
  await card.waitFor({ timeout: 30000 });
  await card.getByTestId("elicitation-decline").click();
  // Asked once more; Back keeps the question.
  const confirm = card.getByRole("group", { name: "Decline the question?" });
  await confirm.getByRole("button", { name: "Back" }).click();
  assert.equal(await confirm.count(), 0);
  await card.getByTestId("elicitation-decline").click();
  await card.getByTestId("elicitation-confirm-decline").click();
  await untilStatus(page, "succeeded");
  await row(page, "tool/1.1/round-2").click();
  await page.getByTestId("inspector").getByText("refund declined for A-1001").first().waitFor();
  await row(page, "elicit/1.1/r1.1").click();
  assert.equal(await page.getByTestId("elicitation-action").textContent(), "declined");
  const got = await server.api("runs_get", { run_id });
  assert.equal(got.steps.find((s) => s.key === "elicit/1.1/r1.1").output.payload.action, "decline");
  assert.deepEqual(page.pageErrors, []);
});

test("an older server's question: a card while the run says running, lost when Waymark is killed", async () => {
  // 2025-06-18 only: the question is a request inside the open call.
  const url = await demoToolsOverHttp(["--protocol", "2025-06-18"]);
  const own = await startServer();
  try {
    await own.api("mcp_add", { name: "old-shop", url });
    await saveAgent(own, "old-refunder", "old-shop", "confirm_refund", { order_id: "A-1001", amount_cents: 1250 });
    const run_id = await refundRun(own, "old-refunder");
    const key = "elicit/1.1/a1.1.1";
    const page = await openRun(own, run_id);
    const card = cardOf(page, key);
    await card.waitFor({ timeout: 30000 });
    assert.equal(await statusOf(page), "running", "the call is open: the run still runs");
    assert.equal(await card.getByTestId("elicitation-message").textContent(), MESSAGE);
    assert.equal(
      await card.getByTestId("elicitation-lifetime").evaluate((el) => el.firstChild.textContent),
      "Asked inside an open call: if Waymark stops before you answer, this question is lost.",
    );
    await screenshot(page, "elicitation-open-call");
    // The runs list says it waits (for the person), not merely that it runs.
    await page.getByRole("link", { name: "Runs", exact: true }).click();
    const listed = page.locator("tr", { has: page.getByRole("link", { name: "old-refunder" }) }).locator(".status");
    await until(async () => (await listed.getAttribute("data-status")) === "waiting", { what: "the runs list to show waiting" });
    await page.context().close();

    await own.stop({ keepHome: true, signal: "SIGKILL" });
    const again = await startServer({ home: own.home, token: own.token });
    Object.assign(own, { stop: again.stop, api: again.api });
    const after = await openRun(again, run_id);
    await untilStatus(after, "needs_attention", 60000);
    // Next to the call that now needs a decision: why.
    const banner = after.getByTestId("resolve-banner");
    await banner.getByTestId("elicitation-lost").getByText(/A server's question in this call was lost\./).waitFor();
    await banner.getByText(/asked inside the server's open request/).waitFor();
    assert.equal(await after.getByTestId("elicitation-card").count(), 0, "a lost question has no card");
    await row(after, "tool/1.1").getByText("question lost").waitFor();
    await row(after, key).getByText("lost", { exact: true }).waitFor();
    await row(after, key).click();
    const lost = after.getByTestId("inspector").getByTestId("elicitation-lost");
    await lost.getByText("This question was lost.").waitFor();
    await lost.getByText(/settled by its safety class/).waitFor();
    await screenshot(after, "elicitation-lost");
    assert.deepEqual(after.pageErrors, []);
  } finally {
    await own.stop();
  }
});

test("a link question opens its page outside the app, then I've completed it", async () => {
  const url = await demoToolsOverHttp([]);
  await server.api("mcp_add", { name: "links", url });
  await saveAgent(server, "linker", "links", "link_account", { service: "calendar" });
  const { run_id } = await server.api("runs_start", { agent: "linker", input: "Link my calendar" });
  const page = await openRun(server, run_id);
  const card = cardOf(page, "elicit/1.1/r1.1");
  await card.waitFor({ timeout: 30000 });
  await card.getByText("Open the link to connect calendar").waitFor();
  const origin = new URL(url);
  assert.equal(await card.getByTestId("elicitation-host").textContent(), origin.host);
  const link = card.getByTestId("elicitation-url");
  assert.match(await link.textContent(), new RegExp(`${origin.origin.replace(/[.]/g, "\\.")}/link/`));
  const appUrl = page.url();
  const [popup] = await Promise.all([page.context().waitForEvent("page"), link.click()]);
  await popup.waitForLoadState();
  assert.ok(popup.url().startsWith(`${origin.origin}/link/`), popup.url());
  assert.equal(page.url(), appUrl, "the app stays where it was");
  assert.equal(await popup.evaluate(() => window.opener), null, "the page gets no handle on the app");
  await card.getByTestId("elicitation-accept").click();
  await untilStatus(page, "succeeded");
  await row(page, "tool/1.1/round-2").click();
  await page.getByTestId("inspector").getByText("account for calendar linked").first().waitFor();
  assert.deepEqual(page.pageErrors, []);
});
