// Desktop smoke test: the real Tauri app under Xvfb, driven over the W3C WebDriver protocol
// (WebKitWebDriver, as tauri-driver would start it: webdriver.mjs). Plain Node 20, no npm packages.
//
// Run it with `bash scripts/desktop.sh smoke` (which builds the app and wraps this in
// `dbus-run-session -- xvfb-run -a`).
//
// 1. start the app with a fresh WAYMARK_HOME, wait for the app's nav (not an error page);
// 2. run the offline demo agent through the UI: Agents page → run → approve the email → succeeded;
// 3. confirm through the API that the run succeeded;
// 4. save an agent with a Standard Webhooks trigger, sign a delivery as a sender would and
//    post it to the app's loopback receiver; the run it starts shows in the Runs page;
// 5. the email trigger of the lead-reply example connects to the mail lab (Triggers page);
// 6. sign in to an MCP server that asks for OAuth: the Tools page's "Sign in" opens the page in
//    the system browser (the app's `open_external`, here `$BROWSER`: a headless opener that
//    follows the redirects back to the app's loopback listener), and the page then shows the
//    server signed in, with its tools.

import { execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { postSignedWebhook } from "../ui/standard-webhooks.mjs";
import { startMailLab } from "../ui/mail-lab.mjs";
import { BROWSER_COMMAND, startOAuthLab } from "./oauth-lab.mjs";
import { Driver, fail, startWebDriver, until } from "./webdriver.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const app = process.env.WAYMARK_DESKTOP_BIN ?? join(root, "target/debug/waymark-desktop");
const port = Number(process.env.WEBDRIVER_PORT ?? 4444);
const screenshot = join(root, "target/ui-screenshots/desktop-smoke.png");
const DEMO_AGENT = "demo-support";
const log = (m) => console.log(`desktop-smoke: ${m}`);

const d = new Driver(port);
const wd = (method, path, body) => d.wd(method, path, body);
const s = (path) => d.s(path);
const find = (css) => d.find(css);
const script = (body, args) => d.script(body, args);
const click = (id) => d.click(id);
const text = (id) => d.text(id);
const apiCall = (command, request) => d.apiCall(command, request);
const waitForSelector = (selector, timeoutMs) => d.waitForSelector(selector, timeoutMs);
const waitForTestId = (testid, timeoutMs) => d.waitForTestId(testid, timeoutMs);

async function runThroughUi() {
  await script(`location.hash = '#/agents'`);
  const run = await waitForTestId(`run-agent-${DEMO_AGENT}`, 15_000);
  await click(run);
  const submit = await waitForTestId("start-run-submit", 10_000);
  await click(submit);
  const runId = await until("the app to open the new run (#/runs/<id>)", 15_000, async () => {
    const hash = await script("return location.hash");
    return /^#\/runs\/([0-9a-f-]{36})/.exec(hash)?.[1];
  });
  log(`run ${runId} started from the Agents page`);
  const step = await waitForApproval(runId);
  // The run waits for a person: select the approval step in the timeline, approve it, confirm.
  await click(await waitForSelector(`[data-testid="step-row"][data-key="${step}"]`, 15_000));
  await click(await waitForTestId("approve-step", 10_000));
  await click(await waitForTestId("confirm-approve", 10_000));
  log(`approved ${step} in the run page`);
  await waitForTestId("run-status", 10_000);
  await until('[data-testid="run-status"] to read "succeeded"', 60_000, async () => {
    const el = await find('[data-testid="run-status"]');
    return el && (await text(el)).trim().toLowerCase() === "succeeded";
  });
  log('the run page shows "succeeded"');
  return runId;
}

async function waitForApproval(runId) {
  return until("the run to wait for an approval", 60_000, async () => {
    const got = await apiCall("runs_get", { run_id: runId });
    if (["failed", "cancelled", "succeeded"].includes(got.run.status))
      fail(`the run ended as ${got.run.status} before asking for approval: ${JSON.stringify(got.run.error)}`);
    return got.steps.find((st) => st.kind === "approval" && st.status === "waiting")?.key;
  });
}

async function webhookThroughLoopback() {
  // Any free loopback port (Settings' default, 4681, may be taken on a shared machine).
  await apiCall("settings_set_hooks_port", { port: 0 });
  const demo = await apiCall("agents_get", { name: DEMO_AGENT });
  const spec = {
    ...demo.spec,
    name: "hooked",
    triggers: [{ kind: "webhook", auth: "standard_webhooks", secret_ref: "HOOKED_SECRET" }],
  };
  await apiCall("agents_save", { spec });
  const { secret } = await apiCall("settings_generate_webhook_secret", { name: "HOOKED_SECRET" });
  // The app starts its receiver once an agent has a webhook trigger.
  const info = await until("the app's loopback webhook receiver", 30_000, async () => {
    const got = await apiCall("agents_webhook", { name: "hooked" });
    return got.url && got;
  });
  if (!info.local_only || !/^http:\/\/127\.0\.0\.1:\d+\/hooks\/hooked$/.test(info.url))
    fail(`the receiver's URL is not on loopback: ${JSON.stringify(info)}`);
  const sent = await postSignedWebhook(info.url, secret, JSON.stringify({ order: "A-1001", event: "order.paid" }));
  if (sent.status !== 201 || !sent.body.run_id) fail(`the webhook was answered ${sent.status}: ${JSON.stringify(sent.body)}`);
  const runId = sent.body.run_id;
  log(`a signed webhook to ${info.url} started run ${runId}`);
  await script(`location.hash = '#/runs'`);
  await waitForSelector(`a[data-testid="run-row"][href*="${runId}"]`, 30_000);
  const last = await apiCall("agents_webhook", { name: "hooked" });
  if (last.last_delivery?.status !== 201 || last.last_delivery?.run_id !== runId)
    fail(`the last delivery is not recorded: ${JSON.stringify(last.last_delivery)}`);
  log("the Runs page lists the webhook's run; the agent's last delivery says 201");
}

// The lead-reply example with its email trigger on the mail lab (Dovecot on loopback): the
// app's host watches the inbox, and the Triggers page shows the trigger connected (IDLE).
async function emailTriggerConnected() {
  const lab = await startMailLab();
  try {
    const { imap_port, smtp_port, user, password, address } = lab.info;
    const server = (port) => ({ host: "127.0.0.1", port, security: "plain", user });
    await apiCall("mail_account_save", {
      account: { name: "sales", address, imap: server(imap_port), smtp: server(smtp_port), auth: { kind: "password", secret_ref: "" } },
      password,
    });
    const dir = join(root, "examples/lead-reply");
    await apiCall("agents_import", {
      text: readFileSync(join(dir, "lead-reply.toml"), "utf8"),
      format: "toml",
      file_name: "lead-reply.toml",
      base_dir: dir,
    });
    await script(`location.hash = '#/triggers'`);
    await waitForSelector('[data-testid="trigger-lead-reply-email"][data-state="idle"]', 60_000);
    log("the Triggers page shows the lead agent's email trigger connected (idle on sales/INBOX)");
  } finally {
    await lab.close();
  }
}

// An HTTP MCP server behind OAuth, added through the API; its sign-in driven from the Tools page.
// The authorization page opens through the app's `open_external` command with `$BROWSER` (the
// headless opener), not in the webview: the window stays the only one.
async function signInFromToolsPage() {
  const lab = await startOAuthLab();
  try {
    const name = "protected";
    await apiCall("mcp_add", { name, url: lab.url, args: [], env: {}, headers: {} });
    await script(`location.hash = '#/tools/${name}'`);
    // Listing its tools meets the 401: the header asks for a sign-in.
    const required = '[data-testid="sign-in"][data-state="required"]';
    const button = await waitForSelector(`${required} button`, 60_000);
    if (!/Sign in/.test(await text(button))) fail(`the sign-in line's button reads "${await text(button)}"`);
    const handles = (await wd("GET", s("/window/handles"))).length;
    await click(button);
    log(`clicked "Sign in" for ${name} (${lab.url}; authorization server ${lab.issuer})`);
    // The page's own error (the sign-in did not complete, the browser could not be opened) ends the wait.
    const outcome = await until('the server\'s header to say "Signed in"', 60_000, async () => {
      const failed = await script(
        `return [...document.querySelectorAll('[role="alert"]')].map((e) => e.innerText).find((t) => /did not complete|could not be opened/.test(t))`,
      );
      if (failed) return { failed };
      const el = await find('[data-testid="sign-in"][data-state="signed_in"]');
      return el && { signedIn: await text(el) };
    });
    if (outcome.failed) fail(`the sign-in failed: ${outcome.failed}\n${lab.logs()}`);
    const { signedIn } = outcome;
    if (!signedIn.includes("Signed in")) fail(`the signed-in line reads "${signedIn}"`);
    await waitForSelector(`a.tool-item[href="#/tools/${name}/lookup_order"]`, 30_000);
    const listed = (await apiCall("mcp_list", {})).servers.find((sv) => sv.name === name);
    if (listed?.sign_in?.state !== "signed_in" || !String(listed.sign_in.issuer).startsWith(lab.issuer))
      fail(`mcp_list does not show ${name} signed in with ${lab.issuer}: ${JSON.stringify(listed?.sign_in)}`);
    if (!listed.sign_in.scopes.includes("mcp:tools")) fail(`the scopes granted: ${JSON.stringify(listed.sign_in.scopes)}`);
    const after = (await wd("GET", s("/window/handles"))).length;
    if (after !== handles) fail(`the sign-in opened a window in the app (${handles} → ${after}), not the system browser`);
    log(`the Tools page shows ${name} "${/Signed in( \([^)]*\))?/.exec(signedIn)[0]}" and lists its tools (lookup_order)`);
  } finally {
    await lab.close();
  }
}

// What the window showed when the test failed: its address, title, the start of its HTML, and
// a screenshot next to the success one.
async function diagnose() {
  try {
    const page = await script(
      "return [location.href, document.title, document.documentElement.outerHTML.slice(0, 1500)]",
    );
    console.error(`desktop-smoke: the window at failure: ${page[0]} "${page[1]}"\n${page[2]}`);
    const png = await wd("GET", s("/screenshot"));
    const file = screenshot.replace(/\.png$/, "-failure.png");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, Buffer.from(png, "base64"));
    console.error(`desktop-smoke: failure screenshot: ${file}`);
  } catch (e) {
    console.error(`desktop-smoke: cannot inspect the window: ${e.message}`);
  }
}

async function main() {
  if (!existsSync(app)) fail(`${app} is missing: run \`cargo build -p waymark-desktop\` first`);
  const home = mkdtempSync(join(tmpdir(), "waymark-desktop-smoke-"));
  // BROWSER: what the app's `open_external` runs (a sign-in page), as the CLI does.
  const env = { ...process.env, WAYMARK_HOME: home, WAYMARK_SECRET_BACKEND: "file", BROWSER: BROWSER_COMMAND };
  delete env.WAYMARK_DB;
  const driver = startWebDriver(port, env);
  try {
    await d.open(app);
    log(`session ${d.session}; the app is up`);
    const page = await script("return [location.href, document.title, document.body.innerText.slice(0, 300)]");
    if (!String(page[0]).includes("localhost") || /could not connect|not found|error/i.test(page[1]))
      fail(`the window shows an error page: ${JSON.stringify(page)}`);
    log(`the app is up at ${page[0]} ("${page[1]}")`);

    const runId = await runThroughUi();
    const final = await until("the run to succeed (runs_get)", 60_000, async () => {
      const got = await apiCall("runs_get", { run_id: runId });
      if (["failed", "cancelled"].includes(got.run.status))
        fail(`the run ended as ${got.run.status}: ${JSON.stringify(got.run.error)}`);
      return got.run.status === "succeeded" && got;
    });
    log(`run ${runId}: ${final.run.status} in ${final.run.step_count} steps (confirmed by runs_get)`);
    await webhookThroughLoopback();
    await emailTriggerConnected();
    await signInFromToolsPage();
    // The window with the finished run, as WebDriver renders it and as the display shows it
    // (the X11 framebuffer). Taken at the end: right after the first DOM check the webview may
    // not have painted yet.
    mkdirSync(dirname(screenshot), { recursive: true });
    writeFileSync(screenshot, Buffer.from(await wd("GET", s("/screenshot")), "base64"));
    const x11 = screenshot.replace(/\.png$/, "-x11.png");
    execFileSync("import", ["-window", "root", x11]);
    log(`screenshots: ${screenshot}, ${x11}`);
    log("PASS (the run started and approved through the UI; a signed webhook reached the app; the email trigger is connected; an MCP server signed in through the system browser)");
  } catch (e) {
    if (d.session) await diagnose();
    throw e;
  } finally {
    await d.close();
    await driver.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`desktop-smoke: FAIL: ${e.message}`);
    process.exit(1);
  },
);
