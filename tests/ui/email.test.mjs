// Email end to end against a real mail lab (Dovecot with IDLE, an SMTP server that keeps what it
// takes): Settings shows the account with its INBOX watched and idle, and Test connection passes;
// a lead's email starts a lead-reply run whose page shows the email, the draft reply is edited
// in place (a bad edit is refused by the server, inline) and approved, and exactly one reply
// leaves, with the edited subject, on the lead's thread. The Triggers page, the account form
// and the agent form's email fields are checked too. Last, a send cut off by a crash (the SMTP
// server frozen mid-send, `waymark serve` killed) is looked up in Sent from its banner, then retried.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ROOT, startServer, launchBrowser, openApp, screenshot, until, stepRow, runStatusOf, waitingStep } from "./harness.mjs";
import { startMailLab, headerOf } from "./mail-lab.mjs";

const EXAMPLE = join(ROOT, "examples/lead-reply");
const LEAD_ID = `<lead-${Date.now()}-${process.pid}@acme.test>`;
const SECOND_ID = `<lead-${Date.now()}-${process.pid}-2@acme.test>`;
const EDITED_SUBJECT = "Re: Pricing question (50 seats)";

let server, browser, lab;
before(async () => {
  lab = await startMailLab();
  server = await startServer();
  browser = await launchBrowser();
  const { imap_port, smtp_port, user, password } = lab.info;
  await server.api("mail_account_save", {
    account: {
      name: "sales",
      address: "sales@waymark.test",
      display_name: "Waymark sales",
      imap: { host: "127.0.0.1", port: imap_port, security: "plain", user },
      smtp: { host: "127.0.0.1", port: smtp_port, security: "plain", user },
      auth: { kind: "password", secret_ref: "" },
    },
    password,
  });
  // `serve` installs the demo, whose server is demo-tools (`waymark demo-tools`); add it otherwise.
  const { servers } = await server.api("mcp_list");
  if (!servers.some((s) => s.name === "demo-tools")) {
    await server.api("mcp_add", { name: "demo-tools", command: join(ROOT, "target/debug/waymark"), args: ["demo-tools"], env: {}, headers: {} });
  }
  await server.api("agents_import", {
    text: readFileSync(join(EXAMPLE, "lead-reply.toml"), "utf8"),
    format: "toml",
    file_name: "lead-reply.toml",
    base_dir: EXAMPLE,
  });
  // The trigger watches INBOX once it is signed in (IDLE); mail delivered before that is old mail.
  await until(async () => (await server.api("triggers_list")).triggers.find((t) => t.agent === "lead-reply")?.state === "idle", { what: "the INBOX to be watched" });
});
after(async () => {
  await browser?.close();
  await server?.stop();
  await lab?.close();
});

/** A lead's email with a small attachment, as a sender's client would write it. */
function leadEmail(messageId = LEAD_ID) {
  const pdf = Buffer.from("%PDF-1.4\n% a tiny stand-in for a requirements document\n").toString("base64");
  return [
    "From: Ann Buyer <ann@acme.test>",
    "To: Waymark sales <sales@waymark.test>",
    "Subject: Pricing question",
    `Message-ID: ${messageId}`,
    "Date: Mon, 07 Dec 2026 09:00:00 +0000",
    "MIME-Version: 1.0",
    'Content-Type: multipart/mixed; boundary="b1"',
    "",
    "--b1",
    "Content-Type: text/plain; charset=utf-8",
    "",
    "Hello,",
    "we are about 50 people at Acme. How much would Waymark cost us?",
    "",
    "Ann",
    "--b1",
    'Content-Type: application/pdf; name="requirements.pdf"',
    'Content-Disposition: attachment; filename="requirements.pdf"',
    "Content-Transfer-Encoding: base64",
    "",
    pdf,
    "--b1--",
    "",
  ].join("\r\n");
}

test("Settings shows the account, its INBOX watched and idle, and Test connection passes both", async () => {
  const page = await openApp(browser, server);
  await page.getByRole("link", { name: "Settings" }).click();
  const card = page.getByTestId("mail-account-sales");
  await card.waitFor();
  assert.match(await card.innerText(), /Waymark sales <sales@waymark\.test>/);
  assert.equal(await card.getByTestId("mail-password-kind").innerText(), "password stored");
  const inbox = card.getByTestId("mail-folder-sales-INBOX");
  await until(async () => (await inbox.getAttribute("data-state")) === "idle", { what: "INBOX idle on the Settings page" });
  assert.equal(await inbox.getByTestId("folder-state").innerText(), "connected, idle");
  assert.match(await inbox.innerText(), /lead-reply/);

  await card.getByTestId("mail-test").click();
  const imap = card.getByTestId("mail-test-imap");
  await imap.waitFor({ timeout: 30000 });
  assert.equal(await imap.getAttribute("data-ok"), "true", await imap.innerText());
  assert.match(await imap.innerText(), /IDLE/);
  assert.match(await imap.innerText(), /3 folders/);
  assert.equal(await card.getByTestId("mail-test-smtp").getAttribute("data-ok"), "true", await card.getByTestId("mail-test-smtp").innerText());
  assert.ok(!(await page.content()).includes(lab.info.password), "the password is not in the page");
  await card.scrollIntoViewIfNeeded();
  await screenshot(page, "settings-mail");
  assert.deepEqual(page.pageErrors, []);
});

let leadRun = null;

test("a lead's email: shown as an email, the draft edited in place and approved, one reply on the thread", async () => {
  const eml = join(lab.dir, "lead.eml");
  writeFileSync(eml, leadEmail());
  await lab.deliver("INBOX", eml);
  const run = await until(async () => (await server.api("runs_list", { agent: "lead-reply", include_children: false, offset: 0 })).runs[0], { what: "the run the email starts" });
  leadRun = run.id;
  await until(async () => (await waitingStep(server, run.id)) === "approval/2.1", { what: "the run to wait at approval/2.1", timeout: 60000 });

  const page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${run.id}`);
  // With no step selected the inspector shows the run's input: the email, not its JSON.
  const incoming = page.getByTestId("incoming-email");
  await incoming.waitFor();
  assert.equal(await incoming.getByTestId("email-subject").innerText(), "Pricing question");
  assert.equal(await incoming.getByTestId("email-from").innerText(), "Ann Buyer <ann@acme.test>");
  assert.equal(await incoming.getByTestId("email-to").innerText(), "Waymark sales <sales@waymark.test>");
  assert.match(await incoming.getByTestId("email-body").innerText(), /about 50 people at Acme/);
  const attachments = await incoming.getByTestId("email-attachments").innerText();
  assert.match(attachments, /requirements\.pdf/);
  assert.match(attachments, /application\/pdf/);
  assert.match(await incoming.innerText(), /sales\/INBOX/);
  await incoming.getByText("Raw input").click();
  await until(async () => (await incoming.getByRole("group", { name: "Input" }).count()) > 0, { what: "the raw input" });
  await screenshot(page, "email-run-input");

  // The approval: the draft as an email, replying to the lead's message.
  await stepRow(page, "approval/2.1").click();
  const card = page.getByTestId("email-approval");
  await card.waitFor();
  await until(async () => (await card.getByTestId("draft-from").innerText()) === "Waymark sales <sales@waymark.test>", { what: "the From line" });
  assert.equal(await card.getByTestId("draft-to").innerText(), "ann@acme.test");
  assert.equal(await card.getByTestId("draft-subject").innerText(), "Re: Pricing question");
  assert.match(await card.getByTestId("draft-body").innerText(), /Enterprise plan/);
  assert.match(await card.getByTestId("in-reply-to").innerText(), /In reply to: Pricing question from Ann Buyer/);
  await card.getByTestId("thread-context").getByText("The message it answers").click();
  await card.getByTestId("thread-email").waitFor();
  await screenshot(page, "email-approval");

  // Edit in place. A draft the tool's schema refuses (no recipient) comes back as the server's error, inline.
  await card.getByTestId("edit-email").click();
  await card.getByTestId("draft-to-input").fill("");
  await card.getByTestId("approve-step").click();
  await card.getByTestId("confirm-approve").click();
  const refusal = card.getByRole("alert");
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /Could not approve: .*edited arguments/);
  assert.equal(await runStatusOf(page), "waiting", "nothing was approved");

  await card.getByTestId("draft-to-input").fill("ann@acme.test");
  await card.getByTestId("draft-subject-input").fill(EDITED_SUBJECT);
  assert.equal(await card.getByTestId("draft-edited").innerText(), "edited: subject");
  await screenshot(page, "email-approval-edit");
  await card.getByTestId("approve-step").click();
  await card.getByTestId("confirm-approve").click();
  await until(async () => (await runStatusOf(page)) === "succeeded", { what: "the run to succeed", timeout: 60000 });

  // Exactly one message left, with the edited subject, on the lead's thread.
  const received = await lab.received();
  assert.equal(received.length, 1, JSON.stringify(received));
  assert.deepEqual(received[0].rcpt_tos, ["ann@acme.test"]);
  const raw = readFileSync(received[0].file, "utf8");
  assert.equal(headerOf(raw, "Subject"), EDITED_SUBJECT);
  assert.equal(headerOf(raw, "In-Reply-To"), LEAD_ID);
  assert.ok((headerOf(raw, "References") ?? "").includes(LEAD_ID), "References has the lead's Message-ID");

  // The send step: its Message-ID, threading headers, and the reviewer's edit.
  await stepRow(page, "tool/2.1").click();
  const sent = page.getByTestId("sent-email");
  await sent.waitFor();
  assert.equal(await sent.getByTestId("sent-message-id").innerText(), received[0].message_id);
  assert.equal(await sent.getByTestId("sent-in-reply-to").innerText(), LEAD_ID);
  assert.equal(await sent.getByTestId("draft-subject").innerText(), EDITED_SUBJECT);
  const change = sent.getByTestId("sent-change-subject");
  assert.match(await change.innerText(), /Re: Pricing question\s+Re: Pricing question \(50 seats\)/);
  assert.equal(await sent.getByTestId("sent-change-to").count(), 0, "only the subject changed");
  assert.match(await sent.getByTestId("sent-edit").innerText(), /Edited by the reviewer before sending/);
  await screenshot(page, "email-sent-step");
  assert.deepEqual(page.pageErrors, []);
});

test("the Triggers page lists every trigger with its live state and activity", async () => {
  assert.ok(leadRun, "needs the lead's run");
  const page = await openApp(browser, server);
  await page.getByRole("link", { name: "Triggers" }).click();
  const row = page.getByTestId("trigger-lead-reply-email");
  await row.waitFor();
  assert.match(await row.innerText(), /sales\/INBOX/);
  await until(async () => (await row.getAttribute("data-state")) === "idle", { what: "the email trigger idle" });
  await until(async () => /1 run started/.test(await row.innerText()), { what: "one run counted" });
  assert.match(await page.getByTestId("trigger-demo-support-manual").innerText(), /Manual/);
  await screenshot(page, "triggers");
  assert.deepEqual(page.pageErrors, []);
});

test("the account form: usual ports follow the security, the server's refusal shows, add and remove", async () => {
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/settings");
  await page.getByTestId("mail-account-sales").waitFor();
  await page.getByTestId("add-mail-account").click();
  const form = page.getByTestId("mail-form");
  assert.equal(await form.getByTestId("mail-imap-port").inputValue(), "993");
  assert.equal(await form.getByTestId("mail-smtp-port").inputValue(), "465");
  await form.getByTestId("mail-imap-security").selectOption("starttls");
  assert.equal(await form.getByTestId("mail-imap-port").inputValue(), "143");
  await form.getByTestId("mail-smtp-security").selectOption("starttls");
  assert.equal(await form.getByTestId("mail-smtp-port").inputValue(), "587");
  await form.getByTestId("mail-smtp-security").selectOption("plain");
  assert.equal(await form.getByTestId("mail-smtp-port").inputValue(), "25");

  await form.getByTestId("mail-name").fill("support");
  await form.getByTestId("mail-address").fill("support@example.com");
  await form.getByTestId("mail-imap-host").fill("imap.example.com");
  await form.getByTestId("mail-imap-user").fill("support@example.com");
  assert.equal(await form.getByTestId("mail-smtp-user").inputValue(), "support@example.com", "the SMTP user follows");
  await form.getByTestId("mail-smtp-host").fill("smtp.example.com");
  await form.getByTestId("mail-password").fill("a-secret-password");
  // No encryption to a host elsewhere: the server refuses, and says why.
  await form.getByTestId("mail-save").click();
  const refusal = form.getByRole("alert");
  await refusal.waitFor();
  assert.match(await refusal.innerText(), /Could not save the account/);
  assert.match(await refusal.innerText(), /loopback|127\.0\.0\.1|localhost/i);
  assert.equal(await form.getByTestId("mail-password").inputValue(), "", "the password left the page");

  // Over STARTTLS, with the password from an environment variable, it is added.
  await form.getByTestId("mail-smtp-security").selectOption("starttls");
  assert.equal(await form.getByTestId("mail-smtp-port").inputValue(), "587");
  await form.getByTestId("mail-auth-env").check();
  await form.getByTestId("mail-password-env").fill("SUPPORT_MAIL_PASSWORD");
  await form.getByTestId("mail-save").click();
  const card = page.getByTestId("mail-account-support");
  await card.waitFor();
  assert.equal(await card.getByTestId("mail-password-kind").innerText(), "password from $SUPPORT_MAIL_PASSWORD");
  const saved = (await server.api("mail_accounts_list")).accounts.find((a) => a.account.name === "support");
  assert.equal(saved.account.smtp.port, 587);
  assert.equal(saved.account.imap.port, 143);
  assert.equal(saved.password_env, "SUPPORT_MAIL_PASSWORD");

  await card.getByTestId("mail-remove").click();
  await page.getByTestId("mail-confirm-remove").click();
  await until(async () => (await card.count()) === 0, { what: "the account removed" });
  assert.equal((await server.api("mail_accounts_list")).accounts.some((a) => a.account.name === "support"), false);
  assert.deepEqual(page.pageErrors, []);
});

test("the agent form shows the email trigger, send_email and [email], and saves them exactly", async () => {
  const before = (await server.api("agents_get", { name: "lead-reply" })).spec;
  const page = await openApp(browser, server);
  await page.goto(server.base + "/#/agents/lead-reply");
  const trigger = page.getByTestId("email-trigger-0");
  await trigger.waitFor();
  assert.equal(await page.getByTestId("trigger-kind-0").inputValue(), "email");
  assert.equal(await trigger.getByTestId("field-triggers.0.account").inputValue(), "sales");
  assert.equal(await trigger.getByTestId("field-triggers.0.folder").inputValue(), "INBOX");
  assert.equal(await trigger.getByTestId("field-triggers.0.mark_seen").isChecked(), true);
  assert.equal(await trigger.getByTestId("field-triggers.0.unseen_only").isChecked(), false);
  assert.equal(await page.getByTestId("builtin-send_email").isChecked(), true);
  const email = page.getByTestId("email-section");
  assert.equal(await email.getByTestId("field-email.account").inputValue(), "sales");
  assert.equal(await email.getByTestId("field-email.send_without_approval").isChecked(), false);

  // A change and its undoing leave the spec as it was: nothing to save.
  await trigger.getByTestId("field-triggers.0.unseen_only").check();
  await trigger.getByTestId("field-triggers.0.unseen_only").uncheck();
  await trigger.getByTestId("field-triggers.0.subject_contains").fill("pricing");
  await trigger.getByTestId("field-triggers.0.subject_contains").fill("");
  assert.equal(await page.getByText("unsaved changes", { exact: true }).count(), 0, "back to the saved spec");

  await email.getByTestId("field-email.allow_recipients").fill("@acme.test\nboss@waymark.test\n");
  await trigger.getByTestId("field-triggers.0.move_to").fill("Handled");
  await email.scrollIntoViewIfNeeded();
  await screenshot(page, "agent-email-fields");
  await page.getByTestId("save-agent").click();
  const diff = page.getByTestId("review-diff");
  await diff.waitFor();
  assert.match(await diff.innerText(), /\+\s+"move_to": "Handled"/);
  await page.getByTestId("confirm-save").click();
  await page.getByTestId("agent-row-lead-reply").waitFor();
  const after = (await server.api("agents_get", { name: "lead-reply" })).spec;
  assert.deepEqual(after, {
    ...before,
    triggers: [{ ...before.triggers[0], move_to: "Handled" }],
    email: { ...before.email, allow_recipients: ["@acme.test", "boss@waymark.test"] },
  });
  assert.deepEqual(page.pageErrors, []);
});

const leadRuns = async () => (await server.api("runs_list", { agent: "lead-reply", include_children: false, offset: 0 })).runs.map((r) => r.id);

test("a send cut off by a crash: it may or may not have gone out, Sent is asked, and it is sent once", async () => {
  await until(async () => (await server.api("triggers_list")).triggers.find((t) => t.agent === "lead-reply")?.state === "idle", { what: "the INBOX watched again" });
  const known = await leadRuns();
  const eml = join(lab.dir, "lead-2.eml");
  writeFileSync(eml, leadEmail(SECOND_ID));
  await lab.deliver("INBOX", eml);
  const runId = await until(async () => (await leadRuns()).find((id) => !known.includes(id)), { what: "the second lead's run" });
  await until(async () => (await waitingStep(server, runId)) === "approval/2.1", { what: "the second approval", timeout: 60000 });

  // Approved from the timeline row: its confirm dialog shows the draft as an email.
  let page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${runId}`);
  await stepRow(page, "approval/2.1").getByTestId("row-approve").click();
  const dialog = page.getByRole("dialog");
  assert.equal(await dialog.getByTestId("draft-subject").innerText(), "Re: Pricing question");
  await until(async () => (await dialog.getByTestId("draft-from").innerText()) === "Waymark sales <sales@waymark.test>", { what: "the From line" });
  // The SMTP server stops answering (its greeting never comes): the send hangs; the server dies mid-send.
  lab.freeze();
  try {
    await dialog.getByTestId("confirm-approve").click();
    await until(async () => (await server.api("runs_get", { run_id: runId })).steps.find((s) => s.key === "tool/2.1")?.status === "running", { what: "the send in flight" });
    const first = server;
    await first.stop({ keepHome: true, signal: "SIGKILL" });
    server = await startServer({ addr: new URL(first.base).host, home: first.home, token: first.token });
  } finally {
    lab.thaw();
  }
  await until(async () => (await server.api("runs_get", { run_id: runId })).run.status === "needs_attention", { what: "the run to need attention", timeout: 60000 });
  const step = (await server.api("runs_get", { run_id: runId })).steps.find((s) => s.key === "tool/2.1");
  assert.equal(step.status, "needs_attention");

  page = await openApp(browser, server);
  await page.goto(`${server.base}/#/runs/${runId}`);
  const banner = page.getByTestId("resolve-banner");
  await banner.waitFor();
  const settle = banner.getByTestId("settle-send");
  assert.match(await settle.innerText(), /This email may or may not have been sent/);
  assert.equal(await settle.getByTestId("settle-message-id").innerText(), step.input.message_id);
  for (const id of ["resolve-retry", "resolve-done", "resolve-fail"]) assert.ok(await banner.getByTestId(id).isVisible(), `${id} stays available`);
  await screenshot(page, "email-settle");

  // Not in Sent: it never went out, so it is sent now, once.
  await settle.getByTestId("settle-send-button").click();
  const notice = page.getByTestId("settle-notice");
  await notice.waitFor({ timeout: 60000 });
  assert.equal(await notice.getAttribute("data-outcome"), "not_sent");
  assert.match(await notice.innerText(), /had not gone out/);
  assert.ok((await notice.innerText()).includes(step.input.message_id), "the notice names the Message-ID");
  await until(async () => (await runStatusOf(page)) === "succeeded", { what: "the run to succeed once sent", timeout: 60000 });
  const sent = (await lab.received()).filter((m) => m.message_id === step.input.message_id);
  assert.equal(sent.length, 1, JSON.stringify(sent));
  assert.equal(headerOf(readFileSync(sent[0].file, "utf8"), "In-Reply-To"), SECOND_ID);
  await screenshot(page, "email-settled");
  assert.deepEqual(page.pageErrors, []);
});
