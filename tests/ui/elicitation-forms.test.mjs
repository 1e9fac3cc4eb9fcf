// The forms of servers' questions beyond the demo's: server-everything's question has every
// kind of field a form may hold (text by format, numbers in a range, yes/no, single and multiple
// choices, titled and legacy-named), each checked in the page before anything is sent; a
// hostile server's markup is shown as text and its long message cut, a form the card cannot
// build falls back to a JSON box (the server's refusal shown inline), and a `javascript:` link
// is never offered as a link.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join, resolve, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { startServer, launchBrowser, openApp, screenshot, until, stepRow as row, runStatusOf as statusOf, EVERYTHING } from "./harness.mjs";
import { ODD_MESSAGE } from "./odd-questions-mcp.mjs";

const ODD_SERVER = join(resolve(dirname(fileURLToPath(import.meta.url))), "odd-questions-mcp.mjs");

let server, browser;
before(async () => {
  server = await startServer();
  browser = await launchBrowser();
  await server.api("mcp_add", { name: "everything", command: "node", args: [EVERYTHING, "stdio"], env: {}, headers: {} });
  await server.api("mcp_add", { name: "odd", command: "node", args: [ODD_SERVER], env: {}, headers: {} });
});
after(async () => {
  await browser?.close();
  await server?.stop();
});

/** Starts a run of a scripted agent that calls `tool` of `mcpServer` with no arguments. */
async function runCalling(mcpServer, tool) {
  const name = `call-${tool}`;
  const script = join(server.home, `${name}.json`);
  writeFileSync(script, JSON.stringify({ turns: [{ tool_calls: [{ id: "c1", name: tool, arguments: {} }] }, { text: "Done." }] }));
  await server.api("agents_save", {
    spec: { name, instructions: "Call the tool.", model: { provider: "scripted", script }, tools: [{ kind: "mcp", server: mcpServer, tools: [tool] }] },
  });
  const { run_id } = await server.api("runs_start", { agent: name, input: "go" });
  const page = await openApp(browser, server);
  const answers = [];
  page.on("request", (r) => {
    if (r.url().endsWith("/api/v1/runs_elicitation_answer")) answers.push(r.postDataJSON());
  });
  await page.evaluate((id) => (window.location.hash = `#/runs/${id}`), run_id);
  // Servers that ask inside the open call (these do): the question's key names round 1, attempt 1.
  const card = page.locator('[data-testid=elicitation-card][data-step="elicit/1.1/a1.1.1"]');
  await card.waitFor({ timeout: 30000 });
  return { page, card, answers, run_id };
}

async function toolOutputShown(page, text) {
  await until(async () => (await statusOf(page)) === "succeeded", { what: "the run to succeed on the page" });
  await row(page, "tool/1.1").click();
  await page.getByTestId("inspector").getByText(text).first().waitFor();
}

test("every kind of field a form holds, with its defaults and its checks", async () => {
  const { page, card, answers } = await runCalling("everything", "trigger-elicitation-request");
  assert.equal(await statusOf(page), "running", "asked inside the open call: the run still runs");
  // A label is its title, and a star when the field is required.
  const labelled = (label) => new RegExp(`^${label.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}( \\*)?$`);
  const field = (label) => card.getByLabel(labelled(label));
  const errorOf = (label) => card.locator(".elicit-field", { has: page.getByLabel(labelled(label)) }).getByRole("alert");
  const group = (name) => card.getByRole("group", { name });

  // Widgets by type and format, defaults filled in.
  assert.equal(await field("String").inputValue(), "");
  assert.equal(await field("String").getAttribute("aria-required"), "true");
  assert.equal(await field("Boolean").isChecked(), false);
  assert.equal(await field("String with default").inputValue(), "It was a dark and stormy night.");
  assert.equal(await field("String with email format").getAttribute("type"), "email");
  assert.equal(await field("String with uri format").getAttribute("type"), "url");
  assert.equal(await field("String with date format").getAttribute("type"), "date");
  assert.equal(await field("Integer").inputValue(), "42");
  assert.equal(await field("Number in range 1-1000").inputValue(), "3.14");
  await card.getByText("A whole number from 1 to 100.").waitFor();
  assert.equal(await field("Untitled Single Select Enum").inputValue(), "Monica");
  assert.deepEqual(await field("Untitled Single Select Enum").locator("option").allTextContents(), ["(none)", "Monica", "Rachel", "Joey", "Chandler", "Ross", "Phoebe"]);
  assert.equal(await field("Titled Single Select Enum").inputValue(), "hero-1");
  assert.deepEqual(await field("Titled Single Select Enum").locator("option").allTextContents(), ["(none)", "Superman", "Green Lantern", "Wonder Woman"]);
  assert.deepEqual(await field("Legacy Titled Single Select Enum").locator("option").allTextContents(), ["(none)", "Cats", "Dogs", "Birds", "Fish", "Reptiles"]);
  assert.equal(await group("Untitled Multiple Select Enum").getByLabel("Guitar").isChecked(), true);
  assert.equal(await group("Untitled Multiple Select Enum").getByLabel("Piano").isChecked(), false);
  assert.equal(await group("Titled Multiple Select Enum").getByLabel("Tuna").isChecked(), true);
  await card.getByText("Your full, legal name").waitFor();
  await screenshot(page, "elicitation-every-field");

  // The required name is missing: nothing is sent.
  await card.getByTestId("elicitation-accept").click();
  assert.equal(await errorOf("String").textContent(), "Required.");
  // Each field checked as its schema says.
  await field("String").fill("Ada Lovelace");
  await field("String with email format").fill("not-an-email");
  await field("Integer").fill("150");
  await field("Number in range 1-1000").fill("1.");
  const instruments = group("Untitled Multiple Select Enum");
  await instruments.getByLabel("Guitar").uncheck();
  assert.equal(await errorOf("String").count(), 0, "fixed fields lose their error");
  assert.equal(await errorOf("String with email format").textContent(), "Enter an email address.");
  assert.equal(await errorOf("Integer").textContent(), "At most 100.");
  assert.equal(await instruments.getByRole("alert").textContent(), "Pick at least 1.");
  for (const i of ["Piano", "Drums", "Bass", "Violin"]) await instruments.getByLabel(i).check();
  assert.equal(await instruments.getByRole("alert").textContent(), "Pick at most 3.");
  await field("Integer").fill("4.5");
  assert.equal(await errorOf("Integer").textContent(), "Enter a whole number.");
  assert.deepEqual(answers, [], "nothing sent while a field is wrong");
  await screenshot(page, "elicitation-every-field-errors");

  await instruments.getByLabel("Violin").uncheck();
  await instruments.getByLabel("Bass").uncheck();
  await field("Integer").fill("7");
  await field("String with email format").fill("ada@example.com");
  await field("String with date format").fill("1815-12-10");
  await field("Boolean").check();
  await field("Titled Single Select Enum").selectOption({ label: "Wonder Woman" });
  await field("Legacy Titled Single Select Enum").selectOption({ label: "Dogs" });
  await card.getByTestId("elicitation-accept").click();
  await toolOutputShown(page, /- Name: Ada Lovelace/);
  assert.equal(answers.length, 1);
  assert.deepEqual(answers[0].content, {
    name: "Ada Lovelace",
    check: true,
    firstLine: "It was a dark and stormy night.",
    email: "ada@example.com",
    birthdate: "1815-12-10",
    integer: 7,
    // "1." is a number once sent.
    number: 1,
    untitledSingleSelectEnum: "Monica",
    // In the schema's order, not the clicks'.
    untitledMultipleSelectEnum: ["Piano", "Drums"],
    titledSingleSelectEnum: "hero-3",
    titledMultipleSelectEnum: ["fish-1"],
    legacyTitledEnum: "pet-2",
  });
  const output = page.getByTestId("inspector");
  for (const line of ["- Agreed to terms: true", "- Email: ada@example.com", "- Birthdate: 1815-12-10", "- Favorite Integer: 7"]) {
    await output.getByText(line).first().waitFor();
  }
  assert.deepEqual(page.pageErrors, []);
});

test("a hostile question: markup shown as text, a long message cut, a form it cannot build as JSON", async () => {
  const { page, card } = await runCalling("odd", "odd_form");
  const message = await card.getByTestId("elicitation-message").textContent();
  assert.ok(message.startsWith('<img src=x onerror="window.__pwned=1"><b>bold?</b> Pick a shipping box.'), message.slice(0, 120));
  assert.match(message, /… \([\d,]+ more characters\)$/);
  assert.ok(!message.includes("END-OF-MESSAGE"), "the message is cut");
  assert.ok(message.length < ODD_MESSAGE.length);
  assert.equal(await card.locator("img, b").count(), 0, "no markup from the server is rendered");
  assert.equal(await page.evaluate(() => window.__pwned), undefined);

  const box = card.getByTestId("elicitation-json");
  await box.getByText(/cannot be shown as fields \(the form requires box_code, which it does not describe\)/).waitFor();
  const json = box.getByLabel("Answer (JSON object)");
  assert.deepEqual(JSON.parse(await json.inputValue()), { size: "M" }, "the defaults it has");
  await screenshot(page, "elicitation-json-fallback");
  // The server's schema still rules: its refusal is shown on the card.
  await card.getByTestId("elicitation-accept").click();
  await card.getByRole("alert").filter({ hasText: "The answer was refused" }).getByText(/box_code/).waitFor();
  await json.fill("not json");
  assert.equal(await card.getByTestId("elicitation-accept").isDisabled(), true);
  await json.fill('{"size": "L", "box_code": "B7"}');
  await card.getByTestId("elicitation-accept").click();
  // Strings show as JSON in the inspector (quotes escaped).
  await toolOutputShown(page, /answer: \{\\"action\\":\\"accept\\",\\"content\\":\{\\"box_code\\":\\"B7\\",\\"size\\":\\"L\\"\}\}/);
  assert.deepEqual(page.pageErrors, []);
});

test("a javascript: link is shown as text, never offered to open; Cancel tells the server", async () => {
  const { page, card } = await runCalling("odd", "bad_link");
  await card.getByText("an address Waymark does not open").waitFor();
  await card.getByText("javascript:window.__pwned=1").waitFor();
  assert.equal(await card.locator("a").count(), 0, "no link");
  assert.equal(await card.getByTestId("elicitation-accept").isDisabled(), true);
  await card.getByTestId("elicitation-cancel").click();
  await card.getByTestId("elicitation-confirm-cancel").click();
  await toolOutputShown(page, 'answer: {\\"action\\":\\"cancel\\"}');
  assert.equal(await page.evaluate(() => window.__pwned), undefined);
  assert.deepEqual(page.pageErrors, []);
});
