// The app opens through the token link, in both themes, and refuses a browser without a session.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openApp, screenshot } from "./harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the token link signs the browser in and the app shows its sections", async () => {
  const page = await openApp(browser, server);
  for (const name of ["Agents", "Tools", "Runs", "Settings"]) {
    assert.ok(await page.getByRole("link", { name }).isVisible(), `nav link ${name}`);
  }
  assert.ok(!page.url().includes("token="), "the token is dropped from the address bar");
  await screenshot(page, "app-light");
  assert.deepEqual(page.pageErrors, []);
});

test("dark theme follows the system setting", async () => {
  const page = await openApp(browser, server, { colorScheme: "dark" });
  assert.equal(await page.evaluate(() => document.documentElement.classList.contains("dark")), true);
  await screenshot(page, "app-dark");
});

test("without a session the app asks for the token, and a wrong one is refused", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(server.base + "/");
  await page.getByRole("heading", { name: "Sign in to Waymark" }).waitFor();
  await page.getByLabel("Token").fill("wrong-token-wrong-token");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("Wrong token.").waitFor();
  await page.getByLabel("Token").fill(server.token);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator('nav[aria-label="Sections"]').waitFor();
  await screenshot(page, "sign-in");
});
