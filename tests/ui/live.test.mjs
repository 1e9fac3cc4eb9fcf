// A 1,000-step run streams into the open run page: events carry the steps' new views, so the
// page reads the trace only to start (and once more, stepless, for the run's output at the end),
// never again while the run goes on. A dropped stream resumes where it stopped; a stream that
// skips events makes the page read the trace again, and it still ends with every step's state.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { startServer, launchBrowser, openApp, screenshot, until, stepRow as row, runStatusOf, waitingStep } from "./harness.mjs";

const STEPS = 1000;
const ROW = 28;

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const keyOf = (i) => `item/${String(i).padStart(5, "0")}`;

/** Opens a run's page by a hash change (no reload: the document and its streams stay). */
async function goToRun(page, runId) {
  await page.evaluate((id) => (window.location.hash = `#/runs/${id}`), runId);
}

async function untilSucceededOnPage(page, timeout = 30000) {
  await until(async () => (await runStatusOf(page)) === "succeeded", { timeout, what: "the run to succeed on the page" });
}

/** Records the page's trace reads (runs_get, runs_get_page) of one run, with what each returned. */
function recordTraceReads(page) {
  const reads = [];
  // The page may show what a response held before this recorder has parsed its copy: the
  // reads are returned once every recorded response has been read.
  const parsing = [];
  page.on("request", (r) => {
    const m = /\/api\/v1\/(runs_get|runs_get_page)$/.exec(new URL(r.url()).pathname);
    if (!m || r.method() !== "POST") return;
    const body = JSON.parse(r.postData() || "{}");
    const read = { command: m[1], run_id: body.run_id, offset: body.offset ?? 0, limit: body.limit ?? null, steps: null, total: null, status: null };
    reads.push(read);
    parsing.push(
      r
        .response()
        .then((resp) => resp?.json())
        .then((got) => {
          read.steps = got?.steps?.length ?? null;
          read.total = got?.total_steps ?? null;
          read.status = got?.run?.status ?? null;
        })
        .catch(() => {}),
    );
  });
  return async (runId) => {
    await Promise.all(parsing);
    return reads.filter((r) => r.run_id === runId);
  };
}

/** Starts a 1,000-step batch (5 ms a step: it streams for seconds) and opens its page at once
 * (a hash change: no reload). */
async function openLiveRun(page, api = server.api) {
  const { run_id } = await api("runs_start_function", { function: "example.batch", input: { steps: STEPS, step_ms: 5 } });
  await goToRun(page, run_id);
  return run_id;
}

/** Every step row's status, read by scrolling the virtualized timeline from top to bottom. */
async function rowStatuses(page) {
  const scroller = page.getByTestId("timeline");
  const seen = new Map();
  const { height, client } = await scroller.evaluate((el) => ({ height: el.scrollHeight, client: el.clientHeight }));
  for (let top = 0; ; top = Math.min(top + client - ROW, height - client)) {
    await scroller.evaluate((el, y) => (el.scrollTop = y), top);
    // The row at the top of this window is rendered once the virtualizer has caught up.
    await row(page, keyOf(Math.floor(top / ROW) + 1)).waitFor();
    const rows = await page.locator('[data-testid=step-row][aria-level="1"]').evaluateAll((els) => els.map((e) => [e.dataset.key, e.dataset.status]));
    for (const [k, s] of rows) seen.set(k, s);
    if (top + client >= height) break;
  }
  return seen;
}

/** The run's output in the inspector (nothing selected): the page has read the run's end. */
async function runOutputShown(page) {
  await until(async () => /500500/.test(await page.getByTestId("inspector").textContent()), { what: "the run's output" });
}

async function assertAllSucceeded(page) {
  const statuses = await rowStatuses(page);
  assert.equal(statuses.size, STEPS, "one row per step");
  const wrong = [...statuses].filter(([, s]) => s !== "succeeded");
  assert.deepEqual(wrong, [], "every step row shows its final status");
}

/** The page read the trace to start (its first page, and the whole trace when that page did not
 * hold every step), and afterwards at most once without steps (the run's output at its end). */
function assertNoRefetch(reads) {
  assert.ok(reads.length <= 3, `at most 3 trace reads, got ${reads.length}`);
  assert.equal(reads[0].command, "runs_get_page");
  assert.equal(reads.filter((r) => r.command === "runs_get_page" && r.offset === 0).length, 1, "the start is read once");
  const initial = reads[0].steps < reads[0].total ? 2 : 1;
  if (initial === 2) assert.equal(reads[1].command, "runs_get", "the rest after the first page");
  for (const r of reads.slice(initial)) assert.equal(r.steps, 0, `no step is read again: ${JSON.stringify(r)}`);
}

test("a 1,000-step run streams into its page with no trace refetch", async () => {
  const page = await openApp(browser, server);
  const readsOf = recordTraceReads(page);
  const runId = await openLiveRun(page);
  await untilSucceededOnPage(page, 120000);
  // The run's output (with nothing selected, the inspector shows the run) comes with the last read.
  await runOutputShown(page);
  const reads = await readsOf(runId);
  console.log(`# trace reads of the live 1,000-step run: ${reads.length} ${JSON.stringify(reads)}`);
  // Live: the page's first read saw the run going, with steps still to come.
  assert.notEqual(reads[0].status, "succeeded", "the page opened while the run was going");
  assert.ok(reads[0].total < STEPS, `the first read saw ${reads[0].total} of ${STEPS} steps`);
  assertNoRefetch(reads);
  await assertAllSucceeded(page);
  assert.equal(await page.locator(".totals dd").nth(1).textContent(), "1,000");
  await screenshot(page, "live-1000-steps");
  assert.deepEqual(page.pageErrors, []);
});

/** Stops the server while the page follows a live run and starts it again on the same address;
 * `skip` events are left out of the page's reconnect (its Last-Event-ID moved ahead). */
async function dropMidRun(skip) {
  const first = await startServer();
  let second;
  try {
    const page = await openApp(browser, first);
    const readsOf = recordTraceReads(page);
    const reconnects = [];
    let opened = 0;
    // This run's stream only (the app may also follow every run's).
    await page.route(/\/api\/v1\/events\?.*run=/, async (route) => {
      if (opened++ === 0) return route.continue();
      // A reconnect: it resumes after its Last-Event-ID, or after `after` when no event came yet.
      const headers = route.request().headers();
      const last = headers["last-event-id"] ?? new URL(route.request().url()).searchParams.get("after");
      const sent = String(Number(last) + skip);
      reconnects.push({ last, sent });
      return route.continue({ headers: { ...headers, "last-event-id": sent } });
    });
    const runId = await openLiveRun(page, first.api);
    // Stopped as soon as the page has shown the first step: item 1 fails once and waits 200 ms.
    await row(page, keyOf(1)).waitFor();
    const shownBefore = await page.locator('[data-testid=step-row][aria-level="1"]').count();
    // Killed, not stopped: a graceful stop would let the run finish first.
    await first.stop({ keepHome: true, signal: "SIGKILL" });
    const stoppedAt = Date.now();
    second = await startServer({ addr: new URL(first.base).host, home: first.home, token: first.token });
    await untilSucceededOnPage(page, 120000);
    const run = (await second.api("runs_get_page", { run_id: runId, offset: 0, limit: 1 })).run;
    assert.ok(run.finished_at > stoppedAt, "the run was stopped mid-way (it finished after the restart)");
    assert.ok(reconnects.length >= 1, "the page reconnected");
    await runOutputShown(page);
    const reads = await readsOf(runId);
    console.log(`# skip ${skip}: ${shownBefore} rows before the stop; reconnects ${JSON.stringify(reconnects)}; trace reads ${reads.length} ${JSON.stringify(reads)}`);
    await assertAllSucceeded(page);
    assert.deepEqual(page.pageErrors, []);
    return reads;
  } finally {
    await (second ?? first).stop();
  }
}

test("a dropped stream resumes where it stopped: no trace refetch", async () => {
  assertNoRefetch(await dropMidRun(0));
});

test("a stream that skips events makes the page read the trace again, and it ends right", async () => {
  const reads = await dropMidRun(25);
  assert.ok(reads.filter((r) => r.command === "runs_get_page" && r.offset === 0).length >= 2, "the gap made the page read the trace again");
});

test("a step whose payloads the event left out is completed when inspected", async () => {
  // A scripted agent asks, then answers with 9 KB of text: over the 8 KB an event carries.
  const script = join(server.home, "long-answer.json");
  const answer = "All good. ".repeat(900) + "END-OF-ANSWER";
  const ask = { tool_calls: [{ id: "c1", name: "ask_human", arguments: { question: "Which order?" } }] };
  writeFileSync(script, JSON.stringify({ turns: [ask, { text: answer }] }));
  await server.api("agents_save", {
    spec: { name: "long-answer", instructions: "Ask, then answer at length.", model: { provider: "scripted", script }, tools: [{ kind: "builtin", name: "ask_human" }] },
  });
  const { run_id } = await server.api("runs_start", { agent: "long-answer", input: "Where is my order?" });
  const question = await until(() => waitingStep(server, run_id), { what: "the question" });
  const page = await openApp(browser, server);
  const stepReads = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/runs_get_step")) stepReads.push(JSON.parse(r.postData() || "{}"));
  });
  await goToRun(page, run_id);
  await row(page, question).waitFor();
  // The answer's step arrives by event only, without its output.
  await server.api("runs_answer", { run_id, step: question, text: "A-1001" });
  await untilSucceededOnPage(page);
  const llm = (await server.api("runs_get", { run_id })).steps.filter((s) => s.kind === "model_call").at(-1);
  await row(page, llm.key).click();
  await until(async () => /END-OF-ANSWER/.test((await page.getByTestId("model-answer").textContent()) ?? ""), { what: "the full answer in the inspector" });
  assert.deepEqual(stepReads, [{ run_id, step: llm.key }], "the left-out payloads were read once, for the inspected step");
  assert.deepEqual(page.pageErrors, []);
});
