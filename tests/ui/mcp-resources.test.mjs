// MCP resources and prompts on the Tools page: demo-tools lists its order resources, reading one
// shows its JSON, the order template is filled in and read, the order_reply prompt is fetched
// with its arguments, and a missing required argument is refused with a clear error.
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

async function openDemoTools(page) {
  await page.getByRole("link", { name: "Tools" }).click();
  await page.getByRole("heading", { name: "Tools", level: 1 }).waitFor();
  await page.locator('[data-server="demo-tools"]').click();
  await page.getByRole("region", { name: "Tools of demo-tools" }).waitFor();
}

test("demo-tools: list and read resources, fill in the order template", async () => {
  const page = await openApp(browser, server);
  await openDemoTools(page);
  await page.getByRole("tab", { name: "Resources" }).click();
  const list = page.getByRole("region", { name: "Resources of demo-tools" });
  const order = list.getByRole("button", { name: /demo:\/\/orders\/A-1001/ });
  await order.waitFor({ timeout: 30000 });
  await order.getByText("application/json").waitFor();

  await order.click();
  const detail = page.getByRole("region", { name: "Resource", exact: true });
  const contents = detail.getByRole("region", { name: "Contents" });
  await contents.getByText(/"customer": "Ada Lovelace"/).waitFor();
  // Pretty-printed: one key per line.
  assert.match(await contents.locator("pre").innerText(), /\n {2}"order_id": "A-1001",\n/);
  await screenshot(page, "tools-resources");

  const template = list.getByRole("form", { name: "Template demo://orders/{order_id}" });
  const read = template.getByRole("button", { name: "Read" });
  assert.equal(await read.isDisabled(), true, "the variable is empty: Read is disabled");
  await template.getByLabel("order_id").fill("A-1002");
  await template.getByTestId("template-uri").getByText("demo://orders/A-1002").waitFor();
  await read.click();
  await contents.getByRole("heading", { name: "demo://orders/A-1002" }).waitFor();
  await contents.getByText(/"customer": "Grace Hopper"/).waitFor();
  assert.deepEqual(page.pageErrors, []);
});

test("demo-tools: get the order_reply prompt; a missing required argument is a clear error", async () => {
  const page = await openApp(browser, server);
  await openDemoTools(page);
  await page.getByRole("tab", { name: "Prompts" }).click();
  const list = page.getByRole("region", { name: "Prompts of demo-tools" });
  const item = list.getByRole("button", { name: /order_reply/ });
  await item.waitFor({ timeout: 30000 });
  await item.getByText("order_id *").waitFor();
  await item.click();

  const detail = page.getByRole("region", { name: "Prompt", exact: true });
  await detail.getByRole("heading", { name: "order_reply" }).waitFor();
  const get = detail.getByRole("button", { name: "Get order_reply" });
  // Required marked; submitting without it names the missing argument and sends nothing.
  await detail.getByText("* required").waitFor();
  await get.click();
  const alert = detail.getByRole("alert");
  await alert.waitFor();
  assert.match(await alert.innerText(), /Missing required argument: order_id/);
  assert.equal(await detail.getByRole("region", { name: "Messages" }).count(), 0);

  await detail.getByLabel(/order_id/).fill("A-1001");
  await detail.getByLabel(/tone/).fill("formal");
  await get.click();
  const messages = detail.getByRole("region", { name: "Messages" });
  await messages.getByText(/order A-1001/).first().waitFor();
  await messages.getByText("user", { exact: true }).waitFor();
  assert.equal(await detail.getByRole("alert").count(), 0);
  await screenshot(page, "tools-prompts");
  assert.deepEqual(page.pageErrors, []);
});

test("start a run with a resource and a prompt attached to its input", async () => {
  const page = await openApp(browser, server);
  await page.getByTestId("run-demo").click();
  const dialog = page.getByRole("dialog", { name: "Start a run" });
  await dialog.getByRole("button", { name: "Attach a resource or prompt" }).click();
  const picker = dialog.getByTestId("attach-picker");
  await picker.getByLabel("Server").selectOption("demo-tools");
  await picker.getByLabel("Resource URI").fill("demo://orders/A-1002");
  await picker.getByRole("button", { name: "Add resource" }).click();
  await dialog.getByText("demo-tools: demo://orders/A-1002").waitFor();

  await dialog.getByRole("button", { name: "Attach a resource or prompt" }).click();
  await picker.getByLabel("Server").selectOption("demo-tools");
  await picker.getByLabel("Kind").selectOption("prompt");
  const add = picker.getByRole("button", { name: "Add prompt" });
  await picker.getByLabel(/order_id/).waitFor({ timeout: 30000 });
  assert.equal(await add.isDisabled(), true, "order_id is required");
  await picker.getByLabel(/order_id/).fill("A-1003");
  await add.click();
  await dialog.getByText("demo-tools: prompt order_reply (order_id=A-1003)").waitFor();
  await screenshot(page, "start-run-attach");

  await dialog.getByTestId("start-run-submit").click();
  await page.waitForURL(/#\/runs\/[0-9a-f-]+/);
  const run_id = decodeURIComponent(/#\/runs\/([^?]+)/.exec(page.url())[1]);
  const got = await server.api("runs_get", { run_id });
  const text = JSON.stringify(got.run);
  assert.match(text, /Grace Hopper/, "the resource was appended to the input");
  assert.match(text, /order A-1003/, "the prompt was appended to the input");
  assert.deepEqual(page.pageErrors, []);
});
