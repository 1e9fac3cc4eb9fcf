// The Tools page and MCP sign-in, short of a real OAuth round trip (another test has that): a
// connected server shows the protocol revision agreed on and its name and version; the Add
// server form sends the OAuth client (id, secret, scopes, client credentials) only when given;
// an HTTP server that answers 401 shows "Sign-in required" with a Sign in button, in its header
// and next to the tools error, and a sign-in that cannot start says why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { createServer } from "node:net";
import { startServer, launchBrowser, openApp, screenshot, until, ROOT } from "./harness.mjs";

const DEMO_TOOLS = join(ROOT, "target/debug/waymark-demo-tools");

let server, browser, protectedTools;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  // A protected resource whose authorization server is not there: every request is a 401, and
  // a sign-in cannot get past discovery.
  protectedTools = await startProtectedDemoTools(`http://127.0.0.1:${await freePort()}`);
});
after(async () => {
  protectedTools?.child.kill();
  await browser?.close();
  await server?.stop();
});

async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** `waymark-demo-tools --http 127.0.0.1:0 --authorization-server AS`; its first stdout line is its URL. */
async function startProtectedDemoTools(authorizationServer) {
  const child = spawn(DEMO_TOOLS, ["--http", "127.0.0.1:0", "--authorization-server", authorizationServer], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RUST_LOG: "warn" },
  });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-4000)));
  const url = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`demo-tools printed no URL; stderr:\n${stderr}`)), 30000);
    createInterface({ input: child.stdout }).once("line", (line) => {
      clearTimeout(timer);
      ok(line.trim());
    });
    child.on("exit", (code) => fail(new Error(`demo-tools exited (${code}); stderr:\n${stderr}`)));
  });
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
  return { child, url };
}

async function openTools(page) {
  await page.getByRole("link", { name: "Tools" }).click();
  await page.getByRole("heading", { name: "Tools", level: 1 }).waitFor();
}

/** The JSON body of the next `mcp_add` the page posts, while `act` runs. */
async function addRequestOf(page, act) {
  const [req] = await Promise.all([page.waitForRequest((r) => r.url().endsWith("/api/v1/mcp_add") && r.method() === "POST"), act()]);
  return req.postDataJSON();
}

test("a connected server shows the protocol revision and its name and version", async () => {
  const page = await openApp(browser, server);
  await openTools(page);
  await page.locator('[data-server="demo-tools"]').click();
  const pane = page.getByRole("region", { name: "Server", exact: true });
  await page.getByRole("region", { name: "Tools of demo-tools" }).getByRole("link", { name: /send_email/ }).waitFor({ timeout: 30000 });
  const identity = pane.getByTestId("server-identity");
  await until(async () => /^protocol \d{4}-\d{2}-\d{2} · waymark-demo-tools \d+\.\d+\.\d+/.test(await identity.textContent()), {
    what: "protocol and identity of demo-tools",
  });
  const listed = (await server.api("mcp_list")).servers.find((s) => s.name === "demo-tools");
  assert.equal(listed.status.state, "connected");
  assert.equal(await identity.textContent(), `protocol ${listed.status.protocol_version} · waymark-demo-tools ${listed.status.server_version}`);
  // The list keeps it short: tools and protocol; a stdio server has no sign-in to show.
  await page.locator('[data-server="demo-tools"]').getByText(`protocol ${listed.status.protocol_version}`).waitFor();
  assert.equal(await pane.getByTestId("sign-in").count(), 0);
  await screenshot(page, "tools-identity");
  assert.deepEqual(page.pageErrors, []);
});

test("the add form sends the OAuth client only when one is given", async () => {
  const page = await openApp(browser, server);
  await openTools(page);
  await page.getByRole("button", { name: "Add server" }).click();
  const dialog = page.getByRole("dialog", { name: "Add an MCP server" });
  // Not for a local command.
  assert.equal(await dialog.getByText("Sign-in (OAuth)").count(), 0);
  await dialog.getByLabel("HTTP URL (Streamable HTTP)").check();
  await dialog.getByLabel("Name", { exact: true }).fill("oauth-machine");
  await dialog.getByLabel("URL", { exact: true }).fill(protectedTools.url);
  // Collapsed until opened.
  const clientId = dialog.getByLabel("Client id", { exact: true });
  assert.equal(await clientId.isVisible(), false);
  await dialog.getByText("Sign-in (OAuth)").click();
  await clientId.fill("waymark-test-client");
  await dialog.getByLabel("Scopes", { exact: true }).fill("  mcp:tools   extra ");
  await dialog.getByLabel("Sign in as a machine (client credentials)").check();
  // Client credentials without the secret: flagged on the checkbox, nothing sent.
  await dialog.getByRole("button", { name: "Add server" }).click();
  await dialog.getByText("signing in as a machine needs the client id and the client secret").waitFor();
  const secret = dialog.getByLabel("Client secret", { exact: true });
  assert.equal(await secret.getAttribute("type"), "password");
  await secret.fill("very-secret-client-value");
  await screenshot(page, "tools-add-oauth");
  const sent = await addRequestOf(page, () => dialog.getByRole("button", { name: "Add server" }).click());
  assert.deepEqual(sent.oauth, {
    client_id: "waymark-test-client",
    client_secret: "very-secret-client-value",
    scopes: ["mcp:tools", "extra"],
    client_credentials: true,
  });
  await dialog.waitFor({ state: "detached" });
  const listed = await until(async () => (await server.api("mcp_list")).servers.find((s) => s.name === "oauth-machine"), { what: "oauth-machine listed" });
  assert.equal(listed.oauth_client_id, "waymark-test-client");
  assert.ok(!JSON.stringify(listed).includes("very-secret-client-value"), "the API never gives the secret back");
  const pane = page.getByRole("region", { name: "Server", exact: true });
  await pane.getByTestId("oauth-client-id").getByText("waymark-test-client").waitFor();
  assert.ok(!(await page.content()).includes("very-secret-client-value"), "the page never shows the secret");

  // Left empty: no `oauth` at all.
  await page.getByRole("button", { name: "Add server" }).first().click();
  await dialog.getByLabel("HTTP URL (Streamable HTTP)").check();
  await dialog.getByLabel("Name", { exact: true }).fill("oauth-plain");
  await dialog.getByLabel("URL", { exact: true }).fill(protectedTools.url);
  const plain = await addRequestOf(page, () => dialog.getByRole("button", { name: "Add server" }).click());
  assert.equal("oauth" in plain, false, JSON.stringify(plain));
  await dialog.waitFor({ state: "detached" });
  assert.equal((await server.api("mcp_list")).servers.find((s) => s.name === "oauth-plain").oauth_client_id, undefined);
  assert.deepEqual(page.pageErrors, []);
});

test("a server that answers 401 asks for a sign-in, in its header and next to the tools error", async () => {
  await server.api("mcp_add", { name: "protected", url: protectedTools.url, args: [], env: {}, headers: {} });
  const page = await openApp(browser, server);
  await openTools(page);
  await page.locator('[data-server="protected"]').click();
  const pane = page.getByRole("region", { name: "Server", exact: true });
  // Listing the tools meets the 401: the tools error offers the sign-in, the header says why.
  const banner = page.getByRole("region", { name: "Tools of protected" }).getByRole("alert");
  await banner.getByText("protected asks for a sign-in before it lists its tools").waitFor({ timeout: 30000 });
  await banner.getByRole("button", { name: "Sign in" }).waitFor();
  const line = pane.locator('[data-testid="sign-in"][data-state="required"]');
  await line.getByText("Sign-in required").waitFor();
  assert.ok((await line.locator(".sign-in-reason").textContent()).trim().length > 0, "the reason is given");
  await page.locator('[data-server="protected"]').getByText("sign-in required").waitFor();
  const listed = (await server.api("mcp_list")).servers.find((s) => s.name === "protected");
  assert.equal(listed.sign_in.state, "required");
  await screenshot(page, "tools-sign-in-required");

  // The authorization server is not there: the sign-in cannot start, and says so; the page
  // offers it again.
  await line.getByRole("button", { name: "Sign in" }).click();
  await pane.getByRole("alert").filter({ hasText: "The sign-in did not complete" }).waitFor({ timeout: 30000 });
  await pane.locator('[data-testid="sign-in"][data-state="required"]').getByRole("button", { name: "Sign in" }).waitFor();
  assert.equal(page.context().pages().length, 1, "no browser window for a sign-in that did not start");
  await screenshot(page, "tools-sign-in-failed");
  assert.deepEqual(page.pageErrors, []);
});
