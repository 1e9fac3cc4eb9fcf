// The browser's credential stays with the app: another service on a loopback port sees nothing
// it can replay against the API, and the app keeps working across a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { createServer, request } from "node:http";
import { join } from "node:path";
import { startServer, launchBrowser, openApp, until, stepRow, waitingStep } from "./harness.mjs";

let server, browser, other;
const recorded = [];

before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // Another local service: it records every header a browser sends it.
  other = createServer((req, res) => {
    recorded.push({ url: req.url, headers: req.headers });
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end("<!doctype html><title>other</title><p>another local service</p>");
  });
  await new Promise((r) => other.listen(0, "127.0.0.1", r));
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((r) => (other ? other.close(r) : r()));
});

/** POSTs runs_list to the API with exactly `headers` (Host set to the API's own). */
function replay(headers) {
  const url = new URL(`${server.base}/api/v1/runs_list`);
  const sent = { ...headers, host: url.host, "content-type": "application/json" };
  for (const h of ["content-length", "connection", "transfer-encoding", "keep-alive"]) delete sent[h];
  return new Promise((ok, fail) => {
    const req = request({ host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: sent }, (res) => {
      let body = "";
      res.on("data", (d) => (body += d));
      res.on("end", () => ok({ status: res.statusCode, body }));
    });
    req.on("error", fail);
    req.end("{}");
  });
}

test("what the signed-in browser sends another loopback port is refused by the API", async () => {
  const page = await openApp(browser, server);
  const otherBase = `http://127.0.0.1:${other.address().port}`;
  // The app's page leaves for the other service, as a link or a redirect would take it.
  await page.evaluate((url) => (window.location.href = `${url}/from-the-app`), otherBase);
  await page.waitForURL(`${otherBase}/from-the-app`);
  await page.goto(`${otherBase}/typed`);
  await until(() => recorded.length >= 2, { what: "the other service to be visited" });
  for (const { url, headers } of recorded) {
    const r = await replay(headers);
    assert.equal(r.status, 401, `replaying the headers of ${url} (${Object.keys(headers).join(", ")}): ${r.body}`);
  }
  // The check above means something: the same replay with the token is accepted.
  const withToken = await replay({ authorization: `Bearer ${server.token}` });
  assert.equal(withToken.status, 200, withToken.body);
  assert.deepEqual(await page.context().cookies(), [], "the app sets no cookie");
});

test("the app stays signed in across a reload, and the token is not in the address", async () => {
  const page = await openApp(browser, server);
  assert.ok(!page.url().includes("token="));
  await page.reload();
  await page.locator('nav[aria-label="Sections"]').waitFor();
  assert.equal(await page.getByRole("heading", { name: "Sign in to Waymark" }).count(), 0);
  await page.getByRole("link", { name: "Runs" }).click();
  await page.locator('nav[aria-label="Sections"]').waitFor();
  assert.deepEqual(page.pageErrors, []);
  // A tab that never saw the link has no token: it asks for one.
  const fresh = await (await browser.newContext()).newPage();
  await fresh.goto(`${server.base}/`);
  await fresh.getByRole("heading", { name: "Sign in to Waymark" }).waitFor();
});

test("the live stream reconnects after a server restart with Last-Event-ID", async () => {
  const first = await startServer();
  let second;
  try {
    // An agent that asks twice: the first answer makes events arrive live on the stream.
    const script = join(first.home, "asker.json");
    const ask = (id, question) => ({ tool_calls: [{ id, name: "ask_human", arguments: { question } }] });
    writeFileSync(script, JSON.stringify({ turns: [ask("c1", "Which order?"), ask("c2", "Which address?"), { text: "Done." }] }));
    await first.api("agents_save", {
      spec: { name: "asker", instructions: "Ask twice.", model: { provider: "scripted", script }, tools: [{ kind: "builtin", name: "ask_human" }] },
    });
    const { run_id } = await first.api("runs_start", { agent: "asker", input: "Where is my order?" });
    const waiting = (server) => waitingStep(server, run_id);
    const q1 = await until(() => waiting(first), { what: "the first question" });
    const page = await openApp(browser, first);
    const streams = [];
    page.on("request", (r) => {
      // This run's stream only: the app may also hold (and reconnect) a stream of all runs.
      if (r.url().includes("/api/v1/events") && r.url().includes(`run=${run_id}`)) {
        streams.push(r.headers()["last-event-id"] ?? null);
      }
    });
    await page.goto(`${first.base}/#/runs/${run_id}`);
    // A hash change keeps the document and the streams the runs list opened before the
    // listener was attached: reload, so every stream of this run page is seen (the token
    // stays in sessionStorage).
    await page.reload();
    const row = (key) => stepRow(page, key);
    await row(q1).waitFor();
    // The run page may open its stream twice while it loads (a first fetch, then a follow).
    await until(() => streams.length >= 1, { what: "the page's event stream" });
    await first.api("runs_answer", { run_id, step: q1, text: "A-1001" });
    const q2 = await until(async () => { const k = await waiting(first); return k && k !== q1 && k; }, { what: "the second question" });
    await row(q2).waitFor({ timeout: 30000 });
    assert.ok(streams.every((id) => id === null), `no reconnect while the server is up: ${JSON.stringify(streams)}`);
    const before = streams.length;
    await first.stop({ keepHome: true });
    second = await startServer({ addr: new URL(first.base).host, home: first.home, token: first.token });
    // The page reconnects by itself (it backs off while the server is down) and says where it was.
    await until(() => streams.length > before && streams.at(-1), { timeout: 30000, what: "a reconnect with Last-Event-ID" });
    const lastId = Number(streams.at(-1));
    assert.ok(Number.isInteger(lastId) && lastId > 0, `Last-Event-ID ${streams.at(-1)}`);
    await second.api("runs_answer", { run_id, step: q2, text: "Baker Street" });
    const status = () => page.getByTestId("run-status").textContent();
    await until(async () => (await status()) === "succeeded", { timeout: 30000, what: "the run to succeed live" });
    assert.deepEqual(page.pageErrors, []);
  } finally {
    await (second ?? first).stop();
  }
});
