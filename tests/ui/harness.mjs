// What every browser test needs: a real `waymark serve` (with its worker) on a fresh data
// directory, a loopback model server that speaks OpenAI's wire format, Debian's chromium driven
// by playwright-core, and screenshots under target/ui-screenshots/.
import { spawn } from "node:child_process";
import { createServer } from "node:http";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The server binary: the debug build, or `WAYMARK_BIN` (the benchmarks use the release build). */
export const WAYMARK = process.env.WAYMARK_BIN ? resolve(ROOT, process.env.WAYMARK_BIN) : join(ROOT, "target/debug/waymark");
export const SCREENSHOTS = join(ROOT, "target/ui-screenshots");
export const EVERYTHING = join(ROOT, "tests/mcp-servers/node_modules/@modelcontextprotocol/server-everything/dist/index.js");

/** Starts `waymark serve` on a free port with a fresh home; resolves once it prints its link.
 * A restart passes the `home`, `token` and `addr` of the server it replaces. */
export async function startServer({ env = {}, addr = "127.0.0.1:0", home = null, token = null } = {}) {
  home ??= mkdtempSync(join(tmpdir(), "waymark-ui-"));
  const tokenFile = join(home, "token");
  token ??= "ui-test-token-" + Math.random().toString(36).slice(2).padEnd(12, "x");
  // Owner-only: `serve` refuses a token file others can read.
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const child = spawn(WAYMARK, ["serve", "--addr", addr, "--token-file", tokenFile], {
    env: { ...process.env, WAYMARK_HOME: home, WAYMARK_SECRET_BACKEND: "file", RUST_LOG: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-20000)));
  const base = await new Promise((ok, fail) => {
    let out = "";
    const timer = setTimeout(() => fail(new Error(`waymark serve printed no address in 30 s; stderr:\n${stderr}`)), 30000);
    child.stdout.on("data", (d) => {
      out += d;
      const m = /Waymark API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        ok(m[1]);
      }
    });
    child.on("exit", (code) => fail(new Error(`waymark serve exited (${code}); stderr:\n${stderr}`)));
  });
  const api = async (command, request = {}) => {
    const resp = await fetch(`${base}/api/v1/${command}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify(request),
    });
    const body = await resp.json();
    if (!resp.ok) throw new Error(`${command}: ${resp.status} ${JSON.stringify(body)}`);
    return body;
  };
  return {
    base,
    token,
    home,
    api,
    link: `${base}/#token=${token}`,
    stderr: () => stderr,
    /** `signal: "SIGKILL"` is a crash: no graceful shutdown lets the runs in flight finish. */
    async stop({ keepHome = false, signal = "SIGTERM" } = {}) {
      child.kill(signal);
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      if (!keepHome) rmSync(home, { recursive: true, force: true });
    },
  };
}

/** Waits until `check()` returns a truthy value (polling the API, not sleeping a fixed time). */
export async function until(check, { timeout = 30000, what = "condition" } = {}) {
  const end = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      last = await check();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} (last: ${last instanceof Error ? last.message : JSON.stringify(last)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * A loopback server with OpenAI's `POST /v1/chat/completions` wire format. `answer(body)` returns
 * the assistant message (`{content}` or `{tool_calls}`) for each request; requests are recorded.
 */
export async function startOpenAiServer(answer) {
  const requests = [];
  const server = createServer(async (req, res) => {
    let raw = "";
    for await (const chunk of req) raw += chunk;
    let body = {};
    try {
      body = JSON.parse(raw || "{}");
    } catch {
      /* recorded as {} */
    }
    requests.push({ path: req.url, headers: req.headers, body });
    if (req.url !== "/v1/chat/completions") {
      res.writeHead(404, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: { message: "not found" } }));
      return;
    }
    const message = await answer(body, requests.length);
    const reply = {
      id: `chatcmpl-${requests.length}`,
      object: "chat.completion",
      created: Math.floor(Date.now() / 1000),
      model: body.model ?? "test-model",
      choices: [{ index: 0, message: { role: "assistant", content: null, ...message }, finish_reason: message.tool_calls ? "tool_calls" : "stop" }],
      usage: { prompt_tokens: 100, completion_tokens: 20, total_tokens: 120 },
    };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(reply));
  });
  await new Promise((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address();
  return { base: `http://127.0.0.1:${port}/v1`, requests, close: () => new Promise((r) => server.close(r)) };
}

/** Debian's chromium, headless, with nothing reaching out to the network by itself. */
export async function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** A page signed in through the token link `serve` prints, as a user would be. */
export async function openApp(browser, server, { colorScheme = "light", viewport = { width: 1400, height: 900 } } = {}) {
  const context = await browser.newContext({ colorScheme, viewport });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await page.goto(server.link);
  await page.locator('nav[aria-label="Sections"]').waitFor();
  page.pageErrors = errors;
  return page;
}

/** A top-level step's row on the run page. */
export function stepRow(page, key) {
  return page.locator(`[data-testid=step-row][aria-level="1"][data-key="${key}"]`);
}

/** The run status the run page shows. */
export function runStatusOf(page) {
  return page.getByTestId("run-status").textContent();
}

/** The key of the step a run waits on once the run is waiting (for `until`), else false. */
export async function waitingStep(server, run_id) {
  const got = await server.api("runs_get", { run_id });
  return got.run.status === "waiting" && got.steps.find((s) => s.status === "waiting")?.key;
}

export async function screenshot(page, name) {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const path = join(SCREENSHOTS, `${name}.png`);
  await page.screenshot({ path, fullPage: false });
  return path;
}
