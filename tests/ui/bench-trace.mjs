// Benchmark: time from opening a 10,000-step run (a click from the runs list: the hash changes)
// to its first painted step rows, in chromium; the median of 5. Writes
// target/bench/ui.json = {"trace_10k_first_paint_ms": N}.
// WAYMARK_BIN picks the server binary (make bench passes the release build); WAYMARK_UI_DIR the
// built UI (default ui/dist).
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { ROOT, WAYMARK, startServer, launchBrowser, openApp, until } from "./harness.mjs";

const RUNS = 5;

/** The harness's server, from another binary when WAYMARK_BIN says so. */
async function start() {
  const bin = process.env.WAYMARK_BIN ? resolve(ROOT, process.env.WAYMARK_BIN) : WAYMARK;
  if (bin === WAYMARK) return startServer();
  const home = mkdtempSync(join(tmpdir(), "waymark-bench-ui-"));
  const tokenFile = join(home, "token");
  const token = "bench-token-" + Math.random().toString(36).slice(2).padEnd(12, "x");
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const child = spawn(bin, ["serve", "--addr", "127.0.0.1:0", "--token-file", tokenFile], {
    env: { ...process.env, WAYMARK_HOME: home, WAYMARK_SECRET_BACKEND: "file", RUST_LOG: "warn" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const base = await new Promise((ok, fail) => {
    let out = "";
    child.stdout.on("data", (d) => {
      out += d;
      const m = /Waymark API on (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m) ok(m[1]);
    });
    child.on("exit", (code) => fail(new Error(`${bin} serve exited (${code})`)));
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
    api,
    link: `${base}/#token=${token}`,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.on("exit", r)));
      rmSync(home, { recursive: true, force: true });
    },
  };
}

const server = await start();
const browser = await launchBrowser();
try {
  const { run_id } = await server.api("runs_start_function", { function: "example.batch", input: { steps: 10000 } });
  await until(async () => (await server.api("runs_get", { run_id })).summary.status === "succeeded", { timeout: 300000, what: "the 10,000-step run" });
  const page = await openApp(browser, server);
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    await page.evaluate(() => (location.hash = "#/runs"));
    await page.getByTestId("run-row").first().waitFor();
    // Inside chromium: mark the navigation, watch for the first row, and stop the clock after
    // the frame that shows it has been painted (rAF, then a task after it).
    const ms = await page.evaluate(
      (id) =>
        new Promise((done) => {
          const t0 = performance.now();
          const check = () => {
            if (document.querySelector("[data-testid=step-row]")) {
              obs.disconnect();
              requestAnimationFrame(() => setTimeout(() => done(performance.now() - t0), 0));
            }
          };
          const obs = new MutationObserver(check);
          obs.observe(document.body, { childList: true, subtree: true });
          location.hash = `#/runs/${id}`;
        }),
      run_id,
    );
    times.push(Math.round(ms));
  }
  const sorted = [...times].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  console.log(`trace_10k_first_paint_ms: ${median} (runs: ${times.join(", ")} ms; server ${process.env.WAYMARK_BIN ?? "target/debug/waymark"})`);
  const out = join(ROOT, "target/bench");
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, "ui.json"), JSON.stringify({ trace_10k_first_paint_ms: median }) + "\n");
} finally {
  await browser.close();
  await server.stop();
}
