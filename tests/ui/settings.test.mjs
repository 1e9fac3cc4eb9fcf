// Settings: a provider key is write-only (never shown back, never in settings_get), base URLs
// are set and cleared, webhook secrets are stored, the data location is shown, and the theme
// override sticks across reloads.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openApp, screenshot, until } from "./harness.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

const KEY = "sk-test-DoNotShow-" + Math.random().toString(36).slice(2);

test("a provider key is stored, shown only as 'key stored', and never sent back", async () => {
  const page = await openApp(browser, server);
  await page.getByRole("link", { name: "Settings" }).click();
  const status = page.getByTestId("key-status-openai");
  await status.waitFor();
  assert.equal(await status.innerText(), "no key");
  assert.equal(await page.getByTestId("key-input-openai").getAttribute("type"), "password");

  await page.getByTestId("key-input-openai").fill(KEY);
  await page.getByTestId("store-key-openai").click();
  await until(async () => (await status.innerText()) === "key stored", { what: "key stored" });
  assert.equal(await page.getByTestId("key-input-openai").inputValue(), "", "the input is emptied");
  assert.ok(!(await page.content()).includes(KEY), "the key is not in the page");
  await screenshot(page, "settings");

  const settings = await server.api("settings_get");
  assert.ok(!JSON.stringify(settings).includes(KEY), "settings_get does not return the key");
  assert.equal(settings.providers.find((p) => p.provider === "openai").has_key, true);
  assert.deepEqual(settings.providers_with_keys, ["openai"]);

  // After a reload the page still says a key is stored, and still does not show it.
  await page.reload();
  await until(async () => (await page.getByTestId("key-status-openai").innerText()) === "key stored", { what: "key stored after reload" });
  assert.ok(!(await page.content()).includes(KEY));
  assert.equal(await page.getByTestId("key-input-openai").inputValue(), "");

  // Deleting it.
  await page.getByTestId("delete-key-openai").click();
  await until(async () => (await page.getByTestId("key-status-openai").innerText()) === "no key", { what: "no key" });
  assert.equal((await server.api("settings_get")).providers_with_keys.length, 0);
  assert.deepEqual(page.pageErrors, []);
});

test("a base URL is set, refused when not http(s), and cleared", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/settings");
  const url = page.getByTestId("base-url-anthropic");
  await url.fill("ftp://example.test");
  await page.getByTestId("save-url-anthropic").click();
  await page.getByTestId("provider-anthropic").getByRole("alert").waitFor();
  assert.match(await page.getByTestId("provider-anthropic").getByRole("alert").innerText(), /http:\/\/ or https:\/\//);
  assert.equal(await url.getAttribute("aria-invalid"), "true");

  await url.fill("http://127.0.0.1:8999/v1");
  await page.getByTestId("save-url-anthropic").click();
  await until(async () => (await server.api("settings_get")).providers.find((p) => p.provider === "anthropic").base_url === "http://127.0.0.1:8999/v1", {
    what: "the base URL saved",
  });
  await page.getByTestId("provider-anthropic").getByRole("button", { name: "Clear" }).click();
  await until(async () => (await server.api("settings_get")).providers.find((p) => p.provider === "anthropic").base_url === undefined, { what: "the base URL cleared" });
  await until(async () => (await url.inputValue()) === "", { what: "the field emptied" });
});

test("webhook secrets are write-only and the data location is shown", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/settings");
  assert.equal(await page.getByTestId("data-dir").innerText(), server.home);
  assert.match(await page.getByTestId("secret-store").innerText(), /file/);

  await page.getByTestId("webhook-name").fill("SUPPORT_WEBHOOK_SECRET");
  await page.getByTestId("webhook-secret").fill("short");
  await page.getByTestId("store-webhook-secret").click();
  await page.getByRole("alert").filter({ hasText: /at least 16 characters/ }).waitFor();
  assert.equal(await page.getByTestId("webhook-secret").getAttribute("aria-invalid"), "true");

  const secret = "whsec-" + "x".repeat(24);
  await page.getByTestId("webhook-name").fill("SUPPORT_WEBHOOK_SECRET");
  await page.getByTestId("webhook-secret").fill(secret);
  await page.getByTestId("store-webhook-secret").click();
  await page.getByText("Stored the secret").waitFor();
  assert.equal(await page.getByTestId("webhook-secret").inputValue(), "");
  assert.ok(!(await page.content()).includes(secret));
});

test("the theme override switches the page and survives a reload", async () => {
  const page = await openApp(browser, server, { colorScheme: "light" });
  await page.goto(server.base + "/#/settings");
  const dark = () => page.evaluate(() => document.documentElement.classList.contains("dark"));
  assert.equal(await dark(), false);
  await page.getByText("Dark", { exact: true }).click();
  assert.equal(await dark(), true);
  assert.equal(await page.evaluate(() => localStorage.getItem("waymark.theme")), "dark");
  await page.reload();
  await page.getByTestId("theme-dark").waitFor({ state: "attached" });
  assert.equal(await dark(), true);
  assert.equal(await page.getByTestId("theme-dark").isChecked(), true);
  await screenshot(page, "settings-dark");
  await page.getByText("System", { exact: true }).click();
  assert.equal(await dark(), false, "System follows the (light) system setting");
  assert.equal(await page.evaluate(() => localStorage.getItem("waymark.theme")), null);
});

test("the database setting: this computer in use; a team database is checked before it is saved", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/settings");
  await page.getByTestId("database-in-use").waitFor();
  assert.equal(await page.getByTestId("database-in-use").innerText(), "This computer");
  assert.match(await page.getByTestId("database-location").innerText(), /waymark\.db$/);

  await page.getByTestId("database-team").check();
  const url = page.getByTestId("database-url");
  // A password in the URL is refused before anything is sent.
  await url.fill("postgres://ann:hunter2@db.example:5432/team");
  assert.equal(await url.getAttribute("aria-invalid"), "true");
  assert.equal(await page.getByTestId("save-database").isDisabled(), true);
  // A server that does not answer: the error names it, and nothing is saved.
  await url.fill("postgres://ann@127.0.0.1:1/team");
  await page.getByTestId("database-password").fill("pw-never-shown");
  await page.getByTestId("save-database").click();
  const alert = page.getByRole("alert").filter({ hasText: "Not saved" });
  await alert.waitFor();
  assert.match(await alert.innerText(), /127\.0\.0\.1:1/);
  assert.ok(!(await alert.innerText()).includes("pw-never-shown"));
  const settings = await server.api("settings_get");
  assert.equal(settings.database.team_database, undefined, "nothing saved");
  assert.equal(settings.database.in_use, "this_computer");
  assert.ok(!JSON.stringify(settings).includes("pw-never-shown"));
  assert.deepEqual(page.pageErrors, []);
});
