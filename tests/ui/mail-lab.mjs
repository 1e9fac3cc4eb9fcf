// The real mail lab (tests/mail/mail_lab.py: Dovecot with IDLE, an aiosmtpd SMTP server that
// keeps what it receives) driven from Node: its first stdout line says where it listens, then one
// command per stdin line, one answer line each. Closing stdin stops both servers.
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { chmodSync, existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT } from "./harness.mjs";

export const LAB_PYTHON = join(ROOT, "target/test-deps/py/bin/python");
export const LAB_SCRIPT = join(ROOT, "tests/mail/mail_lab.py");

export async function startMailLab() {
  const dir = mkdtempSync(join(tmpdir(), "waymark-mail-lab-"));
  // Dovecot's auth process runs as its own user: it must reach the passwd file under here.
  chmodSync(dir, 0o755);
  const child = spawn(LAB_PYTHON, [LAB_SCRIPT, dir], { stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.on("data", (d) => (stderr = (stderr + d).slice(-8000)));
  const lines = [];
  let wake = null;
  let exited = false;
  createInterface({ input: child.stdout }).on("line", (l) => {
    lines.push(l);
    wake?.();
  });
  child.on("exit", () => {
    exited = true;
    wake?.();
  });
  const nextLine = async (timeoutMs = 30000) => {
    const end = Date.now() + timeoutMs;
    while (!lines.length) {
      if (exited) throw new Error(`the mail lab exited; stderr:\n${stderr}`);
      const left = end - Date.now();
      if (left <= 0) throw new Error(`the mail lab did not answer in ${timeoutMs} ms; stderr:\n${stderr}`);
      await new Promise((r) => {
        const t = setTimeout(r, left);
        wake = () => {
          clearTimeout(t);
          r();
        };
      });
      wake = null;
    }
    return lines.shift();
  };
  const info = JSON.parse(await nextLine(60000));
  if (info.error) throw new Error(`the mail lab could not start: ${info.error}`);
  let queue = Promise.resolve();
  /** One command, its one answer line; "error ..." answers throw. */
  const command = (line) => {
    const answer = queue.then(async () => {
      child.stdin.write(line + "\n");
      const reply = await nextLine();
      if (!reply.startsWith("ok")) throw new Error(`mail lab: ${line}: ${reply}`);
      return reply.slice(2).trim();
    });
    queue = answer.catch(() => {});
    return answer;
  };
  return {
    info,
    dir,
    command,
    /** IMAP APPEND of the .eml at `path` to `folder`: its UID. */
    deliver: (folder, path) => command(`deliver ${folder} ${path}`),
    /** What the SMTP server took: [{file, mail_from, rcpt_tos, message_id}]. */
    received: async () => JSON.parse(await command("received")),
    /** Stops the lab's own process (the SMTP server; Dovecot runs on): a connection to SMTP is
     * accepted by the kernel and then hangs, with no greeting. No command until `thaw`. */
    freeze: () => process.kill(child.pid, "SIGSTOP"),
    thaw: () => process.kill(child.pid, "SIGCONT"),
    /** Copies in Sent still marked pending (\Draft: maildir flag D), as Dovecot stores them. */
    pendingInSent() {
      const maildir = join(dir, "dovecot/home/lead/Maildir/.Sent");
      return ["cur", "new"].flatMap((d) => (existsSync(join(maildir, d)) ? readdirSync(join(maildir, d)) : [])).filter((f) => /:2,[A-Za-z]*D/.test(f));
    },
    async close() {
      if (!exited) {
        process.kill(child.pid, "SIGCONT");
        child.stdin.end();
        await new Promise((r) => (exited ? r() : child.on("exit", r)));
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A header's value from raw RFC 5322 text (folded lines joined), or null. */
export function headerOf(raw, name) {
  const head = raw.split(/\r?\n\r?\n/, 1)[0].replace(/\r?\n[ \t]+/g, " ");
  const line = head.split(/\r?\n/).find((l) => l.toLowerCase().startsWith(name.toLowerCase() + ":"));
  return line ? line.slice(name.length + 1).trim() : null;
}
