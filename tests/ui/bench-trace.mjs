// Benchmark: time from opening a 10,000-step run (a click from the runs list: the hash changes)
// to its first painted step rows, in chromium; the median of 5. Writes
// target/bench/ui.json = {"trace_10k_first_paint_ms": N}.
// WAYMARK_BIN picks the server binary (make bench passes the release build); WAYMARK_UI_DIR the
// built UI (default ui/dist).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startServer, launchBrowser, openApp, until } from "./harness.mjs";

const RUNS = 5;

// The harness starts WAYMARK_BIN when it is set.
const server = await startServer();
const browser = await launchBrowser();
try {
  const { run_id } = await server.api("runs_start_function", { function: "example.batch", input: { steps: 10000 } });
  await until(async () => (await server.api("runs_get", { run_id })).run.status === "succeeded", { timeout: 300000, what: "the 10,000-step run" });
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
