// A run of 10,000 steps opens fast and scrolls to its end with at most ~200 step rows in the DOM.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openApp, screenshot, until } from "./harness.mjs";

let server, browser, runId;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  ({ run_id: runId } = await server.api("runs_start_function", { function: "example.batch", input: { steps: 10000 } }));
  // A one-step page: polling the whole 10,000-step trace would be megabytes each time.
  await until(async () => (await server.api("runs_get_page", { run_id: runId, offset: 0, limit: 1 })).run.status === "succeeded", {
    timeout: 240000,
    what: "the 10,000-step run to succeed",
  });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a 10,000-step run opens and scrolls to its end with a bounded DOM", async () => {
  const page = await openApp(browser, server);
  const t0 = Date.now();
  await page.goto(`${server.base}/#/runs/${runId}`);
  await page.locator("[data-testid=step-row]").first().waitFor();
  const firstPaint = Date.now() - t0;
  console.log(`# first rows of a 10,000-step run after ${firstPaint} ms`);
  assert.equal(await page.getByTestId("run-status").textContent(), "succeeded");
  // The first page of steps paints first; the rest of the journal follows.
  await until(async () => (await page.getByTestId("steps-loading").count()) === 0, { what: "all steps loaded" });
  const counts = [await page.locator("[data-testid=step-row]").count()];
  const timeline = page.getByTestId("timeline");

  // Scroll down in big jumps, counting rows in the DOM at every stop.
  const height = await timeline.evaluate((el) => el.scrollHeight);
  assert.ok(height >= 10000 * 28, `the list is as tall as 10,000 rows (${height})`);
  for (let y = 0; y <= height; y += Math.floor(height / 12)) {
    await timeline.evaluate((el, top) => (el.scrollTop = top), y);
    await page.waitForFunction((top) => {
      const rows = [...document.querySelectorAll("[data-testid=step-row]")];
      return rows.some((r) => {
        const m = /translateY\((\d+(?:\.\d+)?)px\)/.exec(r.style.transform);
        return m && Math.abs(Number(m[1]) - top) < 28 * 40;
      });
    }, Math.min(y, height - 900));
    counts.push(await page.locator("[data-testid=step-row]").count());
  }
  // And to the very end, with the keyboard.
  await timeline.focus();
  await page.keyboard.press("End");
  const last = page.locator('[data-testid=step-row][data-key="item/10000"]');
  await last.waitFor();
  assert.ok(await last.isVisible(), "the last step's row is visible");
  await until(async () => /item%2F10000|item\/10000/.test(page.url()), { what: "End selects the last step" });
  await until(async () => (await page.locator(".inspector-title").textContent()) === "item/10000", { what: "the inspector shows the last step" });
  counts.push(await page.locator("[data-testid=step-row]").count());
  const box = await last.boundingBox();
  const view = await timeline.boundingBox();
  assert.ok(box && view && box.y >= view.y - 1 && box.y + box.height <= view.y + view.height + 1, "the last row is inside the timeline's viewport");
  console.log(`# step rows in the DOM: max ${Math.max(...counts)} (${counts.join(", ")})`);
  assert.ok(Math.max(...counts) <= 200, `at most ~200 rows in the DOM (saw ${Math.max(...counts)})`);
  assert.ok(Math.min(...counts) > 10, "rows are rendered at every stop");

  // The first item failed once and succeeded: the amber ×2 and `e` finds no failure to jump to.
  await page.keyboard.press("Home");
  const first = page.locator('[data-testid=step-row][data-key="item/00001"]');
  await first.waitFor();
  assert.equal((await first.locator(".badge.attempts").textContent()).trim(), "×2");
  await screenshot(page, "run-10k");
  assert.deepEqual(page.pageErrors, []);
});
