// An agent's webhook as the Triggers section shows it: the URL a sender posts to (this
// computer only, on loopback), a secret generated there and shown once, and the last
// delivery's status once a sender has posted a signed request.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { startServer, launchBrowser, openApp, screenshot, until } from "./harness.mjs";
import { postSignedWebhook } from "./standard-webhooks.mjs";

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

test("the Triggers section gives the URL, a secret once, and the last delivery", async () => {
  const demo = await server.api("agents_get", { name: "demo-support" });
  const spec = { ...demo.spec, name: "hooked", triggers: [{ kind: "webhook", auth: "standard_webhooks", secret_ref: "HOOKED_SECRET" }] };
  await server.api("agents_save", { spec });
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents/hooked");
  const panel = page.getByTestId("webhook-panel-hooked");
  await panel.waitFor();
  const url = await panel.getByTestId("webhook-url").textContent();
  assert.equal(url, `${server.base}/hooks/hooked`);
  assert.match(await panel.textContent(), /this computer only/);
  assert.match(await panel.getByTestId("webhook-last-delivery").textContent(), /No delivery/);

  await panel.getByTestId("webhook-generate-secret").click();
  const secret = await panel.getByTestId("webhook-generated-secret").textContent();
  assert.match(secret, /^whsec_[A-Za-z0-9+/=]{40,}$/);

  const sent = await postSignedWebhook(url, secret, JSON.stringify({ event: "order.paid", order: "A-1001" }));
  assert.equal(sent.status, 201, JSON.stringify(sent.body));
  await panel.getByRole("button", { name: "Refresh" }).click();
  await until(async () => /: 201/.test(await panel.getByTestId("webhook-last-delivery").textContent()), { what: "the last delivery's status" });
  const link = panel.getByTestId("webhook-last-delivery").getByRole("link");
  assert.equal(await link.getAttribute("href"), `#/runs/${sent.body.run_id}`);
  await panel.scrollIntoViewIfNeeded();
  await screenshot(page, "agent-webhook");
});

test("the webhook port is a setting", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/settings");
  const input = page.getByTestId("hooks-port");
  await input.waitFor();
  assert.equal(await input.inputValue(), "4681");
  await input.fill("70000");
  assert.equal(await page.getByTestId("save-hooks-port").isDisabled(), true, "not a port");
  await input.fill("4700");
  await page.getByTestId("save-hooks-port").click();
  await until(async () => (await server.api("settings_get")).hooks_port === 4700, { what: "the port to be saved" });
});
